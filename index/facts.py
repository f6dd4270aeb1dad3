"""What makes a claim checkable: numbers, dates, names and polarity, with their offsets.

A sentence can share most of its words with a source and still say something
else: another year, another person, the opposite ("does not connect"). These
are the parts a reader checks first, so claim checking (assistant/verify.py)
requires them to be found in the source, and quoted answers prefer sentences
that hold them.

- numbers in the forms texts use: "1,000" "1 000" "1.000,5" "9288" "2.5 million"
  "3 тыс." "twenty" "двадцать" "三百" "5万"; a number keeps every value its
  surface can mean ("1,500" is 1500 or 1.5), two numbers agree when their
  values meet; percentages and units are kept beside the value;
- months ("May", "мая", "5月") as date parts; days and years are numbers;
- names: capitalised Latin or Cyrillic words not at a sentence start, Latin
  words inside Cyrillic or Japanese text, katakana runs;
- negations (en not/no/never/without, ru не/нет/ни/без, ja ない/ず/ません/なし)
  with the term each one governs, so "X does not connect Y" meets "X connects Y".

Everything is Qt-free and model-free: plain rules over index.analysis tokens.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from index import analysis

@lru_cache(maxsize=16384)
def tokens(text: str) -> tuple[analysis.Token, ...]:
    """analysis.tokens, cached: a source passage is checked against many sentences."""
    return tuple(analysis.tokens(text))


# Unit abbreviations read as the unit's word, so "9,288 km" meets "9,288 kilometres".
_UNIT_ALIASES = {
    "km": "kilometre", "m": "metre", "cm": "centimetre", "mm": "millimetre", "kg": "kilogram", "g": "gram",
    "mi": "mile", "ft": "foot", "lb": "pound", "lbs": "pound", "kw": "kilowatt", "mw": "megawatt",
    "км": "километр", "м": "метр", "см": "сантиметр", "мм": "миллиметр", "кг": "килограмм", "г": "грамм",
    "т": "тонна", "квт": "киловатт", "мвт": "мегаватт", "ч": "час", "мин": "минута", "сек": "секунда",
}


@lru_cache(maxsize=1024)
def _alias_term(word: str) -> str:
    return analysis.terms(_UNIT_ALIASES[word])[0]


@lru_cache(maxsize=16384)
def content_tokens(text: str) -> tuple[analysis.Token, ...]:
    """analysis.content_tokens, cached, with unit abbreviations as their unit's term ("km" -> "kilometr")."""
    return tuple(
        analysis.Token(t.start, t.end, _alias_term(t.word), t.kind, t.word) if t.word in _UNIT_ALIASES else t
        for t in tokens(text) if analysis.is_content(t)
    )


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９，．％", "0123456789,.%")


@dataclass(frozen=True)
class Fact:
    """One checkable part of a text: text[start:end] is its surface form.

    kind: "number", "month" or "name". values: what the surface can mean
    (numbers: every reading; months: the month number; names: the analyser's
    term). unit: "%" or a unit word's term next to a number ("" if none).
    """

    kind: str
    start: int
    end: int
    values: frozenset
    unit: str = ""
    year: bool = False
    spelled: bool = False  # a number word ("twenty", "первая"), not digits
    unit_end: int = 0      # where the unit after a number ends ("300人", "5 km"), else 0

    @property
    def stop(self) -> int:
        """The end of the fact with its unit."""
        return max(self.end, self.unit_end)

    def agrees(self, other: "Fact") -> bool:
        return self.kind == other.kind and bool(self.values & other.values)


@dataclass(frozen=True)
class Negation:
    """A negation word at [start, end) and the term it governs ("" when none was found)."""

    start: int
    end: int
    term: str


@dataclass
class Facts:
    numbers: list[Fact] = field(default_factory=list)
    months: list[Fact] = field(default_factory=list)
    names: list[Fact] = field(default_factory=list)
    negations: list[Negation] = field(default_factory=list)

    def all(self) -> list[Fact]:
        return sorted(self.numbers + self.months + self.names, key=lambda f: f.start)

    def __len__(self) -> int:
        return len(self.numbers) + len(self.months) + len(self.names)


# --------------------------------------------------------------------------
# numbers

