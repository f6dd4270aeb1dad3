"""Per-file limits: no single file can hang the indexer or exhaust its memory.

Two kinds of reading, two kinds of guard:

- Plain-text formats (txt, md, csv, ...) are decoded in the indexing thread.
  Decoding, encoding detection and chunking are linear in the file's size,
  and that size is bounded twice: `max_file_bytes` (checked on the metadata,
  before a byte is read) and `max_text_chars` (a text file holding more
  characters than the embedder could get through in reasonable time is
  refused; above 4 bytes per allowed character it is refused unread).
- Every other format (PDF, HTML, DOCX, EPUB, ODT, RTF) goes through
  third-party parsers, some in C, that cannot be interrupted from Python and
  that a hostile file can drive into quadratic time (100,000 nested <div>s
  take lexbor ~12 s, a million ~20 min), huge allocations or a crash. They run
  in one worker process (`ExtractorProcess`) under an address-space limit
  (RLIMIT_AS), with a wall-clock deadline per file. A file over the deadline
  gets the worker killed and replaced, and ends `failed` with
  "took longer than 60 s to read; skipped"; a file that needs more memory, or
  crashes its parser, costs only the worker, never the indexer.

The worker is a fresh interpreter (forking a process that runs ONNX and
Chroma threads is unsafe), started once per indexing run and only when a
non-plain file needs reading; it dies with its parent, writes no core dumps,
and hands back plain JSON. Cost: ~0.25 s to start, well under a millisecond
per file (bench/bench_reliability.py).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable

from index.extract import PLAIN_SUFFIXES, SUPPORTED_SUFFIXES, ExtractError, extract
from index.extract.errors import megabytes, short_message
from index.types import Extracted
from index.worker_process import (START_TIMEOUT_S, boot_code, detach_worker, read_bytes_frame, spawn, stop,
                                  worker_command, write_bytes_frame)

log = logging.getLogger("docent.limits")

DEFAULT_SECONDS = 60.0
DEFAULT_MEMORY_MB = 2048
DEFAULT_TEXT_CHARS = 10_000_000  # ~10k passages: ~10 min of MiniLM on 2 CPU cores
MAX_BYTES_PER_CHAR = 4  # no supported encoding spends more on one character

SANDBOXED_SUFFIXES = frozenset(SUPPORTED_SUFFIXES - PLAIN_SUFFIXES)

_FORMAT_NAMES = {".pdf": "PDF", ".docx": "DOCX", ".epub": "EPUB", ".odt": "ODT", ".rtf": "RTF"}


class Cancelled(Exception):
    """The run was cancelled while a file was being read (the file is not failed)."""


@dataclass(frozen=True)
class Limits:
    seconds: float = DEFAULT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB
    max_bytes: int = 200 * 1024 * 1024
    max_chars: int = DEFAULT_TEXT_CHARS

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(
            seconds=float(getattr(settings, "max_extract_seconds", DEFAULT_SECONDS)),
            memory_mb=int(getattr(settings, "max_extract_memory_mb", DEFAULT_MEMORY_MB)),
            max_bytes=int(settings.max_file_bytes),
            max_chars=int(getattr(settings, "max_text_chars", DEFAULT_TEXT_CHARS)),
        )


def _millions(n: int) -> str:
    return f"{n / 1e6:.1f}".rstrip("0").rstrip(".")


def too_much_text(chars: int, limit: int) -> str:
    return f"too much text ({_millions(chars)} million characters > {_millions(limit)} million limit); skipped"


def too_much_text_unread(size: int, limit: int) -> str:
    return (
        f"too much text (a {megabytes(size)} text file holds more than the "
        f"{_millions(limit)} million characters limit); skipped"
    )


def timed_out(seconds: float) -> str:
    return f"took longer than {seconds:g} s to read; skipped"


def out_of_memory(memory_mb: int) -> str:
    return f"needs more than {memory_mb} MB of memory to read; skipped"


def format_name(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".html", ".htm", ".xhtml"):
        return "HTML"
    return _FORMAT_NAMES.get(suffix, "file")


def needs_sandbox(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in SANDBOXED_SUFFIXES


# -------------------------------------------------------------- the worker --
#
# A fresh interpreter (index/worker_process.py), not multiprocessing: spawn would re-run the
# caller's main script in the child. Frames are JSON, not pickle, so a worker subverted by a
# hostile file can hand the indexer data, never code.

_BOOT = boot_code("index.limits", "worker_entry", "int(sys.argv[2]), int(sys.argv[3])")
FROZEN_FLAG = "--docent-extract-worker"  # a frozen build runs `<app> FLAG PID MB` (main.py)


def _write_frame(stream, obj) -> None:
    write_bytes_frame(stream, json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _read_frame(stream):
    return json.loads(read_bytes_frame(stream).decode("utf-8", "surrogatepass"))


def _vm_size(field: str = "VmSize") -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


_AS_LIMIT: int | None = None  # the worker's address-space limit, once set


def _hit_memory_limit() -> bool:
    """Did this worker run into its limit? C parsers report a failed allocation as a parse error."""
    if _AS_LIMIT is None:
        return False
    peak = _vm_size("VmPeak")
    return peak is not None and peak >= _AS_LIMIT - 16 * 1024 * 1024


def _apply_limits(memory_mb: int) -> None:
    global _AS_LIMIT
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not dump document text to disk
    except (ValueError, OSError):
        pass
    base = _vm_size()
    if base is None or memory_mb <= 0:
        return
    limit = base + memory_mb * 1024 * 1024
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        _AS_LIMIT = limit
    except (ValueError, OSError):
        pass


def _warm_up() -> None:
    """Import the parsers before measuring the address space the limit is added to."""
    for name in ("pypdfium2", "selectolax.lexbor", "docx", "striprtf.striprtf", "index.extract.pdf",
                 "index.extract.html", "index.extract.docx", "index.extract.epub", "index.extract.odt",
                 "index.extract.rtf"):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a missing parser fails its files later, with a reason
            pass


def _to_json(result: Extracted) -> dict:
    return {
        "text": result.text, "title": result.title, "format": result.format, "pages": result.pages,
        "encoding": result.encoding, "warnings": result.warnings,
    }


def _from_json(obj: dict) -> Extracted:
    return Extracted(
        text=str(obj["text"]), title=str(obj["title"]), format=str(obj["format"]),
        pages=tuple((int(n), int(s), int(e)) for n, s, e in obj.get("pages") or ()),
        encoding=obj.get("encoding"), warnings=tuple(str(w) for w in obj.get("warnings") or ()),
    )


def worker_entry(parent_pid: int, memory_mb: int) -> None:
    """The worker's main loop: [path, max_bytes, max_chars] in; ["ok", {...}] | ["error", reason] out."""
    inp, out = detach_worker(parent_pid)
    _warm_up()
    _apply_limits(memory_mb)
    _write_frame(out, ["ready", os.getpid()])
    while True:
        try:
            job = _read_frame(inp)
        except (EOFError, OSError, ValueError):
            return
        if not job:
            return
        path, max_bytes, max_chars = job
        fatal = False
        try:
            result = extract(path, max_bytes=max_bytes)
            if len(result.text) > max_chars:
                reply = ["error", too_much_text(len(result.text), max_chars)]
            else:
                reply = ["ok", _to_json(result)]
        except ExtractError as exc:
            reply = ["error", exc.reason]
        except MemoryError:
            reply, fatal = ["memory", None], True
        except Exception as exc:  # noqa: BLE001 - a parser bug is a reason, not a crash
            reply = ["error", f"cannot read file: {short_message(exc)}"]
        result = None
        if reply[0] == "error" and _hit_memory_limit():
            reply, fatal = ["memory", None], True
        try:
            _write_frame(out, reply)
        except MemoryError:
            reply, fatal = None, True
            try:
                _write_frame(out, ["memory", None])
            except Exception:  # noqa: BLE001
                return
        except (OSError, ValueError):
            return
        if fatal:  # start clean: the heap may be fragmented or a parser half-initialised
            return


