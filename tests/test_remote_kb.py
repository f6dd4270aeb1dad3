"""Shared knowledge bases on a real Chroma server (loopback), driven through the CLI as users do.

Two desktop clients are two data dirs (DOCENT_HOME) talking to one `chroma run`
server; each keeps its own replica (catalog + FTS) of the shared collection.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index import integrity
from index.config import sample_docs_dir
from index.kb import KnowledgeBase
from index.remote import RemoteError, RemoteSpec, rebuild_text
from tests.fixtures.netguard import attempts_in, guarded_env
from tests.fixtures.servers import ChromaServer, free_port

ROOT = Path(__file__).resolve().parents[1]


def cli(home: Path, *args: str, timeout: float = 300, log: Path | None = None, allow=()) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCENT_HOME=str(home))
    env.pop("DOCENT_CHROMA_TOKEN", None)
    if log is not None:
        env = guarded_env(log, env, allow)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def ok_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ChromaServer(tmp_path_factory.mktemp("chroma") / "data") as srv:
        yield srv


@pytest.fixture
def docs(tmp_path) -> Path:
    folder = tmp_path / "docs"
    shutil.copytree(sample_docs_dir(), folder, ignore=shutil.ignore_patterns("questions.json"))
    return folder


def test_spec_parsing():
    spec = RemoteSpec.parse("chroma://kb.example.org:8123/team-docs")
    assert (spec.scheme, spec.host, spec.port, spec.name) == ("http", "kb.example.org", 8123, "team-docs")
    assert RemoteSpec.parse("chromas://h/abc").server == "https://h:8000"
    for bad in ("chroma://h/a", "chroma://user:tok@h/abc", "http://h/abc", "chroma:///abc", "chroma://h:x/abc"):
        with pytest.raises(RemoteError):
            RemoteSpec.parse(bad)


def test_two_clients_share_one_knowledge_base(server, docs, tmp_path):
    url = server.url("shared-one")
    alice, bob = tmp_path / "alice", tmp_path / "bob"

    first = ok_json(cli(alice, "index", str(docs), "--kb", url, "--json"))
    assert first["files_indexed"] == 7 and not first["files_failed"]

    # Bob never indexed anything: his replica fills from the server, lexical index included.
    hits = ok_json(cli(bob, "search", "Транссибирская магистраль Владивосток", "--kb", url, "-k", "3", "--json"))
    top = hits["results"][0]
    assert top["path"].endswith("transsib.ru.txt") and ":" in top["path"]  # "<alice's host>:<her path>"
    original = (docs / "transsib.ru.txt").read_text(encoding="utf-8")
    assert original[top["char_start"]:top["char_end"]] == top["text"]
    lexical = ok_json(cli(bob, "search", "Владивосток", "--kb", url, "--mode", "lexical", "--json"))
    assert lexical["results"], "Bob's lexical index must hold Alice's passages"
    status = ok_json(cli(bob, "status", "--kb", url, "--json"))
    assert status["remote"] == url and status["files_from_others"] == 7 and status["chunks_total"] == first["chunks_total"]

    # Incremental: one changed file is re-embedded, the rest skipped by stat; Bob sees the change.
    (docs / "docent-overview.en.md").write_text("# Zeppelins\n\nThe airship Hindenburg burned at Lakehurst in 1937.\n",
                                       encoding="utf-8")
    second = ok_json(cli(alice, "index", str(docs), "--kb", url, "--json"))
    assert second["files_indexed"] == 1 and second["files_unchanged"] == 6
    time.sleep(0.1)
    found = ok_json(cli(bob, "search", "Hindenburg Lakehurst", "--kb", url, "-k", "1", "--json"))["results"]
    assert found and "Hindenburg" in found[0]["text"]

    # A removal reaches the server and Bob's replica; nothing of it is left anywhere.
    (docs / "chado.ja.html").unlink()
    third = ok_json(cli(alice, "index", str(docs), "--kb", url, "--json"))
    assert third["files_removed"] == 1
    ok_json(cli(bob, "status", "--kb", url, "--json"))  # pulls
    for home in (alice, bob):
        os.environ["DOCENT_HOME"] = str(home)
        try:
            with KnowledgeBase.open(url) as kb:
                kb.refresh(force=True)
                paths = [f.path for f in kb.files()]
                assert not any(p.endswith("chado.ja.html") for p in paths), paths
                report = integrity.check(kb)  # catalog = FTS = the server's collection
                assert report.ok, report.problems
        finally:
            os.environ.pop("DOCENT_HOME", None)


def test_shared_vectors_are_reference_counted(server, docs, tmp_path):
    """Bob indexes a copy of Alice's file: no re-embedding; Alice removing hers keeps his vectors."""
    url = server.url("shared-refs")
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    ok_json(cli(alice, "index", str(docs), "--kb", url, "--json"))
    mine = tmp_path / "bob-docs"
    mine.mkdir()
    shutil.copy(docs / "transsib.ru.txt", mine / "copy.txt")
    report = ok_json(cli(bob, "index", str(mine), "--kb", url, "--json"))
    assert report["files_indexed"] == 1
    (docs / "transsib.ru.txt").unlink()
    ok_json(cli(alice, "index", str(docs), "--kb", url, "--json"))
    hits = ok_json(cli(bob, "search", "Транссибирская", "--kb", url, "--mode", "dense", "-k", "1", "--json"))
    assert hits["results"] and hits["results"][0]["path"].endswith("copy.txt")
    os.environ["DOCENT_HOME"] = str(bob)
    try:
        with KnowledgeBase.open(url) as kb:
            kb.refresh(force=True)
            assert integrity.check(kb).ok
    finally:
        os.environ.pop("DOCENT_HOME", None)


