"""The indexing engine end to end: real files, real Chroma, the real default embedding model."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index.kb import KnowledgeBase, KnowledgeBaseBusy
from index.sync import PathError

ROOT = Path(__file__).resolve().parents[1]

DOCS = {
    "en/rail.md": "# Railways\n\nThe Trans-Siberian Railway connects Moscow with Vladivostok.\n\n"
    "It is 9,289 kilometres long and crosses eight time zones.\n",
    "en/tea.txt": "Green tea is produced from leaves that are not withered or oxidized.\r\n\r\n"
    "Matcha is a finely ground powder of specially grown green tea leaves.\r\n",
    "ru/reka.txt": "Волга — крупнейшая река Европы. Её длина составляет 3530 километров.\n\n"
    "Волга впадает в Каспийское море.\n",
    "ja/fuji.txt": "富士山は日本で最も高い山である。標高は3776メートルである。\n\n山頂には神社がある。\n",
}


def write_docs(root: Path) -> Path:
    for rel, text in DOCS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return root


def consistent(kb: KnowledgeBase) -> None:
    """Manifest, lexical index and Chroma agree: same passages, nothing orphaned."""
    db = kb.catalog.db
    n_passages = db.execute("SELECT count(*) FROM passages").fetchone()[0]
    n_fts = db.execute("SELECT count(*) FROM passages_fts").fetchone()[0]
    assert n_passages == n_fts
    listed = db.execute("SELECT sum(n_passages) FROM files WHERE status='indexed'").fetchone()[0] or 0
    assert listed == n_passages
    assert set(kb.catalog.all_vector_ids()) == set(kb.vectors.all_ids())


@pytest.fixture
def corpus(tmp_path):
    return write_docs(tmp_path / "docs")


def test_index_search_and_offsets(tmp_path, corpus):
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        report = kb.index([str(corpus)])
        assert report.files_seen == 4 and report.files_indexed == 4 and not report.files_failed
        consistent(kb)
        for query, expected in [
            ("How long is the Trans-Siberian railway?", "rail.md"),
            ("Какова длина Волги?", "reka.txt"),
            ("富士山の標高", "fuji.txt"),
            ("matcha powder", "tea.txt"),
        ]:
            hits = kb.search(query, 3)
            assert hits and hits[0].passage.path.endswith(expected), (query, [h.passage.path for h in hits])
            for hit in hits:
                p = hit.passage
                raw = Path(p.path).read_bytes().decode("utf-8")
                assert raw[p.char_start : p.char_end] == p.text
                assert kb.text_of(p.path)[p.char_start : p.char_end] == p.text


def test_index_pipeline_analyses_each_passage_once_and_restores_the_switch_interval(tmp_path, corpus, monkeypatch):
    """The writer thread analyses each passage once (the lexical terms are those of the analyser) and
    the run gives the GIL switch interval back as it found it."""
    from index import analysis

    calls: list[str] = []
    real = analysis.index_terms

    def counted(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(analysis, "index_terms", counted)
    interval = sys.getswitchinterval()
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.index([str(corpus)])
        assert sys.getswitchinterval() == interval
        rows = kb.catalog.db.execute(
            "SELECT p.text, f.terms FROM passages p JOIN passages_fts f ON f.rowid = p.id").fetchall()
        assert len(calls) == len(rows) == kb.vectors.count() > 0
        for text, terms in rows:
            assert terms == " ".join(real(text)[1])
        consistent(kb)


def test_the_apps_vector_worker_makes_the_knowledge_base_an_in_process_run_makes(tmp_path, corpus, monkeypatch):
    """The desktop app keeps Chroma in its worker process (its upserts hold the GIL the window needs);
    an index run through it makes the knowledge base a command-line run makes in-process."""
    import numpy as np

    from index import vector_worker

    monkeypatch.delenv("DOCENT_VECTORS_IN_PROCESS", raising=False)
    made = {}
    for name, app in (("in-process", False), ("worker", True)):
        monkeypatch.setattr(vector_worker, "_wanted", app)  # as the command line, then as the app
        with KnowledgeBase.open(tmp_path / name) as kb:
            kb.index([str(corpus)])
            assert kb.vectors.in_process == (name == "in-process")
            consistent(kb)
            rows = kb.catalog.db.execute(
                "SELECT fi.path, p.ordinal, p.char_start, p.char_end, p.vector_id, f.terms FROM passages p "
                "JOIN passages_fts f ON f.rowid = p.id JOIN files fi ON fi.id = p.file_id ORDER BY fi.path, p.ordinal"
            ).fetchall()
            vectors = np.stack([kb.vectors.embedding(vid) for *_, vid, _ in rows])
            question = kb.embedder.embed_query("Какова длина Волги?")
            units = kb.vectors.unit_scores(question, [r[4] for r in rows])
            made[name] = rows, vectors, np.array([units[r[4]] for r in rows if r[4] in units])
    (rows, vectors, units), (rows2, vectors2, units2) = made["in-process"], made["worker"]
    assert rows == rows2 and len(units) == len(units2) > 0
    # Float-equal only up to BLAS rounding: which files share an embedding batch depends on timing.
    assert np.allclose(vectors, vectors2, atol=1e-5) and np.allclose(units, units2, atol=1e-3)


def test_incremental_sync_rename_change_delete(tmp_path, corpus, monkeypatch):
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.index([str(corpus)])
        vectors_before = kb.vectors.count()

        again = kb.index([str(corpus)])
        assert (again.files_indexed, again.files_unchanged, again.files_removed) == (0, 4, 0)

        # A rename reuses passages and vectors: embedding must not run at all.
        os.rename(corpus / "en/tea.txt", corpus / "en/green-tea.txt")
        monkeypatch.setattr(kb.embedder, "embed_passages", lambda texts: pytest.fail("re-embedded a renamed file"))
        moved = kb.index([str(corpus)])
        assert (moved.files_indexed, moved.files_removed) == (1, 0)
        assert kb.search("matcha powder", 1)[0].passage.path.endswith("green-tea.txt")
        assert kb.vectors.count() == vectors_before
        monkeypatch.undo()

        (corpus / "ru/reka.txt").write_text("Енисей — река в Сибири, впадает в Карское море.\n", encoding="utf-8")
        os.remove(corpus / "ja/fuji.txt")
        changed = kb.index([str(corpus)])
        assert (changed.files_indexed, changed.files_removed, changed.files_unchanged) == (1, 1, 2)
        assert kb.search("Енисей", 1)[0].passage.path.endswith("reka.txt")
        assert not [h for h in kb.search("Волга", 5) if "Волга" in h.passage.text]
        assert not [h for h in kb.search("富士山", 5) if "富士山" in h.passage.text]
        consistent(kb)


def test_copies_share_vectors(tmp_path, corpus):
    shutil.copy(corpus / "en/rail.md", corpus / "en/rail-copy.md")
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.index([str(corpus)])
        consistent(kb)
        os.remove(corpus / "en/rail.md")
        kb.index([str(corpus)])
        consistent(kb)
        assert kb.search("Vladivostok", 1)[0].passage.path.endswith("rail-copy.md")


def test_bad_input_gets_reasons_and_run_goes_on(tmp_path, corpus):
    bad = corpus / "bad"
    bad.mkdir()
    (bad / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (bad / "empty.txt").write_bytes(b"")
    (bad / "loop").symlink_to(bad, target_is_directory=True)
    (bad / "dangling.txt").symlink_to(bad / "nowhere.txt")
    huge = bad / "huge.txt"
    with open(huge, "wb") as fh:  # sparse: 500 MB on paper, nothing on disk
        fh.truncate(500 * 1024 * 1024)
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        report = kb.index([str(corpus)])
        reasons = {Path(f["path"]).name: f["error"] for f in report.files_failed}
        assert report.files_indexed == 4
        assert set(reasons) == {"binary.txt", "empty.txt", "dangling.txt", "huge.txt"}, reasons
        assert "too large" in reasons["huge.txt"]
        assert "binary" in reasons["binary.txt"]
        assert all(reason and "Traceback" not in reason for reason in reasons.values())
        consistent(kb)
        with pytest.raises(PathError):
            kb.index([str(tmp_path / "missing")])


def test_empty_folder_and_unsupported_file(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    odd = tmp_path / "image.xyz"
    odd.write_bytes(b"\x89PNG")
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        report = kb.index([str(empty)])
        assert report.files_seen == 0 and report.files_indexed == 0
        report = kb.index([str(odd)])
        assert report.files_failed and "unsupported" in report.files_failed[0]["error"]
        assert kb.search("anything", 5) == []


def test_second_instance_is_refused(tmp_path):
    with KnowledgeBase.open(tmp_path / "kb"):
        with pytest.raises(KnowledgeBaseBusy, match="in use"):
            KnowledgeBase.open(tmp_path / "kb")
    KnowledgeBase.open(tmp_path / "kb").close()  # free again once closed


def run_cli(*args, check=True):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def test_cli_json_contract(tmp_path, corpus):
    kb = str(tmp_path / "kb")
    out = json.loads(run_cli("index", str(corpus), "--kb", kb, "--json").stdout)
    assert set(out) == {"files_seen", "files_indexed", "files_unchanged", "files_removed", "files_failed", "chunks_total", "seconds"}
    assert out["files_indexed"] == 4 and out["chunks_total"] >= 4

    res = json.loads(run_cli("search", "Vladivostok", "--kb", kb, "-k", "2", "--json").stdout)
    first = res["results"][0]
    assert set(first) == {"rank", "score", "path", "title", "page", "char_start", "char_end", "text"}
    assert first["rank"] == 1 and first["path"].endswith("rail.md") and len(res["results"]) <= 2
    assert Path(first["path"]).read_text(encoding="utf-8")[first["char_start"] : first["char_end"]] == first["text"]

    batch = tmp_path / "queries.txt"
    batch.write_text("Vladivostok\nВолга\n富士山\n", encoding="utf-8")
    lines = run_cli("search", "--batch", str(batch), "--kb", kb, "-k", "1").stdout.splitlines()
    assert [json.loads(l)["results"][0]["path"].rsplit("/", 1)[1] for l in lines] == ["rail.md", "reka.txt", "fuji.txt"]

    status = json.loads(run_cli("status", "--kb", kb, "--json").stdout)
    assert status["files_indexed"] == 4 and status["chunks_total"] == out["chunks_total"]

    human = run_cli("index", str(corpus), "--kb", kb)
    assert "4 unchanged" in human.stdout


def test_cli_errors_are_one_line(tmp_path):
    proc = run_cli("index", str(tmp_path / "missing"), "--kb", str(tmp_path / "kb"), check=False)
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr
    proc = run_cli("search", "x", "--kb", str(tmp_path / "kb"), check=False)
    assert proc.returncode == 1 and "empty" in proc.stderr


def test_cli_second_instance_message(tmp_path, corpus):
    with KnowledgeBase.open(tmp_path / "kb"):
        proc = run_cli("status", "--kb", str(tmp_path / "kb"), check=False)
    assert proc.returncode == 1 and "in use by another Docent process" in proc.stderr


def test_identical_new_files_in_one_batch(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.txt", "b.txt", "c.md"):
        (docs / name).write_text("Identical content about the Volga river.\n", encoding="utf-8")
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        report = kb.index([str(docs)])
        assert report.files_indexed == 3 and not report.files_failed
        consistent(kb)
        assert kb.vectors.count() == 1


def test_file_deleted_during_the_run(tmp_path, corpus, monkeypatch):
    import index.sync as sync

    real_scan = sync.scan

    def scan_then_delete(roots):
        found = list(real_scan(roots))
        os.remove(corpus / "en/tea.txt")  # vanishes after the scan, before it is read
        return found

    monkeypatch.setattr(sync, "scan", scan_then_delete)
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        report = kb.index([str(corpus)])
        assert report.files_indexed == 3
        [failure] = report.files_failed
        assert failure["path"].endswith("tea.txt") and "not found" in failure["error"]
        consistent(kb)


def test_crash_between_vectors_and_catalog_is_repaired(tmp_path, corpus, monkeypatch):
    """Vectors written, catalog commit never happens (a kill): the next run removes the orphans."""
    from index.catalog import Catalog

    with KnowledgeBase.open(tmp_path / "kb") as kb:
        def die(*args, **kwargs):
            raise KeyboardInterrupt  # stands in for SIGKILL at the worst moment

        monkeypatch.setattr(Catalog, "store_indexed", die)
        with pytest.raises(KeyboardInterrupt):
            kb.index([str(corpus)])
        assert kb.vectors.count() > 0 and kb.catalog.counts()["passages"] == 0
    monkeypatch.undo()
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.collect_garbage()
        assert kb.vectors.count() == 0  # orphans gone before anything else happens
        report = kb.index([str(corpus)])
        assert report.files_indexed == 4
        consistent(kb)
