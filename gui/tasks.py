"""Run work off the Qt main thread; deliver results on it (after Anki's taskman).

`run(fn, on_success, on_error)` runs fn in a worker thread, then calls
on_success(result) or on_error(exception) on the main thread, so widgets are
only touched there. Without on_error a failure is logged. Jobs that use the
open knowledge base go through `KbSession.run`, which adds the two other
outcomes: a job refused (no knowledge base open) and a stale result.

`Coalescer` carries a fast stream of values from a worker thread (generated
tokens, indexing progress) to the main thread without flooding the event
loop: the worker appends, at most one delivery is queued at a time, and the
main thread takes everything that piled up since.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

log = logging.getLogger("docent.gui")

OnSuccess = Callable[[Any], None]
OnError = Callable[[Exception], None]


def log_failure(exc: Exception) -> None:
    """The default on_error: nobody waits for this job's outcome, so the log keeps it."""
    log.warning("background job failed: %s", exc, exc_info=exc)


class TaskManager(QObject):
    _done = Signal(object, object)

    def __init__(self, parent: QObject | None = None, workers: int = 4):
        super().__init__(parent)
        # Indexing, an answer, a search and a file-list refresh may all run at once.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docent-task")
        # Queued even when a job ends before run() returns: results always come after run() has returned.
        self._done.connect(self._on_done, Qt.QueuedConnection)
        self._closed = False

    def run(self, fn: Callable[[], Any], on_success: OnSuccess | None = None,
            on_error: OnError | None = None) -> Future:
        """fn() in a worker thread; then, on the main thread, on_success(result) or on_error(exception)."""
        future = self._pool.submit(fn)
        callbacks = (on_success, on_error or log_failure)
        future.add_done_callback(lambda f: self._deliver(callbacks, f))
        return future

    def _deliver(self, callbacks, future: Future) -> None:
        if not self._closed:
            try:
                self._done.emit(callbacks, future)
            except RuntimeError:  # the QObject is gone (interpreter shutdown)
                pass

    @Slot(object, object)
    def _on_done(self, callbacks, future: Future) -> None:
        on_success, on_error = callbacks
        try:
            result = future.result()
        except Exception as exc:
            on_error(exc)
            return
        if on_success is not None:
            on_success(result)  # outside the try: a bug here is not the job's failure

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._closed = True


class Coalescer(QObject):
    """Worker threads `push(value)`; the main thread gets `delivered(list_of_values)`.

    With `latest_only`, only the newest value is kept (progress reports).
    """

    delivered = Signal(list)
    _wake = Signal()

    def __init__(self, parent: QObject | None = None, latest_only: bool = False):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._items: list = []
        self._queued = False
        self._latest_only = latest_only
        self._wake.connect(self._flush)

    def push(self, value) -> None:
        with self._lock:
            if self._latest_only:
                self._items = [value]
            else:
                self._items.append(value)
            if self._queued:
                return
            self._queued = True
        try:
            self._wake.emit()
        except RuntimeError:  # receiver deleted during shutdown
            pass

    @Slot()
    def _flush(self) -> None:
        with self._lock:
            items, self._items, self._queued = self._items, [], False
        if items:
            self.delivered.emit(items)

    def flush_now(self) -> None:
        """Main thread: deliver whatever is pending (before a final result is shown)."""
        self._flush()
