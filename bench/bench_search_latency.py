"""Hybrid search latency on a synthetic corpus of 10k, 30k and 100k passages.

Passage texts are drawn from the dev-set vocabulary (Zipf-like, mixed en/ru/ja);
vectors are random unit vectors written straight into Chroma, each passage with five
sentence vectors beside it as the default model stores them (index/sentence_vectors.py;
embedding 100k passages would take most of an hour on 2 cores and does not change search cost).
Queries are real dev-set questions in every dev language, embedded by the real model
(the multilingual default runs the dense ranker for every language it knows): the
timing covers the whole `KnowledgeBase.search` call (BM25 + query embedding + Chroma
+ fusion), reported overall, per question language and for the queries whose dense
ranker ran; then each ranker alone (mode lexical, mode dense: query embedding + Chroma),
per language too. Target (issues 2, 13): p95 <= 100 ms at 100k, in every language, hybrid and dense.
Building 100k passages takes minutes: `--cache DIR` keeps the knowledge base between runs
(build it once without the timing lock, e.g. `--sizes 100000 --queries 0 --cache /tmp/x`).
Usage: python bench/bench_search_latency.py [--sizes 10000,30000,100000] [--queries 390] [--cache DIR]
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


SENTENCES_PER_PASSAGE = 5


def synthetic_vectors(f: int, dim: int) -> tuple[str, np.ndarray, list[np.ndarray]]:
    """(content hash, passage vectors, units) of synthetic file `f`: the same every time, so a cached
    knowledge base built before units were stored can get them afterwards."""
    gen = np.random.default_rng(f)
    vectors = gen.standard_normal((PASSAGES_PER_FILE, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    units = []
    for v in vectors:
        sentences = v + gen.standard_normal((SENTENCES_PER_PASSAGE, dim)).astype(np.float32) * 0.05
        sentences /= np.linalg.norm(sentences, axis=1, keepdims=True)
        units.append(np.vstack([v[None, :], sentences]).astype(np.float16))
    return hashlib.blake2b(f"synthetic{f}".encode(), digest_size=16).hexdigest(), vectors, units


def add_missing_units(where: Path, dim: int) -> None:
    """Units for a cached knowledge base this bench built before it wrote them."""
    import sqlite3

    from index.sentence_vectors import SentenceStore

    if not (where / "catalog.sqlite").exists():
        return
    db = sqlite3.connect(where / "catalog.sqlite")
    files = db.execute("SELECT count(*) FROM files").fetchone()[0]
    db.close()
    store = SentenceStore(where / "chroma")
    try:
        if files and store.count() == 0:
            print(f"adding sentence vectors to the {files} cached files", flush=True)
            for f in range(files):
                digest, _, units = synthetic_vectors(f, dim)
                store.put([f"{digest}#{n}" for n in range(PASSAGES_PER_FILE)], units)
    finally:
        store.close()


def grow(kb: KnowledgeBase, words: list[str], start: int, stop: int, rng: random.Random) -> None:
    dim = kb.embedder.dimension
    for f in range(start // PASSAGES_PER_FILE, stop // PASSAGES_PER_FILE):
        texts = []
        for _ in range(PASSAGES_PER_FILE):
            n = rng.randint(60, 160)
            texts.append(" ".join(words[int(rng.paretovariate(1.1)) % len(words)] if rng.random() < 0.5 else rng.choice(words) for _ in range(n)))
        digest, vectors, units = synthetic_vectors(f, dim)
        full = "\n\n".join(texts)
        passages, pos = [], 0
        for i, t in enumerate(texts):
            passages.append(NewPassage(i, None, pos, pos + len(t), t))
            pos += len(t) + 2
        kb.vectors.upsert_many([(digest, len(texts))], vectors, units=units)
        kb.catalog.begin()
        kb.catalog.store_indexed(f"/synthetic/{f}.txt", size=len(full), mtime_ns=0, content_hash=digest, title=f"doc {f}",
                                 fmt="txt", encoding="utf-8", text=full, passages=passages)
        kb.catalog.commit()


def measure(kb: KnowledgeBase, questions: list[tuple[str, str]], n: int, mode: str = "hybrid") -> list[tuple[str, bool, float]]:
    """(language, dense ranker ran, milliseconds) per query."""
    from index.search import dense_weight_for

    out = []
    for lang, q in questions[:n]:
        dense = mode == "dense" or (mode == "hybrid" and dense_weight_for(kb.settings, kb.embedder, q) > 0)
        started = time.perf_counter()
        kb.search(q, 10, mode)
        out.append((lang, dense, (time.perf_counter() - started) * 1000))
    return out


def per_language(measured: list[tuple[str, bool, float]], label: str) -> dict[str, float]:
    """Print p50/p95 per question language; return the p95s."""
    p95s = {}
    cells = []
    for lang in sorted(dict.fromkeys(lang for lang, _, _ in measured)):
        mine = [ms for lg, _, ms in measured if lg == lang]
        p50, p95s[lang] = p50_p95(mine)
        cells.append(f"{lang} {p50:5.1f}/{p95s[lang]:5.1f}")
    print(f"         {label} p50/p95 ms per language: " + ", ".join(cells))
    return p95s


def p50_p95(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--queries", type=int, default=390, help="questions, about 30 per language")
    ap.add_argument("--cache", type=Path, default=None, help="keep the synthetic knowledge base here between runs")
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="docent-bench-search-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("DOCENT_HOME", str(tmp / "home"))
        words, questions = vocabulary(tmp)
        rng.shuffle(questions)
        where = args.cache or tmp / "kb"
        with KnowledgeBase.open(where) as kb:
            if args.cache is not None:
                add_missing_units(where, kb.embedder.dimension)
            kb.search("warm up", 1)
            size = kb.catalog.counts()["passages"]
            if size % PASSAGES_PER_FILE or (size and args.cache is None):
                raise SystemExit(f"{where} is not a knowledge base this bench built")
            rows = []
            worst: dict[str, float] = {}  # p95 per question language and mode at the largest size
            for target in (int(s) for s in args.sizes.split(",")):
                if target < size:
                    continue  # a cached knowledge base is larger already
                started = time.perf_counter()
                grow(kb, words, size, target, rng)
                size = target
                build = time.perf_counter() - started
                if not args.queries:
                    print(f"{size:7d} passages built (+{build:.0f} s)", flush=True)
                    continue
                kb.search(questions[0][1], 10)
                load = os.getloadavg()[0]
                measured = measure(kb, questions, args.queries)
                times = [ms for _, _, ms in measured]
                p50, p95 = p50_p95(times)
                rows.append((size, p50, p95, max(times), build))
                dense = [ms for _, d, ms in measured if d]
                print(f"{size:7d} passages: hybrid p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {max(times):6.1f} ms  (+{build:.0f} s to build; "
                      f"load {load:.2f}); dense ranker ran for {len(dense)}/{len(measured)} queries", flush=True)
                if dense:
                    print("         hybrid with the dense ranker: p50 %6.1f ms  p95 %6.1f ms" % p50_p95(dense))
                worst = {f"hybrid {lang}": p95 for lang, p95 in per_language(measured, "hybrid").items()}
                for mode in ("lexical", "dense"):
                    alone = measure(kb, questions, args.queries, mode)
                    print(f"         {mode} alone: p50 %6.1f ms  p95 %6.1f ms" % p50_p95([ms for _, _, ms in alone]))
                    worst.update({f"{mode} {lang}": p95 for lang, p95 in per_language(alone, mode).items()})
            if not rows:
                return 0
            if len(rows) > 1:
                print(f"growth {rows[0][0]} -> {rows[-1][0]} passages: p50 x{rows[-1][1] / rows[0][1]:.2f}, p95 x{rows[-1][2] / rows[0][2]:.2f}")
            slow = sorted(name for name, p95 in worst.items() if p95 > 100 and not name.startswith("lexical"))
            met = rows[-1][2] <= 100 and not slow
            print(f"target: p95 <= 100 ms at {rows[-1][0]} in every language, hybrid and dense -> {'met' if met else 'NOT met'} "
                  f"({rows[-1][2]:.1f} ms overall{'; over in ' + ', '.join(slow) if slow else ''})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
