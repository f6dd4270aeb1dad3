"""The language model, loaded on the first question, and answering jobs.

One `LlamaRuntime` (its own worker thread owns the llama.cpp model) and one
`GroundedPipeline` live here; they are built in the background on the first
ask (the bundled model is assembled once into data_dir()/models), with
status messages, and rebuilt when the model settings change.

Each ask runs as a knowledge-base job: retrieval (`documents_for`) then the
two-step answer. Step-2 tokens come from the llama thread and are coalesced
onto the main thread (`tokens`); the step-1 document choice is reported as
soon as it is known (`step1`), before the answer streams. `GroundedPipeline`
has no step-1 callback, so a small subclass made here wraps its public
`run_step1` (the assistant package is not changed for the GUI).
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


def make_pipeline(runtime, profile, max_answer_tokens: int, k: int):
    from assistant.grammar import parse_ids
    from assistant.pipeline import GroundedPipeline

    class ObservedPipeline(GroundedPipeline):
        """Reports the step-1 choice as soon as step 1 ends."""

        step1_observer = None

        def run_step1(self, plan, cancel=None):
            result = super().run_step1(plan, cancel)
            observer = self.step1_observer
            if observer is not None and result.finish_reason != "cancelled":
                offered = list(range(len(plan.documents)))
                parsed = parse_ids(result.text, offered)
                observer(list(parsed.ids) if parsed.valid else offered, len(offered))
            return result

    return ObservedPipeline(runtime, profile, max_answer_tokens=max_answer_tokens, k=k)


class ModelService(QObject):
    status = Signal(str, str)          # kind (loading | ready | error | idle), message
    tokens = Signal(str)               # streamed text, main thread
    step1 = Signal(list, int)          # chosen doc ids, documents offered
    answered = Signal(object)          # AskOutcome

    def __init__(self, session: KbSession, settings: AppSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self._runtime = None
        self._pipeline = None
        self._runtime_key = None
        self._pipeline_key = None
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

    def _model_path(self, s: AppSettings) -> str:
        if s.model_path:
            return s.model_path
        from assistant.errors import ModelError
        from assistant.models import bundled_model_available, default_model_path, ensure_default_model
        from index.config import data_dir

        if not bundled_model_available() and not default_model_path(data_dir()).exists():
            raise ModelError(tr("No model is configured: choose a GGUF file in Settings → Model."))
        if not default_model_path(data_dir()).exists():
            self._emit_status("loading", tr("Preparing the bundled model (once)…"))
        return str(ensure_default_model(data_dir()))

    def _endpoint_pipeline(self, s: AppSettings):
        """An OpenAI-compatible model server (assistant/endpoint.py) in place of the local runtime."""
        key = (s.model_key(), s.temperature, s.max_answer_tokens, s.documents_k)
        if self._pipeline is not None and self._runtime is None and self._pipeline_key == key:
            return self._pipeline
        self._close_runtime()
        from assistant.endpoint import RemotePipeline
        from assistant.endpoint_client import EndpointConfig, normalize_base_url
        from assistant.profiles import PROFILES
        from index.credentials import get_secret

        if not s.endpoint_url:
            from assistant.errors import EndpointError

            raise EndpointError(tr("No model server is configured: set its URL in Settings → Model."))
        url = normalize_base_url(s.endpoint_url)
        profile = PROFILES["vikhr"]
        if s.temperature is not None:
            profile = replace(profile, sampling=replace(profile.sampling, temperature=float(s.temperature)))
        self._emit_status("loading", tr("Connecting to the model server {url}…", url=url))
        pipeline = RemotePipeline(
            EndpointConfig(base_url=url, model=s.endpoint_model or None, api_key=get_secret("api", url), n_ctx=s.n_ctx),
            profile, documents_role=s.endpoint_documents_role, max_answer_tokens=s.max_answer_tokens,
            k=s.documents_k,
        )
        try:
            pipeline.connect(self.cancel)
        except BaseException:
            pipeline.close()
            raise
        self._pipeline, self._pipeline_key, self._runtime_key = pipeline, key, s.model_key()
        self.model_name = f"{pipeline.client.model} @ {url}"
        self._emit_status("ready", tr("Model server ready: {name}", name=self.model_name))
        return pipeline

    def pipeline(self, s: AppSettings):
        """Worker thread: the pipeline for these settings, loading the model if needed."""
        with self._load_lock:
            if s.model_source == "endpoint":
                return self._endpoint_pipeline(s)
            if self._runtime is None and self._pipeline is not None:  # was a model server
                self._close_runtime()
            key = s.model_key()
            if self._runtime is None or self._runtime_key != key:
                self._close_runtime()
                from assistant.gguf_meta import read_gguf_meta
                from assistant.runtime import LlamaRuntime

                path = self._model_path(s)
                meta = read_gguf_meta(path)
                self._emit_status("loading", tr("Loading model {name}…", name=meta.describe()))
                self._runtime = LlamaRuntime(
                    path, n_ctx=s.n_ctx, n_gpu_layers=None if s.n_gpu_layers < 0 else s.n_gpu_layers, meta=meta
                )
                self._runtime_key = key
                self._pipeline = None
            pkey = (s.temperature, s.max_answer_tokens, s.documents_k)
            if self._pipeline is None or self._pipeline_key != pkey:
                from assistant.profiles import detect_profile

                profile = detect_profile(self._runtime.meta)
                if s.temperature is not None:
                    profile = replace(profile, sampling=replace(profile.sampling, temperature=float(s.temperature)))
                self._pipeline = make_pipeline(self._runtime, profile, s.max_answer_tokens, s.documents_k)
                self._pipeline_key = pkey
                info = self._runtime.info
                self.model_name = self._runtime.meta.describe()
                self._emit_status(
                    "ready",
                    tr("Model ready: {name} ({device}, context {n_ctx})", name=self.model_name,
                       device=info.device.upper(), n_ctx=info.n_ctx),
                )
            return self._pipeline

    def _close_runtime(self) -> None:
        runtime, pipeline = self._runtime, self._pipeline
        self._runtime = self._pipeline = None
        self._runtime_key = self._pipeline_key = None
        if runtime is not None:
            runtime.close()
        elif pipeline is not None and hasattr(pipeline, "close"):  # a model server's HTTP client
            pipeline.close()

    def settings_changed(self, settings: AppSettings) -> None:
        """New settings: the next ask reloads what changed (an idle model is released now)."""
        self.settings = settings
        loaded = self._runtime is not None or self._pipeline is not None
        if loaded and self._runtime_key != settings.model_key() and not self.busy:
            import threading as _t

            _t.Thread(target=self._release, name="docent-model-close", daemon=True).start()
            self._emit_status("idle", tr("Model settings changed: the model loads again on the next question."))

    def _release(self) -> None:
        with self._load_lock:
            self._close_runtime()

    def close(self) -> None:
        self.cancel.set()
        with self._load_lock:
            self._close_runtime()

    # -- asking -------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._future is not None and not self._future.done()

    def ask(self, question: str, history: list[tuple[str, str]]) -> bool:
        if self.busy or self.session.kb is None:
            return False
        self.cancel = threading.Event()
        cancel = self.cancel
        s = replace(self.settings)
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
                pipeline = self.pipeline(s)
                if cancel.is_set():
                    return AskOutcome(question, cancelled=True)
                self._emit_status("working", tr("Searching your documents…"))
                documents = kb.documents_for(question, s.documents_k)
                if cancel.is_set():
                    return AskOutcome(question, cancelled=True)
                self._emit_status("working", tr("Choosing the relevant documents…"))
                if self._runtime is None:  # a model server: the pipeline reports step 1 itself
                    answer = pipeline.answer(question, documents, history, on_token=on_token, cancel=cancel,
                                             on_step1=lambda ids, n: self.step1.emit(ids, n))
                    return AskOutcome(question, answer=answer, cancelled=answer.cancelled)
                pipeline.step1_observer = lambda ids, n: self.step1.emit(ids, n)
                try:
                    answer = pipeline.answer(question, documents, history, on_token=on_token, cancel=cancel)
                finally:
                    pipeline.step1_observer = None
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
