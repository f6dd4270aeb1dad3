"""Run work off the Qt main thread; deliver results on it (after Anki's taskman).

`run_in_background(fn, on_done)` runs fn in a worker thread; on_done gets a
Future on the main thread, so widgets are only touched there.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot


class TaskManager(QObject):
    _done = Signal(object, object)
    _call = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="docent-task")
        self._done.connect(self._on_done)
        self._call.connect(self._on_call)

    def run_in_background(self, fn: Callable[[], Any], on_done: Callable[[Future], None] | None = None) -> Future:
        future = self._pool.submit(fn)
        future.add_done_callback(lambda f: self._done.emit(on_done, f))
        return future

    def run_on_main(self, fn: Callable[[], None]) -> None:
        """Thread-safe: schedule fn on the main thread (progress callbacks use this)."""
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
