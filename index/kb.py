"""KnowledgeBase: the one service the CLI and the GUI use for documents.

A knowledge base is a folder: `catalog.sqlite` (manifest, texts, passages,
BM25), `chroma/` (vectors), `settings.json`, and a process lock. Heavy
libraries load on first use, so opening a knowledge base is instant.

It holds private documents, so it is private: the folder is 0700 and every
file in it 0600 (our own files are created so; Chroma's are corrected after
each write, and the 0700 folder keeps them out of reach in between).
"""
from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Callable

from index.catalog import Catalog, FileRecord
from index.config import EngineSettings, data_dir, default_kb_dir, kb_parent, offline_environment
from index.errors import KnowledgeBaseError, disk_full_error
from index.lock import KnowledgeBaseBusy, ProcessLock
from index.salvage import load_settings
from index.types import Retrieved, SearchHit, SourceDocument

log = logging.getLogger("docent.kb")

__all__ = ["KnowledgeBase", "KnowledgeBaseBusy", "KnowledgeBaseError"]


# Files of ours in a knowledge base folder (the folder may be shared with other files: those are left alone).
_PRIVATE_FILES = ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm", "catalog.sqlite-journal",
                  "settings.json", "docent.lock", "folders.json", "repair-pending.json")
_PRIVATE_DIRS = ("chroma",)


def _chmod(path: str, mode: int, st: os.stat_result | None = None) -> None:
    try:
        st = st or os.lstat(path)
        if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) & ~mode:
            os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
    except OSError:
        pass


def secure_tree(root: Path) -> None:
    """Knowledge-base files readable by the user only: files 0600 (at most), folders 0700."""
    if os.name == "nt":  # pragma: no cover - NTFS ACLs of the profile folder apply
        return
    for name in _PRIVATE_FILES:
        _chmod(os.path.join(root, name), 0o600)
    for name in _PRIVATE_DIRS:
        top = os.path.join(root, name)
        if not os.path.isdir(top):
            continue
        _chmod(top, 0o700)
        for dirpath, dirnames, filenames in os.walk(top):
            for d in dirnames:
                _chmod(os.path.join(dirpath, d), 0o700)
            for f in filenames:
                _chmod(os.path.join(dirpath, f), 0o600)


def embedding_device(backend: str) -> str:
    """Where embeddings would run, without loading a model."""
    try:
        if backend.startswith("onnx"):
            import onnxruntime

            getattr(onnxruntime, "disable_telemetry_events", lambda: None)()
            return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"
        from index.embedding import preferred_device

        return preferred_device()
    except Exception:  # pragma: no cover - broken runtime install
        return "unknown"


def _replica_folder(spec) -> Path:
    """This computer's replica of a shared knowledge base: the app's (kb/<name>) when it has one,
    so the command line and the app are one client, not two; else remote/<host>_<port>_<name>."""
    import json

    for settings_file in sorted(kb_parent().glob("*/settings.json")):
        try:
            if json.loads(settings_file.read_text(encoding="utf-8")).get("remote") == spec.url:
                return settings_file.parent
        except (OSError, ValueError, AttributeError):
            continue
    return spec.replica_dir(data_dir() / "remote")


