"""The chat: question box, streamed grounded answers with citations, Stop, history per knowledge base.

Each conversation keeps an answer mode (auto | generate | quote) chosen in
the mode box; `answer_mode` holds it and `answer_mode_changed` announces a
change (the model service reads it when it builds the answering pipeline).
An empty conversation on the sample knowledge base offers sample questions.
"""
from __future__ import annotations

import datetime

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QTextCursor
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSizePolicy, QTextBrowser, QToolTip, QVBoxLayout,
    QWidget,
)

from gui.answer_render import LIVE_MARK, answer_clipboard_html, answer_plain, conversation_html, counter_text
from gui.conversations import ANSWER_MODES, Conversation, ConversationStore, Turn
from gui.samples import is_sample_kb, sample_questions
from gui.i18n import notifier, tr
from gui.model_service import AskOutcome, ModelService
from gui.session import KbSession
from gui.theme import colors


class QuestionBox(QPlainTextEdit):
    """Multi-line question; Ctrl+Enter asks (Enter adds a line), Esc stops."""

    submit = Signal()
    escape = Signal()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and event.modifiers() & Qt.ControlModifier:
            self.submit.emit()
            return
        if event.key() == Qt.Key_Escape:
            self.escape.emit()
            return
        super().keyPressEvent(event)


