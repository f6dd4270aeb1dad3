"""Sentence-level citations with a verdict: which span backs each answer sentence, and how.

Method (lexical, no model): the answer is split into sentences (index/sentences);
every document is split the same way into candidate spans (single sentences
and pairs of adjacent sentences). Texts become the analyser's content terms
(index/analysis: stems, CJK bigrams, numbers). A candidate's score is the
share of the sentence's term weight (IDF over the candidate spans; numbers
and names count double) that it contains. The best few candidates are judged
by assistant/verdicts.py, inside their document: supported, partial,
contradicted or unsupported. Supported, partial and contradicted sentences
get a Citation (the span that supports them, or the one that says otherwise);
unsupported ones are listed apart.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from typing import Sequence

from index.analysis import content_terms as terms
from index.facts import content_tokens
from index.sentences import split_sentences
from assistant.verdicts import (  # noqa: F401 - re-exported: one place to import verdict names from
    CONTRADICTED, PARTIAL, RANK, SUPPORTED, UNSUPPORTED, VERDICTS, Claim, Judgement, Rules, comparable_terms,
    is_weak, judge,
)

FACT_GAIN = 2.0   # numbers and names weigh this much more when choosing a span
TOP = 3           # candidates judged per sentence


@dataclass(frozen=True)
class Citation:
    answer_start: int
    answer_end: int
    doc_id: int
    quote: str
    span_start: int       # offsets in the file's extracted text
    span_end: int
    score: float = 0.0
    verdict: str = SUPPORTED
    missing: tuple[tuple[int, int], ...] = ()   # answer offsets of words the source does not hold
    conflict: dict | None = None                 # {"claim", "source", answer and file offsets}
    checked_by: str = "rules"                    # "model" when the model check set the verdict

    def to_json(self, answer: str | None = None) -> dict:
        out = {
            "answer_start": self.answer_start,
            "answer_end": self.answer_end,
            "doc_id": self.doc_id,
            "quote": self.quote,
            "span_start": self.span_start,
            "span_end": self.span_end,
            "verdict": self.verdict,
            "missing": missing_json(self.missing, answer),
            "conflict": dict(self.conflict) if self.conflict else None,
            "checked_by": self.checked_by,
        }
        return out


def missing_json(missing: Sequence[tuple[int, int]], text: str | None) -> list[dict]:
    return [{"start": a, "end": b, **({"text": text[a:b]} if text is not None else {})} for a, b in missing]


@dataclass(frozen=True)
class Unsupported:
    answer_start: int
    answer_end: int
    checked_by: str = "rules"   # "model": the model check found it not in the source

    def to_json(self) -> dict:
        return {"answer_start": self.answer_start, "answer_end": self.answer_end, "verdict": UNSUPPORTED,
                "checked_by": self.checked_by}


@dataclass
class Alignment:
    citations: list[Citation] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    uncited_doc_ids: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return verdict_counts(self.citations, self.unsupported)


def verdict_counts(citations: Sequence[Citation], unsupported: Sequence[Unsupported]) -> dict[str, int]:
    """Sentences per verdict, every verdict present (0 when none)."""
    out = {v: 0 for v in VERDICTS}
    for c in citations:
        out[c.verdict] += 1
    out[UNSUPPORTED] += len(unsupported)
    return out


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
    sent_terms = [comparable_terms(content_tokens(content[a:b]), content[a:b]) for a, b in sents]
    out = [(a, b, t) for (a, b), t in zip(sents, sent_terms)]
    for k in range(len(sents) - 1):
        out.append((sents[k][0], sents[k + 1][1], sent_terms[k] | sent_terms[k + 1]))
    return tuple(out)


@lru_cache(maxsize=1024)
def _doc_terms(content: str) -> frozenset:
    return comparable_terms(content_tokens(content), content)


@dataclass
class Prepared:
    """Candidate spans of a set of documents, with IDF over them."""

    candidates: list[_Candidate]
    idf: dict[str, float]
    unseen: float
    span_weight: list[float]         # sum of idf over each candidate's terms


@lru_cache(maxsize=64)
def _prepare(docs: tuple[tuple[int, str], ...]) -> Prepared:
    candidates: list[_Candidate] = []
    for doc_id, content in docs:
        sentences = _doc_candidates(content)
        n_single = (len(sentences) + 1) // 2
        for k, (a, b, t) in enumerate(sentences):
            candidates.append(_Candidate(doc_id, a, b, t, k >= n_single))
    n = max(len(candidates), 1)
    df = Counter(chain.from_iterable(c.terms for c in candidates))  # counted at C speed: this runs per sentence
    idf = {term: math.log(1 + n / count) for term, count in df.items()}
    span_weight = [sum(map(idf.__getitem__, c.terms)) or 1.0 for c in candidates]
    return Prepared(candidates, idf, math.log(1 + n), span_weight)


@dataclass
class SentenceCheck:
    """One sentence's verdict and the span it rests on (None when unsupported)."""

    start: int
    end: int
    verdict: str
    doc_id: int | None = None
    span_start: int = 0   # offsets inside the document's content
    span_end: int = 0
    recall: float = 0.0
    missing: list[tuple[int, int]] = field(default_factory=list)  # offsets in the checked text
    conflict: dict | None = None                                   # claim_* in the text, source_* in content
    absent: float = 0.0   # share of the sentence's weight found in neither the span nor its document


