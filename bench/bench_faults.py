"""Fault injection (issue 14): damage a real knowledge base every way a disk can, then use it.

A knowledge base is built from the XQuAD English and Russian articles (one file each, bench/evalsets.py)
with the real CLI. Each fault is written into a fresh copy of it; then, as a user would:
`search --batch` (a command that meets damage repairs first), and `check --repair --json` for
damage no search touches (on demand). Per fault:

  detected   the search or the check found it
  repaired   the knowledge base checks healthy afterwards
  same top-5 the top-5 results of fixed queries equal those before the damage (searching the
             undamaged copy several times must give one answer: search is repeatable)
  lost       documents indexed before the damage and not after (must be 0)
  repair     seconds the repair took, and its ratio to a full re-index of the same folder
             (the index run's own time, measured in this run: before the faults and after them)

Target: every fault detected and repaired, identical results, nothing lost; a repair whose
vectors survived (catalog faults) <= 0.5x a full re-index; opening a healthy knowledge base no
slower than the main branch's code (git archive main, timed alternately: min of medians,
<= 1.15x). Exit 1 on any miss.

Disk full during the repair needs a small tmpfs (root); without it that row says "skipped".
Usage: python bench/bench_faults.py [--articles 48] [--queries 20] [--only NAME,...]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import evalsets  # noqa: E402
from bench.bench_reliability import no_dac_prefix  # noqa: E402

PY = sys.executable
MAIN = str(ROOT / "main.py")
TARGET_RATIO = 0.5
OPEN_SLOWER_MAX = 1.15  # opening a healthy knowledge base: "not measurably slower" than the main branch
PAGE = 4096


def cli(*args: str, prefix: list[str] | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([*(prefix or []), PY, MAIN, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@dataclass
class Row:
    name: str
    detected: bool = False
    repaired: bool = False
    same: bool = False
    lost: int = 0
    seconds: float = 0.0
    ratio: float | None = None
    vectors_survive: bool = False
    clean: bool = True          # no traceback, no internal error
    note: str = ""
    skipped: str = ""

    @property
    def ok(self) -> bool:
        if self.skipped:
            return True
        good = self.detected and self.repaired and self.same and self.lost == 0 and self.clean
        if self.vectors_survive and self.ratio is not None:
            good = good and self.ratio <= TARGET_RATIO
        return good


@dataclass
class Bench:
    work: Path
    corpus: Path
    pristine: Path
    queries: Path
    before: list = field(default_factory=list)
    indexed: set = field(default_factory=set)
    full_index_s: list = field(default_factory=list)

    # -- measuring -----------------------------------------------------------------------
    def top5(self, kb: Path, prefix=None) -> tuple[list | None, subprocess.CompletedProcess]:
        proc = cli("search", "--kb", str(kb), "--batch", str(self.queries), "-k", "5", prefix=prefix)
        if proc.returncode != 0:
            return None, proc
        try:
            return [[(r["path"], r["char_start"], r["char_end"]) for r in json.loads(line)["results"]]
                    for line in proc.stdout.splitlines()], proc
        except (ValueError, KeyError):
            return None, proc

    @staticmethod
    def indexed_paths(kb: Path) -> set[str]:
        proc = cli("status", "--kb", str(kb), "--json")
        if proc.returncode != 0:
            return set()
        db = kb / "catalog.sqlite"
        import sqlite3

        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return {r[0] for r in con.execute("SELECT path FROM files WHERE status='indexed'")}
        finally:
            con.close()

    def full_index(self, kb: Path) -> float:
        proc = cli("index", str(self.corpus), "--kb", str(kb), "--json", "-q")
        if proc.returncode != 0:
            raise SystemExit(f"full index failed: {proc.stderr.strip()[-300:]}")
        seconds = json.loads(proc.stdout.splitlines()[-1])["seconds"]
        self.full_index_s.append(seconds)
        return seconds

    # -- one fault -----------------------------------------------------------------------
    def copy(self, name: str, parent: Path | None = None) -> Path:
        kb = (parent or self.work) / f"kb-{name}"
        if kb.exists():
            shutil.rmtree(kb)
        shutil.copytree(self.pristine, kb)
        return kb

    def run(self, name: str, damage, vectors_survive: bool, prefix=None, kb: Path | None = None,
            after=None, check_first: bool = False) -> Row:
        """Damage a copy, search (repairing on the way), check on demand, compare. `check_first`: damage
        that Chroma papers over when it opens (a segment file it writes again) is found by `check` first."""
        row = Row(name, vectors_survive=vectors_survive)
        kb = kb or self.copy(name)
        note = damage(kb)
        row.note = note or ""
        outputs = []
        found_first = False
        seconds: list[float] = []
        if check_first:  # on demand: detect and repair before anything opens the store
            early = _check_repair(kb, prefix, outputs, seconds)
            found_first = not early.get("healthy", True)
        results, proc = self.top5(kb, prefix=prefix)
        outputs.append(proc)
        if after is not None:  # e.g. free the disk, then the same command again
            row.note = (row.note + "; " if row.note else "") + after(kb, proc)
            results, proc = self.top5(kb, prefix=prefix)
            outputs.append(proc)
        repaired_by_search = "is damaged" in "".join(p.stderr for p in outputs)
        seconds += [float(s) for p in outputs for s in re.findall(r"repaired in ([0-9.]+) s", p.stderr)]
        report = _check_repair(kb, prefix, outputs, seconds)
        row.detected = found_first or repaired_by_search or not report.get("healthy", True)
        if report.get("repaired"):
            results, proc = self.top5(kb, prefix=prefix)
            outputs.append(proc)
        final = cli("check", "--kb", str(kb), "--json")
        outputs.append(final)
        try:
            row.repaired = final.returncode == 0 and json.loads(final.stdout)["healthy"]
        except (ValueError, KeyError):
            row.repaired = False
        row.same = results is not None and results == self.before
        if not row.same:
            row.note += "; " + _first_difference(self.before, results)
        row.lost = len(self.indexed - self.indexed_paths(kb))
        row.seconds = sum(seconds)
        base = min(self.full_index_s) if self.full_index_s else None
        row.ratio = row.seconds / base if base and seconds else None
        row.clean = not any("Traceback" in p.stderr or "internal error" in p.stderr for p in outputs)
        if not row.clean:
            row.note += " TRACEBACK: " + next(p.stderr for p in outputs if "Traceback" in p.stderr
                                              or "internal error" in p.stderr)[-300:]
        if not row.ok and not row.note:
            row.note = "; ".join(p.stderr.strip().splitlines()[-1] for p in outputs if p.stderr.strip())[:300]
        return row


def _check_repair(kb: Path, prefix, outputs: list, seconds: list) -> dict:
    """`check --repair --json`: its report ({} if none); the process and the repair time recorded."""
    proc = cli("check", "--kb", str(kb), "--repair", "--json", prefix=prefix)
    outputs.append(proc)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return {}
    if report.get("repaired"):
        seconds.append(float(report.get("seconds", 0.0)))
    return report


def _first_difference(before: list, after: list | None) -> str:
    if after is None:
        return "no results"
    for n, (b, a) in enumerate(zip(before, after)):
        if a != b:
            show = lambda hits: [(Path(p).parent.name + "/" + Path(p).name, s) for p, s, _ in hits]  # noqa: E731
            return f"query {n}: before {show(b)} after {show(a)}"
    return f"{len(before)} result lists before, {len(after)} after"


# -- the faults -------------------------------------------------------------------------------------


def zero_pages(rng: random.Random, count: int = 6):
    def damage(path: Path) -> str:
        pages = max(2, path.stat().st_size // PAGE)
        picked = sorted(rng.sample(range(1, pages), min(count, pages - 1)))
        with open(path, "r+b") as fh:
            for page in picked:
                fh.seek(page * PAGE)
                fh.write(b"\0" * PAGE)
        return f"pages {picked[:6]} of {pages} zeroed"
    return damage


def truncate(path: Path) -> str:
    size = path.stat().st_size
    os.truncate(path, size // 3)
    return f"cut from {size} to {size // 3} bytes"


def garbage_header(path: Path) -> str:
    with open(path, "r+b") as fh:
        fh.write(os.urandom(100))
    return "first 100 bytes random"


def delete(path: Path) -> str:
    path.unlink()
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.unlink()
    return "deleted"


def unreadable(path: Path) -> str:
    os.chmod(path, 0)
    return "mode 000"


def invalid_json(path: Path) -> str:
    text = path.read_bytes()
    path.write_bytes(text[: len(text) * 2 // 3] + b"\0\0{{")
    return "cut at 2/3, garbage after"


def at(relative: str, fault):
    return lambda kb: fault(kb / relative)


def segment_removed(rng: random.Random):
    def damage(kb: Path) -> str:
        files = sorted(p for p in (kb / "chroma").rglob("*.bin"))
        victim = rng.choice(files)
        victim.unlink()
        return f"removed {victim.relative_to(kb)}"
    return damage


def write_chats(kb: Path) -> None:
    conversations = [{"id": f"c{n}", "title": f"conversation {n}", "created": 1.0, "updated": 2.0,
                      "turns": [{"question": f"question {n}", "answer": f"answer {n}"}]} for n in range(6)]
    (kb / "docent-chats.json").write_text(json.dumps({"version": 1, "conversations": conversations}, indent=1),
                                          encoding="utf-8")


def _indexed_count(db: Path) -> int:
    """Files the (rebuilt) catalog holds as indexed, read-only; 0 while it cannot be read."""
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
    except sqlite3.Error:
        return 0
    try:
        return con.execute("SELECT count(*) FROM files WHERE status='indexed'").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        con.close()


def kill_during_repair(bench: Bench) -> Row:
    """SIGKILL a `check --repair` while it rebuilds the catalog: once the rebuilt catalog holds some of
    the files but not all (polled read-only: each batch of files commits on its own). The next command
    must find repair-pending.json, finish the repair and lose nothing."""
    staged = {"ok": False}

    def damage(kb: Path) -> str:
        delete(kb / "catalog.sqlite")  # the rebuilt catalog is then the only one to count in
        total = len(bench.indexed)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen([PY, MAIN, "check", "--repair", "--kb", str(kb)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 300
        done = 0
        while proc.poll() is None and time.monotonic() < deadline:
            if (kb / "repair-pending.json").exists():
                done = _indexed_count(kb / "catalog.sqlite")
                if 1 <= done < total:
                    break
            time.sleep(0.002)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        pending = (kb / "repair-pending.json").exists()
        done = _indexed_count(kb / "catalog.sqlite")
        staged["ok"] = not finished and pending and done < total
        if not staged["ok"]:
            return f"NOT STAGED: repair {'finished' if finished else 'running'}, {done}/{total} files, " \
                   f"repair-pending.json {'left' if pending else 'absent'}"
        return f"killed at {done}/{total} files rebuilt; repair-pending.json left"
    row = bench.run("kill-during-repair", damage, vectors_survive=True)
    if not staged["ok"]:
        row.detected = False  # the kill did not land inside the repair: nothing was measured
    return row


def disk_full_during_repair(bench: Bench) -> Row:
    mount = bench.work / "small-disk"
    mount.mkdir(exist_ok=True)
    size_mb = max(32, int(sum(f.stat().st_size for f in bench.pristine.rglob("*") if f.is_file()) * 3 / 2**20))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return Row("disk-full-during-repair", skipped=f"cannot mount tmpfs ({r.stderr.strip()[:80]})")
    try:
        kb = bench.copy("diskfull", parent=mount)

        def damage(kb: Path) -> str:
            delete(kb / "catalog.sqlite")
            free = shutil.disk_usage(mount).free
            with open(mount / "filler", "wb") as fh:
                fh.write(b"\0" * max(0, free - 96 * 1024))
            return f"catalog deleted; tmpfs of {size_mb} MB filled to {shutil.disk_usage(mount).free // 1024} KB free"

        def free_space(kb: Path, first: subprocess.CompletedProcess) -> str:
            said = first.stderr.strip().splitlines()[-1] if first.stderr.strip() else ""
            (mount / "filler").unlink()
            full = first.returncode == 1 and "disk full" in said and "Traceback" not in first.stderr
            return f"first run: exit {first.returncode}, {'disk-full message' if full else repr(said[:120])}; space freed"

        row = bench.run("disk-full-during-repair", damage, vectors_survive=True, kb=kb, after=free_space)
        if "disk-full message" not in row.note:
            row.same = False  # the full disk must have been reported as such
        return row
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


_OPEN_COST = (
    "import statistics, sys, time; sys.path.insert(0, sys.argv[1]); from index.kb import KnowledgeBase\n"
    "KnowledgeBase.open(sys.argv[2]).close()\n"
    "times = []\n"
    "for _ in range(int(sys.argv[3])):\n"
    "    t = time.perf_counter(); KnowledgeBase.open(sys.argv[2]).close(); times.append(time.perf_counter() - t)\n"
    "print(statistics.median(times))"
)


def open_cost(bench: Bench, rounds: int = 5, opens: int = 40) -> tuple[float, float | None, float]:
    """Opening a healthy knowledge base: median seconds with this code and with the main branch's
    (git archive, side by side, alternately); and what a quick scan would add to every opening."""
    base = bench.work / "main-tree"
    base.mkdir(exist_ok=True)
    r = subprocess.run(f"git -C {ROOT} archive main | tar -x -C {base}", shell=True, capture_output=True)
    trees = [ROOT] + ([base] if r.returncode == 0 and (base / "index" / "kb.py").exists() else [])
    kb = bench.copy("open-cost")
    got: dict[Path, list[float]] = {t: [] for t in trees}
    for _ in range(rounds):
        for tree in trees:
            proc = subprocess.run([PY, "-c", _OPEN_COST, str(tree), str(kb), str(opens)], capture_output=True,
                                  text=True, env=dict(os.environ, PYTHONPATH=str(tree)))
            if proc.returncode == 0:
                got[tree].append(float(proc.stdout.strip().splitlines()[-1]))
    from index.repair import quick_scan

    scans = []
    for _ in range(opens):
        t = time.perf_counter()
        quick_scan(kb)
        scans.append(time.perf_counter() - t)
    mine = min(got[ROOT])
    theirs = min(got[base]) if trees[1:] and got[base] else None
    return mine, theirs, sorted(scans)[len(scans) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=48, help="documents (half English, half Russian)")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--baseline-runs", type=int, default=5, help="searches of the undamaged copy")
    parser.add_argument("--only", default="", help="comma-separated fault names")
    args = parser.parse_args()
    if not evalsets.available("en"):
        print("bench_faults: the XQuAD dev set is missing (../shared/eval; DOCENT_EVAL_DIR)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="docent-faults-"))
    try:
        return run_all(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_all(work: Path, args) -> int:
    corpus = work / "docs"
    picked = []
    for lang in ("en", "ru"):  # XQuAD: 24 articles per language
        if not evalsets.available(lang):
            continue
        questions = evalsets.build(lang, corpus / lang)
        for extra in sorted((corpus / lang).glob("*.txt"))[args.articles // 2:]:
            extra.unlink()
        kept = {str(p.resolve()) for p in (corpus / lang).glob("*.txt")}
        usable = [q.text for q in questions if q.path in kept]
        picked += usable[:: max(1, len(usable) // args.queries)][: args.queries // 2]
    queries = work / "queries.txt"
    queries.write_text("\n".join(picked) + "\n", encoding="utf-8")
    bench = Bench(work, corpus, work / "pristine", queries)
    seconds = bench.full_index(bench.pristine)
    write_chats(bench.pristine)
    # The same question must get the same answer in every process (index/chroma_store.py's query):
    # the undamaged copy is searched several times, each a new process, and must agree with itself.
    variants: list[set] = []
    for _ in range(args.baseline_runs):
        got, proc = bench.top5(bench.pristine)
        if got is None:
            raise SystemExit(f"search failed on the pristine knowledge base: {proc.stderr[-300:]}")
        bench.before = bench.before or got
        variants = variants or [set() for _ in got]
        for seen, hits in zip(variants, got):
            seen.add(tuple(hits))
    unstable = sum(len(v) > 1 for v in variants)
    bench.indexed = bench.indexed_paths(bench.pristine)
    print(f"knowledge base: {len(bench.indexed)} documents, {len(picked)} queries; full index {seconds:.1f} s; "
          f"{unstable} queries gave more than one top-5 over {args.baseline_runs} searches of the undamaged copy")

    rng = random.Random(14)
    nodac = no_dac_prefix() if os.geteuid() == 0 else []
    faults = [
        ("catalog-zeroed-pages", at("catalog.sqlite", zero_pages(rng)), True, None),
        ("catalog-truncated", at("catalog.sqlite", truncate), True, None),
        ("catalog-garbage-header", at("catalog.sqlite", garbage_header), True, None),
        ("catalog-deleted", at("catalog.sqlite", delete), True, None),
        ("catalog-unreadable", at("catalog.sqlite", unreadable), True, nodac),
        ("chroma-zeroed-pages", at("chroma/chroma.sqlite3", zero_pages(rng)), False, None),
        ("chroma-truncated", at("chroma/chroma.sqlite3", truncate), False, None),
        ("chroma-garbage-header", at("chroma/chroma.sqlite3", garbage_header), False, None),
        ("chroma-deleted", at("chroma/chroma.sqlite3", delete), False, None),
        ("chroma-unreadable", at("chroma/chroma.sqlite3", unreadable), False, nodac),
        ("chroma-segment-removed", segment_removed(rng), False, None),
        ("settings-invalid-json", at("settings.json", invalid_json), True, None),
        ("chats-invalid-json", at("docent-chats.json", invalid_json), True, None),
        ("folders-invalid-json", at("folders.json", invalid_json), True, None),
    ]
    only = {n for n in args.only.split(",") if n}
    rows: list[Row] = []
    if unstable:
        rows.append(Row("repeatable-search", note=f"{unstable} queries ranked differently on the undamaged copy"))
    for name, damage, survive, prefix in faults:
        if only and name not in only:
            continue
        if prefix is None and name.endswith("unreadable"):
            rows.append(Row(name, skipped="needs root and setpriv"))
            continue
        rows.append(bench.run(name, damage, survive, prefix=prefix or None, check_first=name == "chroma-segment-removed"))
        print(_line(rows[-1]), flush=True)
    for name, fn in (("kill-during-repair", kill_during_repair), ("disk-full-during-repair", disk_full_during_repair)):
        if only and name not in only:
            continue
        rows.append(fn(bench))
        print(_line(rows[-1]), flush=True)
    if not only or "open" in only:
        mine, theirs, scan = open_cost(bench)
        compared = f"main branch {theirs * 1000:.1f} ms, ratio {mine / theirs:.2f}" if theirs else "main branch n/a"
        print(f"healthy open+close: {mine * 1000:.1f} ms ({compared}); the quick scan it skips: {scan * 1000:.1f} ms")
        if theirs and mine > theirs * OPEN_SLOWER_MAX:
            rows.append(Row("open-healthy", note=f"{mine / theirs:.2f}x slower than main"))
    again = work / "reindex"
    print(f"full re-index again (side by side): {bench.full_index(again):.1f} s; "
          f"baseline = the faster of {', '.join(f'{s:.1f}' for s in bench.full_index_s)} s")
    base = min(bench.full_index_s)
    for row in rows:  # ratios against the best full re-index of this run
        if row.seconds and not row.skipped:
            row.ratio = row.seconds / base
    print()
    print(f"{'fault':26} {'detected':8} {'repaired':8} {'same top-5':10} {'lost':4} {'repair s':8} {'ratio':6}  note")
    for row in rows:
        print(_line(row))
    missed = [r.name for r in rows if not r.ok]
    print(f"\nfull re-index: {base:.1f} s; target: repair with surviving vectors <= {TARGET_RATIO}x")
    if missed:
        print(f"MISSED: {', '.join(missed)}")
        return 1
    print("all faults detected and repaired; results identical; nothing lost")
    return 0


def _line(row: Row) -> str:
    if row.skipped:
        return f"{row.name:26} skipped: {row.skipped}"
    yes = lambda b: "yes" if b else "NO"  # noqa: E731
    ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
    if row.vectors_survive and row.ratio is not None and row.ratio > TARGET_RATIO:
        ratio += "!"
    return (f"{row.name:26} {yes(row.detected):8} {yes(row.repaired):8} {yes(row.same):10} {row.lost:<4} "
            f"{row.seconds:8.1f} {ratio:6}  {row.note[:110]}")


if __name__ == "__main__":
    sys.exit(main())
