"""Knowledge bases that repair themselves: find the damage, set it aside, rebuild from the documents.

Everything in a knowledge base but the settings and the conversations is derived from the
person's documents, so damage is never a dead end:

- the catalog (catalog.sqlite) is rebuilt from the source files, re-extracted; the vectors
  still in Chroma are reused by content hash (ids are `<hash>#<n>`): no re-embedding;
- the vector store (chroma/) is rebuilt from the catalog's passages: re-embedding only;
- both, from the folders (mirrored in folders.json, so they survive the catalog);
- settings.json and docent-chats.json keep what still parses (index/salvage.py).

A damaged part is moved into `damaged-<time>/` in the knowledge base, never deleted, and kept
until the next successful repair. `repair-pending.json` marks a repair under way, so a repair
cut short (killed, disk full) is resumed, not mistaken for a healthy knowledge base.

Detection stays cheap: `quick_scan` (SQLite quick_check, the JSON files parse) runs only after
an unclean shutdown or a storage error; `diagnose` adds Chroma and the cross-check of
index/integrity.py (on demand: `docent check`).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from index import sentence_vectors
from index.errors import DiskFullError, KnowledgeBaseError, disk_full_error, may_be_damage
from index.salvage import read_json, salvage_objects

log = logging.getLogger("docent.repair")

CATALOG_FILES = ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm", "catalog.sqlite-journal")
VECTOR_DIR = "chroma"
FOLDERS_FILE = "folders.json"
CHATS_FILE = "docent-chats.json"  # gui/conversations.py's history, kept beside the knowledge base
PENDING_FILE = "repair-pending.json"
DAMAGED_PREFIX = "damaged-"
_SEGMENT_FILES = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
_REQUIRED_TABLES = {"meta", "roots", "files", "texts", "passages", "passages_fts", "chroma_gc"}

CATALOG, VECTORS, SETTINGS, CHATS, FOLDERS = "catalog", "vectors", "settings", "conversations", "folders"
# index/integrity.py's problems that the vector store causes (the others are the catalog's)
_VECTOR_PROBLEMS = ("without a vector", "vectors no passage uses", "Chroma", "dense search")


@dataclass
class Finding:
    part: str    # catalog | vectors | settings | conversations | folders
    reason: str

    def to_json(self) -> dict:
        return {"part": self.part, "reason": self.reason}


@dataclass
class RepairReport:
    findings: list[Finding] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)       # documents or conversations not brought back
    notices: list[str] = field(default_factory=list)
    moved_to: str | None = None
    files_total: int = 0
    vectors_reused: int = 0
    vectors_embedded: int = 0
    seconds: float = 0.0
    error: str | None = None                             # why it could not be repaired

    @property
    def healthy(self) -> bool:
        return not self.findings

    @property
    def repaired(self) -> bool:
        return bool(self.findings) and self.error is None

    def to_json(self) -> dict:
        return {
            "healthy": self.healthy, "repaired": self.repaired, "error": self.error,
            "damaged": [f.to_json() for f in self.findings], "rebuilt": self.rebuilt, "lost": self.lost,
            "notices": self.notices, "moved_to": self.moved_to, "files": self.files_total,
            "vectors_reused": self.vectors_reused, "vectors_embedded": self.vectors_embedded,
            "seconds": round(self.seconds, 3),
        }


# -- the folder list, kept outside the catalog --------------------------------------------------


def write_folders(root: Path, folders: list[str], files: list[str]) -> None:
    """Mirror what was indexed (folders, and files given one by one) where a catalog loss cannot reach."""
    path = root / FOLDERS_FILE
    data = json.dumps({"folders": sorted(folders), "files": sorted(files)}, ensure_ascii=False, indent=1)
    if read_json(path)[0] == json.loads(data):
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:  # the catalog still has them; a full disk must not fail an index run
        log.info("cannot write %s: %s", path, exc)


def read_folders(root: Path) -> tuple[list[str], list[str]]:
    data, _ = read_json(root / FOLDERS_FILE)
    if not isinstance(data, dict):
        return [], []
    listed = lambda key: [str(p) for p in data.get(key) or [] if isinstance(p, str)]  # noqa: E731
    return listed("folders"), listed("files")


def explicit_files(catalog) -> list[str]:
    """Indexed or failed files under none of the catalog's folders (indexed one by one)."""
    roots = [r.rstrip("/\\") for r in catalog.roots()]
    foreign = catalog.foreign_paths()
    out = []
    for record in catalog.files():
        p = record.path
        if p in foreign or any(p == r or p.startswith(r + os.sep) for r in roots):
            continue
        out.append(p)
    return out


