"""The result of one grounded question: answer text, documents, citations, timings.

`Answer.to_json()` returns the `ask` object of DESIGN.md section 4 (a dict
ready for `json.dumps`); the keys after `model` are compatible extensions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from assistant.citations import Citation, Unsupported
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
            "citations": [c.to_json() for c in self.citations],
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
        }

    def json_text(self, indent: int | None = None) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=indent)
