"""One way to build the answering pipeline, for the CLI and the app alike.

`PipelineSettings` is what a pipeline needs (no Qt: the app converts its own
settings, the CLI its options) and holds the one set of defaults.
`build_pipeline` picks the answer mode and returns an `AnswerPipeline`:

    generate  the two-step protocol on a local GGUF (GroundedPipeline) or a model
              server (RemotePipeline)
    quote     the documents' own best sentences, no language model (QuotePipeline)
    auto      quote when no chat model is usable (no model at all; the bundled base
              model; a GGUF with neither a chat template nor a known profile),
              else generate
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from assistant.errors import ModelError
from assistant.guard import DEFAULT_CAP_FACTOR
from assistant.model_check import CHOICES as MODEL_CHECK_CHOICES
from assistant.profiles import ModelProfile, detect_profile, get_profile
from assistant.protocol import AnswerPipeline

MODE_CHOICES = ("auto", "generate", "quote")
DEFAULT_N_CTX = 4096
MAX_K = 20  # documents per answer (`ask -k`, Settings): more do not fit a useful context
# Profiles of chat models (the seed families); `gemma` (a base model without a template) and
# `generic` (nothing known) are not: without a chat template such a model cannot answer.
CHAT_PROFILES = frozenset({"vikhr", "vikhr_nemo", "saiga_llama3", "saiga_llama3_chatml", "t_lite", "suzume", "shisa"})
CHOOSE_CHAT_MODEL = "choose a chat model for written answers"
Progress = Callable[[str, str], None]  # (step: assembling | loading | connecting, detail)


@dataclass
class PipelineSettings:
    mode: str = "auto"                  # auto | generate | quote
    model_path: str = ""                # a GGUF file; "" = the bundled gemma-3-270m
    endpoint_url: str = ""              # an OpenAI-compatible server instead of a local GGUF ("" = none)
    endpoint_model: str = ""            # "" = the first model the server lists
    api_key_env: str = ""               # environment variable holding the server's key ("" = DOCENT_API_KEY/keyring)
    documents_role: str = "auto"        # auto | on | off: send the Vikhr `documents` role to the server
    read_timeout: float = 120.0         # seconds to wait for the server's next piece of output
    n_ctx: int = DEFAULT_N_CTX          # a server that reports its context size overrides this
    n_gpu_layers: int | None = None     # None = all when llama.cpp has a GPU, 0 = CPU only
    threads: int | None = None          # None = physical cores
    temperature: float | None = None    # None = the model profile's recommendation
    profile: str | None = None          # force a model profile (None = from the GGUF's metadata)
    max_answer_tokens: int = 512
    k: int = 6                          # documents per answer, 1..MAX_K
    answer_cap: float = DEFAULT_CAP_FACTOR  # answer chars <= factor x question chars (assistant/guard.py)
    model_check: str = "auto"           # auto | on | off: the model judges partial sentences (auto: fully on a GPU)

    def checked(self) -> "PipelineSettings":
        """ValueError with a one-line reason for a setting no pipeline can use."""
        if self.mode not in MODE_CHOICES:
            raise ValueError(f"mode must be one of {', '.join(MODE_CHOICES)} (got {self.mode!r})")
        if not 1 <= self.k <= MAX_K:
            raise ValueError(f"the number of documents must be between 1 and {MAX_K} (got {self.k})")
        if self.max_answer_tokens < 1:
            raise ValueError(f"the answer length must be at least 1 token (got {self.max_answer_tokens})")
        if self.model_check not in MODEL_CHECK_CHOICES:
            raise ValueError(f"model check must be one of {', '.join(MODEL_CHECK_CHOICES)} (got {self.model_check!r})")
        if self.profile is not None:
            get_profile(self.profile)
        return self


def api_key(url: str, env_var: str = "") -> str | None:
    """The server's key: from `env_var` when named (it must be set), else DOCENT_API_KEY or the keyring."""
    from index.credentials import get_secret, remember

    if env_var:
        key = os.environ.get(env_var, "")
        if not key:
            raise ModelError(f"environment variable {env_var} (the API key) is not set")
        return remember(key)
    return get_secret("api", url)  # one account per server: http://h:8000 and http://h:8000/v1/ alike


