"""Sentence boundaries, one splitter for the whole app (citations, verification, quotes, budgets).

ru/en/ja aware: a full stop after an abbreviation or an initial does not end a
sentence, 。 inside 「...」 does not either, a line break always does. Spans are
[start, end) into the text given, whitespace trimmed, empty ones dropped.
"""
from __future__ import annotations

from index.analysis import is_cjk


_JA_END = "。！？"
_LATIN_END = ".!?…"
_CLOSERS = "」』）)】]\"'”’»"
_OPENERS = "\"'«„“‘(—–-[「『"
_CJK_OPEN = "「『（"
_CJK_CLOSE = "」』）"
_ABBREVIATIONS = {
    # English
    "mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "inc", "ltd", "jr", "sr", "no", "fig", "vol",
    "approx", "dept", "est", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "gen", "col", "lt", "sgt", "capt", "mt", "ft", "cf", "al", "op", "ed", "eds", "pp", "ch",
    # Russian
    "т", "е", "д", "п", "г", "гг", "в", "вв", "см", "стр", "рис", "им", "ул", "др", "пр", "тыс", "млн",
    "млрд", "руб", "коп", "проф", "акад", "ок", "напр", "каб", "кв", "обл", "р", "c", "с", "н", "э",
}


def _is_abbreviation(text: str, dot: int) -> bool:
    j = dot
    while j > 0 and text[j - 1].isalpha():
        j -= 1
    word = text[j:dot]
    if not word:
        return False
    if len(word) == 1:  # initials, e.g. / т.е. pieces
        return True
    return word.lower() in _ABBREVIATIONS


def split_sentences(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of sentences in text, whitespace trimmed, empty ones dropped."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    start = i = 0

    def add(a: int, b: int) -> None:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            spans.append((a, b))

    depth, opened = 0, 0  # inside 「...」 a 。 does not end the sentence (bounded: unclosed brackets)
    while i < n:
        ch = text[i]
        cut = -1
        if ch in _CJK_OPEN:
            if depth == 0:
                opened = i
            depth += 1
        elif ch in _CJK_CLOSE and depth:
            depth -= 1
        if ch == "\n":
            depth = 0
            cut = i
        elif ch in _JA_END and depth and i - opened < 200:
            pass
        elif ch in _JA_END:
            j = i + 1
            while j < n and (text[j] in _JA_END or text[j] in _CLOSERS):
                j += 1
            cut = j
        elif ch in _LATIN_END:
            j = i + 1
            while j < n and text[j] in _LATIN_END:
                j += 1
            while j < n and text[j] in _CLOSERS:
                j += 1
            if j >= n:
                cut = j
            elif text[j].isspace():
                k = j
                while k < n and text[k] in " \t\u00a0":
                    k += 1
                nxt = text[k] if k < n else ""
                if ch == "." and j == i + 1 and _is_abbreviation(text, i):
                    cut = -1
                elif nxt in ("", "\n", "\r") or nxt.isupper() or nxt.isdigit() or nxt in _OPENERS or is_cjk(nxt):
                    cut = j
            elif is_cjk(text[j]):
                cut = j
        if cut >= 0:
            add(start, cut)
            start = i = max(cut, i + 1)
            continue
        i += 1
    add(start, n)
    return spans


