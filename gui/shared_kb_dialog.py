"""Connect to a shared knowledge base on a Chroma server (index/remote.py).

The token goes to the OS keyring (index.credentials), never to a settings
file; where there is no keyring the dialog says it is kept for this session.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QVBoxLayout,
)

from gui.i18n import tr


class SharedKbDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle(tr("Connect to a shared knowledge base"))
        self.host = QLineEdit()
        self.host.setPlaceholderText("kb.example.org")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(8000)
        self.https = QLineEdit()
        self.collection = QLineEdit()
        self.collection.setPlaceholderText("team-docs")
        self.local_name = QLineEdit()
        self.local_name.setPlaceholderText(tr("as shown in Docent (default: the server's name)"))
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.Password)
        self.token.setPlaceholderText(tr("optional"))
        from gui.kb_store import keyring_note

        self.note = QLabel(tr("Documents you add are indexed on this computer and shared through the server "
                              "(Chroma, `chroma run`). Everyone connected sees them. ") + keyring_note())
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.PlainText)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828")
        self.error.setTextFormat(Qt.PlainText)
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow(tr("Server:"), self.host)
        form.addRow(tr("Port:"), self.port)
        form.addRow(tr("Knowledge base on the server:"), self.collection)
        form.addRow(tr("Token:"), self.token)
        form.addRow(tr("Name here:"), self.local_name)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._check_then_accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def url(self) -> str:
        host = self.host.text().strip()
        scheme = "chroma"
        for prefix, s in (("https://", "chromas"), ("http://", "chroma"), ("chromas://", "chromas"), ("chroma://", "chroma")):
            if host.startswith(prefix):
                host, scheme = host[len(prefix):].strip("/"), s
        return f"{scheme}://{host}:{self.port.value()}/{self.collection.text().strip()}"

    def name(self) -> str:
        return self.local_name.text().strip() or self.collection.text().strip()

    def _check_then_accept(self) -> None:
        from index.remote import RemoteError, RemoteSpec

        try:
            RemoteSpec.parse(self.url())
        except RemoteError as exc:
            self.error.setText(str(exc))
            return
        self.accept()
