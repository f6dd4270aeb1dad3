"""Indexing progress: the bar, rate and ETA, the file being read, Pause/Resume and Cancel, the last run."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from gui.file_model import FileTableModel
from gui.i18n import notifier, tr, trn
from gui.indexing import IndexingController
from gui.session import KbSession


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def progress_text(p) -> str:
    return tr(
        "{done} of {total} files · {passages} passages · {rate:.0f} passages/s · ETA {eta}",
        done=p.files_done, total=p.files_total, passages=p.passages_done, rate=p.rate, eta=format_eta(p.eta),
    )


class IndexingProgress(QWidget):
    """Follows the IndexingController; between runs it sums up the last run or what is pending in `files`."""

    message = Signal(str)          # for the status bar

    def __init__(self, session: KbSession, indexing: IndexingController, files: FileTableModel, parent=None):
        super().__init__(parent)
        self.session = session
        self.indexing = indexing
        self.files = files
        self.last_report = None

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress_label = QLabel()
        self.progress_label.setTextFormat(Qt.PlainText)
        self.progress_label.setWordWrap(True)
        self.current_label = QLabel()
        self.current_label.setTextFormat(Qt.PlainText)
        self.current_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.pause_button = QPushButton()
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.cancel_button = QPushButton()
        self.cancel_button.clicked.connect(self.indexing.stop)

        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.pause_button)
        progress_row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(progress_row)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.current_label)

        indexing.started.connect(self._on_started)
        indexing.progress.connect(self._on_progress)
        indexing.finished.connect(self._on_finished)
        indexing.state_changed.connect(lambda _s: self._update_buttons())
        session.kb_changed.connect(self._on_kb_changed)
        notifier.changed.connect(self.retranslate)
        self.retranslate()
        self.show_idle()

    def retranslate(self) -> None:
        self.cancel_button.setText(tr("Cancel"))
        self._update_buttons()
        if self.indexing.state in ("idle", "paused"):
            self.show_idle()

    def _on_kb_changed(self, _kb) -> None:
        self.last_report = None
        self.show_idle()
        self._update_buttons()

    def files_refreshed(self) -> None:
        """The file list has new rows: between runs, the pending count may have changed."""
        if self.indexing.state == "idle":
            self.show_idle()

    # -- a run ---------------------------------------------------------------------------------------
    def _on_started(self, _paths: list) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat(tr("Scanning…"))
        self.progress_label.setText(tr("Scanning folders…"))
        self.current_label.clear()
        self._update_buttons()

    def _on_progress(self, p) -> None:
        self.progress.setRange(0, max(1, p.files_total))
        self.progress.setValue(p.files_done)
        self.progress.setFormat(f"{p.files_done}/{p.files_total}")
        self.progress_label.setText(progress_text(p))
        self.current_label.setText(os.path.basename(p.current) if p.current else "")
        self.current_label.setToolTip(p.current or "")

    def _on_finished(self, report, error) -> None:
        self.last_report = report
        if error:
            self.message.emit(tr("Indexing failed: {error}", error=error))
        elif report is not None:
            text = trn("Indexed {n} file in {s:.1f} s", "Indexed {n} files in {s:.1f} s", report.files_indexed,
                       s=report.seconds)
            if report.files_failed:
                text += tr(", {n} failed", n=len(report.files_failed))
            if report.files_removed:
                text += tr(", {n} removed", n=report.files_removed)
            if report.cancelled:
                text += tr(" (stopped)")
            self.message.emit(text)
        self.show_idle()

    # -- between runs ----------------------------------------------------------------------------------
    def show_idle(self) -> None:
        state = self.indexing.state
        if state == "paused":
            self.progress_label.setText(tr("Paused. Resume continues with the files not indexed yet."))
            self.progress.setFormat(tr("Paused"))
            return
        self.progress.setRange(0, 1)
        r = self.last_report
        if r is not None and not r.cancelled:
            self.progress.setValue(1)
            self.progress.setFormat(tr("Up to date"))
            self.progress_label.setText(
                tr("Last run: {n} indexed, {u} unchanged, {f} failed, {s:.1f} s", n=r.files_indexed,
                   u=r.files_unchanged, f=len(r.files_failed), s=r.seconds))
        elif r is None:
            counts = self.files.counts()
            pending = counts["pending"]
            self.progress.setValue(0 if pending or not self.files.rows else 1)
            self.progress.setFormat(
                trn("{n} file pending", "{n} files pending", pending) if pending
                else (tr("Up to date") if self.files.rows else tr("Empty")))
            self.progress_label.setText(tr("Re-index to add the pending files.") if pending else (
                "" if self.files.rows else tr("Add a folder or drop files here to start.")))
        else:
            self.progress.setValue(0)
            self.progress.setFormat(tr("Stopped"))
            self.progress_label.setText(tr("Stopped: the remaining files are pending."))
        self.current_label.clear()

    def _pause_or_resume(self) -> None:
        if self.indexing.state == "paused":
            self.indexing.resume()
        else:
            self.indexing.pause()

    def _update_buttons(self) -> None:
        state = self.indexing.state
        self.pause_button.setText(tr("Resume") if state == "paused" else tr("Pause"))
        self.pause_button.setToolTip(
            tr("Pause stops after the current batch; Resume indexes the files not done yet"))
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.cancel_button.setEnabled(state in ("running", "paused"))
        if state == "paused":
            self.show_idle()
