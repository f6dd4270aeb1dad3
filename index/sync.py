"""One indexing run: bring the knowledge base in line with the files on disk.

Unchanged files are skipped by stat; changed files are re-extracted; a file
whose bytes match an indexed file (a rename or a copy) reuses its passages
and vectors; files gone from the scanned folders are removed. Each file is
committed on its own, so a kill loses at most the file in flight.
"""
from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from index import chunking
from index.catalog import Catalog, NewPassage
from index.extract import ExtractError, extract, is_supported, os_reason
from index.extract.errors import megabytes
from index.types import Extracted

log = logging.getLogger("docent.sync")

EMBED_BATCH = 256


@dataclass
class Progress:
    files_total: int
    files_done: int
    passages_done: int
    elapsed: float
    current: str = ""

    @property
    def rate(self) -> float:
        return self.passages_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if self.files_done == 0 or self.files_total == 0:
            return None
        return self.elapsed / self.files_done * (self.files_total - self.files_done)


@dataclass
class IndexReport:
    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_failed: list[dict] = field(default_factory=list)
    chunks_total: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict:
        return {
            "files_seen": self.files_seen,
            "files_indexed": self.files_indexed,
            "files_unchanged": self.files_unchanged,
            "files_removed": self.files_removed,
            "files_failed": self.files_failed,
            "chunks_total": self.chunks_total,
            "seconds": round(self.seconds, 3),
        }


class PathError(Exception):
    """A path given by the user that cannot be indexed at all (missing, ...)."""


