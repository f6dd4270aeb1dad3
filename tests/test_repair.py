"""Issue 14: knowledge bases that repair themselves. A real knowledge base on disk, real damage
written into its real files, the real CLI in a subprocess: the same search results after the
damage as before it, nothing lost, never a traceback. The long version is bench/bench_faults.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index import repair
from index.kb import KnowledgeBase
from index.lock import KnowledgeBaseBusy
from tests.fixtures.netguard import no_network  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("no_network")

TOPICS = {
    "rail": "The Trans-Siberian Railway connects Moscow with Vladivostok. It is 9,289 kilometres long.",
    "tea": "Green tea is produced from leaves that are not withered or oxidized. Matcha is a ground powder.",
    "volga": "Волга — крупнейшая река Европы. Её длина составляет 3530 километров. Волга впадает в Каспийское море.",
    "fuji": "富士山は日本で最も高い山である。標高は3776メートルである。山頂には神社がある。",
    "bees": "Honey bees live in colonies with one queen, thousands of workers and a few hundred drones.",
    "moon": "The Moon is Earth's only natural satellite; its far side was first photographed in 1959.",
    "salt": "Sea salt is made by evaporating seawater in shallow ponds under the sun and wind.",
    "clock": "A pendulum clock keeps time because a pendulum of fixed length swings at a fixed period.",
}
QUERIES = ["How long is the Trans-Siberian railway?", "Какова длина Волги?", "富士山の標高", "matcha powder",
           "queen bee colony", "far side of the Moon", "evaporating seawater", "pendulum period"]


def make_corpus(folder: Path) -> Path:
    for n, (name, text) in enumerate(TOPICS.items()):
        sub = folder / ("a" if n % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        filler = " ".join(f"{name} note {i}: {text}" for i in range(12))  # a few passages each
        (sub / f"{name}.txt").write_text(f"{text}\n\n{filler}\n", encoding="utf-8")
    return folder


def cli(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    return proc


def results(kb_dir: Path, mode: str = "hybrid") -> list:
    """Top-5 (path, char_start) of every query, through `search --batch` (one process)."""
    batch = kb_dir.parent / "queries.txt"
    batch.write_text("\n".join(QUERIES) + "\n", encoding="utf-8")
    proc = cli("search", "--kb", str(kb_dir), "--batch", str(batch), "-k", "5", "--mode", mode)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return [[(r["path"], r["char_start"]) for r in line["results"]] for line in lines], proc.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A knowledge base indexed once; each test copies it."""
    base = tmp_path_factory.mktemp("repair")
    corpus = make_corpus(base / "docs")
    kb_dir = base / "kb"
    proc = cli("index", str(corpus), "--kb", str(kb_dir), "-q")
    assert proc.returncode == 0, proc.stderr
    before = {mode: results(kb_dir, mode)[0] for mode in ("hybrid", "dense", "lexical")}
    assert all(before["hybrid"]) and all(before["dense"])
    return base, corpus, kb_dir, before


@pytest.fixture
def kb_copy(built, tmp_path):
    import shutil

    _, corpus, kb_dir, before = built
    copy = tmp_path / "kb"
    shutil.copytree(kb_dir, copy)
    return copy, corpus, before


def zero_pages(path: Path, first: int, count: int, page: int = 4096) -> None:
    with open(path, "r+b") as fh:
        fh.seek(first * page)
        fh.write(b"\0" * page * count)


def damaged_dirs(kb_dir: Path) -> list[Path]:
    return sorted(kb_dir.glob("damaged-*"))


# -- the catalog ------------------------------------------------------------------------------------


