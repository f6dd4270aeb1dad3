"""The shared dev sets (../shared/eval) as document collections: one file per article.

Each article becomes `<n>.txt`: its title as a first line, then its
paragraphs separated by blank lines (JSQuAD's `title [SEP] ` prefix is
dropped). Each question keeps the file and the answer's character range in
that file, so a hit can be judged by offsets alone.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

EVAL_DIR = Path(os.environ.get("DOCENT_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared" / "eval"))
SETS = {
    "en": EVAL_DIR / "xquad" / "xquad_dev.en.json",
    "ru": EVAL_DIR / "xquad" / "xquad_dev.ru.json",
    "ja": EVAL_DIR / "jsquad" / "jsquad_dev.ja.json",
}


@dataclass(frozen=True)
class Question:
    text: str
    path: str
    answer_start: int
    answer_end: int
    answer: str
    paragraph_start: int
    paragraph_end: int


def available(lang: str) -> bool:
    return SETS[lang].exists()


def build(lang: str, out_dir: Path) -> list[Question]:
    """Write the collection into out_dir; return its questions."""
    data = json.loads(SETS[lang].read_text(encoding="utf-8"))["data"]
    out_dir.mkdir(parents=True, exist_ok=True)
    questions: list[Question] = []
    for n, article in enumerate(data):
        path = out_dir / f"{n:03d}.txt"
        title = article.get("title", "").replace("_", " ")
        parts = [title]
        pos = len(title) + 2
        for para in article["paragraphs"]:
            context = para["context"]
            cut = 0
            if " [SEP] " in context[:200]:
                cut = context.index(" [SEP] ") + len(" [SEP] ")
            body = context[cut:]
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa.get("answers"):
                    continue
                answer = qa["answers"][0]
                start = answer["answer_start"] - cut
                if start < 0 or body[start : start + len(answer["text"])] != answer["text"]:
                    continue
                questions.append(
                    Question(qa["question"], str(path.resolve()), pos + start, pos + start + len(answer["text"]),
                             answer["text"], pos, pos + len(body))
                )
            parts.append(body)
            pos += len(body) + 2
        path.write_text("\n\n".join(parts), encoding="utf-8")
    return questions


def is_hit(question: Question, path: str, char_start: int, char_end: int) -> bool:
    return path == question.path and char_start <= question.answer_start and question.answer_end <= char_end
