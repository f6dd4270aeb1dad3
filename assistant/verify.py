"""Check any text against the whole knowledge base: a verdict and a citation for every sentence.

Each sentence's candidate passages come from hybrid search (the sentence is
the query; all sentences of a batch embedded in one pass); the aligner
(assistant/citations.py) picks the span inside them and gives the verdict.
Retrieval passages have fixed boundaries, so their sentence splits and
terms are computed once and reused by every sentence that retrieves them. Offsets follow search: for every citation,
`quote == extracted_text[char_start:char_end]`. The result is the `verify`
object of DESIGN.md section 4.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from assistant.citations import UNSUPPORTED, VERDICTS, Aligner, CiteDoc, missing_json
from index.analysis import content_terms
from index.sentences import split_sentences
from index.types import SourceDocument

log = logging.getLogger("docent.verify")

DEFAULT_K = 4


@dataclass
class CheckedSentence:
    start: int
    end: int
    text: str
    verdict: str
    document: SourceDocument | None = None
    span_start: int = 0   # offsets in the file's extracted text
    span_end: int = 0
    quote: str = ""
    missing: list[tuple[int, int]] = field(default_factory=list)
    conflict: dict | None = None

    def to_json(self, full_text: str) -> dict[str, Any]:
        citation = None
        if self.document is not None:
            d = self.document
            citation = {"path": d.path, "title": d.title, "page": d.page,
                        "char_start": self.span_start, "char_end": self.span_end, "quote": self.quote}
        return {
            "start": self.start, "end": self.end, "text": self.text, "verdict": self.verdict,
            "citation": citation, "missing": missing_json(self.missing, full_text),
            "conflict": dict(self.conflict) if self.conflict else None,
        }


@dataclass
class VerifyResult:
    text: str
    sentences: list[CheckedSentence]

    def counts(self) -> dict[str, int]:
        out = {v: 0 for v in VERDICTS}
        for s in self.sentences:
            out[s.verdict] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {"sentences": [s.to_json(self.text) for s in self.sentences], "counts": self.counts()}


def search_many(kb, queries: list[str], k: int, mode: str = "hybrid") -> list[list]:
    """Hybrid search for many queries at once: one embedding pass for all of them, then per query
    BM25, nearest vectors and index.search.combine: the fusion search itself uses."""
    from index import search as s

    catalog = kb.catalog
    limit = max(s.CANDIDATES, k * 3)
    embedder = kb.embedder
    weights = [s.dense_weight_for(kb.settings, embedder, q) if mode == "hybrid" else 0.0 for q in queries]
    dense_hits: dict[int, list] = {}
    wanted = [i for i, w in enumerate(weights) if w > 0]
    if wanted and kb.vectors_available():
        try:
            vectors = kb.vectors
            embedded = kb.embedder.embed_queries([queries[i] for i in wanted])
            for i, vector in zip(wanted, embedded):
                dense_hits[i] = (vector, vectors.query(vector, limit))
        except Exception as exc:  # noqa: BLE001 - as in search: a broken vector store leaves BM25 working
            log.warning("vector search unavailable (%s); lexical ranking only", exc)
            dense_hits.clear()
    out = []
    for i, query in enumerate(queries):
        lexical = s.lexical_ranking(catalog, query, limit)
        dense = s.Ranking([], {})
        if i in dense_hits:
            vector, hits = dense_hits[i]
            dense = s.dense_ranking(catalog, kb.vectors, kb.embedder, query, limit, hits=hits, vector=vector)
        fused = s.combine(kb.settings, lexical, dense, weights[i], k, mode)
        passages = catalog.passages_by_ids([pid for pid, _, _ in fused])
        out.append([passages[pid] for pid, _, _ in fused if pid in passages])
    return out


class Verifier:
    """Verifies texts against one open knowledge base (kept for many texts: caches stay warm)."""

    def __init__(self, kb, k: int = DEFAULT_K, aligner: Aligner | None = None, mode: str = "hybrid"):
        self.kb = kb
        self.k = k
        self.mode = mode  # "hybrid" or "lexical" (no embedding pass)
        self.aligner = aligner or Aligner()

    def check_sentence(self, text: str, start: int, end: int, passages: list) -> CheckedSentence:
        """text[start:end] judged against its candidate passages (retrieval passages: fixed, so cached)."""
        sentence = text[start:end]
        docs = [CiteDoc(i, p.text, p.char_start) for i, p in enumerate(passages)]
        check = self.aligner.check(text, start, end, {d.doc_id: d for d in docs}, self.aligner.prepare(docs))
        out = CheckedSentence(start, end, sentence, check.verdict, missing=check.missing)
        if check.verdict == UNSUPPORTED or check.doc_id is None:
            out.missing = []
            return out
        p = passages[check.doc_id]
        out.document = SourceDocument(p.title, p.text, p.path, p.page, p.char_start, p.char_end)
        out.span_start = p.char_start + check.span_start
        out.span_end = p.char_start + check.span_end
        out.quote = p.text[check.span_start:check.span_end]
        if check.conflict:
            conflict = dict(check.conflict)
            conflict["source_start"] += p.char_start
            conflict["source_end"] += p.char_start
            out.conflict = conflict
        return out

    def verify_many(self, texts: list[str]) -> list[VerifyResult]:
        """Several texts, their sentences searched in one batch."""
        spans = [[(a, b) for a, b in split_sentences(t) if content_terms(t[a:b])] for t in texts]
        queries = [t[a:b] for t, ss in zip(texts, spans) for a, b in ss]
        found = iter(search_many(self.kb, queries, self.k, self.mode))
        return [VerifyResult(t, [self.check_sentence(t, a, b, next(found)) for a, b in ss])
                for t, ss in zip(texts, spans)]

    def verify(self, text: str) -> VerifyResult:
        """Every sentence of `text` that has content, checked against the knowledge base."""
        return self.verify_many([text])[0]
