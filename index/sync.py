"""One indexing run: bring the knowledge base in line with the files on disk.

Unchanged files are skipped by stat; changed files are re-extracted; a file
whose bytes match an indexed file (a rename or a copy) reuses its passages
and vectors; files gone from the scanned folders are removed. Each file is
committed on its own, so a kill loses at most the file in flight.

Nothing a file does can stop the run: every file ends `indexed` or `failed`
with a reason (unreadable, a link loop, a name that is not valid UTF-8, a
pipe, too large, too much text, a parser that ran out of time or memory or
crashed: see index/limits.py); a file that changes while it is read is read
again. Only the knowledge base itself failing (a full disk) ends the run, as
a DiskFullError with everything committed so far intact.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import queue
import re
import stat as stat_module
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from index import chunking, memory, sentence_vectors
from index.catalog import Catalog, NewPassage, analysed
from index.extract import PLAIN_SUFFIXES, ExtractError, extract, is_supported, os_reason
from index.extract.errors import megabytes
from index.errors import DiskFullError, disk_full_error
from index.limits import Cancelled, ExtractorProcess, Limits, needs_sandbox, too_much_text, too_much_text_unread
from index.types import Extracted

log = logging.getLogger("docent.sync")

EMBED_BATCH = 256
EMBED_SLICE = 2048  # a huge file is embedded in slices: progress moves and cancel is heard
# Text read ahead of the embedder and not yet stored, at most, in _Parsed.weight (2 a character: the
# text and its passages): ~8 batches of passages, well ahead of the embedder, and a bound that keeps
# memory flat in a folder of large files (it was 32 M: 64 M characters in flight).
QUEUED_CHARS = 4_000_000
WRITES_AHEAD = 8  # embedded batches waiting for the writer thread, at most
# Files read ahead of the embedder, at most (their text is bounded by QUEUED_CHARS): enough that small
# files fill whole EMBED_BATCHes, so Chroma gets fewer, larger upserts (at 64 files a batch, a folder of
# one-paragraph files made 64-vector upserts: ~0.6 ms a vector against ~0.45 at 256).
FILES_AHEAD = 1024
BAD_NAME = "path is not valid UTF-8 (rename the file or folder to index it)"
CHANGING = "file kept changing while it was read (still being written?); it will be read again on the next run"
_SURROGATES = re.compile("[\ud800-\udfff]")


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


def display_path(path: str) -> str:
    """`path` as valid Unicode: bytes of a name that is not UTF-8 become U+FFFD.

    The catalog, the JSON output and the GUI need text; such a file is
    recorded under this form as failed (BAD_NAME), never read.
    """
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "replace")


def scan(roots: Iterable[str]) -> Iterator[tuple[str, os.stat_result | None, bool]]:
    """Yield (path, stat, explicit) for candidate files; follows links, never loops.

    stat is None for what cannot be looked at (a broken link, a link loop, a
    path too long, a folder that cannot be opened): reported as failed.
    """
    seen_dirs: set[tuple[int, int]] = set()
    for root in roots:
        try:
            st = os.stat(root)
        except OSError:
            yield root, None, True
            continue
        if not stat_module.S_ISDIR(st.st_mode):
            yield root, st, True
            continue
        errors: list[OSError] = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=errors.append):
            while errors:
                yield errors.pop(0).filename or dirpath, None, False
            try:
                dst = os.stat(dirpath)
            except OSError:
                dirnames[:] = []
                yield dirpath, None, False
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
                    yield full, None, False  # dangling link, loop, too long, vanished: failed with a reason
                    continue
                if not stat_module.S_ISDIR(fst.st_mode):
                    yield full, fst, False  # pipes and devices too: failed with a reason, never opened
        while errors:
            yield errors.pop(0).filename or root, None, False


def unreachable_reason(path: str) -> str:
    """Why a scanned path could not be looked at (stat failed or a folder would not open)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return _stat_reason(path, exc)
    if stat_module.S_ISDIR(st.st_mode):
        try:
            os.scandir(path).close()
        except OSError as exc:
            return f"cannot open folder: {_stat_reason(path, exc)}"
        return "folder could not be read"
    return "file vanished while its folder was scanned"


