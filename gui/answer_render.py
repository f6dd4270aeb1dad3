"""Turns -> the chat's rich text, and answers -> clipboard text with citations and verdicts.

Everything a document or a model produced is escaped: the chat shows
markup Docent generates itself and nothing else. Every sentence shows its
verdict (assistant/verdicts.py): supported sentences get a citation marker
[n] (a link `cite:<turn>:<i>`); partial ones the marker and their missing
words marked; contradicted ones are shaded red, the wrong words struck
through and what the source says next to them ("the source says 1891");
unsupported ones are shaded grey and marked [?]. "Not found in your
documents" is shown as such, not as an answer. The same marking serves
the Check-text view (`Mark` is what both hand in).
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass

from gui.conversations import Turn
from gui.i18n import tr
from gui.theme import Colors

LIVE_MARK = "\u2063"  # invisible separator: where streamed text is inserted

SUPPORTED, PARTIAL, CONTRADICTED, UNSUPPORTED = "supported", "partial", "contradicted", "unsupported"
VERDICT_ORDER = (SUPPORTED, PARTIAL, CONTRADICTED, UNSUPPORTED)


def esc(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>")


@dataclass(frozen=True)
class Mark:
    """One checked sentence of a text: its verdict and what to show with it."""

    start: int
    end: int
    verdict: str
    number: int = 0                           # citation marker [n]; 0: none ([?] when unsupported)
    href: str = ""                            # where the marker (or the sentence) links to
    missing: tuple[tuple[int, int], ...] = ()  # text offsets of words the source does not hold
    conflict: dict | None = None              # {"claim", "source", "claim_start", "claim_end", ...}


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


def turn_marks(turn: Turn, index: int) -> list[Mark]:
    """The answer's sentences as marks, in citation order then unsupported ones."""
    numbers = citation_numbers(turn)
    marks = [
        Mark(c.answer_start, c.answer_end, c.verdict if c.verdict in VERDICT_ORDER else SUPPORTED, numbers[i],
             f"cite:{index}:{i}", tuple(tuple(m) for m in c.missing), c.conflict)
        for i, c in enumerate(turn.citations)
    ]
    marks += [Mark(a, b, UNSUPPORTED, 0, f"unsupported:{index}") for a, b in turn.unsupported]
    return marks


def mark_segments(text: str, marks: list[Mark]) -> list[tuple[int, int, int]]:
    """(start, end, mark index or -1) covering text: marks in text order, overlaps clipped."""
    order = sorted(range(len(marks)), key=lambda k: (marks[k].start, marks[k].end))
    out: list[tuple[int, int, int]] = []
    pos, n = 0, len(text)
    for k in order:
        a, b = max(marks[k].start, pos), min(marks[k].end, n)
        if a >= b:
            continue
        if a > pos:
            out.append((pos, a, -1))
        out.append((a, b, k))
        pos = b
    if pos < n:
        out.append((pos, n, -1))
    return out


def segments(turn: Turn) -> list[tuple[int, int, str, int]]:
    """(start, end, kind, citation index) covering the answer: kind is plain | cited | partial |
    contradicted | unsupported (the index is -1 for plain and unsupported)."""
    marks = turn_marks(turn, 0)
    n_cited = len(turn.citations)
    kinds = {SUPPORTED: "cited"}
    return [
        (a, b, "plain", -1) if k < 0 else
        (a, b, kinds.get(marks[k].verdict, marks[k].verdict), k if k < n_cited else -1)
        for a, b, k in mark_segments(turn.answer, marks)
    ]


def counts_of(marks: list[Mark]) -> dict[str, int]:
    out = dict.fromkeys(VERDICT_ORDER, 0)
    for m in marks:
        out[m.verdict] += 1
    return out


def counter_text(counts: dict[str, int]) -> str:
    """"5 supported · 1 contradicted · 1 unsupported": supported always, the others when present."""
    labels = {SUPPORTED: tr("{n} supported", n=counts.get(SUPPORTED, 0)),
              PARTIAL: tr("{n} partly supported", n=counts.get(PARTIAL, 0)),
              CONTRADICTED: tr("{n} contradicted", n=counts.get(CONTRADICTED, 0)),
              UNSUPPORTED: tr("{n} unsupported", n=counts.get(UNSUPPORTED, 0))}
    return " · ".join(labels[v] for v in VERDICT_ORDER if v == SUPPORTED or counts.get(v, 0))


