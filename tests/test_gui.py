"""The window over real services: index the sample documents, search, see the highlighted source."""
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from gui.main_window import MainWindow  # noqa: E402
from gui.tasks import TaskManager  # noqa: E402
from index.config import sample_docs_dir  # noqa: E402
from index.kb import KnowledgeBase  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def test_index_search_and_highlight(qtbot, tmp_path):
    kb = KnowledgeBase.open(tmp_path / "kb")
    tasks = TaskManager()
    window = MainWindow(kb, tasks)
    qtbot.addWidget(window)
    window.show()
    try:
        window.index_paths([str(sample_docs_dir())])
        qtbot.waitUntil(lambda: window.indexing.done() and window.add_button.isEnabled(), timeout=120_000)
        assert kb.catalog.counts()["indexed"] >= 5
        assert "files" in window.status_label.text()

        window.query.setText("Транссибирская магистраль")
        window.run_search()
        qtbot.waitUntil(lambda: window.search_button.isEnabled() and window.results.count() > 0, timeout=60_000)
        hit = window.hits[0]
        assert "transsib" in hit.passage.path
        start, end = window.highlighted
        shown = window.viewer.toPlainText()
        assert shown[start:end] == hit.passage.text
        assert window.viewer.textCursor().selectedText().replace("\u2029", "\n") == hit.passage.text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert window.grab().save(str(ARTIFACTS / "search-ru.png"))

        window.query.setText("茶道")
        window.run_search()
        qtbot.waitUntil(lambda: window.search_button.isEnabled() and window.results.count() > 0, timeout=60_000)
        assert "chado" in window.hits[0].passage.path
        assert window.grab().save(str(ARTIFACTS / "search-ja.png"))
    finally:
        window.close()
        tasks.shutdown()
        kb.close()
