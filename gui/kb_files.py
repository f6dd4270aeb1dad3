"""What the open knowledge base holds: its folders (add, remove, re-index) and the table of its files.

`FileList` reads the catalog in the background (`refresh_files`) and reports
each refresh with `refreshed(roots, rows, shared)`; `FolderList` shows the
folders from it. A shared knowledge base is pulled for other clients'
changes now and then.
"""
from __future__ import annotations

import logging
import os

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QPushButton, QSizePolicy, QStyle, QTableView, QVBoxLayout, QWidget,
)

from gui.file_model import FileFilterProxy, FileTableModel, collect_rows
from gui.i18n import notifier, tr, trn
from gui.indexing import IndexingController
from gui.session import JobRefused, KbSession
from index.types import SourceRef

log = logging.getLogger("docent.gui")

FILE_REFRESH_MS = 3000
SHARED_PULL_MS = 15000  # a shared knowledge base: look for other clients' changes this often


def _under(path: str, roots: list[str]) -> bool:
    return any(path.startswith(root.rstrip("/\\") + os.sep) for root in roots)


class FolderList(QWidget):
    """The knowledge base's folders (and loose files): add, remove, re-index."""

    message = Signal(str)          # for the status bar
    removed = Signal()             # a folder left the knowledge base: the file list is out of date

    def __init__(self, session: KbSession, indexing: IndexingController, parent=None):
        super().__init__(parent)
        self.session = session
        self.indexing = indexing

        self.folders_label = QLabel()
        self.folders = QListWidget()
        self.folders.setMaximumHeight(90)
        self.folders.setSelectionMode(QAbstractItemView.SingleSelection)
        self.folders.itemSelectionChanged.connect(self._update_buttons)
        self.add_folder_button = QPushButton()
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.add_files_button = QPushButton()
        self.add_files_button.clicked.connect(self.choose_files)
        self.remove_folder_button = QPushButton()
        self.remove_folder_button.clicked.connect(self.remove_selected_folder)
        self.sync_button = QPushButton()
        self.sync_button.clicked.connect(lambda: self.indexing.index([]))

        folder_buttons = QHBoxLayout()
        folder_buttons.addWidget(self.add_folder_button)
        folder_buttons.addWidget(self.add_files_button)
        folder_buttons2 = QHBoxLayout()
        folder_buttons2.addWidget(self.remove_folder_button)
        folder_buttons2.addWidget(self.sync_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.folders_label)
        layout.addWidget(self.folders)
        layout.addLayout(folder_buttons)
        layout.addLayout(folder_buttons2)

        indexing.state_changed.connect(lambda _s: self._update_buttons())
        session.kb_changed.connect(self._on_kb_changed)
        notifier.changed.connect(self.retranslate)
        self.retranslate()

    def retranslate(self) -> None:
        self.folders_label.setText(tr("Folders and files (watched for changes)"))
        self.add_folder_button.setText(tr("Add folder…"))
        self.add_files_button.setText(tr("Add files…"))
        self.remove_folder_button.setText(tr("Remove folder"))
        self.remove_folder_button.setToolTip(tr("Forget the selected folder and everything indexed from it"))
        self.sync_button.setText(tr("Re-index"))
        self.sync_button.setToolTip(tr("Check every folder for new, changed and deleted files"))
        self.folders.setToolTip(tr("Drop files or folders here to add them."))
        self._update_buttons()

    def _on_kb_changed(self, _kb) -> None:
        self.folders.clear()
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_kb = self.session.kb is not None
        running = self.indexing.state in ("running", "stopping")
        self.add_folder_button.setEnabled(has_kb)
        self.add_files_button.setEnabled(has_kb)
        self.sync_button.setEnabled(has_kb and not running)
        self.remove_folder_button.setEnabled(has_kb and not running and self.folders.currentItem() is not None)

    # -- adding and removing ------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, tr("Add a folder to the knowledge base"))
        if folder:
            self.add_paths([folder])

    def choose_files(self) -> None:
        from index.extract import SUPPORTED_SUFFIXES

        patterns = " ".join(f"*{s}" for s in sorted(SUPPORTED_SUFFIXES))
        files, _ = QFileDialog.getOpenFileNames(
            self, tr("Add files to the knowledge base"), "", f"{tr('Documents')} ({patterns});;{tr('All files')} (*)")
        if files:
            self.add_paths(files)

    def add_paths(self, paths: list[str]) -> None:
        paths = [p for p in paths if os.path.exists(p)]
        kb = self.session.kb
        if not paths or kb is None:
            return
        self.message.emit(tr("Adding {n} item(s) to {kb}…", n=len(paths), kb=kb.root.name))
        self.indexing.index(paths)

    def remove_selected_folder(self) -> None:
        item = self.folders.currentItem()
        if item is None or self.indexing.running:
            return
        path = item.data(Qt.UserRole)

        def removed(n: int) -> None:
            self.message.emit(tr("Removed {path} ({n} files).", path=path, n=n))
            ended()

        def failed(exc: Exception) -> None:
            self.message.emit(tr("Cannot remove: {error}", error=exc))
            ended()

        def ended() -> None:
            self.removed.emit()
            self.indexing.refresh_watch()

        self.session.run(lambda kb: kb.remove_root(path), removed, failed)

    # -- showing --------------------------------------------------------------------------------
    def fill(self, roots: list[str], rows, shared: set[str]) -> None:
        """The folders of a refresh, a line for loose files, and one for files other clients shared."""
        selected = self.folders.currentItem().data(Qt.UserRole) if self.folders.currentItem() else None
        self.folders.clear()
        style = self.style()
        for root in roots:
            icon = style.standardIcon(QStyle.SP_DirIcon if os.path.isdir(root) else QStyle.SP_MessageBoxWarning)
            item = QListWidgetItem(icon, root)
            item.setData(Qt.UserRole, root)
            item.setToolTip(root if os.path.isdir(root) else tr("{path} (missing)", path=root))
            self.folders.addItem(item)
            if root == selected:
                self.folders.setCurrentItem(item)
        singles = [r for r in rows if r.path not in shared and not _under(r.path, roots)]
        if singles:
            item = QListWidgetItem(style.standardIcon(QStyle.SP_FileIcon),
                                   trn("{n} individual file", "{n} individual files", len(singles)))
            item.setFlags(item.flags() & ~Qt.ItemIsSelectable)
            self.folders.addItem(item)
        if shared:
            item = QListWidgetItem(style.standardIcon(QStyle.SP_DriveNetIcon),
                                   trn("{n} file shared by others", "{n} files shared by others", len(shared)))
            item.setFlags(item.flags() & ~Qt.ItemIsSelectable)
            self.folders.addItem(item)
        self._update_buttons()