_NUMBER = re.compile(
    r"(?<![0-9A-Za-z_.,])(?:"
    r"\d{1,3}(?:(?:,\d{3})+|(?:\.\d{3})+|(?:[ \u00a0\u202f\u2009]\d{3})+)(?:[.,]\d+)?(?![\d])"  # grouped
    r"|\d+(?:[.,]\d+)?"  # plain, decimal
    r")"
)
_MULTIPLIERS = {
    "hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "trillion": 10 ** 12,
    "тыс": 1_000, "тысяч": 1_000, "тысяча": 1_000, "тысячи": 1_000, "млн": 1_000_000, "миллион": 1_000_000,
    "миллиона": 1_000_000, "миллионов": 1_000_000, "млрд": 1_000_000_000, "миллиард": 1_000_000_000,
    "миллиарда": 1_000_000_000, "миллиардов": 1_000_000_000, "сотни": 100,
    "万": 10_000, "億": 100_000_000, "千": 1_000, "百": 100, "兆": 10 ** 12,
}
_PERCENT = {"%", "percent", "per cent", "процент", "процента", "процентов", "パーセント", "％"}
_UNIT_AFTER = re.compile(r"\s*(%|[^\W\d_]+)")


def _readings(surface: str) -> set[float]:
    """Every value a digit string can mean: "1,500" -> {1500, 1.5}; "1.000,5" -> {1000.5}."""
    s = surface.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2009", " ")
    out: set[float] = set()
    if " " in s:  # "20 000,5": spaces group thousands, a comma is the decimal point
        try:
            out.add(float(s.replace(" ", "").replace(",", ".")))
        except ValueError:
            pass
        return out
    commas, dots = s.count(","), s.count(".")
    candidates = []
    if commas and dots:  # the last separator is the decimal one
        if s.rfind(",") > s.rfind("."):
            candidates.append(s.replace(".", "").replace(",", "."))
        else:
            candidates.append(s.replace(",", ""))
    elif commas or dots:
        sep = "," if commas else "."
        parts = s.split(sep)
        if all(len(p) == 3 for p in parts[1:]):
            candidates.append(s.replace(sep, ""))  # thousands
        if len(parts) == 2:
            candidates.append(parts[0] + "." + parts[1])  # decimal
    else:
        candidates.append(s)
    for c in candidates:
        try:
            out.add(float(c))
        except ValueError:
            pass
    return out


_EN_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10,
}
# Russian number words by stem (inflected forms share it): два, двух, двум, двумя ...
_RU_NUMBER_STEMS = [
    ("одиннадцат", 11), ("двенадцат", 12), ("тринадцат", 13), ("четырнадцат", 14), ("пятнадцат", 15),
    ("шестнадцат", 16), ("семнадцат", 17), ("восемнадцат", 18), ("девятнадцат", 19),
    ("двадцат", 20), ("тридцат", 30), ("сорок", 40), ("пятьдесят", 50), ("пятидесят", 50),
    ("шестьдесят", 60), ("шестидесят", 60), ("семьдесят", 70), ("семидесят", 70), ("восемьдесят", 80),
    ("восьмидесят", 80), ("девяност", 90), ("двест", 200), ("двухсот", 200), ("трист", 300), ("трехсот", 300),
    ("четырест", 400), ("пятьсот", 500), ("пятисот", 500),
    ("одн", 1), ("один", 1), ("перв", 1), ("два", 2), ("две", 2), ("двух", 2), ("двум", 2), ("втор", 2),
    ("три", 3), ("трех", 3), ("трем", 3), ("трет", 3), ("четыр", 4), ("четвер", 4), ("пят", 5),
    ("шест", 6), ("сем", 7), ("седьм", 7), ("восем", 8), ("восьм", 8), ("девят", 9), ("десят", 10),
    ("сто", 100), ("ста", 100),
]
_RU_NUMBER_EXACT = {
    "один", "одна", "одно", "одного", "одной", "одному", "одним", "два", "две", "двух", "двум", "двумя",
    "три", "трех", "трем", "тремя", "четыре", "четырех", "четырем", "пять", "пяти", "пятью", "шесть", "шести",
    "семь", "семи", "восемь", "восьми", "девять", "девяти", "десять", "десяти", "сто", "ста",
    "первый", "первая", "первое", "первого", "первой", "первом", "первые", "первых",
    "второй", "вторая", "второе", "второго", "втором", "вторые", "третий", "третья", "третье", "третьего",
    "третьей", "третьем", "четвертый", "четвертая", "четвертого", "пятый", "пятая", "пятого",
    "шестой", "седьмой", "восьмой", "девятый", "десятый",
}