# ----------------------------------------------------------- the indexer --


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class ExtractorProcess:
    """One extraction worker with a per-file deadline; replaced after a kill or crash.

    Used from one thread (the indexer's producer). If no worker can be started
    (a frozen build, an exhausted process table), files are read in-process,
    without the guards, and that is logged once.
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        self._proc = None  # subprocess.Popen
        self._replies: queue.Queue | None = None
        self._broken = False
        self.restarts = 0

    # -- life cycle --
    def _start(self) -> bool:
        if self._proc is not None:
            return True
        if self._broken:
            return False
        proc = None
        try:
            proc = spawn(worker_command(_BOOT, FROZEN_FLAG, str(os.getpid()), str(self.limits.memory_mb)))
            replies: queue.Queue = queue.Queue()
            threading.Thread(target=self._reader, args=(proc.stdout, replies), name="docent-extract-reader",
                             daemon=True).start()
            try:
                first = replies.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                first = None
            if not (isinstance(first, list) and first and first[0] == "ready"):
                raise RuntimeError("the extraction worker did not start")
        except Exception as exc:  # noqa: BLE001
            log.warning("cannot start the extraction worker (%s); reading files in-process", exc)
            self._broken = True
            if proc is not None:
                self._stop(proc, kill=True)
            return False
        self._proc, self._replies = proc, replies
        return True

    @staticmethod
    def _reader(stream, replies: queue.Queue) -> None:
        try:
            while True:
                replies.put(_read_frame(stream))
        except MemoryError:
            replies.put(["memory", None])
        except Exception:  # noqa: BLE001 - EOF: the worker exited or was killed
            replies.put(None)

    @staticmethod
    def _stop(proc, kill: bool) -> int | None:
        return stop(proc, kill, wait_s=5)

    def _discard(self, kill: bool) -> int | None:
        proc, self._proc, self._replies = self._proc, None, None
        return self._stop(proc, kill) if proc is not None else None

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            _write_frame(self._proc.stdin, None)
            self._proc.wait(2)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        self._discard(kill=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- work --
    def _send(self, path: str) -> bool:
        try:
            _write_frame(self._proc.stdin, [path, self.limits.max_bytes, self.limits.max_chars])
            return True
        except (OSError, ValueError):
            return False

    def extract(self, path: str, stop: Callable[[], bool] | None = None) -> Extracted:
        """Extracted text of `path`, or ExtractError with a reason; Cancelled once `stop()` is true."""
        limits = self.limits
        if not self._start():
            return _extract_here(path, limits)
        if not self._send(path):  # died between two files: one fresh attempt
            self._discard(kill=True)
            if not self._start() or not self._send(path):
                self._discard(kill=True)
                return _extract_here(path, limits)
        deadline = time.monotonic() + limits.seconds
        while True:
            if stop is not None and stop():
                self._discard(kill=True)
                raise Cancelled()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._discard(kill=True)
                self.restarts += 1
                log.info("%s: reading took longer than %g s; worker killed", path, limits.seconds)
                raise ExtractError(timed_out(limits.seconds))
            try:
                reply = self._replies.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            break
        if reply is None:
            code = self._discard(kill=True)
            self.restarts += 1
            log.info("%s: extraction worker died (exit code %s)", path, code)
            what = format_name(path)
            if code is not None and code < 0:
                raise ExtractError(f"the {what} reader crashed on this file ({_signal_name(code)}); skipped")
            raise ExtractError(f"the {what} reader stopped on this file (exit code {code}); skipped")
        kind, value = reply[0], reply[1]
        if kind == "ok":
            return _from_json(value)
        if kind == "memory":
            self._discard(kill=True)  # it exits after a memory error anyway
            self.restarts += 1
            raise ExtractError(out_of_memory(limits.memory_mb))
        raise ExtractError(str(value))

    def __enter__(self) -> "ExtractorProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _extract_here(path: str, limits: Limits) -> Extracted:
    result = extract(path, max_bytes=limits.max_bytes)
    if len(result.text) > limits.max_chars:
        raise ExtractError(too_much_text(len(result.text), limits.max_chars))
    return result