class Aligner:
    """Aligns answer sentences to document spans and gives each a verdict.

    threshold: the minimum share of the sentence's term weight a span must contain to be cited at all.
    """

    def __init__(self, threshold: float = 0.3, min_matched_terms: int = 2, rules: Rules | None = None):
        self.rules = rules or Rules(min_recall=threshold, min_matched=min_matched_terms)
        self.threshold = self.rules.min_recall

    def prepare(self, docs: Sequence[CiteDoc]) -> Prepared:
        return _prepare(tuple((d.doc_id, d.content) for d in docs))

    def _ranked(self, claim: Claim, prepared: Prepared) -> tuple[list[tuple[float, _Candidate]], dict[str, float]]:
        fact_terms = _fact_terms(claim)
        weights = {t: prepared.idf.get(t, prepared.unseen) * (0.3 if is_weak(t) else 1.0) for t in claim.terms}
        choose = {t: w * (FACT_GAIN if t in fact_terms else 1.0) for t, w in weights.items()}
        total = sum(choose.values()) or 1.0
        recall: dict[int, float] = {}
        shared: dict[int, float] = {}
        idf = prepared.idf
        for i, c in enumerate(prepared.candidates):
            common = claim.terms & c.terms
            if common:
                recall[i] = sum(map(choose.__getitem__, common))
                shared[i] = sum(map(idf.__getitem__, common))
        cands = prepared.candidates
        scored = sorted(
            ((round(r / total, 6), round(shared[i] / prepared.span_weight[i], 6), -(cands[i].end - cands[i].start)), i)
            for i, r in recall.items()
        )
        scored.reverse()
        return [(key[0], cands[i]) for key, i in scored[:TOP]], weights

    def check(self, text: str, start: int, end: int, docs: dict[int, CiteDoc], prepared: Prepared) -> SentenceCheck:
        """The verdict of text[start:end] against the prepared documents."""
        sentence = text[start:end]
        claim = Claim.of(sentence)
        if not claim.terms or not prepared.candidates:
            return SentenceCheck(start, end, UNSUPPORTED)
        ranked, weights = self._ranked(claim, prepared)
        max_idf = prepared.unseen
        # The best-ranked span speaks for the sentence; a lower-ranked one replaces it only
        # when it supports the sentence with more of its words (another document saying it fully).
        best: tuple | None = None
        for _, c in ranked:
            content = docs[c.doc_id].content
            j = judge(claim, weights, content[c.start:c.end], c.terms, content, _doc_terms(content),
                      self.rules, max_idf)
            if best is None:
                best = (j, c)
                if j.verdict == SUPPORTED:
                    break
            elif j.verdict == SUPPORTED and j.recall > best[0].recall:
                best = (j, c)
                break
        if best is None or best[0].verdict == UNSUPPORTED:
            return SentenceCheck(start, end, UNSUPPORTED, recall=best[0].recall if best else 0.0)
        j, c = best
        conflict = None
        if j.conflict:
            conflict = dict(j.conflict)
            conflict["claim_start"] += start
            conflict["claim_end"] += start
            conflict["source_start"] += c.start
            conflict["source_end"] += c.start
        return SentenceCheck(start, end, j.verdict, c.doc_id, c.start, c.end, round(j.recall, 4),
                             [(a + start, b + start) for a, b in j.missing], conflict, round(j.absent, 4))

    def check_text(self, text: str, docs: Sequence[CiteDoc]) -> list[SentenceCheck]:
        """Every sentence of `text` with content, checked against `docs`."""
        by_id = {d.doc_id: d for d in docs}
        prepared = self.prepare(docs)
        return [self.check(text, a, b, by_id, prepared) for a, b in split_sentences(text) if terms(text[a:b])]

    def align(self, answer: str, docs: Sequence[CiteDoc], cited_ids: Sequence[int] | None = None) -> Alignment:
        """Cite every sentence of `answer` from `docs`; ids in cited_ids that support nothing are reported."""
        by_id = {d.doc_id: d for d in docs}
        result = Alignment()
        for s in self.check_text(answer, docs):
            if s.verdict == UNSUPPORTED:
                result.unsupported.append(Unsupported(s.start, s.end))
                continue
            doc = by_id[s.doc_id]
            result.citations.append(citation_of(s, doc))
        ids = list(cited_ids) if cited_ids is not None else [d.doc_id for d in docs]
        result.uncited_doc_ids = uncited_ids(result.citations, ids)
        return result


def uncited_ids(citations: Sequence[Citation], ids: Sequence[int]) -> list[int]:
    """The ids among `ids` that support no sentence (a contradicting span supports nothing)."""
    cited = {c.doc_id for c in citations if c.verdict != CONTRADICTED}
    return [i for i in ids if i not in cited]


def citation_of(s: SentenceCheck, doc: CiteDoc) -> Citation:
    conflict = None
    if s.conflict:
        conflict = dict(s.conflict)
        conflict["source_start"] += doc.char_start
        conflict["source_end"] += doc.char_start
    return Citation(
        answer_start=s.start, answer_end=s.end, doc_id=doc.doc_id,
        quote=doc.content[s.span_start:s.span_end],
        span_start=doc.char_start + s.span_start, span_end=doc.char_start + s.span_end,
        score=s.recall, verdict=s.verdict, missing=tuple(s.missing), conflict=conflict,
    )


def _fact_terms(claim: Claim) -> set[str]:
    out = set()
    for f in claim.facts.all():
        out.update(t.term for t in claim.tokens if f.start <= t.start < f.end)
    return out