def source_says(conflict: dict | None) -> str:
    source = " ".join(str((conflict or {}).get("source") or "").split())
    return tr("the source says {what}", what=source) if source else tr("the source says otherwise")


def _inner_html(text: str, a: int, b: int, mark: Mark, c: Colors) -> str:
    """The sentence text[a:b] with its missing words (partial) or wrong words (contradicted) marked."""
    if mark.verdict == PARTIAL:
        ranges, style = mark.missing, (f"background-color:{c.partial_bg}; color:{c.partial_fg}; "
                                       "text-decoration:underline;")
    elif mark.verdict == CONTRADICTED and mark.conflict:
        ranges = ((int(mark.conflict.get("claim_start", 0)), int(mark.conflict.get("claim_end", 0))),)
        style = "text-decoration:line-through; font-weight:600;"
    else:
        return esc(text[a:b])
    out, pos = [], a
    for x, y in sorted(ranges):
        x, y = max(x, pos), min(y, b)
        if x >= y:
            continue
        out.append(esc(text[pos:x]))
        out.append(f'<span style="{style}">{esc(text[x:y])}</span>')
        pos = y
    out.append(esc(text[pos:b]))
    return "".join(out)


def verdict_html(text: str, marks: list[Mark], c: Colors, links: bool = True, sentence_links: bool = False) -> str:
    """text with every mark shown by its verdict. links: markers are links (off for the clipboard);
    sentence_links: the whole sentence is its mark's link too (the Check-text view)."""
    parts: list[str] = []
    for a, b, k in mark_segments(text, marks):
        if k < 0:
            parts.append(esc(text[a:b]))
            continue
        m = marks[k]
        inner = _inner_html(text, a, b, m, c)
        if m.verdict == UNSUPPORTED:
            body = f'<span style="background-color:{c.unsupported_bg}; color:{c.unsupported_fg};">{inner}</span>'
            marker, marker_color = "[?]", c.unsupported_fg
        elif m.verdict == CONTRADICTED:
            body = (f'<span style="background-color:{c.contradicted_bg}; color:{c.contradicted_fg};">{inner}</span>')
            marker, marker_color = f"[{m.number}]" if m.number else "", c.contradicted_fg
        else:
            body = inner
            marker, marker_color = (f"[{m.number}]" if m.number else ""), c.cite
        if sentence_links and links and m.href:
            body = f'<a href="{m.href}" style="color:inherit; text-decoration:none;">{body}</a>'
        if marker:
            sup = f"<sup>{marker}</sup>"
            parts.append(body + (f'<a href="{m.href}" style="color:{marker_color}; text-decoration:none;">{sup}</a>'
                                 if links and m.href else f'<span style="color:{marker_color};">{sup}</span>'))
        else:
            parts.append(body)
        if m.verdict == CONTRADICTED:
            parts.append(f' <small><b style="color:{c.contradicted_fg};">⚠ {esc(source_says(m.conflict))}</b></small>')
    return "".join(parts)


def verdict_plain(text: str, marks: list[Mark]) -> str:
    """text with a marker after each sentence that says its verdict (for plain-text pasting)."""
    out: list[str] = []
    for a, b, k in mark_segments(text, marks):
        out.append(text[a:b])
        if k < 0:
            continue
        m = marks[k]
        n = f"{m.number}" if m.number else ""
        if m.verdict == UNSUPPORTED:
            out.append(" [?]")
        elif m.verdict == PARTIAL:
            words = ", ".join(f"“{text[x:y]}”" for x, y in m.missing if 0 <= x < y <= len(text))
            note = tr("partly supported; not in the source: {words}", words=words) if words \
                else tr("partly supported")
            out.append(f" [{n}; {note}]" if n else f" [{note}]")
        elif m.verdict == CONTRADICTED:
            note = tr("contradicted: {says}", says=source_says(m.conflict))
            out.append(f" [{n}; {note}]" if n else f" [{note}]")
        elif n:
            out.append(f" [{n}]")
    return "".join(out)


