"""Chroma holds the passage vectors; everything else lives in the catalog.

Ids are `<content-hash>#<n>` and the only metadata is the content hash, so
a renamed or duplicated file reuses its vectors and removal is one
delete-by-metadata. We always pass our own embeddings: Chroma's default
embedding function would download a model.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from index.catalog import vector_id

log = logging.getLogger("docent.vectors")

COLLECTION = "passages"
MAX_BATCH = 5000  # Chroma's limit is 5,461 per call


class VectorStore:
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
        ids: list[str] = []
        metadatas: list[dict] = []
        rows: list[int] = []
        seen: set[str] = set()
        offset = 0
        for content_hash, count in files:
            if content_hash not in seen:  # two copies of one file in a batch: Chroma refuses duplicate ids
                seen.add(content_hash)
                ids.extend(vector_id(content_hash, n) for n in range(count))
                metadatas.extend({"hash": content_hash, "n": n} for n in range(count))
                rows.extend(range(offset, offset + count))
            offset += count
        vectors = vectors[rows]
        for i in range(0, len(ids), MAX_BATCH):
            chunk = slice(i, i + MAX_BATCH)
            self.collection.upsert(ids=ids[chunk], embeddings=vectors[chunk], metadatas=metadatas[chunk])

    def delete_hash(self, content_hash: str) -> None:
        self.collection.delete(where={"hash": content_hash})

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        total = self.count()
        if total == 0:
            return []
        result = self.collection.query(query_embeddings=[vector], n_results=min(k, total), include=["distances"])
        return [(vid, 1.0 - float(d)) for vid, d in zip(result["ids"][0], result["distances"][0])]

    def all_ids(self) -> list[str]:
        return list(self.collection.get(include=[])["ids"])