def test_server_down_then_back(tmp_path, docs):
    """A stopped server: a clear one-line error at once, no hang; the same data when it returns."""
    port = free_port()
    data = tmp_path / "chroma"
    url = f"chroma://127.0.0.1:{port}/comeback"
    with ChromaServer(data, port):
        ok_json(cli(tmp_path / "a", "index", str(docs), "--kb", url, "--json"))
    t0 = time.monotonic()
    down = cli(tmp_path / "a", "search", "Владивосток", "--kb", url, "--json", timeout=60)
    message = one_line_error(down)
    assert f"cannot reach the Chroma server at http://127.0.0.1:{port}" in message, message
    assert time.monotonic() - t0 < 60
    indexing = cli(tmp_path / "a", "index", str(docs), "--kb", url, "--json", timeout=60)
    assert "cannot reach the Chroma server" in one_line_error(indexing)
    with ChromaServer(data, port):
        hits = ok_json(cli(tmp_path / "a", "search", "Владивосток", "--kb", url, "--json"))
        assert hits["results"]
        again = ok_json(cli(tmp_path / "a", "index", str(docs), "--kb", url, "--json"))
        assert again["files_unchanged"] == 7


def test_server_stops_while_a_client_is_open(tmp_path, docs, monkeypatch):
    """The app's case: a long-lived KnowledgeBase sees the server go and come back."""
    monkeypatch.setenv("DOCENT_HOME", str(tmp_path / "home"))
    port = free_port()
    data = tmp_path / "chroma"
    url = f"chroma://127.0.0.1:{port}/long-lived"
    srv = ChromaServer(data, port).start()
    try:
        with KnowledgeBase.open(url) as kb:
            kb.index([str(docs)])
            assert kb.search("Hindenburg OR Владивосток", 3)
            srv.stop()
            with pytest.raises(RemoteError, match="cannot reach"):
                kb.search("Владивосток", 3, mode="dense")
            # Hybrid search keeps working from the local lexical replica, and says why it is degraded.
            query = "Which text encodings are detected?"  # English: the dense side takes part
            hits = kb.search(query, 3)
            assert hits and "cannot reach" in hits.warnings[0]
            docs = kb.documents_for(query, 3)  # an answer given now carries the warning to the user
            assert docs and "cannot reach" in docs.warnings[0]
            srv.start()
            assert kb.search(query, 3, mode="dense")
            hits = kb.search(query, 3)
            assert hits and hits.warnings == []
    finally:
        srv.stop()


