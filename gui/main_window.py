"""Docent's main window: search your documents, see each passage in its source.

A thin shell: every action calls the same KnowledgeBase service as the CLI,
in the background, with results delivered on the main thread.
"""
from __future__ import annotations

import html
import threading
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QTextCharFormat, QTextCursor, QColor
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMainWindow, QMessageBox,
    QProgressBar, QPushButton, QSplitter, QTextBrowser, QVBoxLayout, QWidget,
)

from gui.tasks import TaskManager


class MainWindow(QMainWindow):
    def __init__(self, kb, tasks: TaskManager):
        super().__init__()
        self.kb = kb
        self.tasks = tasks
        self.cancel = threading.Event()
        self.indexing = None
        self.setWindowTitle(f"Docent — {kb.root.name}")
        self.resize(1100, 700)

        self.query = QLineEdit(placeholderText=self.tr("Search your documents (Russian, English, Japanese…)"))
        self.query.returnPressed.connect(self.run_search)
        self.search_button = QPushButton(self.tr("Search"))
        self.search_button.clicked.connect(self.run_search)
        self.add_button = QPushButton(self.tr("Add folder…"))
        self.add_button.clicked.connect(self.choose_folder)
        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.search_button)
        top.addWidget(self.add_button)

        self.results = QListWidget()
        self.results.currentItemChanged.connect(self.show_hit)
        self.viewer = QTextBrowser()
        self.viewer.setOpenLinks(False)  # document content is text, never live markup
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self.results)
        splitter.addWidget(self.viewer)
        splitter.setSizes([420, 680])

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.clicked.connect(self.cancel.set)
        self.cancel_button.hide()
        self.status_label = QLabel()
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)

        focus = QAction(self.tr("Search"), self, shortcut=QKeySequence.Find, triggered=self.query.setFocus)
        self.addAction(focus)
        self.hits = []
        self.refresh_status()

    # -- knowledge base -------------------------------------------------------
    def refresh_status(self) -> None:
        counts = self.kb.catalog.counts()
        self.status_label.setText(
            self.tr("{files} files, {passages} passages, {failed} failed").format(
                files=counts["indexed"], passages=counts["passages"], failed=counts["failed"]
            )
        )

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Add a folder to the knowledge base"))
        if folder:
            self.index_paths([folder])

    def index_paths(self, paths: list[str]) -> None:
        if self.indexing is not None and not self.indexing.done():
            return
        self.cancel.clear()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.add_button.setEnabled(False)

        def on_progress(p) -> None:
            self.tasks.run_on_main(lambda: self._show_progress(p))

        self.indexing = self.tasks.run_in_background(
            lambda: self.kb.index(paths, progress=on_progress, cancel=self.cancel), self._indexed
        )

    def _show_progress(self, p) -> None:
        self.progress.setRange(0, max(1, p.files_total))
        self.progress.setValue(p.files_done)
        eta = "" if p.eta is None else f", ETA {int(p.eta)} s"
        self.progress.setFormat(f"{p.files_done}/{p.files_total} files, {p.rate:.0f} passages/s{eta}")

    def _indexed(self, future) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.add_button.setEnabled(True)
        self.refresh_status()
        try:
            report = future.result()
        except Exception as exc:
            QMessageBox.warning(self, "Docent", self.tr("Indexing failed: {0}").format(exc))
            return
        message = self.tr("Indexed {n} files").format(n=report.files_indexed)
        if report.files_failed:
            message += self.tr(", {n} failed").format(n=len(report.files_failed))
        if report.cancelled:
            message += self.tr(" (cancelled)")
        self.statusBar().showMessage(message, 8000)

    # -- search ---------------------------------------------------------------
    def run_search(self) -> None:
        text = self.query.text().strip()
        if not text:
            return
        self.search_button.setEnabled(False)
        self.tasks.run_in_background(lambda: self.kb.search(text, 20), self._searched)

    def _searched(self, future) -> None:
        self.search_button.setEnabled(True)
        self.results.clear()
        self.viewer.clear()
        try:
            self.hits = future.result()
        except Exception as exc:
            QMessageBox.warning(self, "Docent", self.tr("Search failed: {0}").format(exc))
            return
        if not self.hits:
            self.results.addItem(self.tr("No matching passages"))
            return
        for hit in self.hits:
            p = hit.passage
            where = Path(p.path).name + (f", p. {p.page}" if p.page else "")
            snippet = " ".join(p.text.split())[:160]
            item = QListWidgetItem(f"{where}\n{snippet}")
            item.setData(Qt.UserRole, hit)
            item.setToolTip(p.path)
            self.results.addItem(item)
        self.results.setCurrentRow(0)

    def show_hit(self, item: QListWidgetItem | None, _previous=None) -> None:
        hit = item.data(Qt.UserRole) if item is not None else None
        if hit is None:
            return
        p = hit.passage
        text = self.kb.text_of(p.path) or p.text
        self.viewer.setPlainText(text)
        cursor = QTextCursor(self.viewer.document())
        cursor.setPosition(p.char_start)
        cursor.setPosition(p.char_end, QTextCursor.KeepAnchor)
        fmt = QTextCharFormat()
        fmt.setBackground(QColor("#ffe58a"))
        fmt.setForeground(QColor("#000000"))
        cursor.mergeCharFormat(fmt)
        self.viewer.setTextCursor(cursor)
        self.viewer.ensureCursorVisible()
        self.highlighted = (p.char_start, p.char_end)
