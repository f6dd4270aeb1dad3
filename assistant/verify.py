"""Check any text against the whole knowledge base: a verdict and a citation for every sentence.

Each sentence's candidate passages come from hybrid search (the sentence is
the query; index.search.search_many: all sentences of a batch embedded in one
pass and looked up in one vector-store call); the aligner
(assistant/citations.py) picks the span inside them and gives the verdict.
Retrieval passages have fixed boundaries, so their sentence splits and
terms are computed once and reused by every sentence that retrieves them. Offsets follow search: for every citation,
`quote == extracted_text[char_start:char_end]`. The result is the `verify`
object of DESIGN.md section 4.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.citations import UNSUPPORTED, VERDICTS, Aligner, CiteDoc, missing_json
from index.analysis import content_terms
from index.search import search_many
from index.sentences import split_sentences
from index.types import SourceDocument

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
        found = iter([hit.passage for hit in hits] for hits in search_many(self.kb, queries, self.k, self.mode))
        return [VerifyResult(t, [self.check_sentence(t, a, b, next(found)) for a, b in ss])
                for t, ss in zip(texts, spans)]

    def verify(self, text: str) -> VerifyResult:
        """Every sentence of `text` that has content, checked against the knowledge base."""
        return self.verify_many([text])[0]
