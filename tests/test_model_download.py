"""gui.model_catalog.download() against a local fake of the Hugging Face hub.

The REAL huggingface_hub client (HfApi.list_repo_files, get_paths_info, the
HEAD/GET on /resolve/) talks to a small ThreadingHTTPServer on 127.0.0.1 that
implements just the endpoints those calls use:

    GET  /api/models/{repo}/tree/{revision}?recursive=...    list_repo_files
    POST /api/models/{repo}/paths-info/{revision}             get_paths_info
    HEAD /{repo}/resolve/{revision}/{filename}                 file metadata (etag, commit, size)
    GET  /{repo}/resolve/{revision}/{filename}                 the bytes, with Range / 206

Every socket connection made during a test is checked to go to 127.0.0.1, and
the process-wide offline switch (huggingface_hub.constants.HF_HUB_OFFLINE, set
by index.config.offline_environment) is on before and after each download and
lifted only inside it.
"""
from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("huggingface_hub")

import huggingface_hub.constants as hf_constants  # noqa: E402
import huggingface_hub.file_download as hf_file_download  # noqa: E402

from gui.model_catalog import DownloadCancelled, DownloadError, SeedModel, download  # noqa: E402
from tests.fixtures.tiny_gguf import write_tiny_gguf  # noqa: E402

REPO = "docent-test/Tiny-Llama-GGUF"
WANTED = "tiny-llama.Q4_K_M.gguf"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
MODEL = SeedModel("tiny", "Tiny test model", "en", REPO, ("*Q4_K_M*.gguf",), "Q4_K_M", 0.001,
                  "MIT", "vikhr")
OTHER_FILES = {  # decoys pick_file must skip: other quantization, split model, not a GGUF
    "README.md": b"# tiny\n",
    "tiny-llama.Q8_0.gguf": b"GGUF-decoy",
    "tiny-llama.Q4_K_M-00001-of-00002.gguf": b"GGUF-decoy-split",
}


@dataclass
class FakeHub:
    """State shared with the request handler; the test sets it up and reads the log."""

    payload: bytes = b""
    endpoint: str = ""                       # http://127.0.0.1:<port>, set by the fixture
    advertised_sha: str | None = None        # lfs.oid in tree/paths-info; None = the payload's real sha256
    drop_first_get_after: int | None = None  # close the connection after this many body bytes, once
    ignore_range: bool = False               # answer 200 with the whole file even when asked for a Range
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()

    def log(self, method: str, path: str, headers) -> None:
        with self.lock:
            self.requests.append((method, path, {k.lower(): v for k, v in headers.items()}))

    def gets(self) -> list[dict]:
        with self.lock:
            return [h for m, p, h in self.requests if m == "GET" and "/resolve/" in p]

    def entry(self, path: str) -> dict:
        data = self.payload if path == WANTED else OTHER_FILES[path]
        item = {"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
        if path.endswith(".gguf"):
            sha = (self.advertised_sha or self.sha) if path == WANTED else hashlib.sha256(data).hexdigest()
            item["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
        return item


def _handler(hub: FakeHub):
    tree = re.compile(rf"^/api/models/{re.escape(REPO)}/tree/([^/]+)$")
    paths_info = re.compile(rf"^/api/models/{re.escape(REPO)}/paths-info/([^/]+)$")
    resolve = re.compile(rf"^/{re.escape(REPO)}/resolve/([^/]+)/(.+)$")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if not head and body:
                self.wfile.write(body)

        def _json(self, obj) -> None:
            self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"})

        def do_GET(self) -> None:
            self._route("GET")

        def do_HEAD(self) -> None:
            self._route("HEAD")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self._route("POST")

        def _route(self, method: str) -> None:
            path = urlsplit(self.path).path
            hub.log(method, path, self.headers)
            if method == "GET" and tree.match(path):
                return self._json([hub.entry(p) for p in (WANTED, *OTHER_FILES)])
            if method == "POST" and paths_info.match(path):
                return self._json([hub.entry(WANTED)])
            match = resolve.match(path)
            if match and method in ("GET", "HEAD") and unquote(match.group(2)) in (WANTED, *OTHER_FILES):
                return self._file(method, unquote(match.group(2)))
            self._send(404, b'{"error": "not found"}', {"Content-Type": "application/json",
                                                         "X-Error-Code": "EntryNotFound"})

        def _file(self, method: str, name: str) -> None:
            data = hub.payload if name == WANTED else OTHER_FILES[name]
            sha = hashlib.sha256(data).hexdigest()
            headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
                       "ETag": f'"{hashlib.sha1(data).hexdigest()}"', "X-Linked-Etag": f'"{sha}"',
                       "X-Linked-Size": str(len(data)), "X-Repo-Commit": COMMIT}
            if method == "HEAD":
                return self._send(200, data, {**headers, "Content-Length": str(len(data))}, head=True)
            wanted = self.headers.get("Range")
            if wanted and not hub.ignore_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
                body = data[start:]
                return self._send(206, body, {**headers, "Content-Length": str(len(body)),
                                              "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
            cut = hub.drop_first_get_after
            if cut is not None:
                hub.drop_first_get_after = None
                # promise the whole file, send part of it, hang up: the client sees a truncated body
                self.send_response(200)
                for key, value in {**headers, "Content-Length": str(len(data))}.items():
                    self.send_header(key, value)
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                self.wfile.write(data[:cut])
                self.wfile.flush()
                return
            self._send(200, data, headers)

        def handle(self) -> None:
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):  # the client went away (cancel)
                pass

    return Handler


@pytest.fixture(scope="module")
def gguf_bytes(tmp_path_factory) -> bytes:
    path = write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf", "vikhr")
    return Path(path).read_bytes()


@pytest.fixture
def hub(gguf_bytes, monkeypatch, tmp_path):
    """A running fake hub; the hub client is offline outside download() and can only reach 127.0.0.1."""
    state = FakeHub(payload=gguf_bytes)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-hub", daemon=True)
    thread.start()
    state.endpoint = f"http://127.0.0.1:{server.server_address[1]}"

    real_connect = socket.socket.connect

    def local_only(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        assert host in ("127.0.0.1", "localhost"), f"a test tried to reach {address!r}"
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)      # as index.config.offline_environment leaves it
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))  # never the user's cache
    monkeypatch.delenv("DOCENT_HF_ENDPOINT", raising=False)
    # http_get waits 1 s before retrying a dropped connection: no waiting in tests
    monkeypatch.setattr(hf_file_download, "time", SimpleNamespace(sleep=lambda seconds: None))
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Recorder:
    """The `report` callback: records (phase, done, total) and whether the hub client was online then."""

    def __init__(self, cancel_after: int | None = None, cancel: threading.Event | None = None):
        self.events: list[tuple[str, int, int]] = []
        self.online_during_download: set[bool] = set()
        self.cancel_after = cancel_after
        self.cancel = cancel

    def __call__(self, phase: str, done: int, total: int) -> None:
        self.events.append((phase, done, total))
        if phase == "download":
            self.online_during_download.add(not hf_constants.HF_HUB_OFFLINE)
            if self.cancel_after is not None and done >= self.cancel_after:
                self.cancel.set()

    def phases(self) -> list[str]:
        return list(dict.fromkeys(phase for phase, _, _ in self.events))