class ChatPanel(QWidget):
    open_source = Signal(object)   # index.types.SourceRef of a clicked citation
    answer_mode_changed = Signal(str)   # auto | generate | quote: the conversation's choice changed

    def __init__(self, session: KbSession, service: ModelService, parent=None):
        super().__init__(parent)
        self.session = session
        self.service = service
        self.store: ConversationStore | None = None
        self.conv: Conversation | None = None
        self.live: Turn | None = None
        self.live_status = ""
        self.tokens_received = 0
        self.token_events = 0
        self._live_cursor: QTextCursor | None = None
        self.samples: list[str] = []   # offered in an empty conversation (the sample knowledge base)

        self.mode_box = QComboBox()
        for mode in ANSWER_MODES:
            self.mode_box.addItem("", mode)
        self.mode_box.activated.connect(self._pick_mode)

        self.conversations = QComboBox()
        self.conversations.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.conversations.setMinimumContentsLength(16)
        self.conversations.activated.connect(self._pick_conversation)
        self.new_button = QPushButton()
        self.new_button.clicked.connect(self.new_chat)
        self.delete_button = QPushButton()
        self.delete_button.clicked.connect(self.delete_chat)
        self.transcript = QTextBrowser()
        self.transcript.setOpenLinks(False)
        self.transcript.setOpenExternalLinks(False)
        self.transcript.anchorClicked.connect(self._anchor)
        self.status = QLabel()
        self.status.setTextFormat(Qt.PlainText)
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.question = QuestionBox()
        self.question.setTabChangesFocus(True)
        self.question.setFixedHeight(self.question.fontMetrics().lineSpacing() * 3 + 14)
        self.question.submit.connect(self.ask)
        self.question.escape.connect(self.stop)
        self.ask_button = QPushButton()
        self.ask_button.setDefault(True)
        self.ask_button.clicked.connect(self.ask)
        self.stop_button = QPushButton()
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.copy_button = QPushButton()
        self.copy_button.clicked.connect(self.copy_last)

        top = QHBoxLayout()
        self.history_label = QLabel()
        top.addWidget(self.history_label)
        top.addWidget(self.conversations, 1)
        top.addWidget(self.new_button)
        top.addWidget(self.delete_button)
        self.mode_label = QLabel()
        top.addWidget(self.mode_label)
        top.addWidget(self.mode_box)
        buttons = QVBoxLayout()
        buttons.addWidget(self.ask_button)
        buttons.addWidget(self.stop_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.question, 1)
        bottom.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.transcript, 1)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.copy_button)
        layout.addLayout(status_row)
        layout.addLayout(bottom)

        service.tokens.connect(self._on_tokens)
        service.step1.connect(self._on_step1)
        service.answered.connect(self._on_answered)
        service.status.connect(self._on_status)
        session.kb_changed.connect(self._on_kb_changed)
        notifier.changed.connect(self.retranslate)
        self.retranslate()

    def retranslate(self) -> None:
        self.history_label.setText(tr("Conversation:"))
        self.new_button.setText(tr("New chat"))
        self.new_button.setToolTip(tr("Start a new conversation (Ctrl+N)"))
        self.delete_button.setText(tr("Delete"))
        self.delete_button.setToolTip(tr("Delete this conversation"))
        self.ask_button.setText(tr("Ask"))
        self.ask_button.setToolTip(tr("Ask the question (Ctrl+Enter)"))
        self.stop_button.setText(tr("Stop"))
        self.stop_button.setToolTip(tr("Stop the answer (Esc)"))
        self.copy_button.setText(tr("Copy answer"))
        self.copy_button.setToolTip(tr("Copy the last answer with its citations"))
        self.question.setPlaceholderText(tr("Ask a question about your documents… (Ctrl+Enter to ask)"))
        self.mode_label.setText(tr("Answers:"))
        names = {"auto": tr("Auto"), "generate": tr("Written by the model"), "quote": tr("Quoted from documents")}
        for i in range(self.mode_box.count()):
            self.mode_box.setItemText(i, names[self.mode_box.itemData(i)])
        self.mode_box.setToolTip(tr("How this conversation is answered: Auto quotes your documents when no chat "
                                    "model is chosen and lets a chat model write otherwise"))
        self._fill_conversations()
        self.render()

    # -- knowledge base and conversations ---------------------------------------------
    def _on_kb_changed(self, kb) -> None:
        self.live = None
        self._set_busy(False)
        if kb is None:
            self.store, self.conv = None, None
        else:
            self.store = ConversationStore(kb.root)
            self.conv = self.store.latest() or self.store.new()
        self.samples = sample_questions() if kb is not None and is_sample_kb(kb) else []
        self._fill_conversations()
        self.render()
        self._mode_shown()

    # -- answer mode -------------------------------------------------------------------
    @property
    def answer_mode(self) -> str:
        """The current conversation's answer mode: auto | generate | quote (for the model service)."""
        return self.conv.answer_mode if self.conv is not None else "auto"

    def set_answer_mode(self, mode: str) -> None:
        if mode not in ANSWER_MODES or self.conv is None:
            return
        changed = mode != self.conv.answer_mode
        self.conv.answer_mode = mode
        if changed and self.store is not None and self.conv.turns:
            self.store.save()
        self._mode_shown()
        if changed:
            self.answer_mode_changed.emit(mode)

    def _pick_mode(self, index: int) -> None:
        self.set_answer_mode(self.mode_box.itemData(index))

    def _mode_shown(self) -> None:
        """The mode box shows the conversation's mode (after switching or opening conversations)."""
        previous = self.mode_box.currentData()
        self.mode_box.setCurrentIndex(max(0, self.mode_box.findData(self.answer_mode)))
        self.mode_box.setEnabled(self.conv is not None)
        if previous is not None and previous != self.answer_mode:
            self.answer_mode_changed.emit(self.answer_mode)

    def offer_samples(self, questions: list[str] | None = None) -> None:
        """Offer sample questions in empty conversations (first start: the sample documents are being indexed)."""
        self.samples = list(questions) if questions is not None else sample_questions()
        self.render()

    def ask_sample(self, i: int) -> None:
        if 0 <= i < len(self.samples) and not self.busy:
            self.question.setPlainText(self.samples[i])
            self.ask()

    def _fill_conversations(self) -> None:
        self.conversations.blockSignals(True)
        self.conversations.clear()
        if self.store is not None:
            convs = sorted((c for c in self.store.conversations if c.turns or c is self.conv),
                           key=lambda c: -c.updated)
            for c in convs:
                when = datetime.datetime.fromtimestamp(c.updated).strftime("%Y-%m-%d %H:%M")
                title = c.title or tr("New conversation")
                self.conversations.addItem(f"{title} — {when}" if c.turns else title, c.id)
            if self.conv is not None:
                self.conversations.setCurrentIndex(max(0, self.conversations.findData(self.conv.id)))
        self.conversations.blockSignals(False)
        self.delete_button.setEnabled(bool(self.conv and self.conv.turns))

    def _pick_conversation(self, index: int) -> None:
        if self.store is None or self.busy:
            self._fill_conversations()
            return
        conv = self.store.get(self.conversations.itemData(index))
        if conv is not None:
            self.conv = conv
            self._fill_conversations()
            self.render()
            self._mode_shown()

    def new_chat(self) -> None:
        if self.store is None or self.busy:
            return
        if self.conv is None or self.conv.turns:
            mode = self.answer_mode
            self.conv = self.store.new()
            self.conv.answer_mode = mode  # a new chat keeps the mode last chosen
        self.status.clear()  # what it said was about the last conversation's answer
        self._fill_conversations()
        self.render()
        self._mode_shown()
        self.question.setFocus()

    def delete_chat(self) -> None:
        if self.store is None or self.conv is None or self.busy:
            return
        self.store.delete(self.conv)
        self.conv = self.store.latest() or self.store.new()
        self._fill_conversations()
        self.render()
        self._mode_shown()

    # -- asking ------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.live is not None

    def ask(self) -> None:
        question = self.question.toPlainText().strip()
        if not question or self.busy:
            return
        if self.session.kb is None or self.conv is None:
            self.status.setText(tr("No knowledge base is open."))
            return
        history = self.conv.history()
        self.live = Turn(question)
        self.live_status = tr("Loading the model…") if not self.service.loaded else tr("Thinking…")
        self.tokens_received = 0
        self.token_events = 0
        if not self.service.ask(question, history, self.answer_mode):
            self.live = None
            self.status.setText(tr("Busy: wait for the current answer or press Stop."))
            return
        self.question.clear()
        self._set_busy(True)
        self.render()

    def stop(self) -> None:
        if self.busy:
            self.service.stop()
            self.live_status = tr("Stopping…")
            self.status.setText(tr("Stopping…"))

    def _set_busy(self, busy: bool) -> None:
        self.ask_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.new_button.setEnabled(not busy)
        self.conversations.setEnabled(not busy)
        self.mode_box.setEnabled(not busy and self.conv is not None)

    def _on_status(self, kind: str, message: str) -> None:
        self.status.setText(message)
        if self.live is not None and kind in ("loading", "working"):
            self.live_status = message
            if not self.live.answer:
                self.render()

    def _on_step1(self, ids: list, offered: int) -> None:
        if self.live is None:
            return
        self.live.relevant_doc_ids = list(ids)
        self.live.n_offered = offered
        self.live_status = tr("Writing the answer…") if ids else ""
        if ids:
            self.status.setText(self.live_status)
        self.render()

    def _on_tokens(self, text: str) -> None:
        if self.live is None or not text:
            return
        self.token_events += 1
        self.tokens_received += len(text)
        self.live.answer += text
        cursor = self._live_cursor
        if cursor is None:
            self.render()
            return
        bar = self.transcript.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        cursor.insertText(text)
        if at_bottom:
            bar.setValue(bar.maximum())

    def _on_answered(self, outcome: AskOutcome) -> None:
        live, self.live = self.live, None
        self._live_cursor = None
        self._set_busy(False)
        if live is None:
            return
        if outcome.answer is not None:
            turn = Turn.from_answer(outcome.answer)
            turn.error = outcome.error  # e.g. the model server went away mid-answer: keep what was written
        elif outcome.error:
            turn = Turn(live.question, answer=live.answer, error=outcome.error)
        else:
            turn = Turn(live.question, answer=live.answer, cancelled=True, found=bool(live.answer),
                        relevant_doc_ids=live.relevant_doc_ids, n_offered=live.n_offered)
        if self.store is not None and self.conv is not None:
            self.store.add_turn(self.conv, turn)
        if turn.error:
            self.status.setText(tr("Could not answer: {error}", error=turn.error))
        elif turn.cancelled:
            self.status.setText(tr("Stopped."))
        elif not turn.found:
            self.status.setText(tr("Not found in your documents."))
        else:
            self.status.setText(counter_text(turn.counts()))
        self._fill_conversations()
        self.render()

    # -- display -------------------------------------------------------------------------
    def render(self) -> None:
        turns = self.conv.turns if self.conv is not None else []
        self.transcript.setHtml(conversation_html(turns, colors(), self.live, self.live_status, self.samples))
        self._live_cursor = None
        if self.live is not None:
            cursor = self.transcript.document().find(LIVE_MARK)
            if not cursor.isNull():
                cursor.setPosition(cursor.selectionStart())
                self._live_cursor = cursor
        QTimer.singleShot(0, self.transcript, lambda: self.transcript.verticalScrollBar().setValue(
            self.transcript.verticalScrollBar().maximum()))

    def _anchor(self, url: QUrl) -> None:
        kind, _, rest = url.toString().partition(":")
        parts = rest.split(":")
        if kind == "sample":
            if rest.isdigit():
                self.ask_sample(int(rest))
            return
        turns = self.conv.turns if self.conv is not None else []
        try:
            t = int(parts[0])
        except (ValueError, IndexError):
            return
        if not 0 <= t < len(turns):
            return
        turn = turns[t]
        if kind == "cite" and len(parts) > 1:
            source = turn.source(int(parts[1]))
            if source is not None:
                self.open_source.emit(source)
        elif kind == "unsupported":
            QToolTip.showText(self.transcript.cursor().pos(),
                              tr("This sentence is not supported by the selected documents."))
            self.status.setText(tr("This sentence is not supported by the selected documents."))
        elif kind == "copy":
            self.copy_turn(turn)

    def copy_last(self) -> bool:
        turns = [t for t in (self.conv.turns if self.conv else []) if not t.error]
        return self.copy_turn(turns[-1]) if turns else False

    def copy_turn(self, turn: Turn) -> bool:
        # The clipboard keeps its QMimeData until Qt's exit handlers, after Python has
        # finalized: one created from Python would call back into it and crash the exit.
        # setText makes a C++ QMimeData; the HTML flavour is added to that one.
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(answer_plain(turn))
        clipboard.mimeData().setHtml(answer_clipboard_html(turn, colors()))
        self.status.setText(tr("Answer copied with its citations."))
        return True

    def last_turn(self) -> Turn | None:
        return self.conv.turns[-1] if self.conv and self.conv.turns else None
