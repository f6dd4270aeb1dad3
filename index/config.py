"""Where Docent keeps its data, and the settings the engine reads.

Everything lives in the per-user data dir (platformdirs) unless the user
passes `--kb DIR` or sets DOCENT_HOME (tests, portable installs).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

APP_NAME = "Docent"

log = logging.getLogger("docent")


def data_dir() -> Path:
    home = os.environ.get("DOCENT_HOME")
    if home:
        path = Path(home)
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def config_dir() -> Path:
    home = os.environ.get("DOCENT_HOME")
    if home:
        path = Path(home) / "config"
    else:
        import platformdirs

        path = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def kb_parent() -> Path:
    """Where knowledge bases live: one folder each (the app's list, the CLI's default, shared replicas)."""
    path = data_dir() / "kb"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def default_kb_dir() -> Path:
    return kb_parent() / "default"


def sample_docs_dir() -> Path:
    return Path(__file__).resolve().parent / "sample_docs"


def offline_environment() -> None:
    """No hub lookups, no telemetry: Docent never touches the network by itself.

    Must run before the libraries are imported: ONNX Runtime (1.2x+ on Linux
    too) starts a 1DS telemetry client at import that queues events in
    ~/.cache/Microsoft/DeveloperTools and posts them to
    mobile.events.data.microsoft.com from a background thread; only
    ORT_DISABLE_TELEMETRY, read at import, stops it (index/__init__.py calls
    this function for that reason). Values set by the user win (setdefault).
    """
    for key, value in {
        "ORT_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    }.items():
        os.environ.setdefault(key, value)


@dataclass
class EngineSettings:
    """Per-knowledge-base settings, stored in the KB so reopening is exact."""

    embedding_model: str = "bundled:use-multilingual-v3"  # older knowledge bases record bundled:all-MiniLM-L6-v2
    embedding_backend: str = "onnx"  # transformer models: "onnx" (exported once from the same weights), "onnx-int8" or "torch"
    query_prompt: str = ""
    passage_prompt: str = ""
    passage_chars: int = 1000
    document_chars: int = 4000
    max_file_bytes: int = 200 * 1024 * 1024
    # Per-file limits (index/limits.py): a file over one ends `failed` with the reason.
    max_text_chars: int = 10_000_000  # ~4,000 pages; ~10k passages, ~10 min of MiniLM on 2 CPU cores
    max_extract_seconds: float = 60.0  # wall clock to parse one PDF/HTML/DOCX/EPUB/ODT/RTF
    max_extract_memory_mb: int = 2048  # address space the parser may add
    dense_weight: float = 0.5
    lexical_weight: float = 1.0
    remote: str = ""  # chroma://host:port/name: a shared knowledge base (index/remote.py); "" = local
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "EngineSettings":
        if not path.exists():
            return cls()
        raw = json.loads(path.read_text(encoding="utf-8"))
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        data = json.dumps(asdict(self), indent=2, ensure_ascii=False).encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private, whatever the umask
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def setup_logging(verbose: bool = False) -> None:
    """Log to a rotating file in the data dir; stderr only for warnings (or -v)."""
    from logging.handlers import RotatingFileHandler

    root = logging.getLogger("docent")
    if root.handlers:
        return
    root.setLevel(logging.DEBUG)
    from index.credentials import RedactingFilter

    redacting = RedactingFilter()  # tokens and API keys never reach a log line
    logging.raiseExceptions = False  # a full disk must not print a logging trace on stderr
    try:
        log_path = data_dir() / "docent.log"
        os.close(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # file paths are private too
        handler = RotatingFileHandler(log_path, maxBytes=2_000_000, backupCount=2, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.DEBUG)
        handler.addFilter(redacting)
        root.addHandler(handler)
    except OSError:
        pass
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    console.addFilter(redacting)
    root.addHandler(console)
