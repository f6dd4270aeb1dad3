"""Offsets and matching helpers for the viewers (Qt-free).

- `QtOffsets`: Docent's offsets count Python characters of the extracted
  text; a QTextDocument counts UTF-16 units and turns "\\r\\n" into one
  paragraph break. This maps one to the other.
- `locate(haystack, quote, hint)`: where a quote occurs in a text whose
  whitespace, line breaks and soft hyphens may differ (a PDF page as QtPdf
  sees it, or a source file that changed since an answer was given).
- `query_terms` / `term_spans`: which words of a search result to highlight
  (prefix match for inflected Russian/English words, bigrams for CJK).
"""
from __future__ import annotations

import bisect
import re
import unicodedata

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
_WORD = re.compile(r"\w+", re.UNICODE)


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF


_STOP = {
    "the", "and", "for", "with", "what", "which", "who", "how", "does", "are", "was", "were", "this", "that",
    "что", "как", "где", "когда", "какой", "какая", "какое", "какие", "кто", "это", "для", "или", "при",
}


def query_terms(query: str) -> list[str]:
    """Lower-case prefixes (words) and bigrams (CJK runs) to look for in results."""
    terms: list[str] = []
    for word in _WORD.findall(query):
        w = word.casefold()
        if any(_is_cjk(ch) for ch in w):
            run = [ch for ch in w if _is_cjk(ch)]
            if len(run) == 1:
                terms.append(run[0])
            terms += ["".join(run[i:i + 2]) for i in range(len(run) - 1)]
            continue
        if w in _STOP or (len(w) < 3 and not w.isdigit()):
            continue
        # crude stemming: drop up to two letters of an inflected ending
        cut = 2 if len(w) >= 6 else (1 if len(w) >= 5 else 0)
        terms.append(w[: len(w) - cut] if cut and w.isalpha() else w)
    return list(dict.fromkeys(t for t in terms if t))


def term_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Merged [start, end) ranges of text to highlight."""
    if not terms:
        return []
    lowered = text.casefold()
    if len(lowered) != len(text):  # casefold changed lengths (ß, ...): fall back to lower()
        lowered = text.lower()
        if len(lowered) != len(text):
            return []
    spans: list[tuple[int, int]] = []
    word_terms = [t for t in terms if not _is_cjk(t[0])]
    cjk_terms = [t for t in terms if _is_cjk(t[0])]
    for m in _WORD.finditer(lowered):
        w = m.group()
        if any(w.startswith(t) for t in word_terms):
            spans.append((m.start(), m.end()))
    for t in cjk_terms:
        pos = lowered.find(t)
        while pos >= 0:
            spans.append((pos, pos + len(t)))
            pos = lowered.find(t, pos + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged
