"""Move a knowledge base to another embedding model in the background, losing nothing.

The new model's vectors go into a second Chroma folder (`chroma-next/`) while
search keeps using the current folder and model. Stopping keeps what was
written; running again resumes (vectors already in `chroma-next/` are not
made twice). When every passage has its new vector the folders are swapped
and the settings name the new model, under the knowledge base's own lock, so
a search sees either the old pair or the new one. The catalog's meta
`reembed_model` journals the move: a run killed in the middle of the swap is
finished when the knowledge base is next opened (`recover`).

Qt-free: the app drives `Reembed.run` from a worker thread with a progress
callback and a stop event, the CLI from `python main.py index --reembed`.
Run it alone, not beside an `index` of the same knowledge base (the app
queues both on one task runner); a file indexed meanwhile is still caught by
the final pass before the swap.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from typing import Callable

from index import sentence_vectors
from index.errors import KnowledgeBaseError

log = logging.getLogger("docent.reembed")

NEXT = "chroma-next"
OLD = "chroma-old"
JOURNAL = "reembed_model"
BATCH = 256  # passages per embedding call: progress moves and a stop is heard within a second or two


@dataclass(frozen=True)
class ReembedProgress:
    done: int  # passages with a vector of the new model
    total: int
    model: str


def pending_model(kb) -> str | None:
    """The model a paused (or interrupted) re-embed is moving to, if any."""
    return kb.catalog.get_meta(JOURNAL)


def recover(kb) -> None:
    """Finish a swap a killed run left half done (called when a knowledge base opens)."""
    target = pending_model(kb)
    if target is None:
        return
    if not (kb.root / "chroma").exists() and (kb.root / NEXT).exists():
        os.replace(kb.root / NEXT, kb.root / "chroma")  # killed between the two renames
    elif not (kb.root / OLD).exists() and kb.settings.embedding_model != target:
        return  # stopped before the swap: the next run resumes
    _finish(kb, target)


def _finish(kb, target: str) -> None:
    kb.settings.embedding_model = target
    kb.settings.save(kb.root / "settings.json")
    with kb.catalog.transaction():
        kb.catalog.db.execute("DELETE FROM meta WHERE key=?", (JOURNAL,))
    shutil.rmtree(kb.root / OLD, ignore_errors=True)


class Reembed:
    """One knowledge base's move to `model`; `run` may be called again after a stop."""

    def __init__(self, kb, model: str):
        if kb.remote is not None:
            raise KnowledgeBaseError("a shared knowledge base keeps the model its server agreed on")
        current = pending_model(kb)
        if current is not None and current != model:
            raise KnowledgeBaseError(f"this knowledge base is already moving to {current}; finish that first")
        self.kb = kb
        self.model = model
        self._store = None

    def _target(self):
        if self._store is None:
            from index.vectors import VectorStore

            self._store = VectorStore(self.kb.root / NEXT)
        return self._store

    def run(self, progress: Callable[[ReembedProgress], None] | None = None,
            stop: threading.Event | None = None) -> bool:
        """Embed what is missing, then swap; True when the knowledge base now uses `model`,
        False when `stop` was set (everything written so far is kept for the next run)."""
        from index.embedding import Embedder

        kb = self.kb
        if kb.settings.embedding_model == self.model and pending_model(kb) is None:
            return True
        with kb.catalog.transaction():
            kb.catalog.set_meta(JOURNAL, self.model)
        embedder = Embedder(dataclasses.replace(kb.settings, embedding_model=self.model))
        store = self._target()
        while True:  # a file indexed during a pass is caught by the next one
            rows = kb.catalog.db.execute(
                "SELECT vector_id, min(text) FROM passages GROUP BY vector_id ORDER BY vector_id").fetchall()
            have = store.has([vid for vid, _ in rows])
            todo = [(vid, text) for vid, text in rows if vid not in have]
            done = len(rows) - len(todo)
            if progress:
                progress(ReembedProgress(done, len(rows), self.model))
            if not todo:
                break
            for i in range(0, len(todo), BATCH):
                if stop is not None and stop.is_set():
                    return False
                chunk = todo[i : i + BATCH]
                vectors, units = sentence_vectors.embed(embedder, [text or "" for _, text in chunk])
                store.upsert_ids([vid for vid, _ in chunk], vectors, units=units)
                done += len(chunk)
                if progress:
                    progress(ReembedProgress(done, len(rows), self.model))
        extra = set(store.all_ids()) - {vid for vid, _ in rows}
        if extra:
            store.delete_ids(sorted(extra))
        self._swap()
        return True

    def _swap(self) -> None:
        kb = self.kb
        with kb._init_lock:
            self._store.close()
            self._store = None
            if kb._vectors is not None:
                kb._vectors.close()
                kb._vectors = None
            shutil.rmtree(kb.root / OLD, ignore_errors=True)
            if (kb.root / "chroma").exists():
                os.replace(kb.root / "chroma", kb.root / OLD)
            os.replace(kb.root / NEXT, kb.root / "chroma")
            _finish(kb, self.model)
            kb._embedder = None
        kb.secure_files()
        log.info("%s now uses %s", kb.root, self.model)