def test_zeroed_catalog_pages_search_repairs_first_and_answers_the_same(kb_copy):
    kb_dir, corpus, before = kb_copy
    catalog = kb_dir / "catalog.sqlite"
    pages = catalog.stat().st_size // 4096
    zero_pages(catalog, 1, max(1, pages - 2))  # all but the header page and the last: every table is hit
    after, stderr = results(kb_dir)
    assert after == before["hybrid"]
    assert "damaged" in stderr and "repaired" in stderr and "lost: nothing" in stderr
    assert "vectors reused" in stderr and " 0 embedded" in stderr  # the vectors survived: no re-embedding
    kept = damaged_dirs(kb_dir)
    assert len(kept) == 1 and (kept[0] / "catalog.sqlite").exists()  # set aside, never deleted
    proc = cli("check", "--kb", str(kb_dir), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["healthy"]


def test_check_reports_damage_then_repairs_it(kb_copy):
    kb_dir, corpus, before = kb_copy
    catalog = kb_dir / "catalog.sqlite"
    catalog.write_bytes(b"this is not a database" * 200)  # a garbage header
    proc = cli("check", "--kb", str(kb_dir), "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert not report["healthy"] and report["damaged"][0]["part"] == "catalog"
    assert "check --repair" in proc.stderr
    proc = cli("check", "--kb", str(kb_dir), "--repair", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["repaired"] and "catalog" in report["rebuilt"] and report["lost"] == []
    assert report["vectors_embedded"] == 0 and report["vectors_reused"] > 0
    assert results(kb_dir)[0] == before["hybrid"]


def test_deleted_catalog_rebuilt_from_the_mirrored_folders(kb_copy):
    kb_dir, corpus, before = kb_copy
    for name in repair.CATALOG_FILES:
        if (kb_dir / name).exists():
            (kb_dir / name).unlink()
    proc = cli("check", "--kb", str(kb_dir), "--repair", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rebuilt"] == ["catalog"]
    assert results(kb_dir)[0] == before["hybrid"]


# -- the vector store -----------------------------------------------------------------------------


def test_chroma_garbage_dense_search_repairs_and_answers_the_same(kb_copy):
    kb_dir, corpus, before = kb_copy
    (kb_dir / "chroma" / "chroma.sqlite3").write_bytes(os.urandom(64 * 1024))
    after, stderr = results(kb_dir, "dense")
    assert after == before["dense"]
    assert "rebuilt vectors" in stderr
    assert results(kb_dir, "hybrid")[0] == before["hybrid"]


def test_garbage_sentence_vectors_search_keeps_working_and_repair_rebuilds_them(kb_copy):
    from index import sentence_vectors

    kb_dir, corpus, before = kb_copy
    units = kb_dir / "chroma" / sentence_vectors.FILE
    assert units.exists()
    units.write_bytes(os.urandom(32 * 1024))
    after, stderr = results(kb_dir, "dense")  # never a traceback; the passage vectors still rank
    assert all(after)
    proc = cli("check", "--kb", str(kb_dir), "--repair", "--json")
    assert proc.returncode == 0, proc.stderr
    with KnowledgeBase.open(kb_dir) as kb:
        assert repair.vectors_problem(kb_dir) is None
        assert kb.vectors.unit_scores(kb.embedder.embed_query("tea"), kb.vectors.all_ids()).keys() == set(
            kb.catalog.all_vector_ids())
    assert results(kb_dir, "dense")[0] == before["dense"]


def test_removed_chroma_segment_files_search_answers_the_same(kb_copy):
    """Small stores live in Chroma's log (its SQLite file), larger ones in HNSW segment files too:
    bench/bench_faults.py removes one from a store that has them. Here: nothing may break."""
    kb_dir, corpus, before = kb_copy
    segments = [p for p in (kb_dir / "chroma").rglob("*.bin")]
    assert segments
    for path in segments:
        path.unlink()
    proc = cli("check", "--kb", str(kb_dir), "--repair", "--json")
    assert proc.returncode == 0, proc.stderr
    assert results(kb_dir, "dense")[0] == before["dense"]


# -- settings and conversations -------------------------------------------------------------------


def test_damaged_settings_and_chats_keep_what_parses(kb_copy):
    kb_dir, corpus, before = kb_copy
    settings = json.loads((kb_dir / "settings.json").read_text())
    settings["document_chars"] = 3210
    text = json.dumps(settings, indent=2)
    cut = text.index('"remote"')  # the tail is gone: what follows "remote" cannot parse
    (kb_dir / "settings.json").write_text(text[:cut] + '"remo\0\0\0', encoding="utf-8")
    chats = {"version": 1, "conversations": [
        {"id": "keep", "title": "first", "turns": [{"question": "q1", "answer": "a1"}]},
        {"id": "cut", "title": "second", "turns": [{"question": "q2", "answer": "a2"}]},
    ]}
    raw = json.dumps(chats)
    (kb_dir / "docent-chats.json").write_text(raw[: raw.index('"cut"') + 10], encoding="utf-8")
    proc = cli("check", "--kb", str(kb_dir), "--repair", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {d["part"] for d in report["damaged"]} == {"settings", "conversations"}
    assert any("remote" in n for n in report["notices"]) and any("1 kept" in n for n in report["notices"])
    kept = json.loads((kb_dir / "settings.json").read_text())
    assert kept["document_chars"] == 3210 and kept["embedding_model"] == settings["embedding_model"]
    from gui.conversations import ConversationStore

    assert [c.id for c in ConversationStore(kb_dir).conversations] == ["keep"]
    assert (Path(report["moved_to"]) / "docent-chats.json").exists()
    assert results(kb_dir)[0] == before["hybrid"]


# -- detection is cheap when healthy --------------------------------------------------------------


def test_healthy_open_runs_no_scan_and_an_unclean_one_does(kb_copy, monkeypatch):
    kb_dir, corpus, before = kb_copy
    scans = []
    real = repair.quick_scan
    monkeypatch.setattr(repair, "quick_scan", lambda root: scans.append(root) or real(root))
    with KnowledgeBase.open(kb_dir) as kb:
        assert kb.damage == []
    assert scans == []
    # A holder killed without closing leaves its pid: the next opening checks the files.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from index.kb import KnowledgeBase; "
        "kb = KnowledgeBase.open(sys.argv[2]); print('open', flush=True); time.sleep(60)"),
        str(ROOT), str(kb_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "open"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    zero_pages(kb_dir / "catalog.sqlite", 2, 3)
    with KnowledgeBase.open(kb_dir) as kb:
        assert scans == [kb_dir]
        assert [d.part for d in kb.damage] == ["catalog"]


# -- the lock -------------------------------------------------------------------------------------


def test_lock_dies_with_its_holder_even_when_a_forked_child_lives_on(tmp_path):
    """A child forked while the knowledge base is open (no exec) must not keep it locked after the parent
    is killed: the lock belongs to the process, not to the open file."""
    kb_dir = tmp_path / "kb"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import os, sys, time; sys.path.insert(0, sys.argv[1]); from index.kb import KnowledgeBase; "
        "kb = KnowledgeBase.open(sys.argv[2]); child = os.fork()\n"
        "if child == 0:\n    time.sleep(60); os._exit(0)\n"
        "print(child, flush=True); time.sleep(60)"), str(ROOT), str(kb_dir)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        with pytest.raises(KnowledgeBaseBusy):
            KnowledgeBase.open(kb_dir)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        os.kill(child, 0)  # the child still lives, with the lock file open
        with KnowledgeBase.open(kb_dir) as kb:  # at once, not when the child exits
            assert kb.damage == []
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_one_process_cannot_open_a_knowledge_base_twice(tmp_path):
    with KnowledgeBase.open(tmp_path / "kb"):
        with pytest.raises(KnowledgeBaseBusy, match="in use"):
            KnowledgeBase.open(tmp_path / "kb")
        with pytest.raises(KnowledgeBaseBusy):  # still refused: the refusal did not drop the lock
            KnowledgeBase.open(tmp_path / "kb")
    KnowledgeBase.open(tmp_path / "kb").close()


# -- the same answer every time -----------------------------------------------------------------------


def test_dense_candidates_come_from_a_wider_pool_so_search_repeats(tmp_path):
    """HNSW searched only as wide as the k asked for misses a near neighbour now and then, differently in
    each process (Chroma rebuilds a small graph on every start), so the same question ranked differently
    after a repair. The store's query searches a wider pool and keeps the k nearest, ties by id: on random
    vectors (HNSW's hard case) it misses next to nothing where the narrow search misses several."""
    import numpy as np

    from index.chroma_store import ChromaStore

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"h{i // 10}#{i % 10}" for i in range(len(vectors))]
    store = ChromaStore(tmp_path / "chroma")
    missed = {"pool": 0, "narrow": 0}
    try:
        store.upsert_ids(ids, vectors)
        for query in rng.standard_normal((40, 64)).astype(np.float32):
            exact = {ids[i] for i in np.argsort(-(vectors @ (query / np.linalg.norm(query))))[:50]}
            got = store.query(query, 50)
            assert len(got) == 50 and got == sorted(got, key=lambda t: (-t[1], t[0]))
            missed["pool"] += len(exact - {vid for vid, _ in got})
            narrow = store.collection.query(query_embeddings=[query], n_results=50, include=[])["ids"][0]
            missed["narrow"] += len(exact - set(narrow))
    finally:
        store.close()
    assert missed["pool"] <= 2 and missed["pool"] < missed["narrow"], missed  # measured: 0-1 against 4-11


# -- a repair cut short ---------------------------------------------------------------------------


def test_repair_killed_midway_is_resumed_by_the_next_command(kb_copy):
    kb_dir, corpus, before = kb_copy
    (kb_dir / "catalog.sqlite").write_bytes(b"\0" * 8192)
    for name in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        if (kb_dir / name).exists():
            (kb_dir / name).unlink()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "check", "--repair", "--kb", str(kb_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while not (kb_dir / repair.PENDING_FILE).exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert (kb_dir / repair.PENDING_FILE).exists()  # killed while repairing
    after, stderr = results(kb_dir)
    assert "interrupted" in stderr
    assert after == before["hybrid"]
    assert not (kb_dir / repair.PENDING_FILE).exists()


def test_not_repairable_says_why_in_one_line(kb_copy):
    kb_dir, corpus, before = kb_copy
    (kb_dir / "catalog.sqlite").write_bytes(b"garbage" * 1000)
    blocker = kb_dir / "damaged-blocked"
    os.chmod(kb_dir, 0o500)  # cannot move anything aside
    prefix = _no_dac()
    if prefix is None:
        os.chmod(kb_dir, 0o700)
        pytest.skip("root without setpriv: permissions are not enforced")
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.run([*prefix, sys.executable, str(ROOT / "main.py"), "check", "--repair", "--kb",
                               str(kb_dir)], capture_output=True, text=True, env=env, timeout=300)
    finally:
        os.chmod(kb_dir, 0o700)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("docent:")]
    assert lines and "could not be repaired" in lines[-1], proc.stderr
    assert not blocker.exists()


def _no_dac():
    if os.geteuid() != 0:
        return []
    from bench.bench_reliability import no_dac_prefix

    return no_dac_prefix()


# -- the app --------------------------------------------------------------------------------------


def test_app_repairs_a_damaged_knowledge_base_in_the_background(qtbot, kb_copy):
    """Opened in the app, a knowledge base whose catalog is unreadable rebuilds itself in the background
    with progress in the status bar; then search answers as before. Screenshot: repair-progress.png."""
    pytest.importorskip("PySide6")
    from gui.main_window import MainWindow
    from gui.settings import AppSettings
    from gui.tasks import TaskManager

    kb_dir, corpus, before = kb_copy
    with open(kb_dir / "catalog.sqlite", "r+b") as fh:
        fh.write(os.urandom(100))  # a garbage header: the catalog does not even open
    tasks = TaskManager()
    window = MainWindow(tasks, AppSettings())
    qtbot.addWidget(window)
    messages: list[str] = []
    shots: list[str] = []

    def seen(text: str) -> None:
        messages.append(text)
        done, _, total = text.rpartition(", ")[2].partition(" files")[0].partition("/")
        if done.isdigit() and total.isdigit() and (not shots or int(done) < int(total)):
            # the screenshot the issue asks for: the latest progress before the end (a later one replaces it)
            shots.append(text)
            from PySide6.QtWidgets import QApplication

            QApplication.processEvents()
            (ROOT / "artifacts" / "screenshots").mkdir(parents=True, exist_ok=True)
            assert window.grab().save(str(ROOT / "artifacts" / "screenshots" / "repair-progress.png"))

    window.session.repair_status.connect(seen)
    window.resize(1360, 820)
    window.show()
    try:
        assert window.session.open_now(kb_dir)
        qtbot.waitUntil(lambda: any("repaired" in m or "could not" in m for m in messages), timeout=300_000)
        assert messages[0] == "Knowledge base damaged: rebuilding from your documents"
        assert any(m.endswith(f"/{len(TOPICS)} files") for m in messages)
        assert messages[-1] == "Knowledge base repaired (catalog); documents lost: 0"
        assert window.status_label.text() == messages[-1]
        kb = window.session.kb
        got = [[(h.passage.path, h.passage.char_start) for h in kb.search(q, 5)] for q in QUERIES]
        assert got == before["hybrid"]
    finally:
        window.shutdown()
        tasks.shutdown()