def test_token(tmp_path, docs):
    token = "s3cret-token-123"
    with ChromaServer(tmp_path / "chroma", token=token) as srv:
        url = srv.url("guarded")
        env = dict(os.environ, DOCENT_HOME=str(tmp_path / "home"), DOCENT_CHROMA_TOKEN="wrong-token-456")
        bad = subprocess.run([sys.executable, str(ROOT / "main.py"), "index", str(docs), "--kb", url],
                             capture_output=True, text=True, env=env, timeout=120)
        message = one_line_error(bad)
        assert "rejected the token" in message and "wrong-token-456" not in message
        none = cli(tmp_path / "home", "status", "--kb", url)
        assert "requires a token" in one_line_error(none)
        env["DOCENT_CHROMA_TOKEN"] = token
        good = subprocess.run([sys.executable, str(ROOT / "main.py"), "index", str(docs), "--kb", url, "--json", "-v"],
                              capture_output=True, text=True, env=env, timeout=300)
        assert good.returncode == 0, good.stderr
        assert json.loads(good.stdout)["files_indexed"] == 7
        logged = "".join(p.read_text(errors="replace") for p in (tmp_path / "home").rglob("*.log"))
        assert token not in logged and token not in good.stderr
        settings = "".join(p.read_text(errors="replace") for p in (tmp_path / "home").rglob("*.json"))
        assert token not in settings


def test_network_only_to_the_configured_server(server, docs, tmp_path):
    log = tmp_path / "net.log"
    url = server.url("guarded-net")
    allow = (server.address,)
    ok_json(cli(tmp_path / "home", "index", str(docs), "--kb", url, "--json", log=log, allow=allow))
    ok_json(cli(tmp_path / "home", "search", "Владивосток", "--kb", url, "--json", log=log, allow=allow))
    assert attempts_in(log) == []
    # And the guard is real: without the allowance the same command is refused and recorded.
    blocked = cli(tmp_path / "home2", "status", "--kb", url, log=log)
    assert "cannot reach the Chroma server" in one_line_error(blocked)
    assert any("connect" in line for line in attempts_in(log))


def test_embedding_model_must_agree(server, docs, tmp_path, monkeypatch):
    url = server.url("shared-embed")
    ok_json(cli(tmp_path / "a", "index", str(docs / "transsib.ru.txt"), "--kb", url, "--json"))
    monkeypatch.setenv("DOCENT_HOME", str(tmp_path / "b"))
    # A new client adopts the shared model; one with its own vectors of another model is refused.
    from index.config import EngineSettings

    shared_model = EngineSettings().embedding_model  # the first client's: a new knowledge base's default
    with KnowledgeBase.open(url) as kb:
        kb.refresh(force=True)
        assert kb.settings.embedding_model == shared_model

    other = EngineSettings(embedding_model="/models/e5")
    monkeypatch.setenv("DOCENT_HOME", str(tmp_path / "c"))
    with KnowledgeBase.open(url, other) as kb:
        kb.catalog.begin()
        kb.catalog.store_failed("/x", size=1, mtime_ns=1, error="x")  # not an indexed file: still adoptable
        kb.catalog.commit()
        kb.refresh(force=True)
        assert kb.settings.embedding_model == shared_model


def test_rebuilt_text_keeps_every_passage_in_place():
    from index.catalog import NewPassage

    text = "First paragraph here.\n\nSecond one follows.\n\nThird."
    parts = [(text.index(w), text.index(w) + len(w)) for w in ("First paragraph here.", "Second one follows.", "Third.")]
    passages = [NewPassage(i, None, a, b, text[a:b]) for i, (a, b) in enumerate(parts)]
    rebuilt = rebuild_text(passages)
    assert rebuilt == text
    for p in passages:
        assert rebuilt[p.char_start:p.char_end] == p.text


