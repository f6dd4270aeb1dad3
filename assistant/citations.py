"""Sentence-level citations: which document span backs each answer sentence.

Method (lexical, no model): the answer is split into sentences (ru/en/ja
aware); every selected document is split the same way into candidate spans
(single sentences and pairs of adjacent sentences).  Texts become *terms*:
Snowball stems for Cyrillic/Latin words (PyStemmer), character bigrams for
CJK runs, numbers as they are.  A candidate's score is the share of the
answer sentence's term weight (IDF over the candidate spans) that it
contains: "how much of this sentence does this passage support".  The best
candidate above a threshold becomes the citation; the rest is `unsupported`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from assistant.language import is_cjk, is_cyrillic

# --------------------------------------------------------------------------
# sentence splitting

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


# --------------------------------------------------------------------------
# terms

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP_EN = set(
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this that "
    "these those there here what which who whom whose when where why how do does did done not no yes so than "
    "then too very can could should would will shall may might must have has had having i you he she we they "
    "me him her us them my your his our their into over under about also just only such".split()
)
_STOP_RU = set(
    "и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее её мне было вот "
    "от меня еще ещё нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас нибудь "
    "опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам "
    "чтоб без будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом "
    "один почти мой тем чтобы нее неё сейчас были куда зачем всех никогда можно при наконец два об другой хоть "
    "после над больше тот через эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой "
    "перед иногда лучше чуть том нельзя такой им более всегда конечно всю между это сколько какие каком каких "
    "какое каков какова каково".split()
)


@lru_cache(maxsize=2)
def _stemmer(lang: str):
    try:
        import Stemmer  # PyStemmer

        return Stemmer.Stemmer(lang)
    except Exception:  # pragma: no cover - PyStemmer is a pinned dependency
        return None


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    lang = "russian" if any(is_cyrillic(c) for c in word) else "english"
    stemmer = _stemmer(lang)
    return stemmer.stemWord(word) if stemmer is not None else word


def terms(text: str) -> list[str]:
    """Match terms: stems (ru/en, stopwords dropped), numbers, CJK character bigrams."""
    out: list[str] = []
    for m in _WORD.finditer(text.lower().replace("ё", "е")):
        word = m.group()
        if any(is_cjk(c) for c in word):
            for seg in _CJK_SPLIT.findall(word):
                if is_cjk(seg[0]):
                    if len(seg) == 1:
                        out.append(seg)
                    out.extend(seg[k:k + 2] for k in range(len(seg) - 1))
                else:
                    _word_term(seg, out)
            continue
        _word_term(word, out)
    return out


_CJK_SPLIT = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\u31f0-\u31ff]+"
    r"|[^\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\u31f0-\u31ff]+"
)


def _word_term(word: str, out: list[str]) -> None:
    if word in _STOP_EN or word in _STOP_RU:
        return
    if word.isdigit():
        out.append(word)
    elif len(word) > 1:
        out.append(_stem(word))


def _is_weak(term: str) -> bool:
    """Hiragana-only bigrams and single kana are mostly grammar, not content."""
    return all(0x3040 <= ord(c) <= 0x309F or c in "ー" for c in term)


# --------------------------------------------------------------------------
# alignment


@dataclass(frozen=True)
class Citation:
    answer_start: int
    answer_end: int
    doc_id: int
    quote: str
    span_start: int       # offsets in the file's extracted text
    span_end: int
    score: float = 0.0

    def to_json(self) -> dict:
        return {
            "answer_start": self.answer_start,
            "answer_end": self.answer_end,
            "doc_id": self.doc_id,
            "quote": self.quote,
            "span_start": self.span_start,
            "span_end": self.span_end,
        }


@dataclass(frozen=True)
class Unsupported:
    answer_start: int
    answer_end: int

    def to_json(self) -> dict:
        return {"answer_start": self.answer_start, "answer_end": self.answer_end}


@dataclass
class Alignment:
    citations: list[Citation] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    uncited_doc_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CiteDoc:
    """A document as the aligner sees it: id, text, and where the text sits in its file."""

    doc_id: int
    content: str
    char_start: int = 0


@dataclass
class _Candidate:
    doc_id: int
    start: int            # offsets inside content
    end: int
    terms: frozenset
    window: bool = False  # two adjacent sentences


@lru_cache(maxsize=4096)
def _doc_candidates(content: str) -> tuple[tuple[int, int, frozenset], ...]:
    sents = split_sentences(content)
    sent_terms = [frozenset(terms(content[a:b])) for a, b in sents]
    out = [(a, b, t) for (a, b), t in zip(sents, sent_terms)]
    for k in range(len(sents) - 1):
        out.append((sents[k][0], sents[k + 1][1], sent_terms[k] | sent_terms[k + 1]))
    return tuple(out)


class Aligner:
    """Aligns answer sentences to document spans.

    threshold: the minimum share of the sentence's term weight a span must contain.
    """

    def __init__(self, threshold: float = 0.3, min_matched_terms: int = 2, window_gain: float = 0.0):
        self.threshold = threshold
        self.min_matched_terms = min_matched_terms
        self.window_gain = window_gain  # a two-sentence span must add this much recall to beat one sentence

    def _prepare(self, docs: Sequence[CiteDoc]) -> tuple[list[_Candidate], dict[str, float]]:
        candidates: list[_Candidate] = []
        sentence_terms: list[frozenset] = []
        for doc in docs:
            sentences = _doc_candidates(doc.content)
            n_single = (len(sentences) + 1) // 2
            for k, (a, b, t) in enumerate(sentences):
                candidates.append(_Candidate(doc.doc_id, a, b, t, k >= n_single))
        for c in candidates:
            sentence_terms.append(c.terms)
        n = max(len(sentence_terms), 1)
        df: dict[str, int] = {}
        for t in sentence_terms:
            for term in t:
                df[term] = df.get(term, 0) + 1
        idf = {term: math.log(1 + n / d) for term, d in df.items()}
        return candidates, idf

    def align_sentence(
        self, sentence: str, docs: Sequence[CiteDoc], prepared=None
    ) -> tuple[_Candidate | None, float]:
        candidates, idf = prepared or self._prepare(docs)
        sent_terms = set(terms(sentence))
        if not sent_terms or not candidates:
            return None, 0.0
        unseen = math.log(1 + max(len(candidates), 1))  # a term no document has: full weight
        weights = {t: idf.get(t, unseen) * (0.3 if _is_weak(t) else 1.0) for t in sent_terms}
        total = sum(weights.values())
        best, best_key = None, (0.0, 0.0, 0)
        for c in candidates:
            common = sent_terms & c.terms
            if not common:
                continue
            recall = sum(weights[t] for t in common) / total
            span_weight = sum(idf.get(t, unseen) for t in c.terms) or 1.0
            precision = sum(idf.get(t, unseen) for t in common) / span_weight
            if c.window:
                recall -= self.window_gain
            key = (round(recall, 6), round(precision, 6), -(c.end - c.start))
            if key > best_key:
                best, best_key = c, key
        if best is None:
            return None, 0.0
        if best.window:
            best_key = (best_key[0] + self.window_gain,) + best_key[1:]
        matched = len(sent_terms & best.terms)
        recall = best_key[0]
        if recall < self.threshold or matched < min(self.min_matched_terms, len(sent_terms)):
            return None, recall
        return best, recall

    def align(self, answer: str, docs: Sequence[CiteDoc], cited_ids: Sequence[int] | None = None) -> Alignment:
        """Cite every sentence of `answer` from `docs`; ids in cited_ids that support nothing are reported."""
        by_id = {d.doc_id: d for d in docs}
        prepared = self._prepare(docs)
        result = Alignment()
        for a, b in split_sentences(answer):
            sentence = answer[a:b]
            if not terms(sentence):
                continue  # punctuation, a lone "Итак:" - nothing to support
            best, score = self.align_sentence(sentence, docs, prepared)
            if best is None:
                result.unsupported.append(Unsupported(a, b))
                continue
            doc = by_id[best.doc_id]
            result.citations.append(
                Citation(
                    answer_start=a,
                    answer_end=b,
                    doc_id=best.doc_id,
                    quote=doc.content[best.start:best.end],
                    span_start=doc.char_start + best.start,
                    span_end=doc.char_start + best.end,
                    score=round(score, 4),
                )
            )
        cited = {c.doc_id for c in result.citations}
        ids = list(cited_ids) if cited_ids is not None else [d.doc_id for d in docs]
        result.uncited_doc_ids = [i for i in ids if i not in cited]
        return result
