"""The result of one grounded question: answer text, documents, citations, timings.

`Answer.to_json()` returns the `ask` object of DESIGN.md section 4 (a dict
ready for `json.dumps`); the keys after `model` are compatible extensions.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from assistant.citations import Aligner, Citation, CiteDoc, Unsupported, verdict_counts
from index.types import SourceDocument


@dataclass
class Answer:
    question: str
    answer: str
    relevant_doc_ids: list[int]
    documents: list[SourceDocument]          # as offered to the model; doc_id = index
    citations: list[Citation] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    language: str = "en"
    found: bool = True                        # False: step 1 named no document
    cancelled: bool = False
    step1_output: str = ""
    uncited_doc_ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mode: str = "generate"                    # "generate" or "quote" (assistant.protocol.MODES)
    mode_reason: str = ""                     # why this mode answered, for the user

    def to_json(self) -> dict[str, Any]:
        return {
            "relevant_doc_ids": list(self.relevant_doc_ids),
            "documents": [
                {
                    "doc_id": i,
                    "title": d.title,
                    "content": d.content,
                    "path": d.path,
                    "page": d.page,
                    "char_start": d.char_start,
                    "char_end": d.char_end,
                }
                for i, d in enumerate(self.documents)
            ],
            "answer": self.answer,
            "mode": self.mode,
            "citations": [c.to_json(self.answer) for c in self.citations],
            "unsupported": [u.to_json() for u in self.unsupported],
            "timings": dict(self.timings),
            "model": dict(self.model),
            # extensions
            "question": self.question,
            "language": self.language,
            "found": self.found,
            "cancelled": self.cancelled,
            "step1_output": self.step1_output,
            "uncited_doc_ids": list(self.uncited_doc_ids),
            "warnings": list(self.warnings),
            "mode_reason": self.mode_reason,
        }

    def counts(self) -> dict[str, int]:
        """Answer sentences per verdict (supported, partial, contradicted, unsupported)."""
        return verdict_counts(self.citations, self.unsupported)

    def json_text(self, indent: int | None = None) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=indent)


def grounded_answer(
    aligner: Aligner,
    *,
    question: str,
    text: str,
    chosen: list[int],
    documents: Sequence[SourceDocument],
    found: bool,
    timings: dict[str, Any],
    started: float,
    model: dict[str, Any],
    language: str,
    warnings: list[str],
    cancelled: bool = False,
    step1: str = "",
) -> Answer:
    """The Answer both pipelines (local and model server) return: the answer's sentences aligned
    to the chosen documents (only for a found, non-empty answer), and the timings closed."""
    t = time.perf_counter()
    cite_docs = [CiteDoc(i, documents[i].content, documents[i].char_start) for i in chosen]
    alignment = aligner.align(text, cite_docs, chosen) if found and text else None
    timings["citations_s"] = round(time.perf_counter() - t, 4)
    timings["total_s"] = round(time.perf_counter() - started, 4)
    return Answer(
        question=question,
        answer=text,
        relevant_doc_ids=chosen,
        documents=list(documents),
        citations=alignment.citations if alignment else [],
        unsupported=alignment.unsupported if alignment else [],
        uncited_doc_ids=alignment.uncited_doc_ids if alignment else [],
        timings=timings,
        model=model,
        language=language,
        found=found,
        cancelled=cancelled,
        step1_output=step1,
        warnings=warnings,
    )