def _leftovers(dest: Path) -> list[Path]:
    return [p for p in dest.rglob("*") if p.is_file() and (p.suffix in (".gguf", ".incomplete"))]


def test_full_download_reports_progress_and_verifies(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCENT_HF_ENDPOINT", hub.endpoint)  # the endpoint from the environment this time
    dest = tmp_path / "models"
    report = Recorder()

    path = download(MODEL, dest, report, threading.Event())

    assert path.resolve() == (dest / WANTED).resolve()
    assert path.read_bytes() == hub.payload
    assert report.phases() == ["listing", "download", "verify"]
    size = len(hub.payload)
    downloads = [e for e in report.events if e[0] == "download"]
    assert downloads[-1] == ("download", size, size)
    assert all(total == size for _, _, total in downloads)
    assert [done for _, done, _ in downloads] == sorted(done for _, done, _ in downloads)
    assert report.events[-1] == ("verify", size, size)
    assert report.online_during_download == {True}
    assert hf_constants.HF_HUB_OFFLINE is True  # offline again afterwards
    # the hub calls the code relies on, in order, and only the wanted file was fetched
    calls = [(m, p.replace(REPO, "{repo}")) for m, p, _ in hub.requests]
    assert calls == [("GET", "/api/models/{repo}/tree/main"),
                     ("POST", "/api/models/{repo}/paths-info/main"),
                     ("HEAD", f"/{{repo}}/resolve/main/{WANTED}"),
                     ("GET", f"/{{repo}}/resolve/main/{WANTED}")]
    assert "range" not in hub.gets()[0]
    assert _leftovers(dest) == [path]

    # outside download() the hub client stays offline: the same listing call is refused
    from huggingface_hub import HfApi
    from huggingface_hub.errors import OfflineModeIsEnabled

    before = len(hub.requests)
    with pytest.raises(OfflineModeIsEnabled):
        HfApi(endpoint=hub.endpoint).list_repo_files(REPO)
    assert len(hub.requests) == before

    # asking again: the file is there and current, nothing is downloaded twice
    again = download(MODEL, dest, Recorder(), threading.Event(), endpoint=hub.endpoint)
    assert again == path and len(hub.gets()) == 1


def test_dropped_connection_resumes_with_range(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(hf_constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    cut = 13 * 16 * 1024  # whole chunks, so the client has written exactly these bytes when the line drops
    assert cut < len(hub.payload)
    hub.drop_first_get_after = cut
    dest = tmp_path / "models"
    report = Recorder()

    path = download(MODEL, dest, report, threading.Event(), endpoint=hub.endpoint)

    gets = hub.gets()
    assert len(gets) == 2
    assert "range" not in gets[0]
    assert gets[1]["range"] == f"bytes={cut}-"  # the retry asked only for the rest
    assert path.read_bytes() == hub.payload
    size = len(hub.payload)
    assert ("download", size, size) in report.events
    assert report.events[-1] == ("verify", size, size)
    assert _leftovers(dest) == [path]


def test_checksum_mismatch_deletes_the_file(hub, tmp_path):
    hub.advertised_sha = hashlib.sha256(b"something else").hexdigest()
    dest = tmp_path / "models"

    with pytest.raises(DownloadError) as caught:
        download(MODEL, dest, Recorder(), threading.Event(), endpoint=hub.endpoint)

    assert "checksum mismatch" in str(caught.value)
    assert hub.advertised_sha[:12] in str(caught.value)
    assert not (dest / WANTED).exists()
    assert _leftovers(dest) == []
    assert hf_constants.HF_HUB_OFFLINE is True


def test_non_gguf_file_is_rejected(hub, tmp_path):
    hub.payload = b"<!doctype html><title>Sign in</title>" + b" " * 4096  # e.g. a captive portal page
    dest = tmp_path / "models"

    with pytest.raises(DownloadError) as caught:
        download(MODEL, dest, Recorder(), threading.Event(), endpoint=hub.endpoint)

    assert "not a usable GGUF" in str(caught.value)
    assert not isinstance(caught.value, DownloadCancelled)
    assert _leftovers(dest) == []  # the useless file is not left in the models folder


def _partials(dest: Path) -> list[Path]:
    return sorted((dest / ".cache" / "huggingface" / "download").glob("*.incomplete"))


def test_cancel_mid_download_then_resume(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(hf_constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    dest = tmp_path / "models"
    cancel = threading.Event()
    report = Recorder(cancel_after=5 * 16 * 1024, cancel=cancel)  # cancel after a few chunks

    with pytest.raises(DownloadCancelled, match="cancelled"):
        download(MODEL, dest, report, cancel, endpoint=hub.endpoint)

    done = [d for phase, d, _ in report.events if phase == "download"]
    assert 0 < max(done) < len(hub.payload)
    assert "verify" not in report.phases()
    assert not (dest / WANTED).exists()
    assert hf_constants.HF_HUB_OFFLINE is True
    # the bytes received so far are kept where the next attempt looks for them
    [partial] = _partials(dest)
    kept = partial.stat().st_size
    assert kept == max(done)
    assert partial.read_bytes() == hub.payload[:kept]

    # the next attempt asks only for the rest (HTTP Range) and ends with the right file
    report = Recorder()
    path = download(MODEL, dest, report, threading.Event(), endpoint=hub.endpoint)
    assert hub.gets()[-1]["range"] == f"bytes={kept}-"
    assert len(hub.gets()) == 2
    downloads = [e for e in report.events if e[0] == "download"]
    assert downloads[0] == ("download", kept, len(hub.payload))  # progress starts where it stopped
    assert path.read_bytes() == hub.payload
    assert _partials(dest) == []


def test_resume_when_the_server_ignores_range(hub, tmp_path):
    dest = tmp_path / "models"
    partial_dir = dest / ".cache" / "huggingface" / "download"
    partial_dir.mkdir(parents=True)
    (partial_dir / f"{WANTED}.{hub.sha}.incomplete").write_bytes(hub.payload[:1000])
    (partial_dir / f"{WANTED}.{'0' * 64}.incomplete").write_bytes(b"older version")  # stale: removed
    hub.ignore_range = True

    path = download(MODEL, dest, Recorder(), threading.Event(), endpoint=hub.endpoint)

    assert hub.gets()[-1]["range"] == "bytes=1000-"
    assert path.read_bytes() == hub.payload  # the 200 answer replaced the partial, not appended to it
    assert _partials(dest) == []


def test_cancel_before_download_starts(hub, tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelled):
        download(MODEL, tmp_path / "models", Recorder(), cancel, endpoint=hub.endpoint)
    assert hub.gets() == []


def test_no_matching_file(hub, tmp_path):
    model = SeedModel("none", "None", "en", REPO, ("*IQ1_S*.gguf",), "IQ1_S", 0.001, "MIT", "vikhr")
    with pytest.raises(DownloadError, match="no IQ1_S GGUF file"):
        download(model, tmp_path / "models", Recorder(), threading.Event(), endpoint=hub.endpoint)
    assert hub.gets() == []

