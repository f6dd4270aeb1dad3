"""The offline guarantee: index, search and self-test never touch the network.

In-process work runs under the `no_network` fixture (any socket connect or name
lookup fails the test); subprocesses run with the same guard installed through
sitecustomize (tests/fixtures/netguard.py), and, as root, inside a network
namespace with no interfaces (`unshare -n`). The real bundled model's self-test
in the namespace, under strace, is in bench/bench_reliability.py (minutes on CPU);
set DOCENT_TEST_GEMMA_OFFLINE=1 to run it here too.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index.config import sample_docs_dir
from index.kb import KnowledgeBase
from tests.fixtures import make_docs
from tests.fixtures.netguard import attempts_in, guarded_env, no_network  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "ANONYMIZED_TELEMETRY")


def _netns_prefix() -> list[str]:
    """`unshare -n` when it works here (root), else nothing."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return []
    return ["unshare", "-n"] if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0 else []


def _env(log: Path) -> dict:
    env = guarded_env(log)
    for key in OFFLINE_VARS:  # Docent must set these itself, not rely on the test environment
        env.pop(key, None)
    return env


def _main(*args: str, log: Path, netns: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    prefix = _netns_prefix() if netns else []
    return subprocess.run([*prefix, sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          env=_env(log), timeout=timeout)


@pytest.fixture
def corpus(tmp_path) -> Path:
    docs = tmp_path / "docs"
    make_docs.make_md(docs, "rail.md", "Railways", [make_docs.EN, make_docs.RU])
    make_docs.make_pdf(docs, "report.pdf", [make_docs.EN])  # read by the extraction worker process
    make_docs.make_html(docs, "page.html", "Page", [make_docs.JA])
    return docs


def test_index_and_search_in_process(tmp_path, corpus, no_network, monkeypatch):
    for key in OFFLINE_VARS:
        monkeypatch.delenv(key, raising=False)
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
            assert os.environ[key] == "1", key
        assert os.environ["ANONYMIZED_TELEMETRY"] == "False"
        report = kb.index([str(corpus)])
        assert report.files_indexed == 3 and not report.files_failed, report.files_failed
        assert kb.search("Trans-Siberian railway", 3)[0].passage.path.endswith(("rail.md", "report.pdf"))
        assert kb.documents_for("茶道", 2)
        assert kb.vectors.telemetry_enabled() is False


def test_guard_catches_what_it_should(no_network):
    import socket
    import urllib.request

    with pytest.raises(OSError):
        urllib.request.urlopen("http://example.invalid/", timeout=1)
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with pytest.raises(OSError):
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).connect(("2001:db8::1", 443, 0, 0))
    seen = list(no_network)
    no_network.clear()  # seen: the fixture would fail this test otherwise
    assert seen == [("getaddrinfo", "'example.invalid'"), ("getaddrinfo", "'192.0.2.1'"),
                    ("connect", "('2001:db8::1', 443, 0, 0)")]
    a, b = socket.socketpair()  # local sockets stay allowed
    a.sendall(b"x")
    assert b.recv(1) == b"x"
    a.close()
    b.close()


def test_cli_index_search_status_offline(tmp_path, corpus):
    log = tmp_path / "net.log"
    kb = str(tmp_path / "kb")
    index = _main("index", str(corpus), "--kb", kb, "--json", "-q", log=log)
    assert index.returncode == 0, index.stderr
    assert json.loads(index.stdout)["files_indexed"] == 3
    search = _main("search", "Trans-Siberian railway", "--kb", kb, "--json", log=log)
    assert search.returncode == 0 and json.loads(search.stdout)["results"], search.stderr
    status = _main("status", "--kb", kb, "--json", log=log)
    assert status.returncode == 0, status.stderr
    assert attempts_in(log) == []  # the extraction worker ran under the same guard
    assert "guard-not-installed" not in log.read_text() if log.exists() else True


def test_self_test_offline_with_a_tiny_model(tmp_path):
    from tests.fixtures.tiny_gguf import write_tiny_gguf

    model = tmp_path / "tiny-vikhr.gguf"
    write_tiny_gguf(model, "vikhr")
    log = tmp_path / "net.log"
    proc = _main("self-test", "--model", str(model), "--threads", "1", log=log)
    # a random-weight model writes noise: only the checks of its answer's support fail (exit 1)
    failed = [line for line in proc.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert proc.returncode == 1 and failed, proc.stdout + proc.stderr
    assert all("supported sentence" in f or "citations quote" in f for f in failed), proc.stdout
    assert "checks passed" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert attempts_in(log) == []


@pytest.mark.skipif(not os.environ.get("DOCENT_TEST_GEMMA_OFFLINE"), reason="minutes on CPU; set DOCENT_TEST_GEMMA_OFFLINE=1")
def test_self_test_offline_with_the_bundled_model(tmp_path):
    log = tmp_path / "net.log"
    proc = _main("self-test", log=log, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert attempts_in(log) == []


def test_sample_docs_need_nothing_from_outside(tmp_path, no_network):
    """The self-test's own documents: shipped in the package, readable without any download."""
    folder = sample_docs_dir()
    assert folder.is_dir() and (folder / "questions.json").exists()


def test_onnx_runtime_telemetry_is_off(tmp_path, corpus):
    """ONNX Runtime >= 1.2x starts a 1DS telemetry client at import (Linux too): it keeps a device id
    and an event queue under ~/.cache/Microsoft/DeveloperTools and posts to mobile.events.data.microsoft.com.
    Importing `index` sets ORT_DISABLE_TELEMETRY first, so none of that exists after a run that embeds."""
    from index.embedding import model_cache_dir

    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "net.log"
    env = _env(log)
    env.pop("ORT_DISABLE_TELEMETRY", None)
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), DOCENT_MODEL_CACHE=str(model_cache_dir()))
    kb = str(tmp_path / "kb")
    for args in (["index", str(corpus), "--kb", kb, "-q"], ["search", "Trans-Siberian railway", "--kb", kb],
                 ["status", "--kb", kb]):
        proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
    leftovers = [str(p.relative_to(home)) for p in home.rglob("*") if "Microsoft" in str(p) or "onnxruntime" in str(p)]
    assert leftovers == []
    assert attempts_in(log) == []
