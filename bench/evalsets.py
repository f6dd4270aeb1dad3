"""The shared dev sets (../shared/eval) as document collections: one file per article.

Each article becomes `<n>.txt`: its title as a first line, then its
paragraphs separated by blank lines (JSQuAD's `title [SEP] ` prefix is
dropped). Each question keeps the file and the answer's character range in
that file, so a hit can be judged by offsets alone.

XQuAD is parallel (the same questions, ids and articles in 12 languages), so
a cross-language set takes its documents and answer offsets from one language
and its question texts from another, matched by question id.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

EVAL_DIR = Path(os.environ.get("DOCENT_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared" / "eval"))
XQUAD_LANGS = ("en", "ru", "de", "es", "zh", "ar", "hi", "th", "tr", "vi", "el", "ro")
SETS = {lang: EVAL_DIR / "xquad" / f"xquad_dev.{lang}.json" for lang in XQUAD_LANGS}
SETS["ja"] = EVAL_DIR / "jsquad" / "jsquad_dev.ja.json"


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
    return lang in SETS and SETS[lang].exists()


def parallel(doc_lang: str, question_lang: str) -> bool:
    """Whether questions in one language can be asked of the other's documents (same question ids)."""
    return doc_lang in XQUAD_LANGS and question_lang in XQUAD_LANGS and available(doc_lang) and available(question_lang)


def build(lang: str, out_dir: Path) -> list[Question]:
    """Write the collection into out_dir; return its questions."""
    return build_set(lang, out_dir)[0]


def build_set(lang: str, out_dir: Path, question_lang: str | None = None) -> tuple[list[Question], int]:
    """Write `lang`'s collection into out_dir; return its questions (texts in `question_lang`, by default
    `lang`) and how many questions could not be used (no answer, an answer not found at its offset, no
    translation of the question)."""
    data = json.loads(SETS[lang].read_text(encoding="utf-8"))["data"]
    texts: dict[str, str] | None = None
    if question_lang and question_lang != lang:
        other = json.loads(SETS[question_lang].read_text(encoding="utf-8"))["data"]
        texts = {qa["id"]: qa["question"] for a in other for p in a["paragraphs"] for qa in p["qas"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    questions: list[Question] = []
    unusable = 0
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
                    unusable += 1
                    continue
                answer = qa["answers"][0]
                start = answer["answer_start"] - cut
                if start < 0 or body[start : start + len(answer["text"])] != answer["text"]:
                    unusable += 1
                    continue
                text = qa["question"] if texts is None else texts.get(qa["id"])
                if not text:
                    unusable += 1
                    continue
                questions.append(
                    Question(text, str(path.resolve()), pos + start, pos + start + len(answer["text"]),
                             answer["text"], pos, pos + len(body))
                )
            parts.append(body)
            pos += len(body) + 2
        path.write_text("\n\n".join(parts), encoding="utf-8")
    return questions, unusable


def is_hit(question: Question, path: str, char_start: int, char_end: int) -> bool:
    return path == question.path and char_start <= question.answer_start and question.answer_end <= char_end
