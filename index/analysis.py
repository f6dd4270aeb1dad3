"""The text analyser: one place for language, tokens, terms and stopwords.

Everything that compares words uses this module: the BM25 index and its
queries, citation and claim checking, quoted answers, and the app's
highlighting. So a word is always "the same word" by the same rules:

- a text's language is detected (py3langid over the ~30 languages below;
  CJK by script, which is exact), and each word is reduced to its Snowball
  stem (PyStemmer) in that language when the word is written in the
  language's script; a word in another script, or in a language Snowball has
  no stemmer for (Vietnamese), gets its script's default (Latin: English,
  Cyrillic: Russian, Greek, Arabic, Devanagari: Hindi);
- words are NFKC-folded, lower-cased (Turkish dotted/dotless i kept apart),
  ё spelled е, Romanian cedillas spelled as commas; diacritics stay (folding
  Vietnamese tones cost 0.5-4 points of recall@1 on the dev set, whether the
  index held folded terms only or both forms);
- runs of CJK characters become character bigrams, split where the script
  changes (kana particles do not glue onto kanji words), a lone character
  stays a unigram; Thai, written without spaces, becomes character trigrams;
- numbers stay as they are.

`tokens()` keeps each term's [start, end) in the original text, so callers
can mark exactly which words matched or are missing. A search question is
analysed in its own language and in the knowledge base's (`query_terms`),
so a German question still meets the English stems of an English passage.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Iterable, NamedTuple

# Bumped whenever the terms of a text change: a knowledge base indexed with another version is re-analysed.
VERSION = 2

# Hiragana, katakana (+ phonetic extensions, half-width), CJK ideographs (+ ext A, compatibility), Hangul.
_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\uac00-\ud7af"
_THAI = "\u0e00-\u0e7f"


def _mark_ranges() -> str:
    """Combining marks (Mn/Mc/Me) of the BMP as a character-class body: they belong to the word they follow
    (Devanagari and Thai vowel signs, Arabic harakat, decomposed accents)."""
    out, start, prev = [], None, None
    for cp in range(0x300, 0x10000):
        if 0xD800 <= cp <= 0xDFFF or 0x0E00 <= cp <= 0x0E7F:
            is_mark = False
        else:
            is_mark = unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me")
        if is_mark and start is None:
            start = cp
        if not is_mark and start is not None:
            out.append(f"\\u{start:04x}-\\u{prev:04x}" if prev > start else f"\\u{start:04x}")
            start = None
        prev = cp
    return "".join(out)


_MARKS = _mark_ranges()
_LETTER = rf"[^\W_{_CJK}{_THAI}]"
_TOKEN = re.compile(rf"[{_CJK}]+|[{_THAI}]+|{_LETTER}(?:{_LETTER}|[{_MARKS}])*")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
_CJK_OR_THAI = re.compile(rf"[{_CJK}{_THAI}]+")
_KANA_RUN = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]+")
_HANGUL_RUN = re.compile("[\uac00-\ud7af]+")
# Runs of one _script() value: hiragana, katakana, hangul, anything else (han).
_SCRIPT_RUN = re.compile("[\u3040-\u309f]+|[\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]+|[\uac00-\ud7af]+"
                         "|[^\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f\uac00-\ud7af]+")
_THAI_CHAR = re.compile(rf"[{_THAI}]")


def is_cjk(ch: str) -> bool:
    return bool(_CJK_CHAR.match(ch))


def is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def word_script(word: str) -> str:
    """Script of a (normalised) word, by its first letter."""
    for ch in word:
        o = ord(ch)
        if ch.isdigit():
            continue
        if o < 0x250 or 0x1E00 <= o <= 0x1EFF:
            return "latin"
        if 0x400 <= o <= 0x52F:
            return "cyrillic"
        if 0x370 <= o <= 0x3FF or 0x1F00 <= o <= 0x1FFF:
            return "greek"
        if 0x600 <= o <= 0x6FF or 0x750 <= o <= 0x77F:
            return "arabic"
        if 0x900 <= o <= 0x97F:
            return "devanagari"
        return "other"
    return "other"


_SCRIPT_RUNS = {
    "latin": re.compile("[A-Za-z\u00c0-\u024f\u1e00-\u1eff]+"), "cyrillic": re.compile("[\u0400-\u052f]+"),
    "greek": re.compile("[\u0370-\u03ff\u1f00-\u1fff]+"), "arabic": re.compile("[\u0600-\u06ff\u0750-\u077f]+"),
    "devanagari": re.compile("[\u0900-\u097f]+"), "thai": re.compile(f"[{_THAI}]+"), "cjk": _CJK_RUN,
}


PASSAGE_SAMPLE = 400  # characters a search candidate's script and language are told from


def passage_script(text: str) -> str:
    """main_script of a passage's opening, cached: search asks it of the same candidates twice
    (names across scripts, passages in another language)."""
    return _sample_script(text[:PASSAGE_SAMPLE])


@lru_cache(maxsize=4096)
def _sample_script(sample: str) -> str:
    return main_script(sample)


def main_script(text: str) -> str:
    """The script most of a text's letters are written in ('' for none): regex passes only, so cheap
    enough for every search candidate, where telling the language itself would cost ~0.3 ms."""
    best, most = "", 0
    for script, run in _SCRIPT_RUNS.items():
        count = sum(map(len, run.findall(text)))
        if count > most:
            best, most = script, count
    return best


# ISO 639-1 code -> (script, Snowball stemmer or None). The languages detect_language can answer.
_LANGUAGES: dict[str, tuple[str, str | None]] = {
    "en": ("latin", "english"), "de": ("latin", "german"), "es": ("latin", "spanish"), "fr": ("latin", "french"),
    "it": ("latin", "italian"), "pt": ("latin", "portuguese"), "nl": ("latin", "dutch"), "sv": ("latin", "swedish"),
    "da": ("latin", "danish"), "no": ("latin", "norwegian"), "fi": ("latin", "finnish"), "hu": ("latin", "hungarian"),
    "ro": ("latin", "romanian"), "tr": ("latin", "turkish"), "id": ("latin", "indonesian"), "ca": ("latin", "catalan"),
    "cs": ("latin", "czech"), "pl": ("latin", "polish"), "lt": ("latin", "lithuanian"), "et": ("latin", "estonian"),
    "vi": ("latin", None), "ru": ("cyrillic", "russian"),
    "el": ("greek", "greek"), "ar": ("arabic", "arabic"), "fa": ("arabic", "persian"), "hi": ("devanagari", "hindi"),
    "th": ("thai", None), "ja": ("cjk", None), "zh": ("cjk", None), "ko": ("cjk", None),
}
_SCRIPT_DEFAULT = {"latin": "english", "cyrillic": "russian", "greek": "greek", "arabic": "arabic",
                   "devanagari": "hindi"}


def supported_languages() -> frozenset[str]:
    return frozenset(_LANGUAGES)


@lru_cache(maxsize=None)
def _stemmer(language: str):
    import Stemmer

    stemmer = Stemmer.Stemmer(language)
    stemmer.maxCacheSize = 100_000
    return stemmer


def _stemmer_for(script: str, language: str) -> str | None:
    own = _LANGUAGES.get(language)
    if own is not None and own[0] == script and own[1] is not None:
        return own[1]
    return _SCRIPT_DEFAULT.get(script)


_FOLD_TABLE = str.maketrans({"ё": "е", "ş": "ș", "ţ": "ț"})


def normalize(text: str, language: str | None = None) -> str:
    """NFKC (full-width Latin/digits, half-width katakana), lower case, ё as е, ş/ţ as ș/ț."""
    text = unicodedata.normalize("NFKC", text)
    if language == "tr" or language == "az":
        text = text.replace("I", "ı").replace("İ", "i")
    return text.lower().replace("i\u0307", "i").translate(_FOLD_TABLE)


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
_ANY_STOPWORD = frozenset().union(*_STOPWORDS.values())
# Negations are never stopwords: "X does not connect Y" must not match "X connects Y" as equal.
NEGATIONS = {
    "en": frozenset({"not", "no", "never", "without", "nor", "none", "cannot", "n't"}),
    "ru": frozenset({"не", "нет", "ни", "без", "никогда", "нельзя"}),
}


def is_stopword(word: str, language: str | None = None) -> bool:
    """`word` normalised (lower case); with no language, a stopword of any language we know."""
    if language is not None:
        return word in _STOPWORDS.get(language, ())
    return word in _ANY_STOPWORD


# --------------------------------------------------------------------------
# tokens and terms


class Token(NamedTuple):
    """One term of a text and where it stands: text[start:end] is the surface form.

    A named tuple, not a dataclass: an index run makes one per word of every passage, and a
    tuple is built about 3x faster."""

    start: int
    end: int
    term: str
    kind: str  # "word", "number", "cjk" (CJK bigram or lone character) or "gram" (Thai trigram)
    word: str = ""  # the normalised surface form before stemming ("" for cjk and gram)


def _cjk_tokens(run: str, offset: int, out: list[Token]) -> None:
    for m in _SCRIPT_RUN.finditer(run):  # pieces of one script (_script): bigrams never cross a change
        piece, start = m.group(), offset + m.start()
        if len(piece) == 1:
            out.append(Token(start, start + 1, piece, "cjk"))
        else:
            out.extend(Token(start + j, start + j + 2, piece[j : j + 2], "cjk") for j in range(len(piece) - 1))


def _cjk_terms(run: str, out: list[str]) -> None:
    """The terms of _cjk_tokens alone (an index run needs no offsets: 5x faster on CJK text)."""
    for m in _SCRIPT_RUN.finditer(run):
        piece = m.group()
        if len(piece) == 1:
            out.append(piece)
        else:
            out.extend([piece[j : j + 2] for j in range(len(piece) - 1)])


def _thai_tokens(run: str, offset: int, out: list[Token]) -> None:
    """Character trigrams of a Thai run, a shorter run whole. No dictionary: on the dev set trigrams
    reach recall@1 0.945 lexically (bigrams 0.875, 4-grams 0.940, whole space-separated runs 0.774)."""
    if len(run) <= 3:
        out.append(Token(offset, offset + len(run), run, "gram"))
        return
    for j in range(len(run) - 2):
        out.append(Token(offset + j, offset + j + 3, run[j : j + 3], "gram"))


@lru_cache(maxsize=20_000)
def _word_form(surface: str, language: str) -> tuple[str, str | None, bool]:
    """(normalised word, its Snowball stemmer or None, is a number) of a surface word: memoised, since
    words repeat (Zipf) and an index run analyses every passage."""
    word = normalize(surface, language)
    if word.isdigit():
        return word, None, True
    return word, _stemmer_for(word_script(word), language), False


def detected_or(text: str, language: str | None) -> str:
    """`language` when given, else the text's detected language."""
    return language if language is not None else detect_language(text)


