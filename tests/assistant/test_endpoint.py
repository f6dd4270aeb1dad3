"""RemotePipeline against a real llama-cpp-python server on 127.0.0.1 (tiny random-weight GGUFs).

No mocks: every request goes to `python -m llama_cpp.server` in a subprocess
(tests/fixtures/openai_server.py).  A relay (real TCP) stalls the stream
where a test needs a server that goes quiet; killing the subprocess is a
server that dies.
"""
from __future__ import annotations

import json
import threading
import time

import pytest

from assistant.endpoint import FOLDED_NOTE, RemotePipeline, repair_ids, reset_endpoint_caps
from assistant.endpoint_client import EndpointConfig, normalize_base_url
from assistant.errors import (
    AssistantError,
    EndpointAuthError,
    EndpointDisconnected,
    EndpointModelError,
    EndpointRequestError,
    EndpointTimeout,
    EndpointUnreachable,
)
from assistant.grammar import parse_ids
from index.types import SourceDocument
from tests.fixtures.openai_server import OpenAIServer, Relay

pytestmark = pytest.mark.timeout(120)

QUESTIONS = ["How long is the railway?", "When did construction begin?", "How deep is Lake Baikal?",
             "Who perfected the tea ceremony?", "What does Docent do?"]
CONTRACT_KEYS = ["relevant_doc_ids", "documents", "answer", "mode", "citations", "unsupported", "timings", "model"]


def make_docs(n: int = 4, repeat: int = 2) -> list[SourceDocument]:
    facts = [
        "The Trans-Siberian railway connects Moscow and Vladivostok. It is 9288 km long.",
        "Construction of the railway began in 1891 and the main line was finished in 1916.",
        "Lake Baikal is the deepest lake in the world, 1642 metres at its deepest point.",
        "Tea ceremony in Japan was perfected by Sen no Rikyu in the sixteenth century.",
        "Docent answers questions from your own documents and cites the passage behind each sentence.",
    ]
    docs = []
    for i in range(n):
        text = " ".join([facts[i % len(facts)]] * repeat)
        docs.append(SourceDocument(f"doc {i}", text, f"/docs/{i}.txt", None, 0, len(text)))
    return docs


@pytest.fixture(autouse=True)
def _fresh_caps():
    reset_endpoint_caps()
    yield
    reset_endpoint_caps()


@pytest.fixture(scope="module")
def server(tiny_model):
    with OpenAIServer(tiny_model("vikhr"), alias="tiny-vikhr") as s:
        yield s


@pytest.fixture(scope="module")
def permissive_server(tiny_model):
    with OpenAIServer(tiny_model("vikhr"), alias="tiny-vikhr", permissive_roles=True) as s:
        yield s


def pipeline_for(url: str, **kw) -> RemotePipeline:
    config_kw = {k: kw.pop(k) for k in ("model", "api_key", "n_ctx", "read_timeout") if k in kw}
    config_kw.setdefault("n_ctx", 2048)
    return RemotePipeline(EndpointConfig(url, **config_kw), **kw)


def test_base_url_forms():
    assert normalize_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert normalize_base_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"
    with pytest.raises(AssistantError):
        normalize_base_url("127.0.0.1:8000")


def test_repair_ids():
    offered = [0, 1, 2]
    assert repair_ids('{"relevant_doc_ids": [2, 0]}', offered) == ([2, 0], "")
    ids, note = repair_ids('{"relevant_doc_ids" :[1, 1, 7, 0] }', offered)
    assert ids == [1, 0] and note
    assert repair_ids('Sure! {"relevant_doc_ids": [2]} Hope this helps', offered)[0] == [2]
    assert repair_ids('relevant_doc_ids: [0, 2, 2]', offered)[0] == [0, 2]
    assert repair_ids('{"relevant_doc_ids": []}', offered) == ([], "")
    assert repair_ids("I cannot tell.", offered)[0] is None
    assert repair_ids('{"relevant_doc_ids": [5, 9]}', offered)[0] is None


