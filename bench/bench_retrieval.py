"""Retrieval quality on the dev sets: recall@1, recall@5 and MRR per language and ranker.

Targets (issue 2): recall@5 >= 0.97 ru/en, >= 0.95 ja; recall@1 >= 0.90 ru/en, >= 0.88 ja;
hybrid never worse than the better single ranker.
Usage: python bench/bench_retrieval.py [--langs en,ru,ja] [--modes lexical,dense,hybrid]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import evalsets  # noqa: E402
from index.kb import KnowledgeBase  # noqa: E402


def evaluate(kb, questions, mode: str, k: int = 10) -> dict:
    r1 = r5 = mrr = 0.0
    started = time.perf_counter()
    for q in questions:
        hits = kb.search(q.text, k, mode)
        rank = next(
            (h.rank for h in hits if evalsets.is_hit(q, h.passage.path, h.passage.char_start, h.passage.char_end)), None
        )
        if rank is not None:
            r1 += rank == 1
            r5 += rank <= 5
            mrr += 1.0 / rank
    n = len(questions) or 1
    return {
        "recall@1": round(r1 / n, 4), "recall@5": round(r5 / n, 4), "mrr": round(mrr / n, 4),
        "questions": len(questions), "ms_per_query": round((time.perf_counter() - started) * 1000 / n, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--langs", default="en,ru,ja")
    ap.add_argument("--modes", default="lexical,dense,hybrid")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="docent-retrieval-") as tmp:
        for lang in args.langs.split(","):
            if not evalsets.available(lang):
                print(f"{lang}: dev set not found under {evalsets.EVAL_DIR}", file=sys.stderr)
                continue
            questions = evalsets.build(lang, Path(tmp) / lang / "docs")
            with KnowledgeBase.open(Path(tmp) / lang / "kb") as kb:
                kb.index([str(Path(tmp) / lang / "docs")])
                for mode in args.modes.split(","):
                    results[(lang, mode)] = evaluate(kb, questions, mode)
    if args.json:
        print(json.dumps({f"{l}/{m}": v for (l, m), v in results.items()}, indent=2))
    else:
        print(f"{'lang':4} {'ranker':8} {'R@1':>6} {'R@5':>6} {'MRR':>6} {'n':>5} {'ms/q':>6}")
        for (lang, mode), r in results.items():
            print(f"{lang:4} {mode:8} {r['recall@1']:6.3f} {r['recall@5']:6.3f} {r['mrr']:6.3f} {r['questions']:5d} {r['ms_per_query']:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
