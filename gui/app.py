"""Start the desktop app: window first, heavy libraries later, in the background.

Order matters for a fast start: Qt, the settings and the knowledge base's
SQLite catalog are all that load before the window shows; the embedding
model, Chroma and llama.cpp are imported by the first job that needs them.

DOCENT_BENCH_STARTUP=1 makes the app print one JSON line after the first
paint of the main window (seconds since the interpreter started, the heavy
modules already imported) and quit: bench/bench_gui.py uses it.
"""
from __future__ import annotations

import json
import os
import sys
import time

HEAVY_MODULES = ("torch", "llama_cpp", "chromadb", "onnxruntime", "sentence_transformers", "transformers",
                 "numpy", "huggingface_hub", "PySide6.QtPdf")
_T_IMPORT = time.perf_counter()


def process_uptime() -> float | None:
    """Seconds since this process started (Linux: /proc), else None."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        start_ticks = int(fields[19])
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def heavy_loaded() -> list[str]:
    return [m for m in HEAVY_MODULES if m in sys.modules]


def prewarm() -> None:
    try:
        import chromadb  # noqa: F401
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except Exception:  # only a head start: the real import reports any problem
        pass


def _default_kb(settings) -> "os.PathLike":
    from pathlib import Path

    from gui import kb_store

    name = settings.current_kb or kb_store.DEFAULT_NAME
    path = Path(name) if os.path.isabs(name) else kb_store.kb_path(name)
    if not path.is_dir() and not os.path.isabs(name):
        path = kb_store.kb_path(kb_store.DEFAULT_NAME)
    return path


def run(argv: list[str] | None = None, kb_dir: str | None = None) -> int:
    from gui.platform_check import desktop_problem

    problem = desktop_problem()
    if problem:
        print(f"docent: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from index.config import offline_environment, sample_docs_dir, setup_logging

    offline_environment()
    setup_logging()
    app = QApplication.instance() or QApplication(argv or sys.argv)
    app.setApplicationName("Docent")
    app.setOrganizationName("Docent")
    t_qt = time.perf_counter()

    from gui.i18n import set_language
    from gui.main_window import MainWindow
    from gui.settings import AppSettings
    from gui.tasks import TaskManager
    from gui.theme import apply_theme

    settings = AppSettings.load()
    set_language(settings.language, app)
    apply_theme(app, settings.theme)
    tasks = TaskManager()
    window = MainWindow(tasks, settings)
    root = kb_dir or os.environ.get("DOCENT_KB") or _default_kb(settings)
    opened = window.session.open_now(root)
    window.show()
    t_shown = time.perf_counter()

    bench = os.environ.get("DOCENT_BENCH_STARTUP") == "1"
    first_start = False
    if opened and not bench:
        kb = window.session.kb
        counts = kb.catalog.counts()
        first_start = not kb.catalog.roots() and counts["indexed"] == 0 and counts["failed"] == 0
        if first_start and sample_docs_dir().is_dir():
            window.index_paths([str(sample_docs_dir())])  # first start: something useful to ask about
            window.chat.offer_samples()                      # ... and questions to try on it

    QTimer.singleShot(0, window.check_fonts)  # after the first paint: font enumeration is not free

    if not bench:
        # Once the window is up and idle, import the search libraries in the background so the first
        # search or indexing run does not wait for them (llama.cpp and the model still load on first ask).
        QTimer.singleShot(1500, lambda: tasks.run(prewarm))

    if bench:
        def report() -> None:
            print(json.dumps({
                "process_to_shown_s": round(process_uptime() or 0.0, 3),
                "import_to_shown_s": round(t_shown - _T_IMPORT, 3),
                "qt_app_s": round(t_qt - _T_IMPORT, 3),
                "window_s": round(t_shown - t_qt, 3),
                "first_paint_s": round(time.perf_counter() - _T_IMPORT, 3),
                "heavy_modules_before_show": heavy_loaded(),
                "kb_opened": bool(opened),
            }), flush=True)
            window.close()
            app.quit()

        from PySide6.QtCore import QEvent, QObject

        class FirstPaint(QObject):
            done = False

            def eventFilter(self, obj, event):  # noqa: N802 - Qt API
                if event.type() == QEvent.Paint and not self.done:
                    self.done = True
                    QTimer.singleShot(0, report)  # right after this first paint
                return False

        watcher = FirstPaint(window)
        window.installEventFilter(watcher)
        QTimer.singleShot(3000, lambda: None if watcher.done else report())
    try:
        return app.exec()
    finally:
        window.shutdown()
        tasks.shutdown()