def test_ask_with_both_remote_engines_reaches_only_their_addresses(server, docs, tmp_path):
    """Shared knowledge base + model server, from the CLI under the socket guard: the two configured
    servers are the only addresses any Docent process contacts."""
    from tests.fixtures.openai_server import OpenAIServer
    from tests.fixtures.tiny_gguf import write_tiny_gguf

    gguf = write_tiny_gguf(tmp_path / "tiny-vikhr.gguf", "vikhr")
    url = server.url("shared-ask")
    log = tmp_path / "net.log"
    with OpenAIServer(gguf, alias="tiny-vikhr", n_ctx=4096) as llm:
        allow = (server.address, f"127.0.0.1:{llm.port}")
        ok_json(cli(tmp_path / "a", "index", str(docs), "--kb", url, "--json", log=log, allow=allow))
        answer = ok_json(cli(tmp_path / "b", "ask", "How long is the Trans-Siberian railway?", "--kb", url,
                             "--endpoint", llm.base_url, "--api-model", "tiny-vikhr", "-k", "3", "--json",
                             log=log, allow=allow))
    assert answer["model"]["endpoint"] == llm.base_url and answer["documents"]
    assert all(d["path"].split(":", 1)[1] for d in answer["documents"])  # the other client's files
    assert attempts_in(log) == []


# -- consistency under races, cuts and server loss (found in review; each reproduced first) -------------

def _client(tmp_path: Path, name: str, url: str) -> KnowledgeBase:
    """A client in this process: its own replica folder (what another computer would have)."""
    from index.config import EngineSettings

    return KnowledgeBase(tmp_path / "replicas" / name, EngineSettings(remote=url))


def _has_file(kb: KnowledgeBase, suffix: str) -> bool:
    return any(f.path.endswith(suffix) for f in kb.files())


def test_a_network_failure_mid_publish_loses_nothing(server, docs, tmp_path):
    """The server goes between the records going out and the generation bump: no transaction or lock is
    left behind, and the bump happens on the next run (others hear of the change without a forced pull)."""
    from index.remote import PULL_INTERVAL_S

    url = server.url("cut-bump")
    alice, bob = _client(tmp_path, "alice", url), _client(tmp_path, "bob", url)
    try:
        alice.index([str(docs)])
        bob.refresh(force=True)
        (docs / "new.txt").write_text("The airship Hindenburg burned at Lakehurst in 1937.\n", encoding="utf-8")
        store = alice.vectors
        real = store.bump_generation

        def cut():
            raise RemoteError("cannot reach the Chroma server: connection reset")

        store.bump_generation = cut
        with pytest.raises(RemoteError):
            alice.index([str(docs)])
        assert not alice.catalog._writer.locked() and not alice.catalog.db.in_transaction
        store.bump_generation = real
        again = alice.index([str(docs)])
        assert again.files_indexed == 0  # nothing left to index: only the bump was owed
        time.sleep(PULL_INTERVAL_S + 0.1)
        bob.refresh()  # not forced: the generation must have changed
        assert _has_file(bob, "new.txt")
    finally:
        alice.close()
        bob.close()


def test_own_bump_does_not_hide_what_others_did(server, docs, tmp_path):
    from index.remote import PULL_INTERVAL_S

    url = server.url("own-bump")
    alice, bob = _client(tmp_path, "alice", url), _client(tmp_path, "bob", url)
    try:
        alice.index([str(docs)])
        bob.refresh(force=True)
        theirs = tmp_path / "bob-docs"
        theirs.mkdir()
        (theirs / "b.txt").write_text("The airship Hindenburg burned at Lakehurst in 1937.\n", encoding="utf-8")
        bob.index([str(theirs)])
        (docs / "a.txt").write_text("A note about Lake Baikal.\n", encoding="utf-8")
        alice.index([str(docs)])  # ends with her own bump
        time.sleep(PULL_INTERVAL_S + 0.1)
        alice.refresh()
        assert _has_file(alice, "b.txt")
    finally:
        alice.close()
        bob.close()


