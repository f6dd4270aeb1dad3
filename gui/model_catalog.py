"""The five seed models, and downloading one from the Hugging Face hub when the user asks.

Qt-free. Docent never touches the network by itself (index.config sets
HF_HUB_OFFLINE=1 for the whole process); `download()` lifts that for its own
duration only, because the user clicked "Download". It

  1. lists the repository and picks the file of the recommended quantization
     (Q4_K_M; Saiga names it q4_K, the same llama.cpp preset),
  2. reads the file's size and SHA-256 from the hub (the LFS object id),
  3. downloads into `<dir>/.cache/huggingface/download/<name>.<etag>.incomplete`
     with huggingface_hub's `http_get`, resuming (HTTP Range) what an earlier,
     interrupted or cancelled attempt left there, then moves it into place
     (`hf_hub_download` cannot: in huggingface_hub 2.4 it downloads to a
     temporary file unique to the call and deletes it on failure),
  4. checks the SHA-256 of the result and the GGUF header before using it.

Sizes are approximate (Q4_K_M of an 8B Llama 3 is about 4.9 GB); repository
names are the public GGUF repositories linked from the model cards in
../shared/seeds, or the usual community conversions where a card links none.
"""
from __future__ import annotations

import fnmatch
import glob
import hashlib
import logging
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger("docent.gui")

Progress = Callable[[str, int, int], None]   # (phase, done bytes, total bytes); phase: listing|download|verify


@dataclass(frozen=True)
class SeedModel:
    key: str
    title: str
    languages: str
    repo_id: str
    patterns: tuple[str, ...]
    quantization: str
    size_gb: float
    licence: str
    profile: str
    notes: str = ""


SEED_MODELS: tuple[SeedModel, ...] = (
    SeedModel(
        "vikhr", "Vikhr-Llama3.1-8B-Instruct-R", "ru, en",
        "Vikhrmodels/Vikhr-Llama3.1-8B-Instruct-R-21-09-24-GGUF", ("*Q4_K_M*.gguf",), "Q4_K_M", 4.9,
        "Apache-2.0 (card); Llama 3.1 Community License (base model)", "vikhr",
        "Trained for grounded RAG with a documents role: the best fit for Docent.",
    ),
    SeedModel(
        "saiga", "Saiga Llama-3 8B", "ru",
        "IlyaGusev/saiga_llama3_8b_gguf", ("*q4_k_m*.gguf", "*q4_K*.gguf"), "Q4_K_M (q4_K)", 4.9,
        "Llama 3 Community License", "saiga_llama3",
        "Russian chat model; v4+ uses the Llama-3 prompt format.",
    ),
    SeedModel(
        "t_lite", "T-lite-instruct-0.1", "ru",
        "mradermacher/T-lite-instruct-0.1-GGUF", ("*Q4_K_M*.gguf",), "Q4_K_M", 4.9,
        "Llama 3 Community License (base model; the card states none)", "t_lite",
        "Designed for further fine-tuning, not as a ready assistant (card).",
    ),
    SeedModel(
        "suzume", "Suzume Llama-3 8B multilingual", "multilingual (ja, ru, en, …)",
        "lightblue/suzume-llama-3-8B-multilingual-gguf", ("*Q4_K_M*.gguf",), "Q4_K_M", 4.9,
        "Llama 3 Community License", "suzume",
        "Llama 3 fine-tuned on ~90,000 multilingual conversations.",
    ),
    SeedModel(
        "shisa", "Shisa 7B", "ja, en",
        "TheBloke/shisa-7B-v1-GGUF", ("*Q4_K_M*.gguf",), "Q4_K_M", 4.6,
        "Apache-2.0", "shisa",
        "Japanese/English (Mistral 7B base, extended Japanese tokenizer).",
    ),
)


class DownloadError(Exception):
    """One line for the user."""


class DownloadCancelled(DownloadError):
    pass


OFFLINE_MESSAGE = (
    "Cannot reach the model hub (huggingface.co): this computer seems to be offline. "
    "Docent works offline once a model is here: download the .gguf file on another computer and choose it "
    "with “Choose GGUF file…”, or try again later (the download resumes where it stopped)."
)

_online_lock = threading.Lock()


@contextmanager
def _online():
    """Allow hub requests for the duration of a user-requested download."""
    import huggingface_hub.constants as constants

    with _online_lock:
        before = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = False
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = before


