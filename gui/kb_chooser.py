"""Choosing the knowledge base: pick, create, connect to a shared one, rename, delete (or disconnect)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QMessageBox, QPushButton, QVBoxLayout, QWidget,
)

from gui import kb_store
from gui.i18n import notifier, tr, trn
from gui.session import KbSession
from gui.settings import AppSettings


class KbChooser(QWidget):
    message = Signal(str)          # for the status bar

    def __init__(self, session: KbSession, settings: AppSettings, parent=None):
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.ask_text = QInputDialog.getText           # tests replace the dialogs
        self.confirm = lambda title, text: QMessageBox.question(self, title, text) == QMessageBox.Yes
        self.choose = self._choose                     # (title, text, options) -> index or None

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

        kb_row = QHBoxLayout()
        kb_row.addWidget(self.kb_combo, 1)
        kb_buttons = QHBoxLayout()
        kb_buttons.addWidget(self.new_kb_button)
        kb_buttons.addWidget(self.connect_kb_button)
        kb_buttons.addWidget(self.rename_kb_button)
        kb_buttons.addWidget(self.delete_kb_button)
        kb_buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kb_label)
        layout.addLayout(kb_row)
        layout.addLayout(kb_buttons)

        session.kb_changed.connect(self._on_kb_changed)
        notifier.changed.connect(self.retranslate)
        self.retranslate()
        self._update_buttons()

    def retranslate(self) -> None:
        self.kb_label.setText(tr("Knowledge base"))
        self.new_kb_button.setText(tr("New…"))
        self.new_kb_button.setToolTip(tr("Create a knowledge base"))
        self.connect_kb_button.setText(tr("Connect…"))
        self.connect_kb_button.setToolTip(tr("Use a knowledge base shared on a Chroma server"))
        self.rename_kb_button.setText(tr("Rename…"))
        self.delete_kb_button.setText(tr("Delete…"))

    def _on_kb_changed(self, _kb) -> None:
        self.fill_kbs()
        self._update_buttons()

    def _update_buttons(self) -> None:
        kb = self.session.kb
        inside = kb is not None and kb.root.parent == kb_store.kb_parent()  # outside: --kb / DOCENT_KB
        self.rename_kb_button.setEnabled(inside)
        self.delete_kb_button.setEnabled(inside)

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

        def withdrawn(n: int) -> None:
            self.message.emit(trn("{n} file withdrawn", "{n} files withdrawn", n))
            self.delete_kb()

        def failed(exc: Exception) -> None:  # server down, or refused: nothing is removed here either
            self.message.emit(tr("Cannot withdraw your files: {error}", error=exc))

        self.session.run(lambda kb: kb.withdraw_shared(), withdrawn, failed)

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
