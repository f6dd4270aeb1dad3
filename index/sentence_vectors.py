"""Sentence vectors: a passage scored by its best sentence as well as by its whole text.

USE is trained on sentences: a question is closest to the one sentence that answers it,
while a 1,000-character passage vector averages that sentence with its neighbours. Search
mixes the passage's cosine with its best sentence's (index/search.py, rescore_dense); on the
dev sets that lifts dense recall@1 by 5-30 points (ru>en 0.72 -> 0.79, ja 0.48 -> 0.77).
USE's sentence vectors come from the passage's own pass (index/embedding.py, encode_units):
about 5% more embedding time where embedding each sentence again would double it.

Each passage's "unit" is a float16 matrix: row 0 its passage vector, then one row per
sentence (none for a one-sentence passage). Units live in a SQLite file beside Chroma's, in
the same folder (`chroma/docent-sentences.sqlite`), keyed by the passage's vector id, so they
follow the vectors everywhere: written in the same store call, deleted with them, moved with
the folder by a re-embed's swap or a repair. Search reads only its ~50 candidates' units
(a few ms, nothing held in memory): an HNSW index over every sentence would cost about
6 x 2 KB per passage of RAM (1.2 GB at 100k passages). A store without units (knowledge bases
made before, MiniLM ones, a shared server) scores passages by their vector alone.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads with the first search, not with the app's window
    import numpy as np

from index.sentences import split_sentences

log = logging.getLogger("docent.vectors")

FILE = "docent-sentences.sqlite"
MIN_CHARS = 12  # shorter pieces (a heading, "Ibid.") are no sentence to match a question against
MAX_SENTENCES = 64  # a passage without full stops (a table, a list) adds a bounded number of rows


def wanted(model: str) -> bool:
    """Only models whose sentence scoring was measured (bench/bench_retrieval.py) store units."""
    from index.embedding import BUNDLED_USE  # not at import: it loads numpy, and repair is imported at startup

    return model == BUNDLED_USE


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of the sentences of a passage worth a vector of their own: none when there is only one."""
    spans = [(a, b) for a, b in split_sentences(text) if b - a >= MIN_CHARS][:MAX_SENTENCES]
    return spans if len(spans) > 1 else []


def sentences_of(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def embed(embedder, texts: list[str]) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Passage vectors for `texts` and, for a model with sentence scoring, their units. USE derives
    a passage's sentence vectors from the passage's own pass (index/embedding.py, about 5% extra);
    another model would embed its sentences beside the passages."""
    import numpy as np

    if not wanted(embedder.name) or not texts:
        return embedder.embed_passages(texts), None
    spans = [sentence_spans(t) for t in texts]
    both = embedder.embed_passages_with_sentences(texts, spans)
    if both is None:
        flat = [t[a:b] for t, cuts in zip(texts, spans) for a, b in cuts]
        vectors = embedder.embed_passages(list(texts) + flat)
        passages, rest, sentences, at = vectors[: len(texts)], vectors[len(texts):], [], 0
        for cuts in spans:
            sentences.append(rest[at : at + len(cuts)])
            at += len(cuts)
    else:
        passages, sentences = both
    units = [np.vstack([passages[i : i + 1], sentences[i]]).astype(np.float16) for i in range(len(texts))]
    return np.asarray(passages, dtype=np.float32), units


class SentenceStore:
    """Units by vector id, in one SQLite file (callers serialize; index/vectors.py does)."""

    def __init__(self, folder: Path):
        self.db = sqlite3.connect(str(Path(folder) / FILE), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS units(vector_id TEXT PRIMARY KEY, hash TEXT NOT NULL, "
                            "rows INTEGER NOT NULL, data BLOB NOT NULL)")
            self.db.execute("CREATE INDEX IF NOT EXISTS units_hash ON units(hash)")

    def close(self) -> None:
        self.db.close()

    def put(self, ids: list[str], units: list[np.ndarray]) -> None:
        import numpy as np

        rows = [(vid, vid.rsplit("#", 1)[0], len(u), np.ascontiguousarray(u, dtype=np.float16).tobytes())
                for vid, u in zip(ids, units)]
        with self._lock:
            self.db.execute("BEGIN")
            try:
                self.db.executemany("INSERT OR REPLACE INTO units VALUES(?,?,?,?)", rows)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def delete_hash(self, content_hash: str) -> None:
        with self._lock:
            self.db.execute("DELETE FROM units WHERE hash=?", (content_hash,))

    def delete_ids(self, ids: list[str]) -> None:
        with self._lock:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                self.db.execute(f"DELETE FROM units WHERE vector_id IN ({','.join('?' * len(chunk))})", chunk)

    def count(self) -> int:
        with self._lock:
            return self.db.execute("SELECT count(*) FROM units").fetchone()[0]

    def scores(self, vector: np.ndarray, ids: list[str]) -> dict[str, tuple[float, float]]:
        """{vector id: (passage cosine, best sentence cosine)} for the ids that have a unit
        (a one-sentence passage's best sentence is the passage itself)."""
        import numpy as np

        if not ids:
            return {}
        with self._lock:
            found = []
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                found += self.db.execute(
                    f"SELECT vector_id, rows, data FROM units WHERE vector_id IN ({','.join('?' * len(chunk))})",
                    chunk).fetchall()
        if not found:
            return {}
        query = np.asarray(vector, dtype=np.float32)
        out = {}
        for vid, rows, data in found:
            matrix = np.frombuffer(data, dtype=np.float16).reshape(rows, -1)
            if matrix.shape[1] != query.shape[0]:
                continue  # another model's unit (never written so; a damaged row is no reason to fail)
            sims = matrix.astype(np.float32) @ query
            out[vid] = (float(sims[0]), float(sims[1:].max() if rows > 1 else sims[0]))
        return out