def _stat_reason(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENAMETOOLONG:
        return f"path too long for this system ({len(os.fsencode(path)):,} bytes)"
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        return "broken link (its target does not exist)"
    return os_reason(exc)


class _Budget:
    """Characters of text read ahead of the embedder; the reader waits above the limit."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def acquire(self, n: int, halted: Callable[[], bool]) -> bool:
        with self._cond:
            while self.used and self.used + n > self.limit:  # one item always fits
                if halted():
                    return False
                self._cond.wait(0.2)
            self.used += n
            return True

    def release(self, n: int) -> None:
        with self._cond:
            self.used = max(0, self.used - n)
            self._cond.notify_all()


class _PromptGil:
    """A shorter GIL switch interval while an index run's threads share the interpreter.

    The embedder hands the GIL back for every numpy operation (a few ms each) and must wait
    for it again behind the reader's and the writer's Python, up to a whole interval (5 ms by
    default) each time. Process-wide, so counted: the last run to finish restores the interval it found."""

    INTERVAL_S = 0.0005
    _lock = threading.Lock()
    _users = 0
    _saved = 0.0

    def __enter__(self) -> None:
        with self._lock:
            if _PromptGil._users == 0:
                _PromptGil._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self.INTERVAL_S, _PromptGil._saved))
            _PromptGil._users += 1

    def __exit__(self, *exc) -> None:
        with self._lock:
            _PromptGil._users -= 1
            if _PromptGil._users == 0:
                sys.setswitchinterval(_PromptGil._saved)


@dataclass
class _Parsed:
    path: str
    size: int
    mtime_ns: int
    hash: str
    extracted: Extracted | None = None
    passages: list[NewPassage] = field(default_factory=list)
    error: str | None = None

    @property
    def weight(self) -> int:
        return len(self.extracted.text) * 2 if self.extracted is not None else 0


class Indexer:
    def __init__(self, kb, progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
                 reuse_vectors: bool = False):
        """`reuse_vectors`: a file whose vectors the store still holds (`<hash>#0..n-1`, nothing more) is
        not embedded again (index/repair.py rebuilding a lost catalog)."""
        self.kb = kb
        self.reuse_vectors = reuse_vectors
        self.vectors_reused = 0
        self.vectors_embedded = 0
        self.catalog: Catalog = kb.catalog
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.report = IndexReport()
        self._started = time.perf_counter()
        self._done = 0
        self._total = 0
        self._passages = 0
        self.limits = Limits.from_settings(kb.settings)
        self._extractor = ExtractorProcess(self.limits)
        self._halt = threading.Event()  # cancel, or the consumer failed: the reader stops
        self._budget = _Budget(QUEUED_CHARS)
        self._embedder = kb.embedder  # fetched once: kb's init lock is held while the writer opens Chroma

    def _halted(self) -> bool:
        return self._halt.is_set() or self.cancel.is_set()

    # -- public ---------------------------------------------------------------
    def run(self, paths: list[str]) -> IndexReport:
        try:
            return self._run(paths)
        except DiskFullError:
            raise
        except Exception as exc:
            full = disk_full_error(exc, self.kb.root, writing=True)
            if full is None:
                raise
            self.catalog.rollback()
            raise full from exc
        finally:
            self._extractor.close()
            self.kb.secure_files()

    def _run(self, paths: list[str]) -> IndexReport:
        roots = [_norm(p) for p in paths]
        missing = [p for p in roots if not os.path.lexists(p)]
        if missing:
            raise PathError(f"no such file or folder: {display_path(missing[0])}")
        bad = [p for p in roots if display_path(p) != p]
        if bad:
            raise PathError(f"{BAD_NAME}: {display_path(bad[0])}")
        self.kb.collect_garbage()
        with self.catalog.transaction():
            for root in roots:
                if os.path.isdir(root):
                    self.catalog.add_root(root)
        self.kb.mirror_folders()  # before the bulk of the writes (a full disk may stop them)
        candidates = list(scan(roots))
        seen = {display_path(path) for path, _, _ in candidates}
        self.report.files_seen = len(candidates)
        work: list[tuple[str, os.stat_result | None]] = []
        for path, st, explicit in candidates:
            record = self.catalog.file(display_path(path))
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
        with _PromptGil():
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
        """Read one file -> _Parsed (passages or an error) or ("twin", ...); Cancelled passes through."""
        shown = display_path(path)
        if shown != path:
            return _Parsed(shown, st.st_size if st else 0, st.st_mtime_ns if st else 0, "", error=BAD_NAME)
        if st is None:
            return _Parsed(path, 0, 0, "", error=unreachable_reason(path))
        for attempt in range(3):
            result = self._parse_once(path, st)
            if not isinstance(result, os.stat_result):
                return result
            # It changed while we read it: what we have may mix two versions. Read it again.
            log.info("%s changed while it was read (attempt %d)", path, attempt + 1)
            if attempt < 2:
                st = result
        # Recorded with the stat it had before the last read, not the current one,
        # so the next run sees a change and reads it again.
        return _Parsed(path, st.st_size, st.st_mtime_ns, "", error=CHANGING)

    def _parse_once(self, path: str, st: os.stat_result) -> _Parsed | tuple | os.stat_result:
        """One read of `path` as `st` describes it; a newer stat_result if the file changed meanwhile."""
        failed = lambda reason, digest="": _Parsed(path, st.st_size, st.st_mtime_ns, digest, error=reason)  # noqa: E731
        if not stat_module.S_ISREG(st.st_mode):  # a pipe would block the reader forever
            return failed("not a regular file (a pipe, socket or device); skipped")
        limits = self.limits
        if st.st_size > limits.max_bytes:  # before hashing: never read a file we will refuse
            return failed(f"file too large ({megabytes(st.st_size)} > {megabytes(limits.max_bytes)} limit)")
        plain = os.path.splitext(path)[1].lower() in PLAIN_SUFFIXES
        if plain and st.st_size > 4 * limits.max_chars:
            return failed(too_much_text_unread(st.st_size, limits.max_chars))
        try:
            digest = content_hash(path)
        except OSError as exc:
            return failed(os_reason(exc))
        twins = self.catalog.indexed_with_hash(digest)
        if twins:
            changed = self._changed(path, st)
            if changed is not None:
                return changed if isinstance(changed, os.stat_result) else failed(changed, digest)
            return ("twin", path, st, twins)
        try:
            if needs_sandbox(path):
                extracted = self._extractor.extract(path, self._halted)
            else:  # plain text (linear-time decoding, bounded above) or an unsupported name
                extracted = extract(path, max_bytes=limits.max_bytes)
                if len(extracted.text) > limits.max_chars:
                    raise ExtractError(too_much_text(len(extracted.text), limits.max_chars))
        except ExtractError as exc:
            reason = exc.reason
        except MemoryError:
            reason = "out of memory while reading the file"
        except Cancelled:
            raise
        except Exception as exc:  # a parser bug must not stop the run
            log.exception("extractor failed on %s", path)
            reason = f"cannot read file: {exc}"
        else:
            reason = None
        changed = self._changed(path, st)
        if isinstance(changed, os.stat_result):
            return changed
        if reason is not None or changed is not None:
            return failed(reason or changed, digest)
        text = extracted.text
        if _SURROGATES.search(text):  # not storable as UTF-8; same length keeps offsets
            text = _SURROGATES.sub("\ufffd", text)
            extracted = Extracted(text, _SURROGATES.sub("\ufffd", extracted.title), extracted.format,
                                  extracted.pages, extracted.encoding, extracted.warnings)
        if not text.strip():
            return failed("no text found in the file", digest)
        spans = chunking.chunk(text, self.kb.settings.passage_chars)
        passages = [
            NewPassage(n, extracted.page_at(s.start), s.start, s.end, text[s.start : s.end]) for n, s in enumerate(spans)
        ]
        return _Parsed(path, st.st_size, st.st_mtime_ns, digest, extracted, passages)

    @staticmethod
    def _changed(path: str, st: os.stat_result) -> os.stat_result | str | None:
        """None if `path` still matches `st`; its new stat if it changed; a reason if it is gone."""
        try:
            now = os.stat(path)
        except FileNotFoundError:
            return "file was deleted while it was being read"
        except OSError as exc:
            return os_reason(exc)
        if (now.st_size, now.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            return now
        return None

    def _process(self, work: list[tuple[str, os.stat_result | None]], gone) -> None:
        """Three stages at once: a reader thread extracts and chunks files; this thread embeds them
        in batches; a writer thread analyses each embedded batch for the lexical index and stores it
        (Chroma, then the catalog), in order, while the next batch embeds. The embedder (numpy, BLAS
        without the GIL) waits for writes only when WRITES_AHEAD batches are pending."""
        gone_by_hash = {r.hash: r for r in gone if r.hash and r.status == "indexed"}
        q: queue.Queue = queue.Queue(maxsize=FILES_AHEAD)
        writes: queue.Queue = queue.Queue(maxsize=WRITES_AHEAD)
        failure: list[BaseException] = []

        def producer() -> None:
            try:
                for path, st in work:
                    if self._halted():
                        break
                    try:
                        item = self._parse(path, st)
                    except Cancelled:
                        break
                    except Exception as exc:  # pragma: no cover - defensive
                        log.exception("parse failed")
                        item = _Parsed(display_path(path), 0, 0, "", error=f"cannot read file: {exc}")
                    if isinstance(item, _Parsed) and not self._budget.acquire(item.weight, self._halted):
                        break
                    q.put(item)
            finally:
                q.put(None)

        def writer() -> None:
            if work and self.kb.remote is None:
                try:
                    self.kb.open_vectors()  # open Chroma (1-2 s) while the first files are read
                except Exception as exc:  # noqa: BLE001 - the first write reports it
                    log.debug("vector store not opened ahead: %s", exc)
            while (op := writes.get()) is not None:
                if failure:
                    continue  # drain: the run is ending
                try:
                    self._write(op, gone, gone_by_hash)
                except BaseException as exc:  # a full disk, a dead store: this thread's transaction is rolled back
                    failure.append(exc)
                    self._halt.set()
                if op[0] == "batch":
                    op = None  # the batch's texts, vectors and buffers are garbage now:
                    memory.release()  # give their pages back to the system (index/memory.py)

        reader = threading.Thread(target=producer, name="docent-parse", daemon=True)
        reader.start()
        if work:  # load the model before the writer imports Chroma (one big import at a time)
            try:
                self._embedder.dimension  # noqa: B018
            except Exception as exc:  # noqa: BLE001 - the first batch reports it
                log.debug("embedding model not loaded ahead: %s", exc)
        storer = threading.Thread(target=writer, name="docent-store", daemon=True)
        storer.start()
        batch: list[_Parsed] = []
        batch_passages = 0
        finished = False
        try:
            while not finished and not failure:
                item = q.get()
                if item is None:
                    finished = True
                elif isinstance(item, tuple):
                    writes.put(("twin", item))
                elif item.error:
                    writes.put(("failed", item))
                else:
                    batch.append(item)
                    batch_passages += len(item.passages)
                if batch and (finished or batch_passages >= EMBED_BATCH or q.empty()):
                    if self.cancel.is_set():
                        break
                    embedded = self._embed_batch(batch)
                    if embedded is None:
                        break
                    writes.put(("batch", batch, *embedded))
                    batch, batch_passages = [], 0
                if self.cancel.is_set():
                    break
        finally:
            self._halt.set()  # cancelled, finished or failed: the reader must stop and exit
            while reader.is_alive():  # drain so the producer can finish
                try:
                    q.get(timeout=0.1)
                except queue.Empty:
                    pass
            reader.join()
            writes.put(None)
            storer.join()
        if failure:
            raise failure[0]

    def _write(self, op: tuple, gone: list, gone_by_hash: dict) -> None:
        kind = op[0]
        if kind == "twin":
            self._handle_twin(op[1], gone, gone_by_hash)
        elif kind == "failed":
            self._store_failed(op[1])
        else:
            _, batch, fresh, vectors, units = op
            try:
                self._store_batch(batch, fresh, vectors, units)
            finally:
                for done in batch:
                    self._budget.release(done.weight)

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

    def _embed(self, batch: list[_Parsed], texts: list[str]):
        """(vectors, sentence units or None) for `texts`, in slices so a huge file shows progress and
        hears cancel; None if cancelled."""
        if len(texts) <= EMBED_SLICE:
            return sentence_vectors.embed(self._embedder, texts)
        import numpy as np

        parts, units = [], []
        for start in range(0, len(texts), EMBED_SLICE):
            if self.cancel.is_set():
                return None
            vectors, some = sentence_vectors.embed(self._embedder, texts[start : start + EMBED_SLICE])
            parts.append(vectors)
            units = None if some is None else units + some
            if self.progress:
                self.progress(Progress(self._total, self._done, self._passages + start + len(parts[-1]),
                                       time.perf_counter() - self._started, batch[-1].path))
        return np.concatenate(parts), units

    def _vectors_present(self, batch: list[_Parsed]) -> set[str]:
        """Hashes of the batch whose vectors the store holds exactly (reuse_vectors)."""
        from index.catalog import vector_id

        if not self.reuse_vectors:
            return set()
        counts = {item.hash: len(item.passages) for item in batch}
        ids = [vector_id(h, n) for h, c in counts.items() for n in range(c + 1)]
        present = self.kb.vectors.has(ids)
        return {h for h, c in counts.items()
                if vector_id(h, c) not in present and all(vector_id(h, n) in present for n in range(c))}

    def _embed_batch(self, batch: list[_Parsed]) -> tuple[list[_Parsed], object, object] | None:
        """(files needing vectors, their vectors, their sentence units or None) for a batch; None if
        cancelled meanwhile."""
        reused = self._vectors_present(batch)
        fresh = [item for item in batch if item.hash not in reused]
        texts = [p.text for item in fresh for p in item.passages]
        embedded = self._embed(fresh, texts) if texts else None
        if texts and embedded is None:
            return None
        vectors, units = embedded or (None, None)
        self.vectors_reused += sum(len(item.passages) for item in batch if item.hash in reused)
        self.vectors_embedded += len(texts)
        return fresh, vectors, units

    def _store_batch(self, batch: list[_Parsed], fresh: list[_Parsed], vectors, units=None) -> None:
        """Write a batch's vectors in one call, then commit its files in one transaction.

        Its passages are analysed for the lexical index here, in the writer thread, beside the
        embedder and outside the transaction (the catalog's writer lock is held for inserts only)."""
        for item in batch:
            for p in item.passages:
                p.analysed = analysed(p.text)
        self.catalog.begin()
        try:
            for item in fresh:
                self.catalog.mark_vectors_pending(item.hash)
            self.catalog.commit()
        except BaseException:
            self.catalog.rollback()
            raise
        self.kb.reserve_shared([(item.path, item.hash, item.extracted.title, item.extracted.format, item.size,
                                 len(item.passages)) for item in batch])
        if fresh:
            self.kb.vectors.upsert_many([(item.hash, len(item.passages)) for item in fresh], vectors,
                                        [p for item in fresh for p in item.passages], units=units)
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