def tokens(text: str, language: str | None = None) -> list[Token]:
    """Every term of `text` in order, with its offsets (duplicates and stopwords kept).

    `language` (ISO 639-1) picks the stemmers; by default the text's own language is detected.
    """
    return list(_tokens(text, detected_or(text, language)))


@lru_cache(maxsize=512)
def _tokens(text: str, language: str) -> tuple[Token, ...]:
    """tokens, cached for the last few texts: checking a sentence analyses it for its search (in each
    language of the knowledge base), its lexical evidence and its claim."""
    return tuple(_analyse(text, language, True))


def _analyse(text: str, language: str, offsets: bool) -> list:
    """Tokens of `text` (`offsets`), or their terms alone: the same rules, without a Token per CJK
    bigram where only the terms are wanted (index_terms: an index run analyses every passage)."""
    out: list = []
    pending: dict[str, list[int]] = {}
    for m in _TOKEN.finditer(text):
        surface = m.group()
        first = surface[0]
        if _CJK_CHAR.match(first):
            folded = normalize(surface)
            if len(folded) != len(surface):
                if offsets:
                    _cjk_tokens_unaligned(surface, m.start(), out)
                else:
                    _cjk_terms("".join(normalize(ch) for ch in surface), out)
            elif offsets:
                _cjk_tokens(folded, m.start(), out)
            else:
                _cjk_terms(folded, out)
            continue
        if _THAI_CHAR.match(first):
            grams: list[Token] = []
            _thai_tokens(surface, m.start(), grams)
            out.extend(grams if offsets else [t.term for t in grams])
            continue
        word, stem_language, number = _word_form(surface, language)
        if stem_language is not None and not number:
            pending.setdefault(stem_language, []).append(len(out))
        if not offsets:
            out.append(word)
        else:
            out.append(Token(m.start(), m.end(), word, "number" if number else "word", word))
    for stem_language, indexes in pending.items():
        stems = _stemmer(stem_language).stemWords([out[i].term if offsets else out[i] for i in indexes])
        for i, stem in zip(indexes, stems):
            if offsets:
                t = out[i]
                out[i] = Token(t.start, t.end, stem, t.kind, t.word)
            else:
                out[i] = stem
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
    """Terms of `text`, in order (duplicates kept), in its language (detected unless given)."""
    return [t.term for t in tokens(text, language)]


