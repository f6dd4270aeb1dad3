"""Issue 13: a knowledge base made with MiniLM, upgraded in place in the app (offscreen, pytest-qt).

A real knowledge base indexed with the bundled MiniLM (its ONNX export: `python -m index.embedding`),
real Chroma, the real multilingual model: "Upgrade search model" re-embeds it in the background with
progress, pauses, keeps searching on the old vectors meanwhile, resumes after the app is restarted, and
then reports the new model. Screenshot: artifacts/screenshots/reembed-progress.png.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui.main_window import MainWindow  # noqa: E402
from gui.settings import AppSettings  # noqa: E402
from gui.tasks import TaskManager  # noqa: E402
from index.config import EngineSettings  # noqa: E402
from index.embedding import BUNDLED_MINILM, BUNDLED_USE, MODEL_LANGUAGES  # noqa: E402
from index.kb import KnowledgeBase  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"

TOPICS = [
    ("volcano", "Mount Etna is an active volcano on the east coast of Sicily, the highest in Italy."),
    ("baikal", "Lake Baikal in Siberia is the deepest lake on the planet, 1,642 metres at its deepest."),
    ("railway", "The Trans-Siberian Railway connects Moscow with Vladivostok over 9,289 kilometres."),
    ("tea", "Green tea is made from leaves that are neither withered nor oxidized; matcha is ground into powder."),
    ("bees", "A honey bee colony has one queen, thousands of workers and a few hundred drones."),
    ("clock", "A pendulum clock keeps time because a pendulum of fixed length swings at a fixed period."),
]


def write_docs(folder: Path) -> Path:
    """Six files of a few passages each (about 40 passages)."""
    for name, fact in TOPICS:
        paragraphs = [fact] + [f"Note {i} about {name}: {fact} " * 5 for i in range(6)]
        (folder / f"{name}.txt").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    return folder


def shot(widget, name: str) -> None:
    QApplication.processEvents()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name))


def open_window(qtbot, kb_dir: Path, made: list) -> MainWindow:
    tasks = TaskManager()
    window = MainWindow(tasks, AppSettings())
    qtbot.addWidget(window)
    made.append((window, tasks))
    window.resize(1360, 820)
    window.show()
    assert window.session.open_now(kb_dir)
    return window


def close_window(made: list) -> None:
    while made:
        window, tasks = made.pop()
        window.shutdown()
        tasks.shutdown()


def search_in_app(qtbot, window, text: str) -> list[str]:
    window.tabs.setCurrentWidget(window.search)
    window.search.query.setText(text)
    qtbot.mouseClick(window.search.search_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not window.search.searching, timeout=60_000)
    return [Path(h.passage.path).name for h in window.search.hits]


def test_upgrade_a_minilm_knowledge_base_pause_restart_resume(qtbot, tmp_path, monkeypatch):
    from index import reembed

    docs = write_docs(tmp_path / "docs")
    kb_dir = tmp_path / "kb"
    with KnowledgeBase.open(kb_dir, EngineSettings(embedding_model=BUNDLED_MINILM)) as kb:
        kb.index([str(docs)])
        passages = len(set(kb.catalog.all_vector_ids()))
    assert passages >= 30
    monkeypatch.setattr(reembed, "BATCH", 2)  # many small batches: the pause lands in the middle
    made: list = []
    try:
        window = open_window(qtbot, kb_dir, made)
        upgrade = window.kb_panel.model_upgrade
        controller = window.kb_panel.reembed
        qtbot.waitUntil(lambda: controller.model_state is not None, timeout=30_000)
        assert upgrade.isVisible() and upgrade.upgrade_button.isVisible()
        assert upgrade.model_label.text() == "Search model: all-MiniLM-L6-v2 (English only)"
        assert not upgrade.progress.isVisible()

        # Upgrade; pause a third of the way (and take the screenshot there)
        seen = []

        def on_progress(p) -> None:
            seen.append((p.done, p.total))
            if controller.state == "running" and 0 < p.done and p.done * 3 >= p.total:
                shot(window, "reembed-progress.png")
                qtbot.mouseClick(upgrade.pause_button, Qt.LeftButton)

        controller.progress.connect(on_progress)
        qtbot.mouseClick(upgrade.upgrade_button, Qt.LeftButton)
        assert controller.state == "running" and upgrade.progress.isVisible()
        assert not upgrade.upgrade_button.isVisible()
        qtbot.waitUntil(lambda: controller.state == "paused", timeout=180_000)
        done, total = seen[-1]
        assert total == passages and 0 < done < total, seen
        assert upgrade.progress.format() == f"Re-embedding {done}/{total} passages"
        assert upgrade.pause_button.text() == "Resume"
        assert "paused" in upgrade.detail_label.text()
        kb = window.session.kb
        assert reembed.pending_model(kb) == BUNDLED_USE and kb.settings.embedding_model == BUNDLED_MINILM
        # search keeps working on the old vectors
        assert search_in_app(qtbot, window, "active volcano in Sicily")[0] == "volcano.txt"

        # Resume, then pause again; quit the app while paused
        controller.progress.disconnect(on_progress)
        paused_at = done
        qtbot.mouseClick(upgrade.pause_button, Qt.LeftButton)
        assert controller.state == "running"
        qtbot.waitUntil(lambda: controller.last_progress is not None and controller.last_progress.done > paused_at,
                        timeout=120_000)
        controller.pause()
        qtbot.waitUntil(lambda: controller.state in ("paused", "idle"), timeout=120_000)
        assert controller.state == "paused", "finished before the second pause"
        paused_at = controller.last_progress.done
        close_window(made)

        # The next start resumes the pending re-embed by itself, from where it stopped
        window = open_window(qtbot, kb_dir, made)
        upgrade = window.kb_panel.model_upgrade
        controller = window.kb_panel.reembed
        first = []
        controller.progress.connect(lambda p: first.append(p.done) if not first else None)
        qtbot.waitUntil(lambda: controller.state == "running", timeout=30_000)
        messages: list[str] = []
        window.kb_panel.message.connect(messages.append)
        # a file added meanwhile: the re-embed makes way for the indexing run, then goes on by itself
        (docs / "glacier.txt").write_text("Glaciers are rivers of ice that move slowly downhill under their "
                                          "own weight.", encoding="utf-8")
        states: list[str] = []
        controller.state_changed.connect(states.append)
        window.indexing.index([str(docs)])
        qtbot.waitUntil(lambda: controller.state == "idle", timeout=300_000)
        assert first and first[0] >= paused_at  # nothing embedded twice
        assert "paused" in states and states[-1] == "idle", states  # paused for the indexing run, resumed
        assert window.indexing.state == "idle" and window.indexing.last_progress is not None
        kb = window.session.kb
        assert kb.settings.embedding_model == BUNDLED_USE and reembed.pending_model(kb) is None
        assert set(kb.catalog.all_vector_ids()) == set(kb.vectors.all_ids())  # the new file's vectors too
        assert any(r.path.endswith("glacier.txt") and r.status == "indexed" for r in kb.catalog.files())
        n = len(MODEL_LANGUAGES[BUNDLED_USE])
        assert upgrade.model_label.text() == f"Search model: use-multilingual-v3 ({n} languages)"
        assert not upgrade.upgrade_button.isVisible() and not upgrade.progress.isVisible()
        assert messages and "now uses use-multilingual-v3" in messages[-1]
        # the new model crosses languages: a Russian question finds the English passage
        assert search_in_app(qtbot, window, "Какой вулкан находится на Сицилии?")[0] == "volcano.txt"
    finally:
        close_window(made)
    with KnowledgeBase.open(kb_dir) as kb:
        assert kb.settings.embedding_model == BUNDLED_USE
