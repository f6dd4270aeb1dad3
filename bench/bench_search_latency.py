"""Hybrid search latency on a synthetic corpus of 10k, 30k and 100k passages.

Passage texts are drawn from the dev-set vocabulary (Zipf-like, mixed en/ru/ja);
vectors are random unit vectors written straight into Chroma (embedding 100k
passages would take most of an hour on 2 cores and does not change search cost).
Queries are real dev-set questions, embedded by the real model: the timing covers
the whole `KnowledgeBase.search` call (BM25 + query embedding + Chroma + fusion).
Target (issue 2): p95 <= 100 ms at 100k.
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


def vocabulary(tmp: Path) -> tuple[list[str], list[str]]:
    words: list[str] = []
    questions: list[str] = []
    for lang in ("en", "ru", "ja"):
        if not evalsets.available(lang):
            continue
        qs = evalsets.build(lang, tmp / "src" / lang)
        questions.extend(q.text for q in qs)
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


def measure(kb: KnowledgeBase, questions: list[str], n: int) -> list[float]:
    times = []
    for q in questions[:n]:
        started = time.perf_counter()
        kb.search(q, 10)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--queries", type=int, default=200)
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
            for target in (int(s) for s in args.sizes.split(",")):
                started = time.perf_counter()
                grow(kb, words, size, target, rng)
                size = target
                build = time.perf_counter() - started
                kb.search(questions[0], 10)
                times = sorted(measure(kb, questions, args.queries))
                p50 = statistics.median(times)
                p95 = times[int(0.95 * (len(times) - 1))]
                rows.append((size, p50, p95, max(times), build))
                print(f"{size:7d} passages: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {max(times):6.1f} ms  (+{build:.0f} s to build)", flush=True)
            if len(rows) > 1:
                print(f"growth {rows[0][0]} -> {rows[-1][0]} passages: p50 x{rows[-1][1] / rows[0][1]:.2f}, p95 x{rows[-1][2] / rows[0][2]:.2f}")
            print(f"target: p95 <= 100 ms at 100k -> {'met' if rows[-1][2] <= 100 else 'NOT met'} ({rows[-1][2]:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
