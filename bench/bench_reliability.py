"""Reliability, security and the offline guarantee (issue 6), measured end to end.

Drives `main.py` as a user would (subprocesses) and prints:

  hostile   files tried / handled with a reason / crashes / hangs, over the
            hostile corpus of tests/fixtures/hostile.py (100 MB single-line
            text, PDF stream bomb, nested HTML, zip bombs, permission denied,
            link loops, PATH_MAX paths ...), indexed with the default limits,
            without the root privilege of reading everything (setpriv);
            plus a file deleted after the scan and one rewritten while read
  single    the 100 MB single line: extract + chunk time and peak memory
  worker    cost of reading in the extraction worker vs in-process
  kills     SIGKILL of `index` at random moments (>= 20 times) while the corpus
            changes between runs; after each kill the crash state is checked,
            then `index` restarts and the knowledge base must be consistent:
            the same passages in catalog, FTS and Chroma, no duplicates, every
            file indexed
  second    time for a second instance to get the "in use" message
  disk      disk full while indexing (a size-limited tmpfs): message, exit
            code, and `status`/`search` still working afterwards
  offline   index, search, ask, self-test inside `unshare -n` under strace:
            connection attempts (must be 0)
  private   modes of the knowledge-base files

Usage: python bench/bench_reliability.py [--kills 20] [--big-mb 100] [--skip ask,selftest,gui,...]
Needs root for setpriv/tmpfs/unshare; without it those parts say "skipped".
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.integrity import check  # noqa: E402
from index.kb import KnowledgeBase  # noqa: E402
from tests.fixtures import hostile  # noqa: E402

PY = sys.executable
MAIN = str(ROOT / "main.py")
INDEXABLE = re.compile(r"\.(txt|md|html|pdf|docx)$")


def cli(*args: str, timeout: float = 900, env: dict | None = None, prefix: list[str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env)
    env.setdefault("PYTHONPATH", str(ROOT))
    return subprocess.run([*(prefix or []), PY, MAIN, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, input=stdin)


def no_dac_prefix() -> list[str] | None:
    """Run as root *without* the right to read everything (real permission-denied errors)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    probe = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "true"], capture_output=True)
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if probe.returncode == 0 else None