# -- detection ------------------------------------------------------------------------------------


def _sqlite_problem(path: Path) -> str | None:
    """SQLite's quick_check of a database file, read-only; None when sound."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = [r[0] for r in db.execute("PRAGMA quick_check")]
        if rows != ["ok"]:
            return "; ".join(rows[:3])
        return None
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        db.close()


def catalog_problem(root: Path, catalog=None, fts: bool = True) -> str | None:
    """Why the catalog is damaged, or None: SQLite's quick_check, its tables, and (`fts`) the FTS
    index against its rows. `catalog`: the open Catalog, when there is one (then a missing file is damage)."""
    path = root / "catalog.sqlite"
    if not path.exists():
        return None if catalog is None else "catalog.sqlite is missing"
    problem = _sqlite_problem(path)
    if problem:
        return problem
    try:
        db = sqlite3.connect(path, timeout=5)  # read-write: FTS5's integrity-check is an INSERT
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            missing = _REQUIRED_TABLES - tables
            if missing and tables:
                return f"catalog tables missing: {', '.join(sorted(missing))}"
            if not missing:
                db.execute("SELECT count(*) FROM files").fetchone()
                if fts:
                    db.execute("INSERT INTO passages_fts(passages_fts) VALUES('integrity-check')")
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None


def vectors_problem(root: Path) -> str | None:
    """Chroma's own SQLite file, checked without starting Chroma (cheap); None when sound or absent."""
    folder = root / VECTOR_DIR
    if not folder.exists():
        return None
    db = folder / "chroma.sqlite3"
    if not db.exists():
        return "chroma.sqlite3 is missing"
    for segment in folder.iterdir():  # an HNSW segment is four files: one missing is damage
        if segment.is_dir() and any(segment.glob("*.bin")):
            missing = [n for n in _SEGMENT_FILES if not (segment / n).exists()]
            if missing:
                return f"vector index segment {segment.name} lacks {', '.join(missing)}"
    units = folder / sentence_vectors.FILE
    return _sqlite_problem(db) or (_sqlite_problem(units) if units.exists() else None)


def folders_missing(root: Path, catalog) -> str | None:
    """Folders the mirror lists that the catalog lacks: a catalog lost or replaced by an empty one."""
    folders, files = read_folders(root)
    if not folders and not files:
        return None
    known = set(catalog.roots())
    missing = [f for f in folders if f not in known]
    if missing or (files and catalog.counts()["indexed"] + catalog.counts()["failed"] == 0):
        return f"the catalog lost {len(missing) or len(files)} of the indexed folders and files ({FOLDERS_FILE})"
    return None


def json_problems(root: Path) -> list[Finding]:
    out = []
    for name, part in (("settings.json", SETTINGS), (CHATS_FILE, CHATS), (FOLDERS_FILE, FOLDERS)):
        data, reason = read_json(root / name)
        if reason is None and data is not None and not isinstance(data, dict):
            reason = f"{name} does not hold what it should"
        if reason:
            out.append(Finding(part, reason))
    return out


def quick_scan(root: Path, fts: bool = True) -> list[Finding]:
    """The cheap checks, on files only (after an unclean shutdown or a storage error); `fts`: also
    FTS5's integrity-check, which reads the whole lexical index."""
    findings = json_problems(root)
    problem = catalog_problem(root, fts=fts)
    if problem:
        findings.append(Finding(CATALOG, problem))
    problem = vectors_problem(root)
    if problem:
        findings.append(Finding(VECTORS, problem))
    return findings


def pending_parts(root: Path) -> list[Finding]:
    """A repair that was cut short (killed, disk full): its parts, to be finished."""
    data, reason = read_json(root / PENDING_FILE)
    if reason:
        return [Finding(CATALOG, "a repair was interrupted"), Finding(VECTORS, "a repair was interrupted")]
    if not isinstance(data, dict):
        return []
    return [Finding(str(p), "a repair was interrupted") for p in data.get("parts", []) if p in (CATALOG, VECTORS)]


