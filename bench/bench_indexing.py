"""Indexing speed, measured side by side in one run.

1. Embedding backends (torch, onnx fp32, onnx int8) on the same passages: passages/s.
2. `index` wall time over a corpus vs the time the same embedding model takes to
   embed the same passages alone (target: ratio <= 1.25).
3. Re-index of an unchanged 1,000-file folder vs its first indexing (target: < 2%).

Usage: python bench/bench_indexing.py [--files 1000] [--backends torch,onnx,onnx-int8]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import evalsets  # noqa: E402
from index.config import EngineSettings  # noqa: E402
from index.embedding import Embedder  # noqa: E402
from index.kb import KnowledgeBase  # noqa: E402


def make_corpus(root: Path, files: int) -> Path:
    """`files` documents built from the dev-set paragraphs (en, ru, ja), several per file."""
    paragraphs: list[str] = []
    for lang in ("en", "ru", "ja"):
        if evalsets.available(lang):
            evalsets.build(lang, root / "src" / lang)
    for path in sorted((root / "src").rglob("*.txt")):
        paragraphs.extend(p for p in path.read_text(encoding="utf-8").split("\n\n")[1:] if p.strip())
    out = root / "corpus"
    out.mkdir(parents=True)
    per_file = max(1, len(paragraphs) // files)
    for n in range(files):
        chunk = [paragraphs[(n * per_file + i) % len(paragraphs)] for i in range(per_file)]
        sub = out / f"d{n // 100:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"doc{n:04d}.txt").write_text(f"Document {n}\n\n" + "\n\n".join(chunk), encoding="utf-8")
    return out


def passages_of(kb: KnowledgeBase) -> list[str]:
    return [r[0] for r in kb.catalog.db.execute("SELECT text FROM passages ORDER BY id")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--backends", default="torch,onnx,onnx-int8")
    ap.add_argument("--backend", default=None, help="backend for the index runs (default: the engine default)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="docent-bench-index-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("DOCENT_HOME", str(tmp / "home"))
        corpus = make_corpus(tmp, args.files)
        settings = EngineSettings(embedding_backend=args.backend or EngineSettings().embedding_backend)

        # -- index vs embedding alone -------------------------------------------
        kb = KnowledgeBase.open(tmp / "kb", settings)
        kb.embedder.embed_passages(["warm up"])  # model load is not indexing work
        started = time.perf_counter()
        report = kb.index([str(corpus)])
        index_seconds = time.perf_counter() - started
        texts = passages_of(kb)
        started = time.perf_counter()
        kb.embedder.embed_passages(texts)
        embed_seconds = time.perf_counter() - started

        # -- unchanged re-index -------------------------------------------------
        started = time.perf_counter()
        again = kb.index([str(corpus)])
        reindex_seconds = time.perf_counter() - started
        kb.close()

        print(f"corpus: {report.files_indexed} files, {len(texts)} passages, {sum(map(len, texts)) / 1e6:.1f} M chars")
        print(f"embedding backend for index runs: {settings.embedding_backend}")
        print(f"index wall time        {index_seconds:8.2f} s  ({len(texts) / index_seconds:6.1f} passages/s)")
        print(f"embedding alone        {embed_seconds:8.2f} s  ({len(texts) / embed_seconds:6.1f} passages/s)")
        print(f"ratio index/embedding  {index_seconds / embed_seconds:8.3f}   (target <= 1.25)")
        print(f"re-index unchanged     {reindex_seconds:8.3f} s  = {100 * reindex_seconds / index_seconds:.2f}% of first run "
              f"(target < 2%; {again.files_unchanged} files unchanged)")

        # -- backends side by side ----------------------------------------------
        sample = texts[: min(len(texts), 512)]
        print(f"\nembedding backends on the same {len(sample)} passages:")
        base = None
        reference = None
        for backend in args.backends.split(","):
            emb = Embedder(EngineSettings(embedding_backend=backend), backend=backend)
            try:
                emb.embed_passages(sample[:4])
            except Exception as exc:  # report, do not hide
                print(f"  {backend:10} unavailable: {exc}")
                continue
            started = time.perf_counter()
            vectors = emb.embed_passages(sample)
            seconds = time.perf_counter() - started
            rate = len(sample) / seconds
            base = base or rate
            if reference is None:
                reference = vectors
            agreement = float((vectors * reference).sum(1).mean())
            print(f"  {backend:10} {rate:7.1f} passages/s  x{rate / base:4.2f} vs {args.backends.split(',')[0]}  "
                  f"mean cosine to first backend {agreement:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
