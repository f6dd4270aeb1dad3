"""The knowledge-base panel: which knowledge base (kb_chooser) and its search model (model_upgrade), its
folders, indexing progress and its files (kb_files, indexing_progress), stacked in that order."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.indexing import IndexingController
from gui.indexing_progress import IndexingProgress
from gui.kb_chooser import KbChooser
from gui.kb_files import FileList, FolderList
from gui.model_upgrade import ModelUpgrade
from gui.reembedding import ReembedController
from gui.session import KbSession
from gui.settings import AppSettings


class KbPanel(QWidget):
    message = Signal(str)          # for the status bar
    open_source = Signal(object)   # index.types.SourceRef of a file double-clicked in the list

    def __init__(self, session: KbSession, indexing: IndexingController, settings: AppSettings, parent=None):
        super().__init__(parent)
        # Built in this order, so on a switch the file rows are cleared before the progress sums them up.
        self.chooser = KbChooser(session, settings)
        self.reembed = ReembedController(session, indexing, lambda: settings.embedding_model or _default_model(), self)
        self.model_upgrade = ModelUpgrade(self.reembed)
        self.folder_list = FolderList(session, indexing)
        self.file_list = FileList(session, indexing)
        self.progress_view = IndexingProgress(session, indexing, self.file_list.model)

        self.file_list.refreshed.connect(self.folder_list.fill)
        self.file_list.refreshed.connect(lambda *_: self.progress_view.files_refreshed())
        self.folder_list.removed.connect(self.file_list.refresh_files)
        self.file_list.open_source.connect(self.open_source)
        for part in (self.chooser, self.model_upgrade, self.folder_list, self.file_list, self.progress_view):
            part.message.connect(self.message)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.chooser)
        layout.addWidget(self.model_upgrade)
        layout.addWidget(self.folder_list)
        layout.addWidget(self.progress_view)
        layout.addWidget(self.file_list, 1)


def _default_model() -> str:
    from index.config import EngineSettings

    return EngineSettings().embedding_model