def content_hash(path: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _norm(path: str | os.PathLike) -> str:
    return os.path.abspath(os.fspath(path))


def scan(roots: Iterable[str]) -> Iterator[tuple[str, os.stat_result | None, bool]]:
    """Yield (path, stat, explicit) for candidate files; follows links, never loops."""
    seen_dirs: set[tuple[int, int]] = set()
    for root in roots:
        try:
            st = os.stat(root)
        except OSError:
            continue
        if not os.path.isdir(root):
            yield root, st, True
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            try:
                dst = os.stat(dirpath)
            except OSError:
                dirnames[:] = []
                continue
            key = (dst.st_dev, dst.st_ino)
            if key in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add(key)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or not is_supported(name):
                    continue
                full = os.path.join(dirpath, name)
                try:
                    fst = os.stat(full)
                except OSError:
                    yield full, None, False  # dangling link or vanished: reported as failed
                    continue
                if os.path.isfile(full):
                    yield full, fst, False


@dataclass
class _Parsed:
    path: str
    size: int
    mtime_ns: int
    hash: str
    extracted: Extracted | None = None
    passages: list[NewPassage] = field(default_factory=list)
    error: str | None = None


class Indexer:
    def __init__(self, kb, progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None):
        self.kb = kb
        self.catalog: Catalog = kb.catalog
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.report = IndexReport()
        self._started = time.perf_counter()
        self._done = 0
        self._total = 0
        self._passages = 0

    # -- public ---------------------------------------------------------------
    def run(self, paths: list[str]) -> IndexReport:
        roots = [_norm(p) for p in paths]
        missing = [p for p in roots if not os.path.lexists(p)]
        if missing:
            raise PathError(f"no such file or folder: {missing[0]}")
        self.kb.collect_garbage()
        for root in roots:
            if os.path.isdir(root):
                self.catalog.add_root(root)
        candidates = list(scan(roots))
        seen = {path for path, _, _ in candidates}
        self.report.files_seen = len(candidates)
        work: list[tuple[str, os.stat_result | None]] = []
        for path, st, explicit in candidates:
            record = self.catalog.file(path)
            if (
                st is not None
                and record is not None
                and record.status in ("indexed", "failed")
                and record.size == st.st_size
                and record.mtime_ns == st.st_mtime_ns
            ):
                self.report.files_unchanged += 1
            else:
                work.append((path, st))
        gone = [r for root in roots if os.path.isdir(root) for r in self.catalog.files(under=root) if r.path not in seen]
        self._total = len(work)
        self._emit("")
        self._process(work, gone)
        if not self.cancel.is_set():
            self._remove(gone)
        self.kb.collect_garbage()
        self.report.chunks_total = self.catalog.counts()["passages"]
        self.report.seconds = time.perf_counter() - self._started
        self.report.cancelled = self.cancel.is_set()
        return self.report

    # -- stages ---------------------------------------------------------------
    def _emit(self, current: str) -> None:
        if self.progress:
            self.progress(
                Progress(self._total, self._done, self._passages, time.perf_counter() - self._started, current)
            )

    def _parse(self, path: str, st: os.stat_result | None) -> _Parsed | tuple:
        if st is None:
            return _Parsed(path, 0, 0, "", error="file vanished or is a broken link")
        max_bytes = self.kb.settings.max_file_bytes
        if st.st_size > max_bytes:  # before hashing: never read a file we will refuse
            return _Parsed(
                path, st.st_size, st.st_mtime_ns, "",
                error=f"file too large ({megabytes(st.st_size)} > {megabytes(max_bytes)} limit)",
            )
        try:
            digest = content_hash(path)
        except OSError as exc:
            return _Parsed(path, st.st_size, st.st_mtime_ns, "", error=os_reason(exc))
        twins = self.catalog.indexed_with_hash(digest)
        if twins:
            return ("twin", path, st, twins)
        try:
            extracted = extract(path, max_bytes=max_bytes)
        except ExtractError as exc:
            return _Parsed(path, st.st_size, st.st_mtime_ns, digest, error=exc.reason)
        except MemoryError:
            return _Parsed(path, st.st_size, st.st_mtime_ns, digest, error="out of memory while reading the file")
        except Exception as exc:  # a parser bug must not stop the run
            log.exception("extractor failed on %s", path)
            return _Parsed(path, st.st_size, st.st_mtime_ns, digest, error=f"cannot read file: {exc}")
        text = extracted.text
        if not text.strip():
            return _Parsed(path, st.st_size, st.st_mtime_ns, digest, error="no text found in the file")
        spans = chunking.chunk(text, self.kb.settings.passage_chars)
        passages = [
            NewPassage(n, extracted.page_at(s.start), s.start, s.end, text[s.start : s.end]) for n, s in enumerate(spans)
        ]
        return _Parsed(path, st.st_size, st.st_mtime_ns, digest, extracted, passages)

    def _process(self, work: list[tuple[str, os.stat_result | None]], gone) -> None:
        gone_by_hash = {r.hash: r for r in gone if r.hash and r.status == "indexed"}
        q: queue.Queue = queue.Queue(maxsize=64)

        def producer() -> None:
            for path, st in work:
                if self.cancel.is_set():
                    break
                try:
                    q.put(self._parse(path, st))
                except Exception as exc:  # pragma: no cover - defensive
                    log.exception("parse failed")
                    q.put(_Parsed(path, 0, 0, "", error=str(exc)))
            q.put(None)

        thread = threading.Thread(target=producer, name="docent-parse", daemon=True)
        thread.start()
        batch: list[_Parsed] = []
        batch_passages = 0
        finished = False
        while not finished:
            item = q.get()
            if item is None:
                finished = True
            elif isinstance(item, tuple):
                self._handle_twin(item, gone, gone_by_hash)
            elif item.error:
                self._store_failed(item)
            else:
                batch.append(item)
                batch_passages += len(item.passages)
            if batch and (finished or batch_passages >= EMBED_BATCH or q.empty()):
                if self.cancel.is_set():
                    break
                self._store_batch(batch)
                batch, batch_passages = [], 0
            if self.cancel.is_set():
                break
        if self.cancel.is_set():
            while thread.is_alive():  # drain so the producer can finish
                try:
                    q.get(timeout=0.1)
                except queue.Empty:
                    pass
        thread.join()

    def _handle_twin(self, item: tuple, gone: list, gone_by_hash: dict) -> None:
        _, path, st, twins = item
        source = twins[0]
        itself = next((t for t in twins if t.path == path), None)
        moved = None if itself else gone_by_hash.pop(source.hash, None)
        self.catalog.begin()
        try:
            if itself is not None:  # touched, bytes unchanged
                self.catalog.move(itself, path, size=st.st_size, mtime_ns=st.st_mtime_ns)
            elif moved is not None:
                self.catalog.move(moved, path, size=st.st_size, mtime_ns=st.st_mtime_ns)
                gone[:] = [r for r in gone if r.id != moved.id]
            else:
                self.catalog.copy_indexed(source, path, size=st.st_size, mtime_ns=st.st_mtime_ns)
            self.catalog.commit()
        except BaseException:
            self.catalog.rollback()
            raise
        self.report.files_indexed += 1
        self._done += 1
        self._passages += source.n_passages
        self._emit(path)

    def _store_failed(self, item: _Parsed) -> None:
        self.catalog.begin()
        try:
            self.catalog.store_failed(item.path, size=item.size, mtime_ns=item.mtime_ns, error=item.error or "failed")
            self.catalog.commit()
        except BaseException:
            self.catalog.rollback()
            raise
        self.report.files_failed.append({"path": item.path, "error": item.error})
        self._done += 1
        self._emit(item.path)

    def _store_batch(self, batch: list[_Parsed]) -> None:
        """Embed a batch, write its vectors in one call, then commit its files in one transaction."""
        texts = [p.text for item in batch for p in item.passages]
        vectors = self.kb.embedder.embed_passages(texts)
        self.catalog.begin()
        for item in batch:
            self.catalog.mark_vectors_pending(item.hash)
        self.catalog.commit()
        self.kb.vectors.upsert_many([(item.hash, len(item.passages)) for item in batch], vectors)
        self.catalog.begin()
        try:
            for item in batch:
                ex = item.extracted
                self.catalog.store_indexed(
                    item.path, size=item.size, mtime_ns=item.mtime_ns, content_hash=item.hash, title=ex.title,
                    fmt=ex.format, encoding=ex.encoding, text=ex.text, passages=item.passages,
                )
            self.catalog.commit()
        except BaseException:
            self.catalog.rollback()
            raise
        for item in batch:
            self.report.files_indexed += 1
            self._done += 1
            self._passages += len(item.passages)
        self._emit(batch[-1].path)

    def _remove(self, gone) -> None:
        if not gone:
            return
        self.catalog.begin()
        try:
            for record in gone:
                self.catalog.remove(record)
            self.catalog.commit()
        except BaseException:
            self.catalog.rollback()
            raise
        self.report.files_removed += len(gone)
