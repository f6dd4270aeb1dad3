"""A PDF page view (QtPdf) that highlights the cited region and scrolls to it.

QtPdf is imported only when a PDF is first shown. The quote is found on the
page through QtPdf's own text of that page (whitespace- and hyphen-insensitive,
nearest to where Docent's offsets say it is), then
`QPdfDocument.getSelectionAtIndex` gives its polygons in page points, drawn
over the rendered page. QPdfView does not expose where it places pages, so
`page_rect` repeats its documented layout (documentMargins, pageSpacing,
Custom zoom, pages centred): the view is always kept in Custom zoom, with
the factor chosen here to fit the width.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import QPointF, QRect, QRectF, QSizeF
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QPainter, QPen, QPolygonF
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView

from gui.textmap import locate_partial, utf16_len

log = logging.getLogger("docent.gui")


def page_text(doc: QPdfDocument, page: int) -> str:
    return doc.getAllText(page).text()


def find_quote(doc: QPdfDocument, quote: str, page_hint: int | None):
    """(page index, utf16 start, utf16 length) of the quote, searching the hinted page first."""
    count = doc.pageCount()
    if count <= 0 or not quote.strip():
        return None
    first = min(max((page_hint or 1) - 1, 0), count - 1)
    order = [first] + [p for d in range(1, count) for p in (first + d, first - d) if 0 <= p < count]
    for page in order:
        text = page_text(doc, page)
        found = locate_partial(text, quote)
        if found:
            a, b = found
            start = utf16_len(text[:a])
            return page, start, utf16_len(text[a:b])
    return None


class PdfSourceView(QPdfView):
    def __init__(self, document_owner, parent=None):
        super().__init__(parent)
        # Not a child of the view: QPdfView's destructor would delete it midway, and the document's
        # last statusChanged would reach the half-destroyed view (a crash in Qt 6.12).
        self.document_ = QPdfDocument(document_owner)
        self.setDocument(self.document_)
        self.setPageMode(QPdfView.PageMode.MultiPage)
        self.setZoomMode(QPdfView.ZoomMode.Custom)
        self.highlight_page = -1
        self.highlight_polygons: list[QPolygonF] = []
        self.highlight_color = QColor(255, 214, 0, 110)
        self._region = None
        self.path = ""

    # -- document ---------------------------------------------------------------
    def load(self, path: str) -> bool:
        if path == self.path and self.document_.status() == QPdfDocument.Status.Ready:
            return True
        self.clear_highlight()
        self.document_.close()
        self.path = path
        error = self.document_.load(path)
        if error != QPdfDocument.Error.None_:
            log.warning("QtPdf cannot open %s: %s", path, error)
            self.path = ""
            return False
        self.fit_width()
        return True

    def close_document(self) -> None:
        self.clear_highlight()
        self.document_.close()
        self.path = ""

    def resolution(self) -> float:
        screen = QGuiApplication.primaryScreen()
        return (screen.logicalDotsPerInch() if screen else 96.0) / 72.0

    def fit_width(self) -> None:
        doc = self.document_
        if doc.status() != QPdfDocument.Status.Ready or doc.pageCount() == 0:
            return
        widest = max(doc.pagePointSize(p).width() for p in range(min(doc.pageCount(), 50))) or 1.0
        m = self.documentMargins()
        avail = max(self.viewport().width() - m.left() - m.right(), 100)
        self.setZoomFactor(max(0.2, min(4.0, avail / (widest * self.resolution()))))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self.fit_width()

    # -- layout (QPdfViewPrivate::calculateDocumentLayout, MultiPage + Custom zoom) --------
    def page_rect(self, page: int) -> QRect:
        """Where `page` is drawn, in document coordinates (before scrolling)."""
        doc = self.document_
        if doc.status() != QPdfDocument.Status.Ready or not 0 <= page < doc.pageCount():
            return QRect()
        scale = self.resolution() * self.zoomFactor()
        sizes = [QSizeF(doc.pagePointSize(p) * scale).toSize() for p in range(doc.pageCount())]
        m = self.documentMargins()
        total_width = max(s.width() for s in sizes) + m.left() + m.right()
        y = m.top()
        for p in range(page):
            y += sizes[p].height() + self.pageSpacing()
        size = sizes[page]
        x = (max(total_width, self.viewport().width()) - size.width()) // 2
        return QRect(x, y, size.width(), size.height())

    # -- highlight ----------------------------------------------------------------
    def clear_highlight(self) -> None:
        self.highlight_page = -1
        self.highlight_polygons = []
        self._region = None
        self.viewport().update()

    def highlight_quote(self, quote: str, page_hint: int | None) -> int:
        """Highlight the quote; returns the 0-based page shown (-1: not found, first hinted page shown)."""
        found = find_quote(self.document_, quote, page_hint)
        if not found:
            self.clear_highlight()
            page = min(max((page_hint or 1) - 1, 0), max(self.document_.pageCount() - 1, 0))
            self.scroll_to(page, None)
            return -1
        page, start, length = found
        selection = self.document_.getSelectionAtIndex(page, start, length)
        self.highlight_page = page
        self.highlight_polygons = [QPolygonF(p) for p in selection.bounds()]
        self._region = selection.boundingRectangle() if self.highlight_polygons else None
        self.scroll_to(page, self._region)
        self.viewport().update()
        return page

    def rescroll(self) -> None:
        """After a resize or the first layout: fit the width again and bring the highlight back into view."""
        self.fit_width()
        if self.highlight_page >= 0:
            self.scroll_to(self.highlight_page, self._region)

    def highlight_rect(self) -> QRectF:
        """The highlighted region in viewport coordinates (empty when none)."""
        if self.highlight_page < 0 or not self.highlight_polygons:
            return QRectF()
        rect = QRectF()
        for poly in self._viewport_polygons():
            rect = rect.united(poly.boundingRect())
        return rect

    def _viewport_polygons(self) -> list[QPolygonF]:
        page = self.page_rect(self.highlight_page)
        scale = self.resolution() * self.zoomFactor()
        dx = page.x() - self.horizontalScrollBar().value()
        dy = page.y() - self.verticalScrollBar().value()
        out = []
        for poly in self.highlight_polygons:
            out.append(QPolygonF([QPointF(pt.x() * scale + dx, pt.y() * scale + dy) for pt in poly]))
        return out

    def scroll_to(self, page: int, region: QRectF | None) -> None:
        rect = self.page_rect(page)
        if rect.isNull():
            return
        scale = self.resolution() * self.zoomFactor()
        target = rect.y() - self.documentMargins().top()
        if region is not None and not region.isEmpty():
            target = int(rect.y() + region.top() * scale - self.viewport().height() / 3)
        self.verticalScrollBar().setValue(max(0, target))

    def current_page(self) -> int:
        """The page at the top third of the viewport."""
        doc = self.document_
        y = self.verticalScrollBar().value() + self.viewport().height() // 3
        for p in range(doc.pageCount()):
            r = self.page_rect(p)
            if r.top() <= y <= r.bottom() + self.pageSpacing():
                return p
        return 0

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().paintEvent(event)
        if self.highlight_page < 0 or not self.highlight_polygons:
            return
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(QPen(QColor(230, 160, 0, 200), 1))
        painter.setBrush(QBrush(self.highlight_color))
        painter.setCompositionMode(QPainter.CompositionMode_Multiply)
        for poly in self._viewport_polygons():
            painter.drawPolygon(poly)
        painter.end()
