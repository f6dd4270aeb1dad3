"""Offsets and matching helpers for the viewers (Qt-free).

- `QtOffsets`: Docent's offsets count Python characters of the extracted
  text; a QTextDocument counts UTF-16 units and turns "\\r\\n" into one
  paragraph break. This maps one to the other.
- `locate(haystack, quote, hint)`: where a quote occurs in a text whose
  whitespace, line breaks and soft hyphens may differ (a PDF page as QtPdf
  sees it, or a source file that changed since an answer was given).
- `query_terms` / `term_spans`: which words of a search result to highlight
  (the analyser's terms: an inflected word matches by its stem, CJK by bigrams).
"""
from __future__ import annotations

import bisect
import unicodedata

from index import analysis

_IGNORED = {"\u00ad", "\ufffe", "\uffff", "\x02", "\u200b", "\u2060", "\ufeff"}


class QtOffsets:
    def __init__(self, text: str):
        self._wide: list[int] = []     # indexes of characters outside the BMP (2 UTF-16 units)
        self._crlf: list[int] = []     # indexes of "\n" in "\r\n" (Qt drops the "\r")
        if text.isascii() and "\r" not in text:
            return
        for i, ch in enumerate(text):
            if ord(ch) > 0xFFFF:
                self._wide.append(i)
            elif ch == "\n" and i and text[i - 1] == "\r":
                self._crlf.append(i)

    def to_qt(self, offset: int) -> int:
        return offset + bisect.bisect_left(self._wide, offset) - bisect.bisect_right(self._crlf, offset)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _squeeze(text: str) -> tuple[str, list[int]]:
    """Text without whitespace and ignorable characters, casefolded, and each kept char's index."""
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace() or ch in _IGNORED or unicodedata.category(ch) == "Cc":
            continue
        folded = ch.casefold()
        chars.append(folded[0] if folded else ch)
        index.append(i)
    return "".join(chars), index


def locate(haystack: str, quote: str, hint: int | None = None) -> tuple[int, int] | None:
    """[start, end) of quote in haystack ignoring whitespace/case; the occurrence nearest to hint."""
    if not quote.strip():
        return None
    if hint is not None and 0 <= hint and haystack.startswith(quote, hint):
        return hint, hint + len(quote)
    hay, hay_index = _squeeze(haystack)
    needle, _ = _squeeze(quote)
    if not needle:
        return None
    best = None
    pos = hay.find(needle)
    while pos >= 0:
        start, end = hay_index[pos], hay_index[pos + len(needle) - 1] + 1
        if best is None or (hint is not None and abs(start - hint) < abs(best[0] - hint)):
            best = (start, end)
        if hint is None:
            break
        pos = hay.find(needle, pos + 1)
    return best


def locate_partial(haystack: str, quote: str, hint: int | None = None, min_chars: int = 24) -> tuple[int, int] | None:
    """Like locate, else the longest head or tail of the quote that is found (a quote across two pages)."""
    found = locate(haystack, quote, hint)
    if found or len(quote) <= min_chars:
        return found
    words = quote.split()
    for cut in range(len(words) - 1, 0, -1):
        head = " ".join(words[:cut])
        tail = " ".join(words[-cut:])
        if len(head) < min_chars and len(tail) < min_chars:
            break
        for part in (head, tail):
            if len(part) >= min_chars:
                found = locate(haystack, part, hint)
                if found:
                    return found
    return None


# -- query terms ---------------------------------------------------------------------
def query_terms(query: str) -> list[str]:
    """The query's content terms, as the analyser makes them (stems, CJK bigrams, numbers)."""
    return list(dict.fromkeys(analysis.content_terms(query)))


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted [start, end) ranges with overlapping or touching ones joined."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def term_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Merged [start, end) ranges of the words of text whose term is one of `terms`.

    Stems of one word can still differ in the last letters (Snowball: магистрали ->
    магистра, магистраль -> магистрал), so for highlighting a word stem of four or
    more letters also matches a stem it begins or ends (a prefix, either way).
    """
    wanted = set(terms)
    if not wanted:
        return []
    long_stems = [t for t in wanted if len(t) >= 4 and not analysis.is_cjk(t[0]) and not t.isdigit()]
    found: list[tuple[int, int]] = []
    for token in analysis.tokens(text):
        term = token.term
        if term in wanted or (token.kind == "word" and len(term) >= 4 and any(
                term.startswith(t) or t.startswith(term) for t in long_stems)):
            found.append((token.start, token.end))
    return merge_spans(found)
