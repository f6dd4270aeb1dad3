"""Search-only mode: passages ranked by the knowledge base, query terms highlighted.

No model is needed: Docent is also a local search tool. A click on a result
opens it in the sources viewer at the passage.
"""
from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QTextBrowser, QVBoxLayout, QWidget,
)

from gui.i18n import notifier, tr, trn
from gui.session import JobRefused, KbSession
from gui.textmap import merge_spans, query_terms, term_spans
from gui.theme import colors
from index import name_keys
from index.types import SourceRef

MODES = ("hybrid", "lexical", "dense")


def snippet(text: str, terms: list[str], limit: int = 360,
            names: list[tuple[str, str]] = ()) -> tuple[str, list[tuple[int, int]]]:
    """Whitespace-collapsed passage around the first matching term, and the term ranges in it;
    `names` (index/name_keys.py) marks the question's names written in the passage's other script
    too, so a Russian result of an English question shows what matched."""
    flat = " ".join(text.split())
    spans = merge_spans(term_spans(flat, terms) + name_keys.spans(list(names), flat))
    start = 0
    if len(flat) > limit and spans:
        start = max(0, spans[0][0] - limit // 4)
        while start > 0 and not flat[start - 1].isspace() and spans[0][0] - start < limit // 3:
            start -= 1
    piece = flat[start:start + limit]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + limit < len(flat) else ""
    shifted = [(a - start, min(b, start + limit) - start) for a, b in spans if a >= start and a < start + limit]
    return prefix + piece + suffix, [(a + len(prefix), b + len(prefix)) for a, b in shifted]


def marked_html(text: str, spans: list[tuple[int, int]], bg: str) -> str:
    out, pos = [], 0
    for a, b in spans:
        out.append(html.escape(text[pos:a]))
        out.append(f'<span style="background-color:{bg}; font-weight:600;">{html.escape(text[a:b])}</span>')
        pos = b
    out.append(html.escape(text[pos:]))
    return "".join(out)


class SearchPanel(QWidget):
    open_source = Signal(object)  # index.types.SourceRef of a clicked result

    def __init__(self, session: KbSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.hits: list = []
        self.terms: list[str] = []
        self.names: list[tuple[str, str]] = []
        self.searching = False

        self.query = QLineEdit()
        self.query.setClearButtonEnabled(True)
        self.query.returnPressed.connect(self.run_search)
        self.mode = QComboBox()
        self.search_button = QPushButton()
        self.search_button.clicked.connect(self.run_search)
        self.results = QTextBrowser()
        self.results.setOpenLinks(False)
        self.results.setOpenExternalLinks(False)
        self.results.anchorClicked.connect(self._anchor)
        self.info = QLabel()
        self.info.setTextFormat(Qt.PlainText)

        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.mode)
        top.addWidget(self.search_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.info)
        layout.addWidget(self.results, 1)
        self.retranslate()
        notifier.changed.connect(self.retranslate)
        session.kb_changed.connect(lambda _kb: self.clear())

    def retranslate(self) -> None:
        self.query.setPlaceholderText(tr("Search your documents (Russian, English, Japanese…)"))
        self.search_button.setText(tr("Search"))
        current = self.mode.currentIndex()
        self.mode.clear()
        self.mode.addItems([tr("Words + meaning"), tr("Words only"), tr("Meaning only")])
        self.mode.setCurrentIndex(max(current, 0))
        self.mode.setToolTip(tr("Hybrid ranking (recommended), keyword (BM25) only, or embeddings only"))
        if self.hits:
            self._render()
        elif not self.searching and not self.query.text():
            self.results.setHtml(f"<p>{html.escape(tr('Type words to find passages. No model is needed for search.'))}</p>")

    def clear(self) -> None:
        self.hits = []
        self.results.clear()
        self.info.clear()
        self.retranslate()

    def run_search(self) -> None:
        text = self.query.text().strip()
        if not text:
            return
        mode = MODES[max(self.mode.currentIndex(), 0)]
        self.searching = True
        self.search_button.setEnabled(False)
        self.info.setText(tr("Searching…"))

        def job(kb):
            hits = kb.search(text, 20, mode)
            return hits, "; ".join(hits.warnings)

        def found(result) -> None:
            self.searching = False
            self.search_button.setEnabled(True)
            self.hits, warning = result
            self.terms = query_terms(text)
            self.names = name_keys.question_names(text)
            self.info.setText((trn("{n} passage", "{n} passages", len(self.hits)) if self.hits
                               else tr("No matching passages"))
                              + (" · " + tr("Shared knowledge base unreachable: keyword matches only") if warning else ""))
            self.info.setToolTip(warning or "")
            self._render()

        def failed(exc: Exception) -> None:
            self.searching = False
            self.search_button.setEnabled(True)
            if isinstance(exc, JobRefused):
                self.info.setText(str(exc))
                return
            self.hits = []
            self.info.setText(tr("Search failed: {error}", error=exc))
            self.results.clear()

        self.session.run(job, found, failed, key=self)  # key: a new search makes a running one stale

    def _render(self) -> None:
        c = colors()
        rows = []
        for i, hit in enumerate(self.hits):
            p = hit.passage
            where = os.path.basename(p.path) + (tr(", p. {page}", page=p.page) if p.page else "")
            text, spans = snippet(p.text, self.terms, names=self.names)
            rows.append(
                f'<p style="margin-bottom:10px;"><a href="hit:{i}" style="color:{c.cite};"><b>{i + 1}. '
                f'{html.escape(where)}</b></a> <span style="color:{c.muted};"><small>{html.escape(p.title or "")}'
                f"</small></span><br>{marked_html(text, spans, c.term_bg)}</p>"
            )
        self.results.setHtml("".join(rows))

    def _anchor(self, url: QUrl) -> None:
        target = url.toString()
        if target.startswith("hit:"):
            self.open_result(int(target[4:]))

    def open_result(self, i: int) -> None:
        """Show result i in the viewer."""
        if 0 <= i < len(self.hits):
            self.open_source.emit(SourceRef.of_passage(self.hits[i].passage))
