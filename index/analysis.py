"""The text analyser: one place for language, tokens, terms and stopwords.

Everything that compares words uses this module: the BM25 index and its
queries, citation and claim checking, quoted answers, and the app's
highlighting. So a word is always "the same word" by the same rules:

- words are NFKC-folded, lower-cased, ё spelled е, and reduced to Snowball
  stems (PyStemmer) in the text's language;
- runs of CJK characters become character bigrams, split where the script
  changes (kana particles do not glue onto kanji words), a lone character
  stays a unigram;
- numbers stay as they are.

`tokens()` keeps each term's [start, end) in the original text, so callers
can mark exactly which words matched or are missing.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Hiragana, katakana (+ phonetic extensions, half-width), CJK ideographs (+ ext A, compatibility), Hangul.
_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-z]")


def is_cjk(ch: str) -> bool:
    return bool(_CJK_CHAR.match(ch))


def is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _script(ch: str) -> str:
    o = ord(ch)
    if 0x3040 <= o <= 0x309F:
        return "hira"
    if 0x30A0 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F:
        return "kata"
    if 0xAC00 <= o <= 0xD7AF:
        return "hangul"
    return "han"


@lru_cache(maxsize=None)
def _stemmer(language: str):
    import Stemmer

    stemmer = Stemmer.Stemmer(language)
    stemmer.maxCacheSize = 100_000
    return stemmer


def normalize(text: str) -> str:
    # NFKC folds full-width Latin/digits and half-width katakana; ё is spelled е in most Russian text.
    return unicodedata.normalize("NFKC", text).lower().replace("ё", "е")


# --------------------------------------------------------------------------
# stopwords: function words that carry no content (dropped when comparing content, kept in BM25)

_STOPWORDS = {
    "en": set(
        "a an the and or but if of to in on at by for with from as is are was were be been being it its this that "
        "these those there here what which who whom whose when where why how do does did done yes so than "
        "then too very can could should would will shall may might must have has had having i you he she we they "
        "me him her us them my your his our their into over under about also just only such".split()
    ),
    "ru": set(
        "и в во что он на я с со как а то все она так его но да ты к у же вы за бы по только ее её мне было вот "
        "от меня еще ещё о из ему теперь когда даже ну вдруг ли если уже или быть был него до вас нибудь "
        "опять уж вам ведь там потом себя ей может они тут где есть надо ней для мы тебя их чем была сам "
        "чтоб будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом "
        "почти мой тем чтобы нее неё сейчас были куда зачем всех можно при наконец об хоть "
        "после над тот через эти нас про всего них какая разве эту моя впрочем свою этой "
        "перед иногда чуть том такой им всегда конечно всю между это какие каком каких "
        "какое каков какова каково".split()
    ),
}
# Negations are never stopwords: "X does not connect Y" must not match "X connects Y" as equal.
NEGATIONS = {
    "en": frozenset({"not", "no", "never", "without", "nor", "none", "cannot", "n't"}),
    "ru": frozenset({"не", "нет", "ни", "без", "никогда", "нельзя"}),
}


def is_stopword(word: str, language: str | None = None) -> bool:
    """`word` normalised (lower case); with no language, a stopword of any language we know."""
    if language is not None:
        return word in _STOPWORDS.get(language, ())
    return any(word in words for words in _STOPWORDS.values())


# --------------------------------------------------------------------------
# tokens and terms


@dataclass(frozen=True)
class Token:
    """One term of a text and where it stands: text[start:end] is the surface form."""

    start: int
    end: int
    term: str
    kind: str  # "word", "number" or "cjk"
    word: str = ""  # the normalised surface form before stemming ("" for cjk)


def _cjk_tokens(run: str, offset: int, out: list[Token]) -> None:
    start = 0
    for i in range(1, len(run) + 1):
        if i == len(run) or _script(run[i]) != _script(run[start]):
            piece = run[start:i]
            if len(piece) == 1:
                out.append(Token(offset + start, offset + i, piece, "cjk"))
            else:
                for j in range(len(piece) - 1):
                    a = offset + start + j
                    out.append(Token(a, a + 2, piece[j : j + 2], "cjk"))
            start = i


def _word_language(word: str) -> str | None:
    if _CYRILLIC.search(word):
        return "russian"
    if _LATIN.search(word):
        return "english"
    return None


def tokens(text: str, language: str | None = None) -> list[Token]:
    """Every term of `text` in order, with its offsets (duplicates and stopwords kept)."""
    out: list[Token] = []
    pending: dict[str, list[int]] = {}
    for m in _TOKEN.finditer(text):
        surface = m.group()
        if _CJK_CHAR.match(surface):
            folded = normalize(surface)
            if len(folded) == len(surface):
                _cjk_tokens(folded, m.start(), out)
            else:
                _cjk_tokens_unaligned(surface, m.start(), out)
            continue
        word = normalize(surface)
        if word.isdigit():
            out.append(Token(m.start(), m.end(), word, "number", word))
            continue
        stem_language = _word_language(word)
        if stem_language is not None:
            pending.setdefault(stem_language, []).append(len(out))
        out.append(Token(m.start(), m.end(), word, "word", word))
    for stem_language, indexes in pending.items():
        stems = _stemmer(stem_language).stemWords([out[i].term for i in indexes])
        for i, stem in zip(indexes, stems):
            t = out[i]
            out[i] = Token(t.start, t.end, stem, t.kind, t.word)
    return out


def _cjk_tokens_unaligned(surface: str, offset: int, out: list[Token]) -> None:
    """A CJK run whose NFKC form has another length (rare compatibility characters): per character."""
    folded = [normalize(ch) for ch in surface]
    run = "".join(folded)
    pieces: list[Token] = []
    _cjk_tokens(run, 0, pieces)
    ends = []
    pos = 0
    for ch in folded:
        pos += len(ch)
        ends.append(pos)
    for p in pieces:
        a = next(i for i, e in enumerate(ends) if e > p.start)
        b = next(i for i, e in enumerate(ends) if e >= p.end)
        out.append(Token(offset + a, offset + b + 1, p.term, "cjk"))


def terms(text: str, language: str | None = None) -> list[str]:
    """Index terms of `text`, in order (duplicates kept: BM25 needs term frequency)."""
    return [t.term for t in tokens(text, language)]


def content_tokens(text: str, language: str | None = None) -> list[Token]:
    """Tokens that carry content: no stopwords, no one-letter words (numbers and CJK kept)."""
    return [t for t in tokens(text, language)
            if t.kind != "word" or (len(t.word) > 1 and not is_stopword(t.word))]


def content_terms(text: str, language: str | None = None) -> list[str]:
    return [t.term for t in content_tokens(text, language)]


# --------------------------------------------------------------------------
# language


def detect_language(text: str) -> str:
    """Language of a query, passage or answer: an ISO 639-1 code ('en', 'ru', 'ja', ...), 'und' if unknown."""
    sample = text[:2000]
    kana = hangul = cjk = cyr = lat = 0
    for ch in sample:
        if _CJK_CHAR.match(ch):
            cjk += 1
            s = _script(ch)
            if s in ("hira", "kata"):
                kana += 1
            elif s == "hangul":
                hangul += 1
        elif is_cyrillic(ch):
            cyr += 1
        elif "a" <= ch.lower() <= "z":
            lat += 1
    letters = cjk + cyr + lat
    if not letters:
        return "und"
    if cjk >= 0.2 * letters:
        if kana:
            return "ja"
        if hangul > cjk - hangul:
            return "ko"
        return "zh"
    if cyr > lat:
        return "ru"
    return "en"
