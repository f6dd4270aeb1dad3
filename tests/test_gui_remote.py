"""The desktop app with remote engines (offscreen, real servers on loopback): a shared knowledge
base on `chroma run`, and settings whose secrets go to the keyring, never to the settings file."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from gui.main_window import MainWindow  # noqa: E402
from gui.settings import AppSettings  # noqa: E402
from gui.tasks import TaskManager  # noqa: E402
from index.config import sample_docs_dir  # noqa: E402
from tests.fixtures.servers import ChromaServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def window(qtbot, tmp_path):
    tasks = TaskManager()
    w = MainWindow(tasks, AppSettings())
    qtbot.addWidget(w)
    assert w.session.open_now(tmp_path / "local-kb")
    w.show()
    yield w
    w.shutdown()
    tasks.shutdown()


@pytest.fixture
def memory_keyring():
    import keyring

    from tests.fixtures.memory_keyring import install

    ring, previous = install()
    yield ring
    keyring.set_keyring(previous)


def _alice_indexes(url: str, home: Path, docs: Path) -> None:
    env = dict(os.environ, DOCENT_HOME=str(home))
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "index", str(docs), "--kb", url, "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr


def test_connect_to_a_shared_knowledge_base(qtbot, tmp_path, window):
    server = ChromaServer(tmp_path / "chroma").start()
    try:
        url = server.url("team-docs")
        alice_docs = tmp_path / "alice-docs"
        shutil.copytree(sample_docs_dir(), alice_docs, ignore=shutil.ignore_patterns("questions.json"))
        _alice_indexes(url, tmp_path / "alice", alice_docs)

        panel = window.kb_panel
        assert panel.chooser.connect_shared(url, "team") is not None
        qtbot.waitUntil(lambda: window.session.kb is not None and window.session.kb.remote is not None, timeout=30_000)
        qtbot.waitUntil(lambda: panel.file_list.model.counts()["indexed"] == 7, timeout=60_000)
        assert "(shared)" in panel.chooser.kb_combo.currentText()
        labels = [panel.folder_list.folders.item(i).text() for i in range(panel.folder_list.folders.count())]
        assert any("shared by others" in text for text in labels), labels

        # What we add is shared: it reaches the server's file records.
        mine = tmp_path / "my-docs"
        mine.mkdir()
        (mine / "zeppelin.md").write_text("# Airships\n\nThe Hindenburg burned at Lakehurst in 1937.\n", encoding="utf-8")
        window.index_paths([str(mine)])
        qtbot.waitUntil(lambda: window.indexing.state == "idle" and panel.file_list.model.counts()["indexed"] == 8,
                        timeout=120_000)
        from index.remote import RemoteSpec, RemoteVectorStore

        store = RemoteVectorStore(RemoteSpec.parse(url))
        assert any(m["path"].endswith("zeppelin.md") for m in store.file_records().values())

        # Search finds Alice's passages through this client's replica.
        search = window.search
        window.tabs.setCurrentWidget(search)
        search.query.setText("Транссибирская магистраль")
        search.run_search()
        qtbot.waitUntil(lambda: not search.searching, timeout=30_000)
        assert search.hits and search.hits[0].passage.path.endswith("transsib.ru.txt")

        # The server goes away: search still answers from the local lexical replica, and says so.
        server.stop()
        search.query.setText("Which text encodings are detected?")
        search.run_search()
        qtbot.waitUntil(lambda: not search.searching, timeout=30_000)
        assert search.hits and "unreachable" in search.info.text()
        panel.file_list.refresh_files()
        qtbot.waitUntil(lambda: "cannot reach" in panel.file_list.shared_warning, timeout=30_000)
        server.start()
        panel.file_list.refresh_files()
        qtbot.waitUntil(lambda: panel.file_list.shared_warning == "", timeout=30_000)
        search.run_search()
        qtbot.waitUntil(lambda: not search.searching, timeout=30_000)
        assert "unreachable" not in search.info.text()

        # Disconnect and withdraw: our file leaves the server, Alice's stay; the replica goes.
        from gui import kb_store

        panel.chooser.choose = lambda title, text, options: 1
        panel.chooser.prompt_delete()
        qtbot.waitUntil(lambda: "team" not in kb_store.list_kbs() and not window.session.switching, timeout=60_000)
        paths = [m["path"] for m in store.file_records().values()]
        assert not any(p.endswith("zeppelin.md") for p in paths) and len(paths) == 7
    finally:
        server.stop()


def test_connect_dialog_checks_the_address(qtbot, window):
    from gui.shared_kb_dialog import SharedKbDialog

    dialog = SharedKbDialog(window)
    qtbot.addWidget(dialog)
    dialog.host.setText("https://kb.example.org")
    dialog.port.setValue(8443)
    dialog.collection.setText("x")  # too short for Chroma
    dialog._check_then_accept()
    assert dialog.result() != SharedKbDialog.Accepted and "bad knowledge-base name" in dialog.error.text()
    dialog.collection.setText("team-docs")
    assert dialog.url() == "chromas://kb.example.org:8443/team-docs"
    dialog._check_then_accept()
    assert dialog.result() == SharedKbDialog.Accepted


def test_api_key_goes_to_the_keyring_not_the_settings_file(qtbot, window, memory_keyring, tmp_path):
    from gui.settings_dialog import SettingsDialog
    from index.credentials import get_secret

    dialog = SettingsDialog(window.settings, window.tasks, None, window)
    qtbot.addWidget(dialog)
    dialog.endpoint_url.setText("http://127.0.0.1:9/v1")
    dialog.endpoint_model.setText("vikhr")
    dialog.api_key.setText("sk-test-abcdef123456")
    dialog.endpoint_radio.setChecked(True)
    dialog.accept()
    new = dialog.result_settings()
    assert new.model_source == "endpoint" and new.endpoint_url == "http://127.0.0.1:9/v1"
    path = tmp_path / "gui-settings.json"
    new.save(path)
    assert "sk-test-abcdef123456" not in path.read_text(encoding="utf-8")
    assert memory_keyring.store[("Docent", "api:http://127.0.0.1:9/v1")] == "sk-test-abcdef123456"
    assert get_secret("api", "http://127.0.0.1:9/v1") == "sk-test-abcdef123456"
    assert new.model_key() != AppSettings().model_key()  # switching to the endpoint reloads the model side
    reopened = SettingsDialog(new, window.tasks, None, window)
    qtbot.addWidget(reopened)
    assert reopened.endpoint_radio.isChecked() and reopened.api_key.text() == ""


def test_without_a_keyring_secrets_last_for_the_session_only(tmp_path):
    from index.credentials import get_secret, keyring_available, set_secret

    assert not keyring_available()  # tests run with the fail backend (tests/conftest.py)
    assert set_secret("chroma", "http://127.0.0.1:1", "tok-session-only") is False
    assert get_secret("chroma", "http://127.0.0.1:1") == "tok-session-only"
    set_secret("chroma", "http://127.0.0.1:1", "")
    assert get_secret("chroma", "http://127.0.0.1:1") is None


def test_secrets_are_masked_in_logs(tmp_path):
    import logging

    from index.credentials import RedactingFilter, remember

    remember("very-secret-token-789")
    record = logging.LogRecord("docent", logging.INFO, __file__, 1, "header Authorization: Bearer %s", ("very-secret-token-789",), None)
    RedactingFilter().filter(record)
    assert "very-secret-token-789" not in record.getMessage() and "***" in record.getMessage()


@pytest.fixture
def tiny_vikhr_gguf(tmp_path_factory) -> Path:
    from tests.fixtures.tiny_gguf import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-vikhr.gguf", "vikhr")


def _ask(qtbot, window, question: str):
    from PySide6.QtCore import Qt

    window.tabs.setCurrentWidget(window.chat)
    window.chat.question.setPlainText(question)
    qtbot.mouseClick(window.chat.ask_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not window.chat.busy, timeout=120_000)
    return window.chat.last_turn()


def test_answers_through_a_model_server_which_dies_and_comes_back(qtbot, tmp_path, window, tiny_vikhr_gguf):
    """Settings → model server; the server is killed mid-answer (clear error, partial answer kept,
    no hang); once it is back, the same window answers again without touching the settings."""
    from tests.fixtures.openai_server import OpenAIServer, Relay

    window.index_paths([str(sample_docs_dir())])
    qtbot.waitUntil(lambda: window.indexing.state == "idle" and window.kb_panel.file_list.model.counts()["indexed"] >= 7,
                    timeout=180_000)
    srv = OpenAIServer(tiny_vikhr_gguf, alias="tiny-vikhr", n_ctx=4096).start()
    cut = {"armed": True, "chunks": 0}

    def cutter(data: bytes, _t: float) -> None:
        """In the relay's thread: after two streamed answer chunks, kill the server and drop the line."""
        if cut["armed"] and b'"delta"' in data and b'"content"' in data:
            cut["chunks"] += 1
            if cut["chunks"] >= 2:
                cut["armed"] = False
                srv.kill()
                raise OSError("connection cut by the test")

    relay = Relay(srv.port, on_forward=cutter)
    try:
        settings = AppSettings(model_source="endpoint", endpoint_url=relay.base_url, endpoint_model="tiny-vikhr",
                               max_answer_tokens=300, n_ctx=4096, documents_k=3)
        settings.current_kb = window.settings.current_kb
        window.apply_settings(settings)
        turn = None
        questions = ["How long is the Trans-Siberian railway?", "What does Docent do?", "Which encodings are detected?",
                     "Who perfected the tea ceremony?", "When did construction begin?", "Which formats are supported?",
                     "Where does the railway end?", "Is anything sent to the network?", "What is wabi-cha?",
                     "Какова длина магистрали?", "Что такое Docent?", "茶道とは何ですか？"]
        for question in questions:  # random weights: until step 1 picks a document
            turn = _ask(qtbot, window, question)
            if turn.error or not cut["armed"]:
                break
            assert turn.found is False or turn.answer  # random weights: an answer, or "not found"
        assert turn is not None and not cut["armed"], "no question got past step 1"
        assert "closed the connection" in turn.error and "\n" not in turn.error, turn.error
        assert turn.answer, "the part of the answer that arrived is kept"
        assert "Could not answer" in window.chat.status.text()
        assert "Model server ready" in window.statusBar().currentMessage() or window.model.model_name

        down = _ask(qtbot, window, "How long is the Trans-Siberian railway?")
        assert down.error  # the server is dead: an error at once, not a hang

        srv = OpenAIServer(tiny_vikhr_gguf, alias="tiny-vikhr", port=srv.port, n_ctx=4096).start()
        back = _ask(qtbot, window, "How long is the Trans-Siberian railway?")
        assert not back.error, back.error
    finally:
        relay.close()
        srv.stop()


def test_connecting_again_reuses_the_replica(qtbot, tmp_path, window):
    """A second Connect… to the same server (say with a corrected token) opens the same replica
    instead of making a second client of this computer."""
    from gui import kb_store

    url = "chroma://127.0.0.1:9/team-docs"  # nothing listens: opening must still work (it is lazy)
    panel = window.kb_panel
    first = panel.chooser.connect_shared(url, "team-again")
    qtbot.waitUntil(lambda: window.session.kb is not None and window.session.kb.root == first, timeout=30_000)
    second = panel.chooser.connect_shared(url, "another-name", token="tok-abc123")
    assert second == first
    assert [n for n in kb_store.list_kbs() if kb_store.remote_url(kb_store.kb_path(n)) == url] == ["team-again"]
    qtbot.waitUntil(lambda: window.session.kb is not None and not window.session.switching, timeout=30_000)
