"""The knowledge base's SQLite file: manifest, extracted texts, passages and
the lexical (FTS5) index, in one database so one transaction keeps them
consistent. Chroma holds only vectors, keyed `<content-hash>#<n>`; vectors
whose hash may have lost its last file are queued in `chroma_gc` inside the
same transaction, so a kill at any moment leaves work to finish, never a
mismatch.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from index import analysis
from index.types import Passage

SCHEMA_VERSION = 1

# The terms column holds index.analysis terms separated by spaces: the tokenizer only splits them again,
# so combining marks (Devanagari and Thai vowel signs, Arabic harakat) stay inside their terms.
_FTS = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(terms,
    tokenize="unicode61 remove_diacritics 0 categories 'L* N* Co M*'")""",
    "CREATE VIRTUAL TABLE IF NOT EXISTS passages_vocab USING fts5vocab(passages_fts, row)",
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS roots(path TEXT PRIMARY KEY, added_at REAL);
CREATE TABLE IF NOT EXISTS files(
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,
    size INTEGER, mtime_ns INTEGER, hash TEXT,
    status TEXT NOT NULL,            -- indexed | failed | pending
    error TEXT, title TEXT, format TEXT, encoding TEXT,
    n_passages INTEGER DEFAULT 0, updated_at REAL
);
CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
CREATE TABLE IF NOT EXISTS texts(file_id INTEGER PRIMARY KEY, data BLOB);
CREATE TABLE IF NOT EXISTS passages(
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    vector_id TEXT NOT NULL,
    page INTEGER, char_start INTEGER, char_end INTEGER,
    text TEXT
);
CREATE INDEX IF NOT EXISTS passages_file ON passages(file_id, ordinal);
CREATE INDEX IF NOT EXISTS passages_vector ON passages(vector_id);
{_FTS[0]};
{_FTS[1]};
CREATE TABLE IF NOT EXISTS chroma_gc(hash TEXT PRIMARY KEY);
-- Files other clients of a shared (remote) knowledge base indexed: server record id -> our copy.
CREATE TABLE IF NOT EXISTS remote_files(record_id TEXT PRIMARY KEY, file_id INTEGER UNIQUE NOT NULL, hash TEXT);
"""


@dataclass
class FileRecord:
    id: int
    path: str
    size: int | None
    mtime_ns: int | None
    hash: str | None
    status: str
    error: str | None
    title: str | None
    format: str | None
    n_passages: int


@dataclass
class NewPassage:
    ordinal: int
    page: int | None
    char_start: int
    char_end: int
    text: str
    # (language, FTS terms joined by spaces) when the indexer analysed the passage already (in its
    # reader thread, beside the embedder); None: store_indexed analyses it.
    analysed: tuple[str, str] | None = None


_FILE_COLUMNS = "id,path,size,mtime_ns,hash,status,error,title,format,n_passages"


def analysed(text: str) -> tuple[str, str]:
    """A passage's (language, FTS terms joined by spaces), as store_indexed writes them."""
    language, terms = analysis.index_terms(text)
    return language, " ".join(terms)


def vector_id(content_hash: str, ordinal: int) -> str:
    return f"{content_hash}#{ordinal}"