def verify_marks(result) -> list[Mark]:
    """An assistant.verify.VerifyResult as marks: sentence i links to `check:<i>`; the same source
    span keeps its number."""
    numbers: dict[tuple, int] = {}
    marks = []
    for i, s in enumerate(result.sentences):
        n = 0
        if s.document is not None and s.verdict != UNSUPPORTED:
            n = numbers.setdefault((s.document.path, s.span_start, s.span_end), len(numbers) + 1)
        verdict = s.verdict if s.verdict in VERDICT_ORDER else UNSUPPORTED
        marks.append(Mark(s.start, s.end, verdict, n, f"check:{i}", tuple(tuple(m) for m in s.missing), s.conflict))
    return marks


def verify_sources_html(result, marks: list[Mark], c: Colors) -> str:
    rows, shown = [], set()
    for i, (s, m) in enumerate(zip(result.sentences, marks)):
        if not m.number or m.number in shown:
            continue
        shown.add(m.number)
        color = c.contradicted_fg if m.verdict == CONTRADICTED else c.cite
        rows.append(f'<a href="check:{i}" style="color:{color}; text-decoration:none;">[{m.number}] '
                    f'{esc(doc_label(s.document))}</a> <span style="color:{c.muted};">“{esc(short_quote(s.quote))}”</span>')
    return '<p style="margin-left:12px;"><small>' + "<br>".join(rows) + "</small></p>" if rows else ""


def verify_html(result, c: Colors) -> str:
    """The Check-text view: the text shaded by verdict (each sentence a link to its source), the sources."""
    marks = verify_marks(result)
    if not marks:
        return f'<p style="color:{c.muted};">{esc(tr("No sentence with content to check."))}</p>'
    return ("<html><body>" + f'<p style="margin-top:4px;">{verdict_html(result.text, marks, c, sentence_links=True)}</p>'
            + verify_sources_html(result, marks, c) + legend_html(counts_of(marks), c) + "</body></html>")


def mode_note(turn: Turn) -> str:
    """Which mode answered and why, e.g. "Quoted from your documents: the bundled model is ..."."""
    if turn.mode == "quote":
        head = tr("Quoted from your documents")
    elif turn.mode == "generate":
        head = tr("Written by {model}", model=turn.model) if turn.model else tr("Written by the model")
    else:
        return ""
    reason = tr(turn.mode_reason.strip()) if turn.mode_reason.strip() else ""
    return f"{head}: {reason}" if reason else head + "."


def usage_line(turn: Turn) -> str:
    if turn.n_offered:
        return tr("Using {n} of {m} documents", n=len(turn.relevant_doc_ids), m=turn.n_offered)
    return ""


def answer_html(turn: Turn, index: int, c: Colors) -> str:
    return verdict_html(turn.answer, turn_marks(turn, index), c)


def legend_html(counts: dict[str, int], c: Colors) -> str:
    """One line per verdict present that needs a word of explanation."""
    lines = []
    if counts.get(PARTIAL):
        lines.append(f'<span style="background-color:{c.partial_bg}; color:{c.partial_fg}; '
                     f'text-decoration:underline;">{esc(tr("marked words"))}</span> '
                     f'{esc(tr("are not in the cited source."))}')
    if counts.get(CONTRADICTED):
        lines.append(f'<span style="background-color:{c.contradicted_bg}; color:{c.contradicted_fg};">⚠</span> '
                     f'{esc(tr("The source says otherwise: the struck-through words are wrong."))}')
    if counts.get(UNSUPPORTED):
        lines.append(f'<span style="background-color:{c.unsupported_bg}; color:{c.unsupported_fg};">[?]</span> '
                     f'{esc(tr("Not supported by the documents: check before relying on it."))}')
    if not lines:
        return ""
    return f'<p style="color:{c.muted};"><small>' + "<br>".join(lines) + "</small></p>"


