"""The answering pipeline, built on the first question, and answering jobs.

The pipeline is `assistant.build.build_pipeline`'s (the same as the CLI's),
for the settings converted by `AppSettings.pipeline_settings()`; it is built in
the background on the first ask (the bundled model is assembled once into
data_dir()/models), with status messages, and rebuilt when those settings change.

Each ask runs as a knowledge-base job: retrieval (`documents_for`) then the
answer. Answer text comes from the generation thread and is coalesced onto the
main thread (`tokens`); the step-1 document choice is reported as soon as it is
known (`step1`), before the answer streams.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, Signal

from gui.i18n import tr
from gui.session import JobRefused, KbSession
from gui.settings import AppSettings
from gui.tasks import Coalescer

log = logging.getLogger("docent.gui")


@dataclass
class AskOutcome:
    question: str
    answer: object = None      # assistant.answer.Answer
    error: str = ""
    cancelled: bool = False


class ModelService(QObject):
    status = Signal(str, str)          # kind (loading | ready | error | idle), message
    tokens = Signal(str)               # streamed text, main thread
    step1 = Signal(list, int)          # chosen doc ids, documents offered
    answered = Signal(object)          # AskOutcome

    def __init__(self, session: KbSession, settings: AppSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self._pipeline = None          # assistant.protocol.AnswerPipeline
        self._pipeline_key = None      # the PipelineSettings it was built for
        self._pipeline_kb = None       # quoted answers use this knowledge base's embedder
        self._load_lock = threading.Lock()
        self._tokens = Coalescer(self)
        self._tokens.delivered.connect(lambda items: self.tokens.emit("".join(items)))
        self.cancel = threading.Event()
        self._future = None
        self.model_name = ""
        self.token_delay = 0.0         # tests: slow the stream down to press Stop mid-answer
        session.about_to_close.connect(self.stop)  # switching knowledge base: stop answering from the old one

    # -- model ----------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    def _emit_status(self, kind: str, message: str) -> None:
        try:
            self.status.emit(kind, message)
        except RuntimeError:  # during shutdown
            pass

    def _progress(self, step: str, detail: str) -> None:
        """build_pipeline's slow steps, as status messages."""
        if step == "assembling":
            self._emit_status("loading", tr("Preparing the bundled model (once)…"))
        elif step == "connecting":
            self._emit_status("loading", tr("Connecting to the model server {url}…", url=detail))
        else:
            self._emit_status("loading", tr("Loading model {name}…", name=detail))

    def pipeline(self, s: AppSettings, kb):
        """Worker thread: the pipeline for these settings, built if needed."""
        from assistant.build import build_pipeline

        if s.model_source == "endpoint" and not s.endpoint_url:
            from assistant.errors import EndpointError

            raise EndpointError(tr("No model server is configured: set its URL in Settings → Model."))
        key = s.pipeline_settings()
        with self._load_lock:
            p = self._pipeline
            if p is not None and self._pipeline_key == key and (p.mode != "quote" or self._pipeline_kb is kb):
                return p
            self._close_pipeline()
            p = build_pipeline(key, embedder=kb.embedder, progress=self._progress, cancel=self.cancel)
            self._pipeline, self._pipeline_key, self._pipeline_kb = p, key, kb
            info = p.model_info
            if p.mode == "quote":
                self.model_name = tr("quoted answers")
                self._emit_status("ready", tr("Quoted answers from your documents: {reason}", reason=p.mode_reason))
            elif "endpoint" in info:
                self.model_name = f"{info['name']} @ {info['endpoint']}"
                self._emit_status("ready", tr("Model server ready: {name}", name=self.model_name))
            else:
                self.model_name = info["name"] or info["path"]
                self._emit_status("ready", tr("Model ready: {name} ({device}, context {n_ctx})", name=self.model_name,
                                              device=str(info["device"]).upper(), n_ctx=info["n_ctx"]))
            return p

    def _close_pipeline(self) -> None:
        pipeline = self._pipeline
        self._pipeline = self._pipeline_key = self._pipeline_kb = None
        if pipeline is not None:
            pipeline.close()

    def settings_changed(self, settings: AppSettings) -> None:
        """New settings: the next ask rebuilds what changed (an idle model is released now)."""
        self.settings = settings
        if self._pipeline is not None and self._pipeline_key != settings.pipeline_settings() and not self.busy:
            threading.Thread(target=self._release, name="docent-model-close", daemon=True).start()
            self._emit_status("idle", tr("Model settings changed: the model loads again on the next question."))

    def _release(self) -> None:
        with self._load_lock:
            self._close_pipeline()

    def close(self) -> None:
        self.cancel.set()
        with self._load_lock:
            self._close_pipeline()

    # -- asking -------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._future is not None and not self._future.done()

    def ask(self, question: str, history: list[tuple[str, str]], mode: str = "auto") -> bool:
        """`mode`: the conversation's choice (auto | generate | quote); auto leaves it to the settings."""
        if self.busy or self.session.kb is None:
            return False
        self.cancel = threading.Event()
        cancel = self.cancel
        s = replace(self.settings)
        if mode != "auto":
            s.answer_mode = mode
        push = self._tokens.push
        delay = self.token_delay

        def on_token(piece: str) -> None:
            push(piece)
            if delay:
                import time

                time.sleep(delay)

        def job(kb):
            from assistant.errors import AssistantError
            from index.errors import KnowledgeBaseError

            try:
                pipeline = self.pipeline(s, kb)
                if cancel.is_set():
                    return AskOutcome(question, cancelled=True)
                self._emit_status("working", tr("Searching your documents…"))
                documents = kb.documents_for(question, s.documents_k)
                if cancel.is_set():
                    return AskOutcome(question, cancelled=True)
                self._emit_status("working", tr("Choosing the relevant documents…"))
                answer = pipeline.answer(question, documents, history, on_token=on_token, cancel=cancel,
                                         on_step1=lambda ids, n: self.step1.emit(ids, n))
                return AskOutcome(question, answer=answer, cancelled=answer.cancelled)
            except AssistantError as exc:
                partial = getattr(exc, "partial_answer", None)  # a model server that went away mid-answer
                return AskOutcome(question, answer=partial, error=str(exc))
            except KnowledgeBaseError as exc:
                return AskOutcome(question, error=str(exc))
            except Exception as exc:  # a bug: keep the trace in the log, show one line
                log.exception("answering failed")
                return AskOutcome(question, error=f"{type(exc).__name__}: {exc}")

        def answered(outcome: AskOutcome) -> None:
            self._tokens.flush_now()
            self._future = None
            self.answered.emit(outcome)

        def failed(exc: Exception) -> None:
            if not isinstance(exc, JobRefused):  # refused: ask() returns False and the chat says so
                answered(AskOutcome(question, error=str(exc)))  # pragma: no cover - job catches everything

        self._future = self.session.run(job, answered, failed)
        return self._future is not None

    def stop(self) -> None:
        self.cancel.set()
