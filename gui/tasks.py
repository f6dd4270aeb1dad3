"""Run work off the Qt main thread; deliver results on it (after Anki's taskman).

`run_in_background(fn, on_done)` runs fn in a worker thread; on_done gets a
Future on the main thread, so widgets are only touched there.

`Coalescer` carries a fast stream of values from a worker thread (generated
tokens, indexing progress) to the main thread without flooding the event
loop: the worker appends, at most one delivery is queued at a time, and the
main thread takes everything that piled up since.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot


class TaskManager(QObject):
    _done = Signal(object, object)
    _call = Signal(object)

    def __init__(self, parent: QObject | None = None, workers: int = 4):
        super().__init__(parent)
        # Indexing, an answer, a search and a file-list refresh may all run at once.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docent-task")
        self._done.connect(self._on_done)
        self._call.connect(self._on_call)
        self._closed = False

    def run_in_background(self, fn: Callable[[], Any], on_done: Callable[[Future], None] | None = None) -> Future:
        future = self._pool.submit(fn)
        future.add_done_callback(lambda f: self._deliver(on_done, f))
        return future

    def _deliver(self, on_done, future: Future) -> None:
        if not self._closed:
            try:
                self._done.emit(on_done, future)
            except RuntimeError:  # the QObject is gone (interpreter shutdown)
                pass

    def run_on_main(self, fn: Callable[[], None]) -> None:
        """Thread-safe: schedule fn on the main thread (progress callbacks use this)."""
        if not self._closed:
            self._call.emit(fn)

    @Slot(object, object)
    def _on_done(self, callback, future: Future) -> None:
        if callback is not None:
            callback(future)

    @Slot(object)
    def _on_call(self, fn) -> None:
        fn()

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