class Catalog:
    def __init__(self, path: Path):
        self.path = path
        if self.placeholder:
            pass  # an empty catalog in memory: stands in for a damaged one until it is rebuilt
        elif not os.path.exists(path):  # private from the start; SQLite gives -wal/-shm the same mode
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self.db = sqlite3.connect(path, timeout=5, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=OFF")
        self.db.executescript(_SCHEMA)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
        self._counts: dict[str, int] | None = None
        self._languages: set[str] | None = None
        self._writer = threading.Lock()
        self._writer_thread: int | None = None
        self.reanalyse()

    @property
    def placeholder(self) -> bool:
        return str(self.path) == ":memory:"

    def close(self) -> None:
        self.db.close()

    # -- transactions -------------------------------------------------------
    # One connection serves every thread (indexing, search, a shared knowledge base's pulls): a
    # transaction holds `_writer` from begin to commit/rollback so two writers never interleave.
    def begin(self) -> None:
        self._writer.acquire()
        self._writer_thread = threading.get_ident()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release_writer()
            raise

    def commit(self) -> None:
        self.db.execute("COMMIT")  # a failed commit keeps the writer: the caller's rollback releases it
        self._counts = None
        self._languages = None
        self._release_writer()

    def rollback(self) -> None:
        if self._writer_thread != threading.get_ident():
            return  # not our transaction (another thread's is open on this connection): leave it alone
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        finally:
            self._release_writer()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """begin ... commit, or rollback on any exception (the writer lock is never left held)."""
        self.begin()
        try:
            yield
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def _release_writer(self) -> None:
        if self._writer_thread == threading.get_ident():
            self._writer_thread = None
            self._writer.release()

    # -- meta & roots -------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (key, value))

    def add_root(self, path: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO roots VALUES(?, ?)", (path, time.time()))

    def remove_root(self, path: str) -> None:
        self.db.execute("DELETE FROM roots WHERE path=?", (path,))

    def roots(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM roots ORDER BY path")]

    # -- files --------------------------------------------------------------
    def file(self, path: str) -> FileRecord | None:
        row = self.db.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE path=?", (path,)).fetchone()
        return FileRecord(*row) if row else None

    def files(self, under: str | None = None) -> list[FileRecord]:
        rows = self.db.execute(f"SELECT {_FILE_COLUMNS} FROM files ORDER BY path").fetchall()
        records = [FileRecord(*r) for r in rows]
        if under is not None:
            prefix = under.rstrip("/\\")
            records = [r for r in records if r.path == prefix or r.path.startswith(prefix + "/") or r.path.startswith(prefix + "\\")]
        return records

    def indexed_with_hash(self, content_hash: str) -> list[FileRecord]:
        """This client's indexed files with these bytes (never another client's copy: a pull may drop
        it at any moment, and its vectors are its owner's to remove)."""
        rows = self.db.execute(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE hash=? AND status='indexed' "
            "AND id NOT IN (SELECT file_id FROM remote_files)", (content_hash,)
        ).fetchall()
        return [FileRecord(*r) for r in rows]

    def hash_in_use(self, content_hash: str) -> bool:
        return self.db.execute("SELECT 1 FROM files WHERE hash=? AND status='indexed' LIMIT 1", (content_hash,)).fetchone() is not None

    def counts(self) -> dict[str, int]:
        """Files by status and the passage total; cached until the next commit (search reads it per query)."""
        if self._counts is not None and not self.db.in_transaction:
            return dict(self._counts)
        out = {"indexed": 0, "failed": 0, "pending": 0}
        for status, n in self.db.execute("SELECT status, count(*) FROM files GROUP BY status"):
            out[status] = n
        out["passages"] = self.db.execute("SELECT count(*) FROM passages").fetchone()[0]
        if not self.db.in_transaction:
            self._counts = dict(out)
        return out

    def _upsert_file(self, path: str, **fields) -> int:
        record = self.file(path)
        fields["updated_at"] = time.time()
        if record is None:
            cols = ["path", *fields]
            self.db.execute(
                f"INSERT INTO files({','.join(cols)}) VALUES({','.join('?' * len(cols))})", (path, *fields.values())
            )
            return self.db.execute("SELECT id FROM files WHERE path=?", (path,)).fetchone()[0]
        sets = ",".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE files SET {sets} WHERE id=?", (*fields.values(), record.id))
        return record.id

    def _drop_passages(self, file_id: int) -> None:
        self.db.execute("DELETE FROM passages_fts WHERE rowid IN (SELECT id FROM passages WHERE file_id=?)", (file_id,))
        self.db.execute("DELETE FROM passages WHERE file_id=?", (file_id,))
        self.db.execute("DELETE FROM texts WHERE file_id=?", (file_id,))

    def _queue_gc(self, content_hash: str | None) -> None:
        if content_hash:
            self.db.execute("INSERT OR IGNORE INTO chroma_gc VALUES(?)", (content_hash,))

    def mark_vectors_pending(self, content_hash: str) -> None:
        """Before vectors are written: if we die now, the next run removes them."""
        self.db.execute("INSERT OR IGNORE INTO chroma_gc VALUES(?)", (content_hash,))

    def store_indexed(
        self,
        path: str,
        *,
        size: int,
        mtime_ns: int,
        content_hash: str,
        title: str,
        fmt: str,
        encoding: str | None,
        text: str,
        passages: Iterable[NewPassage],
    ) -> None:
        """Replace a file's passages in one transaction (the caller begins/commits)."""
        old = self.file(path)
        if old is not None:
            self._drop_passages(old.id)
            if old.hash != content_hash:
                self._queue_gc(old.hash)
        file_id = self._upsert_file(
            path, size=size, mtime_ns=mtime_ns, hash=content_hash, status="indexed", error=None,
            title=title, format=fmt, encoding=encoding, n_passages=0,
        )
        self.db.execute("INSERT INTO texts VALUES(?, ?)", (file_id, zlib.compress(text.encode("utf-8"), 3)))
        count = 0
        languages = set()
        for p in passages:
            cur = self.db.execute(
                "INSERT INTO passages(file_id, ordinal, vector_id, page, char_start, char_end, text) VALUES(?,?,?,?,?,?,?)",
                (file_id, p.ordinal, vector_id(content_hash, p.ordinal), p.page, p.char_start, p.char_end, p.text),
            )
            language, terms = p.analysed or analysed(p.text)
            languages.add(language)
            self.db.execute("INSERT INTO passages_fts(rowid, terms) VALUES(?, ?)", (cur.lastrowid, terms))
            count += 1
        self._add_languages(languages)
        self.db.execute("UPDATE files SET n_passages=? WHERE id=?", (count, file_id))
        self.db.execute("DELETE FROM chroma_gc WHERE hash=?", (content_hash,))

    def copy_indexed(self, source: FileRecord, path: str, *, size: int, mtime_ns: int) -> None:
        """Index `path` as a byte-identical copy of `source` (rename or duplicate): no re-embedding."""
        old = self.file(path)
        if old is not None:
            self._drop_passages(old.id)
            if old.hash != source.hash:
                self._queue_gc(old.hash)
        src = self.db.execute("SELECT encoding FROM files WHERE id=?", (source.id,)).fetchone()
        file_id = self._upsert_file(
            path, size=size, mtime_ns=mtime_ns, hash=source.hash, status="indexed", error=None,
            title=source.title, format=source.format, encoding=src[0], n_passages=source.n_passages,
        )
        self.db.execute("INSERT INTO texts SELECT ?, data FROM texts WHERE file_id=?", (file_id, source.id))
        rows = self.db.execute(
            "SELECT p.ordinal, p.vector_id, p.page, p.char_start, p.char_end, p.text, f.terms "
            "FROM passages p JOIN passages_fts f ON f.rowid = p.id WHERE p.file_id=? ORDER BY p.ordinal",
            (source.id,),
        ).fetchall()
        for ordinal, vid, page, start, end, text, terms in rows:
            cur = self.db.execute(
                "INSERT INTO passages(file_id, ordinal, vector_id, page, char_start, char_end, text) VALUES(?,?,?,?,?,?,?)",
                (file_id, ordinal, vid, page, start, end, text),
            )
            self.db.execute("INSERT INTO passages_fts(rowid, terms) VALUES(?, ?)", (cur.lastrowid, terms))

    def move(self, record: FileRecord, new_path: str, *, size: int, mtime_ns: int) -> None:
        """A rename: the passages stay, only the path changes."""
        existing = self.file(new_path)
        if existing is not None and existing.id != record.id:
            self.remove(existing)
        self.db.execute(
            "UPDATE files SET path=?, size=?, mtime_ns=?, updated_at=? WHERE id=?",
            (new_path, size, mtime_ns, time.time(), record.id),
        )

    def store_failed(self, path: str, *, size: int | None, mtime_ns: int | None, error: str) -> None:
        old = self.file(path)
        if old is not None:
            self._drop_passages(old.id)
            self._queue_gc(old.hash)
        self._upsert_file(path, size=size, mtime_ns=mtime_ns, hash=None, status="failed", error=error, n_passages=0)

    def remove(self, record: FileRecord) -> None:
        self._drop_passages(record.id)
        self.db.execute("DELETE FROM files WHERE id=?", (record.id,))
        self._queue_gc(record.hash)

    def gc_hashes(self) -> list[str]:
        """Hashes queued for vector removal that no indexed file uses any more."""
        queued = [r[0] for r in self.db.execute("SELECT hash FROM chroma_gc")]
        return [h for h in queued if not self.hash_in_use(h)]

    def clear_gc(self, hashes: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM chroma_gc WHERE hash=?", [(h,) for h in hashes])
        # Queued hashes that are in use again need no removal either.
        self.db.execute(
            "DELETE FROM chroma_gc WHERE hash IN (SELECT hash FROM files WHERE status='indexed')"
        )

    # -- other clients' files (shared knowledge bases, index/remote.py) -------------
    def foreign_records(self) -> dict[str, tuple[int, str]]:
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT record_id, file_id, hash FROM remote_files")}

    def foreign_file_ids(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT file_id FROM remote_files")]

    def foreign_paths(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT f.path FROM remote_files r JOIN files f ON f.id = r.file_id")}

    def store_foreign(self, record_id: str, path: str, *, content_hash: str, title: str, fmt: str, size: int,
                      text: str, passages: Iterable[NewPassage]) -> None:
        """Another client's file, copied from the server (the caller begins/commits)."""
        self.store_indexed(path, size=size, mtime_ns=0, content_hash=content_hash, title=title, fmt=fmt,
                           encoding=None, text=text, passages=passages)
        file_id = self.file(path).id
        self.db.execute("INSERT OR REPLACE INTO remote_files VALUES(?, ?, ?)", (record_id, file_id, content_hash))

    def remove_foreign(self, record_id: str, file_id: int) -> None:
        row = self.db.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE id=?", (file_id,)).fetchone()
        if row is not None:
            self.remove(FileRecord(*row))
        self.db.execute("DELETE FROM remote_files WHERE record_id=?", (record_id,))

    # -- reading ------------------------------------------------------------
    def text_of(self, file_id: int) -> str:
        row = self.db.execute("SELECT data FROM texts WHERE file_id=?", (file_id,)).fetchone()
        return zlib.decompress(row[0]).decode("utf-8") if row else ""

    def text_of_path(self, path: str) -> str | None:
        record = self.file(path)
        return self.text_of(record.id) if record and record.status == "indexed" else None

    def passages_by_ids(self, ids: list[int]) -> dict[int, Passage]:
        rows = []
        for n in range(0, len(ids), 900):  # under SQLite's limit of bound variables (verify asks for many)
            chunk = ids[n : n + 900]
            rows += self.db.execute(
                f"SELECT p.id, f.path, f.title, p.page, p.char_start, p.char_end, p.text, p.ordinal "
                f"FROM passages p JOIN files f ON f.id = p.file_id WHERE p.id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
        return {r[0]: Passage(str(r[0]), r[1], r[2] or "", r[3], r[4], r[5], r[6], r[7]) for r in rows}

    def passage_ids_for_vectors(self, vector_ids: list[str]) -> dict[str, list[int]]:
        if not vector_ids:
            return {}
        marks = ",".join("?" * len(vector_ids))
        out: dict[str, list[int]] = {}
        for vid, pid in self.db.execute(f"SELECT vector_id, id FROM passages WHERE vector_id IN ({marks})", vector_ids):
            out.setdefault(vid, []).append(pid)
        return out

    def neighbours(self, passage_id: int) -> tuple[int, list[tuple[int, int, int, int | None]]]:
        """(file_id, [(ordinal, char_start, char_end, page)...]) of the passage's file."""
        file_id = self.db.execute("SELECT file_id FROM passages WHERE id=?", (passage_id,)).fetchone()[0]
        rows = self.db.execute(
            "SELECT ordinal, char_start, char_end, page FROM passages WHERE file_id=? ORDER BY ordinal", (file_id,)
        ).fetchall()
        return file_id, rows

    def all_vector_ids(self) -> Iterator[str]:
        for (vid,) in self.db.execute("SELECT DISTINCT vector_id FROM passages"):
            yield vid

    # -- lexical ------------------------------------------------------------
    def languages(self) -> set[str]:
        """Languages of the passages ever indexed here (a question is analysed in each of them too)."""
        if self._languages is not None and not self.db.in_transaction:
            return set(self._languages)
        value = self.get_meta("languages")
        found = set(value.split(",")) - {""} if value else set()
        if not self.db.in_transaction:
            self._languages = set(found)
        return found

    def _add_languages(self, languages: set[str]) -> None:
        known = self.languages()
        if not languages <= known:
            self.set_meta("languages", ",".join(sorted(known | languages)))

    def reanalyse(self) -> None:
        """Index terms made by an older analyser are made again from the passages' texts (one
        transaction; a few seconds for ten thousand passages), so old and new passages match alike."""
        if self.get_meta("analyzer") == str(analysis.VERSION):
            return
        try:
            self._reanalyse()
        except sqlite3.Error as exc:  # read-only or full disk: the old terms keep working, less well
            logging.getLogger("docent.catalog").warning("cannot re-analyse %s (%s)", self.path, exc)

    def _reanalyse(self) -> None:
        with self.transaction():
            languages = set()
            rows = self.db.execute("SELECT id, text FROM passages").fetchall()
            self.db.execute("DROP TABLE IF EXISTS passages_vocab")
            self.db.execute("DROP TABLE IF EXISTS passages_fts")
            for statement in _FTS:  # today's tokenizer settings
                self.db.execute(statement)
            for pid, text in rows:
                language, terms = analysis.index_terms(text or "")
                languages.add(language)
                self.db.execute("INSERT INTO passages_fts(rowid, terms) VALUES(?, ?)", (pid, " ".join(terms)))
            self.set_meta("languages", ",".join(sorted(languages)))
            self.set_meta("analyzer", str(analysis.VERSION))

    def document_frequency(self, terms: list[str]) -> dict[str, int]:
        if not terms:
            return {}
        marks = ",".join("?" * len(terms))
        return dict(self.db.execute(f"SELECT term, doc FROM passages_vocab WHERE term IN ({marks})", terms).fetchall())

    def bm25(self, match: str, limit: int) -> list[tuple[int, float]]:
        rows = self.db.execute(
            "SELECT rowid, bm25(passages_fts) AS s FROM passages_fts WHERE passages_fts MATCH ? ORDER BY s LIMIT ?",
            (match, limit),
        ).fetchall()
        return [(rowid, -score) for rowid, score in rows]