def test_streamed_answer_and_contract(server):
    p = pipeline_for(server.root_url, max_answer_tokens=48)  # no /v1: accepted
    try:
        pieces: list[str] = []
        done_at_piece: list[bool] = []
        result_box: dict = {}

        def on_token(piece: str) -> None:
            pieces.append(piece)
            done_at_piece.append("answer" in result_box)

        result_box["answer"] = a = p.answer("How long is the Trans-Siberian railway?", make_docs(), on_token=on_token)
        obj = json.loads(a.json_text())
        assert list(obj)[:8] == CONTRACT_KEYS
        assert set(obj["model"]) >= {"endpoint", "name", "profile", "documents_role"}
        assert obj["model"]["endpoint"] == server.base_url and obj["model"]["name"] == "tiny-vikhr"
        if a.found:
            assert len(pieces) > 1 and not any(done_at_piece)  # piece by piece, all before answer() returned
            assert "".join(pieces).strip() == a.answer
            assert a.timings["step2_first_token_s"] is not None
        assert all(set(d) == {"doc_id", "title", "content", "path", "page", "char_start", "char_end"} for d in obj["documents"])
    finally:
        p.close()


def test_step1_valid_over_questions(server):
    p = pipeline_for(server.base_url, max_answer_tokens=8)
    questions = ["How long is the railway?", "Когда началось строительство?", "琵琶湖の深さは？",
                 "Who perfected the tea ceremony?", "What does Docent do?", "How deep is Lake Baikal?"]
    try:
        for n, q in enumerate(questions):
            docs = make_docs(2 + n % 4)
            a = p.answer(q, docs)
            offered = list(range(len(a.documents)))
            assert parse_ids(json.dumps({"relevant_doc_ids": a.relevant_doc_ids}), offered).valid
            # llama-cpp-python's server takes our GBNF: the raw step-1 output is valid as it stands, not repaired
            assert a.timings["step1_response_format"] == "grammar"
            assert parse_ids(a.step1_output, offered).valid and not a.timings["step1_repaired"]
    finally:
        p.close()


def test_documents_role_rejected_then_folded(server):
    """llama-cpp-python's server refuses role 'documents' (a 500 validation error): fold, warn, remember."""
    p = pipeline_for(server.base_url, max_answer_tokens=8)
    try:
        a = p.answer("How long is the railway?", make_docs(2))
        assert a.model["documents_role"] == "off" and FOLDED_NOTE in a.warnings
        b = p.answer("How long is the railway?", make_docs(2))
        assert b.model["documents_role"] == "off" and FOLDED_NOTE in b.warnings
        assert p.caps["documents_role"] is False
        forced = pipeline_for(server.base_url, documents_role="on", max_answer_tokens=8)
        with pytest.raises(EndpointRequestError) as info:
            forced.answer("How long is the railway?", make_docs(2))
        assert "documents" in str(info.value) and "\n" not in str(info.value)
        forced.close()
        off = pipeline_for(server.base_url, documents_role="off", max_answer_tokens=8)
        c = off.answer("How long is the railway?", make_docs(2))
        assert c.model["documents_role"] == "off" and FOLDED_NOTE not in c.warnings
        off.close()
    finally:
        p.close()


def test_documents_role_native(permissive_server):
    """A server that accepts any role (as llama.cpp's C++ server and vLLM do) gets the Vikhr documents turn."""
    p = pipeline_for(permissive_server.base_url, max_answer_tokens=8)
    try:
        a = p.answer("How long is the railway?", make_docs(2))
        assert a.model["documents_role"] == "on" and FOLDED_NOTE not in a.warnings
        assert p.caps["documents_role"] is True
    finally:
        p.close()


def test_overflow_shrinks_and_retries(server):
    """No max_model_len from llama-cpp-python: an 8192 guess overflows its 2048, the pipeline shrinks once."""
    p = pipeline_for(server.base_url, n_ctx=8192, max_answer_tokens=16)
    try:
        a = p.answer("How long is the railway?", make_docs(6, repeat=8))
        assert any("context is smaller" in w for w in a.warnings)
        assert a.timings["n_ctx"] < 2048 and p.n_ctx == 2048
    finally:
        p.close()


def test_cancel_within_a_chunk(server, tap):
    # llama-cpp-python's server goes on generating for a while after the client hung up:
    # short answers keep that from slowing the next test.
    p = pipeline_for(server.base_url, max_answer_tokens=48)
    cancel = threading.Event()
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.set()

    tap(on_token)
    try:
        for _ in range(5):  # random weights: find a question whose step 1 picks a document
            pieces.clear()
            cancel.clear()
            shown: list[str] = []
            a = p.answer(QUESTIONS[_], make_docs(3), on_token=shown.append, cancel=cancel)
            if a.found and a.cancelled:  # (the guard may end random text before the third piece)
                break
        assert a.found and a.cancelled and len(pieces) == 3
        assert a.answer == "".join(shown)
    finally:
        p.close()


