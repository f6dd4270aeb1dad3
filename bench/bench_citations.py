"""Citation alignment on the dev sets: does the highlighted span hold the gold answer?

For every question of xquad (ru, en) and jsquad (ja): the article's paragraphs
(joined into one "file", paragraphs chunked to <= 4000 characters) are the
documents; an answer sentence is built from the question and its gold answer;
the aligner cites it.  A hit = the cited span lies inside the gold paragraph
and its quote contains the gold answer.  Prints the hit rate per language
(target >= 0.90 each).

    python bench/bench_citations.py [--limit N] [--eval DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.citations import Aligner, CiteDoc  # noqa: E402

DEFAULT_EVAL = ROOT.parent / "shared" / "eval"
SETS = {
    "ru": "xquad/xquad_dev.ru.json",
    "en": "xquad/xquad_dev.en.json",
    "ja": "jsquad/jsquad_dev.ja.json",
}
MAX_DOC = 4000
SEP = "\n\n"


def article_documents(paragraphs: list[str]) -> tuple[str, list[tuple[int, int]], list[CiteDoc]]:
    """Join paragraphs into one file text; documents are <= 4000-char chunks of each paragraph."""
    text_parts, bounds, docs = [], [], []
    pos = 0
    for para in paragraphs:
        bounds.append((pos, pos + len(para)))
        for k in range(0, len(para), MAX_DOC):
            docs.append(CiteDoc(len(docs), para[k:k + MAX_DOC], pos + k))
        text_parts.append(para)
        pos += len(para) + len(SEP)
    return SEP.join(text_parts), bounds, docs


def answer_sentence(question: str, answer: str, lang: str) -> tuple[str, int]:
    """A plain answer sentence built from the question and the gold answer; returns (text, answer offset)."""
    q = question.strip().rstrip("?？。.").strip()
    if lang == "ja":
        head = f"{q}、"
        return f"{head}{answer}。", len(head)
    head = f"{q}: "
    return f"{head}{answer}.", len(head)


def run(lang: str, path: Path, limit: int | None, aligner: Aligner) -> tuple[int, int, int]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    hits = total = unsupported = 0
    for article in data:
        paragraphs = [p["context"] for p in article["paragraphs"]]
        file_text, bounds, docs = article_documents(paragraphs)
        for p_index, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa["answers"]:
                    continue
                if limit is not None and total >= limit:
                    return hits, total, unsupported
                total += 1
                gold = qa["answers"][0]["text"]
                sentence, ans_at = answer_sentence(qa["question"], gold, lang)
                result = aligner.align(sentence, docs)
                cite = next(
                    (c for c in result.citations if c.answer_start <= ans_at < c.answer_end), None
                )
                if cite is None:
                    unsupported += 1
                    continue
                assert file_text[cite.span_start:cite.span_end] == cite.quote
                g0, g1 = bounds[p_index]
                answers = {a["text"] for a in qa["answers"]}
                if g0 <= cite.span_start and cite.span_end <= g1 and any(a in cite.quote for a in answers):
                    hits += 1
    return hits, total, unsupported


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="questions per language")
    ap.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    args = ap.parse_args(argv)
    aligner = Aligner()
    ok = True
    print(f"{'lang':4} {'questions':>9} {'hit rate':>9} {'unsupported':>11} {'seconds':>8}")
    for lang, rel in SETS.items():
        path = args.eval / rel
        if not path.exists():
            print(f"{lang:4} missing {path}")
            ok = False
            continue
        t0 = time.perf_counter()
        hits, total, unsupported = run(lang, path, args.limit, aligner)
        rate = hits / total if total else 0.0
        ok &= rate >= 0.90
        print(f"{lang:4} {total:9d} {rate:9.3f} {unsupported:11d} {time.perf_counter() - t0:8.1f}")
    print("target >= 0.90 per language:", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
