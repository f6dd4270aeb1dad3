"""Name keys: a proper name recognised across Latin and Cyrillic script.

A question in one language over documents in another shares no words with them, yet it
usually names someone or something: "What did Marlee Matlin translate?" is answered by
"... Марли Мэтлин перевела ...". Dense vectors alone often place such a question next to the
right article but on the wrong paragraph of it. A name's key is its consonant skeleton after a
plain Russian-to-Latin transliteration: vowels, h, y, v and w dropped (Bowl is Боул, Washington
Вашингтон), c and q read as k, z as s, j as dzh, doubled letters once. Matlin and Мэтлин are both
"mtln"; Luther and Лютера "ltr"; Broncos and Бронкос "brnks"; John and Джон "dsn". A key matches a longer one it begins (Russian case endings), so
Норманны meets Normans.

Only capitalised words are names; a question's sentence-initial word (its question word) is
not. Search adds the rarity-weighted share of a question's name keys that a candidate passage
written mainly in the other script holds (index/search.py): on the dev sets +4.7 points of
recall@1 for en>ru and +3.1 for ru>en, +3-4 on either half of the articles, and no change to
any monolingual set. Greek, Arabic, Devanagari and CJK names are not keyed: a rule cannot bridge
those spellings as cheaply, and dense search serves them alone.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from index.analysis import passage_script, word_script

KEYED = frozenset({"latin", "cyrillic"})
MIN_PREFIX = 3  # keys this short must match whole: "ms" would begin too many names

_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяєіїґў",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t",
     "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya", "e", "i", "i", "g", "u"]))
_LETTERS = str.maketrans({"c": "k", "q": "k", "z": "s"})
_DROP = re.compile(r"[aeiouyhvw]")
_VOWELS = set("aeiou")
_DOUBLE = re.compile(r"(.)\1+")
# a word opening with a letter that may be a capital of a keyed script (isupper() decides)
_CAPITALISED = re.compile(r"(?<![^\W\d_])[A-Z\u00c0-\u00de\u0100-\u024f\u1e00-\u1eff\u0400-\u042f\u0460-\u052f][^\W\d_]*")
_PLAIN = re.compile(r"[a-z]+")
_OPENS_SENTENCE = set(".?!:;\"«„“(¿¡")


def key(word: str) -> str:
    """The consonant skeleton of a Latin or Cyrillic word ('' for a word in another script)."""
    text = "".join(_CYRILLIC.get(ch, ch) for ch in word.lower())
    text = _strip_marks(text).replace("ph", "f").replace("ck", "k").replace("x", "ks").replace("j", "dzh").translate(_LETTERS)
    opens = "a" if text[:1] in _VOWELS else ""  # Омск is not Moscow: a name opening with a vowel keeps one
    text = opens + _DOUBLE.sub(r"\1", _DROP.sub("", text))
    return text if _PLAIN.fullmatch(text) else ""


def _strip_marks(text: str) -> str:
    """é -> e, ç -> c: accented Latin names are spelled without marks in Russian."""
    if text.isascii():
        return text
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def matches(question_key: str, passage_key: str) -> bool:
    if len(question_key) < MIN_PREFIX:
        return question_key == passage_key
    if passage_key.startswith(question_key):
        return True
    return len(passage_key) >= MIN_PREFIX and len(passage_key) >= len(question_key) - 1 \
        and question_key.startswith(passage_key)


def _keyed(text: str):
    """(match, script, key) of each capitalised Latin or Cyrillic word of `text` that has a key."""
    for m in _CAPITALISED.finditer(text):
        word = m.group()
        if word[0].isupper():
            script = word_script(word)
            if script in KEYED:
                k = key(word)
                if k:
                    yield m, script, k


def question_names(text: str) -> list[tuple[str, str]]:
    """(key, script) of the question's names: capitalised Latin or Cyrillic words that do not open
    a sentence, each once."""
    out: dict[str, str] = {}
    for m, script, k in _keyed(text):
        before = text[: m.start()].rstrip()
        if before and before[-1] not in _OPENS_SENTENCE and len(k) >= 2:
            out.setdefault(k, script)
    return list(out.items())


@lru_cache(maxsize=4096)
def passage_names(text: str, main: str) -> frozenset[str]:
    """Keys of a passage's capitalised words in its main script (analysis.passage_script).
    Sentence-initial words count (a Russian sentence often opens with a name); words in the other
    script do not: a Russian passage quoting an English title is still Russian, and BM25 matches the title."""
    return frozenset(k for _, script, k in _keyed(text) if script == main)


def spans(names: list[tuple[str, str]], text: str) -> list[tuple[int, int]]:
    """[start, end) of the words of `text` that spell one of the question's names in another script:
    what the app marks in a result whose language differs from the question's."""
    return [(m.start(), m.end()) for m, script, k in _keyed(text)
            if any(other != script and matches(q, k) for q, other in names)]


def held(names: list[tuple[str, str]], text: str) -> list[int]:
    """Indexes of the question's names that `text`, written mainly in another script, holds."""
    main = passage_script(text)
    if main not in KEYED or all(script == main for _, script in names):
        return []  # the common case, the question's script: no word of the passage needs a key
    keys = passage_names(text, main)
    return [i for i, (k, script) in enumerate(names) if script != main and any(matches(k, pk) for pk in keys)]
