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

import numpy as np

from index.catalog import vector_id

log = logging.getLogger("docent.vectors")

COLLECTION = "passages"
MAX_BATCH = 5000  # Chroma's limit is 5,461 per call


def passage_records(files: list[tuple[str, int]], passages: list | None = None):
    """Chroma ids, metadata, documents and vector rows for several files' passages, in order.

    `files` gives (content hash, passage count); a file that comes twice is written once (two
    copies of one file in a batch: Chroma refuses duplicate ids). With `passages` (index.catalog.
    NewPassage, aligned with the vectors) each record also carries its text and place, which a
    shared store needs; without them documents is None.
    """
    ids: list[str] = []
    metadatas: list[dict] = []
    documents: list[str] | None = [] if passages is not None else None
    rows: list[int] = []
    seen: set[str] = set()
    offset = 0
    for content_hash, count in files:
        if content_hash not in seen:
            seen.add(content_hash)
            for n in range(count):
                ids.append(vector_id(content_hash, n))
                meta = {"hash": content_hash, "n": n}
                if passages is not None:
                    p = passages[offset + n]
                    meta.update(start=p.char_start, end=p.char_end)
                    if p.page is not None:
                        meta["page"] = p.page
                    documents.append(p.text)
                metadatas.append(meta)
            rows.extend(range(offset, offset + count))
        offset += count
    return ids, metadatas, documents, rows


class ChromaStore:
    """Chroma in this process (the vector worker's side; also the fallback)."""

    def __init__(self, path: Path):
        import chromadb
        from chromadb.config import Settings

        self.path = path
        self.client = chromadb.PersistentClient(
            path=str(path), settings=Settings(anonymized_telemetry=False, allow_reset=False)
        )
        self.collection = self.client.get_or_create_collection(
            COLLECTION, embedding_function=None, metadata={"hnsw:space": "cosine"}
        )

    def close(self) -> None:
        """Release Chroma's shared in-process system for this path.

        Chroma caches one System per path for the life of the process; without
        this, reopening a knowledge base that another process changed in the
        meantime reads stale segment state ("Nothing found on disk").
        """
        try:
            self.client.close()
        except Exception as exc:  # noqa: BLE001 - closing must never fail a close
            log.debug("closing Chroma: %s", exc)

    def count(self) -> int:
        return self.collection.count()

    def has(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), MAX_BATCH):
            found.update(self.collection.get(ids=ids[i : i + MAX_BATCH], include=[])["ids"])
        return found

    def upsert(self, content_hash: str, vectors: np.ndarray) -> None:
        self.upsert_many([(content_hash, len(vectors))], vectors)

    def upsert_many(self, files: list[tuple[str, int]], vectors: np.ndarray) -> None:
        """Vectors of several files, in order: files gives (content hash, passage count)."""
        ids, metadatas, _, rows = passage_records(files)
        vectors = vectors[rows]
        for i in range(0, len(ids), MAX_BATCH):
            chunk = slice(i, i + MAX_BATCH)
            self.collection.upsert(ids=ids[chunk], embeddings=vectors[chunk], metadatas=metadatas[chunk])

    def delete_hash(self, content_hash: str) -> None:
        self.collection.delete(where={"hash": content_hash})

    def upsert_ids(self, ids: list[str], vectors: np.ndarray) -> None:
        """Vectors by their ids (`<hash>#<n>`), e.g. a re-embed's, with the same metadata as upsert_many."""
        metadatas = [{"hash": vid.rsplit("#", 1)[0], "n": int(vid.rsplit("#", 1)[1])} for vid in ids]
        for i in range(0, len(ids), MAX_BATCH):
            chunk = slice(i, i + MAX_BATCH)
            self.collection.upsert(ids=ids[chunk], embeddings=vectors[chunk], metadatas=metadatas[chunk])

    def delete_ids(self, ids: list[str]) -> None:
        for i in range(0, len(ids), MAX_BATCH):
            self.collection.delete(ids=ids[i : i + MAX_BATCH])

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        total = self.count()
        if total == 0:
            return []
        result = self.collection.query(query_embeddings=[vector], n_results=min(k, total), include=["distances"])
        return [(vid, 1.0 - float(d)) for vid, d in zip(result["ids"][0], result["distances"][0])]

    def all_ids(self) -> list[str]:
        return list(self.collection.get(include=[])["ids"])

    def embedding(self, vid: str) -> np.ndarray | None:
        got = self.collection.get(ids=[vid], include=["embeddings"])
        return np.asarray(got["embeddings"][0], dtype=np.float32) if len(got["ids"]) else None

    def telemetry_enabled(self) -> bool:
        return bool(self.client.get_settings().anonymized_telemetry)



class VectorStore:
    """The knowledge base's vectors: Chroma in a worker process (in-process where none can start).

    Thread-safe: calls are serialized. A worker that died (killed, crashed) is
    started again and the call repeated once: every call is idempotent.
    """

    def __init__(self, path: Path):
        from index.vector_worker import WorkerConnection, worker_wanted

        self.path = path
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
            if self._local is not None:
                return getattr(self._local, name)(*args)
            return self._worker.call(name, *args)

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

    def upsert_many(self, files: list[tuple[str, int]], vectors: np.ndarray, passages=None) -> None:
        """`passages` (their texts) matter to a shared store only; a local one keeps texts in the catalog."""
        self._call("upsert_many", files, np.ascontiguousarray(vectors, dtype=np.float32))

    def delete_hash(self, content_hash: str) -> None:
        self._call("delete_hash", content_hash)

    def upsert_ids(self, ids: list[str], vectors: np.ndarray) -> None:
        self._call("upsert_ids", list(ids), np.ascontiguousarray(vectors, dtype=np.float32))

    def delete_ids(self, ids: list[str]) -> None:
        self._call("delete_ids", list(ids))

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        return self._call("query", np.asarray(vector, dtype=np.float32), k)

    def all_ids(self) -> list[str]:
        return self._call("all_ids")

    def embedding(self, vid: str) -> np.ndarray | None:
        return self._call("embedding", vid)

    def telemetry_enabled(self) -> bool:
        return self._call("telemetry_enabled")


class WorkerUnavailable(Exception):
    pass


class VectorStoreError(Exception):
    """An error Chroma raised in the worker process, carried over by type name and message."""

    storage = True  # index.kb treats it as a storage-layer failure (disk full detection)

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
