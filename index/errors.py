"""Errors the engine reports to people: one line each, never a trace (main.py prints them).

Also what the storage layers' own errors mean: a full disk (resume after freeing space) or
damage (index/repair.py rebuilds the knowledge base from the documents).
"""
from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path


class KnowledgeBaseError(Exception):
    pass


class DiskFullError(KnowledgeBaseError):
    """The disk holding the knowledge base is full; what was committed before is intact."""


class VectorStoreError(Exception):
    """An error Chroma raised in the worker process, carried over by type name and message."""

    storage = True  # a storage-layer failure (disk full detection, damage detection)

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class WorkerUnavailable(Exception):
    """No worker process could be started (the caller then works in-process)."""


_FULL_MESSAGES = ("database or disk is full", "no space left on device", "disk quota exceeded", "disk is full")


def is_disk_full(exc: BaseException | None) -> bool:
    """True for ENOSPC/EDQUOT and the forms SQLite and Chroma report them in (causes followed)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return True
        if isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorcode", None) == 13:  # SQLITE_FULL
            return True
        if any(m in str(exc).lower() for m in _FULL_MESSAGES):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def free_space(path: Path) -> str:
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return "no space"
    return f"{free / 2**20:.1f} MB free"


NEARLY_FULL = 64 * 1024 * 1024  # below this, a failed write is taken for a full disk


def _nearly_full(root: Path) -> bool:
    try:
        return shutil.disk_usage(root).free < NEARLY_FULL
    except OSError:
        return False


def storage_error(exc: BaseException) -> bool:
    """An error from the storage layers (SQLite, the OS, Chroma), not one of ours."""
    return (isinstance(exc, (sqlite3.Error, OSError)) or type(exc).__module__.startswith("chromadb")
            or getattr(exc, "storage", False))  # VectorStoreError: Chroma's, from its worker


def disk_full_error(exc: BaseException, root: Path, writing: bool = False) -> DiskFullError | None:
    """A DiskFullError for `exc` if it means the knowledge base's disk is full.

    Chroma does not always say so ("Error in compaction: Failed to apply logs
    ..."): with `writing`, a storage error while the disk is nearly full counts too.
    """
    if not is_disk_full(exc) and not (writing and storage_error(exc) and _nearly_full(root)):
        return None
    return DiskFullError(
        f"disk full: cannot write to the knowledge base {root} ({free_space(root)}); "
        "free some space and run the same command again to resume (everything indexed so far is kept)"
    )


def may_be_damage(exc: BaseException | None) -> bool:
    """Could `exc` mean a knowledge-base file is damaged, missing or unreadable? Then a check is due.

    SQLite: any DatabaseError but a busy/locked database; Chroma: any of its errors (in-process or
    from the worker); the OS: a missing or unreadable file. A full disk is not damage.
    """
    if is_disk_full(exc):
        return False
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, sqlite3.DatabaseError):
            text = str(exc).lower()
            return "locked" not in text and "busy" not in text
        if isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.EACCES, errno.EIO, errno.EISDIR,
                                                      errno.ENOTDIR, errno.EPERM):
            return True
        if type(exc).__module__.startswith("chromadb") or isinstance(exc, VectorStoreError):
            return True
        if type(exc).__name__ == "PanicException":  # Chroma's Rust core (pyo3) on a damaged segment
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
