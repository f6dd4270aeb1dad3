"""Indexing speed, measured side by side in one run.

1. Embedding models and backends on the same passages: passages/s; the default
   (USE multilingual v3) against MiniLM's ONNX export (target: >= 2x).
2. `index` wall time over a corpus vs the time the same embedding model takes to
   embed the same passages alone (target: ratio <= 1.25).
3. Re-index of an unchanged 1,000-file folder vs its first indexing (target: < 2%).
4. Peak RSS of `python main.py index` over the same corpus in a process of its own
   (target: <= 0.6 GB).

Usage: python bench/bench_indexing.py [--files 1000] [--backends use,onnx,onnx-int8,torch]
("use" is the default model; the others are MiniLM's backends.)
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import evalsets  # noqa: E402
from index.config import EngineSettings  # noqa: E402
from index.embedding import BUNDLED_MINILM, BUNDLED_USE, Embedder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
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
    ap.add_argument("--backends", default="use,onnx,onnx-int8")
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
        print(f"embedding model for index runs: {settings.embedding_model} ({settings.embedding_backend} for transformer models)")
        print(f"index wall time        {index_seconds:8.2f} s  ({len(texts) / index_seconds:6.1f} passages/s)")
        print(f"embedding alone        {embed_seconds:8.2f} s  ({len(texts) / embed_seconds:6.1f} passages/s)")
        print(f"ratio index/embedding  {index_seconds / embed_seconds:8.3f}   (target <= 1.25)")
        print(f"re-index unchanged     {reindex_seconds:8.3f} s  = {100 * reindex_seconds / index_seconds:.2f}% of first run "
              f"(target < 2%; {again.files_unchanged} files unchanged)")

        # -- peak memory of `index` in its own process -----------------------------
        started = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "main.py"), "index", str(corpus), "--kb", str(tmp / "kb-rss"),
                        "--json"], check=True, stdout=subprocess.DEVNULL)
        rss_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9  # Linux: KiB
        print(f"peak RSS of `index`    {rss_gb:8.2f} GB ({time.perf_counter() - started:.1f} s; target <= 0.6 GB)")

        # -- models and backends side by side -----------------------------------
        sample = texts[: min(len(texts), 512)]
        print(f"\nembedding on the same {len(sample)} passages:")
        rates: dict[str, float] = {}
        for backend in args.backends.split(","):
            model = BUNDLED_USE if backend == "use" else BUNDLED_MINILM
            emb = Embedder(EngineSettings(embedding_model=model, embedding_backend=backend), backend=backend)
            try:
                emb.embed_passages(sample[:4])
            except Exception as exc:  # report, do not hide
                print(f"  {backend:10} unavailable: {exc}")
                continue
            started = time.perf_counter()
            emb.embed_passages(sample)
            seconds = time.perf_counter() - started
            rates[backend] = rate = len(sample) / seconds
            print(f"  {backend:10} {rate:7.1f} passages/s")
        missed = []
        if "use" in rates and "onnx" in rates:
            ratio = rates["use"] / rates["onnx"]
            print(f"default (USE) vs MiniLM ONNX: x{ratio:.2f} (target >= 2)")
            if ratio < 2:
                missed.append("embedding throughput")
        if index_seconds / embed_seconds > 1.25:
            missed.append("index/embedding ratio")
        if rss_gb > 0.6:
            missed.append("peak RSS")
        print("all targets met" if not missed else "MISSED: " + ", ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