def workers_of(pid: int) -> list[int]:
    """Extraction workers started by `pid` that are still alive (their argv names the parent)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path("/proc", entry, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 4 and b"worker_entry" in argv[2] and argv[4] == str(pid).encode():
            found.append(int(entry))
    return found


# --------------------------------------------------------------- kills --


@dataclass
class KillReport:
    kills: int = 0
    targeted: int = 0  # kills aimed at the moment vectors are being written (chroma_gc not empty)
    finished_before_kill: int = 0
    crash_states_ok: int = 0
    consistent_restarts: int = 0
    orphan_workers: int = 0
    problems: list[str] = field(default_factory=list)


def _first_line(stream, got: threading.Event) -> None:
    for _ in stream:
        got.set()
    got.set()


def indexed_paths(kb) -> set[str]:
    return {r.path for r in kb.files() if r.status == "indexed"}


def _vectors_in_flight(kb_dir: Path) -> bool:
    """True while a run has vectors written (or being written) that its catalog has not committed."""
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{kb_dir / 'catalog.sqlite'}?mode=ro", uri=True, timeout=0.05)
        try:
            return db.execute("SELECT count(*) FROM chroma_gc").fetchone()[0] > 0
        finally:
            db.close()
    except sqlite3.Error:
        return False


def kill_test(corpus: Path, kb_dir: Path, kills: int, rng: random.Random, log=print,
              env: dict | None = None, targeted_share: float = 0.5) -> KillReport:
    """SIGKILL `main.py index` `kills` times; check after each kill (crash state) and after each
    restart (settled state, every file indexed, search works).

    Kills land at a random moment of the run's work, or (a `targeted_share` of them)
    the moment the catalog shows vectors in flight: between "vectors pending" and the
    commit of the passages, the window a random kill rarely hits.
    """
    report = KillReport()
    window = 4.0  # seconds of work after the scan; re-estimated from the runs that finish
    step = 0
    attempts = 0
    while report.kills < kills and attempts < kills * 4:
        attempts += 1
        step += 1
        if step > 1:
            hostile.churn(corpus, rng, step)
        env2 = dict(os.environ if env is None else env, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen([PY, MAIN, "index", str(corpus), "--kb", str(kb_dir)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=env2)
        scanned = threading.Event()
        threading.Thread(target=_first_line, args=(proc.stderr, scanned), daemon=True).start()
        scanned.wait(300)
        t_scan = time.monotonic()
        targeted = step > 1 and rng.random() < targeted_share
        delay = rng.uniform(0.0, window)
        if targeted:  # poll the catalog (read-only) and strike when vectors are in flight
            while proc.poll() is None and not _vectors_in_flight(kb_dir) and time.monotonic() - t_scan < 120:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.005))
            delay = time.monotonic() - t_scan
        while not targeted and time.monotonic() - t_scan < delay and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is not None:
            report.finished_before_kill += 1
            window = max(0.5, (time.monotonic() - t_scan) * 1.1)
            if proc.returncode != 0:
                report.problems.append(f"run {step} exited {proc.returncode} without a kill")
            continue
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        report.kills += 1
        report.targeted += targeted
        deadline = time.monotonic() + 3
        while workers_of(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        orphans = workers_of(proc.pid)
        if orphans:
            report.orphan_workers += len(orphans)
            report.problems.append(f"kill {report.kills}: extraction workers outlived the indexer: {orphans}")
        with KnowledgeBase.open(kb_dir) as kb:
            crash = check(kb, settled=False)
        if crash.ok:
            report.crash_states_ok += 1
        else:
            report.problems.append(f"kill {report.kills} crash state: {crash.problems}")
        restart = cli("index", str(corpus), "--kb", str(kb_dir), "--json", "-q", env=env2)
        on_disk = {os.path.abspath(p) for p in map(str, corpus.rglob("*")) if INDEXABLE.search(p)}
        with KnowledgeBase.open(kb_dir) as kb:
            settled = check(kb, settled=True)
            indexed = indexed_paths(kb)
            hits = kb.search("river harbour railway", 3, mode="lexical")
        lost = on_disk - indexed
        stale = indexed - on_disk
        ok = restart.returncode == 0 and settled.ok and not lost and not stale and hits
        if ok:
            report.consistent_restarts += 1
        else:
            report.problems.append(
                f"kill {report.kills} restart rc={restart.returncode} {restart.stderr.strip()[-200:]!r} "
                f"problems={settled.problems} lost={sorted(lost)[:3]} stale={sorted(stale)[:3]} hits={len(hits)}"
            )
        log(f"  kill {report.kills:2d} at scan+{delay:4.1f} s{' (vectors in flight)' if targeted else ''} | "
            f"crash state: {crash.summary()}")
        log(f"          restart: {'ok ' if ok else 'BAD'} {settled.summary()}; {len(on_disk)} files on disk")
    return report


# ------------------------------------------------------------- hostile --


@dataclass
class HostileReport:
    tried: int = 0
    handled: int = 0
    indexed: int = 0
    failed_with_reason: int = 0
    crashes: int = 0
    hangs: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)


def hostile_run(work: Path, big_bytes: int, settings: dict | None = None, log=print,
                env: dict | None = None, hang_after: float = 1800) -> HostileReport:
    """Index the hostile corpus through the CLI (without DAC override when root); check each outcome."""
    from index.config import EngineSettings

    corpus = hostile.make_hostile_corpus(work / "hostile", big_text_bytes=big_bytes)
    kb_dir = work / "kb-hostile"
    KnowledgeBase.open(kb_dir, EngineSettings(**(settings or {}))).close()
    prefix = no_dac_prefix()
    privileged = prefix is None and hostile.reads_everything()
    rep = HostileReport()
    env2 = dict(os.environ if env is None else env, PYTHONPATH=str(ROOT))
    started = time.monotonic()
    proc = subprocess.Popen([*(prefix or []), PY, MAIN, "index", str(corpus.root), "--kb", str(kb_dir), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env2)
    # The first progress line comes right after the scan: now one file vanishes, one starts changing.
    first = proc.stderr.readline()
    if corpus.volatile is not None and first:
        corpus.volatile.after_scan(seconds=3.0)
    try:
        out, err = proc.communicate(timeout=hang_after)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        rep.hangs += 1
        rep.problems.append(f"indexing the hostile corpus did not finish in {hang_after:.0f} s")
    finally:
        if corpus.volatile is not None:
            corpus.volatile.stop()
    rep.seconds = time.monotonic() - started
    err = first + err
    if proc.returncode not in (0, None) or "Traceback" in err:
        rep.crashes += 1
        rep.problems.append(f"indexer exit code {proc.returncode}: {err.strip()[-300:]}")
    with KnowledgeBase.open(kb_dir) as kb:
        outcomes = hostile.outcomes_from_kb(kb)
        integrity = check(kb)
    rep.problems += hostile.check_outcomes(corpus, outcomes, privileged)
    if not integrity.ok:
        rep.problems.append(f"integrity: {integrity.problems}")
    for rel, expect in corpus.expected.items():
        if expect.outcome == hostile.SKIPPED:
            continue
        got = outcomes.get(hostile.display(corpus.path(rel)))
        if got is None:
            if expect.outcome == hostile.MAYBE_UNSEEN:
                continue
            rep.tried += 1
            continue
        rep.tried += 1
        if got.status == "indexed":
            rep.indexed += 1
            rep.handled += 1
        elif got.status == "failed" and got.error:
            rep.failed_with_reason += 1
            rep.handled += 1
            rep.reasons[rel] = got.error
    if "took longer" in " ".join(rep.reasons.values()):
        log("  (files over the per-file deadline are handled: they fail with 'took longer than ... s')")
    hostile.remove_corpus(corpus.root)
    return rep


def single_line_cost(work: Path, big_bytes: int) -> str:
    """Extract + chunk the big single line in a fresh process: wall time and peak RSS."""
    path = hostile.write_single_line(work / "one_line.txt", big_bytes)
    code = (
        "import resource, sys, time; sys.path.insert(0, sys.argv[2]);"
        "from index.extract import extract; from index import chunking;"
        "t = time.perf_counter(); x = extract(sys.argv[1], max_bytes=1 << 40); t1 = time.perf_counter();"
        "spans = chunking.chunk(x.text, 1000); t2 = time.perf_counter();"
        "assert all(s.end - s.start <= 1000 for s in spans);"
        "print(f'{len(x.text) / 1e6:.0f} M chars: extract {t1 - t:.2f} s, chunk {t2 - t1:.2f} s -> {len(spans):,} passages, '"
        "f'peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB')"
    )
    proc = subprocess.run([PY, "-c", code, str(path), str(ROOT)], capture_output=True, text=True, timeout=600)
    path.unlink()
    return proc.stdout.strip() or proc.stderr.strip()[-300:]


def worker_cost(work: Path, files: int = 200) -> str:
    """Reading HTML files in the extraction worker vs in-process."""
    from index.extract import extract
    from index.limits import ExtractorProcess, Limits
    from tests.fixtures import make_docs

    folder = work / "worker-cost"
    paths = [make_docs.make_html(folder, f"p{n}.html", f"Page {n}", [make_docs.EN, make_docs.RU] * 3) for n in range(files)]
    t = time.perf_counter()
    for p in paths:
        extract(p)
    here = time.perf_counter() - t
    t = time.perf_counter()
    ep = ExtractorProcess(Limits())
    ep.extract(str(paths[0]))
    start = time.perf_counter() - t
    t = time.perf_counter()
    for p in paths:
        ep.extract(str(p))
    there = time.perf_counter() - t
    ep.close()
    shutil.rmtree(folder)
    return (f"{files} HTML files: in-process {1000 * here / files:.2f} ms/file, in the worker {1000 * there / files:.2f} "
            f"ms/file (+{1000 * (there - here) / files:.2f} ms); worker start {start:.2f} s")


# -------------------------------------------------------------- second --


def second_instance(work: Path, corpus: Path) -> tuple[float | None, str, int]:
    """Seconds until a second `status` on a knowledge base being indexed gets its message."""
    kb_dir = work / "kb-second"
    proc = subprocess.Popen([PY, MAIN, "index", str(corpus), "--kb", str(kb_dir), "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    lock = kb_dir / "docent.lock"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the pid is written once the lock is held
        if lock.exists() and lock.read_text().strip() == str(proc.pid):
            break
        time.sleep(0.02)
    t = time.perf_counter()
    second = cli("status", "--kb", str(kb_dir), timeout=60)
    took = time.perf_counter() - t
    proc.kill()
    proc.wait()
    return took, second.stderr.strip(), second.returncode


# ---------------------------------------------------------------- disk --


def disk_full(work: Path, log=print) -> dict:
    """Index into a knowledge base on a nearly full tmpfs; then status/search; then free space and resume."""
    mount = work / "small-disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True)
    if r.returncode != 0:
        return {"skipped": f"cannot mount tmpfs ({r.stderr.strip()})"}
    try:
        small = hostile.make_churn_corpus(work / "disk-a", files=6)
        big = hostile.make_churn_corpus(work / "disk-b", files=120, seed=11)
        kb_dir = mount / "kb"
        first = cli("index", str(small), "--kb", str(kb_dir), "--json", "-q")
        free = shutil.disk_usage(mount).free
        filler = mount / "filler"
        with open(filler, "wb") as fh:  # leave ~400 KB (allocated, not sparse)
            os.posix_fallocate(fh.fileno(), 0, max(1, free - 400 * 1024))
        t = time.perf_counter()
        full = cli("index", str(big), "--kb", str(kb_dir), "--json", "-q")
        seconds = time.perf_counter() - t
        status = cli("status", "--kb", str(kb_dir), "--json")
        search = cli("search", "river harbour", "--kb", str(kb_dir), "--json", "-k", "2", "--mode", "lexical")
        with KnowledgeBase.open(kb_dir) as kb:
            crash = check(kb, settled=False)
        filler.unlink()
        resumed = cli("index", str(big), "--kb", str(kb_dir), "--json", "-q")
        with KnowledgeBase.open(kb_dir) as kb:
            settled = check(kb)
        return {
            "first": first.returncode,
            "full_rc": full.returncode,
            "full_stderr": full.stderr.strip(),
            "full_seconds": seconds,
            "status_rc": status.returncode,
            "status_files": json.loads(status.stdout)["files_indexed"] if status.returncode == 0 else None,
            "search_rc": search.returncode,
            "search_hits": len(json.loads(search.stdout)["results"]) if search.returncode == 0 else None,
            "after_full": crash.summary(),
            "after_full_ok": crash.ok,
            "resumed_rc": resumed.returncode,
            "resumed": settled.summary(),
            "resumed_ok": settled.ok,
        }
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


# ------------------------------------------------------------- offline --

_CONNECT = re.compile(r"\b(connect|sendto|sendmsg)\((\d+), .*?sa_family=(AF_\w+)(.*)")


def offline_run(name: str, args: list[str], log_dir: Path, env: dict, timeout: float = 1800) -> dict:
    """Run `main.py args` inside a network namespace with no interfaces, under strace."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return {"name": name, "skipped": "needs root and unshare"}
    trace = log_dir / f"strace-{name}.log"
    prefix = ["unshare", "-n"]
    if shutil.which("strace"):
        prefix += ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-e", "signal=none", "-o", str(trace)]
    t = time.perf_counter()
    proc = subprocess.run([*prefix, PY, *args], capture_output=True, text=True, env=env, timeout=timeout)
    seconds = time.perf_counter() - t
    inet = []
    local = 0
    if trace.exists():
        for line in trace.read_text(errors="replace").splitlines():
            m = _CONNECT.search(line)
            if not m:
                continue
            if m.group(3) in ("AF_INET", "AF_INET6"):
                inet.append(line.strip()[:200])
            else:
                local += 1
    return {"name": name, "rc": proc.returncode, "seconds": seconds, "inet": inet, "local": local,
            "traced": trace.exists(), "tail": (proc.stdout + proc.stderr).strip().splitlines()[-2:]}


