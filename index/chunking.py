"""Split extracted text into retrieval passages on its own structure.

Blocks are paragraphs (blank-line separated) or single lines for list-like
text; a block too long for the embedding window is split on sentences, and a
sentence too long on white space. Small neighbouring blocks are merged up to
the target size, so a heading travels with the paragraph under it. Offsets
always index the original text: passage text == text[start:end].
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_BLOCK_SEP = re.compile(r"\n[ \t\r\f\v]*\n\s*|\f")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'»”)\]]*\s+(?=[\"'«“(\[]?[A-ZА-ЯЁ0-9])|(?<=[。！？])|\n")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[Span]:
    spans: list[Span] = []
    pos = start
    for match in pattern.finditer(text, start, end):
        cut = match.end() if match.end() > match.start() else match.start()
        span = _trimmed(text, pos, cut)
        if span:
            spans.append(span)
        pos = cut
    span = _trimmed(text, pos, end)
    if span:
        spans.append(span)
    return spans


def _hard_split(text: str, span: Span, limit: int) -> list[Span]:
    """Last resort for a run with no sentence end: cut at white space, else anywhere."""
    pieces: list[Span] = []
    start = span.start
    while span.end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        if cut <= start:
            cut = start + limit
        piece = _trimmed(text, start, cut)
        if piece:
            pieces.append(piece)
        start = cut
    piece = _trimmed(text, start, span.end)
    if piece:
        pieces.append(piece)
    return pieces


def _units(text: str, limit: int) -> list[tuple[int, Span]]:
    """(block number, span) pieces no longer than limit."""
    units: list[tuple[int, Span]] = []
    for n, block in enumerate(_split(text, 0, len(text), _BLOCK_SEP)):
        if block.end - block.start <= limit:
            units.append((n, block))
            continue
        for sentence in _split(text, block.start, block.end, _SENTENCE_END):
            if sentence.end - sentence.start <= limit:
                units.append((n, sentence))
            else:
                units.extend((n, piece) for piece in _hard_split(text, sentence, limit))
    return units


def chunk(text: str, max_chars: int = 1000) -> list[Span]:
    """Passages of at most `max_chars` characters covering all text in order.

    Where a cut falls inside a paragraph, the next passage repeats the
    paragraph's last sentence before the cut, so a fact stated across that
    sentence boundary still lies whole in one passage.
    """
    spans: list[Span] = []
    current: Span | None = None
    last: tuple[int, Span] | None = None
    for block, unit in _units(text, max_chars):
        if current is not None and unit.end - current.start <= max_chars:
            current = Span(current.start, unit.end)
        else:
            if current is not None:
                spans.append(current)
            current = unit
            if last is not None and last[0] == block and unit.end - last[1].start <= max_chars and last[1].start > spans[-1].start:
                current = Span(last[1].start, unit.end)
        last = (block, unit)
    if current is not None:
        spans.append(current)
    return spans