def _ru_number_word(word: str) -> int | None:
    if word in _RU_NUMBER_EXACT or re.fullmatch(
        r"(одиннадцат|двенадцат|тринадцат|четырнадцат|пятнадцат|шестнадцат|семнадцат|восемнадцат|"
        r"девятнадцат|двадцат|тридцат)(ь|и|ью|ый|ая|ое|ого|ом|ой|ых|ые)|сорок[аи]?|сороков\w*|"
        r"(пять|шесть|семь|восемь)десят\w*|(пяти|шести|семи|восьми)десят\w*|девяност\w*|"
        r"двест[иа]|двухсот\w*|трист[аи]|трехсот\w*|четырест[аи]|четырехсот\w*|пятьсот|пятисот\w*",
        word,
    ):
        for stem, value in _RU_NUMBER_STEMS:
            if word.startswith(stem):
                return value
    return None


_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_SMALL = {"十": 10, "百": 100, "千": 1000}
_KANJI_LARGE = {"万": 10_000, "億": 100_000_000, "兆": 10 ** 12}
_KANJI_RUN = re.compile(r"[〇零一二三四五六七八九十百千万億兆]+")
# A kanji numeral counts only before a counter or unit: 一般, 統一, 十分 are words, not numbers.
_JA_COUNTERS = (
    "年月日人名個回歳才度本枚冊匹頭羽台件種階位番倍円割分秒時週世紀つヶか箇カ軒隻機基社校国点票"
)


def kanji_value(run: str) -> int | None:
    """三百 -> 300, 二千五百 -> 2500, 一万二千 -> 12000, 十 -> 10; None for what is not a numeral."""
    total = section = digit = 0
    seen = False
    for ch in run:
        if ch in _KANJI_DIGITS:
            if seen and digit:  # 一九九一: positional digits
                digit = digit * 10 + _KANJI_DIGITS[ch]
            else:
                digit = _KANJI_DIGITS[ch]
            seen = True
        elif ch in _KANJI_SMALL:
            section += (digit or 1) * _KANJI_SMALL[ch]
            digit, seen = 0, False
        elif ch in _KANJI_LARGE:
            total += (section + digit or 1) * _KANJI_LARGE[ch]
            section = digit = 0
            seen = False
        else:
            return None
    return total + section + digit


def _unit_after(text: str, end: int) -> tuple[str, int]:
    """The unit word after a number ("%" / the next word's term) and where it ends."""
    if end < len(text) and text[end] in "%％":
        return "%", end + 1
    m = _UNIT_AFTER.match(text, end)
    if not m or m.start(1) - end > 1:
        return "", end
    word = analysis.normalize(m.group(1))
    if analysis.is_cjk(word[:1]):
        if word.startswith("パーセント"):
            return "%", m.start(1) + 5
        return word[:1], m.start(1) + 1
    if word in _PERCENT:
        return "%", m.end(1)
    if word in _UNIT_ALIASES:
        return _alias_term(word), m.end(1)
    if analysis.is_stopword(word):
        return "", end
    terms = analysis.terms(word)
    return (terms[0] if terms else ""), m.end(1)


def _multiplier_at(text: str, end: int) -> tuple[int, int]:
    m = re.compile(r"[ \u00a0]?([^\W\d_]+)\.?").match(text, end)
    if m:
        w = analysis.normalize(m.group(1))
        if w in _MULTIPLIERS and not analysis.is_cjk(w[:1]) or w[:1] in "万億兆千":
            key = w if w in _MULTIPLIERS else w[:1]
            stop = m.end(1) if not analysis.is_cjk(w[:1]) else m.start(1) + 1
            return _MULTIPLIERS[key], stop
    return 1, end


