"""The native heap of a long index run (glibc only: elsewhere each call does nothing).

Why: an index run allocates from several threads at once (reader, embedder, writer and the
Rust threads of Chroma's core). glibc gives each thread an arena of its own, up to eight per
core, and memory freed into one arena is not reused by another or given back to the system,
so resident memory rose with the folder although the live data did not: peak RSS of `index`
grew x1.30 from 24 to 1,424 files while Python's own allocations stayed flat (tracemalloc).
Two arenas and a trim after each stored batch keep the heap near what is alive; the growth
left is the vector index itself (Chroma holds its HNSW graph in memory, ~3 KB a vector).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from functools import lru_cache

log = logging.getLogger("docent.memory")

ARENAS = 2  # malloc arenas of the whole process (M_ARENA_MAX); set before threads start allocating
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


@lru_cache(maxsize=None)
def _glibc():
    """glibc's handle, or None (macOS, Windows, musl: their allocators need no such help)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError as exc:
        log.debug("no glibc: %s", exc)
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap the process's malloc arenas; call at start-up, before worker threads exist.
    Returns whether the allocator took it."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, int(arenas)) == 1)


def release() -> None:
    """Give freed heap pages back to the system (after a stored batch: its buffers are garbage)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
