"""Indexing speed and memory, measured side by side in one run.

1. `index` wall time over a corpus (mean of two fresh knowledge bases) vs the time the same embedding model takes to
   embed the same passages alone right after, as index embeds them (with their sentence
   vectors; mean of two runs: load drifts) (target: ratio <= 1.25). Start-up is not timed: the
   model's load, opening the vector store (Chroma's import) and loading the language identifier.
2. Re-index of an unchanged 1,000-file folder vs its first indexing (target: < 2%).
3. Peak RSS of `python main.py index` in a process of its own, over 24 files and over
   1,424 files holding 12 MB of text (target: <= 0.6 GB at both sizes, and flat:
   the larger at most 1.25x the smaller).
4. Embedding models and backends on the same passages, rounds interleaved so a load
   spike hits both: the default (USE multilingual v3) against MiniLM's ONNX export (target: >= 2x).

Usage: python bench/bench_indexing.py [--files 1000] [--megabytes M] [--backends use,onnx] [--parts speed,rss,models]
("use" is the default model; the others are MiniLM's backends.) Exits 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import evalsets  # noqa: E402
from index import sentence_vectors  # noqa: E402
from index.analysis import detect_language  # noqa: E402
from index.config import EngineSettings  # noqa: E402
from index.embedding import BUNDLED_MINILM, BUNDLED_USE, Embedder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
from index.kb import KnowledgeBase  # noqa: E402
from index.memory import limit_arenas  # noqa: E402


def dev_paragraphs(root: Path) -> list[str]:
    """The dev-set paragraphs (en, ru, ja)."""
    paragraphs: list[str] = []
    for lang in ("en", "ru", "ja"):
        if evalsets.available(lang):
            evalsets.build(lang, root / "src" / lang)
    for path in sorted((root / "src").rglob("*.txt")):
        paragraphs.extend(p for p in path.read_text(encoding="utf-8").split("\n\n")[1:] if p.strip())
    return paragraphs


def make_sized_corpus(root: Path, name: str, files: int, megabytes: float) -> Path:
    """`files` documents holding `megabytes` of UTF-8 text in all: each a different random draw of the
    dev-set paragraphs (no two files alike, so none reuses another's vectors)."""
    import random

    paragraphs = dev_paragraphs(root)
    rng = random.Random(files)
    out = root / name
    per_file = megabytes * 1e6 / files
    for n in range(files):
        parts, size = [f"Document {n}"], 0
        while size < per_file:
            parts.append(rng.choice(paragraphs))
            size += len(parts[-1].encode("utf-8")) + 2
        sub = out / f"d{n // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"doc{n:04d}.txt").write_text("\n\n".join(parts), encoding="utf-8")
    return out


def make_corpus(root: Path, files: int) -> Path:
    """`files` documents built from the dev-set paragraphs (en, ru, ja), several per file."""
    paragraphs = dev_paragraphs(root)
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


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants now (Linux /proc; 0 once it is gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return total


def peak_rss(corpus: Path, kb: Path) -> tuple[float, float, int]:
    """(peak RSS in GB, seconds, passages) of `main.py index` over `corpus` in a process of its own: its own
    peak or, when larger, the peak sum over it and its children (worker processes, e.g. the extraction
    worker of index/limits.py), sampled every 20 ms."""
    import json
    import threading

    started = time.perf_counter()
    out = kb.with_suffix(".json")
    with open(out, "wb") as fh:
        proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "index", str(corpus), "--kb", str(kb), "--json"],
                                stdout=fh)
        tree_peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                tree_peak[0] = max(tree_peak[0], tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"index over {corpus} failed ({os.waitstatus_to_exitcode(status)})")
    try:
        passages = int(json.loads(out.read_text(encoding="utf-8")).get("chunks_total", 0))
    except ValueError:
        passages = 0
    return max(usage.ru_maxrss * 1024, tree_peak[0]) / 1e9, time.perf_counter() - started, passages  # Linux: KiB


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--megabytes", type=float, default=0.0,
                    help="with it, the speed corpus holds this much text in --files files (default: the dev paragraphs once)")
    ap.add_argument("--backends", default="use,onnx")
    ap.add_argument("--backend", default=None, help="backend for the index runs (default: the engine default)")
    ap.add_argument("--parts", default="speed,rss,models", help="speed (index vs embedding, re-index), rss, models")
    ap.add_argument("--rss-sizes", default="24:0.2,1424:12", help="files:megabytes of text per peak-RSS run")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the model comparison")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    limit_arenas()  # as main.py does for every command, before threads start (index/memory.py)
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="docent-bench-index-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("DOCENT_HOME", str(tmp / "home"))
        corpus = make_sized_corpus(tmp, "corpus", args.files, args.megabytes) if args.megabytes else make_corpus(tmp, args.files)
        settings = EngineSettings(embedding_backend=args.backend or EngineSettings().embedding_backend)
        texts: list[str] = []

        # -- index vs embedding alone, side by side -------------------------------
        if parts & {"speed", "models"}:
            kb = KnowledgeBase.open(tmp / "kb", settings)
            kb.embedder.embed_passages(["warm up"])  # model load is not indexing work
        if "speed" in parts:
            # Start-up, done before timing like the model's load: open the vector store as index will (Chroma's
            # import: the app does it at start-up, gui/app.py prewarm) and load the language identifier
            # (the first passage or question of a process loads it). Both are once per process.
            started = time.perf_counter()
            kb.open_vectors()
            store_seconds = time.perf_counter() - started
            started = time.perf_counter()
            detect_language("warm up the language identifier")
            language_seconds = time.perf_counter() - started
            after = 0.0
            started = time.perf_counter()
            report = kb.index([str(corpus)])
            index_seconds = time.perf_counter() - started
            # and once more into a second, fresh knowledge base: the mean of two, like embedding alone (a
            # 10-second run on 2 cores moved 1.07-1.30 from one run to the next)
            with KnowledgeBase.open(tmp / "kb-again", settings) as again_kb:
                again_kb.embedder.embed_passages(["warm up"])
                again_kb.open_vectors()
                started = time.perf_counter()
                again_kb.index([str(corpus)])
                index_seconds = (index_seconds + time.perf_counter() - started) / 2
            texts = passages_of(kb)
            # Embedding alone is the embedding index does: passage vectors with their sentence vectors
            # in one pass (index/sentence_vectors.py; USE: ~6% over passage vectors alone, printed too).
            passages_only = 0.0
            for _ in range(2):  # the mean of two runs: load drifts
                started = time.perf_counter()
                sentence_vectors.embed(kb.embedder, texts)
                after += (time.perf_counter() - started) / 2
                started = time.perf_counter()
                kb.embedder.embed_passages(texts)
                passages_only += (time.perf_counter() - started) / 2
            embed_seconds = after

            # -- unchanged re-index -------------------------------------------------
            started = time.perf_counter()
            again = kb.index([str(corpus)])
            reindex_seconds = time.perf_counter() - started
            ratio = index_seconds / embed_seconds
            print(f"corpus: {report.files_indexed} files, {len(texts)} passages, {sum(map(len, texts)) / 1e6:.1f} M chars")
            print(f"embedding model for index runs: {settings.embedding_model} ({settings.embedding_backend} for transformer models)")
            print(f"start-up before timing: vector store {store_seconds:.2f} s, language identifier {language_seconds:.2f} s "
                  f"(as the model's load)")
            print(f"index wall time        {index_seconds:8.2f} s  ({len(texts) / index_seconds:6.1f} passages/s; mean of 2 "
                  f"fresh knowledge bases; {load()})")
            print(f"embedding alone        {embed_seconds:8.2f} s  ({len(texts) / embed_seconds:6.1f} passages/s; mean of 2; "
                  f"with sentence vectors, as index embeds)")
            print(f"passage vectors only   {passages_only:8.2f} s  (index/that: {index_seconds / passages_only:.3f})")
            print(f"ratio index/embedding  {ratio:8.3f}   (target <= 1.25)")
            print(f"re-index unchanged     {reindex_seconds:8.3f} s  = {100 * reindex_seconds / index_seconds:.2f}% of a first run "
                  f"(target < 2%; {again.files_unchanged} files unchanged)")
            if ratio > 1.25:
                missed.append("index/embedding ratio")
            if reindex_seconds / index_seconds >= 0.02:
                missed.append("unchanged re-index")

        # -- peak memory of `index` in its own process, small and large folder ----------
        if "rss" in parts:
            peaks, counts = [], []
            for spec in args.rss_sizes.split(","):
                files, megabytes = spec.split(":")
                folder = make_sized_corpus(tmp, f"rss{files}", int(files), float(megabytes))
                rss_gb, seconds, passages = peak_rss(folder, tmp / f"kb-rss{files}")
                peaks.append(rss_gb)
                counts.append(passages)
                print(f"peak RSS of `index`    {rss_gb:8.2f} GB over {files} files, {megabytes} MB of text, {passages} passages "
                      f"({seconds:.1f} s; {load()}; target <= 0.6 GB)", flush=True)
                if rss_gb > 0.6:
                    missed.append(f"peak RSS at {files} files")
            if len(peaks) > 1:
                growth = peaks[-1] / peaks[0]
                print(f"peak RSS growth        x{growth:.2f} from the smallest folder to the largest (target <= 1.25: flat)")
                if counts[-1] > counts[0]:  # the growth left: Chroma holds its HNSW index (every vector) in memory
                    print(f"peak RSS per passage   {(peaks[-1] - peaks[0]) * 1e6 / (counts[-1] - counts[0]):8.1f} KB "
                          f"from the smallest folder to the largest (its 512-d float32 vector alone: 2 KB)")
                if growth > 1.25:
                    missed.append("peak RSS growth")

        # -- models and backends side by side -----------------------------------
        if "models" in parts:
            if not texts:
                kb.index([str(corpus)])
                texts = passages_of(kb)
            sample = texts[: min(len(texts), 256)]
            print(f"\nembedding on the same {len(sample)} passages ({args.rounds} interleaved rounds, best of each; {load()}):")
            embedders = {}
            for backend in args.backends.split(","):
                model = BUNDLED_USE if backend == "use" else BUNDLED_MINILM
                emb = Embedder(EngineSettings(embedding_model=model, embedding_backend=backend), backend=backend)
                try:
                    emb.embed_passages(sample[:4])
                except Exception as exc:  # report, do not hide
                    print(f"  {backend:10} unavailable: {exc}")
                    continue
                embedders[backend] = emb
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                for backend, emb in embedders.items():
                    started = time.perf_counter()
                    emb.embed_passages(sample)
                    seconds = time.perf_counter() - started
                    best[backend] = min(best.get(backend, seconds), seconds)
            rates = {backend: len(sample) / seconds for backend, seconds in best.items()}
            for backend, rate in rates.items():
                print(f"  {backend:10} {rate:7.1f} passages/s")
            if "use" in rates and "onnx" in rates:
                ratio = rates["use"] / rates["onnx"]
                print(f"default (USE) vs MiniLM ONNX: x{ratio:.2f} (target >= 2)")
                if ratio < 2:
                    missed.append("embedding throughput")
        if parts & {"speed", "models"}:
            kb.close()
        print("all targets met" if not missed else "MISSED: " + ", ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
