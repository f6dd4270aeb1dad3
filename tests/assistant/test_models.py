"""The bundled default model is assembled once, atomically, and checked."""
from __future__ import annotations

import os

import pytest

import assistant.models as models
from assistant.errors import ModelError
from assistant.gguf_meta import read_gguf_meta


def test_assemble_once_and_reuse(tmp_path):
    if not models.bundled_model_available():
        pytest.skip("bundled gemma package not installed")
    messages = []
    path = models.ensure_default_model(tmp_path, progress=messages.append)
    assert path == models.default_model_path(tmp_path) and len(messages) == 1
    meta = read_gguf_meta(path)
    assert meta.architecture == "gemma3"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    stamp = path.stat().st_mtime_ns
    assert models.ensure_default_model(tmp_path, progress=messages.append) == path
    assert path.stat().st_mtime_ns == stamp and len(messages) == 1  # not rebuilt
    # a damaged copy (e.g. disk full during an old, non-atomic copy) is rebuilt
    with open(path, "r+b") as fh:
        fh.truncate(1_000_000)
    assert models.ensure_default_model(tmp_path) == path
    assert read_gguf_meta(path).file_size == meta.file_size


def test_missing_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "_package", lambda: None)
    with pytest.raises(ModelError, match="--model"):
        models.ensure_default_model(tmp_path)
    assert not models.bundled_model_available()
