"""Smaller pieces of the desktop app: offsets, highlighting, rendering, history, knowledge-base
management, settings and the (offline) model download, translations, theme, drag and drop."""
from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from gui import i18n, kb_store  # noqa: E402
from gui.answer_render import answer_plain, conversation_html, segments  # noqa: E402
from gui.conversations import ConversationStore, Turn, TurnCitation, TurnDoc  # noqa: E402
from gui.model_catalog import OFFLINE_MESSAGE, SEED_MODELS, explain, pick_file  # noqa: E402
from gui.settings import AppSettings  # noqa: E402
from gui.textmap import QtOffsets, locate, locate_partial, query_terms, term_spans  # noqa: E402
from gui.theme import DARK, LIGHT  # noqa: E402

GUI = Path(__file__).resolve().parents[1] / "gui"


# -- offsets and matching ---------------------------------------------------------------
def test_qt_offsets_follow_utf16_and_crlf(qapp):
    from PySide6.QtWidgets import QPlainTextEdit

    text = "ab\r\ncd 😀 x\r\nКиев 茶道\n𠮷end"
    edit = QPlainTextEdit()
    edit.setPlainText(text)
    shown = edit.toPlainText()
    m = QtOffsets(text)
    for word in ("cd", "x", "Киев", "茶道", "end"):
        start = text.index(word)
        qt = m.to_qt(start)
        assert shown.encode("utf-16-le")[2 * qt: 2 * (qt + len(word))].decode("utf-16-le") == word


def test_locate_ignores_whitespace_and_prefers_the_hint():
    page = "The Gotthard Base\r\nTunnel is 57 km long.\r\n...\r\nThe Gotthard Base Tunnel is 57 km long."
    quote = "The Gotthard Base Tunnel is 57 km long."
    first = locate(page, quote)
    assert first and page[first[0]:first[1]].startswith("The Gotthard Base\r\nTunnel")
    last = locate(page, quote, hint=len(page) - 5)
    assert page[last[0]:last[1]] == quote
    assert locate(page, "not there at all") is None
    # a quote running onto the next page: its head is still found
    assert locate_partial(page[:45], "The Gotthard Base Tunnel is 57 km long. And then the next page goes on") \
        is not None


def test_query_terms_and_spans_cover_inflections_and_cjk():
    terms = query_terms("Какова длина Транссибирской магистрали? 茶道")
    text = "Транссибирская магистраль длиной 9288 км. 茶道は日本の伝統。"
    spans = [text[a:b] for a, b in term_spans(text, terms)]
    assert "Транссибирская" in spans and "магистраль" in spans and "длиной" in spans and "茶道" in spans
    assert term_spans("nothing here", query_terms("the and")) == []


# -- rendering and history ----------------------------------------------------------------
def make_turn() -> Turn:
    answer = "Её длина 9288 километров. Луна из сыра."
    return Turn(
        question="Какова длина?", answer=answer, relevant_doc_ids=[0], n_offered=3,
        documents=[TurnDoc("transsib", "/docs/transsib.ru.txt", None, 0, 500)],
        citations=[TurnCitation(0, 25, 0, "Её длина составляет 9288 километров", 130, 165)],
        unsupported=[(26, len(answer))],
    )


def test_answer_rendering_marks_citations_unsupported_and_not_found():
    turn = make_turn()
    kinds = [k for _, _, k, _ in segments(turn)]
    assert kinds == ["cited", "plain", "unsupported"]
    html = conversation_html([turn], LIGHT)
    assert 'href="cite:0:0"' in html and "[1]" in html and "[?]" in html and LIGHT.unsupported_bg in html
    assert "Using 1 of 3 documents" in html
    plain = answer_plain(turn)
    assert "километров. [1]" in plain and "[?]" in plain and "/docs/transsib.ru.txt" in plain
    nf = Turn(question="?", answer="The knowledge base has no information on this question.", found=False)
    assert "Not found in your documents." in conversation_html([nf], DARK)
    assert "<script>" not in conversation_html([Turn(question="<script>alert(1)</script>", answer="<b>x</b>")], LIGHT)
    warned = Turn(question="?", answer="Keyword matches only.", warnings=["cannot reach the server; showing keyword matches only"])
    assert "showing keyword matches only" in conversation_html([warned], LIGHT)  # the search's warning reaches the user


