"""One process per knowledge base: Chroma and SQLite are not multi-process safe.

A second Docent on the same knowledge base gets KnowledgeBaseBusy at once,
instead of hanging on a database lock.
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
        fh = open(self.path, "a+")
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
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            try:
                if os.name != "nt":
                    import fcntl

                    fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            finally:
                self._fh.close()
                self._fh = None