def turn_html(turn: Turn, index: int, c: Colors, live: bool = False, status: str = "") -> str:
    q = (
        f'<table width="100%" cellpadding="6" style="background-color:{c.question_bg}; margin-top:10px;">'
        f'<tr><td><b>{esc(tr("You"))}:</b> {esc(turn.question)}</td></tr></table>'
    )
    meta_bits = []
    usage = usage_line(turn)
    if usage:
        meta_bits.append(usage)
    if not live and not turn.error and turn.found and (turn.citations or turn.unsupported):
        meta_bits.append(counter_text(turn.counts()))
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
    note = mode_note(turn) if not live else ""
    if note:
        meta += f'<p style="color:{c.muted}; margin-top:0px; margin-bottom:2px;"><small><i>{esc(note)}</i></small></p>'
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
    body += legend_html(turn.counts(), c)
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
        color = c.contradicted_fg if cit.verdict == CONTRADICTED else c.cite
        rows.append(
            f'<a href="cite:{index}:{i}" style="color:{color}; text-decoration:none;">[{n}] {esc(doc_label(doc))}</a>'
            f' <span style="color:{c.muted};">“{esc(short_quote(cit.quote))}”</span>'
        )
    return '<p style="margin-left:12px;"><small>' + "<br>".join(rows) + "</small></p>"


def samples_html(samples: list[str], c: Colors) -> str:
    """First start: sample questions about the sample documents, each a link `sample:<i>`."""
    if not samples:
        return ""
    rows = "".join(
        f'<p style="margin-left:12px; margin-top:6px;"><a href="sample:{i}" style="color:{c.cite}; '
        f'text-decoration:none;">→ {esc(q)}</a></p>'
        for i, q in enumerate(samples)
    )
    return (f'<p style="margin-top:14px;"><b>{esc(tr("Try a sample question about the sample documents:"))}</b></p>'
            + rows)


def conversation_html(turns: list[Turn], c: Colors, live: Turn | None = None, live_status: str = "",
                      samples: list[str] | None = None) -> str:
    parts = [turn_html(t, i, c) for i, t in enumerate(turns)]
    if live is not None:
        parts.append(turn_html(live, len(turns), c, live=True, status=live_status))
    if not parts:
        parts.append(
            f'<p style="color:{c.muted};">{esc(tr("Ask a question about your documents. Every sentence of the answer links to the passage that supports it."))}</p>'
        )
        parts.append(samples_html(samples or [], c))
    return "<html><body>" + "".join(parts) + "</body></html>"


# -- clipboard -----------------------------------------------------------------
def _source_lines(turn: Turn) -> list[str]:
    numbers = citation_numbers(turn)
    seen: set[int] = set()
    refs = []
    for i, cit in enumerate(turn.citations):
        n = numbers[i]
        if n in seen or cit.doc_id >= len(turn.documents):
            continue
        seen.add(n)
        doc = turn.documents[cit.doc_id]
        refs.append(f"[{n}] {doc.path}: “{' '.join(cit.quote.split())}”")
    return refs


def answer_plain(turn: Turn) -> str:
    text = verdict_plain(turn.answer, turn_marks(turn, 0))
    if not turn.found:
        text = tr("Not found in your documents.") + " " + text
    lines = [tr("Question: {q}", q=turn.question), "", text]
    if turn.found and (turn.citations or turn.unsupported):
        lines += ["", counter_text(turn.counts())]
    refs = _source_lines(turn)
    if refs:
        lines += ["", tr("Sources:")] + refs
    if turn.unsupported:
        lines += ["", "[?] " + tr("Not supported by the documents: check before relying on it.")]
    return "\n".join(lines)


def answer_clipboard_html(turn: Turn, c: Colors) -> str:
    """Rich text for pasting into a document: the answer shaded by verdict, the counter, the sources."""
    counts = turn.counts()
    answer = verdict_html(turn.answer, turn_marks(turn, 0), c, links=False)
    if not turn.found:
        answer = f"<b>{esc(tr('Not found in your documents.'))}</b> {answer}"
    parts = [f"<p><b>{esc(tr('Question: {q}', q=turn.question))}</b></p>", f"<p>{answer}</p>"]
    if turn.found and (turn.citations or turn.unsupported):
        parts.append(f"<p><small>{esc(counter_text(counts))}</small></p>")
    refs = _source_lines(turn)
    if refs:
        parts.append(f"<p>{esc(tr('Sources:'))}<br>" + "<br>".join(esc(r) for r in refs) + "</p>")
    parts.append(legend_html(counts, c))
    return "<div>" + "".join(parts) + "</div>"