def numbers(text: str) -> list[Fact]:
    """Numbers in text with all their readings, units and multipliers ("2.5 million", "5万", "двадцать")."""
    folded = text.translate(_FULLWIDTH_DIGITS)
    out: list[Fact] = []
    taken: list[tuple[int, int]] = []
    for m in _NUMBER.finditer(folded):
        values = _readings(m.group())
        if not values:
            continue
        mult, stop = _multiplier_at(folded, m.end())
        if mult != 1:
            values = values | {v * mult for v in values}
        unit, unit_end = _unit_after(folded, stop)
        is_year = bool(re.fullmatch(r"\d{4}", m.group())) and 1000 <= int(m.group()) <= 2100
        out.append(Fact("number", m.start(), m.end(), frozenset(values), unit, is_year,
                        unit_end=unit_end if unit else 0))
        taken.append((m.start(), m.end()))
    for m in _KANJI_RUN.finditer(folded):
        after = folded[m.end() : m.end() + 1]
        before = folded[m.start() - 1 : m.start()] if m.start() else ""
        run = m.group()
        if before.isdigit() and run[0] in _KANJI_LARGE:  # "5万": the multiplier was read with the digits
            continue
        if not (after and after in _JA_COUNTERS or before == "第" or len(run) >= 2 and run[-1] in "十百千万億"):
            continue
        value = kanji_value(run)
        if value is None or (len(run) == 1 and run in _KANJI_LARGE):
            continue
        unit = after if after and after in _JA_COUNTERS else ""
        out.append(Fact("number", m.start(), m.end(), frozenset({float(value)}), unit,
                        unit_end=m.end() + 1 if unit else 0))
    for tok in tokens(text):
        if tok.kind != "word":
            continue
        value = _EN_NUMBER_WORDS.get(tok.word)
        if value is None and analysis.is_cyrillic(tok.word[:1]):
            value = _ru_number_word(tok.word)
        if value is None:
            continue
        mult, stop = _multiplier_at(text, tok.end)
        values = {float(value), float(value * mult)}
        unit, _ = _unit_after(text, stop)
        out.append(Fact("number", tok.start, tok.end, frozenset(values), unit, spelled=True))
    out.sort(key=lambda f: f.start)
    return out


# --------------------------------------------------------------------------
# months

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}
_RU_MONTHS = [("январ", 1), ("феврал", 2), ("март", 3), ("апрел", 4), ("ма", 5), ("июн", 6), ("июл", 7),
              ("август", 8), ("сентябр", 9), ("октябр", 10), ("ноябр", 11), ("декабр", 12)]
_RU_MONTH = re.compile(r"(январ|феврал|март|апрел|ма|июн|июл|август|сентябр|октябр|ноябр|декабр)(ь|я|е|ю|ем|й|ю|а|е)?")
_JA_MONTH = re.compile(r"(\d{1,2}|[一二三四五六七八九十]+)月")


def months(text: str) -> list[Fact]:
    out: list[Fact] = []
    for tok in tokens(text):
        if tok.kind != "word":
            continue
        value = None
        if tok.word in _MONTHS:
            surface = text[tok.start:tok.end]
            # "may" the verb and "march" the walk are lower case; the months are written capitalised
            if tok.word in ("may", "march") and not surface[:1].isupper():
                continue
            value = _MONTHS[tok.word]
        else:
            m = _RU_MONTH.fullmatch(tok.word)
            if m and (m.group(1) != "ма" or tok.word in ("мая", "май", "мае", "маю", "маем")):
                value = dict(_RU_MONTHS)[m.group(1)]
        if value is not None:
            out.append(Fact("month", tok.start, tok.end, frozenset({value})))
    folded = text.translate(_FULLWIDTH_DIGITS)
    for m in _JA_MONTH.finditer(folded):
        raw = m.group(1)
        value = int(raw) if raw.isdigit() else kanji_value(raw)
        if value and 1 <= value <= 12:
            out.append(Fact("month", m.start(), m.end(), frozenset({value})))
    return out


# --------------------------------------------------------------------------
# names

_KATAKANA_RUN = re.compile(r"[\u30a1-\u30fa\u30fc\u30fb\uff66-\uff9f]{2,}")
_SENTENCE_OPEN = re.compile(r"(^|[.!?…。！？\n]\s*[\"'«„“‘(\[「『—–-]*\s*)$")


