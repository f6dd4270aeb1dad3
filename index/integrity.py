"""Does a knowledge base agree with itself? Counts and problems, for tests and benchmarks.

The three stores must hold the same passages: the catalog's `passages`
table, the FTS5 index (`passages_fts`, one row per passage, same rowid) and
Chroma (one vector per distinct `<content-hash>#<n>` id the catalog uses).

`check(kb, settled=True)` is the state after a completed run. Right after a
kill (`settled=False`) one difference is allowed, by design: vectors written
for files whose catalog transaction never committed. Their hashes are queued
in `chroma_gc` before the vectors are written, and the next run's first step
deletes them, so they are listed as `pending_gc`, not as problems. A passage
without its vector, a vector nobody queued, an FTS row without its passage,
a duplicate: those are problems in any state.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Integrity:
    files_indexed: int = 0
    files_failed: int = 0
    passages: int = 0
    fts_rows: int = 0
    vector_ids_in_catalog: int = 0
    vectors_in_chroma: int = 0
    pending_gc: int = 0
    gc_queue: int = 0  # content hashes queued for vector removal (work a killed run left)
    dense_probes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return (
            f"{self.files_indexed} files indexed, {self.files_failed} failed; passages {self.passages} = "
            f"FTS rows {self.fts_rows}; vector ids {self.vector_ids_in_catalog} catalog / "
            f"{self.vectors_in_chroma} Chroma ({self.pending_gc} pending removal, {self.gc_queue} hashes queued)"
            + ("" if self.ok else f"; {len(self.problems)} PROBLEMS: {self.problems[:3]}")
        )


def check(kb, settled: bool = True, probes: int = 5, seed: int = 0) -> Integrity:
    """Compare catalog, FTS and Chroma of an open KnowledgeBase (read-only)."""
    db = kb.catalog.db
    out = Integrity()
    problem = out.problems.append
    for status, n in db.execute("SELECT status, count(*) FROM files GROUP BY status"):
        if status == "indexed":
            out.files_indexed = n
        elif status == "failed":
            out.files_failed = n
        else:
            problem(f"{n} files left in status {status!r}")

    passage_ids = {r[0] for r in db.execute("SELECT id FROM passages")}
    fts_ids = {r[0] for r in db.execute("SELECT rowid FROM passages_fts")}
    out.passages, out.fts_rows = len(passage_ids), len(fts_ids)
    if passage_ids != fts_ids:
        problem(f"FTS rows without a passage: {len(fts_ids - passage_ids)}, passages without FTS: {len(passage_ids - fts_ids)}")

    for file_id, ordinal, n in db.execute(
        "SELECT file_id, ordinal, count(*) FROM passages GROUP BY file_id, ordinal HAVING count(*) > 1"
    ):
        problem(f"duplicate passage: file {file_id} ordinal {ordinal} x{n}")
    orphans = db.execute(
        "SELECT count(*) FROM passages p LEFT JOIN files f ON f.id = p.file_id "
        "WHERE f.id IS NULL OR f.status != 'indexed'"
    ).fetchone()[0]
    if orphans:
        problem(f"{orphans} passages of files that are not indexed")
    for path, listed, actual, file_hash, bad_ids in db.execute(
        "SELECT f.path, f.n_passages, count(p.id), f.hash, "
        "sum(p.vector_id != f.hash || '#' || p.ordinal) "
        "FROM files f LEFT JOIN passages p ON p.file_id = f.id WHERE f.status = 'indexed' GROUP BY f.id"
    ):
        if listed != actual or actual == 0:
            problem(f"{path}: n_passages {listed} but {actual} passages")
        if bad_ids:
            problem(f"{path}: {bad_ids} passages with a vector id not made of the file's hash")
    texts = db.execute(
        "SELECT count(*) FROM files f LEFT JOIN texts t ON t.file_id = f.id WHERE f.status='indexed' AND t.file_id IS NULL"
    ).fetchone()[0]
    if texts:
        problem(f"{texts} indexed files without their text")

    catalog_vids = {r[0] for r in db.execute("SELECT DISTINCT vector_id FROM passages")}
    out.vector_ids_in_catalog = len(catalog_vids)
    chroma_list = kb.vectors.all_ids()
    chroma_vids = set(chroma_list)
    out.vectors_in_chroma = len(chroma_vids)
    if len(chroma_list) != len(chroma_vids):
        problem(f"{len(chroma_list) - len(chroma_vids)} duplicate ids in Chroma")
    if kb.vectors.count() != len(chroma_list):
        problem(f"Chroma count() {kb.vectors.count()} != {len(chroma_list)} ids")
    missing = catalog_vids - chroma_vids
    if missing:
        problem(f"{len(missing)} passages without a vector, e.g. {sorted(missing)[:2]}")
    extra = chroma_vids - catalog_vids
    queued = {r[0] for r in db.execute("SELECT hash FROM chroma_gc")}
    out.gc_queue = len(queued)
    pending = {v for v in extra if v.split("#", 1)[0] in queued}
    out.pending_gc = len(pending)
    unexplained = extra - pending
    if unexplained:
        problem(f"{len(unexplained)} vectors no passage uses, e.g. {sorted(unexplained)[:2]}")
    if settled and pending:
        problem(f"{len(pending)} vectors still queued for removal after a completed run")

    # The vectors must be searchable, not just listed: a passage's own vector finds it.
    sample = sorted(catalog_vids & chroma_vids)
    random.Random(seed).shuffle(sample)
    for vid in sample[:probes]:
        vector = kb.vectors.embedding(vid)
        hits = kb.vectors.query(vector, 3) if vector is not None else []
        if not hits or hits[0][1] < 0.999 and vid not in [h[0] for h in hits]:
            problem(f"dense search does not find {vid} by its own vector: {hits[:1]}")
        out.dense_probes += 1
    return out
