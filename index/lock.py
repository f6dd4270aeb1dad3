"""One process per knowledge base: Chroma and SQLite are not multi-process safe.

A second Docent on the same knowledge base gets KnowledgeBaseBusy at once,
instead of hanging on a database lock. The lock is a POSIX record lock
(`fcntl.lockf`) on `docent.lock` (0600). Such a lock belongs to the process,
not to the open file: a child never inherits it, whether forked or spawned,
and the kernel drops it the moment its holder dies, even by SIGKILL. (An
`flock` belongs to the open file, so a child forked at the wrong moment kept
it alive after the parent was killed.) Record locks do not exclude a second
opener in the same process, so a registry of the folders this process holds
does; and closing any descriptor of the file would drop the lock, so only
this module ever opens it.

The holder's pid is written into the file, best effort (a full disk must not
stop a knowledge base from being opened for reading), and cleared on a clean
close: a pid found there on opening means the last holder died without closing
(`unclean`), and the knowledge base deserves a check.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path


class KnowledgeBaseBusy(Exception):
    pass


_held: dict[tuple[int, int], "ProcessLock"] = {}  # (st_dev, st_ino) of lock files this process holds
_held_guard = threading.Lock()


def _key(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class ProcessLock:
    def __init__(self, path: Path):
        self.path = path
        self._fh = None
        self._key: tuple[int, int] | None = None
        self.unclean = False  # the previous holder died without releasing (set by acquire)

    def _busy(self, owner: str) -> KnowledgeBaseBusy:
        return KnowledgeBaseBusy(
            f"knowledge base {self.path.parent} is in use by another Docent process (pid {owner}); close it and retry"
        )

    def acquire(self) -> None:
        with _held_guard:
            try:
                if _key(os.stat(self.path)) in _held:
                    raise self._busy(str(os.getpid()))
            except FileNotFoundError:
                pass
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            fh = os.fdopen(fd, "r+", encoding="ascii", errors="replace")
            try:
                if os.name == "nt":  # pragma: no cover - Windows
                    import msvcrt

                    fh.seek(0)
                    msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
                else:
                    import fcntl

                    fcntl.lockf(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                owner = fh.read().strip() or "another process"
                fh.close()
                raise self._busy(owner) from None
            try:
                fh.seek(0)
                self.unclean = bool(fh.read().strip())
                fh.seek(0)
                fh.truncate()
                fh.write(str(os.getpid()))
                fh.flush()
            except OSError:  # e.g. disk full: the lock itself is held all the same
                pass
            self._fh = fh
            self._key = _key(os.fstat(fh.fileno()))
            _held[self._key] = self

    def release(self) -> None:
        with _held_guard:
            if self._fh is None:
                return
            try:
                try:  # a clean close: no pid left behind
                    self._fh.seek(0)
                    self._fh.truncate()
                    self._fh.flush()
                except OSError:
                    pass
                if os.name != "nt":
                    import fcntl

                    fcntl.lockf(self._fh.fileno(), fcntl.LOCK_UN)
            finally:
                try:
                    self._fh.close()
                except OSError:  # an unflushed pid on a full disk
                    pass
                self._fh = None
                _held.pop(self._key, None)
                self._key = None
