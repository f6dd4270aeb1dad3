"""The knowledge base's search model: which one it uses and, for an older one, "Upgrade search model".

Follows a ReembedController: the upgrade's progress ("Re-embedding 120/480 passages"),
Pause/Resume, and the new model once it is in use. Hidden for a shared knowledge base.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from gui.i18n import notifier, tr
from gui.reembedding import ModelState, ReembedController


def model_title(state: ModelState, name: str) -> str:
    """A model as people read it: its name without `bundled:`, and which languages it knows."""
    title, languages = state.names.get(name, (name, None))
    if languages == frozenset({"en"}):
        return tr("{model} (English only)", model=title)
    if languages:
        return tr("{model} ({n} languages)", model=title, n=len(languages))
    return title


class ModelUpgrade(QWidget):
    message = Signal(str)          # for the status bar

    def __init__(self, controller: ReembedController, parent=None):
        super().__init__(parent)
        self.controller = controller

        self.model_label = QLabel()
        self.model_label.setTextFormat(Qt.PlainText)
        self.model_label.setWordWrap(True)
        self.model_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.upgrade_button = QPushButton()
        self.upgrade_button.clicked.connect(lambda: self.controller.start())
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.pause_button = QPushButton()
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.detail_label = QLabel()
        self.detail_label.setTextFormat(Qt.PlainText)
        self.detail_label.setWordWrap(True)

        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.pause_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.model_label)
        layout.addWidget(self.upgrade_button)
        layout.addLayout(progress_row)
        layout.addWidget(self.detail_label)

        controller.model_known.connect(lambda _s: self.render())
        controller.state_changed.connect(lambda _s: self.render())
        controller.progress.connect(lambda _p: self.render())
        controller.finished.connect(self._on_finished)
        notifier.changed.connect(self.render)
        self.render()

    def _pause_or_resume(self) -> None:
        if self.controller.state == "paused":
            self.controller.resume()
        else:
            self.controller.pause()

    def _on_finished(self, model: str, error: str) -> None:
        if error:
            self.message.emit(tr("Upgrading the search model failed: {error}", error=error))
        else:
            self.message.emit(tr("Search model upgraded: this knowledge base now uses {model}",
                                 model=model_title(self.controller.model_state, model)))
        self.render()

    def render(self) -> None:
        state: ModelState | None = self.controller.model_state
        if state is None or state.shared:
            self.hide()
            return
        self.show()
        phase = self.controller.state
        self.model_label.setText(tr("Search model: {model}", model=model_title(state, state.model)))
        busy = phase in ("running", "stopping", "paused") or state.pending is not None
        self.upgrade_button.setText(tr("Upgrade search model"))
        self.upgrade_button.setToolTip(tr(
            "Re-embed every passage with {model}: questions in other languages find your documents too. "
            "Search keeps working meanwhile; you can pause.", model=model_title(state, state.pending or state.target)))
        self.upgrade_button.setVisible(state.upgradable and not busy)
        for part in (self.progress, self.pause_button, self.detail_label):
            part.setVisible(busy)
        if not busy:
            return
        p = self.controller.last_progress
        if p is not None and p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
            self.progress.setFormat(tr("Re-embedding {done}/{total} passages", done=p.done, total=p.total))
        else:
            self.progress.setRange(0, 0 if phase == "running" else 1)
            self.progress.setValue(0)
            self.progress.setFormat(tr("Re-embedding…"))
        self.pause_button.setText(tr("Resume") if phase == "paused" else tr("Pause"))
        self.pause_button.setEnabled(phase in ("running", "paused"))
        target = model_title(state, state.pending or state.target)
        if self.controller.waiting_for_indexing:
            self.detail_label.setText(tr("Upgrade to {model} waits for indexing to finish.", model=target))
        elif phase == "paused":
            self.detail_label.setText(tr("Upgrade to {model} paused; search uses the current model meanwhile.",
                                         model=target))
        elif phase == "stopping":
            self.detail_label.setText(tr("Pausing after this batch…"))
        else:
            self.detail_label.setText(tr("Upgrading to {model}; search keeps working with the current model.",
                                         model=target))
