"""Moving the open knowledge base to another search model in the background (index/reembed.py).

`Reembed.run(progress, stop)` runs as a session job; its progress reports are coalesced (only
the newest reaches the main thread). Pause sets the stop event: the run ends after its current
batch and keeps what it wrote, so Resume (or the next start of the app: a knowledge base with a
pending re-embed resumes it when it opens) continues where it stopped. Search keeps using the
old vectors until the run swaps them in.

One writer of the vector store at a time: an indexing run that starts pauses the re-embed, which
resumes when indexing is over; both jobs (and a repair) hold the session's `store_lock`, so the
end of a batch in flight cannot overlap them.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from gui.indexing import IndexingController
from gui.session import JobRefused, KbSession
from gui.tasks import Coalescer

log = logging.getLogger("docent.gui")

STARTUP_DELAY_MS = 1500


@dataclass(frozen=True)
class ModelState:
    """What the model row shows of the open knowledge base."""
    model: str             # the model its vectors are made with
    target: str            # the model new knowledge bases get (the upgrade's target)
    pending: str | None    # the model a paused or interrupted re-embed is moving to
    shared: bool           # a shared knowledge base keeps the model its server agreed on
    # model -> (name without "bundled:", the languages it was trained on or None): read with the
    # state in the background, so the window never imports the embedding module (numpy) itself
    names: dict = field(default_factory=dict)

    @property
    def upgradable(self) -> bool:
        return not self.shared and self.model != self.target


class ReembedController(QObject):
    progress = Signal(object)          # index.reembed.ReembedProgress
    state_changed = Signal(str)        # idle | running | stopping | paused
    model_known = Signal(object)       # ModelState of the open knowledge base (None: none open)
    finished = Signal(str, str)        # the model now in use, error message ("" when none)

    def __init__(self, session: KbSession, indexing: IndexingController, target: Callable[[], str],
                 parent: QObject | None = None):
        """`target`: the model new knowledge bases get (the app's setting), asked each time."""
        super().__init__(parent)
        self.session = session
        self.indexing = indexing
        self._target = target
        self.state = "idle"
        self.model_state: ModelState | None = None
        self._kb = None
        self._first_open = True
        self.last_progress = None
        self._stop = threading.Event()
        self._future = None
        self._user_paused = False
        self._after_indexing = False   # paused for an indexing run: resume when it is over
        self._progress = Coalescer(self, latest_only=True)
        self._progress.delivered.connect(self._on_progress_items)
        session.kb_changed.connect(self._on_kb_changed)
        session.about_to_close.connect(self._on_about_to_close)
        indexing.started.connect(self._on_indexing_started)
        indexing.finished.connect(lambda *_: self._on_indexing_over())

    @property
    def target(self) -> str:
        return self._target()

    @property
    def waiting_for_indexing(self) -> bool:
        return self._after_indexing and not self.running

    @property
    def running(self) -> bool:
        """From start until its outcome reached the main thread."""
        return self._future is not None

    def _on_progress_items(self, items: list) -> None:
        self.last_progress = items[-1]
        self.progress.emit(items[-1])

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    # -- the knowledge base's model ----------------------------------------------------------------
    def _on_kb_changed(self, kb) -> None:
        if kb is not None and kb is self._kb:  # the same one read again (after a repair): keep the run
            self.refresh()
            return
        self._kb = kb
        self._stop.set()  # the previous knowledge base's run (its result is dropped as stale)
        self._future = None
        self._user_paused = self._after_indexing = False
        self.last_progress = None
        self.model_state = None
        self._set_state("idle")
        self.model_known.emit(None)
        if kb is not None:
            # At startup, once the window is up and idle (as gui/app.py's prewarm): the job imports the
            # embedding module (numpy), which must not delay the first paint.
            QTimer.singleShot(STARTUP_DELAY_MS if self._first_open else 0, self.refresh)
            self._first_open = False

    def refresh(self) -> None:
        """Read the knowledge base's model (a background job); a pending re-embed resumes."""
        target = self.target

        def job(kb) -> ModelState:
            from index.embedding import BUNDLED_PREFIX, MODEL_LANGUAGES
            from index.reembed import pending_model

            model, pending = kb.settings.embedding_model, pending_model(kb)
            names = {m: (m[len(BUNDLED_PREFIX):] if m.startswith(BUNDLED_PREFIX) else m, MODEL_LANGUAGES.get(m))
                     for m in (model, target, pending) if m}
            return ModelState(model, target, pending, kb.remote is not None, names)

        def known(state: ModelState) -> None:
            self.model_state = state
            self.model_known.emit(state)
            if state.pending and not self.running and not self._user_paused:
                self.start(state.pending)  # paused or cut short in an earlier session: go on

        self.session.run(job, known, lambda exc: log.warning("cannot read the search model: %s", exc),
                         key="reembed-model")

    # -- runs ----------------------------------------------------------------------------------------
    def start(self, model: str | None = None) -> None:
        """Re-embed the open knowledge base with `model` (default: the pending one, else the target)."""
        state = self.model_state
        if self.running or state is None or state.shared:
            return
        model = model or state.pending or self.target
        self._user_paused = False
        if self.indexing.running:  # one writer at a time: after the indexing run
            self._after_indexing = True
            self._set_state("paused")
            return
        self._after_indexing = False
        self._stop = threading.Event()
        stop = self._stop
        future = None

        def job(kb) -> bool:
            from index.reembed import Reembed

            with self.session.store_lock:
                if stop.is_set():
                    return False
                return Reembed(kb, model).run(self._progress.push, stop)

        def done(switched: bool) -> None:
            if self._future is not future:
                return
            self._progress.flush_now()
            self._future = None
            if switched:
                self.model_state = replace(state, model=model, pending=None)
                self._set_state("idle")
                self.model_known.emit(self.model_state)
                self.finished.emit(model, "")
            else:
                self.model_state = replace(state, pending=model)
                self._set_state("paused")
                if self._after_indexing and not self.indexing.running:
                    self.start(model)  # the indexing run ended while this one was stopping

        def failed(exc: Exception) -> None:
            if future is not None and self._future is not future:
                return
            self._future = None
            if isinstance(exc, JobRefused):
                self._set_state("idle")
                return
            log.warning("re-embedding failed: %s", exc)
            self.model_state = replace(state, pending=model)
            self._set_state("paused")  # what was written is kept: Resume tries again
            self.finished.emit(state.model, str(exc) or type(exc).__name__)

        self.model_state = replace(state, pending=model)
        future = self.session.run(job, done, failed)
        if future is None:
            return
        self._future = future
        self._set_state("running")

    def pause(self) -> None:
        """Stop after the current batch; what was written is kept for `resume`."""
        self._user_paused = True
        self._after_indexing = False
        if self.running:
            self._stop.set()
            self._set_state("stopping")

    def resume(self) -> None:
        if not self.running and self.state == "paused":
            self.start()

    # -- the other writers ---------------------------------------------------------------------------
    def _on_indexing_started(self, _paths) -> None:
        if self.running:
            self._after_indexing = True
            self._stop.set()
            self._set_state("stopping")

    def _on_indexing_over(self) -> None:
        if self._after_indexing and not self.running and not self.indexing.running and not self._user_paused:
            self.start()

    def _on_about_to_close(self) -> None:
        self._stop.set()
