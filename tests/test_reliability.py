"""Issue 6 for the indexing engine: hostile files, per-file limits, kills, a second
instance, a full disk, private files. The long versions are in bench/bench_reliability.py."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.bench_reliability import kill_test, no_dac_prefix, private_modes, workers_of
from index import chunking
from index.config import EngineSettings
from index.extract import ExtractError
from index.integrity import check
from index.errors import DiskFullError, is_disk_full
from index.kb import KnowledgeBase
from index.limits import Cancelled, ExtractorProcess, Limits
from tests.fixtures import hostile, make_docs
from tests.fixtures.netguard import no_network  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("no_network")


def cli(*args, prefix=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([*(prefix or []), sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def deep_html(tmp_path_factory) -> Path:
    """HTML that takes lexbor ~25 s to parse (quadratic in nesting depth)."""
    return make_docs.make_deep_html(tmp_path_factory.mktemp("deep"), "deep.html", depth=150_000)


# ------------------------------------------------------------ hostile --


def test_hostile_corpus_every_file_indexed_or_failed_with_a_reason(tmp_path):
    """~80 broken, malicious and awkward paths through the real CLI: no crash, no hang, a reason each.

    As root the run drops the right to read everything (setpriv), so permission
    denied is real; the deadline is 2 s so the nested HTML and the PDF stream
    bomb hit it quickly.
    """
    corpus = hostile.make_hostile_corpus(tmp_path / "hostile", big_text_bytes=6 * 2**20, volatile=False)
    try:
        kb_dir = tmp_path / "kb"
        KnowledgeBase.open(kb_dir, EngineSettings(max_extract_seconds=2, max_text_chars=1_000_000)).close()
        prefix = no_dac_prefix()
        proc = cli("index", str(corpus.root), "--kb", str(kb_dir), "--json", prefix=prefix, timeout=600)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        report = json.loads(proc.stdout)
        with KnowledgeBase.open(kb_dir) as kb:
            outcomes = hostile.outcomes_from_kb(kb)
            integrity = check(kb)
        privileged = prefix is None and hostile.reads_everything()
        problems = hostile.check_outcomes(corpus, outcomes, privileged)
        assert not problems, "\n".join(problems)
        assert integrity.ok, integrity.problems
        reasons = {os.path.relpath(p, corpus.root): o.error for p, o in outcomes.items() if o.status == "failed"}
        assert reasons["html/very_deep.html"] == "took longer than 2 s to read; skipped"
        assert reasons["text/single_line.txt"].startswith("too much text")
        assert len(report["files_failed"]) == len(reasons)
        assert corpus.documents >= 40 and report["files_seen"] >= 60
        print(f"\n{len(outcomes)} recorded: {sum(o.status == 'indexed' for o in outcomes.values())} indexed, "
              f"{len(reasons)} failed with a reason; privileged={privileged}")
    finally:
        hostile.remove_corpus(corpus.root)


def test_file_that_vanishes_or_changes_while_read(tmp_path, monkeypatch):
    import index.sync as sync

    docs = tmp_path / "docs"
    vanishing = make_docs.make_txt(docs, "vanishing.txt", make_docs.EN)
    changing = make_docs.make_txt(docs, "changing.txt", "first version of the text")
    restless = make_docs.make_txt(docs, "restless.md", "never stops changing")
    real_scan, real_hash = sync.scan, sync.content_hash
    calls = {"changing": 0}

    def scan(roots):
        found = list(real_scan(roots))
        vanishing.unlink()
        return found

    def content_hash(path):
        digest = real_hash(path)
        name = os.path.basename(path)
        if name == "changing.txt" and calls["changing"] == 0:
            calls["changing"] += 1
            time.sleep(0.01)
            changing.write_text("second version of the text, now longer")  # while it is being read
        elif name == "restless.md":
            restless.write_text("changed again " * (calls.setdefault("restless", 0) + 1))
            calls["restless"] += 1
        return digest

    monkeypatch.setattr(sync, "scan", scan)
    monkeypatch.setattr(sync, "content_hash", content_hash)
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        report = kb.index([str(docs)])
        reasons = {Path(f["path"]).name: f["error"] for f in report.files_failed}
        assert reasons["vanishing.txt"] == "file not found (moved or deleted?)"
        assert "kept changing" in reasons["restless.md"]
        assert kb.text_of(str(changing)) == "second version of the text, now longer"  # read again, whole
        assert check(kb).ok
        record = kb.catalog.file(str(restless))
        assert record.status == "failed" and record.mtime_ns != restless.stat().st_mtime_ns  # retried next run
        monkeypatch.undo()
        again = kb.index([str(docs)])
        assert again.files_removed == 1 and again.files_indexed == 1  # vanishing forgotten, restless read
        assert check(kb).ok


def test_too_much_text_and_a_huge_single_line(tmp_path):
    line = hostile.write_single_line(tmp_path / "docs" / "one_line.txt", 3 * 2**20)
    spans = chunking.chunk(line.read_text(), 1000)
    assert all(0 < s.end - s.start <= 1000 for s in spans) and len(spans) >= 3 * 2**20 // 1000
    assert all(a.start < b.start for a, b in zip(spans, spans[1:]))
    make_docs.make_txt(tmp_path / "docs", "small.txt", make_docs.EN)
    with KnowledgeBase.open(tmp_path / "kb", EngineSettings(max_text_chars=1_000_000)) as kb:
        report = kb.index([str(tmp_path / "docs")])
        [failure] = report.files_failed
        assert failure["error"] == "too much text (3.1 million characters > 1 million limit); skipped"
        assert report.files_indexed == 1


# ------------------------------------------------------ the worker --


def test_worker_deadline_crash_memory_and_recovery(tmp_path, deep_html):
    ok = make_docs.make_html(tmp_path, "ok.html", "OK", ["fine text"])
    big = tmp_path / "big.html"
    big.write_text("<html><body>" + "<p>hello there general kenobi</p>" * 300_000 + "</body></html>")
    with ExtractorProcess(Limits(seconds=1.0, memory_mb=100)) as worker:
        assert "fine text" in worker.extract(str(ok)).text
        with pytest.raises(ExtractError, match=r"^took longer than 1 s to read; skipped$"):
            worker.extract(str(deep_html))
        assert "fine text" in worker.extract(str(ok)).text  # a fresh worker took over
        with pytest.raises(ExtractError, match=r"^needs more than 100 MB of memory to read; skipped$"):
            worker.extract(str(big))
        assert "fine text" in worker.extract(str(ok)).text

    with ExtractorProcess(Limits(seconds=60)) as worker:
        worker.extract(str(ok))
        pid = worker.pid
        threading.Timer(0.5, os.kill, (pid, signal.SIGSEGV)).start()  # a parser that crashes
        with pytest.raises(ExtractError, match=r"^the HTML reader crashed on this file \(SIGSEGV\); skipped$"):
            worker.extract(str(deep_html))
        assert worker.pid is None  # the crashed worker is gone; the next file starts a new one
        assert "fine text" in worker.extract(str(ok)).text

    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    with ExtractorProcess(Limits(seconds=60)) as worker:
        started = time.monotonic()
        with pytest.raises(Cancelled):
            worker.extract(str(deep_html), stop.is_set)
        assert time.monotonic() - started < 30  # not the ~25 s parse


def test_worker_dies_with_the_indexer(tmp_path, deep_html):
    code = (
        "import sys, threading; sys.path.insert(0, sys.argv[1]);"
        "from index.limits import ExtractorProcess, Limits;"
        "w = ExtractorProcess(Limits(seconds=600)); w.extract(sys.argv[3]);"
        "print(w.pid, flush=True); w.extract(sys.argv[2])"
    )
    ok = make_docs.make_html(tmp_path, "ok.html", "OK", ["fine"])
    proc = subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(deep_html), str(ok)], stdout=subprocess.PIPE,
                            text=True)
    worker_pid = int(proc.stdout.readline())
    assert workers_of(proc.pid) == [worker_pid]
    time.sleep(0.3)  # busy parsing now
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while workers_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers_of(proc.pid) == []


def test_cancel_during_a_slow_file_leaves_it_unread(tmp_path, deep_html):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "deep.html").write_bytes(deep_html.read_bytes())
    cancel = threading.Event()
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        report = kb.index([str(docs)], cancel=cancel)
        assert report.cancelled and time.monotonic() - started < 20
        assert kb.catalog.file(str(docs / "deep.html")) is None  # not "failed": read again next time


# ------------------------------------------------------------ kills --


def test_sigkill_at_random_moments_then_resume(tmp_path):
    corpus = hostile.make_churn_corpus(tmp_path / "corpus", files=16)
    report = kill_test(corpus, tmp_path / "kb", kills=3, rng=random.Random(5), log=print)
    assert not report.problems, report.problems
    assert report.kills == 3 and report.consistent_restarts == 3 and report.crash_states_ok == 3
    assert report.orphan_workers == 0


def test_interrupted_between_vectors_and_catalog_every_way(tmp_path, monkeypatch):
    """Die at each write step of a batch; the next run repairs and ends consistent."""
    from index.catalog import Catalog
    from index.vectors import VectorStore

    corpus = hostile.make_churn_corpus(tmp_path / "corpus", files=4)
    real_store = Catalog.store_indexed
    for target, name in ((Catalog, "mark_vectors_pending"), (VectorStore, "upsert_many"), (Catalog, "store_indexed"),
                         (Catalog, "commit")):
        kb_dir = tmp_path / f"kb-{name}"
        with KnowledgeBase.open(kb_dir) as kb:
            kb.index([str(corpus)])
            hostile.churn(corpus, random.Random(name), 1)
            real = getattr(target, name)
            stored = []

            def die(self, *args, _real=real, _name=name, **kwargs):
                if _name != "commit" or stored:  # commit: the one that would make a batch's passages final
                    raise KeyboardInterrupt  # stands in for SIGKILL
                return _real(self, *args, **kwargs)

            def store(self, *args, **kwargs):
                stored.append(1)
                return real_store(self, *args, **kwargs)

            monkeypatch.setattr(target, name, die)
            if name == "commit":
                monkeypatch.setattr(Catalog, "store_indexed", store)
            with pytest.raises(KeyboardInterrupt):
                kb.index([str(corpus)])
            monkeypatch.undo()
            kb.catalog.rollback()
            assert check(kb, settled=False).ok
        with KnowledgeBase.open(kb_dir) as kb:
            kb.index([str(corpus)])
            result = check(kb)
            assert result.ok, (name, result.problems)
            on_disk = {str(p) for p in corpus.rglob("*") if p.is_file()}
            assert {r.path for r in kb.files() if r.status == "indexed"} == on_disk


# ------------------------------------------------------- second instance --


def test_second_instance_gets_a_clear_message(tmp_path, deep_html):
    corpus = hostile.make_churn_corpus(tmp_path / "corpus", files=6)
    (corpus / "zz-slow.html").write_bytes(deep_html.read_bytes())  # keeps the first instance busy for ~25 s
    kb_dir = tmp_path / "kb"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "index", str(corpus), "--kb", str(kb_dir), "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        lock = kb_dir / "docent.lock"
        deadline = time.monotonic() + 120
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)) and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.perf_counter()
        second = cli("status", "--kb", str(kb_dir))
        took = time.perf_counter() - started
        still_running = first.poll() is None
    finally:
        first.kill()
        first.wait()
    print(f"\nsecond instance answered in {took:.2f} s (first still indexing: {still_running})")
    assert second.returncode == 1
    assert second.stderr.strip() == (
        f"docent: knowledge base {kb_dir} is in use by another Docent process (pid {first.pid}); close it and retry"
    )
    assert cli("status", "--kb", str(kb_dir)).returncode == 0  # the kill freed the lock


# --------------------------------------------------------------- disk --


def test_disk_full_injected(tmp_path, monkeypatch, capsys):
    import main
    from index.catalog import Catalog

    docs = hostile.make_churn_corpus(tmp_path / "docs", files=6)
    more = hostile.make_churn_corpus(tmp_path / "more", files=6, seed=3)
    kb_dir = str(tmp_path / "kb")
    assert main.main(["index", str(docs), "--kb", kb_dir, "-q"]) == 0
    real = Catalog.store_indexed

    def full(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Catalog, "store_indexed", full)
    capsys.readouterr()
    assert main.main(["index", str(more), "--kb", kb_dir, "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"docent: disk full: cannot write to the knowledge base {kb_dir} (")
    assert err.count("\n") == 1 and "Traceback" not in err and "resume" in err
    monkeypatch.setattr(Catalog, "store_indexed", real)
    assert main.main(["status", "--kb", kb_dir, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files_indexed"] == 6
    assert main.main(["search", "river harbour", "--kb", kb_dir, "--json", "--mode", "lexical"]) == 0
    assert json.loads(capsys.readouterr().out)["results"]
    assert main.main(["index", str(more), "--kb", kb_dir, "-q"]) == 0
    with KnowledgeBase.open(kb_dir) as kb:
        assert check(kb).ok and kb.catalog.counts()["indexed"] == 12
    assert is_disk_full(OSError(28, "No space left on device"))
    assert not is_disk_full(sqlite3.OperationalError("database is locked"))


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_disk_full_on_a_real_small_disk(tmp_path):
    mount = tmp_path / "disk"
    if not _mount_tmpfs(mount, "12m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        small = hostile.make_churn_corpus(tmp_path / "a", files=4)
        big = hostile.make_churn_corpus(tmp_path / "b", files=12, seed=9)
        kb_dir = mount / "kb"
        assert cli("index", str(small), "--kb", str(kb_dir), "-q").returncode == 0
        filler = mount / "filler"
        with open(filler, "wb") as fh:
            os.posix_fallocate(fh.fileno(), 0, max(1, os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize - 300_000))
        full = cli("index", str(big), "--kb", str(kb_dir), "-q")
        assert full.returncode == 1, full.stderr
        assert full.stderr.strip().startswith("docent: disk full: cannot write to the knowledge base")
        assert full.stderr.strip().count("\n") == 0 and "Traceback" not in full.stderr
        status = cli("status", "--kb", str(kb_dir), "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["files_indexed"] >= 4
        search = cli("search", "river harbour", "--kb", str(kb_dir), "--json")  # hybrid: Chroma may not even start
        assert search.returncode == 0 and json.loads(search.stdout)["results"], search.stderr
        assert "Traceback" not in search.stderr
        filler.unlink()
        with KnowledgeBase.open(kb_dir) as kb:
            assert check(kb, settled=False).ok
        assert cli("index", str(big), "--kb", str(kb_dir), "-q").returncode == 0
        with KnowledgeBase.open(kb_dir) as kb:
            assert check(kb).ok and kb.catalog.counts()["indexed"] == 16
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


# ------------------------------------------------------------ private --


def test_knowledge_base_files_are_private(tmp_path):
    docs = hostile.make_churn_corpus(tmp_path / "docs", files=10)  # includes a PDF: worker, Chroma files
    old = os.umask(0o022)
    try:
        kb_dir = tmp_path / "kb"
        with KnowledgeBase.open(kb_dir) as kb:
            kb.index([str(docs)])
            assert kb.search("river", 1)
        count, loose = private_modes(kb_dir)
        assert count >= 8 and not loose, loose
        assert stat.S_IMODE(kb_dir.stat().st_mode) == 0o700
        for name in ("catalog.sqlite", "settings.json", "docent.lock"):
            assert stat.S_IMODE((kb_dir / name).stat().st_mode) == 0o600, name
        # A knowledge base written by an older version is corrected when opened.
        os.chmod(kb_dir / "catalog.sqlite", 0o644)
        os.chmod(kb_dir / "chroma", 0o755)
        KnowledgeBase.open(kb_dir).close()
        assert not private_modes(kb_dir)[1]
    finally:
        os.umask(old)


def test_disk_full_error_is_a_knowledge_base_error():
    from index.kb import KnowledgeBaseError

    assert issubclass(DiskFullError, KnowledgeBaseError)


def test_awkward_paths_given_explicitly(tmp_path):
    from index.sync import PathError

    bad_root = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff\xfe folder")
    os.mkdir(bad_root)
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        with pytest.raises(PathError, match="not valid UTF-8"):
            kb.index([bad_root])
        report = kb.index([str(fifo)])  # would block a reader forever
        assert report.files_failed == [{"path": str(fifo), "error": "not a regular file (a pipe, socket or device); skipped"}]


def test_a_huge_file_is_embedded_in_slices_with_progress_and_cancel(tmp_path, monkeypatch):
    import index.sync as sync

    monkeypatch.setattr(sync, "EMBED_SLICE", 2)
    docs = tmp_path / "docs"
    make_docs.make_txt(docs, "long.txt", "\n\n".join(f"Paragraph {n} about the river harbour. " * 20 for n in range(6)))
    seen = []
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        report = kb.index([str(docs)], progress=lambda p: seen.append(p.passages_done))
        assert report.files_indexed == 1 and kb.catalog.counts()["passages"] == 6
        assert {2, 4, 6} <= set(seen), seen  # progress moved inside the one file
        cancel = threading.Event()
        make_docs.make_txt(docs, "long.txt", "\n\n".join(f"Another paragraph {n} on tea. " * 30 for n in range(6)))
        report = kb.index([str(docs)], progress=lambda p: p.passages_done == 2 and cancel.set(), cancel=cancel)
        assert report.cancelled and kb.catalog.counts()["passages"] == 6  # nothing half-stored
        assert "river harbour" in kb.search("river harbour", 1)[0].passage.text
        assert check(kb).ok
