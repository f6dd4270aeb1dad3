"""Chroma holds the passage vectors; everything else lives in the catalog.

Ids are `<content-hash>#<n>` and the only metadata is the content hash, so
a renamed or duplicated file reuses its vectors and removal is one
delete-by-metadata. We always pass our own embeddings: Chroma's default
embedding function would download a model.

In the desktop app Chroma runs in a worker process of its own
(index/vector_worker.py): its Rust core holds the GIL for a whole upsert
(about 0.4 ms per vector, plus index persistence now and then), which froze
the event loop for 100-300 ms per batch when it ran in the app's process.
Command-line runs keep it in-process (no event loop to protect, no process to start).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from index.chroma_store import ChromaStore
from index.errors import VectorStoreError, WorkerUnavailable  # noqa: F401 - VectorStoreError: raised by the worker's client
from index.vector_worker import WorkerConnection, worker_wanted

log = logging.getLogger("docent.vectors")


class VectorStore:
    """The knowledge base's vectors: Chroma in a worker process (in-process where none can start).

    Thread-safe: calls are serialized. A worker that died (killed, crashed) is
    started again and the call repeated once: every call is idempotent.
    """

    def __init__(self, path: Path, on_error: Callable[[BaseException], None] | None = None):
        """`on_error` hears every failure, also those a caller survives (search falls back to keywords):
        the knowledge base checks itself for damage after one."""
        self.path = path
        self.on_error = on_error
        self._lock = threading.Lock()
        self._local: ChromaStore | None = None
        self._worker = None
        if not worker_wanted():
            self._local = ChromaStore(path)
            return
        try:
            self._worker = WorkerConnection(path)
        except WorkerUnavailable as exc:
            log.warning("vector worker unavailable (%s); using Chroma in-process", exc)
            self._local = ChromaStore(path)

    @property
    def in_process(self) -> bool:
        return self._local is not None

    def _call(self, name: str, *args):
        with self._lock:
            try:
                if self._local is not None:
                    return getattr(self._local, name)(*args)
                return self._worker.call(name, *args)
            except BaseException as exc:
                if self.on_error is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    self.on_error(exc)
                raise

    def close(self) -> None:
        with self._lock:
            if self._local is not None:
                self._local.close()
            elif self._worker is not None:
                self._worker.close()

    def count(self) -> int:
        return self._call("count")

    def has(self, ids: list[str]) -> set[str]:
        return self._call("has", ids)

    def upsert(self, content_hash: str, vectors: np.ndarray) -> None:
        self.upsert_many([(content_hash, len(vectors))], vectors)

    def upsert_many(self, files: list[tuple[str, int]], vectors: np.ndarray, passages=None, units=None) -> None:
        """`passages` (their texts) matter to a shared store only; a local one keeps texts in the catalog.
        `units`: their sentence vectors (index/sentence_vectors.py), or None."""
        self._call("upsert_many", files, np.ascontiguousarray(vectors, dtype=np.float32), units)

    def delete_hash(self, content_hash: str) -> None:
        self._call("delete_hash", content_hash)

    def upsert_ids(self, ids: list[str], vectors: np.ndarray, units=None) -> None:
        self._call("upsert_ids", list(ids), np.ascontiguousarray(vectors, dtype=np.float32), units)

    def delete_ids(self, ids: list[str]) -> None:
        self._call("delete_ids", list(ids))

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        return self._call("query", np.asarray(vector, dtype=np.float32), k)

    def query_many(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Nearest neighbours of many vectors in one call (verify searches every sentence of a text)."""
        return self._call("query_many", np.ascontiguousarray(vectors, dtype=np.float32), k)

    def unit_scores(self, vector: np.ndarray, ids: list[str]) -> dict[str, tuple[float, float]]:
        """Passage and best-sentence cosines of `ids` (those with sentence vectors; see index/sentence_vectors.py)."""
        return self._call("unit_scores", np.asarray(vector, dtype=np.float32), list(ids))

    def all_ids(self) -> list[str]:
        return self._call("all_ids")

    def embedding(self, vid: str) -> np.ndarray | None:
        return self._call("embedding", vid)

    def telemetry_enabled(self) -> bool:
        return self._call("telemetry_enabled")
