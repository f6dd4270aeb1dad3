"""The sources viewer: a document opened at the cited span, highlighted and scrolled into view.

Text, Markdown, HTML, DOCX... are shown as the *extracted text* the offsets
index into (read-only plain text: a document's markup is never rendered, so
no remote resources and no scripts). PDFs are shown on the rendered page
(QtPdf) with the cited region drawn over it; the extracted text is one click
away. "Open in system viewer" hands the file to the desktop.
"""
from __future__ import annotations

import logging
import os

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSizePolicy, QStackedWidget, QTextEdit, QVBoxLayout, QWidget,
)

from gui.i18n import notifier, tr
from gui.session import JobRefused, KbSession
from gui.textmap import QtOffsets, locate
from gui.theme import colors
from index.types import SourceRef

log = logging.getLogger("docent.gui")


class SourceViewer(QWidget):
    def __init__(self, session: KbSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.source: SourceRef | None = None   # what is shown (or loading)
        self.path = ""
        self.text = ""
        self.highlighted: tuple[int, int] | None = None
        self.pdf_page = -1
        self.mode = "empty"
        self.open_external = lambda url: QDesktopServices.openUrl(url)  # tests replace it

        self.title = QLabel()
        self.title.setTextFormat(Qt.PlainText)
        self.title.setStyleSheet("font-weight: 600;")
        self.title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.where = QLabel()
        self.where.setTextFormat(Qt.PlainText)
        self.where.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.where.setWordWrap(True)
        self.toggle_button = QPushButton()
        self.toggle_button.clicked.connect(self.toggle_mode)
        self.toggle_button.hide()
        self.open_button = QPushButton()
        self.open_button.clicked.connect(self.open_in_system_viewer)
        self.open_button.setEnabled(False)

        self.text_view = QPlainTextEdit()
        self.text_view.setReadOnly(True)
        self.text_view.setUndoRedoEnabled(False)
        self.text_view.setLineWrapMode(QPlainTextEdit.WidgetWidth)
        self.pdf_view = None
        self.placeholder = QLabel()
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.text_view)

        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.toggle_button)
        head.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(head)
        layout.addWidget(self.where)
        layout.addWidget(self.stack, 1)
        self.retranslate()
        notifier.changed.connect(self.retranslate)

    def retranslate(self) -> None:
        self.open_button.setText(tr("Open in system viewer"))
        self.open_button.setToolTip(tr("Open the file with the application your system uses for it"))
        self.toggle_button.setText(tr("Show text") if self.mode == "pdf" else tr("Show page"))
        if self.mode == "empty":
            self.title.setText(tr("Sources"))
            self.placeholder.setText(tr("Click a citation [1] or a search result to see the passage in its source."))

    # -- showing -----------------------------------------------------------------
    def show(self, source: SourceRef) -> None:
        """Open source.path at [char_start, char_end) of its extracted text, highlighted and scrolled to."""
        self.source = source
        path = source.path
        self.title.setText(source.title or os.path.basename(path))
        self.where.setText(tr("Loading…"))
        self.open_button.setEnabled(True)
        self.path = path
        self.mode = "loading"

        def failed(exc: Exception) -> None:
            self._show_message(path, str(exc) if isinstance(exc, JobRefused)
                               else tr("Cannot read the source: {error}", error=exc))

        # key: a source clicked while another is loading replaces it
        self.session.run(lambda kb: kb.text_of(path), lambda text: self._display(source, text), failed, key=self)

    def _show_message(self, path: str, message: str) -> None:
        self.mode = "message"
        self.where.setText(path)
        self.placeholder.setText(message)
        self.stack.setCurrentWidget(self.placeholder)
        self.toggle_button.hide()

    def _display(self, source: SourceRef, text: str | None) -> None:
        path, quote, page = source.path, source.quote, source.page
        start, end = source.char_start, source.char_end
        is_pdf = path.lower().endswith(".pdf")
        if text is None:
            if is_pdf and os.path.exists(path):
                text = ""
            else:
                self._show_message(path, tr("This file is no longer in the knowledge base (moved or deleted?)."))
                return
        note = ""
        if text and quote and text[start:end] != quote:
            found = locate(text, quote, start)
            if found:
                start, end = found
            else:
                note = tr("The file changed after this answer: the cited passage is not in it any more.")
                start = end = min(start, len(text))
        start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
        self.text = text
        self.highlighted = (start, end) if end > start else None
        self._fill_text(text, start, end, source.highlights)
        self.mode = "text"
        self.pdf_page = -1
        if is_pdf and self._show_pdf(path, quote or text[start:end], page):
            self.mode = "pdf"
            self.stack.setCurrentWidget(self.pdf_view)
            if self.pdf_page >= 0:
                page = self.pdf_page + 1
        else:
            self.stack.setCurrentWidget(self.text_view)
            self._scroll_text(start, end)
        where = [path]
        if page:
            where.append(tr("page {page}", page=page))
        if end > start:
            where.append(tr("characters {a}–{b}", a=start, b=end))
        self.where.setText(" · ".join(where) + (f"\n{note}" if note else ""))
        self.toggle_button.setVisible(self.pdf_view is not None and self.pdf_view.path == path)
        self.retranslate()

    def _fill_text(self, text: str, start: int, end: int, more: tuple[tuple[int, int], ...] = ()) -> None:
        """Show text with [start, end) highlighted (the first selection) and `more` ranges marked lighter."""
        view = self.text_view
        if view.property("docent_text") != text:
            view.setPlainText(text)
            view.setProperty("docent_text", text)
            self._offsets = QtOffsets(text)
        c = colors()
        selections = []
        if end > start:
            selections.append(self._selection(start, end, c.highlight_bg, c.highlight_fg))
        for a, b in more:
            a, b = max(0, min(a, len(text))), max(0, min(b, len(text)))
            if b > a:
                selections.append(self._selection(a, b, c.term_bg, None))
        view.setExtraSelections(selections)

    def _selection(self, start: int, end: int, bg: str, fg: str | None) -> QTextEdit.ExtraSelection:
        sel = QTextEdit.ExtraSelection()
        cursor = QTextCursor(self.text_view.document())
        cursor.setPosition(self._offsets.to_qt(start))
        cursor.setPosition(self._offsets.to_qt(end), QTextCursor.KeepAnchor)
        fmt = QTextCharFormat()
        fmt.setBackground(QColor(bg))
        if fg is not None:
            fmt.setForeground(QColor(fg))
        sel.cursor = cursor
        sel.format = fmt
        return sel

    def _scroll_text(self, start: int, end: int) -> None:
        view = self.text_view
        cursor = QTextCursor(view.document())
        cursor.setPosition(self._offsets.to_qt(end))
        view.setTextCursor(cursor)
        view.ensureCursorVisible()
        cursor.setPosition(self._offsets.to_qt(start))
        view.setTextCursor(cursor)
        view.centerCursor()

    def highlighted_text(self) -> str:
        """What the text view highlights (tests and screenshots check it)."""
        sels = self.text_view.extraSelections()
        return sels[0].cursor.selectedText().replace("\u2029", "\n") if sels else ""

    def _show_pdf(self, path: str, quote: str, page: int | None) -> bool:
        try:
            if self.pdf_view is None:
                from gui.pdf_view import PdfSourceView

                self.pdf_view = PdfSourceView(self)
                self.stack.addWidget(self.pdf_view)
            if not self.pdf_view.load(path):
                return False
        except Exception as exc:  # QtPdf missing from a trimmed install: the text view still works
            log.warning("PDF view unavailable: %s", exc)
            return False
        self.stack.setCurrentWidget(self.pdf_view)
        self.pdf_view.fit_width()
        self.pdf_page = self.pdf_view.highlight_quote(quote, page)
        QTimer.singleShot(0, self.pdf_view, self.pdf_view.rescroll)  # once the view has its final size
        return True

    def toggle_mode(self) -> None:
        if self.pdf_view is None:
            return
        if self.mode == "pdf":
            self.mode = "text"
            self.stack.setCurrentWidget(self.text_view)
            if self.highlighted:
                self._scroll_text(*self.highlighted)
        elif self.pdf_view.path == self.path:
            self.mode = "pdf"
            self.stack.setCurrentWidget(self.pdf_view)
        self.retranslate()

    def open_in_system_viewer(self) -> None:
        if self.path and os.path.exists(self.path):
            self.open_external(QUrl.fromLocalFile(self.path))

    def clear(self) -> None:
        self.session.forget(self)
        self.source = None
        self.path = ""
        self.text = ""
        self.highlighted = None
        self.mode = "empty"
        self.where.clear()
        self.text_view.clear()
        self.text_view.setProperty("docent_text", None)
        if self.pdf_view is not None:
            self.pdf_view.close_document()
        self.stack.setCurrentWidget(self.placeholder)
        self.toggle_button.hide()
        self.open_button.setEnabled(False)
        self.retranslate()