def _probe_vectors(kb) -> str | None:
    """Start the local vector store and read from it; the reason it fails, or None."""
    try:
        store = kb.vectors
        total = store.count()
        ids = store.all_ids()
        if len(ids) != total:
            return f"Chroma lists {len(ids)} ids but counts {total}"
        if ids:
            vector = store.embedding(ids[0])
            if vector is None or not store.query(vector, 1):
                return "Chroma cannot find a vector it lists"
    except Exception as exc:  # noqa: BLE001 - any failure of a damaged store is a finding
        if not may_be_damage(exc):
            raise
        return f"{type(exc).__name__}: {exc}"
    except BaseException as exc:  # Chroma's Rust core panics (pyo3 PanicException is a BaseException)
        if type(exc).__name__ != "PanicException":
            raise
        return f"Chroma failed: {exc}"
    return None


def diagnose(kb) -> list[Finding]:
    """Every check, on an open knowledge base: files, SQLite, Chroma, catalog = FTS = Chroma."""
    root = kb.root
    findings = list(kb.damage)
    seen = {f.part for f in findings}
    for f in pending_parts(root) + quick_scan(root):
        if f.part not in seen:
            findings.append(f)
            seen.add(f.part)
    if CATALOG not in seen and kb.catalog.placeholder:
        findings.append(Finding(CATALOG, "the catalog cannot be opened"))
        seen.add(CATALOG)
    if CATALOG not in seen and kb.remote is None:
        problem = folders_missing(root, kb.catalog)
        if problem:
            findings.append(Finding(CATALOG, problem))
            seen.add(CATALOG)
    if kb.remote is None and VECTORS not in seen:
        problem = _probe_vectors(kb)
        if problem:
            findings.append(Finding(VECTORS, problem))
            seen.add(VECTORS)
    if kb.remote is None and not seen & {CATALOG, VECTORS}:
        from index.integrity import check

        try:
            result = check(kb, settled=False)  # vectors a killed run left queued are not damage
        except Exception as exc:  # noqa: BLE001
            if not may_be_damage(exc):
                raise
            findings.append(Finding(VECTORS, f"{type(exc).__name__}: {exc}"))
        else:
            for problem in result.problems:
                part = VECTORS if any(m in problem for m in _VECTOR_PROBLEMS) else CATALOG
                if part not in seen:
                    findings.append(Finding(part, problem))
                    seen.add(part)
    return findings


# -- repair ---------------------------------------------------------------------------------------


Progress = Callable  # index.sync.Progress -> None


def _move_aside(root: Path, names: list[str], report: RepairReport) -> None:
    present = [n for n in names if os.path.lexists(root / n)]
    if not present:
        return
    if report.moved_to is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = root / f"{DAMAGED_PREFIX}{stamp}"
        n = 1
        while target.exists():
            n += 1
            target = root / f"{DAMAGED_PREFIX}{stamp}-{n}"
        target.mkdir(mode=0o700)
        report.moved_to = str(target)
    for name in present:
        os.replace(root / name, Path(report.moved_to) / name)


def _old_catalog_paths(root: Path) -> tuple[list[str], list[str], list[str]]:
    """Best effort from a damaged catalog: (folders, indexed paths, every path)."""
    folders: list[str] = []
    indexed: list[str] = []
    every: list[str] = []
    path = root / "catalog.sqlite"
    if not path.exists():
        return folders, indexed, every
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return folders, indexed, every
    try:
        for query, out in (("SELECT path FROM roots", folders),
                           ("SELECT path FROM files WHERE status='indexed' "
                            "AND id NOT IN (SELECT file_id FROM remote_files)", indexed),
                           ("SELECT path FROM files WHERE id NOT IN (SELECT file_id FROM remote_files)", every)):
            try:
                out.extend(r[0] for r in db.execute(query))
            except sqlite3.DatabaseError:
                pass
    finally:
        db.close()
    return folders, indexed, every


def _set_pending(root: Path, parts: list[str]) -> None:
    path = root / PENDING_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"parts": parts, "started": time.time()}, fh)
        fh.flush()
        os.fsync(fh.fileno())