def _is_network_error(exc: BaseException) -> bool:
    names = {"ConnectError", "ConnectionError", "ConnectTimeout", "ReadTimeout", "TimeoutException", "Timeout",
             "NetworkError", "OfflineModeIsEnabled", "LocalEntryNotFoundError", "ProxyError", "SSLError",
             "TransportError", "RemoteProtocolError", "gaierror", "MaxRetryError", "NameResolutionError"}
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if any(cls.__name__ in names for cls in type(exc).__mro__) or isinstance(exc, (ConnectionError, TimeoutError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def explain(exc: BaseException) -> str:
    if isinstance(exc, DownloadError):
        return str(exc)
    if _is_network_error(exc):
        return OFFLINE_MESSAGE
    name = type(exc).__name__
    if name in ("RepositoryNotFoundError", "GatedRepoError"):
        return f"the model repository is not available ({name}): {exc}".splitlines()[0]
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"cannot write the model file: {exc.strerror or exc}"
    return f"download failed: {str(exc).splitlines()[0] if str(exc) else name}"


def check_reachable(endpoint: str | None, timeout: float = 6.0) -> None:
    """One quick TCP connection to the hub first: offline, say so at once (the hub client retries for ~20 s)."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(endpoint or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            pass
    except OSError as exc:
        log.info("hub not reachable: %r", exc)
        raise DownloadError(OFFLINE_MESSAGE) from None


def pick_file(files: list[str], patterns: tuple[str, ...]) -> str | None:
    ggufs = [f for f in files if f.lower().endswith(".gguf")]
    for pattern in patterns:
        matches = sorted(f for f in ggufs if fnmatch.fnmatch(f.lower(), pattern.lower()))
        # a split model (-00001-of-00002) is not supported by a single-file download
        matches = [m for m in matches if "-of-" not in m]
        if matches:
            return min(matches, key=len)
    return None


class _ProgressBar:
    """Stands in for tqdm inside hf_hub_download: forwards bytes, raises when cancelled."""

    def __init__(self, report: Progress, cancel: threading.Event, total_hint: int, **kwargs):
        self.report = report
        self.cancel = cancel
        self.total = kwargs.get("total") or total_hint
        self.n = int(kwargs.get("initial") or 0)
        self.report("download", self.n, self.total)

    def update(self, n: int = 1) -> None:
        # http_get calls update() before writing the chunk: raise before counting it, so the last
        # progress reported is what is on disk (and what the next attempt resumes from)
        if self.cancel.is_set():
            raise DownloadCancelled("download cancelled (it resumes from here next time)")
        self.n += int(n or 0)
        self.report("download", self.n, self.total)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def close(self) -> None:
        pass

    def __getattr__(self, name):  # refresh, set_description, set_postfix, reset, unpause...
        return lambda *a, **k: None


def sha256_of(path: Path, report: Progress | None = None, cancel: threading.Event | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
            done += len(block)
            if report:
                report("verify", done, total)
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled("check cancelled")
    return digest.hexdigest()


def _fetch(repo_id: str, filename: str, dest_dir: Path, endpoint: str | None, tqdm_class) -> Path:
    """Download one hub file to dest_dir/filename, keeping the partial file across attempts (resume)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get

    target = dest_dir / filename
    if ".." in Path(filename).parts or Path(filename).is_absolute():
        raise DownloadError(f"unexpected file name in the repository: {filename}")
    meta = get_hf_file_metadata(hf_hub_url(repo_id, filename, endpoint=endpoint), endpoint=endpoint)
    if not meta.etag:
        raise DownloadError(f"the hub sent no ETag for {filename}")
    if target.is_file() and meta.size is not None and target.stat().st_size == meta.size:
        return target  # already here (an earlier download); the SHA-256 check follows
    partial_dir = dest_dir / ".cache" / "huggingface" / "download"
    partial_dir.mkdir(parents=True, exist_ok=True)
    name = Path(filename).name
    partial = partial_dir / f"{name}.{re.sub(r'[^A-Za-z0-9_.-]', '_', meta.etag)}.incomplete"
    for stale in partial_dir.glob(f"{glob.escape(name)}.*.incomplete"):
        if stale != partial:  # left by an attempt at an older version of the file
            stale.unlink(missing_ok=True)
    with open(partial, "ab") as fh:
        if meta.size is not None and fh.tell() > meta.size:
            fh.seek(0)
            fh.truncate()
        http_get(meta.location, fh, resume_size=fh.tell(), expected_size=meta.size, tqdm_class=tqdm_class)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)
    return target


def download(model: SeedModel, dest_dir: Path, report: Progress, cancel: threading.Event,
             endpoint: str | None = None) -> Path:
    """Download the model's recommended GGUF into dest_dir; returns its path (checked)."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    endpoint = endpoint or os.environ.get("DOCENT_HF_ENDPOINT") or None
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise DownloadError("downloads need the huggingface_hub package, which is not installed") from None
    report("listing", 0, 0)
    check_reachable(endpoint)
    try:
        with _online():
            api = HfApi(endpoint=endpoint)
            files = api.list_repo_files(model.repo_id)
            filename = pick_file(files, model.patterns)
            if filename is None:
                raise DownloadError(f"no {model.quantization} GGUF file in {model.repo_id}")
            info = api.get_paths_info(model.repo_id, [filename])
            entry = info[0] if info else None
            lfs = getattr(entry, "lfs", None)
            expected_sha = getattr(lfs, "sha256", None) if lfs is not None else None
            size = int(getattr(entry, "size", 0) or 0)
            if cancel.is_set():
                raise DownloadCancelled("download cancelled")
            path = _fetch(model.repo_id, filename, dest_dir, endpoint,
                          tqdm_class=lambda **kw: _ProgressBar(report, cancel, size, **kw))
    except DownloadError:
        raise
    except Exception as exc:
        log.warning("download of %s failed: %r", model.repo_id, exc)
        raise DownloadError(explain(exc)) from None
    path = Path(path)
    if expected_sha:
        actual = sha256_of(path, report, cancel)
        if actual != expected_sha:
            try:
                path.unlink()
            except OSError:
                pass
            raise DownloadError(f"checksum mismatch for {filename} (expected {expected_sha[:12]}…, got "
                                f"{actual[:12]}…): the file was deleted, please download again")
    from assistant.gguf_meta import read_gguf_meta
    from assistant.errors import ModelError

    try:
        read_gguf_meta(path)
    except ModelError as exc:
        try:
            path.unlink()
        except OSError:
            pass
        raise DownloadError(f"the downloaded file is not a usable GGUF model: {exc}") from None
    return path
