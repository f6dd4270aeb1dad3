"""Chroma on disk in this process: the one place that talks to a local Chroma client.

index/vectors.py's VectorStore uses it directly (command line) or through the vector worker
process (index/vector_worker.py, the desktop app), which runs it on the other side of a pipe.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from index.catalog import vector_id

log = logging.getLogger("docent.vectors")

COLLECTION = "passages"
MAX_BATCH = 5000  # Chroma's limit is 5,461 per call
# HNSW is approximate: a search as wide as the k asked for (Chroma's ef) misses a near neighbour now
# and then, and which one differs between processes (Chroma rebuilds part of its graph on every start),
# so the same question ranked differently from run to run and after a repair. A pool this much wider
# (ef = the pool), cut to the k nearest with ties broken by id, makes a miss rare (HNSW stays
# approximate): 0-1 of 2,000 neighbours missed over 1,000 random 64-d vectors against 8-11, and no
# query of bench/bench_faults.py ranks differently between processes; +1.5 ms a query at 100k vectors.
QUERY_POOL_FACTOR = 4
QUERY_POOL_MIN = 200


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
        try:
            self.client = chromadb.PersistentClient(
                path=str(path), settings=Settings(anonymized_telemetry=False, allow_reset=False)
            )
            self.collection = self.client.get_or_create_collection(
                COLLECTION, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
        except BaseException:
            _forget_system(path)
            raise
        self._units = None

    @property
    def units(self):
        """Sentence vectors beside Chroma's files (index/sentence_vectors.py), opened on first use."""
        if self._units is None:
            from index.sentence_vectors import SentenceStore

            self._units = SentenceStore(self.path)
        return self._units

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
        if self._units is not None:
            try:
                self._units.close()
            except Exception as exc:  # noqa: BLE001
                log.debug("closing the sentence vectors: %s", exc)
            self._units = None

    def count(self) -> int:
        return self.collection.count()

    def has(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), MAX_BATCH):
            found.update(self.collection.get(ids=ids[i : i + MAX_BATCH], include=[])["ids"])
        return found

    def upsert(self, content_hash: str, vectors: np.ndarray) -> None:
        self.upsert_many([(content_hash, len(vectors))], vectors)

    def upsert_many(self, files: list[tuple[str, int]], vectors: np.ndarray, units: list | None = None) -> None:
        """Vectors of several files, in order: files gives (content hash, passage count); `units`
        (index/sentence_vectors.py, aligned with the vectors) are written first, so a vector
        Chroma holds always has its unit."""
        ids, metadatas, _, rows = passage_records(files)
        if units is not None:
            self.units.put(ids, [units[r] for r in rows])
        vectors = vectors[rows]
        for i in range(0, len(ids), MAX_BATCH):
            chunk = slice(i, i + MAX_BATCH)
            self.collection.upsert(ids=ids[chunk], embeddings=vectors[chunk], metadatas=metadatas[chunk])

    def upsert_ids(self, ids: list[str], vectors: np.ndarray, units: list | None = None) -> None:
        """Vectors by their ids (`<hash>#<n>`), e.g. a re-embed's, with the same metadata as upsert_many."""
        if units is not None:
            self.units.put(ids, units)
        metadatas = [{"hash": vid.rsplit("#", 1)[0], "n": int(vid.rsplit("#", 1)[1])} for vid in ids]
        for i in range(0, len(ids), MAX_BATCH):
            chunk = slice(i, i + MAX_BATCH)
            self.collection.upsert(ids=ids[chunk], embeddings=vectors[chunk], metadatas=metadatas[chunk])

    def delete_ids(self, ids: list[str]) -> None:
        for i in range(0, len(ids), MAX_BATCH):
            self.collection.delete(ids=ids[i : i + MAX_BATCH])
        self.units.delete_ids(ids)

    def delete_hash(self, content_hash: str) -> None:
        self.collection.delete(where={"hash": content_hash})
        self.units.delete_hash(content_hash)

    def unit_scores(self, vector: np.ndarray, ids: list[str]) -> dict[str, tuple[float, float]]:
        """{vector id: (passage cosine, best sentence cosine)} for the ids with sentence vectors."""
        return self.units.scores(vector, ids)

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        return self.query_many(np.asarray(vector)[None, :], k)[0]

    def query_many(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """The k nearest (id, cosine) of every row of `vectors`, in one Chroma call."""
        total = self.count()
        if total == 0 or len(vectors) == 0:
            return [[] for _ in range(len(vectors))]
        pool = min(total, max(k * QUERY_POOL_FACTOR, QUERY_POOL_MIN))
        result = self.collection.query(query_embeddings=list(vectors), n_results=pool, include=["distances"])
        nearest_rows = []
        for ids, dists in zip(result["ids"], result["distances"]):
            nearest = sorted(zip(dists, ids), key=lambda t: (float(t[0]), t[1]))[:k]
            nearest_rows.append([(vid, 1.0 - float(d)) for d, vid in nearest])
        return nearest_rows

    def all_ids(self) -> list[str]:
        return list(self.collection.get(include=[])["ids"])

    def embedding(self, vid: str) -> np.ndarray | None:
        got = self.collection.get(ids=[vid], include=["embeddings"])
        return np.asarray(got["embeddings"][0], dtype=np.float32) if len(got["ids"]) else None

    def telemetry_enabled(self) -> bool:
        return bool(self.client.get_settings().anonymized_telemetry)


def _forget_system(path: Path) -> None:
    """Drop Chroma's cached System for `path` after a failed start (a damaged store).

    Chroma keeps one System per path for the life of the process, also one whose start failed;
    every later client for that path (the rebuilt store) then fails on it. Private API, hence
    the guard: at worst the rebuilt store opens in the next process.
    """
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(str(path), None)
        SharedSystemClient._identifier_to_refcount.pop(str(path), None)
    except Exception as exc:  # noqa: BLE001
        log.debug("Chroma's system cache not cleared: %s", exc)