def _repair_json(kb, findings: list[Finding], report: RepairReport) -> None:
    root = kb.root
    for finding in findings:
        if finding.part == SETTINGS:
            from index.salvage import load_settings

            settings, notice = load_settings(root / "settings.json")
            _move_aside(root, ["settings.json"], report)
            settings.save(root / "settings.json")
            kb.settings = settings
            report.notices.append(f"settings: {notice or finding.reason}")
            report.rebuilt.append("settings")
        elif finding.part == CHATS:
            kept = salvage_objects(root / CHATS_FILE, "turns")
            data, _ = read_json(root / CHATS_FILE)
            _move_aside(root, [CHATS_FILE], report)
            tmp = root / (CHATS_FILE + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"version": 1, "conversations": kept}, fh, ensure_ascii=False, indent=1)
            os.replace(tmp, root / CHATS_FILE)
            report.notices.append(
                f"conversations: {len(kept)} kept from a damaged {CHATS_FILE}"
                f" (the damaged file is in {report.moved_to})")
            report.rebuilt.append("conversations")
        elif finding.part == FOLDERS:
            _move_aside(root, [FOLDERS_FILE], report)
            report.rebuilt.append("folders")


def repair(kb, findings: list[Finding] | None = None, progress: Progress | None = None) -> RepairReport:
    """Repair an open knowledge base (its lock held): what `diagnose` found, or `findings`."""
    started = time.perf_counter()
    report = RepairReport(findings=list(findings) if findings is not None else diagnose(kb))
    if not report.findings:
        return report
    root = kb.root
    parts = {f.part for f in report.findings}
    try:
        _repair_json(kb, report.findings, report)
        stores = [p for p in (CATALOG, VECTORS) if p in parts]
        if stores:
            if kb.remote is not None and CATALOG not in parts:
                stores = []  # a shared store's vectors live on its server: nothing local to rebuild
        if stores:
            _rebuild_stores(kb, stores, report, progress)
        if FOLDERS in parts or CATALOG in parts:
            kb.mirror_folders()
        _finish(kb, report)
    except DiskFullError as exc:
        report.error = str(exc)
    except KnowledgeBaseError as exc:
        report.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - reported as one line; the trace goes to the log
        full = disk_full_error(exc, root, writing=True)
        if full is not None:
            report.error = str(full)
        elif isinstance(exc, OSError):
            report.error = f"cannot write in {root}: {exc.strerror or exc}"
        else:
            report.error = f"repair failed: {type(exc).__name__}: {exc}"
        log.debug("repair of %s failed", root, exc_info=True)  # the trace: log file only (-v shows it)
    report.seconds = time.perf_counter() - started
    if report.error is None:
        kb.damage, kb.storage_failure = [], None  # the errors of the damaged stores are history
    return report


def _rebuild_stores(kb, stores: list[str], report: RepairReport, progress) -> None:
    """Move the damaged stores aside and rebuild them. A repair cut short is resumed: a store that
    a previous attempt already started rebuilding is kept (and completed) when it checks sound."""
    from index.catalog import Catalog
    from index.sync import Indexer

    root = kb.root
    resuming = {f.part for f in pending_parts(root)}
    _set_pending(root, stores)
    catalog_sound = not kb.catalog.placeholder and catalog_problem(root, kb.catalog) is None
    vectors_sound = vectors_problem(root) is None
    folders: list[str] = []
    files: list[str] = []
    old_indexed: list[str] = []
    if CATALOG in stores:
        folders, files = read_folders(root)
        if catalog_sound:  # a repair resumed, or a cross-check mismatch: its lists are good
            folders += kb.catalog.roots()
            files += explicit_files(kb.catalog)
            old_indexed = [r.path for r in kb.catalog.files() if r.status == "indexed"]
        else:
            old_folders, old_indexed, _ = _old_catalog_paths(root)
            folders += old_folders
        if not (CATALOG in resuming and catalog_sound):
            kb.catalog.close()  # searches meanwhile see an empty catalog, then the rebuilt one filling up
            kb.catalog = Catalog(Path(":memory:"))
            _move_aside(root, list(CATALOG_FILES), report)
        old, kb.catalog = kb.catalog, Catalog(root / "catalog.sqlite")
        old.close()
        folders = sorted(set(folders))
        files = sorted(p for p in set(files)
                       if not any(p == f or p.startswith(f.rstrip("/\\") + os.sep) for f in folders))
    rebuild_vectors = VECTORS in stores and kb.remote is None
    if rebuild_vectors and not (VECTORS in resuming and vectors_sound):
        kb.drop_vectors()
        _move_aside(root, [VECTOR_DIR], report)
    if CATALOG in stores:
        targets = [p for p in folders + files if os.path.lexists(p)]
        for gone in sorted(set(folders + files) - set(targets)):
            report.notices.append(f"{gone} no longer exists: not indexed again")
        indexer = Indexer(kb, progress, reuse_vectors=kb.remote is None)
        result = indexer.run(targets) if targets else None
        report.files_total = result.files_seen if result else 0
        report.vectors_reused = indexer.vectors_reused
        report.vectors_embedded = indexer.vectors_embedded
        indexed_now = {r.path for r in kb.catalog.files() if r.status == "indexed"}
        report.lost = sorted(p for p in old_indexed if p not in indexed_now and os.path.exists(p))
        deleted = [p for p in old_indexed if not os.path.exists(p)]
        if deleted:
            report.notices.append(f"{len(deleted)} files deleted since they were indexed: not indexed again")
        if not targets and not old_indexed:
            report.notices.append("no folder is known for this knowledge base: index your folders again")
        report.rebuilt.append(CATALOG)
        if kb.remote is not None:
            kb.refresh(force=True)  # other clients' files come back from the server
        else:
            _drop_unused_vectors(kb)
    elif rebuild_vectors:
        report.files_total, report.vectors_embedded = reembed(kb, progress, only_missing=True)
    if rebuild_vectors:
        report.rebuilt.append(VECTORS)


