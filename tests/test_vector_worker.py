"""Chroma in its own process (the desktop app's set-up): same answers, survives a killed worker,
carries errors over, and never outlives the process that started it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index import vector_worker
from index.errors import is_disk_full, storage_error
from index.vectors import VectorStore, VectorStoreError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def worker_on(monkeypatch):
    monkeypatch.delenv("DOCENT_VECTORS_IN_PROCESS", raising=False)
    monkeypatch.setattr(vector_worker, "_wanted", True)


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_worker_answers_like_chroma_and_survives_a_kill(tmp_path, worker_on):
    store = VectorStore(tmp_path / "chroma")
    try:
        assert not store.in_process
        v = _vectors(5)
        store.upsert_many([("aaa", 3), ("bbb", 2)], v)
        assert store.count() == 5
        assert store.has(["aaa#0", "bbb#1", "ccc#0"]) == {"aaa#0", "bbb#1"}
        assert store.query(v[4], 1)[0][0] == "bbb#1"
        assert np.allclose(store.embedding("aaa#2"), v[2], atol=1e-6)
        assert store.embedding("zzz#0") is None
        assert store.telemetry_enabled() is False

        os.kill(store._worker._proc.pid, signal.SIGKILL)  # a crash of the worker between two calls
        store._worker._proc.wait()
        store.delete_hash("aaa")
        assert sorted(store.all_ids()) == ["bbb#0", "bbb#1"]
        assert store._worker.restarts == 1
    finally:
        store.close()
    reopened = VectorStore(tmp_path / "chroma")
    try:
        assert reopened.count() == 2
    finally:
        reopened.close()


def test_chroma_errors_come_back_as_storage_errors(tmp_path, worker_on):
    store = VectorStore(tmp_path / "chroma")
    try:
        store.upsert_many([("aaa", 1)], _vectors(1))
        with pytest.raises(VectorStoreError) as info:
            store.query(np.ones(7, dtype=np.float32), 1)  # wrong dimension: Chroma refuses it
        assert "chromadb" in info.value.kind and str(info.value)
        assert storage_error(info.value) and not is_disk_full(info.value)
        assert store.count() == 1  # the worker is still there
    finally:
        store.close()
    assert is_disk_full(VectorStoreError("chromadb.errors.InternalError", "database or disk is full"))


def test_worker_dies_with_its_parent(tmp_path):
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1])\n"
        "from index import vector_worker; vector_worker.use_worker_process()\n"
        "from index.vectors import VectorStore\n"
        "s = VectorStore(__import__('pathlib').Path(sys.argv[2])); s.count()\n"
        "print(s._worker._proc.pid, flush=True); time.sleep(600)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DOCENT_VECTORS_IN_PROCESS"}
    parent = subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(tmp_path / "chroma")],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        worker = int(parent.stdout.readline())
        os.kill(worker, 0)  # alive
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        try:  # our grandchild, reparented: reap it if it is ours to reap
            os.waitpid(worker, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    else:
        pytest.fail(f"vector worker {worker} outlived its parent")


def test_command_line_runs_keep_chroma_in_process(tmp_path, monkeypatch):
    monkeypatch.setattr(vector_worker, "_wanted", False)
    store = VectorStore(tmp_path / "chroma")
    try:
        assert store.in_process
    finally:
        store.close()
    monkeypatch.setattr(vector_worker, "_wanted", True)
    monkeypatch.setenv("DOCENT_VECTORS_IN_PROCESS", "1")
    store = VectorStore(tmp_path / "chroma")
    try:
        assert store.in_process
    finally:
        store.close()