def test_conversations_roundtrip(tmp_path):
    store = ConversationStore(tmp_path)
    conv = store.new()
    store.add_turn(conv, make_turn())
    store.add_turn(conv, Turn(question="second", answer="partial", cancelled=True))
    again = ConversationStore(tmp_path)
    loaded = again.latest()
    assert loaded.id == conv.id and loaded.title == "Какова длина?"
    assert loaded.turns[0].citations[0].quote == "Её длина составляет 9288 километров"
    assert loaded.turns[0].unsupported == [(26, len(loaded.turns[0].answer))]
    assert loaded.history() == [("Какова длина?", make_turn().answer)]  # cancelled turns are not history
    (tmp_path / "docent-chats.json").write_text("{broken", encoding="utf-8")
    assert ConversationStore(tmp_path).conversations == []


def test_a_session_job_succeeds_fails_is_refused_or_goes_stale(qtbot, tmp_path):
    """KbSession.run: one rule for every GUI job (on_success / on_error / JobRefused / dropped)."""
    import threading

    from gui.session import JobRefused, KbSession
    from gui.tasks import TaskManager

    tasks = TaskManager()
    session = KbSession(tasks)
    got: list = []
    try:
        assert session.run(lambda kb: 1, got.append, got.append) is None  # nothing open: refused at once
        assert len(got) == 1 and isinstance(got[0], JobRefused) and str(got[0]) == "No knowledge base is open."
        assert session.open_now(tmp_path / "kb")
        got.clear()
        session.run(lambda kb: kb.root.name, lambda r: got.append(("ok", r)), lambda e: got.append(("error", e)))
        session.run(lambda kb: 1 / 0, lambda r: got.append(("ok", r)), lambda e: got.append(("error", type(e))))
        assert got == []  # results come later, on the main thread
        qtbot.waitUntil(lambda: len(got) == 2)
        assert sorted(got, key=str) == [("error", ZeroDivisionError), ("ok", "kb")]

        # a newer job with the same key makes the older one stale; forget() drops a running one
        got.clear()
        gate = threading.Event()
        session.run(lambda kb: gate.wait(10) and "old", got.append, got.append, key="search")
        session.run(lambda kb: "new", got.append, got.append, key="search")
        qtbot.waitUntil(lambda: got == ["new"])
        session.run(lambda kb: gate.wait(10) and "forgotten", got.append, got.append, key="viewer")
        session.forget("viewer")
        gate.set()
        qtbot.waitUntil(lambda: not session.busy)
        qtbot.wait(50)
        assert got == ["new"]

        # while the knowledge base is being switched, new jobs are refused with a reason
        hold = threading.Event()
        session.run(lambda kb: hold.wait(10))
        session.switch(tmp_path / "other")
        assert session.switching
        session.run(lambda kb: 1, got.append, got.append)
        assert isinstance(got[-1], JobRefused) and "busy" in str(got[-1])
        hold.set()
        qtbot.waitUntil(lambda: session.kb is not None and session.kb.root.name == "other")
    finally:
        session.close()
        tasks.shutdown()


def test_a_citation_and_a_hit_reach_the_viewer_as_one_source_ref(qtbot, tmp_path):
    """Chat, search and file list emit the same SourceRef; the viewer shows it with its highlights."""
    from gui.main_window import MainWindow
    from gui.tasks import TaskManager
    from index.types import Passage, SourceRef

    turn = make_turn()
    ref = turn.source(0)
    assert ref == SourceRef("/docs/transsib.ru.txt", "transsib", None, 130, 165, "Её длина составляет 9288 километров")
    assert turn.source(1) is None and Turn(question="?").source(0) is None
    passage = Passage("h#0", "/docs/a.txt", "A", 2, 5, 9, "text")
    assert SourceRef.of_passage(passage) == SourceRef("/docs/a.txt", "A", 2, 5, 9, "text")

    tasks = TaskManager()
    window = MainWindow(tasks, AppSettings())
    qtbot.addWidget(window)
    try:
        assert window.session.open_now(tmp_path / "kb")
        window.chat.store.add_turn(window.chat.conv, turn)
        with qtbot.waitSignal(window.chat.open_source) as emitted:
            window.chat._anchor(QUrl("cite:0:0"))
        assert emitted.args == [ref]
        window.search.hits = [type("Hit", (), {"passage": passage})()]
        with qtbot.waitSignal(window.search.open_source) as emitted:
            window.search.open_result(0)
        assert emitted.args == [SourceRef.of_passage(passage)]

        viewer = window.viewer
        text = "Первая строка.\nЕё длина составляет 9288 километров, а ширина колеи 1520 мм."
        viewer._display(SourceRef("/docs/t.txt", "t", None, 15, 50, text[15:50], highlights=((54, 63),)), text)
        assert viewer.mode == "text" and viewer.highlighted == (15, 50)
        assert viewer.highlighted_text() == text[15:50]
        marks = viewer.text_view.extraSelections()
        assert len(marks) == 2 and marks[1].cursor.selectedText() == "ширина ко"
        # the file changed since: the quote is found where it moved
        moved = "Новое начало. " + text
        viewer._display(SourceRef("/docs/t.txt", "t", None, 15, 50, text[15:50]), moved)
        assert viewer.highlighted_text() == text[15:50] and viewer.highlighted == (29, 64)
    finally:
        window.shutdown()
        tasks.shutdown()