def test_cancel_while_server_is_silent(server, tap):
    """The stream stalls (relay holds the bytes): Stop must not wait for the server's next chunk."""
    relay = Relay(server.port)
    # Short answers: llama-cpp-python's server only notices a vanished client whose stream
    # it could not write to after it has generated the rest, and the next test waits for that.
    p = pipeline_for(relay.base_url, max_answer_tokens=64)
    cancel = threading.Event()
    pieces: list[str] = []
    stopped_at: list[float] = []

    def stop() -> None:
        stopped_at.append(time.monotonic())
        cancel.set()

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 1:
            relay.hold.set()
            threading.Timer(0.3, stop).start()

    tap(on_token)
    try:
        a = None
        for q in QUESTIONS:
            pieces.clear()
            stopped_at.clear()
            cancel.clear()
            relay.hold.clear()
            shown: list[str] = []
            a = p.answer(q, make_docs(3), on_token=shown.append, cancel=cancel)
            returned = time.monotonic()
            if a.found and a.cancelled:
                break
        assert a.found and a.cancelled and a.answer == "".join(shown) and len(pieces) == 1
        assert returned - stopped_at[0] < 5.0  # generous: the point is it does not wait for the server (120 s timeout)
        relay.hold.clear()
        p.max_answer_tokens = 8
        b = p.answer("How long is the railway?", make_docs(3))
        assert not b.cancelled
    finally:
        relay.close()
        p.close()


def test_server_killed_mid_answer_then_back(tiny_model, tmp_path, tap):
    srv = OpenAIServer(tiny_model("vikhr"), alias="tiny-vikhr").start()
    relay = Relay(srv.port)  # holds the stream while the server is killed: the answer cannot finish first
    p = pipeline_for(relay.base_url, max_answer_tokens=400)
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 2:
            relay.hold.set()
            srv.kill()
            relay.hold.clear()

    tap(on_token)
    try:
        with pytest.raises(EndpointDisconnected) as info:
            for _ in range(5):  # until a question gets past step 1 (random weights)
                pieces.clear()
                shown: list[str] = []
                p.answer(QUESTIONS[_], make_docs(3), on_token=shown.append)
        err = info.value
        assert "closed the connection" in str(err) and "\n" not in str(err)
        if pieces:
            assert "partial answer is kept" in str(err)
            assert err.partial_text.strip() == "".join(pieces).strip()
            assert err.partial_answer is not None and err.partial_answer.answer == "".join(shown)
        with pytest.raises((EndpointUnreachable, EndpointDisconnected)):  # via the relay a dead server = a closed connection
            p.answer("How long is the railway?", make_docs(3))
        srv = OpenAIServer(tiny_model("vikhr"), alias="tiny-vikhr", port=srv.port).start()
        p.max_answer_tokens = 8
        a = p.answer("How long is the railway?", make_docs(3), on_token=lambda piece: None)
        assert not a.cancelled and list(a.to_json())[:8] == CONTRACT_KEYS
    finally:
        relay.close()
        p.close()
        srv.stop()


def test_read_timeout_keeps_partial(server, tap):
    """A server that goes quiet mid-answer for longer than the read timeout: EndpointTimeout, partial kept."""
    relay = Relay(server.port)
    p = pipeline_for(relay.base_url, max_answer_tokens=48, read_timeout=1.0)
    pieces: list[str] = []
    armed = [True]

    def on_token(piece: str) -> None:
        if armed:
            pieces.append(piece)
            relay.hold.set()

    tap(on_token)
    try:
        with pytest.raises(EndpointTimeout) as info:
            for q in QUESTIONS:
                pieces.clear()
                relay.hold.clear()
                shown: list[str] = []
                p.answer(q, make_docs(3), on_token=shown.append)
        err = info.value
        assert "timed out" in str(err) and "partial answer is kept" in str(err)
        assert err.partial_answer.answer == "".join(shown) and not err.partial_answer.cancelled
        armed.clear()
        relay.hold.clear()
        p.max_answer_tokens = 8
        assert p.answer("How long is the railway?", make_docs(3)).model["name"] == "tiny-vikhr"  # not poisoned
    finally:
        relay.close()
        p.close()