def index_terms(text: str) -> tuple[str, list[str]]:
    """(language, terms) of a passage for the lexical index: the stems of its own language."""
    language = detect_language(text)
    return language, _analyse(text, language, False)


def query_terms(text: str, languages: Iterable[str] = ()) -> list[str]:
    """A search question's distinct terms: analysed in its own language and in each of `languages`
    (the knowledge base's), so it meets the stems its passages were indexed with."""
    own = detect_language(text)
    out: dict[str, None] = {}
    for language in dict.fromkeys([own, *languages]):
        for term in (t.term for t in tokens(text, language)):
            out.setdefault(term, None)
    return list(out)


def is_content(t: Token) -> bool:
    """A token that carries content: not a stopword, not a one-letter word (numbers, CJK and Thai kept)."""
    return t.kind != "word" or (len(t.word) > 1 and not is_stopword(t.word))


def content_tokens(text: str, language: str | None = None) -> list[Token]:
    """Tokens that carry content: no stopwords, no one-letter words (numbers, CJK and Thai kept)."""
    return [t for t in tokens(text, language) if is_content(t)]


def content_terms(text: str, language: str | None = None) -> list[str]:
    return [t.term for t in content_tokens(text, language)]


# --------------------------------------------------------------------------
# language

_identifier = None
_identifier_lock = threading.Lock()


