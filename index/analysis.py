"""Language-aware terms for the lexical index.

The bundled dense model is English-only, so Russian and Japanese retrieval
rests on these terms: Snowball stems for Cyrillic and Latin words, character
bigrams for CJK runs (split where the script changes, so kana particles do
not glue onto kanji words).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-z]")
_HIRAGANA = re.compile(r"[\u3040-\u309f]")
_KATAKANA = re.compile(r"[\u30a0-\u30ff\uff66-\uff9f]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_CJK_CHAR = re.compile(rf"[{_CJK}]")


@lru_cache(maxsize=None)
def _stemmer(language: str):
    import Stemmer

    stemmer = Stemmer.Stemmer(language)
    stemmer.maxCacheSize = 100_000
    return stemmer


def _script(ch: str) -> str:
    if _HIRAGANA.match(ch):
        return "hira"
    if _KATAKANA.match(ch):
        return "kata"
    if _HANGUL.match(ch):
        return "hangul"
    return "han"


def _cjk_terms(run: str) -> list[str]:
    terms: list[str] = []
    start = 0
    for i in range(1, len(run) + 1):
        if i == len(run) or _script(run[i]) != _script(run[start]):
            piece = run[start:i]
            if len(piece) == 1:
                terms.append(piece)
            else:
                terms.extend(piece[j : j + 2] for j in range(len(piece) - 1))
            start = i
    return terms


def normalize(text: str) -> str:
    # NFKC folds full-width Latin/digits and half-width katakana; ё is spelled е in most Russian text.
    return unicodedata.normalize("NFKC", text).lower().replace("ё", "е")


def terms(text: str) -> list[str]:
    """Index terms of `text`, in order (duplicates kept: BM25 needs term frequency)."""
    out: list[str] = []
    russian: list[tuple[int, str]] = []
    english: list[tuple[int, str]] = []
    for token in _TOKEN.findall(normalize(text)):
        if _CJK_CHAR.match(token):
            out.extend(_cjk_terms(token))
        elif token.isdigit():
            out.append(token)
        elif _CYRILLIC.search(token):
            russian.append((len(out), token))
            out.append(token)
        elif _LATIN.search(token):
            english.append((len(out), token))
            out.append(token)
        else:
            out.append(token)
    for language, items in (("russian", russian), ("english", english)):
        if items:
            stems = _stemmer(language).stemWords([token for _, token in items])
            for (index, _), stem in zip(items, stems):
                out[index] = stem
    return out


def has_cjk(text: str) -> bool:
    return bool(_CJK_CHAR.search(text))


def detect_language(text: str) -> str:
    """Coarse language of a query or answer by script: 'ja', 'ru', 'en' or 'other'."""
    sample = text[:2000]
    kana = len(_HIRAGANA.findall(sample)) + len(_KATAKANA.findall(sample))
    cjk = len(_CJK_CHAR.findall(sample))
    cyr = len(_CYRILLIC.findall(sample))
    lat = len(re.findall(r"[A-Za-z]", sample))
    if cjk and (kana or cjk >= max(cyr, lat)):
        return "ja" if kana or not _HANGUL.search(sample) else "other"
    if cyr >= lat and cyr:
        return "ru"
    if lat:
        return "en"
    return "other"
