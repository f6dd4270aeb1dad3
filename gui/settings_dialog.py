"""Settings: the model (a GGUF file, or one of the five seed models downloaded on request),
generation, embeddings, interface language and theme. Saved to config_dir() on OK."""
from __future__ import annotations

import logging
import threading
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
    QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton, QRadioButton,
    QSpinBox, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from gui.i18n import LANGUAGES, tr
from gui.model_catalog import SEED_MODELS
from gui.settings import AppSettings
from gui.tasks import Coalescer, TaskManager

log = logging.getLogger("docent.gui")

BUNDLED_EMBEDDING = "bundled:use-multilingual-v3"


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, tasks: TaskManager, kb=None, parent=None, endpoint: str | None = None):
        super().__init__(parent)
        self.setWindowTitle(tr("Docent settings"))
        self.resize(820, 600)
        self.settings = replace(settings)
        self.tasks = tasks
        self.endpoint = endpoint
        self._download_cancel: threading.Event | None = None
        self.download_future = None
        self.download_error = ""

        tabs = QTabWidget()
        tabs.addTab(self._model_tab(), tr("Model"))
        tabs.addTab(self._embedding_tab(kb), tr("Embeddings"))
        tabs.addTab(self._interface_tab(), tr("Interface"))
        self.tabs = tabs
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs, 1)
        layout.addWidget(buttons)
        self._load(self.settings)

    # -- tabs ---------------------------------------------------------------------------
    def _model_tab(self) -> QWidget:
        w = QWidget()
        self.bundled_radio = QRadioButton(tr("Bundled model (gemma-3-270m: for trying Docent out, not for real answers)"))
        self.file_radio = QRadioButton(tr("GGUF model file:"))
        self.endpoint_radio = QRadioButton(tr("OpenAI-compatible model server (vLLM, llama.cpp server…):"))
        group = QButtonGroup(w)
        group.addButton(self.bundled_radio)
        group.addButton(self.file_radio)
        group.addButton(self.endpoint_radio)
        self.model_path = QLineEdit()
        self.model_path.setPlaceholderText(tr("Path to a .gguf file"))
        self.model_path.textEdited.connect(lambda _t: self.file_radio.setChecked(True))
        choose = QPushButton(tr("Choose GGUF file…"))
        choose.clicked.connect(self.choose_model)
        path_row = QHBoxLayout()
        path_row.addWidget(self.file_radio)
        path_row.addWidget(self.model_path, 1)
        path_row.addWidget(choose)

        self.catalog = QTableWidget(len(SEED_MODELS), 5)
        self.catalog.setHorizontalHeaderLabels([tr("Model"), tr("Languages"), tr("Quantization"), tr("Size"),
                                                tr("Licence")])
        self.catalog.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.catalog.setSelectionMode(QAbstractItemView.SingleSelection)
        self.catalog.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.catalog.verticalHeader().hide()
        for row, m in enumerate(SEED_MODELS):
            for col, text in enumerate((m.title, m.languages, m.quantization, f"≈ {m.size_gb:.1f} GB", m.licence)):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{m.title}\n{m.repo_id}\n{m.notes}")
                self.catalog.setItem(row, col, item)
        header = self.catalog.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)
        self.catalog.selectRow(0)
        self.download_button = QPushButton(tr("Download selected model"))
        self.download_button.clicked.connect(self.start_download)
        self.cancel_download_button = QPushButton(tr("Cancel download"))
        self.cancel_download_button.clicked.connect(self.cancel_download)
        self.cancel_download_button.setEnabled(False)
        self.download_progress = QProgressBar()
        self.download_progress.setRange(0, 1)
        self.download_progress.setValue(0)
        self.download_status = QLabel(tr("Downloads only start when you click; Docent never goes online by itself."))
        self.download_status.setWordWrap(True)
        self.download_status.setTextFormat(Qt.PlainText)
        dl_row = QHBoxLayout()
        dl_row.addWidget(self.download_button)
        dl_row.addWidget(self.cancel_download_button)
        dl_row.addWidget(self.download_progress, 1)
        catalog_box = QGroupBox(tr("Recommended models (8B class; about 6 GB of RAM each)"))
        cl = QVBoxLayout(catalog_box)
        cl.addWidget(self.catalog)
        cl.addLayout(dl_row)
        cl.addWidget(self.download_status)

        self.gpu_layers = QSpinBox()
        self.gpu_layers.setRange(-1, 999)
        self.gpu_layers.setSpecialValueText(tr("all (when a GPU is available)"))
        self.gpu_layers.setToolTip(tr("Layers to offload to the GPU: 0 = CPU only"))
        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(512, 131072)
        self.n_ctx.setSingleStep(1024)
        self.n_ctx.setSuffix(tr(" tokens"))
        self.use_model_temperature = QCheckBox(tr("Use the model's recommended temperature"))
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setDecimals(2)
        self.use_model_temperature.toggled.connect(lambda on: self.temperature.setEnabled(not on))
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(16, 8192)
        self.max_tokens.setSuffix(tr(" tokens"))
        self.documents_k = QSpinBox()
        self.documents_k.setRange(1, 20)
        self.model_check = QComboBox()
        self.model_check.addItem(tr("Only when the model runs fully on a GPU"), "auto")
        self.model_check.addItem(tr("Always"), "on")
        self.model_check.addItem(tr("Never"), "off")
        self.model_check.setToolTip(tr("The model judges the sentences the rules leave partial against their "
                                       "source (a few tokens each; slow on a CPU)"))
        temp_row = QHBoxLayout()
        temp_row.addWidget(self.use_model_temperature)
        temp_row.addWidget(self.temperature)
        form = QFormLayout()
        form.addRow(tr("GPU layers:"), self.gpu_layers)
        form.addRow(tr("Context size:"), self.n_ctx)
        form.addRow(tr("Temperature:"), temp_row)
        form.addRow(tr("Longest answer:"), self.max_tokens)
        form.addRow(tr("Documents per question:"), self.documents_k)
        form.addRow(tr("Model check of partial sentences:"), self.model_check)

        layout = QVBoxLayout(w)
        layout.addWidget(self.bundled_radio)
        layout.addLayout(path_row)
        layout.addWidget(catalog_box, 1)
        layout.addWidget(self.endpoint_radio)
        layout.addWidget(self._endpoint_box())
        layout.addLayout(form)
        return w

    def _endpoint_box(self) -> QWidget:
        box = QWidget()
        self.endpoint_url = QLineEdit()
        self.endpoint_url.setPlaceholderText("http://gpu-server:8000/v1")
        self.endpoint_model = QLineEdit()
        self.endpoint_model.setPlaceholderText("Vikhrmodels/Vikhr-Llama3.1-8B-Instruct-R-21-09-24")
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.Password)
        self.api_key.setPlaceholderText(tr("unchanged"))
        self.documents_role = QComboBox()
        self.documents_role.addItem(tr("Detect"), "auto")
        self.documents_role.addItem(tr("Send a “documents” message (Vikhr)"), "on")
        self.documents_role.addItem(tr("Put the documents in the system message"), "off")
        for field in (self.endpoint_url, self.endpoint_model, self.api_key):
            field.textEdited.connect(lambda _t: self.endpoint_radio.setChecked(True))
        from gui.kb_store import keyring_note

        note = QLabel(tr("Questions and the retrieved passages are sent to this server; nothing else is. ")
                      + keyring_note())
        note.setWordWrap(True)
        note.setTextFormat(Qt.PlainText)
        form = QFormLayout(box)
        form.setContentsMargins(24, 0, 0, 0)
        form.addRow(tr("Base URL:"), self.endpoint_url)
        form.addRow(tr("Model name:"), self.endpoint_model)
        form.addRow(tr("API key:"), self.api_key)
        form.addRow(tr("Documents:"), self.documents_role)
        form.addRow(note)
        return box

    def save_secrets(self) -> bool | None:
        """The API key typed here goes to the keyring (never to the settings file); None if none was typed."""
        key = self.api_key.text()
        url = self.endpoint_url.text().strip()
        if not key or not url:
            return None
        from index.credentials import set_secret

        return set_secret("api", url, key)

    def accept(self) -> None:
        self.save_secrets()
        super().accept()

    def _embedding_tab(self, kb) -> QWidget:
        w = QWidget()
        current = getattr(getattr(kb, "settings", None), "embedding_model", None)
        self.current_embedding = QLabel(
            tr("This knowledge base uses: {model}", model=current) if current else tr("No knowledge base is open."))
        self.current_embedding.setTextFormat(Qt.PlainText)
        note = QLabel(tr("A knowledge base keeps the embedding model it was built with (its vectors depend on it). "
                         "The choice below applies to knowledge bases created from now on."))
        note.setWordWrap(True)
        self.embedding = QComboBox()
        self.embedding.setEditable(True)
        self.embedding.addItem(BUNDLED_EMBEDDING)
        choose = QPushButton(tr("Choose model folder…"))
        choose.clicked.connect(self.choose_embedding)
        row = QHBoxLayout()
        row.addWidget(self.embedding, 1)
        row.addWidget(choose)
        hint = QLabel(tr("Any sentence-transformers model folder works offline (e.g. a multilingual-e5 model). "
                         "The bundled Universal Sentence Encoder (multilingual) finds passages across 16 languages; "
                         "other languages are searched by keywords."))
        hint.setWordWrap(True)
        layout = QVBoxLayout(w)
        layout.addWidget(self.current_embedding)
        layout.addWidget(note)
        layout.addLayout(row)
        layout.addWidget(hint)
        layout.addStretch(1)
        return w

    def _interface_tab(self) -> QWidget:
        w = QWidget()
        self.language = QComboBox()
        self.language.addItem(tr("System language"), "system")
        for code, name in LANGUAGES.items():
            self.language.addItem(name, code)
        self.theme = QComboBox()
        self.theme.addItem(tr("Follow the system"), "system")
        self.theme.addItem(tr("Light"), "light")
        self.theme.addItem(tr("Dark"), "dark")
        self.watch = QCheckBox(tr("Re-index watched folders automatically when files change"))
        form = QFormLayout(w)
        form.addRow(tr("Language:"), self.language)
        form.addRow(tr("Theme:"), self.theme)
        form.addRow("", self.watch)
        return w

    # -- values ----------------------------------------------------------------------------
    def _load(self, s: AppSettings) -> None:
        if s.model_source == "endpoint":
            self.endpoint_radio.setChecked(True)
        else:
            (self.file_radio if s.model_path else self.bundled_radio).setChecked(True)
        self.model_path.setText(s.model_path)
        self.endpoint_url.setText(s.endpoint_url)
        self.endpoint_model.setText(s.endpoint_model)
        self.documents_role.setCurrentIndex(max(0, self.documents_role.findData(s.endpoint_documents_role)))
        self.gpu_layers.setValue(s.n_gpu_layers)
        self.n_ctx.setValue(s.n_ctx)
        self.use_model_temperature.setChecked(s.temperature is None)
        self.temperature.setValue(0.3 if s.temperature is None else s.temperature)
        self.temperature.setEnabled(s.temperature is not None)
        self.max_tokens.setValue(s.max_answer_tokens)
        self.documents_k.setValue(s.documents_k)
        self.model_check.setCurrentIndex(max(0, self.model_check.findData(s.model_check)))
        if self.embedding.findText(s.embedding_model) < 0:
            self.embedding.addItem(s.embedding_model)
        self.embedding.setCurrentText(s.embedding_model)
        self.language.setCurrentIndex(max(0, self.language.findData(s.language)))
        self.theme.setCurrentIndex(max(0, self.theme.findData(s.theme)))
        self.watch.setChecked(s.watch_folders)

    def result_settings(self) -> AppSettings:
        s = replace(self.settings)
        s.model_source = "endpoint" if self.endpoint_radio.isChecked() else "local"
        s.model_path = self.model_path.text().strip() if self.file_radio.isChecked() else (
            s.model_path if self.endpoint_radio.isChecked() else "")
        s.endpoint_url = self.endpoint_url.text().strip()
        s.endpoint_model = self.endpoint_model.text().strip()
        s.endpoint_documents_role = self.documents_role.currentData()
        s.n_gpu_layers = self.gpu_layers.value()
        s.n_ctx = self.n_ctx.value()
        s.temperature = None if self.use_model_temperature.isChecked() else round(self.temperature.value(), 2)
        s.max_answer_tokens = self.max_tokens.value()
        s.documents_k = self.documents_k.value()
        s.model_check = self.model_check.currentData()
        s.embedding_model = self.embedding.currentText().strip() or BUNDLED_EMBEDDING
        s.language = self.language.currentData()
        s.theme = self.theme.currentData()
        s.watch_folders = self.watch.isChecked()
        return s.checked()

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("Choose a GGUF model"), self.model_path.text(),
                                              tr("GGUF models (*.gguf);;All files (*)"))
        if path:
            self.model_path.setText(path)
            self.file_radio.setChecked(True)

    def choose_embedding(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, tr("Choose a sentence-transformers model folder"))
        if folder:
            self.embedding.setCurrentText(folder)

    # -- download -------------------------------------------------------------------------------
    def start_download(self) -> None:
        if self.download_future is not None and not self.download_future.done():
            return
        row = self.catalog.currentRow()
        if not 0 <= row < len(SEED_MODELS):
            return
        model = SEED_MODELS[row]
        from gui.model_catalog import DownloadError, download
        from index.config import data_dir

        cancel = threading.Event()
        self._download_cancel = cancel
        progress = Coalescer(self, latest_only=True)
        progress.delivered.connect(lambda items: self._download_progress(*items[-1]))
        self.download_error = ""
        self.download_button.setEnabled(False)
        self.cancel_download_button.setEnabled(True)
        self.download_status.setText(tr("Connecting to huggingface.co…"))
        self.download_progress.setRange(0, 0)
        endpoint = self.endpoint
        dest = data_dir() / "models"

        def job():
            return download(model, dest, lambda phase, done, total: progress.push((phase, done, total)), cancel,
                            endpoint=endpoint)

        def ended() -> None:
            progress.flush_now()
            self.download_button.setEnabled(True)
            self.cancel_download_button.setEnabled(False)
            self.download_progress.setRange(0, 1)

        def downloaded(path) -> None:
            ended()
            self.download_progress.setValue(1)
            self.model_path.setText(str(path))
            self.file_radio.setChecked(True)
            self.download_status.setText(tr("Downloaded and checked: {path}", path=path))

        def failed(exc: Exception) -> None:
            ended()
            self.download_error = str(exc)
            if isinstance(exc, DownloadError):
                self.download_progress.setValue(0)
                self.download_status.setText(tr("Download failed: {error}", error=tr(str(exc))))
            else:  # pragma: no cover - download() wraps errors
                self.download_status.setText(tr("Download failed: {error}", error=exc))

        self.download_future = self.tasks.run(job, downloaded, failed)

    def _download_progress(self, phase: str, done: int, total: int) -> None:
        if phase == "listing":
            self.download_status.setText(tr("Looking up the model files…"))
            return
        if total > 0:
            self.download_progress.setRange(0, 1000)
            self.download_progress.setValue(int(1000 * done / total))
        label = tr("Checking the download (SHA-256)…") if phase == "verify" else tr("Downloading…")
        self.download_status.setText(f"{label} {_gb(done)} / {_gb(total) if total else '?'}")

    def cancel_download(self) -> None:
        if self._download_cancel is not None:
            self._download_cancel.set()
            self.download_status.setText(tr("Cancelling… (the download resumes from here next time)"))

    def done(self, result: int) -> None:  # noqa: A003 - QDialog API
        self.cancel_download()
        super().done(result)
