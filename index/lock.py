"""One process per knowledge base: Chroma and SQLite are not multi-process safe.

A second Docent on the same knowledge base gets KnowledgeBaseBusy at once,
instead of hanging on a database lock. The lock is an flock on `docent.lock`
(0600): the kernel drops it when the holder dies, even by SIGKILL, so a
crashed Docent never leaves a stale lock behind. The holder's pid is written
into the file for the message, best effort (a full disk must not stop a
knowledge base from being opened for reading).
"""
from __future__ import annotations

import os
from pathlib import Path


class KnowledgeBaseBusy(Exception):
    pass


class ProcessLock:
    def __init__(self, path: Path):
        self.path = path
        self._fh = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        fh = os.fdopen(fd, "r+", encoding="ascii", errors="replace")
        try:
            if os.name == "nt":  # pragma: no cover - Windows
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            owner = fh.read().strip() or "another process"
            fh.close()
            raise KnowledgeBaseBusy(
                f"knowledge base {self.path.parent} is in use by another Docent process (pid {owner}); close it and retry"
            ) from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
        except OSError:  # e.g. disk full: the lock itself is held all the same
            pass
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            try:
                if os.name != "nt":
                    import fcntl

                    fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            finally:
                try:
                    self._fh.close()
                except OSError:  # an unflushed pid on a full disk
                    pass
                self._fh = None
