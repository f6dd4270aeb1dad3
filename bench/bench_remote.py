"""Shared knowledge base on a Chroma server vs a local one: search latency side by side.

One collection (the dev-set articles in en/ru/ja, real MiniLM vectors) is indexed
twice: into a local knowledge base and, through `chroma run` on loopback, into a
shared one. A second client then pulls the shared one (its lexical replica is
built from the server). The same questions are asked of all three, interleaved,
so machine noise hits them alike. Target (issue 7): remote search latency
<= 1.5x local. Also printed: indexing time remote/local and the pull time.

With --synthetic 10000,30000 the collection is instead grown to those sizes
the way bench_search_latency.py grows it (dev-set vocabulary, random unit
vectors written straight in; for the shared side through the same store calls
the indexer makes, passage texts included), and the second client pulls it.

Usage: python bench/bench_remote.py [--langs en,ru,ja] [--queries 300] [--docs N] [--synthetic SIZES]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DOCENT_VECTORS_IN_PROCESS", "1")  # the CLI's arrangement, the same for both sides

from bench import evalsets  # noqa: E402
from index.config import sample_docs_dir  # noqa: E402
from index.kb import KnowledgeBase  # noqa: E402
from tests.fixtures.servers import ChromaServer  # noqa: E402


def corpus(tmp: Path, langs: list[str], max_docs: int) -> tuple[Path, list[str]]:
    root = tmp / "docs"
    questions: list[str] = []
    for lang in langs:
        if not evalsets.available(lang):
            continue
        qs = evalsets.build(lang, root / lang)
        files = sorted((root / lang).glob("*.txt"))
        for extra in files[max_docs:]:
            extra.unlink()
        kept = {str(p) for p in files[:max_docs]}
        questions += [q.text for q in qs if q.path in kept or str(root / lang / Path(q.path).name) in kept]
    if not questions:  # no dev sets here: the bundled sample documents
        import json

        root = sample_docs_dir()
        questions = [q["question"] for q in json.loads((root / "questions.json").read_text(encoding="utf-8"))]
    return root, questions


def grow_both(local: KnowledgeBase, shared: KnowledgeBase, words: list[str], start: int, stop: int, seed: int) -> None:
    """The same synthetic files into both knowledge bases (vectors, texts, passages), then publish."""
    import hashlib

    import numpy as np

    from index.catalog import NewPassage

    rng = random.Random(seed + start)
    per_file = 20
    dim = local.embedder.dimension
    for f in range(start // per_file, stop // per_file):
        texts = [" ".join(rng.choice(words) for _ in range(rng.randint(60, 160))) for _ in range(per_file)]
        digest = hashlib.blake2b(f"synthetic{f}".encode(), digest_size=16).hexdigest()
        passages, pos = [], 0
        for i, t in enumerate(texts):
            passages.append(NewPassage(i, None, pos, pos + len(t), t))
            pos += len(t) + 2
        vectors = np.random.default_rng(f).standard_normal((per_file, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for kb in (local, shared):
            kb.vectors.upsert_many([(digest, per_file)], vectors, passages)
            kb.catalog.begin()
            kb.catalog.store_indexed(f"/synthetic/{f}.txt", size=pos, mtime_ns=0, content_hash=digest,
                                     title=f"doc {f}", fmt="txt", encoding="utf-8", text="\n\n".join(texts),
                                     passages=passages)
            kb.catalog.commit()
    shared.collect_garbage()  # publishes the new file records and changes the generation


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def summary(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--langs", default="en,ru,ja")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--docs", type=int, default=1000, help="articles per language at most")
    ap.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"])
    ap.add_argument("--synthetic", default="", help="comma-separated collection sizes (passages)")
    args = ap.parse_args()
    if args.synthetic:
        return synthetic(args)
    with tempfile.TemporaryDirectory(prefix="docent-bench-remote-") as tmp:
        tmp = Path(tmp)
        docs, questions = corpus(tmp, args.langs.split(","), args.docs)
        random.Random(3).shuffle(questions)
        questions = (questions * (1 + args.queries // max(1, len(questions))))[: args.queries]
        with ChromaServer(tmp / "server") as server:
            url = server.url("bench-shared")
            os.environ["DOCENT_HOME"] = str(tmp / "alice")
            local = KnowledgeBase.open(tmp / "local-kb")
            alice = KnowledgeBase.open(url)
            t_local = timed(local.index, [str(docs)]) / 1000
            t_remote = timed(alice.index, [str(docs)]) / 1000
            n = local.catalog.counts()["passages"]
            print(f"collection: {n} passages from {local.catalog.counts()['indexed']} files, {len(questions)} queries ({args.mode})")
            print(f"indexing: local {t_local:.1f} s, shared {t_remote:.1f} s -> x{t_remote / t_local:.2f}")
            os.environ["DOCENT_HOME"] = str(tmp / "bob")
            bob = KnowledgeBase.open(url)
            t_pull = timed(bob.refresh, True) / 1000
            print(f"second client's first pull (lexical replica built from the server): {t_pull:.1f} s, "
                  f"{bob.catalog.counts()['passages']} passages")
            worst = compare({"local": local, "shared (indexing client)": alice, "shared (other client)": bob},
                            questions, args.mode)
            print(f"target: remote <= 1.5x local -> {'met' if worst <= 1.5 else 'NOT met'} (worst ratio x{worst:.2f})")
            for kb in (local, alice, bob):
                kb.close()
    return 0


def compare(sides: dict, questions: list[str], mode: str) -> float:
    """Interleaved timings of the same queries on every side; prints them, returns the worst remote ratio."""
    for kb in sides.values():
        for q in questions[:10]:
            kb.search(q, 10, mode)  # warm: models, caches, connections
    times: dict[str, list[float]] = {name: [] for name in sides}
    for q in questions:
        for name, kb in sides.items():
            times[name].append(timed(kb.search, q, 10, mode))
    base50, base95 = summary(times["local"])
    worst = 0.0
    for name, ts in times.items():
        p50, p95 = summary(ts)
        if name != "local":
            worst = max(worst, p50 / base50, p95 / base95)
        print(f"  {name:26s} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  ratio to local p50 x{p50 / base50:.2f}  "
              f"p95 x{p95 / base95:.2f}", flush=True)
    return worst


def synthetic(args) -> int:
    from bench.bench_search_latency import vocabulary

    with tempfile.TemporaryDirectory(prefix="docent-bench-remote-") as tmp:
        tmp = Path(tmp)
        words, questions = vocabulary(tmp)
        random.Random(3).shuffle(questions)
        questions = (questions * (1 + args.queries // max(1, len(questions))))[: args.queries]
        with ChromaServer(tmp / "server") as server:
            url = server.url("bench-synthetic")
            os.environ["DOCENT_HOME"] = str(tmp / "alice")
            local = KnowledgeBase.open(tmp / "local-kb")
            alice = KnowledgeBase.open(url)
            os.environ["DOCENT_HOME"] = str(tmp / "bob")
            bob = KnowledgeBase.open(url)
            size, worst = 0, 0.0
            for target in (int(x) for x in args.synthetic.split(",")):
                t = time.perf_counter()
                grow_both(local, alice, words, size, target, 7)
                size = target
                built = time.perf_counter() - t
                t = time.perf_counter()
                bob.refresh(force=True)
                pulled = time.perf_counter() - t
                print(f"{size} passages ({args.mode}, {len(questions)} queries; built both in {built:.0f} s, "
                      f"second client pulled in {pulled:.1f} s, {bob.catalog.counts()['passages']} passages)")
                worst = max(worst, compare({"local": local, "shared (indexing client)": alice,
                                            "shared (other client)": bob}, questions, args.mode))
            print(f"target: remote <= 1.5x local -> {'met' if worst <= 1.5 else 'NOT met'} (worst ratio x{worst:.2f})")
            for kb in (local, alice, bob):
                kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
