"""Docent's main window: knowledge bases | chat and search | the sources viewer.

A thin shell: every action calls the same services as the CLI
(KnowledgeBase, GroundedPipeline) in the background, with results delivered
on the main thread. Nothing heavy is imported here: the embedding model,
Chroma and llama.cpp load on first use, after the window is up.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QSplitter, QTabWidget

from gui.chat_panel import ChatPanel
from gui.check_panel import CheckPanel
from gui.i18n import notifier, set_language, tr
from gui.indexing import IndexingController
from gui.kb_panel import KbPanel
from gui.model_service import ModelService
from gui.search_panel import SearchPanel
from gui.session import KbSession
from gui.settings import AppSettings
from gui.source_viewer import SourceViewer
from gui.tasks import TaskManager
from gui.theme import apply_theme

log = logging.getLogger("docent.gui")


class MainWindow(QMainWindow):
    def __init__(self, tasks: TaskManager, settings: AppSettings | None = None, session: KbSession | None = None):
        super().__init__()
        self.tasks = tasks
        self.settings = settings or AppSettings()
        self.session = session or KbSession(tasks, self)
        self.indexing = IndexingController(self.session, self)
        self.indexing.watch_enabled = self.settings.watch_folders
        self.model = ModelService(self.session, self.settings, self)
        self.setAcceptDrops(True)
        self._initial_size()

        self.kb_panel = KbPanel(self.session, self.indexing, self.settings)
        self.chat = ChatPanel(self.session, self.model)
        self.search = SearchPanel(self.session)
        self.check = CheckPanel(self.session)
        self.viewer = SourceViewer(self.session)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.chat, "")
        self.tabs.addTab(self.search, "")
        self.tabs.addTab(self.check, "")
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(self.kb_panel)
        self.splitter.addWidget(self.tabs)
        self.splitter.addWidget(self.viewer)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes(self.settings.splitter if len(self.settings.splitter) == 3 else [330, 560, 470])
        self.setCentralWidget(self.splitter)

        self.status_label = QLabel()
        self.status_label.setTextFormat(Qt.PlainText)
        self.statusBar().addWidget(self.status_label, 1)

        for panel in (self.chat, self.search, self.check, self.kb_panel):
            panel.open_source.connect(self.viewer.show)
        self.kb_panel.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.session.kb_changed.connect(self._on_kb_changed)
        self.session.open_failed.connect(self._on_open_failed)
        self.session.repair_status.connect(self.status_label.setText)
        self.model.status.connect(self._on_model_status)
        notifier.changed.connect(self.retranslate)
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.styleHints().colorSchemeChanged.connect(self._color_scheme_changed)
        self._make_actions()
        self.retranslate()
        if self.settings.geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.geometry.encode("ascii")))

    def _initial_size(self) -> None:
        from PySide6.QtGui import QGuiApplication

        screen = QGuiApplication.primaryScreen()
        avail = screen.availableGeometry() if screen is not None else None
        width, height = 1360, 820
        if avail is not None and avail.width() > 0:
            width, height = min(width, int(avail.width() * 0.95)), min(height, int(avail.height() * 0.9))
        self.resize(width, height)

    # -- actions and shortcuts -----------------------------------------------------------------
    def _make_actions(self) -> None:
        def action(slot, *shortcuts) -> QAction:
            a = QAction(self)
            a.triggered.connect(slot)
            if shortcuts:
                a.setShortcuts([QKeySequence(s) for s in shortcuts])
            self.addAction(a)
            return a

        self.act_ask = action(self._ask_or_check, "Ctrl+Return", "Ctrl+Enter")
        self.act_stop = action(self.chat.stop, "Esc")
        self.act_new_chat = action(self._new_chat, QKeySequence.New)
        self.act_search = action(self.focus_search, QKeySequence.Find)
        self.act_check = action(self.focus_check, "Ctrl+K")
        self.act_add_folder = action(self.kb_panel.folder_list.choose_folder, "Ctrl+O")
        self.act_add_files = action(self.kb_panel.folder_list.choose_files, "Ctrl+Shift+O")
        self.act_new_kb = action(self.kb_panel.chooser.prompt_create)
        self.act_settings = action(self.open_settings, QKeySequence.Preferences, "Ctrl+,")
        self.act_copy = action(self.chat.copy_last, "Ctrl+Shift+C")
        self.act_quit = action(self.close, QKeySequence.Quit)
        self.act_about = action(self.about)

        menu = self.menuBar()
        self.file_menu = menu.addMenu("")
        for a in (self.act_new_kb, self.act_add_folder, self.act_add_files, None, self.act_settings, None,
                  self.act_quit):
            self.file_menu.addSeparator() if a is None else self.file_menu.addAction(a)
        self.chat_menu = menu.addMenu("")
        for a in (self.act_ask, self.act_stop, self.act_new_chat, self.act_copy, None, self.act_search,
                  self.act_check):
            self.chat_menu.addSeparator() if a is None else self.chat_menu.addAction(a)
        self.help_menu = menu.addMenu("")
        self.help_menu.addAction(self.act_about)

    def retranslate(self) -> None:
        kb = self.session.kb
        self.setWindowTitle(f"Docent — {kb.root.name}" if kb is not None else "Docent")
        self.tabs.setTabText(0, tr("Ask"))
        self.tabs.setTabText(1, tr("Search"))
        self.tabs.setTabText(2, tr("Check text"))
        self.file_menu.setTitle(tr("&File"))
        self.chat_menu.setTitle(tr("&Chat"))
        self.help_menu.setTitle(tr("&Help"))
        texts = {
            self.act_ask: tr("Ask"), self.act_stop: tr("Stop answering"), self.act_new_chat: tr("New chat"),
            self.act_search: tr("Search documents"), self.act_check: tr("Check a text against the documents"),
            self.act_add_folder: tr("Add folder…"),
            self.act_add_files: tr("Add files…"), self.act_new_kb: tr("New knowledge base…"),
            self.act_settings: tr("Settings…"), self.act_copy: tr("Copy answer with citations"),
            self.act_quit: tr("Quit"), self.act_about: tr("About Docent"),
        }
        for a, text in texts.items():
            a.setText(text)

    def _color_scheme_changed(self, _scheme) -> None:
        """The system switched light/dark: follow it (unless a theme is chosen) and redraw our colours."""
        from PySide6.QtWidgets import QApplication

        if self.settings.theme == "system":
            apply_theme(QApplication.instance(), "system")
        self.chat.render()
        self.check.render()
        self.search.retranslate()
        self.kb_panel.file_list.model.retranslate()  # status colours

    def _new_chat(self) -> None:
        self.tabs.setCurrentWidget(self.chat)
        self.chat.new_chat()

    def focus_search(self) -> None:
        self.tabs.setCurrentWidget(self.search)
        self.search.query.setFocus()
        self.search.query.selectAll()

    def _ask_or_check(self) -> None:
        """Ctrl+Enter: check the text on the Check-text tab, ask the question everywhere else."""
        if self.tabs.currentWidget() is self.check:
            self.check.run_check()
        else:
            self.chat.ask()

    def focus_check(self) -> None:
        self.tabs.setCurrentWidget(self.check)
        self.check.input.setFocus()

    def about(self) -> None:
        QMessageBox.about(self, tr("About Docent"), tr(
            "Docent answers questions from your own documents, offline, with every sentence linked to the "
            "passage that supports it."))

    # -- knowledge base ---------------------------------------------------------------------------
    def _on_kb_changed(self, kb) -> None:
        self.viewer.clear()
        self.retranslate()
        if kb is not None:
            self.status_label.setText(tr("Knowledge base: {path}", path=kb.root))

    def _on_model_status(self, kind: str, text: str) -> None:
        if kind != "working":  # step messages belong to the chat; the status bar shows the model's state
            self.status_label.setText(text)

    def check_fonts(self) -> str | None:
        """Load shipped CJK fonts; if Japanese still cannot be drawn, say so in the status bar."""
        from gui.fonts import missing_cjk_font_message

        message = missing_cjk_font_message()
        if message:
            log.warning("%s", message)
            self.font_warning = QLabel(tr("No CJK font: Japanese shows as boxes"))
            self.font_warning.setToolTip(message)
            self.font_warning.setStyleSheet("color: #b25000;")
            self.statusBar().addPermanentWidget(self.font_warning)
            self.statusBar().showMessage(message, 30000)
        return message

    def _on_open_failed(self, message: str) -> None:
        self.status_label.setText(message)
        QMessageBox.warning(self, "Docent", message)

    def index_paths(self, paths: list[str]) -> None:
        self.kb_panel.folder_list.add_paths(paths)

    # -- settings ------------------------------------------------------------------------------------
    def open_settings(self) -> None:
        from gui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.tasks, self.session.kb, self)
        if dialog.exec():
            self.apply_settings(dialog.result_settings())

    def apply_settings(self, new: AppSettings) -> None:
        from PySide6.QtWidgets import QApplication

        old = self.settings
        for name in new.__dataclass_fields__:
            setattr(old, name, getattr(new, name))  # panels hold the same object
        old.save()
        app = QApplication.instance()
        set_language(old.language, app)
        apply_theme(app, old.theme)
        self.kb_panel.file_list.model.retranslate()  # status colours follow the theme
        self.indexing.set_watch_enabled(old.watch_folders)
        self.model.settings_changed(old)
        self.chat.render()
        self.check.render()

    # -- drag and drop --------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.kb_panel.folder_list.add_paths(paths)

    # -- closing --------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802
        self.settings.geometry = bytes(self.saveGeometry().toBase64()).decode("ascii")
        self.settings.splitter = list(self.splitter.sizes())
        self.settings.save()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Cancel indexing and generation, wait for them, close the model and the knowledge base."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        self.indexing.stop()
        self.model.stop()
        self.session.close()
        self.model.close()
