"""KnowledgeBase: the one service the CLI and the GUI use for documents.

A knowledge base is a folder: `catalog.sqlite` (manifest, texts, passages,
BM25), `chroma/` (vectors), `settings.json`, and a process lock. Heavy
libraries load on first use, so opening a knowledge base is instant.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Callable

from index.catalog import Catalog, FileRecord
from index.config import EngineSettings, default_kb_dir, offline_environment
from index.lock import KnowledgeBaseBusy, ProcessLock
from index.types import SearchHit, SourceDocument

log = logging.getLogger("docent.kb")

__all__ = ["KnowledgeBase", "KnowledgeBaseBusy", "KnowledgeBaseError"]


class KnowledgeBaseError(Exception):
    pass


def embedding_device(backend: str) -> str:
    """Where embeddings would run, without loading a model."""
    try:
        if backend.startswith("onnx"):
            import onnxruntime

            return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"
        from index.embedding import preferred_device

        return preferred_device()
    except Exception:  # pragma: no cover - broken runtime install
        return "unknown"


class KnowledgeBase:
    def __init__(self, root: Path, settings: EngineSettings | None = None):
        offline_environment()
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise KnowledgeBaseError(f"cannot create knowledge base folder {self.root}: {exc.strerror}") from None
        self._lock = ProcessLock(self.root / "docent.lock")
        self._lock.acquire()
        try:
            settings_path = self.root / "settings.json"
            if settings is not None:
                settings.save(settings_path)
            elif not settings_path.exists():
                EngineSettings().save(settings_path)
            self.settings = EngineSettings.load(settings_path)
            self.catalog = Catalog(self.root / "catalog.sqlite")
        except BaseException:
            self._lock.release()
            raise
        self._vectors = None
        self._embedder = None
        self._init_lock = threading.Lock()
        self._background = None

    @classmethod
    def open(cls, root: str | os.PathLike | None = None, settings: EngineSettings | None = None) -> "KnowledgeBase":
        return cls(Path(root) if root else default_kb_dir(), settings)

    @property
    def background(self):
        """One helper thread for work that overlaps a search (the dense ranking)."""
        with self._init_lock:
            if self._background is None:
                from concurrent.futures import ThreadPoolExecutor

                self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="docent-search")
        return self._background

    def close(self) -> None:
        if self._background is not None:
            self._background.shutdown(wait=True)
        try:
            self.catalog.close()
        finally:
            self._lock.release()

    def __enter__(self) -> "KnowledgeBase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- lazily loaded parts ------------------------------------------------
    @property
    def vectors(self):
        with self._init_lock:
            if self._vectors is None:
                from index.vectors import VectorStore

                self._vectors = VectorStore(self.root / "chroma")
        return self._vectors

    @property
    def embedder(self):
        with self._init_lock:
            if self._embedder is None:
                from index.embedding import Embedder

                self._embedder = Embedder(self.settings)
        return self._embedder

    def embedder_if_available(self):
        return self.embedder

    def vectors_available(self) -> bool:
        return self.catalog.counts()["passages"] > 0

    # -- operations ---------------------------------------------------------
    def index(
        self,
        paths: list[str],
        progress: Callable | None = None,
        cancel: threading.Event | None = None,
    ):
        """Index files and folders; with no paths, re-sync every folder added before."""
        from index.sync import Indexer

        targets = list(paths) or self.catalog.roots()
        return Indexer(self, progress, cancel).run(targets)

    def collect_garbage(self) -> None:
        """Finish vector removals a previous (possibly killed) run queued."""
        hashes = self.catalog.gc_hashes()
        if hashes:
            for h in hashes:
                self.vectors.delete_hash(h)
        self.catalog.begin()
        self.catalog.clear_gc(hashes)
        self.catalog.commit()

    def search(self, query: str, k: int = 10, mode: str = "hybrid") -> list[SearchHit]:
        from index.search import search

        return search(self, query, k, mode)

    def documents_for(self, question: str, k: int = 6) -> list[SourceDocument]:
        from index.search import documents_for

        return documents_for(self, question, k, self.settings.document_chars)

    def remove_root(self, path: str) -> int:
        """Forget a folder and everything indexed under it; returns files removed."""
        path = os.path.abspath(path)
        records = self.catalog.files(under=path)
        self.catalog.begin()
        try:
            for record in records:
                self.catalog.remove(record)
            self.catalog.remove_root(path)
            self.catalog.commit()
        except BaseException:
            self.catalog.rollback()
            raise
        self.collect_garbage()
        return len(records)

    def files(self) -> list[FileRecord]:
        return self.catalog.files()

    def text_of(self, path: str) -> str | None:
        return self.catalog.text_of_path(os.path.abspath(path))

    def status(self) -> dict:
        counts = self.catalog.counts()
        failed = [{"path": r.path, "error": r.error} for r in self.catalog.files() if r.status == "failed"]
        return {
            "kb": str(self.root),
            "roots": self.catalog.roots(),
            "files_indexed": counts["indexed"],
            "files_failed": failed,
            "files_pending": counts["pending"],
            "chunks_total": counts["passages"],
            "embedding_model": self.settings.embedding_model,
            "embedding_backend": self.settings.embedding_backend,
            "embedding_device": embedding_device(self.settings.embedding_backend),
            "size_bytes": sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file()),
        }
