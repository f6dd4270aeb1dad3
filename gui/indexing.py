"""Indexing runs, pause/resume/cancel, and watched folders.

`KnowledgeBase.index(paths, progress, cancel)` runs in the background; its
progress reports are coalesced (only the newest reaches the main thread).
Pause is cancel + resume: `index` is incremental (unchanged files are skipped
by size and mtime), so running it again on the same paths continues where
the paused run stopped. Requests that arrive during a run are queued and
merged into one follow-up run.

Watched folders: a QFileSystemWatcher on every folder (and, up to a limit,
every file) under the knowledge base's roots; changes are debounced, then
`index(roots)` re-syncs (new, changed, renamed and deleted files).
"""
from __future__ import annotations

import logging
import os
import threading
import time

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from gui.session import JobRefused, KbSession
from gui.tasks import Coalescer

log = logging.getLogger("docent.gui")

MAX_WATCHED_DIRS = 4000
MAX_WATCHED_FILES = 4000
DEBOUNCE_MS = 1500


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/\\") + os.sep)


def watch_list(roots: list[str], files: list[str]) -> tuple[list[str], list[str]]:
    """Folders and files to watch (background thread: walks the trees)."""
    from index.extract import is_supported

    dirs: list[str] = []
    watched_files: list[str] = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            if len(dirs) < MAX_WATCHED_DIRS:
                dirs.append(dirpath)
            for name in filenames:
                if len(watched_files) < MAX_WATCHED_FILES and not name.startswith(".") and is_supported(name):
                    watched_files.append(os.path.join(dirpath, name))
    for f in files:
        if len(watched_files) < MAX_WATCHED_FILES and os.path.isfile(f):
            watched_files.append(f)
            parent = os.path.dirname(f)
            if parent not in dirs and len(dirs) < MAX_WATCHED_DIRS:
                dirs.append(parent)  # catches a file replaced by rename (editors save that way)
    return dirs, watched_files


