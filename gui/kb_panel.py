"""The knowledge-base panel: choose/create/rename/delete knowledge bases, their
folders and files, per-file status with a filter, and indexing progress."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QLineEdit,
    QListWidget, QListWidgetItem, QMessageBox, QProgressBar, QPushButton, QSizePolicy, QStyle, QTableView,
    QVBoxLayout, QWidget,
)

from gui import kb_store
from gui.file_model import FileFilterProxy, FileTableModel, collect_rows
from gui.i18n import notifier, tr, trn
from gui.indexing import IndexingController
from gui.session import KbSession
from gui.settings import AppSettings

log = logging.getLogger("docent.gui")

FILE_REFRESH_MS = 3000
SHARED_PULL_MS = 15000  # a shared knowledge base: look for other clients' changes this often


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


class KbPanel(QWidget):
    message = Signal(str)          # for the status bar
    open_file = Signal(str)        # a file double-clicked in the list

    def __init__(self, session: KbSession, indexing: IndexingController, settings: AppSettings, parent=None):
        super().__init__(parent)
        self.session = session
        self.indexing = indexing
        self.settings = settings
        self.rows_refreshes = 0
        self._refresh_pending = False
        self._refresh_running = False
        self._last_refresh = 0.0
        self.last_report = None
        self.ask_text = QInputDialog.getText           # tests replace the dialogs
        self.confirm = lambda title, text: QMessageBox.question(self, title, text) == QMessageBox.Yes
        self.choose = self._choose                     # (title, text, options) -> index or None

        # knowledge bases
        self.kb_label = QLabel()
        self.kb_combo = QComboBox()
        self.kb_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.kb_combo.activated.connect(self._pick_kb)
        self.new_kb_button = QPushButton()
        self.new_kb_button.clicked.connect(self.prompt_create)
        self.connect_kb_button = QPushButton()
        self.connect_kb_button.clicked.connect(self.prompt_connect)
        self.shared_dialog = None                     # tests fill and accept it
        self.rename_kb_button = QPushButton()
        self.rename_kb_button.clicked.connect(self.prompt_rename)
        self.delete_kb_button = QPushButton()
        self.delete_kb_button.clicked.connect(self.prompt_delete)

        # folders
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

        # progress
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

        # files
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

        kb_row = QHBoxLayout()
        kb_row.addWidget(self.kb_combo, 1)
        kb_buttons = QHBoxLayout()
        kb_buttons.addWidget(self.new_kb_button)
        kb_buttons.addWidget(self.connect_kb_button)
        kb_buttons.addWidget(self.rename_kb_button)
        kb_buttons.addWidget(self.delete_kb_button)
        kb_buttons.addStretch(1)
        folder_buttons = QHBoxLayout()
        folder_buttons.addWidget(self.add_folder_button)
        folder_buttons.addWidget(self.add_files_button)
        folder_buttons2 = QHBoxLayout()
        folder_buttons2.addWidget(self.remove_folder_button)
        folder_buttons2.addWidget(self.sync_button)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.pause_button)
        progress_row.addWidget(self.cancel_button)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter, 1)
        filter_row.addWidget(self.status_filter)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.kb_label)
        layout.addLayout(kb_row)
        layout.addLayout(kb_buttons)
        layout.addWidget(self.folders_label)
        layout.addWidget(self.folders)
        layout.addLayout(folder_buttons)
        layout.addLayout(folder_buttons2)
        layout.addLayout(progress_row)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.current_label)
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
        self.shared_warning = ""

        indexing.started.connect(self._on_started)
        indexing.progress.connect(self._on_progress)
        indexing.finished.connect(self._on_finished)
        indexing.state_changed.connect(lambda _s: self._update_buttons())
        indexing.files_changed.connect(self.refresh_files)
        session.kb_changed.connect(self._on_kb_changed)
        notifier.changed.connect(self._language_changed)
        self.retranslate()
        self._show_idle()

    # -- texts -------------------------------------------------------------------------
    def _language_changed(self, _language: str) -> None:
        self.retranslate()

    def retranslate(self) -> None:
        self.kb_label.setText(tr("Knowledge base"))
        self.new_kb_button.setText(tr("New…"))
        self.new_kb_button.setToolTip(tr("Create a knowledge base"))
        self.connect_kb_button.setText(tr("Connect…"))
        self.connect_kb_button.setToolTip(tr("Use a knowledge base shared on a Chroma server"))
        self.rename_kb_button.setText(tr("Rename…"))
        self.delete_kb_button.setText(tr("Delete…"))
        self.folders_label.setText(tr("Folders and files (watched for changes)"))
        self.add_folder_button.setText(tr("Add folder…"))
        self.add_files_button.setText(tr("Add files…"))
        self.remove_folder_button.setText(tr("Remove folder"))
        self.remove_folder_button.setToolTip(tr("Forget the selected folder and everything indexed from it"))
        self.sync_button.setText(tr("Re-index"))
        self.sync_button.setToolTip(tr("Check every folder for new, changed and deleted files"))
        self.cancel_button.setText(tr("Cancel"))
        self.files_label.setText(tr("Files"))
        self.filter.setPlaceholderText(tr("Filter by name, folder or error…"))
        i = self.status_filter.currentIndex()
        self.status_filter.blockSignals(True)
        self.status_filter.clear()
        self.status_filter.addItems([tr("All"), tr("Indexed"), tr("Failed"), tr("Pending")])
        self.status_filter.setCurrentIndex(max(i, 0))
        self.status_filter.blockSignals(False)
        self.folders.setToolTip(tr("Drop files or folders here to add them."))
        self.model.retranslate()
        self._update_buttons()
        self._update_summary()
        if self.indexing.state in ("idle", "paused"):
            self._show_idle()

    # -- knowledge bases ---------------------------------------------------------------------
    def current_kb_name(self) -> str:
        kb = self.session.kb
        return kb.root.name if kb is not None else ""

    def fill_kbs(self) -> None:
        self.kb_combo.blockSignals(True)
        self.kb_combo.clear()
        names = kb_store.list_kbs()
        kb = self.session.kb
        for name in names:
            path = kb_store.kb_path(name)
            url = kb_store.remote_url(path)
            self.kb_combo.addItem(tr("{name} (shared)", name=name) if url else name, str(path))
            if url:
                self.kb_combo.setItemData(self.kb_combo.count() - 1, url, Qt.ToolTipRole)
        if kb is not None:
            index = self.kb_combo.findData(str(kb.root))
            if index < 0:  # a knowledge base outside the data folder (--kb / DOCENT_KB)
                self.kb_combo.addItem(str(kb.root), str(kb.root))
                index = self.kb_combo.count() - 1
            self.kb_combo.setCurrentIndex(index)
        self.kb_combo.blockSignals(False)

    def _pick_kb(self, index: int) -> None:
        path = self.kb_combo.itemData(index)
        kb = self.session.kb
        if path and (kb is None or Path(path) != kb.root):
            self.switch_to(Path(path))

    def switch_to(self, path: Path) -> None:
        self.message.emit(tr("Opening knowledge base {name}…", name=path.name))
        self.settings.current_kb = path.name if path.parent == kb_store.kb_parent() else str(path)
        self.settings.save()
        self.session.switch(path)

    def create_kb(self, name: str) -> Path | None:
        try:
            path = kb_store.create_kb(name, self.settings.embedding_model or None)
        except kb_store.KbStoreError as exc:
            self.message.emit(tr("Cannot create the knowledge base: {error}", error=exc))
            return None
        self.switch_to(path)
        return path

    def rename_kb(self, new_name: str) -> bool:
        kb = self.session.kb
        if kb is None:
            return False
        try:
            new_name = kb_store.check_name(new_name)
        except kb_store.KbStoreError as exc:
            self.message.emit(tr("Cannot rename: {error}", error=exc))
            return False
        if kb.root.parent != kb_store.kb_parent():
            self.message.emit(tr("Only knowledge bases in Docent's data folder can be renamed here."))
            return False
        old = kb.root.name
        target = kb_store.kb_path(new_name)
        if target.exists() and old != new_name:
            self.message.emit(tr("Cannot rename: {error}", error=tr("a knowledge base with that name exists")))
            return False
        self.settings.current_kb = new_name
        self.settings.save()
        self.session.switch(target, between=lambda: kb_store.rename_kb(old, new_name))
        return True

    def delete_kb(self) -> bool:
        kb = self.session.kb
        if kb is None or kb.root.parent != kb_store.kb_parent():
            return False
        name = kb.root.name
        others = [n for n in kb_store.list_kbs() if n != name]
        if not others:
            kb_store.create_kb(kb_store.DEFAULT_NAME if name != kb_store.DEFAULT_NAME else "knowledge-base",
                               self.settings.embedding_model or None)
            others = [n for n in kb_store.list_kbs() if n != name]
        target = kb_store.kb_path(others[0])
        self.settings.current_kb = others[0]
        self.settings.save()
        self.session.switch(target, between=lambda: kb_store.delete_kb(name))
        return True

    def prompt_create(self) -> None:
        name, ok = self.ask_text(self, tr("New knowledge base"), tr("Name:"))
        if ok and name.strip():
            self.create_kb(name)

    def connect_shared(self, url: str, name: str, token: str = "") -> Path | None:
        """Add a shared knowledge base (a local replica folder that names the server) and open it."""
        from index.credentials import set_secret
        from index.remote import RemoteSpec

        try:
            spec = RemoteSpec.parse(url)
            # Connected before (e.g. now with a new token): the same replica, not a second client.
            known = [kb_store.kb_path(n) for n in kb_store.list_kbs() if kb_store.remote_url(kb_store.kb_path(n)) == spec.url]
            path = known[0] if known else kb_store.create_kb(name or spec.name, self.settings.embedding_model or None,
                                                             remote=spec.url)
        except Exception as exc:  # noqa: BLE001 - RemoteError, KbStoreError: one line for the status bar
            self.message.emit(tr("Cannot add the shared knowledge base: {error}", error=exc))
            return None
        if token:
            set_secret("chroma", spec.server, token)
        current = self.session.kb
        if current is not None and current.root == path:  # reopen: the new token takes effect
            self.session.switch(path)
        else:
            self.switch_to(path)
        return path

    def prompt_connect(self) -> None:
        from gui.shared_kb_dialog import SharedKbDialog

        dialog = SharedKbDialog(self)
        self.shared_dialog = dialog
        if dialog.exec() == SharedKbDialog.Accepted:
            self.connect_shared(dialog.url(), dialog.name(), dialog.token.text())
        self.shared_dialog = None

    def _pull_if_idle(self) -> None:
        kb = self.session.kb
        if kb is not None and kb.remote is not None and self.indexing.state != "running":
            self.refresh_files()

    def prompt_rename(self) -> None:
        current = self.current_kb_name()
        name, ok = self.ask_text(self, tr("Rename knowledge base"), tr("New name:"), QLineEdit.Normal, current)
        if ok and name.strip() and name.strip() != current:
            self.rename_kb(name)

    def _choose(self, title: str, text: str, options: list[str]) -> int | None:
        box = QMessageBox(QMessageBox.Question, title, text, QMessageBox.NoButton, self)
        buttons = [box.addButton(o, QMessageBox.AcceptRole) for o in options]
        box.addButton(QMessageBox.Cancel)
        box.exec()
        return buttons.index(box.clickedButton()) if box.clickedButton() in buttons else None

    def withdraw_then_delete(self) -> None:
        """Take this computer's files off the server (a background job), then remove the replica."""
        self.message.emit(tr("Withdrawing your files from the shared knowledge base…"))

        def done(future) -> None:
            try:
                n = future.result()
            except Exception as exc:  # noqa: BLE001 - server down: nothing is removed here either
                self.message.emit(tr("Cannot withdraw your files: {error}", error=exc))
                return
            self.message.emit(trn("{n} file withdrawn", "{n} files withdrawn", n))
            self.delete_kb()

        if self.session.run(lambda kb: kb.withdraw_shared(), done) is None:
            self.message.emit(tr("Cannot withdraw your files: {error}", error=tr("the knowledge base is busy")))

    def prompt_delete(self) -> None:
        name = self.current_kb_name()
        kb = self.session.kb
        if name and kb is not None and kb.remote is not None:
            choice = self.choose(
                tr("Disconnect shared knowledge base"),
                tr("Remove “{name}” from this computer? The shared copy on {server} stays for everyone else.",
                   name=name, server=kb.remote.server),
                [tr("Disconnect, keep my files shared"), tr("Disconnect and withdraw my files")])
            if choice == 0:
                self.delete_kb()
            elif choice == 1:
                self.withdraw_then_delete()
            return
        if name and self.confirm(
            tr("Delete knowledge base"),
            tr("Delete the knowledge base “{name}” and its conversations? Your documents are not touched.", name=name),
        ):
            self.delete_kb()

    def _on_kb_changed(self, kb) -> None:
        # A refresh still running for the previous knowledge base never reports (the session drops
        # results of jobs from before a switch): without this reset the file list would stay frozen.
        self._refresh_running = self._refresh_pending = False
        self.shared_warning = ""
        if kb is not None and kb.remote is not None:
            self._pull_timer.start()
        else:
            self._pull_timer.stop()
        self.fill_kbs()
        self.model.set_rows([])
        self.folders.clear()
        self.last_report = None
        self._show_idle()
        if kb is not None:
            self.refresh_files()
        self._update_buttons()

    # -- adding ----------------------------------------------------------------------------------
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
        if not paths or self.session.kb is None:
            return
        self.message.emit(tr("Adding {n} item(s) to {kb}…", n=len(paths), kb=self.current_kb_name()))
        self.indexing.index(paths)

    def remove_selected_folder(self) -> None:
        item = self.folders.currentItem()
        if item is None or self.indexing.running:
            return
        path = item.data(Qt.UserRole)

        def done(future) -> None:
            try:
                n = future.result()
                self.message.emit(tr("Removed {path} ({n} files).", path=path, n=n))
            except Exception as exc:
                self.message.emit(tr("Cannot remove: {error}", error=exc))
            self.refresh_files()
            self.indexing.refresh_watch()

        self.session.run(lambda kb: kb.remove_root(path), done)

    # -- progress -----------------------------------------------------------------------------
    def _on_started(self, paths: list) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat(tr("Scanning…"))
        self.progress_label.setText(tr("Scanning folders…"))
        self.current_label.clear()
        self._update_buttons()
        self.refresh_files(scan=True)

    def _on_progress(self, p) -> None:
        self.progress.setRange(0, max(1, p.files_total))
        self.progress.setValue(p.files_done)
        self.progress.setFormat(f"{p.files_done}/{p.files_total}")
        self.progress_label.setText(progress_text(p))
        self.current_label.setText(os.path.basename(p.current) if p.current else "")
        self.current_label.setToolTip(p.current or "")
        self._schedule_refresh()

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
        self._show_idle()

    def _show_idle(self) -> None:
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
            counts = self.model.counts()
            pending = counts["pending"]
            self.progress.setValue(0 if pending or not self.model.rows else 1)
            self.progress.setFormat(
                trn("{n} file pending", "{n} files pending", pending) if pending
                else (tr("Up to date") if self.model.rows else tr("Empty")))
            self.progress_label.setText(tr("Re-index to add the pending files.") if pending else (
                "" if self.model.rows else tr("Add a folder or drop files here to start.")))
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
        has_kb = self.session.kb is not None
        running = state in ("running", "stopping")
        self.pause_button.setText(tr("Resume") if state == "paused" else tr("Pause"))
        self.pause_button.setToolTip(
            tr("Pause stops after the current batch; Resume indexes the files not done yet"))
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.cancel_button.setEnabled(state in ("running", "paused"))
        self.add_folder_button.setEnabled(has_kb)
        self.add_files_button.setEnabled(has_kb)
        self.sync_button.setEnabled(has_kb and not running)
        self.remove_folder_button.setEnabled(has_kb and not running and self.folders.currentItem() is not None)
        inside = has_kb and self.session.kb.root.parent == kb_store.kb_parent()
        self.rename_kb_button.setEnabled(inside)
        self.delete_kb_button.setEnabled(inside)
        if state == "paused":
            self._show_idle()

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
            self.open_file.emit(row.path)

    # -- file list ----------------------------------------------------------------------------------
    def _schedule_refresh(self) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def refresh_files(self, scan: bool | None = None) -> None:
        if self._refresh_running:
            self._refresh_pending = True
            return
        self._refresh_running = True

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

        def done(future) -> None:
            self._refresh_running = False
            try:
                roots, rows, counts, warning, shared = future.result()
            except Exception as exc:
                log.warning("file list refresh failed: %s", exc)
            else:
                self.rows_refreshes += 1
                if warning != self.shared_warning:
                    self.shared_warning = warning
                    self.message.emit(tr("Shared knowledge base: {error}", error=warning) if warning
                                      else tr("Shared knowledge base: connected"))
                self._shared_paths = shared
                self._fill_folders(roots, rows)
                self.model.set_rows(rows)
                self._passages = counts.get("passages", 0)
                self._update_summary()
                if self.indexing.state == "idle":
                    self._show_idle()
            if self._refresh_pending:
                self._refresh_pending = False
                self._schedule_refresh()

        if self.session.run(job, done) is None:
            self._refresh_running = False

    def _fill_folders(self, roots: list[str], rows) -> None:
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
        shared = getattr(self, "_shared_paths", set())
        singles = [r for r in rows if r.path not in shared
                   and not any(r.path.startswith(root.rstrip("/\\") + os.sep) for root in roots)]
        if singles:
            item = QListWidgetItem(style.standardIcon(QStyle.SP_FileIcon), trn("{n} individual file", "{n} individual files", len(singles)))
            item.setFlags(item.flags() & ~Qt.ItemIsSelectable)
            self.folders.addItem(item)
        if shared:
            item = QListWidgetItem(style.standardIcon(QStyle.SP_DriveNetIcon),
                                   trn("{n} file shared by others", "{n} files shared by others", len(shared)))
            item.setFlags(item.flags() & ~Qt.ItemIsSelectable)
            self.folders.addItem(item)
        self._update_buttons()

    def _update_summary(self) -> None:
        counts = self.model.counts()
        text = tr("{i} indexed · {f} failed · {p} pending · {n} passages", i=counts["indexed"], f=counts["failed"],
                  p=counts["pending"], n=getattr(self, "_passages", 0))
        self.summary.setText(text)
        self.summary.setToolTip(text)
