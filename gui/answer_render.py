"""Turns -> the chat's rich text, and answers -> clipboard text with citations.

Everything a document or a model produced is escaped: the chat shows
markup Docent generates itself and nothing else. Each supported sentence
gets a citation marker [n] (a link `cite:<turn>:<i>`), unsupported
sentences are shaded and marked [?], and "not found in your documents"
is shown as such, not as an answer.
"""
from __future__ import annotations

import html
import os

from gui.conversations import Turn
from gui.i18n import tr
from gui.theme import Colors

LIVE_MARK = "\u2063"  # invisible separator: where streamed text is inserted


def esc(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>")


def citation_numbers(turn: Turn) -> list[int]:
    """1-based marker number of each citation; the same source span keeps its number."""
    numbers: list[int] = []
    seen: dict[tuple, int] = {}
    for c in turn.citations:
        key = (c.doc_id, c.span_start, c.span_end)
        if key not in seen:
            seen[key] = len(seen) + 1
        numbers.append(seen[key])
    return numbers


def doc_label(doc) -> str:
    # No page number: a document may span pages and its `page` is where it starts, not where the cited
    # sentence is; the viewer finds and shows the right page.
    return os.path.basename(doc.path) or doc.title


def short_quote(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def segments(turn: Turn) -> list[tuple[int, int, str, int]]:
    """(start, end, kind, citation index) covering the answer: kind is plain | cited | unsupported."""
    marks: list[tuple[int, int, str, int]] = []
    for i, c in enumerate(turn.citations):
        marks.append((c.answer_start, c.answer_end, "cited", i))
    for a, b in turn.unsupported:
        marks.append((a, b, "unsupported", -1))
    marks.sort()
    out: list[tuple[int, int, str, int]] = []
    pos = 0
    n = len(turn.answer)
    for a, b, kind, i in marks:
        a, b = max(a, pos), min(b, n)
        if a >= b:
            continue
        if a > pos:
            out.append((pos, a, "plain", -1))
        out.append((a, b, kind, i))
        pos = b
    if pos < n:
        out.append((pos, n, "plain", -1))
    return out


def usage_line(turn: Turn) -> str:
    if turn.n_offered:
        return tr("Using {n} of {m} documents", n=len(turn.relevant_doc_ids), m=turn.n_offered)
    return ""


def answer_html(turn: Turn, index: int, c: Colors) -> str:
    numbers = citation_numbers(turn)
    parts: list[str] = []
    text = turn.answer
    for a, b, kind, i in segments(turn):
        chunk = esc(text[a:b])
        if kind == "cited":
            parts.append(
                f'{chunk}<a href="cite:{index}:{i}" style="color:{c.cite}; text-decoration:none;">'
                f"<sup>[{numbers[i]}]</sup></a>"
            )
        elif kind == "unsupported":
            parts.append(
                f'<span style="background-color:{c.unsupported_bg}; color:{c.unsupported_fg};">{chunk}</span>'
                f'<a href="unsupported:{index}" style="color:{c.unsupported_fg}; text-decoration:none;">'
                f"<sup>[?]</sup></a>"
            )
        else:
            parts.append(chunk)
    return "".join(parts)


def turn_html(turn: Turn, index: int, c: Colors, live: bool = False, status: str = "") -> str:
    q = (
        f'<table width="100%" cellpadding="6" style="background-color:{c.question_bg}; margin-top:10px;">'
        f'<tr><td><b>{esc(tr("You"))}:</b> {esc(turn.question)}</td></tr></table>'
    )
    meta_bits = []
    usage = usage_line(turn)
    if usage:
        meta_bits.append(usage)
    if status:
        meta_bits.append(status)
    if not live and turn.seconds:
        meta_bits.append(tr("{s:.1f} s", s=turn.seconds))
    links = "" if live or turn.error else (
        f' · <a href="copy:{index}" style="color:{c.cite}; text-decoration:none;">{esc(tr("Copy"))}</a>'
    )
    meta = (
        f'<p style="color:{c.muted}; margin-top:4px; margin-bottom:2px;"><small>{esc(" · ".join(meta_bits))}'
        f"{links if meta_bits else links[3:]}</small></p>"
        if meta_bits or links else ""
    )
    if live:
        body = f'<p style="margin-top:4px;">{esc(turn.answer)}{LIVE_MARK}</p>'
        return q + f'<a name="live-meta"></a>{meta}' + body
    if turn.error:
        body = f'<p style="color:{c.failed};">{esc(tr("Could not answer: {error}", error=turn.error))}</p>'
        return q + meta + body
    if not turn.found and not turn.cancelled:
        body = (
            f'<p style="color:{c.not_found}; margin-top:4px;"><b>{esc(tr("Not found in your documents."))}</b> '
            f"<i>{esc(turn.answer)}</i></p>"
        )
        return q + meta + body
    body = f'<p style="margin-top:4px;">{answer_html(turn, index, c)}'
    if turn.cancelled:
        body += f' <span style="color:{c.muted};"><i>— {esc(tr("stopped"))}</i></span>'
    body += "</p>"
    body += sources_html(turn, index, c)
    if turn.unsupported:
        body += (
            f'<p style="color:{c.muted};"><small><span style="background-color:{c.unsupported_bg}; '
            f'color:{c.unsupported_fg};">[?]</span> {esc(tr("Not supported by the documents: check before relying on it."))}'
            f"</small></p>"
        )
    if turn.warnings:  # e.g. the vector store or the shared server down, the answer stopped by the guard
        body += f'<p style="color:{c.muted};"><small>⚠ {esc("; ".join(turn.warnings))}</small></p>'
    return q + meta + body


def sources_html(turn: Turn, index: int, c: Colors) -> str:
    if not turn.citations:
        return ""
    numbers = citation_numbers(turn)
    rows = []
    shown: set[int] = set()
    for i, cit in enumerate(turn.citations):
        n = numbers[i]
        if n in shown or cit.doc_id >= len(turn.documents):
            continue
        shown.add(n)
        doc = turn.documents[cit.doc_id]
        rows.append(
            f'<a href="cite:{index}:{i}" style="color:{c.cite}; text-decoration:none;">[{n}] {esc(doc_label(doc))}</a>'
            f' <span style="color:{c.muted};">“{esc(short_quote(cit.quote))}”</span>'
        )
    return '<p style="margin-left:12px;"><small>' + "<br>".join(rows) + "</small></p>"


def conversation_html(turns: list[Turn], c: Colors, live: Turn | None = None, live_status: str = "") -> str:
    parts = [turn_html(t, i, c) for i, t in enumerate(turns)]
    if live is not None:
        parts.append(turn_html(live, len(turns), c, live=True, status=live_status))
    if not parts:
        parts.append(
            f'<p style="color:{c.muted};">{esc(tr("Ask a question about your documents. Every sentence of the answer links to the passage that supports it."))}</p>'
        )
    return "<html><body>" + "".join(parts) + "</body></html>"


# -- clipboard -----------------------------------------------------------------
def answer_plain(turn: Turn) -> str:
    numbers = citation_numbers(turn)
    out: list[str] = []
    for a, b, kind, i in segments(turn):
        out.append(turn.answer[a:b])
        if kind == "cited":
            out.append(f" [{numbers[i]}]")
        elif kind == "unsupported":
            out.append(" [?]")
    text = "".join(out)
    if not turn.found:
        text = tr("Not found in your documents.") + " " + text
    lines = [tr("Question: {q}", q=turn.question), "", text]
    seen: set[int] = set()
    refs = []
    for i, cit in enumerate(turn.citations):
        n = numbers[i]
        if n in seen or cit.doc_id >= len(turn.documents):
            continue
        seen.add(n)
        doc = turn.documents[cit.doc_id]
        refs.append(f"[{n}] {doc.path}: “{' '.join(cit.quote.split())}”")
    if refs:
        lines += ["", tr("Sources:")] + refs
    if turn.unsupported:
        lines += ["", "[?] " + tr("Not supported by the documents: check before relying on it.")]
    return "\n".join(lines)


def answer_clipboard_html(turn: Turn, c: Colors) -> str:
    """Rich text for pasting into a document: the answer with markers, then the sources."""
    body = esc(answer_plain(turn)).replace("[?]", f'<span style="background-color:{c.unsupported_bg};">[?]</span>')
    return f"<div>{body}</div>"