# -- knowledge bases ------------------------------------------------------------------------------
def test_kb_store_names(tmp_path):
    for bad in ("", "a/b", "..", ".hidden", "con", 'x"y'):
        with pytest.raises(kb_store.KbStoreError):
            kb_store.check_name(bad)
    kb_store.create_kb("Проекты 2026", parent=tmp_path)
    kb_store.create_kb("default", parent=tmp_path)
    assert kb_store.list_kbs(tmp_path) == ["default", "Проекты 2026"]
    with pytest.raises(kb_store.KbStoreError):
        kb_store.create_kb("default", parent=tmp_path)
    kb_store.rename_kb("Проекты 2026", "Архив", parent=tmp_path)
    kb_store.delete_kb("Архив", parent=tmp_path)
    assert kb_store.list_kbs(tmp_path) == ["default"]


def test_kb_panel_create_rename_delete(qtbot, tmp_path, monkeypatch):
    from gui.main_window import MainWindow
    from gui.tasks import TaskManager

    monkeypatch.setenv("DOCENT_HOME", str(tmp_path / "home"))
    tasks = TaskManager()
    window = MainWindow(tasks, AppSettings())
    qtbot.addWidget(window)
    try:
        assert window.session.open_now(kb_store.kb_path("default"))
        panel = window.kb_panel
        assert [panel.chooser.kb_combo.itemText(i) for i in range(panel.chooser.kb_combo.count())] == ["default"]

        panel.chooser.ask_text = lambda *a, **k: ("Work notes", True)
        panel.chooser.prompt_create()
        qtbot.waitUntil(lambda: window.session.kb is not None and window.session.kb.root.name == "Work notes")
        assert panel.chooser.kb_combo.currentText() == "Work notes" and panel.chooser.kb_combo.count() == 2
        assert window.windowTitle() == "Docent — Work notes"

        window.chat.store.add_turn(window.chat.conv, make_turn())  # conversations travel with the KB
        panel.chooser.ask_text = lambda *a, **k: ("Архив", True)
        panel.chooser.prompt_rename()
        qtbot.waitUntil(lambda: window.session.kb is not None and window.session.kb.root.name == "Архив")
        assert not kb_store.kb_path("Work notes").exists()
        assert window.chat.last_turn().question == "Какова длина?"
        assert AppSettings.load().current_kb == "Архив"

        panel.chooser.confirm = lambda title, text: True
        panel.chooser.prompt_delete()
        qtbot.waitUntil(lambda: window.session.kb is not None and window.session.kb.root.name == "default")
        assert kb_store.list_kbs() == ["default"]
    finally:
        window.shutdown()
        tasks.shutdown()


def test_drop_files_adds_them(qtbot, tmp_path, monkeypatch):
    from gui.main_window import MainWindow
    from gui.tasks import TaskManager

    tasks = TaskManager()
    window = MainWindow(tasks, AppSettings())
    qtbot.addWidget(window)
    added = []
    monkeypatch.setattr(window.indexing, "index", lambda paths: added.append(paths))
    try:
        assert window.session.open_now(tmp_path / "kb")
        f = tmp_path / "note.txt"
        f.write_text("hello", encoding="utf-8")
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(f))])
        event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        window.dropEvent(event)
        assert added == [[str(f)]]
    finally:
        window.shutdown()
        tasks.shutdown()


