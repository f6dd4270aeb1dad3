"""`main.py verify`: any text checked against a real knowledge base (real Chroma, real index), via subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.cli, pytest.mark.timeout(300)]

TRANSSIB = (
    "The Trans-Siberian Railway connects Moscow with Vladivostok. Construction began on 31 May 1891.\n\n"
    "The line is 9,288 kilometres long and crosses eight time zones. The railway does not cross Mongolia.\n"
)
CHADO = "茶道は日本の伝統文化である。わび茶を大成したのは千利休である。千利休は1522年に堺で生まれた。\n"
RU = "Электрификация всей магистрали была завершена в 2002 году. Её длина составляет 9288 километров.\n"


def docent(*argv, stdin: str | None = None, env_home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCENT_HOME=str(env_home), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], input=stdin, capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=280)


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify-kb")
    docs = root / "docs"
    docs.mkdir()
    (docs / "transsib.en.txt").write_text(TRANSSIB, encoding="utf-8")
    (docs / "chado.ja.txt").write_text(CHADO, encoding="utf-8")
    (docs / "transsib.ru.txt").write_text(RU, encoding="utf-8")
    proc = docent("index", str(docs), "--kb", str(root / "kb"), "--json", env_home=root)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files_indexed"] == 3
    return root


def test_verify_json_verdicts_and_offsets(kb, tmp_path):
    text = ("The railway connects Moscow with Vladivostok. Construction began on 31 May 1895. "
            "The railway crosses Mongolia. 千利休は1522年に堺で生まれた。 Электрификация завершена в 2012 году. "
            "Penguins live in the Sahara desert.")
    draft = tmp_path / "draft.txt"
    draft.write_text(text, encoding="utf-8")
    proc = docent("verify", str(draft), "--kb", str(kb / "kb"), "--json", env_home=kb)
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    verdicts = [s["verdict"] for s in obj["sentences"]]
    assert verdicts == ["supported", "contradicted", "contradicted", "supported", "contradicted", "unsupported"]
    assert obj["counts"] == {"supported": 2, "partial": 0, "contradicted": 3, "unsupported": 1}
    for s in obj["sentences"]:
        assert text[s["start"]:s["end"]] == s["text"]
        c = s["citation"]
        if s["verdict"] == "unsupported":
            assert c is None and s["missing"] == [] and s["conflict"] is None
            continue
        source = Path(c["path"]).read_text(encoding="utf-8")
        assert source[c["char_start"]:c["char_end"]] == c["quote"]   # offsets follow search
        assert set(c) == {"path", "title", "page", "char_start", "char_end", "quote"}
    year = obj["sentences"][1]["conflict"]
    assert (year["claim"], year["source"]) == ("1895", "1891")
    assert text[year["claim_start"]:year["claim_end"]] == "1895"
    en = Path(obj["sentences"][1]["citation"]["path"]).read_text(encoding="utf-8")
    assert en[year["source_start"]:year["source_end"]] == "1891"
    assert obj["sentences"][1]["missing"] == [{"start": text.index("1895"), "end": text.index("1895") + 4, "text": "1895"}]
    assert obj["sentences"][4]["conflict"]["source"] == "2002"


def test_verify_stdin_and_human_output(kb):
    proc = docent("verify", "-", "--kb", str(kb / "kb"), stdin="Construction began on 31 May 1895.", env_home=kb)
    assert proc.returncode == 0, proc.stderr
    assert "[contradicted]" in proc.stdout and "the source says '1891'" in proc.stdout
    assert "1 contradicted" in proc.stdout


def test_verify_batch_keeps_lines_aligned(kb, tmp_path):
    batch = tmp_path / "batch.txt"
    batch.write_text("The line is 9,288 kilometres long.\n\n   \nThe line is 9,300 kilometres long.\n", encoding="utf-8")
    proc = docent("verify", "--batch", str(batch), "--kb", str(kb / "kb"), "-k", "3", env_home=kb)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == 5
    first, blank1, blank2, last = lines[:4]
    assert blank1 == "" and blank2 == ""
    assert json.loads(first)["sentences"][0]["verdict"] == "supported"
    assert json.loads(last)["sentences"][0]["verdict"] == "contradicted"


def one_line_error(proc) -> bool:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("docent: ") and proc.stdout == ""


def test_verify_expected_failures_are_one_line(kb, tmp_path):
    assert one_line_error(docent("verify", str(tmp_path / "missing.txt"), "--kb", str(kb / "kb"), env_home=kb))
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    proc = docent("verify", str(empty), "--kb", str(kb / "kb"), env_home=kb)
    assert one_line_error(proc) and "empty" in proc.stderr
    draft = tmp_path / "draft.txt"
    draft.write_text("Anything at all.", encoding="utf-8")
    proc = docent("verify", str(draft), "--kb", str(tmp_path / "no-kb"), env_home=kb)
    assert one_line_error(proc) and "index" in proc.stderr
