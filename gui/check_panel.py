"""Check text: paste any text, and every sentence is checked against the knowledge base.

A thin widget over assistant.verify.Verifier (the `verify` command's
engine): the check runs in the background through KbSession.run, the text
comes back shaded by verdict as in the chat (gui/answer_render), with the
counter; a click on a sentence opens its source at the cited span. Ctrl+Enter
(the window's Ask shortcut) checks while this tab is shown.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSizePolicy, QSplitter, QTextBrowser, QVBoxLayout, QWidget,
)

from gui.answer_render import counter_text, counts_of, esc, verify_html, verify_marks
from gui.i18n import notifier, tr
from gui.session import KbSession
from gui.theme import colors
from index.types import SourceRef


HINT = ("Every sentence is looked up in the knowledge base: supported, partly supported, contradicted (with what "
        "the source says) or unsupported. Click a sentence to open its source.")


class CheckPanel(QWidget):
    open_source = Signal(object)   # index.types.SourceRef of a clicked sentence
    checked = Signal(object)       # the VerifyResult shown

    def __init__(self, session: KbSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.result = None            # assistant.verify.VerifyResult on display
        self.checking = False
        self._verifier = None         # kept per knowledge base: its caches stay warm between checks

        self.input = QPlainTextEdit()
        self.check_button = QPushButton()
        self.check_button.setDefault(True)
        self.check_button.clicked.connect(self.run_check)
        self.clear_button = QPushButton()
        self.clear_button.clicked.connect(self.clear)
        self.results = QTextBrowser()
        self.results.setOpenLinks(False)
        self.results.setOpenExternalLinks(False)
        self.results.anchorClicked.connect(self._anchor)
        self.counter = QLabel()
        self.counter.setTextFormat(Qt.PlainText)
        self.counter.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

        buttons = QHBoxLayout()
        buttons.addWidget(self.counter, 1)
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.check_button)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.input, 1)
        top_layout.addLayout(buttons)
        split = QSplitter(Qt.Vertical)
        split.addWidget(top)
        split.addWidget(self.results)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        split.setSizes([180, 420])   # the checked text needs more room than the pasted one
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

        session.kb_changed.connect(self._on_kb_changed)
        notifier.changed.connect(self.retranslate)
        self.retranslate()

    def retranslate(self) -> None:
        self.input.setPlaceholderText(tr("Paste a text to check against your documents: a draft, an email, "
                                         "another tool's answer… (Ctrl+Enter to check)"))
        self.check_button.setText(tr("Check"))
        self.check_button.setToolTip(tr("Check every sentence against the knowledge base (Ctrl+Enter)"))
        self.clear_button.setText(tr("Clear"))
        self.render()

    def _on_kb_changed(self, _kb) -> None:
        self._verifier = None
        self.result = None
        self.checking = False
        self.check_button.setEnabled(True)
        self.render()

    def clear(self) -> None:
        self.input.clear()
        self.result = None
        self.render()

    def run_check(self) -> None:
        text = self.input.toPlainText()
        if not text.strip() or self.checking:
            return
        self.checking = True
        self.check_button.setEnabled(False)
        self.counter.setText(tr("Checking…"))

        def job(kb):
            from assistant.verify import Verifier

            if self._verifier is None or self._verifier.kb is not kb:
                self._verifier = Verifier(kb)
            return self._verifier.verify(text)

        def done(result) -> None:
            self.checking = False
            self.check_button.setEnabled(True)
            self.result = result
            self.render()
            self.checked.emit(result)

        def failed(exc: Exception) -> None:
            self.checking = False
            self.check_button.setEnabled(True)
            self.counter.setText(tr("Cannot check: {error}", error=exc))

        self.session.run(job, done, failed, key="check-text")

    def render(self) -> None:
        c = colors()
        if self.result is None:
            self.results.setHtml(f'<p style="color:{c.muted};">{esc(tr(HINT))}</p>')
            if not self.checking:
                self.counter.setText("")
            return
        self.results.setHtml(verify_html(self.result, c))
        self.counter.setText(counter_text(counts_of(verify_marks(self.result))))

    def source(self, i: int) -> SourceRef | None:
        """Sentence i's source as the place the viewer opens (None when unsupported)."""
        if self.result is None or not 0 <= i < len(self.result.sentences):
            return None
        s = self.result.sentences[i]
        if s.document is None:
            return None
        return SourceRef(s.document.path, s.document.title, s.document.page, s.span_start, s.span_end, s.quote)

    def _anchor(self, url: QUrl) -> None:
        kind, _, rest = url.toString().partition(":")
        if kind != "check" or not rest.isdigit():
            return
        ref = self.source(int(rest))
        if ref is not None:
            self.open_source.emit(ref)
        else:
            self.counter.setText(tr("This sentence is not supported by the selected documents."))