class IndexingController(QObject):
    started = Signal(list)            # paths
    progress = Signal(object)         # index.sync.Progress
    finished = Signal(object, object)  # IndexReport or None, error message or None
    state_changed = Signal(str)       # idle | running | paused | stopping
    files_changed = Signal()          # the file list may have changed (refresh it)

    def __init__(self, session: KbSession, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.state = "idle"
        self.cancel = threading.Event()
        self.current: list[str] | None = None
        self.paused_paths: list[str] | None = None
        self._queued: list[str] | None = None
        self._future = None
        self._stop_is_pause = False
        self._progress = Coalescer(self, latest_only=True)
        self._progress.delivered.connect(self._on_progress_items)
        self.last_progress = None
        self.progress_events = 0

        self.watch_enabled = True
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._changed)
        self.watcher.fileChanged.connect(self._changed)
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self._resync_after_change)
        self._dirty: set[str] = set()
        self.watch_events = 0
        session.about_to_close.connect(self._on_about_to_close)
        session.kb_changed.connect(self._on_kb_changed)

    def _on_progress_items(self, items: list) -> None:
        self.progress_events += 1
        self.last_progress = items[-1]
        self.progress.emit(items[-1])

    # -- runs -------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._future is not None and not self._future.done()

    def index(self, paths: list[str]) -> None:
        """Index files and folders ([] = re-sync every folder of the knowledge base)."""
        paths = [os.path.abspath(p) for p in paths]
        if self.running:
            if self._queued is None:
                self._queued = list(paths)
            elif paths and self._queued:
                self._queued += [p for p in paths if p not in self._queued]
            else:
                self._queued = []  # a full re-sync covers everything
            return
        self._start(paths)

    def _start(self, paths: list[str]) -> None:
        self.cancel = threading.Event()
        cancel = self.cancel
        self.current = paths
        self.paused_paths = None
        self._stop_is_pause = False
        self.last_progress = None
        started = time.perf_counter()

        def job(kb):
            with self.session.store_lock:  # a re-embed pauses for this run (gui/reembedding.py)
                return kb.index(paths, progress=self._progress.push, cancel=cancel)

        def failed(exc: Exception) -> None:
            if not isinstance(exc, JobRefused):  # refused: nothing started, nothing to report
                self._finish(None, str(exc) or type(exc).__name__)

        future = self.session.run(job, lambda report: self._finish(report, None), failed)
        if future is None:
            self.current = None
            return
        self._future = future
        self._started_at = started
        self._set_state("running")
        self.started.emit(paths)

    def _finish(self, report, error: str | None) -> None:
        self._progress.flush_now()
        paths = self.current or []
        self.current = None
        self._future = None
        if error:
            log.warning("indexing failed: %s", error)
        paused = self._stop_is_pause and report is not None and report.cancelled
        self.finished.emit(report, error)
        self.files_changed.emit()
        if paused:
            self.paused_paths = paths
            self._set_state("paused")
            return
        self._set_state("idle")
        self.refresh_watch()
        if self._queued is not None and not (report is not None and report.cancelled):
            queued, self._queued = self._queued, None
            self._start(queued)
        else:
            self._queued = None

    def pause(self) -> None:
        if self.running:
            self._stop_is_pause = True
            self.cancel.set()
            self._set_state("stopping")

    def resume(self) -> None:
        if self.paused_paths is not None and not self.running:
            paths, self.paused_paths = self.paused_paths, None
            self._start(paths)

    def stop(self) -> None:
        """Cancel: files not indexed yet stay pending until the next run."""
        self._queued = None
        if self.running:
            self._stop_is_pause = False
            self.cancel.set()
            self._set_state("stopping")
        elif self.state == "paused":
            self.paused_paths = None
            self._set_state("idle")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def _on_about_to_close(self) -> None:
        self._queued = None
        self._stop_is_pause = False
        self.cancel.set()
        self._debounce.stop()

    def _on_kb_changed(self, kb) -> None:
        self.paused_paths = None
        self._dirty.clear()
        self._set_state("idle")
        self.refresh_watch()

    # -- watched folders -------------------------------------------------------------
    def set_watch_enabled(self, enabled: bool) -> None:
        self.watch_enabled = enabled
        self.refresh_watch()

    def refresh_watch(self) -> None:
        """Re-read the roots and watch their trees (walked in the background)."""
        self.session.forget(self.watcher)  # what a walk still running finds is out of date
        old = self.watcher.directories() + self.watcher.files()
        if old:
            self.watcher.removePaths(old)
        if not self.watch_enabled or self.session.kb is None:
            return

        def job(kb):
            roots = kb.catalog.roots()
            singles = [r.path for r in kb.files() if not any(_under(r.path, root) for root in roots)]
            return watch_list(roots, singles)

        def watch(found) -> None:
            dirs, files = found
            paths = [p for p in dirs + files if os.path.exists(p)]
            if paths:
                self.watcher.addPaths(paths)

        def failed(exc: Exception) -> None:
            log.warning("cannot watch folders: %s", exc)

        self.session.run(job, watch, failed, key=self.watcher)

    def _changed(self, path: str) -> None:
        if not self.watch_enabled:
            return
        self.watch_events += 1
        self._dirty.add(path)
        self._debounce.start()

    def _resync_after_change(self) -> None:
        if self.session.kb is None or self.state == "paused":
            return
        if self.running:
            self._debounce.start()  # try again when this run is over
            return
        dirty, self._dirty = self._dirty, set()
        roots = self.session.kb.catalog.roots()
        singles = sorted(p for p in dirty if not any(_under(p, r) for r in roots) and os.path.isfile(p))
        targets = [r for r in roots if os.path.isdir(r)] + singles
        if targets:
            log.info("re-indexing after changes in %d place(s)", len(dirty))
            self.index(targets)