def _langid():
    """py3langid's naive-Bayes model (BSD, ~5 MB), limited to the languages we analyse."""
    global _identifier
    with _identifier_lock:
        if _identifier is None:
            from py3langid.langid import _load_identifier

            candidates = sorted(set(_LANGUAGES) - {"ja", "zh", "ko", "th"})
            _identifier = _load_identifier(langs=candidates)
        return _identifier


def detect_language(text: str) -> str:
    """Language of a query, passage or answer: an ISO 639-1 code ('en', 'ru', 'ja', ...), 'und' if unknown.

    CJK and Thai are told by their scripts; every other text by py3langid (99-100% right on
    the dev sets' questions in each of the 13 languages, 0.1-0.2 ms each).
    """
    return _detect(text[:2000])


@lru_cache(maxsize=4096)
def _detect(sample: str) -> str:
    """detect_language of a text's first 2000 characters (cached: verify asks it for the same sentence
    several times: search, dense weight, claim)."""
    # Characters counted by script with C-speed regex passes (an index run detects every passage's language).
    rest = _CJK_OR_THAI.sub("", sample)
    cjk = sum(map(len, _CJK_RUN.findall(sample))) if len(rest) != len(sample) else 0
    thai = len(sample) - len(rest) - cjk
    kana = sum(map(len, _KANA_RUN.findall(sample))) if cjk else 0
    hangul = sum(map(len, _HANGUL_RUN.findall(sample))) if cjk else 0
    other = sum(map(str.isalpha, rest))
    letters = cjk + thai + other
    if not letters:
        return "und"
    if cjk >= 0.2 * letters:
        if kana:
            return "ja"
        if hangul > cjk - hangul:
            return "ko"
        return "zh"
    if thai >= 0.2 * letters:
        return "th"
    language = _langid().classify(sample)[0]
    return language if language in _LANGUAGES else "und"

