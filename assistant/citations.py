"""Sentence-level citations: which document span backs each answer sentence.

Method (lexical, no model): the answer is split into sentences (ru/en/ja
aware); every selected document is split the same way into candidate spans
(single sentences and pairs of adjacent sentences).  Texts become the
analyser's content terms (index.analysis: stems, CJK bigrams, numbers).  A candidate's score is the share of the
answer sentence's term weight (IDF over the candidate spans) that it
contains: "how much of this sentence does this passage support".  The best
candidate above a threshold becomes the citation; the rest is `unsupported`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from index.analysis import content_terms as terms
from index.sentences import split_sentences


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