def test_a_copy_of_a_file_its_owner_removed_gets_its_own_vectors(server, docs, tmp_path):
    """Carol's replica still lists Alice's file, whose vectors Alice's run removed: Carol's copy of the
    same bytes must be embedded, not borrowed from Alice's (gone) file; Bob then pulls it."""
    from index.sync import content_hash

    url = server.url("stale-twin")
    alice, carol, bob = (_client(tmp_path, n, url) for n in ("alice", "carol", "bob"))
    try:
        alice.index([str(docs)])
        carol.refresh(force=True)
        original = docs / "transsib.ru.txt"
        h = content_hash(str(original))
        mine = tmp_path / "carol-docs"
        mine.mkdir()
        shutil.copy(original, mine / "copy.txt")
        original.unlink()
        alice.index([str(docs)])
        assert not alice.vectors.has([f"{h}#0"])
        assert carol.index([str(mine)]).files_indexed == 1
        assert alice.vectors.has([f"{h}#0"])
        hits = carol.search("Транссибирская магистраль", 3, mode="dense")
        assert any(x.passage.path.endswith("copy.txt") for x in hits)
        bob.refresh(force=True)
        assert _has_file(bob, "copy.txt")
        for kb in (alice, carol, bob):
            kb.refresh(force=True)
            assert integrity.check(kb).ok, integrity.check(kb).problems
    finally:
        for kb in (alice, carol, bob):
            kb.close()


def test_a_server_that_lost_its_data_is_filled_again(tmp_path, docs):
    port = free_port()
    data = tmp_path / "chroma"
    url = f"chroma://127.0.0.1:{port}/lost-data"
    with ChromaServer(data, port):
        alice, bob = _client(tmp_path, "alice", url), _client(tmp_path, "bob", url)
        alice.index([str(docs)])
        bob.refresh(force=True)
        alice.close()
        bob.close()
    shutil.rmtree(data)
    with ChromaServer(data, port):
        alice, bob = _client(tmp_path, "alice", url), _client(tmp_path, "bob", url)
        try:
            report = alice.index([str(docs)])
            assert report.files_indexed == 7  # re-embedded into the new, empty collection
            assert alice.search("Which text encodings are detected?", 3, mode="dense")
            bob.refresh(force=True)
            assert len(bob.files()) == 7
            for kb in (alice, bob):
                assert integrity.check(kb).ok, integrity.check(kb).problems
        finally:
            alice.close()
            bob.close()


def test_a_hung_server_costs_one_timeout_not_a_hang(server, docs, tmp_path):
    import socket

    url = server.url("hung")
    alice = _client(tmp_path, "alice", url)
    alice.index([str(docs)])
    alice.close()
    port = free_port()
    listener = socket.socket()  # accepts connections, never answers
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    try:
        hung = _client(tmp_path, "alice", f"chroma://127.0.0.1:{port}/hung")
        try:
            t0 = time.monotonic()
            hits = hung.search("Which text encodings are detected?", 3)
            first = time.monotonic() - t0
            assert hits and "timed out" in " ".join(hits.warnings)
            t0 = time.monotonic()
            hung.search("Which text encodings are detected?", 3)
            assert first < 60 and time.monotonic() - t0 < first  # generous bounds: the point is no hang
        finally:
            hung.close()
    finally:
        listener.close()


def test_withdrawing_a_clients_files(server, docs, tmp_path):
    """Bob leaves and takes his files with him: his records and the vectors only he used go; a file
    Alice has too keeps its vectors; Alice's replica drops his files at her next pull."""
    url = server.url("withdraw")
    alice, bob = _client(tmp_path, "alice", url), _client(tmp_path, "bob", url)
    try:
        alice.index([str(docs)])
        mine = tmp_path / "bob-docs"
        mine.mkdir()
        shutil.copy(docs / "transsib.ru.txt", mine / "copy.txt")
        (mine / "own.txt").write_text("The airship Hindenburg burned at Lakehurst in 1937.\n", encoding="utf-8")
        bob.index([str(mine)])
        alice.refresh(force=True)
        assert _has_file(alice, "own.txt") and _has_file(alice, "copy.txt")
        assert bob.withdraw_shared() == 2
        records = alice.vectors.file_records()
        assert len(records) == 7 and not any(m["path"].endswith(("own.txt", "copy.txt")) for m in records.values())
        assert alice.refresh(force=True) == 2
        assert not _has_file(alice, "own.txt") and _has_file(alice, "transsib.ru.txt")
        assert integrity.check(alice).ok, integrity.check(alice).problems  # no vector of own.txt is left over
    finally:
        alice.close()
        bob.close()