class KnowledgeBase:
    """A local knowledge base, or this client's replica of a shared one (index/remote.py)."""

    def __init__(self, root: Path, settings: EngineSettings | None = None):
        offline_environment()
        self.root = Path(root)
        created = not self.root.exists()
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            if created:
                os.chmod(self.root, 0o700)  # whatever the umask
        except OSError as exc:
            raise KnowledgeBaseError(f"cannot create knowledge base folder {self.root}: {exc.strerror}") from None
        self._lock = ProcessLock(self.root / "docent.lock")
        try:
            self._lock.acquire()
        except OSError as exc:
            raise KnowledgeBaseError(f"cannot open knowledge base {self.root}: {exc.strerror or exc}") from None
        from index import repair

        self.damage: list = repair.pending_parts(self.root)  # repair.Finding: what must be repaired
        try:
            settings_path = self.root / "settings.json"
            if settings is not None:
                settings.save(settings_path)
            elif not settings_path.exists():
                EngineSettings().save(settings_path)
            self.settings, notice = load_settings(settings_path)
            if notice:
                self.damage.append(repair.Finding(repair.SETTINGS, notice))
            if self._lock.unclean:  # the last Docent here died without closing: check the files (cheap)
                self.damage += [f for f in repair.quick_scan(self.root) if f.part not in {d.part for d in self.damage}]
            self.remote = None
            if self.settings.remote:
                from index.remote import RemoteSpec

                self.remote = RemoteSpec.parse(self.settings.remote)
            self.catalog = Catalog(Path(":memory:"))  # until the real one opens (or is rebuilt)
            known = (self.root / repair.FOLDERS_FILE).exists() or (self.root / repair.VECTOR_DIR).exists()
            if known and not (self.root / "catalog.sqlite").exists():  # indexed before: the catalog was lost
                if all(d.part != repair.CATALOG for d in self.damage):
                    self.damage.append(repair.Finding(repair.CATALOG, "catalog.sqlite is missing"))
            try:
                catalog = Catalog(self.root / "catalog.sqlite")
                self.catalog.close()
                self.catalog = catalog
                lost = None if self.settings.remote else repair.folders_missing(self.root, catalog)
                if lost and all(d.part != repair.CATALOG for d in self.damage):  # an empty catalog in its place
                    self.damage.append(repair.Finding(repair.CATALOG, lost))
            except sqlite3.DatabaseError as exc:
                if disk_full_error(exc, self.root) is not None:
                    raise
                log.warning("catalog of %s cannot be opened: %s", self.root, exc)
                if all(d.part != repair.CATALOG for d in self.damage):
                    self.damage.append(repair.Finding(repair.CATALOG, str(exc)))
            if self.remote is None and not self.damage:
                from index.reembed import recover

                recover(self)  # a move to another embedding model killed in its last step
            secure_tree(self.root)  # also corrects a knowledge base made by an older version
        except BaseException as exc:
            self._lock.release()
            full = disk_full_error(exc, self.root) if isinstance(exc, Exception) else None
            if full is not None:
                raise full from None
            if isinstance(exc, sqlite3.DatabaseError):
                raise KnowledgeBaseError(f"cannot open the catalog of knowledge base {self.root}: {exc}") from None
            if isinstance(exc, KnowledgeBaseError):
                raise
            if isinstance(exc, OSError):
                raise KnowledgeBaseError(f"cannot open knowledge base {self.root}: {exc.strerror or exc}") from None
            raise
        self._vectors = None
        self._embedder = None
        self._replica = None
        self._remote_failure = None
        self.storage_failure: BaseException | None = None  # a vector-store error search survived (see suspect_damage)
        self._init_lock = threading.Lock()
        self._background = None

    @classmethod
    def open(cls, root: str | os.PathLike | None = None, settings: EngineSettings | None = None) -> "KnowledgeBase":
        """A folder, or `chroma://host:port/name`: a shared knowledge base on a Chroma server,
        kept in a replica folder under the data dir."""
        from index.remote import is_remote

        if root and is_remote(str(root)):
            from index.remote import RemoteSpec

            spec = RemoteSpec.parse(str(root))
            folder = _replica_folder(spec)
            if settings is None:
                settings = EngineSettings.load(folder / "settings.json")
            settings.remote = spec.url
            return cls(folder, settings)
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
            self.drop_vectors()
            self.catalog.close()
        finally:
            self.secure_files()
            self._lock.release()

    def secure_files(self) -> None:
        """Make every knowledge-base file private again (Chroma creates its files 0644)."""
        secure_tree(self.root)

    def __enter__(self) -> "KnowledgeBase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- damage -------------------------------------------------------------
    def check(self, repair: bool = False, progress: Callable | None = None):
        """Every check (index/repair.py); with `repair`, rebuild what is damaged. A RepairReport."""
        from index import repair as repairs

        findings = repairs.diagnose(self)
        if not repair or not findings:
            return repairs.RepairReport(findings=findings)
        return repairs.repair(self, findings, progress)

    def suspect_damage(self, exc: BaseException | None = None) -> bool:
        """After a storage error (`exc`, or one a search survived): is anything damaged? Records it."""
        from index import repair as repairs
        from index.errors import may_be_damage

        exc = exc or self.storage_failure
        self.storage_failure = None
        if exc is not None and not may_be_damage(exc) and type(exc).__name__ != "PanicException":
            return bool(self.damage)
        if exc is not None or self.damage:
            found = repairs.diagnose(self)
            self.damage = found
        return bool(self.damage)

    def repair(self, progress: Callable | None = None):
        """Repair what `damage` names (index/repair.py): a RepairReport."""
        from index import repair as repairs

        return repairs.repair(self, list(self.damage), progress)

    def mirror_folders(self) -> None:
        """Keep the folder list where a damaged catalog cannot take it along (index/repair.py)."""
        if self.catalog.placeholder:
            return
        from index.repair import explicit_files, write_folders

        try:
            write_folders(self.root, self.catalog.roots(), explicit_files(self.catalog))
        except Exception as exc:  # noqa: BLE001 - never the reason an index run fails
            log.warning("folder list not mirrored: %s", exc)

    def drop_vectors(self) -> None:
        """Close the vector store (it is opened again on next use)."""
        with self._init_lock:
            store, self._vectors = self._vectors, None
        if store is not None:
            try:
                store.close()
            except Exception as exc:  # noqa: BLE001 - a damaged store may fail to close
                log.warning("closing the vector store: %s", exc)

    # -- lazily loaded parts ------------------------------------------------
    @property
    def vectors(self):
        return self.open_vectors()

    def open_vectors(self):
        """The vector store, opened on first use (an index run opens it ahead, beside its first files)."""
        with self._init_lock:
            if self._vectors is None:
                if self.remote is not None:
                    self._vectors = self._connect_remote()
                else:
                    from index.vectors import VectorStore

                    try:
                        self._vectors = VectorStore(self.root / "chroma", on_error=self._vector_error)
                    except Exception as exc:
                        self._vector_error(exc)
                        raise
                secure_tree(self.root)
        return self._vectors

    def _vector_error(self, exc: BaseException) -> None:
        self.storage_failure = exc

    RECONNECT_AFTER_S = 20.0

    def _connect_remote(self):
        """The shared store, or the last failure again for a while (a dead server costs one timeout,
        not one per search)."""
        import time

        from index.credentials import get_secret
        from index.remote import Replica, RemoteError, RemoteVectorStore

        failed = self._remote_failure
        if failed is not None and time.monotonic() - failed[0] < self.RECONNECT_AFTER_S:
            raise RemoteError(str(failed[1]))
        try:
            store = RemoteVectorStore(self.remote, get_secret("chroma", self.remote.server))
            self._agree_on_embedding(store)
            self._replica = Replica(self, store)
        except RemoteError as exc:
            self._remote_failure = (time.monotonic(), exc)
            raise
        self._remote_failure = None
        return store

    def _agree_on_embedding(self, store) -> None:
        """Every client of a shared knowledge base must embed and cut passages alike (vector ids are
        `<hash>#<n>`), or dense search is noise. A client with no files of its own adopts the set-up."""
        from index.remote import RemoteError

        keys = ("embedding_model", "query_prompt", "passage_prompt", "passage_chars")
        ours = {k: getattr(self.settings, k) for k in keys}
        theirs = store.embedding_setup()
        if theirs is None:
            store.set_embedding_setup(ours)
        elif theirs != ours:
            own_files = self.catalog.counts()["indexed"] - len(self.catalog.foreign_file_ids())
            if own_files:
                raise RemoteError(
                    f"the shared knowledge base {self.remote.url} uses the embedding model "
                    f"{theirs['embedding_model']} with {theirs['passage_chars']}-character passages; this "
                    f"client's files were indexed with {self.settings.embedding_model} "
                    f"({self.settings.passage_chars}): connect with a new, empty knowledge base"
                )
            for key, value in theirs.items():
                setattr(self.settings, key, value)
            self.settings.save(self.root / "settings.json")
            self._embedder = None  # loaded (e.g. by a search while offline) with the set-up we just left

    @property
    def replica(self):
        """The shared-collection bookkeeping of a remote knowledge base (None when local)."""
        if self.remote is None:
            return None
        _ = self.vectors
        return self._replica

    def _refresh_quietly(self) -> str | None:
        """Before a search: other clients' news if the server answers; if not, search what we have."""
        if self.remote is None:
            return None
        try:
            self.refresh()
        except KnowledgeBaseError as exc:
            log.warning("shared knowledge base not refreshed: %s", exc)
            return f"{exc}; results may miss what others indexed since the last successful pull"
        return None

    def withdraw_shared(self) -> int:
        """Shared knowledge base: take this computer's files off the server (see Replica.withdraw)."""
        return self.replica.withdraw() if self.remote is not None else 0

    def refresh(self, force: bool = False) -> int:
        """Pull other clients' changes of a shared knowledge base (cheap when nothing changed)."""
        return self.replica.pull(force) if self.remote is not None else 0

    @property
    def embedder(self):
        with self._init_lock:
            if self._embedder is None:
                from index.embedding import Embedder

                self._embedder = Embedder(self.settings)
        return self._embedder

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
        try:
            return Indexer(self, progress, cancel).run(targets)
        finally:
            self.mirror_folders()

    def collect_garbage(self) -> None:
        """Finish vector removals a previous (possibly killed) run queued."""
        if self.remote is not None:  # shared: publish our files, then only unreferenced vectors go
            self.replica.collect_garbage()
            return
        hashes = self.catalog.gc_hashes()
        if hashes:
            for h in hashes:
                self.vectors.delete_hash(h)
        with self.catalog.transaction():
            self.catalog.clear_gc(hashes)

    def reserve_shared(self, files: list[tuple]) -> None:
        """Shared knowledge base: name files on the server before their vectors go up (index/remote.py)."""
        if self.remote is not None:
            self.replica.reserve(files)

    def search(self, query: str, k: int = 10, mode: str = "hybrid") -> Retrieved:
        """SearchHits, with `.warnings` when the search was degraded (see index/search.py)."""
        from index.search import search

        stale = self._refresh_quietly()
        hits = search(self, query, k, mode)
        if stale and not hits.warnings:
            hits.warnings.append(stale)
        return hits

    def documents_for(self, question: str, k: int = 6) -> Retrieved:
        """The model's documents for a question, with `.warnings` as for `search`."""
        from index.search import documents_for

        stale = self._refresh_quietly()
        docs = documents_for(self, question, k, self.settings.document_chars)
        if stale and not docs.warnings:
            docs.warnings.append(stale)
        return docs

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
        self.mirror_folders()
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
            "remote": self.remote.url if self.remote is not None else None,
            "files_from_others": len(self.catalog.foreign_file_ids()),
        }
