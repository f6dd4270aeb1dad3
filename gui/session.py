"""The open knowledge base, and every background job that uses it.

A KnowledgeBase holds a process lock on its folder: one open instance per
process. Switching (or renaming, deleting) therefore means: ask the running
jobs to stop (`about_to_close`: indexing and answering cancel their events),
wait for them on the main thread without blocking it, close, then open the
next one. Jobs go through `run(fn(kb), on_success, on_error)` so the session
knows them, and every job ends in one of four ways, the same for all:
- success: on_success(result) on the main thread;
- failure: on_error(exception) on the main thread (logged when there is no on_error);
- refused (no knowledge base open, or one is closing): on_error(JobRefused) at once;
- stale (the knowledge base changed meanwhile, or a newer job with the same
  `key` started, or `forget(key)` was called): nothing is called.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Hashable

from PySide6.QtCore import QObject, Signal

from gui.i18n import tr
from gui.tasks import OnError, OnSuccess, TaskManager, log_failure

log = logging.getLogger("docent.gui")


class JobRefused(Exception):
    """A job did not start: no knowledge base is open, or it is being closed (the text says which)."""


class KbSession(QObject):
    about_to_close = Signal()         # jobs: cancel now
    kb_changed = Signal(object)       # the new KnowledgeBase, or None
    open_failed = Signal(str)         # a one-line reason
    repair_status = Signal(str)       # a damaged knowledge base rebuilding itself: progress, then the outcome

    def __init__(self, tasks: TaskManager, parent: QObject | None = None):
        super().__init__(parent)
        from index.vector_worker import use_worker_process

        use_worker_process()  # Chroma's upserts hold the GIL: keep them out of the UI's process
        self.tasks = tasks
        self.kb = None
        self.generation = 0           # bumps at every switch: late results of old jobs are ignored
        self._jobs: set[Future] = set()
        self._latest: dict[Hashable, Future] = {}   # key -> the job whose result is still wanted
        self._pending: tuple[Callable[[], None] | None, Path | None] | None = None
        self._repairing = False
        # Jobs that write the vector store (indexing, a re-embed, a repair) hold it: one at a time.
        self.store_lock = threading.Lock()

    # -- opening and closing ------------------------------------------------
    def open_now(self, root: Path | str) -> bool:
        """Open synchronously (startup). False and `open_failed` when it cannot."""
        from index.kb import KnowledgeBase, KnowledgeBaseBusy, KnowledgeBaseError

        try:
            self.kb = KnowledgeBase.open(root)
        except (KnowledgeBaseBusy, KnowledgeBaseError, OSError) as exc:
            self.kb = None
            self.open_failed.emit(str(exc))
            self.kb_changed.emit(None)
            return False
        self.generation += 1
        self.kb_changed.emit(self.kb)
        if self.kb.damage:
            self.repair()
        return True

    # -- damage -------------------------------------------------------------------
    def repair(self) -> Future | None:
        """Rebuild a damaged knowledge base in the background (index/repair.py); searches meanwhile
        answer from what is intact. Progress and the outcome go to `repair_status`."""
        from gui.i18n import tr

        if self.kb is not None and self.kb.damage:
            self.repair_status.emit(tr("Knowledge base damaged: rebuilding from your documents"))

        def step(p) -> None:  # a worker thread: the signal is queued to the main thread
            self.repair_status.emit(tr("Knowledge base damaged: rebuilding from your documents, {done}/{total} files",
                                       done=p.files_done, total=p.files_total))

        def finished(report=None, error: str = "") -> None:
            self._repairing = False
            error = error or (report.error if report is not None else "")
            if error:
                self.repair_status.emit(tr("Knowledge base could not be repaired: {reason}", reason=error))
                return
            if report is not None and report.findings:
                self.kb_changed.emit(self.kb)  # the panels read the rebuilt catalog again
                self.repair_status.emit(tr("Knowledge base repaired ({rebuilt}); documents lost: {lost}",
                                           rebuilt=", ".join(report.rebuilt) or "-", lost=len(report.lost)))

        def failed(exc: Exception) -> None:  # shown, never raised into Qt
            finished(error=str(exc))

        def job(kb):
            if not kb.damage and not kb.suspect_damage():  # after a storage error: is it damage?
                from index.repair import RepairReport

                return RepairReport()
            with self.store_lock:
                return kb.repair(progress=step)

        self._repairing = True
        future = self.run(job, finished, failed)
        if future is None:
            self._repairing = False
        return future

    def _after_job(self, future: Future) -> None:
        """A job met a storage error (raised, or survived like a search falling back to keywords):
        check the knowledge base, and repair it if it is damaged."""
        kb = self.kb
        if kb is None or self._repairing or self._pending is not None:
            return
        failed = future.exception() if not future.cancelled() else None
        if failed is not None:
            from index.errors import may_be_damage

            if may_be_damage(failed):
                kb.storage_failure = failed
        if kb.storage_failure is not None:
            self.repair()

    def switch(self, root: Path | str | None, between: Callable[[], None] | None = None) -> None:
        """Close the current knowledge base once its jobs end, run `between` (rename, delete...), open root."""
        self._pending = (between, Path(root) if root is not None else None)
        self.about_to_close.emit()
        self._maybe_finish_switch()

    @property
    def switching(self) -> bool:
        return self._pending is not None

    def _maybe_finish_switch(self) -> None:
        if self._pending is None or any(not f.done() for f in self._jobs):
            return
        between, root = self._pending
        self._pending = None
        self._close_kb()
        error = None
        if between is not None:
            try:
                between()
            except Exception as exc:  # reported, then the previous or next KB opens anyway
                error = str(exc)
        if root is not None:
            self.open_now(root)
        else:
            self.kb_changed.emit(None)
        if error:
            self.open_failed.emit(error)

    def _close_kb(self) -> None:
        kb, self.kb = self.kb, None
        self.generation += 1
        if kb is not None:
            try:
                kb.close()
            except Exception:  # pragma: no cover - closing must not stop a switch
                log.exception("closing knowledge base")

    def close(self) -> None:
        """At exit: callers have cancelled their jobs; wait for them, then close."""
        self.about_to_close.emit()
        for f in list(self._jobs):
            try:
                f.result(timeout=60)
            except Exception:
                pass
        self._close_kb()

    # -- jobs -------------------------------------------------------------------------------------
    def run(self, fn: Callable[[Any], Any], on_success: OnSuccess | None = None, on_error: OnError | None = None,
            *, key: Hashable | None = None) -> Future | None:
        """Run fn(kb) in the background; see the module docstring for what is called when.

        Returns None when the job is refused (on_error has been called with JobRefused by then).
        """
        on_error = on_error or log_failure
        kb = self.kb
        if kb is None or self._pending is not None:
            on_error(JobRefused(tr("No knowledge base is open.") if kb is None
                                else tr("The knowledge base is busy; try again in a moment.")))
            return None
        generation = self.generation
        future: Future | None = None

        def deliver(callback: Callable[[Any], None] | None, value: Any) -> None:
            self._jobs.discard(future)
            wanted = generation == self.generation
            if key is not None:
                wanted = wanted and self._latest.get(key) is future
                if self._latest.get(key) is future:
                    del self._latest[key]
            try:
                if wanted and callback is not None:
                    callback(value)
            finally:
                if generation == self.generation:
                    self._after_job(future)
                self._maybe_finish_switch()

        future = self.tasks.run(lambda: fn(kb), lambda result: deliver(on_success, result),
                                lambda exc: deliver(on_error, exc))
        self._jobs.add(future)
        if key is not None:
            self._latest[key] = future
        return future

    def forget(self, key: Hashable) -> None:
        """The result of the running job with this key is no longer wanted (it is dropped when it comes)."""
        self._latest.pop(key, None)

    @property
    def busy(self) -> bool:
        return any(not f.done() for f in self._jobs)
