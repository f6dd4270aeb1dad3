"""What the two worker processes share: the extraction worker (index/limits.py) and the vector
worker (index/vector_worker.py).

Each is a fresh interpreter (`python -c BOOT`; a frozen build has no `-c`, so main.py
dispatches a flag instead), never a fork: forking a process that runs ONNX and Chroma threads
is unsafe, and a forked child would inherit the knowledge base's open files. It talks over its
stdin/stdout in length-prefixed frames, dies with its parent, and leaves Ctrl+C to it.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

log = logging.getLogger("docent.limits")

# Only the folder holding the `index` package is passed on: the caller's sys.path may hold
# anything (odfpy appends its own folder, whose math.py shadows the stdlib's).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT_S = 120  # a worker's first reply (imports Chroma or the parsers on a busy machine)
_FRAME = 8  # bytes of big-endian length before each frame


def boot_code(module: str, function: str, arguments: str) -> str:
    """`python -c` code that imports `function` from `module` under PACKAGE_ROOT (argv[1]) and calls it."""
    return f"import sys; sys.path.insert(0, sys.argv[1]); from {module} import {function}; {function}({arguments})"


def worker_command(boot: str, frozen_flag: str, *args: str) -> list[str]:
    """The command line of a worker: `python -c BOOT ROOT ARGS...`, or `<app> FLAG ARGS...` when frozen."""
    if getattr(sys, "frozen", False):
        return [sys.executable, frozen_flag, *args]
    return [sys.executable, "-c", boot, PACKAGE_ROOT, *args]


def spawn(command: list[str]) -> subprocess.Popen:
    """Start a worker with pipes on stdin/stdout; it inherits no other descriptor (close_fds)."""
    kwargs = {}
    if os.name == "nt":  # pragma: no cover - Windows
        kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            close_fds=True, **kwargs)


def stop(proc: subprocess.Popen, kill: bool, wait_s: float = 10.0) -> int | None:
    """End a worker: killed at once, or (kill=False) left `wait_s` to exit on the end of its input;
    its pipes closed. Returns its exit code (None if it would not die)."""
    if kill and proc.poll() is None:
        proc.kill()
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except OSError:
            pass
    try:
        return proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
    try:
        return proc.wait(5)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
        log.warning("worker %s did not exit", proc.pid)
        return None


def write_bytes_frame(stream, data: bytes) -> None:
    """A worker pipe's framing: length, then the bytes."""
    stream.write(len(data).to_bytes(_FRAME, "big") + data)
    stream.flush()


def read_bytes_frame(stream) -> bytes:
    head = stream.read(_FRAME)
    if len(head) < _FRAME:
        raise EOFError
    size = int.from_bytes(head, "big")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this worker when its parent dies (even by SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001 - not Linux: the worker still exits on EOF
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def detach_worker(parent_pid: int):
    """A worker process's set-up: dies with its parent, leaves Ctrl+C to it, and keeps stdin/stdout
    for the protocol (returned as binary files) while whatever a library prints goes nowhere."""
    _die_with_parent(parent_pid)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    return inp, out
