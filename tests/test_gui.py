"""The desktop app over real services (offscreen): a real knowledge base in a temp dir,
real Chroma, the bundled embeddings and a tiny generated GGUF model.

The tiny model's weights are random, so its words are noise; to get an answer
whose citations are known, the tests constrain generation with a llama.cpp
grammar (step 1: every offered document; step 2: a fixed text). Everything
else is the real pipeline: retrieval, streaming from the llama thread,
citation alignment, the viewer. Screenshots go to artifacts/screenshots/.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("llama_cpp")

from PySide6.QtCore import QPoint, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QTextCursor  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui.main_window import MainWindow  # noqa: E402
from gui.settings import AppSettings  # noqa: E402
from gui.tasks import TaskManager  # noqa: E402
from index.config import sample_docs_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "screenshots"

PDF_PAGES = [
    "Alpine tunnels\nThis short report lists a few long railway tunnels of the Alps.",
    "The Gotthard Base Tunnel\nThe Gotthard Base Tunnel is 57 kilometres long and opened in 2016.\n"
    "It runs under the Gotthard massif between Erstfeld and Bodio.",
    "Other tunnels\nThe Simplon Tunnel connects Brig and Domodossola.",
]
RU_SENTENCE = "Её длина составляет 9288 километров."
UNSUPPORTED = "Луна сделана из сыра."
PDF_SENTENCE = "The Gotthard Base Tunnel is 57 kilometres long and opened in 2016."


def shot(widget, name: str) -> None:
    QApplication.processEvents()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name))


@pytest.fixture(scope="module")
def tiny_vikhr(tmp_path_factory) -> Path:
    from tests.fixtures.tiny_gguf import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-vikhr.gguf", "vikhr")


@pytest.fixture
def forced(monkeypatch):
    """Constrain the tiny model: step 1 names every offered document, step 2 writes `forced.text`."""
    import assistant.pipeline as pipeline_mod
    from assistant.grammar import format_ids
    from assistant.runtime import GenerationParams

    class Forced:
        text: str | None = None

    def params(**kw):
        if kw.get("grammar") is None and Forced.text is not None:
            kw["grammar"] = 'root ::= "' + Forced.text.replace('"', '\\"') + '"'
        return GenerationParams(**kw)

    monkeypatch.setattr(pipeline_mod, "GenerationParams", params)
    monkeypatch.setattr(pipeline_mod, "ids_grammar",
                        lambda offered: 'root ::= "' + format_ids(list(offered)).replace('"', '\\"') + '"')
    return Forced


@pytest.fixture
def make_window(qtbot):
    made = []

    def make(kb_dir: Path, **settings) -> MainWindow:
        tasks = TaskManager()
        window = MainWindow(tasks, AppSettings(**settings))
        qtbot.addWidget(window)
        assert window.session.open_now(kb_dir)
        window.resize(1360, 820)
        window.show()
        made.append((window, tasks))
        return window

    yield make
    for window, tasks in made:
        window.shutdown()
        tasks.shutdown()


def wait_indexed(qtbot, window, timeout=180_000) -> None:
    qtbot.waitUntil(lambda: window.indexing.state == "idle" and not window.kb_panel.file_list.refreshing, timeout=timeout)


def ask(qtbot, window, question: str, timeout=120_000):
    window.tabs.setCurrentWidget(window.chat)
    window.chat.question.setPlainText(question)
    qtbot.mouseClick(window.chat.ask_button, Qt.LeftButton)
    assert window.chat.busy
    qtbot.waitUntil(lambda: not window.chat.busy, timeout=timeout)
    return window.chat.last_turn()


def click_anchor(qtbot, browser, href: str) -> None:
    """Click the link `href` in a QTextBrowser where it is drawn."""
    doc = browser.document()
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            if frag.isValid() and frag.charFormat().anchorHref() == href:
                cursor = QTextCursor(doc)
                cursor.setPosition(frag.position() + max(0, frag.length() // 2))
                browser.setTextCursor(cursor)
                browser.ensureCursorVisible()
                rect = browser.cursorRect(cursor)
                qtbot.mouseClick(browser.viewport(), Qt.LeftButton, pos=QPoint(rect.x(), rect.center().y()))
                return
            it += 1
        block = block.next()
    raise AssertionError(f"no link {href!r} in the transcript")


def test_add_folder_index_ask_stream_cite_pdf_and_search(qtbot, tmp_path, make_window, tiny_vikhr, forced):
    from tests.fixtures.make_docs import make_pdf

    docs = tmp_path / "docs"
    shutil.copytree(sample_docs_dir(), docs)
    (docs / "questions.json").unlink()
    make_pdf(docs, "tunnels.pdf", PDF_PAGES, title="Alpine tunnels")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    (docs / "blank.txt").write_text("   \n\n  ", encoding="utf-8")

    window = make_window(tmp_path / "kb", model_path=str(tiny_vikhr), n_ctx=4096, documents_k=6)
    progress_events = []
    window.indexing.progress.connect(progress_events.append)

    # add a folder (as a drop would) -> indexing runs in the background with progress
    window.kb_panel.folder_list.add_paths([str(docs)])
    assert window.indexing.state == "running"
    wait_indexed(qtbot, window)
    report = window.kb_panel.progress_view.last_report
    assert report is not None and not report.cancelled
    assert report.files_indexed >= 8
    assert progress_events and progress_events[-1].files_done == progress_events[-1].files_total
    assert "passages/s" in window.kb_panel.progress_view.progress_label.text() or window.kb_panel.progress_view.progress.format()
    assert window.session.kb.vectors.in_process is False  # Chroma wrote from its own process, off our GIL

    # failures appear in the file list with their reason; the filter finds them
    rows = {Path(r.path).name: r for r in window.kb_panel.file_list.model.rows}
    assert rows["broken.pdf"].status == "failed" and "PDF" in rows["broken.pdf"].detail
    assert rows["blank.txt"].status == "failed" and "no text" in rows["blank.txt"].detail
    assert rows["tunnels.pdf"].status == "indexed"
    window.kb_panel.file_list.status_filter.setCurrentIndex(2)  # Failed
    assert window.kb_panel.file_list.proxy.rowCount() == 2
    window.kb_panel.file_list.table.selectRow(1)
    assert rows["broken.pdf"].detail in window.kb_panel.file_list.row_detail.text()  # the full reason, selectable
    shot(window, "kb-failed-files.png")
    window.kb_panel.file_list.status_filter.setCurrentIndex(0)
    window.kb_panel.file_list.filter.setText("tunnel")
    assert window.kb_panel.file_list.proxy.rowCount() == 1
    window.kb_panel.file_list.filter.clear()

    # ask -> the answer streams from the llama thread, step 1's choice is shown, citations marked
    forced.text = f"{RU_SENTENCE} {UNSUPPORTED}"
    turn = ask(qtbot, window, "Какова длина Транссиба?")
    assert not turn.error, turn.error
    assert turn.answer == forced.text
    assert window.chat.token_events >= 1 and window.chat.tokens_received == len(forced.text)
    assert turn.n_offered >= 1 and len(turn.relevant_doc_ids) == turn.n_offered
    html_text = window.chat.transcript.toHtml()
    assert f"Using {len(turn.relevant_doc_ids)} of {turn.n_offered} documents" in window.chat.transcript.toPlainText()
    assert turn.citations and turn.citations[0].answer_end <= len(RU_SENTENCE) + 1
    assert turn.unsupported and forced.text[slice(*turn.unsupported[0])].strip() == UNSUPPORTED
    assert 'href="cite:0:0"' in html_text and 'href="unsupported:0"' in html_text
    shot(window, "chat-answer-citations.png")

    # click the citation marker -> the viewer shows the source with the span highlighted
    click_anchor(qtbot, window.chat.transcript, "cite:0:0")
    qtbot.waitUntil(lambda: window.viewer.mode == "text", timeout=30_000)
    cit = turn.citations[0]
    assert window.viewer.path.endswith("transsib.ru.txt")
    assert window.viewer.highlighted == (cit.span_start, cit.span_end)
    assert window.viewer.highlighted_text() == cit.quote
    assert RU_SENTENCE[:-1] in cit.quote
    assert window.viewer.text_view.textCursor().position() <= cit.span_end
    shot(window, "viewer-text-highlight.png")

    # copy the answer with its citations
    assert window.chat.copy_last()
    copied = QApplication.clipboard().text()
    assert "[1]" in copied and "[?]" in copied and "transsib.ru.txt" in copied and cit.quote in copied
    assert "transsib.ru.txt" in QApplication.clipboard().mimeData().html()  # rich flavour for editors

    # a PDF citation opens the rendered page with the region highlighted
    forced.text = PDF_SENTENCE
    turn = ask(qtbot, window, "How long is the Gotthard Base Tunnel?")
    assert turn.citations, (turn.answer, turn.unsupported)
    doc = turn.documents[turn.citations[0].doc_id]
    assert doc.path.endswith("tunnels.pdf")
    click_anchor(qtbot, window.chat.transcript, "cite:1:0")
    qtbot.waitUntil(lambda: window.viewer.mode == "pdf", timeout=30_000)
    pdf = window.viewer.pdf_view
    assert window.viewer.pdf_page == 1  # 0-based: the second page
    qtbot.waitUntil(lambda: not pdf.highlight_rect().isEmpty() and pdf.current_page() == 1, timeout=10_000)
    region = pdf.highlight_rect()
    assert pdf.viewport().rect().intersects(region.toRect())  # scrolled into view
    shot(window, "viewer-pdf-highlight.png")
    # the same passage as text is one click away
    qtbot.mouseClick(window.viewer.toggle_button, Qt.LeftButton)
    assert window.viewer.mode == "text" and "Gotthard Base Tunnel is 57" in window.viewer.highlighted_text()
    opened = []
    window.viewer.open_external = opened.append
    qtbot.mouseClick(window.viewer.open_button, Qt.LeftButton)
    assert opened and opened[0] == QUrl.fromLocalFile(doc.path)

    # nothing in the documents -> shown as "not found", not as an answer
    forced.text = None
    import assistant.pipeline as pipeline_mod

    pipeline_mod.ids_grammar = lambda offered: 'root ::= "{\\"relevant_doc_ids\\": []}"'
    turn = ask(qtbot, window, "Кто написал «Войну и мир»?")
    assert not turn.found and not turn.citations
    assert "Not found in your documents." in window.chat.transcript.toPlainText()
    shot(window, "chat-not-found.png")

    # search-only mode: passages with the query terms highlighted; a click opens the source
    qtbot.keyClick(window, Qt.Key_F, Qt.ControlModifier)
    assert window.tabs.currentWidget() is window.search
    window.search.query.setText("Транссибирская магистраль")
    qtbot.keyClick(window.search.query, Qt.Key_Return)
    qtbot.waitUntil(lambda: bool(window.search.hits) and not window.search.searching, timeout=60_000)
    assert "transsib" in window.search.hits[0].passage.path
    assert "background-color" in window.search.results.toHtml()
    click_anchor(qtbot, window.search.results, "hit:0")
    qtbot.waitUntil(lambda: window.viewer.mode == "text" and "transsib" in window.viewer.path, timeout=30_000)
    hit = window.search.hits[0]
    assert window.viewer.highlighted_text() == hit.passage.text
    shot(window, "search-ru.png")

    # an English question over Russian documents: the Russian passage comes first, its names marked
    window.search.query.setText("How long is the railway from Moscow to Vladivostok?")
    window.search.run_search()
    qtbot.waitUntil(lambda: not window.search.searching, timeout=60_000)
    assert "transsib" in window.search.hits[0].passage.path
    first = window.search.results.toHtml().split("hit:1")[0]
    assert re.search(r"background-color:[^>]*>\s*Владивостока", first) and re.search(r"background-color:[^>]*>\s*Москвы", first)
    shot(window, "search-cross-language.png")

    window.search.query.setText("茶道")
    window.search.run_search()
    qtbot.waitUntil(lambda: not window.search.searching, timeout=60_000)
    assert "chado" in window.search.hits[0].passage.path
    window.search.open_result(0)
    qtbot.waitUntil(lambda: window.viewer.mode == "text" and "chado" in window.viewer.path, timeout=30_000)
    shot(window, "search-ja.png")


def test_stop_cancels_generation_and_history_persists(qtbot, tmp_path, make_window, tiny_vikhr, forced):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(sample_docs_dir() / "docent-overview.en.md", docs)
    kb_dir = tmp_path / "kb"
    window = make_window(kb_dir, model_path=str(tiny_vikhr), n_ctx=4096, max_answer_tokens=2000)
    window.kb_panel.folder_list.add_paths([str(docs)])
    wait_indexed(qtbot, window)

    window.model.token_delay = 0.005  # ~10 s for the whole answer: plenty of time to press Stop
    window.chat.question.setPlainText("Where does Docent keep its knowledge bases?")
    qtbot.keyClick(window.chat.question, Qt.Key_Return, Qt.ControlModifier)  # Ctrl+Enter asks
    assert window.chat.busy and window.chat.stop_button.isEnabled()
    qtbot.waitUntil(lambda: window.chat.token_events >= 2, timeout=60_000)
    shot(window, "chat-streaming.png")
    qtbot.keyClick(window.chat.question, Qt.Key_Escape)  # Esc stops
    qtbot.waitUntil(lambda: not window.chat.busy, timeout=30_000)
    turn = window.chat.last_turn()
    assert turn.cancelled
    assert 0 < len(turn.answer) < 2000
    assert not window.chat.stop_button.isEnabled() and window.chat.ask_button.isEnabled()
    assert "stopped" in window.chat.transcript.toPlainText()

    # the conversation is kept per knowledge base: a new window on the same KB shows it
    conv_id = window.chat.conv.id
    window.shutdown()
    window.close()
    again = make_window(kb_dir)
    assert again.chat.conv.id == conv_id and again.chat.last_turn().cancelled
    assert "Where does Docent keep" in again.chat.transcript.toPlainText()
    again.activateWindow()
    qtbot.waitUntil(again.isActiveWindow, timeout=5_000)
    qtbot.keyClick(again, Qt.Key_N, Qt.ControlModifier)  # Ctrl+N: a new, empty conversation
    assert again.chat.conv.id != conv_id and not again.chat.conv.turns


def test_watched_folder_reindexes_on_change(qtbot, tmp_path, make_window):
    docs = tmp_path / "watched"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha document about glaciers.", encoding="utf-8")
    window = make_window(tmp_path / "kb")
    window.indexing._debounce.setInterval(200)
    window.kb_panel.folder_list.add_paths([str(docs)])
    wait_indexed(qtbot, window)
    qtbot.waitUntil(lambda: str(docs) in window.indexing.watcher.directories(), timeout=10_000)

    runs = []
    window.indexing.finished.connect(lambda report, error: runs.append(report))
    (docs / "b.txt").write_text("Beta document about volcanoes.", encoding="utf-8")
    qtbot.waitUntil(lambda: any(r is not None and r.files_indexed >= 1 for r in runs), timeout=60_000)
    wait_indexed(qtbot, window)
    qtbot.waitUntil(lambda: any(Path(r.path).name == "b.txt" and r.status == "indexed"
                                for r in window.kb_panel.file_list.model.rows), timeout=10_000)

    # forget the folder: its files leave the knowledge base (the files themselves stay)
    window.kb_panel.folder_list.folders.setCurrentRow(0)
    assert window.kb_panel.folder_list.remove_folder_button.isEnabled()
    qtbot.mouseClick(window.kb_panel.folder_list.remove_folder_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not window.kb_panel.file_list.model.rows and window.kb_panel.folder_list.folders.count() == 0, timeout=30_000)
    assert (docs / "b.txt").exists()


def test_pause_resume_and_cancel(qtbot, tmp_path, make_window):
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(60):
        (docs / f"note-{i:03d}.txt").write_text(f"Note {i}. " + "Glaciers move slowly. " * 40, encoding="utf-8")
    window = make_window(tmp_path / "kb")
    window.kb_panel.folder_list.add_paths([str(docs)])
    qtbot.waitUntil(lambda: window.indexing.last_progress is not None or window.indexing.state == "idle",
                    timeout=60_000)
    if window.indexing.state == "running":
        assert "ETA" in window.kb_panel.progress_view.progress_label.text()
        shot(window, "kb-indexing-progress.png")
    window.indexing.pause()
    qtbot.waitUntil(lambda: window.indexing.state in ("paused", "idle"), timeout=120_000)
    if window.indexing.state == "paused":  # paused before the end: resume continues incrementally
        assert window.kb_panel.progress_view.pause_button.text() == "Resume"
        qtbot.mouseClick(window.kb_panel.progress_view.pause_button, Qt.LeftButton)
        assert window.indexing.state == "running"
    wait_indexed(qtbot, window)
    counts = window.kb_panel.file_list.model.counts()
    assert counts["indexed"] == 60 and counts["pending"] == 0

    # cancel: the run stops, nothing is lost, the rest stays pending until the next run
    for i in range(60, 90):
        (docs / f"note-{i:03d}.txt").write_text(f"Note {i}. " + "Volcanoes erupt. " * 40, encoding="utf-8")
    window.indexing.watch_enabled = False
    window.indexing.index([str(docs)])
    window.indexing.stop()
    wait_indexed(qtbot, window)
    assert window.kb_panel.progress_view.last_report is not None and window.kb_panel.progress_view.last_report.cancelled
    counts = window.kb_panel.file_list.model.counts()
    assert counts["indexed"] + counts["pending"] == 90


def test_startup_is_fast_and_lazy(tmp_path):
    """The real entry point: window shown with no heavy library imported (timings are the bench's job)."""
    env = dict(os.environ, DOCENT_HOME=str(tmp_path / "home"), DOCENT_BENCH_STARTUP="1", QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, str(ROOT / "main.py")], env=env, capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if l.startswith("{"))
    report = json.loads(line)
    assert report["kb_opened"]
    assert report["heavy_modules_before_show"] == [], report