class FileList(QWidget):
    """Every file of the knowledge base with its status, a filter, and the selected file's full reason."""

    message = Signal(str)                          # for the status bar
    open_source = Signal(object)                   # index.types.SourceRef of a file double-clicked
    refreshed = Signal(list, list, object)         # roots, rows, paths shared by other clients

    def __init__(self, session: KbSession, indexing: IndexingController, parent=None):
        super().__init__(parent)
        self.session = session
        self.indexing = indexing
        self.rows_refreshes = 0
        self.refreshing = False          # a refresh job is running
        self._refresh_pending = False    # ... and another was asked for meanwhile
        self.shared_warning = ""
        self._passages = 0

        self.files_label = QLabel()
        self.filter = QLineEdit()
        self.filter.setClearButtonEnabled(True)
        self.status_filter = QComboBox()
        self.model = FileTableModel(self)
        self.proxy = FileFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter.textChanged.connect(self.proxy.set_text)
        self.status_filter.currentIndexChanged.connect(
            lambda i: self.proxy.set_status(("", "indexed", "failed", "pending")[max(i, 0)]))
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Interactive)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 170)
        self.table.selectionModel().currentRowChanged.connect(self._show_row)
        self.table.doubleClicked.connect(self._open_row)
        self.row_detail = QLabel()
        self.row_detail.setTextFormat(Qt.PlainText)
        self.row_detail.setWordWrap(True)
        self.row_detail.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.row_detail.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Minimum)
        self.row_detail.hide()
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.PlainText)
        self.summary.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter, 1)
        filter_row.addWidget(self.status_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.files_label)
        layout.addLayout(filter_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.row_detail)
        layout.addWidget(self.summary)

        self._refresh_timer = QTimer(self, singleShot=True, interval=FILE_REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh_files)
        # A shared knowledge base changes when others index: look for news now and then (one small request).
        self._pull_timer = QTimer(self, interval=SHARED_PULL_MS)
        self._pull_timer.timeout.connect(self._pull_if_idle)

        indexing.started.connect(lambda _paths: self.refresh_files(scan=True))
        indexing.progress.connect(lambda _p: self._schedule_refresh())
        indexing.files_changed.connect(self.refresh_files)
        session.kb_changed.connect(self._on_kb_changed)
        notifier.changed.connect(self.retranslate)
        self.retranslate()

    def retranslate(self) -> None:
        self.files_label.setText(tr("Files"))
        self.filter.setPlaceholderText(tr("Filter by name, folder or error…"))
        i = self.status_filter.currentIndex()
        self.status_filter.blockSignals(True)
        self.status_filter.clear()
        self.status_filter.addItems([tr("All"), tr("Indexed"), tr("Failed"), tr("Pending")])
        self.status_filter.setCurrentIndex(max(i, 0))
        self.status_filter.blockSignals(False)
        self.model.retranslate()
        self._update_summary()

    def _on_kb_changed(self, kb) -> None:
        # A refresh still running for the previous knowledge base never reports (the session drops
        # results of jobs from before a switch): without this reset the file list would stay frozen.
        self.refreshing = self._refresh_pending = False
        self.shared_warning = ""
        if kb is not None and kb.remote is not None:
            self._pull_timer.start()
        else:
            self._pull_timer.stop()
        self.model.set_rows([])
        if kb is not None:
            self.refresh_files()

    def _pull_if_idle(self) -> None:
        kb = self.session.kb
        if kb is not None and kb.remote is not None and self.indexing.state != "running":
            self.refresh_files()

    # -- rows -------------------------------------------------------------------------------------
    def _row_at(self, proxy_index):
        if not proxy_index.isValid():
            return None
        source = self.proxy.mapToSource(proxy_index)
        return self.model.rows[source.row()] if 0 <= source.row() < len(self.model.rows) else None

    def _show_row(self, current, _previous=None) -> None:
        row = self._row_at(current)
        if row is None:
            self.row_detail.hide()
            return
        text = row.path + (f"\n{row.detail}" if row.detail and row.status != "indexed" else "")
        self.row_detail.setText(text)
        self.row_detail.setVisible(True)

    def _open_row(self, index) -> None:
        row = self._row_at(index)
        if row is not None and row.status == "indexed":
            self.open_source.emit(SourceRef(row.path))

    def _update_summary(self) -> None:
        counts = self.model.counts()
        text = tr("{i} indexed · {f} failed · {p} pending · {n} passages", i=counts["indexed"], f=counts["failed"],
                  p=counts["pending"], n=self._passages)
        self.summary.setText(text)
        self.summary.setToolTip(text)

    # -- refreshing ---------------------------------------------------------------------------------
    def _schedule_refresh(self) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def refresh_files(self, scan: bool | None = None) -> None:
        if self.refreshing:
            self._refresh_pending = True
            return
        self.refreshing = True

        # During a run the folders are walked once (at its start, to list what is pending), not at every
        # refresh: the indexer is reading them; pending rows carry over until the catalog has them.
        if scan is None:
            scan = self.indexing.state != "running"
        pending = None if scan else {r.path for r in self.model.rows if r.status == "pending"}

        def job(kb):
            warning = ""
            if kb.remote is not None:  # a shared knowledge base: bring in what others indexed
                from index.errors import KnowledgeBaseError

                try:
                    kb.refresh()
                except KnowledgeBaseError as exc:
                    warning = str(exc)
            shared = kb.catalog.foreign_paths() if kb.remote is not None else set()
            return kb.catalog.roots(), collect_rows(kb, pending=pending), kb.catalog.counts(), warning, shared

        def done(result) -> None:
            try:
                roots, rows, counts, warning, shared = result
                self.rows_refreshes += 1
                if warning != self.shared_warning:
                    self.shared_warning = warning
                    self.message.emit(tr("Shared knowledge base: {error}", error=warning) if warning
                                      else tr("Shared knowledge base: connected"))
                self.model.set_rows(rows)
                self._passages = counts.get("passages", 0)
                self._update_summary()
                self.refreshed.emit(roots, rows, shared)
            finally:
                ended()

        def failed(exc: Exception) -> None:
            if not isinstance(exc, JobRefused):
                log.warning("file list refresh failed: %s", exc)
            ended()

        def ended() -> None:
            self.refreshing = False
            if self._refresh_pending:
                self._refresh_pending = False
                self._schedule_refresh()

        self.session.run(job, done, failed)
