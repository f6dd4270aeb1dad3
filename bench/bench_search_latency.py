"""Hybrid search latency on a synthetic corpus of 10k, 30k and 100k passages.

Passage texts are drawn from the dev-set vocabulary (Zipf-like, mixed en/ru/ja);
vectors are random unit vectors written straight into Chroma (embedding 100k
passages would take most of an hour on 2 cores and does not change search cost).
Queries are real dev-set questions in every dev language, embedded by the real model
(the multilingual default runs the dense ranker for every language it knows): the
timing covers the whole `KnowledgeBase.search` call (BM25 + query embedding + Chroma
+ fusion), reported overall, per question language and for the queries whose dense
ranker ran. Target (issues 2, 13): p95 <= 100 ms at 100k, in every language.
Usage: python bench/bench_search_latency.py [--sizes 10000,30000,100000] [--queries 200]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import evalsets  # noqa: E402
from index.catalog import NewPassage  # noqa: E402
from index.kb import KnowledgeBase  # noqa: E402

PASSAGES_PER_FILE = 20


def vocabulary(tmp: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Passage words (en, ru, ja texts) and (language, question) pairs of every dev language."""
    words: list[str] = []
    questions: list[tuple[str, str]] = []
    for lang in evalsets.SETS:
        if not evalsets.available(lang):
            continue
        qs = evalsets.build(lang, tmp / "src" / lang)
        questions.extend((lang, q.text) for q in qs[:100])
        if lang not in ("en", "ru", "ja"):
            continue
        for path in (tmp / "src" / lang).glob("*.txt"):
            text = path.read_text(encoding="utf-8")
            if lang == "ja":
                words.extend(text[i : i + 3] for i in range(0, len(text) - 3, 3))
            else:
                words.extend(text.split())
    return words, questions


def grow(kb: KnowledgeBase, words: list[str], start: int, stop: int, rng: random.Random) -> None:
    dim = kb.embedder.dimension
    for f in range(start // PASSAGES_PER_FILE, stop // PASSAGES_PER_FILE):
        texts = []
        for _ in range(PASSAGES_PER_FILE):
            n = rng.randint(60, 160)
            texts.append(" ".join(words[int(rng.paretovariate(1.1)) % len(words)] if rng.random() < 0.5 else rng.choice(words) for _ in range(n)))
        digest = hashlib.blake2b(f"synthetic{f}".encode(), digest_size=16).hexdigest()
        full = "\n\n".join(texts)
        passages, pos = [], 0
        for i, t in enumerate(texts):
            passages.append(NewPassage(i, None, pos, pos + len(t), t))
            pos += len(t) + 2
        vectors = np.asarray([v / np.linalg.norm(v) for v in np.random.default_rng(f).standard_normal((len(texts), dim))], dtype=np.float32)
        kb.vectors.upsert(digest, vectors)
        kb.catalog.begin()
        kb.catalog.store_indexed(f"/synthetic/{f}.txt", size=len(full), mtime_ns=0, content_hash=digest, title=f"doc {f}",
                                 fmt="txt", encoding="utf-8", text=full, passages=passages)
        kb.catalog.commit()


def measure(kb: KnowledgeBase, questions: list[tuple[str, str]], n: int) -> list[tuple[str, bool, float]]:
    """(language, dense ranker ran, milliseconds) per query."""
    from index.search import dense_weight_for

    out = []
    for lang, q in questions[:n]:
        dense = dense_weight_for(kb.settings, kb.embedder, q) > 0
        started = time.perf_counter()
        kb.search(q, 10)
        out.append((lang, dense, (time.perf_counter() - started) * 1000))
    return out


def p50_p95(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--queries", type=int, default=390, help="questions, about 30 per language")
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="docent-bench-search-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("DOCENT_HOME", str(tmp / "home"))
        words, questions = vocabulary(tmp)
        rng.shuffle(questions)
        with KnowledgeBase.open(tmp / "kb") as kb:
            kb.search("warm up", 1)
            size = 0
            rows = []
            worst: dict[str, float] = {}  # p95 per question language at the largest size
            for target in (int(s) for s in args.sizes.split(",")):
                started = time.perf_counter()
                grow(kb, words, size, target, rng)
                size = target
                build = time.perf_counter() - started
                kb.search(questions[0][1], 10)
                measured = measure(kb, questions, args.queries)
                times = [ms for _, _, ms in measured]
                p50, p95 = p50_p95(times)
                rows.append((size, p50, p95, max(times), build))
                dense = [ms for _, d, ms in measured if d]
                print(f"{size:7d} passages: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {max(times):6.1f} ms  (+{build:.0f} s to build); "
                      f"dense ranker ran for {len(dense)}/{len(measured)} queries", flush=True)
                if dense:
                    print("         with the dense ranker: p50 %6.1f ms  p95 %6.1f ms" % p50_p95(dense))
                for lang in dict.fromkeys(lang for lang, _, _ in measured):
                    mine = [ms for lg, _, ms in measured if lg == lang]
                    worst[lang] = p50_p95(mine)[1]
                    print(f"         {lang}: p50 %6.1f ms  p95 %6.1f ms  ({len(mine)} queries)" % p50_p95(mine))
            if len(rows) > 1:
                print(f"growth {rows[0][0]} -> {rows[-1][0]} passages: p50 x{rows[-1][1] / rows[0][1]:.2f}, p95 x{rows[-1][2] / rows[0][2]:.2f}")
            slow = sorted(lang for lang, p95 in worst.items() if p95 > 100)
            met = rows[-1][2] <= 100 and not slow
            print(f"target: p95 <= 100 ms at {rows[-1][0]} in every language -> {'met' if met else 'NOT met'} "
                  f"({rows[-1][2]:.1f} ms overall{'; over in ' + ', '.join(slow) if slow else ''})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