# -- settings and download -----------------------------------------------------------------------------
def test_settings_persist(tmp_path):
    path = tmp_path / "s.json"
    s = AppSettings(model_path="/m/x.gguf", n_gpu_layers=0, n_ctx=8192, temperature=0.2, language="ru", theme="dark")
    s.save(path)
    loaded = AppSettings.load(path)
    assert loaded == s
    path.write_text('{"n_ctx": "lots", "language": "xx", "unknown": 1, "model_check": "maybe"}', encoding="utf-8")
    fixed = AppSettings.load(path)
    assert fixed.n_ctx == 4096 and fixed.language == "system" and fixed.model_check == "auto"


def test_settings_dialog_and_offline_download_message(qtbot, tmp_path):
    from gui.settings_dialog import SettingsDialog
    from gui.tasks import TaskManager

    tasks = TaskManager()
    dialog = SettingsDialog(AppSettings(), tasks, endpoint="http://127.0.0.1:9")  # nothing listens there
    qtbot.addWidget(dialog)
    try:
        assert dialog.catalog.rowCount() == len(SEED_MODELS) == 5
        titles = [dialog.catalog.item(r, 0).text() for r in range(5)]
        assert any("Vikhr" in t for t in titles) and any("Shisa" in t for t in titles)
        assert all(dialog.catalog.item(r, 2).text().startswith("Q4_K_M") for r in range(5))
        dialog.model_path.setText("/models/vikhr.gguf")
        dialog.file_radio.setChecked(True)
        dialog.gpu_layers.setValue(0)
        dialog.use_model_temperature.setChecked(False)
        dialog.temperature.setValue(0.15)
        dialog.language.setCurrentIndex(dialog.language.findData("ru"))
        assert dialog.model_check.currentData() == "auto"  # the default: only fully on a GPU
        dialog.model_check.setCurrentIndex(dialog.model_check.findData("on"))
        result = dialog.result_settings()
        assert (result.model_path, result.n_gpu_layers, result.temperature, result.language) == \
            ("/models/vikhr.gguf", 0, 0.15, "ru")
        assert result.model_check == "on" and result.pipeline_settings().model_check == "on"

        dialog.catalog.selectRow(0)
        qtbot.mouseClick(dialog.download_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: dialog.download_future is not None and dialog.download_future.done()
                        and dialog.download_button.isEnabled(), timeout=60_000)
        assert dialog.download_error == OFFLINE_MESSAGE
        assert "offline" in dialog.download_status.text()
        import huggingface_hub.constants as hub

        assert hub.HF_HUB_OFFLINE  # the process is offline again after the attempt
    finally:
        dialog.close()
        tasks.shutdown()


def test_download_helpers():
    files = ["README.md", "model-q8_0.gguf", "model-q4_K.gguf", "x.Q4_K_M-00001-of-00002.gguf"]
    assert pick_file(files, ("*q4_k_m*.gguf", "*q4_K*.gguf")) == "model-q4_K.gguf"
    assert pick_file(["a.Q4_K_M.gguf", "a.Q5_K_M.gguf"], ("*Q4_K_M*.gguf",)) == "a.Q4_K_M.gguf"
    assert explain(ConnectionRefusedError(111, "refused")) == OFFLINE_MESSAGE
    import httpx

    try:  # what the hub client raises, wrapped the way it wraps it
        try:
            raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution")
        except httpx.ConnectError as inner:
            raise RuntimeError("request failed") from inner
    except RuntimeError as outer:
        assert explain(outer) == OFFLINE_MESSAGE
    assert explain(ValueError("boom")) == "download failed: boom"


# -- translations, theme ---------------------------------------------------------------------------------
def _gui_strings() -> tuple[set[str], set[str]]:
    singles, plurals = set(), set()
    for f in GUI.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("tr", "trn"):
                args = node.args
                if node.func.id == "tr" and args and isinstance(args[0], ast.Constant):
                    singles.add(args[0].value)
                if node.func.id == "trn" and len(args) > 1 and isinstance(args[1], ast.Constant):
                    plurals.add(args[1].value)
    return singles, plurals


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_interface_string_has_a_russian_translation():
    from gui.file_model import FileTableModel
    from gui.i18n_ru import RU, RU_PLURAL

    singles, plurals = _gui_strings()
    singles |= set(FileTableModel.COLUMNS) | {OFFLINE_MESSAGE}
    missing = sorted(s for s in singles if s not in RU)
    assert not missing, missing
    assert not sorted(p for p in plurals if p not in RU_PLURAL)
    for key, value in RU.items():
        assert _fields(key) == _fields(value), key
    for key, forms in RU_PLURAL.items():
        assert all(_fields(f) == _fields(key) for f in forms), key
    assert i18n.ru_plural_form(1) == 0 and i18n.ru_plural_form(3) == 1 and i18n.ru_plural_form(11) == 2


