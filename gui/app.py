"""Start the desktop app: window first, heavy libraries later, in the background."""
from __future__ import annotations

import os
import sys


def run(argv: list[str] | None = None, kb_dir: str | None = None) -> int:
    from gui.platform_check import desktop_problem

    problem = desktop_problem()
    if problem:
        print(f"docent: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication, QMessageBox

    from gui.main_window import MainWindow
    from gui.tasks import TaskManager
    from index.config import sample_docs_dir, setup_logging
    from index.kb import KnowledgeBase, KnowledgeBaseBusy, KnowledgeBaseError

    setup_logging()
    app = QApplication.instance() or QApplication(argv or sys.argv)
    app.setApplicationName("Docent")
    try:
        kb = KnowledgeBase.open(kb_dir or os.environ.get("DOCENT_KB") or None)
    except (KnowledgeBaseBusy, KnowledgeBaseError) as exc:
        QMessageBox.critical(None, "Docent", str(exc))
        return 1
    tasks = TaskManager()
    window = MainWindow(kb, tasks)
    window.show()
    if not kb.catalog.roots() and kb.catalog.counts()["indexed"] == 0 and sample_docs_dir().is_dir():
        window.index_paths([str(sample_docs_dir())])  # first start: something useful to search
    try:
        return app.exec()
    finally:
        window.cancel.set()
        tasks.shutdown()
        kb.close()