def _drop_unused_vectors(kb) -> None:
    """Vectors whose file the rebuilt catalog no longer has (deleted while the catalog was damaged)."""
    used = set(kb.catalog.all_vector_ids())
    stale = {vid.split("#", 1)[0] for vid in kb.vectors.all_ids() if vid not in used}
    for content_hash in sorted(stale):
        if not kb.catalog.hash_in_use(content_hash):
            kb.vectors.delete_hash(content_hash)


def reembed(kb, progress: Progress | None = None, only_missing: bool = False) -> tuple[int, int]:
    """Vectors for the catalog's passages, embedded again: (files, vectors written)."""
    from index.sync import Progress as Step

    import numpy as np

    started = time.perf_counter()
    db = kb.catalog.db
    hashes = [r[0] for r in db.execute(
        "SELECT hash, min(id) FROM files WHERE status='indexed' AND hash IS NOT NULL "
        "AND id NOT IN (SELECT file_id FROM remote_files) GROUP BY hash ORDER BY min(id)")]
    if only_missing:
        have = set(kb.vectors.all_ids())
        hashes = [h for h in hashes if f"{h}#0" not in have]
    done = written = 0
    batch: list[tuple[str, list[str]]] = []

    def flush() -> None:
        nonlocal written
        if not batch:
            return
        texts = [t for _, ts in batch for t in ts]
        vectors, units = sentence_vectors.embed(kb.embedder, texts)
        kb.vectors.upsert_many([(h, len(ts)) for h, ts in batch], np.asarray(vectors), units=units)
        written += len(texts)
        batch.clear()

    for content_hash in hashes:
        file_id = db.execute("SELECT min(id) FROM files WHERE hash=? AND status='indexed'", (content_hash,)).fetchone()[0]
        texts = [r[0] for r in db.execute("SELECT text FROM passages WHERE file_id=? ORDER BY ordinal", (file_id,))]
        batch.append((content_hash, texts))
        done += 1
        if sum(len(ts) for _, ts in batch) >= 256:
            flush()
            if progress:
                progress(Step(len(hashes), done, written, time.perf_counter() - started, ""))
    flush()
    if progress:
        progress(Step(len(hashes), len(hashes), written, time.perf_counter() - started, ""))
    return len(hashes), written


def _finish(kb, report: RepairReport) -> None:
    """Check the result; when sound, the repair is over: older damaged copies go, this one stays."""
    root = kb.root
    if kb.remote is None and {CATALOG, VECTORS} & set(report.rebuilt):
        from index.integrity import check

        result = check(kb)
        if not result.ok:
            raise KnowledgeBaseError(f"knowledge base {root} still inconsistent after the repair: {result.problems[:2]}")
    try:
        os.unlink(root / PENDING_FILE)
    except FileNotFoundError:
        pass
    current = Path(report.moved_to).name if report.moved_to else None
    for old in root.glob(f"{DAMAGED_PREFIX}*"):
        if old.name != current and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    kb.secure_files()
