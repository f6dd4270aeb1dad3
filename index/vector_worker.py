"""Chroma in a process of its own, driven over a pipe by index.vectors.VectorStore.

Why: Chroma's Rust core keeps the GIL for the whole of an upsert, so in the
desktop app's process each batch of vectors froze the event loop. The worker
owns the Chroma client; requests and replies are length-prefixed pickles
(our own process on both ends, never data from outside). It dies with its
parent (PR_SET_PDEATHSIG on Linux, end of the pipe elsewhere), so a killed
indexer never leaves a second writer on the knowledge base.

The desktop app turns it on (use_worker_process);
DOCENT_VECTORS_IN_PROCESS=1 keeps Chroma in the calling process regardless.
"""
from __future__ import annotations

import logging
import os
import pickle
import threading
from pathlib import Path

from index.errors import VectorStoreError, WorkerUnavailable
from index.worker_process import (START_TIMEOUT_S, boot_code, detach_worker, read_bytes_frame, spawn, stop,
                                  worker_command, write_bytes_frame)

log = logging.getLogger("docent.vectors")

_BOOT = boot_code("index.vector_worker", "serve", "sys.argv[2], int(sys.argv[3])")
FROZEN_FLAG = "--docent-vector-worker"  # a frozen build has no `-c`: main.py dispatches this flag


_wanted = False


def use_worker_process(on: bool = True) -> None:
    """The desktop app asks for the worker (stdlib-only module: cheap to import at start-up)."""
    global _wanted
    _wanted = on


def worker_wanted() -> bool:
    return _wanted and os.environ.get("DOCENT_VECTORS_IN_PROCESS") != "1"


def _write(stream, obj) -> None:
    write_bytes_frame(stream, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _read(stream):
    return pickle.loads(read_bytes_frame(stream))


# -- worker side ------------------------------------------------------------------------------


def serve(path: str, parent_pid: int) -> None:
    """The worker's loop: (method, args) in; ("ok", result) | ("error", kind, message, errno) out."""
    inp, out = detach_worker(parent_pid)
    from index.chroma_store import ChromaStore
    from index.config import offline_environment
    from index.memory import limit_arenas, release

    offline_environment()
    limit_arenas()  # as main.py: Chroma's Rust threads would each take an arena of their own
    try:
        store = ChromaStore(Path(path))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        _write(out, _error(exc))
        return
    _write(out, ("ready", os.getpid()))
    while True:
        try:
            name, args = _read(inp)
        except (EOFError, OSError, ValueError):
            break
        if name == "close":
            store.close()
            _write(out, ("ok", None))
            break
        try:
            reply = ("ok", getattr(store, name)(*args))
        except Exception as exc:  # noqa: BLE001
            reply = _error(exc)
        _write(out, reply)
        if name.startswith("upsert"):
            del args, reply
            release()  # the batch's pickled vectors are garbage: give their pages back (index/memory.py)
    os._exit(0)  # no interpreter teardown: Chroma's threads must not outlive a closed pipe


def _error(exc: BaseException) -> tuple:
    kind = f"{type(exc).__module__}.{type(exc).__name__}"
    return ("error", kind, str(exc) or kind, getattr(exc, "errno", None) if isinstance(exc, OSError) else None)


# -- parent side ------------------------------------------------------------------------------


class WorkerConnection:
    """One worker process for one Chroma folder; restarted once if it died between calls."""

    def __init__(self, path: Path):
        self.path = path
        self._proc = None  # subprocess.Popen
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        try:
            proc = spawn(worker_command(_BOOT, FROZEN_FLAG, str(self.path), str(os.getpid())))
        except OSError as exc:
            raise WorkerUnavailable(str(exc)) from None
        first = self._first_reply(proc)
        if first is None:
            stop(proc, kill=True)
            raise WorkerUnavailable("the vector worker exited at start")
        if first[0] == "error":
            stop(proc, kill=True)
            raise self._exception(first)
        self._proc = proc

    @staticmethod
    def _first_reply(proc):
        box: list = []

        def read() -> None:
            try:
                box.append(_read(proc.stdout))
            except Exception:  # noqa: BLE001 - EOF: it died
                pass

        reader = threading.Thread(target=read, daemon=True, name="docent-vector-start")
        reader.start()
        reader.join(START_TIMEOUT_S)
        return box[0] if box else None

    @staticmethod
    def _exception(reply: tuple) -> Exception:
        _, kind, message, err = reply
        if err is not None:
            return OSError(err, message)
        return VectorStoreError(kind, message)

    def call(self, name: str, *args):
        for attempt in (0, 1):
            if self._proc is None:
                self._start()
                self.restarts += 1
            try:
                _write(self._proc.stdin, (name, args))
                reply = _read(self._proc.stdout)
            except (EOFError, OSError, ValueError) as exc:
                log.warning("vector worker %s ended (%s); starting another", self._proc.pid, exc or type(exc).__name__)
                self._stop(self._proc)
                self._proc = None
                if attempt:
                    raise VectorStoreError("worker", "the vector worker keeps dying; see the log") from None
                continue
            if reply[0] == "ok":
                return reply[1]
            raise self._exception(reply)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            _write(proc.stdin, ("close", ()))
            _read(proc.stdout)
        except (EOFError, OSError, ValueError):
            pass
        self._stop(proc)

    @staticmethod
    def _stop(proc) -> None:
        stop(proc, kill=False)  # the end of its input tells it to exit

    def __del__(self) -> None:  # a store dropped without close(): do not leave the worker behind
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass
