"""Shared fixtures: tiny GGUF models per family (generated once per session) and their runtimes."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.tiny_gguf import FAMILIES, write_tiny_gguf

SEEDS_DIR = Path(os.environ.get("DOCENT_SEEDS", Path(__file__).resolve().parents[3] / "shared" / "seeds"))


def pytest_configure(config):
    config.addinivalue_line("markers", "gemma: integration test on the real bundled gemma-3-270m GGUF")
    config.addinivalue_line("markers", "cli: end-to-end CLI test (indexes the sample documents)")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny-gguf")


@pytest.fixture(scope="session")
def tiny_model(tiny_dir):
    """tiny_model(family) -> path of that family's tiny GGUF (written on first use)."""

    def get(family: str) -> Path:
        assert family in FAMILIES, family
        path = tiny_dir / f"tiny-{family}.gguf"
        if not path.exists():
            write_tiny_gguf(path, family)
        return path

    return get


@pytest.fixture(scope="session")
def tiny_runtime(tiny_model):
    """tiny_runtime(family, n_ctx=2048) -> a LlamaRuntime shared by the session.

    One thread: a 64-wide model gains nothing from more, and on a busy 2-core machine
    threads waiting on each other make tiny-model timings erratic.
    """
    from assistant.runtime import LlamaRuntime

    cache: dict = {}

    def get(family: str, n_ctx: int = 2048) -> LlamaRuntime:
        key = (family, n_ctx)
        if key not in cache:
            cache[key] = LlamaRuntime(tiny_model(family), n_ctx=n_ctx, n_threads=1, n_threads_batch=1)
        return cache[key]

    yield get
    for rt in cache.values():
        rt.close()


@pytest.fixture(scope="session")
def gemma_path(tmp_path_factory) -> Path:
    from assistant.models import bundled_model_available, ensure_default_model

    if not bundled_model_available():
        pytest.skip("bundled gemma package not installed")
    return ensure_default_model(tmp_path_factory.mktemp("gemma-data"))


def seed_card(keyword: str) -> str:
    """Text of the seed model card containing `keyword` (skips when the cards are not around)."""
    if SEEDS_DIR.is_dir():
        for f in sorted(SEEDS_DIR.glob("*.txt")):
            text = f.read_text(encoding="utf-8", errors="replace")
            if keyword in text:
                return text
    pytest.skip(f"seed card with {keyword!r} not found in {SEEDS_DIR}")


@pytest.fixture
def tap(monkeypatch):
    """tap(fn): fn(piece) for every piece the model writes, before the answer guard judges it
    (tests that act on the model's output as it arrives; the user sees the guarded text)."""
    import assistant.guard as guard_mod

    def install(fn):
        real = guard_mod.AnswerGuard.push

        def push(self, piece: str) -> None:
            fn(piece)
            real(self, piece)

        monkeypatch.setattr(guard_mod.AnswerGuard, "push", push)

    return install