def test_language_switch_and_dark_theme(qtbot, tmp_path):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow
    from gui.tasks import TaskManager
    from gui.theme import apply_theme, colors, is_dark

    tasks = TaskManager()
    window = MainWindow(tasks, AppSettings())
    qtbot.addWidget(window)
    app = QApplication.instance()
    try:
        assert window.session.open_now(tmp_path / "kb")
        window.resize(1360, 820)
        window.show()
        assert window.chat.ask_button.text() == "Ask"
        window.apply_settings(AppSettings(language="ru", theme="dark"))
        assert i18n.language() == "ru"
        assert window.chat.ask_button.text() == "Спросить"
        assert window.tabs.tabText(1) == "Поиск"
        assert window.kb_panel.folder_list.add_folder_button.text() == "Добавить папку…"
        assert is_dark() and colors() is DARK
        assert app.palette().color(QPalette.Window).lightness() < 128
        window.chat.question.setPlainText("Какова длина Транссиба? 茶道とは何ですか？")
        qtbot.wait(100)  # let the new texts and palette reach the layout
        ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert window.grab().save(str(ARTIFACTS / "ru-dark-empty.png"))
        window.apply_settings(AppSettings(language="en", theme="light"))
        assert window.chat.ask_button.text() == "Ask" and not is_dark()
        assert app.palette().color(QPalette.Window).lightness() >= 128
    finally:
        apply_theme(app, "system")
        i18n.set_language("en", app)
        window.shutdown()
        tasks.shutdown()


def test_many_void_qt_calls_and_emits_keep_none_and_true_alive():
    """PySide6 6.12.0 on Python 3.11 took one reference from None per void call and from True per emit,
    and aborted the interpreter after a few thousand (requirements.txt pins a release without the bug)."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "tests.fixtures.qt_refcounts", "30000"], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]  # 6.12.0: -6 (SIGABRT), "none_dealloc" / "bool_dealloc"
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["calls"] == 210_000
    assert all(abs(lost) < 100 for lost in report["lost"].values()), report  # 6.12.0: 3 and 4 per round


def test_missing_cjk_font_is_reported_and_shipped_fonts_are_loaded(qtbot, tmp_path, monkeypatch):
    import shutil
    import subprocess

    from gui import fonts
    from gui.main_window import MainWindow
    from gui.tasks import TaskManager

    monkeypatch.setenv("DOCENT_HOME", str(tmp_path / "home"))
    bad = tmp_path / "shipped"
    bad.mkdir()
    (bad / "broken.ttf").write_bytes(b"not a font")
    assert fonts.load_font_files([bad]) == []  # refused with a log line, nothing else

    monkeypatch.setattr(fonts, "japanese_families", lambda: [])  # a machine without any CJK font
    tasks = TaskManager()
    window = MainWindow(tasks, AppSettings())
    qtbot.addWidget(window)
    try:
        message = window.check_fonts()
        assert "fonts-noto-cjk" in message and str(tmp_path / "home" / "fonts") in message
        assert window.font_warning.toolTip() == message and window.font_warning.isVisibleTo(window)
    finally:
        window.shutdown()
        tasks.shutdown()
    monkeypatch.undo()

    # A real CJK font file dropped into the user's fonts folder is registered and covers Japanese.
    listed = subprocess.run(["fc-list", ":lang=ja", "file"], capture_output=True, text=True).stdout if shutil.which(
        "fc-list") else ""
    files = [line.split(":")[0] for line in listed.splitlines() if line.strip()]
    if files:
        user_fonts = tmp_path / "fonts"
        user_fonts.mkdir()
        shutil.copy(files[0], user_fonts)
        assert fonts.load_font_files([user_fonts])
        assert fonts.missing_cjk_font_message([user_fonts]) is None