# ------------------------------------------------------------- private --


def private_modes(kb_dir: Path) -> tuple[int, list[str]]:
    """(paths checked, paths with any group/other permission bit) in a knowledge base."""
    paths = [str(kb_dir)]
    for dirpath, dirnames, filenames in os.walk(kb_dir):
        paths += [os.path.join(dirpath, n) for n in dirnames + filenames]
    loose = [f"{oct(stat.S_IMODE(os.lstat(p).st_mode))} {p}" for p in paths if stat.S_IMODE(os.lstat(p).st_mode) & 0o077]
    return len(paths), loose


# ---------------------------------------------------------------- main --


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--kill-files", type=int, default=60)
    ap.add_argument("--big-mb", type=int, default=100)
    ap.add_argument("--skip", default="", help="comma list: hostile,single,worker,kills,second,disk,offline,ask,selftest,gui")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    rng = random.Random(args.seed)
    summary: list[str] = []
    failures = 0
    with tempfile.TemporaryDirectory(prefix="docent-bench-rel-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("DOCENT_HOME", str(work / "home"))
        base_env = dict(os.environ, PYTHONPATH=str(ROOT))

        if "hostile" not in skip:
            print("== hostile corpus (default limits: 60 s and 2 GB per file, 10 M characters) ==", flush=True)
            rep = hostile_run(work, args.big_mb * 2**20)
            for rel, reason in sorted(rep.reasons.items()):
                print(f"  failed  {hostile.display(rel)[:60]:60} {reason}")
            for p in rep.problems:
                print(f"  PROBLEM {p}")
            line = (f"hostile files tried {rep.tried} / handled with a reason {rep.handled} "
                    f"({rep.indexed} indexed, {rep.failed_with_reason} failed with a reason) / crashes {rep.crashes} / "
                    f"hangs {rep.hangs}; {rep.seconds:.0f} s; problems {len(rep.problems)}")
            print(line, flush=True)
            summary.append(line)
            failures += bool(rep.problems or rep.crashes or rep.hangs or rep.handled != rep.tried)

        if "single" not in skip:
            line = f"single line {args.big_mb} MB: {single_line_cost(work, args.big_mb * 2**20)}"
            print(line, flush=True)
            summary.append(line)

        if "worker" not in skip:
            line = f"worker cost: {worker_cost(work)}"
            print(line, flush=True)
            summary.append(line)

        corpus = hostile.make_churn_corpus(work / "churn", files=args.kill_files)
        if "kills" not in skip:
            print(f"== SIGKILL during `index` ({args.kills} kills, corpus changing between runs) ==", flush=True)
            t = time.perf_counter()
            kr = kill_test(corpus, work / "kb-kill", args.kills, rng, env=base_env)
            for p in kr.problems:
                print(f"  PROBLEM {p}")
            line = (f"kills {kr.kills} ({kr.targeted} while vectors were in flight) / consistent restarts "
                    f"{kr.consistent_restarts} / crash states consistent {kr.crash_states_ok} / "
                    f"runs that finished before their kill {kr.finished_before_kill} / "
                    f"orphaned workers {kr.orphan_workers} ({time.perf_counter() - t:.0f} s)")
            print(line, flush=True)
            summary.append(line)
            failures += bool(kr.problems or kr.kills < args.kills or kr.consistent_restarts != kr.kills)

        if "second" not in skip:
            took, message, rc = second_instance(work, corpus)
            line = f"second instance: exit {rc} after {took:.2f} s: {message!r}"
            print(line, flush=True)
            summary.append(line)
            failures += bool(rc != 1 or "in use" not in message or took > 2)

        if "disk" not in skip:
            print("== disk full (16 MB tmpfs, ~400 KB left) ==", flush=True)
            d = disk_full(work)
            for k, v in d.items():
                print(f"  {k}: {v}")
            if "skipped" in d:
                line = f"disk full: skipped ({d['skipped']})"
            else:
                line = (f"disk full: index exit {d['full_rc']} after {d['full_seconds']:.1f} s with {d['full_stderr']!r}; "
                        f"afterwards status exit {d['status_rc']}, search exit {d['search_rc']} ({d['search_hits']} hits), "
                        f"consistent {d['after_full_ok']}; after freeing space index exit {d['resumed_rc']}, "
                        f"consistent {d['resumed_ok']}")
                failures += bool(d["full_rc"] != 1 or "disk full" not in d["full_stderr"] or "\n" in d["full_stderr"]
                                 or d["status_rc"] or d["search_rc"] or not d["after_full_ok"] or d["resumed_rc"]
                                 or not d["resumed_ok"])
            print(line, flush=True)
            summary.append(line)

        if "offline" not in skip:
            print("== offline: unshare -n + strace ==", flush=True)
            env = dict(base_env)
            for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ANONYMIZED_TELEMETRY", "HF_HUB_DISABLE_TELEMETRY"):
                env.pop(k, None)  # Docent must set these itself
            kb_dir = work / "kb-offline"
            from index.config import sample_docs_dir

            runs = [("index", [MAIN, "index", str(sample_docs_dir()), "--kb", str(kb_dir), "--json", "-q"]),
                    ("search", [MAIN, "search", "Транссибирская магистраль", "--kb", str(kb_dir), "--json"])]
            if "ask" not in skip:
                runs.append(("ask", [MAIN, "ask", "How long is the Trans-Siberian railway?", "--kb", str(kb_dir),
                                     "--json", "--max-tokens", "48"]))
            if "selftest" not in skip:
                runs.append(("self-test", [MAIN, "self-test"]))
            if "gui" not in skip:
                runs.append(("gui-test", ["-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "test_gui.py")]))
            total_inet = 0
            for name, argv in runs:
                r = offline_run(name, argv, work, dict(env, QT_QPA_PLATFORM="offscreen"))
                if "skipped" in r:
                    line = f"offline {name}: skipped ({r['skipped']})"
                else:
                    total_inet += len(r["inet"])
                    line = (f"offline {name}: exit {r['rc']} in {r['seconds']:.1f} s; network connection attempts "
                            f"{len(r['inet'])} (local/unix/netlink {r['local']}); traced {r['traced']}")
                    for c in r["inet"][:5]:
                        line += f"\n    {c}"
                    if r["rc"] != 0:
                        line += f"\n    {r['tail']}"
                    failures += bool(r["rc"] != 0 or r["inet"])
                print(line, flush=True)
                summary.append(line)
            summary.append(f"connections attempted while offline: {total_inet} (must be 0)")
            count, loose = private_modes(kb_dir)
            line = f"private: {count} knowledge-base paths checked, {len(loose)} readable by others {loose[:3]}"
            print(line, flush=True)
            summary.append(line)
            failures += bool(loose)

    print("\n== summary ==")
    for line in summary:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