def test_connection_refused_and_wrong_key(tiny_model):
    key = "docent-test-key-8f1c2a"
    with OpenAIServer(tiny_model("vikhr"), alias="tiny-vikhr", api_key=key) as srv:
        bad = pipeline_for(srv.base_url, api_key="wrong-key-123456", max_answer_tokens=8)
        with pytest.raises(EndpointAuthError) as info:
            bad.answer("How long is the railway?", make_docs(2))
        msg = str(info.value)
        assert "rejected the API key" in msg and "wrong-key-123456" not in msg and key not in msg
        bad.close()
        nokey = pipeline_for(srv.base_url, max_answer_tokens=8)
        with pytest.raises(EndpointAuthError):
            nokey.answer("How long is the railway?", make_docs(2))
        nokey.close()
        good = pipeline_for(srv.base_url, api_key=key, max_answer_tokens=8)
        assert good.answer("How long is the railway?", make_docs(2)).model["name"] == "tiny-vikhr"
        unknown = pipeline_for(srv.base_url, api_key=key, model="no-such-model")
        with pytest.raises(EndpointModelError) as info:
            unknown.answer("How long?", make_docs(1))
        assert "no-such-model" in str(info.value) and "tiny-vikhr" in str(info.value)
        unknown.close()
        port = srv.port
    with pytest.raises(EndpointUnreachable) as info:
        good.answer("How long is the railway?", make_docs(2))
    assert str(info.value) == f"cannot reach the model server at http://127.0.0.1:{port}/v1: connection refused"
    good.close()


# -- CLI -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_kb(tmp_path_factory):
    from index.config import sample_docs_dir
    from index.kb import KnowledgeBase

    root = tmp_path_factory.mktemp("kb-endpoint")
    kb = KnowledgeBase.open(root / "kb")
    try:
        assert kb.index([str(sample_docs_dir())]).files_indexed > 0
    finally:
        kb.close()
    return root / "kb"


def test_cli_ask_endpoint_json(sample_kb, tiny_model, capsys, monkeypatch):
    import main as docent_main

    key = "cli-key-5d2e77"
    monkeypatch.setenv("DOCENT_VECTORS_IN_PROCESS", "1")
    monkeypatch.setenv("MY_SERVER_KEY", key)
    monkeypatch.delenv("DOCENT_API_KEY", raising=False)
    with OpenAIServer(tiny_model("vikhr"), alias="tiny-vikhr", api_key=key) as srv:
        argv = ["ask", "How long is the Trans-Siberian railway?", "--kb", str(sample_kb), "--endpoint", srv.base_url,
                "--api-model", "tiny-vikhr", "--api-key-env", "MY_SERVER_KEY", "--max-tokens", "16", "--n-ctx", "2048"]
        rc = docent_main.main(argv + ["--json"])
        out, err = capsys.readouterr()
        assert rc == 0, err
        obj = json.loads(out)
        assert list(obj)[:8] == CONTRACT_KEYS
        assert obj["model"]["endpoint"] == srv.base_url and obj["model"]["name"] == "tiny-vikhr"
        assert obj["model"]["profile"] == "vikhr" and obj["model"]["documents_role"] in ("on", "off")
        # the whole model object of DESIGN.md section 4, as for a local model (no file, no GPU layers of ours)
        assert {"path", "profile", "n_gpu_layers", "device", "prompt_format", "n_ctx"} <= set(obj["model"])
        assert obj["model"]["n_ctx"] == 2048 and obj["mode"] == "generate"
        for d in obj["documents"]:
            if d["path"].endswith(".txt"):
                with open(d["path"], encoding="utf-8") as f:
                    assert f.read()[d["char_start"]:d["char_end"]] == d["content"]
        assert key not in out + err

        rc = docent_main.main(argv)  # streamed text on stdout
        out, err = capsys.readouterr()
        assert rc == 0 and out.strip()

        monkeypatch.setenv("MY_SERVER_KEY", "not-the-key-000")
        rc = docent_main.main(argv)
        out, err = capsys.readouterr()
        lines = [l for l in err.splitlines() if l.strip()]
        assert rc == 1 and len(lines) == 1 and "rejected the API key" in lines[0] and "not-the-key-000" not in err
        port = srv.port
    rc = docent_main.main(["ask", "How long?", "--kb", str(sample_kb), "--endpoint", f"http://127.0.0.1:{port}"])
    out, err = capsys.readouterr()
    assert rc == 1 and "connection refused" in err and "Traceback" not in err