def _at_sentence_start(text: str, start: int) -> bool:
    return bool(_SENTENCE_OPEN.search(text[max(0, start - 8):start]))


def names(text: str, language: str | None = None) -> list[Fact]:
    """Names: capitalised words not at a sentence start, Latin words in non-Latin text, katakana runs."""
    language = language or analysis.detect_language(text)
    out: list[Fact] = []
    for tok in tokens(text):
        if tok.kind != "word" or len(tok.word) < 2:
            continue
        surface = text[tok.start:tok.end]
        latin = surface[:1].isascii() and surface[:1].isalpha()
        foreign = latin and language not in ("en", "und")  # "Apple" or "iPhone" in Russian or Japanese text
        capital = surface[:1].isupper() and not _at_sentence_start(text, tok.start)
        if not (foreign or capital) or analysis.is_stopword(tok.word) or tok.word in analysis.NEGATIONS.get(language, ()):
            continue
        if tok.word in _MONTHS or _RU_MONTH.fullmatch(tok.word):
            continue
        out.append(Fact("name", tok.start, tok.end, frozenset({tok.term})))
    for m in _KATAKANA_RUN.finditer(text):
        run = analysis.normalize(m.group()).strip("・ー")
        if len(run) >= 2:
            out.append(Fact("name", m.start(), m.end(), frozenset({run})))
    return out


# --------------------------------------------------------------------------
# polarity

_EN_NT = re.compile(r"\b\w+n[’']t\b", re.IGNORECASE)
# ja: negative endings; 少ない/危ない and the like are adjectives, not negations.
_JA_NEG = re.compile(r"(?<![少危幼汚切つまらくだ])ない|ません|なかっ|(?<=[かさたなまらがざばわけせてねめれげぜべえし])ず(?![つ])|なし|ぬ(?=[。、])")


def negations(text: str, language: str | None = None) -> list[Negation]:
    """Negation words with the term each governs: the next content term (en, ru), the previous one (ja)."""
    toks = tokens(text)
    content = [t for t in toks if t.kind != "word" or (len(t.word) > 1 and not analysis.is_stopword(t.word))]
    words = analysis.NEGATIONS["en"] | analysis.NEGATIONS["ru"]
    out: list[Negation] = []

    def following(pos: int) -> str:
        return next((t.term for t in content if t.start >= pos and t.term not in words), "")

    def preceding(pos: int) -> str:
        strong = [t for t in content if t.end <= pos and t.kind == "cjk" and not _hiragana(t.term)]
        if strong and pos - strong[-1].end <= 4:
            return strong[-1].term
        plain = [t for t in content if t.end <= pos]
        return plain[-1].term if plain else ""

    for t in toks:
        if t.kind == "word" and t.word in words and t.word != "n't":
            out.append(Negation(t.start, t.end, following(t.end)))
    for m in _EN_NT.finditer(text):
        out.append(Negation(m.start(), m.end(), following(m.end())))
    for m in _JA_NEG.finditer(text):
        out.append(Negation(m.start(), m.end(), preceding(m.start())))
    out.sort(key=lambda n: n.start)
    return out


def _hiragana(term: str) -> bool:
    return all(0x3040 <= ord(c) <= 0x309F or c == "ー" for c in term)


# --------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def facts(text: str, language: str | None = None) -> Facts:
    """Everything checkable in `text` (cached: documents are checked against many sentences)."""
    language = language or analysis.detect_language(text)
    nums = numbers(text)
    mons = [m for m in months(text) if not any(n.start <= m.start < n.end for n in nums)]
    return Facts(nums, mons, names(text, language), negations(text, language))


@lru_cache(maxsize=16384)
def number_keys(text: str) -> frozenset[str]:
    """One key per value a number of `text` can have: "9 288", "9,288" and "9288" share "#9288"."""
    return frozenset(f"#{v:g}" for f in numbers(text) if not f.spelled for v in f.values)


def checkable_count(text: str, language: str | None = None) -> int:
    """How many numbers, dates and names a sentence states: quoted answers prefer the sentences that have some."""
    return len(facts(text, language))
