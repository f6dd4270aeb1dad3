"""The desktop app's own settings: one JSON file in config_dir().

Engine settings that change what is indexed (embedding model, passage size)
live in each knowledge base (index.config.EngineSettings); here are the
choices of the person at the desk: model file, sampling, interface language,
theme, the knowledge base that was open last.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from assistant.build import MAX_K, MODE_CHOICES, PipelineSettings

log = logging.getLogger("docent.gui")

SETTINGS_FILE = "gui-settings.json"


@dataclass
class AppSettings:
    model_source: str = "local"       # local (a GGUF through llama.cpp) | endpoint (an OpenAI-compatible server)
    model_path: str = ""              # "" = the bundled gemma-3-270m
    endpoint_url: str = ""            # e.g. http://gpu-server:8000/v1 (the API key lives in the keyring)
    endpoint_model: str = ""
    endpoint_documents_role: str = "auto"  # auto | on | off: send the Vikhr `documents` role
    n_gpu_layers: int = -1            # -1 = all when llama.cpp has a GPU, 0 = CPU only
    n_ctx: int = PipelineSettings.n_ctx
    temperature: float | None = None  # None = the model profile's recommendation
    max_answer_tokens: int = PipelineSettings.max_answer_tokens
    documents_k: int = PipelineSettings.k
    answer_mode: str = PipelineSettings.mode   # auto | generate | quote (assistant/build.py)
    answer_cap: float = PipelineSettings.answer_cap  # longest answer: this many times the question (0 = no cap)
    model_check: str = PipelineSettings.model_check  # auto | on | off: the model judges partial sentences
    embedding_model: str = "bundled:use-multilingual-v3"  # for knowledge bases created from now on
    language: str = "system"          # system | en | ru
    theme: str = "system"             # system | light | dark
    current_kb: str = "default"
    watch_folders: bool = True
    geometry: str = ""                # base64 of QMainWindow.saveGeometry()
    splitter: list[int] = field(default_factory=list)

    @classmethod
    def path(cls) -> Path:
        from index.config import config_dir

        return config_dir() / SETTINGS_FILE

    @classmethod
    def load(cls, path: Path | None = None) -> "AppSettings":
        path = path or cls.path()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable settings %s: %s", path, exc)
            return cls()
        known = {f.name for f in fields(cls)}
        settings = cls(**{k: v for k, v in raw.items() if k in known})
        return settings.checked()

    def checked(self) -> "AppSettings":
        """Clamp values a hand-edited file may have broken."""
        if self.language not in ("system", "en", "ru"):
            self.language = "system"
        if self.theme not in ("system", "light", "dark"):
            self.theme = "system"
        if self.model_source not in ("local", "endpoint"):
            self.model_source = "local"
        if self.endpoint_documents_role not in ("auto", "on", "off"):
            self.endpoint_documents_role = "auto"
        if self.answer_mode not in MODE_CHOICES:
            self.answer_mode = "auto"
        if self.model_check not in ("auto", "on", "off"):
            self.model_check = "auto"
        try:
            self.n_ctx = min(max(int(self.n_ctx), 512), 131072)
            self.n_gpu_layers = max(int(self.n_gpu_layers), -1)
            self.max_answer_tokens = min(max(int(self.max_answer_tokens), 16), 8192)
            self.documents_k = min(max(int(self.documents_k), 1), MAX_K)
            self.answer_cap = max(float(self.answer_cap), 0.0)
            if self.temperature is not None:
                self.temperature = min(max(float(self.temperature), 0.0), 2.0)
        except (TypeError, ValueError):
            defaults = AppSettings()
            self.n_ctx, self.n_gpu_layers = defaults.n_ctx, defaults.n_gpu_layers
            self.max_answer_tokens, self.documents_k, self.temperature = (
                defaults.max_answer_tokens, defaults.documents_k, defaults.temperature)
            self.answer_cap = defaults.answer_cap
        return self

    def save(self, path: Path | None = None) -> None:
        path = path or self.path()
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot save settings to %s: %s", path, exc)

    def pipeline_settings(self) -> PipelineSettings:
        """What the answering pipeline is built from (assistant.build.PipelineSettings)."""
        endpoint = self.model_source == "endpoint"
        return PipelineSettings(
            mode=self.answer_mode,
            model_path="" if endpoint else self.model_path,
            endpoint_url=self.endpoint_url if endpoint else "",
            endpoint_model=self.endpoint_model if endpoint else "",
            documents_role=self.endpoint_documents_role,
            n_ctx=self.n_ctx,
            n_gpu_layers=None if self.n_gpu_layers < 0 else self.n_gpu_layers,
            temperature=self.temperature,
            max_answer_tokens=self.max_answer_tokens,
            k=self.documents_k,
            answer_cap=self.answer_cap,
            model_check=self.model_check,
        )

    def model_key(self) -> tuple:
        """What a loaded model depends on: a change means reloading it."""
        if self.model_source == "endpoint":
            return ("endpoint", self.endpoint_url, self.endpoint_model, self.endpoint_documents_role, self.n_ctx)
        return (self.model_path, self.n_gpu_layers, self.n_ctx, self.model_check)
