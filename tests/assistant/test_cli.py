"""`main.py ask` / `self-test`: streaming, --json, and one-line errors (no tracebacks)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import main as docent_main

pytestmark = [pytest.mark.cli, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def sample_kb(tmp_path_factory):
    from index.config import sample_docs_dir
    from index.kb import KnowledgeBase

    root = tmp_path_factory.mktemp("kb-samples")
    kb = KnowledgeBase.open(root / "kb")
    try:
        report = kb.index([str(sample_docs_dir())])
        assert report.files_indexed > 0
    finally:
        kb.close()
    return root / "kb"


def run(capsys, *argv):
    rc = docent_main.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(err: str) -> bool:
    lines = [l for l in err.splitlines() if l.strip()]
    return len(lines) == 1 and lines[0].startswith("docent: ") and "Traceback" not in err


def test_ask_empty_kb(tmp_path, capsys, tiny_model):
    rc, out, err = run(capsys, "ask", "What?", "--kb", str(tmp_path / "empty"), "--model", str(tiny_model("vikhr")), "--threads", "1")
    assert rc == 1 and one_line_error(err) and "empty" in err and out == ""


def test_ask_bad_models(sample_kb, tmp_path, capsys, tiny_model):
    rc, out, err = run(capsys, "ask", "What?", "--kb", str(sample_kb), "--model", str(tmp_path / "missing.gguf"))
    assert rc == 1 and one_line_error(err) and "not found" in err
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_model("vikhr").read_bytes()[:20_000])
    rc, out, err = run(capsys, "ask", "What?", "--kb", str(sample_kb), "--model", str(cut))
    assert rc == 1 and one_line_error(err) and "truncated" in err
    txt = tmp_path / "notes.gguf"
    txt.write_text("just some notes")
    rc, out, err = run(capsys, "ask", "What?", "--kb", str(sample_kb), "--model", str(txt))
    assert rc == 1 and one_line_error(err) and "not a GGUF" in err


def test_ask_question_too_long(sample_kb, capsys, tiny_model):
    rc, out, err = run(capsys, "ask", "why " * 600, "--kb", str(sample_kb), "--model", str(tiny_model("vikhr")), "--threads", "1", "--n-ctx", "512")
    assert rc == 1 and one_line_error(err) and "too long" in err


def test_ask_json_and_stream(sample_kb, capsys, tiny_model):
    rc, out, err = run(capsys, "ask", "Какова длина Транссиба?", "--kb", str(sample_kb), "--model", str(tiny_model("vikhr")), "--threads", "1",
                       "--json", "--max-tokens", "16")
    assert rc == 0, (out, err)
    obj = json.loads(out)
    assert list(obj)[:7] == ["relevant_doc_ids", "documents", "answer", "citations", "unsupported", "timings", "model"]
    assert obj["documents"] and all(set(d) == {"doc_id", "title", "content", "path", "page", "char_start", "char_end"}
                                    for d in obj["documents"])
    for d in obj["documents"]:
        text = Path(d["path"]).read_text(encoding="utf-8") if d["path"].endswith(".txt") else None
        if text is not None:
            assert text[d["char_start"]:d["char_end"]] == d["content"]
    assert obj["model"]["profile"] == "vikhr"
    rc, out, err = run(capsys, "ask", "Какова длина Транссиба?", "--kb", str(sample_kb), "--model", str(tiny_model("vikhr")), "--threads", "1",
                       "--max-tokens", "16")
    assert rc == 0 and out.strip()


def test_self_test_fails_when_the_answer_is_unsupported(capsys, tiny_model):
    """A random-weight model writes noise: the machinery checks hold, the answer's support does not -> exit 1."""
    rc, out, err = run(capsys, "self-test", "--model", str(tiny_model("vikhr")), "--threads", "1")
    assert rc == 1, out + err
    failed = [line for line in out.splitlines() if line.strip().startswith("FAIL")]
    assert failed and all("supported sentence" in f or "citations quote" in f for f in failed), out
    for held in ("indexed", "is supported by", "is not supported", "step 1 output parses", "not in the knowledge base"):
        assert any(held in line and line.strip().startswith("ok") for line in out.splitlines()), (held, out)
    assert "Traceback" not in out + err and "checks passed" in out


def test_self_test_bad_model_is_a_failed_check(capsys, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    rc, out, err = run(capsys, "self-test", "--model", str(bad))
    assert rc == 1 and "FAIL" in out and "not a GGUF" in out and "Traceback" not in out + err


@pytest.mark.gemma
def test_self_test_default_model(capsys):
    rc, out, err = run(capsys, "self-test")
    assert rc == 0, out + err
