"""Sample questions for the first start: one each in Russian, English and Japanese.

Qt-free. They come from index/sample_docs/questions.json (the sample
documents' own question set, with gold answers) and are ones that quote mode
answers with the gold answer, so a new user's first click gets a good answer
without a chat model (tests/test_gui_verdicts.py checks both).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from index.config import sample_docs_dir

SAMPLE_QUESTIONS = (   # in the order shown
    "Когда началось строительство Транссибирской магистрали?",
    "How does Docent recognise a renamed file?",
    "わび茶を大成したのは誰ですか？",
)


def sample_questions() -> list[str]:
    """The sample questions still present in questions.json (the sample set may change)."""
    try:
        known = {q["question"] for q in json.loads((sample_docs_dir() / "questions.json").read_text("utf-8"))}
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [q for q in SAMPLE_QUESTIONS if q in known]


def is_sample_kb(kb) -> bool:
    """True when the knowledge base indexes the sample documents folder."""
    sample = os.path.normcase(str(Path(sample_docs_dir()).resolve()))
    try:
        roots = kb.catalog.roots()
    except Exception:  # noqa: BLE001 - a closed or remote catalog: no samples, nothing else changes
        return False
    return any(os.path.normcase(str(Path(r).resolve())) == sample for r in roots)