def is_chat_model(meta, profile: ModelProfile, forced: bool = False) -> bool:
    """Can this GGUF answer questions: it has a chat template, a chat family's profile, or the user said so."""
    return forced or meta.chat_template is not None or profile.key in CHAT_PROFILES


def _profile(s: PipelineSettings, meta=None) -> ModelProfile | None:
    profile = get_profile(s.profile) if s.profile else (detect_profile(meta) if meta is not None else None)
    if profile is not None and s.temperature is not None:
        profile = replace(profile, sampling=replace(profile.sampling, temperature=float(s.temperature)))
    return profile


def _model_path(s: PipelineSettings, progress: Progress | None) -> Path | None:
    """The GGUF to load; None when there is none at all (nothing configured, no bundled model)."""
    if s.model_path:
        return Path(s.model_path).expanduser()
    from assistant.models import bundled_model_available, default_model_path, ensure_default_model
    from index.config import data_dir

    if not default_model_path(data_dir()).exists() and not bundled_model_available():
        return None
    return ensure_default_model(data_dir(), progress=(lambda m: progress("assembling", m)) if progress else None)


def quote_pipeline(s: PipelineSettings, reason: str, embedder=None) -> AnswerPipeline:
    """Quoted answers (assistant/quote.py): the documents' own sentences, cited."""
    from assistant.quote import QuotePipeline

    return QuotePipeline(embedder, reason, k=s.k)


def remote_pipeline(s: PipelineSettings, cancel: threading.Event | None = None) -> AnswerPipeline:
    """A model server: connected once here, so a wrong URL, key or model name shows now."""
    from assistant.endpoint import RemotePipeline
    from assistant.endpoint_client import EndpointConfig, normalize_base_url

    url = normalize_base_url(s.endpoint_url)
    config = EndpointConfig(url, model=s.endpoint_model or None, api_key=api_key(url, s.api_key_env),
                            n_ctx=s.n_ctx, read_timeout=s.read_timeout)
    pipeline = RemotePipeline(config, _profile(s), documents_role=s.documents_role,
                              max_answer_tokens=s.max_answer_tokens, k=s.k, answer_cap=s.answer_cap)
    try:
        pipeline.connect(cancel)
    except BaseException:
        pipeline.close()
        raise
    return pipeline


def build_pipeline(
    s: PipelineSettings,
    *,
    embedder=None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> AnswerPipeline:
    """The pipeline these settings ask for; AssistantError (one line) on any expected failure.

    `embedder` (the knowledge base's) lets quoted answers weigh meaning; `progress(step, detail)`
    hears about slow steps (assembling the bundled model, loading a model, connecting to a server)."""
    try:
        s.checked()
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    if s.mode == "quote":
        return quote_pipeline(s, "quote mode is selected", embedder)
    if s.endpoint_url:  # a server runs a chat model: auto means generate
        if progress is not None:
            progress("connecting", s.endpoint_url)
        return remote_pipeline(s, cancel)
    path = _model_path(s, progress)
    if path is None:
        if s.mode == "generate":
            raise ModelError("no model is configured: choose a GGUF file (--model, Settings → Model)")
        return quote_pipeline(s, f"no language model is installed; {CHOOSE_CHAT_MODEL}", embedder)
    from assistant.gguf_meta import read_gguf_meta

    meta = read_gguf_meta(path)
    profile = _profile(s, meta)
    if s.mode == "auto" and not is_chat_model(meta, profile, forced=bool(s.profile)):
        if not s.model_path:
            reason = f"the bundled model is a small demo model; {CHOOSE_CHAT_MODEL}"
        else:
            reason = f"{meta.describe()} has no chat template and no known profile; {CHOOSE_CHAT_MODEL}"
        return quote_pipeline(s, reason, embedder)
    from assistant import model_check
    from assistant.pipeline import GroundedPipeline
    from assistant.runtime import LlamaRuntime

    if progress is not None:
        progress("loading", meta.describe())
    runtime = LlamaRuntime(path, n_ctx=s.n_ctx, n_gpu_layers=s.n_gpu_layers, n_threads=s.threads,
                           n_threads_batch=s.threads, meta=meta)
    try:
        return GroundedPipeline(runtime, profile, max_answer_tokens=s.max_answer_tokens, k=s.k,
                                answer_cap=s.answer_cap, model_check=model_check.resolve(s.model_check, runtime))
    except BaseException:
        runtime.close()
        raise
