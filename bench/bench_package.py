"""Packaged app vs source run: cold start and size (issue 5 target: packaged <= 1.5x source).

Three start-up measurements, each for `python main.py` (the venv) and `dist/docent/docent`
(the PyInstaller one-dir app), in a fresh HOME every run:

  status       `status --json`: CLI start, argument parsing, opening the knowledge base
  gui          spawn to the desktop window's first paint (gui/app.py, DOCENT_BENCH_STARTUP=1, offscreen)
  first-query  `search QUERY` on a small indexed knowledge base: imports chromadb,
               onnxruntime and the embedding model (the heavy part of a real first use)

The first run of each (after the build or after the other side ran) is reported separately
from the median of the rest: "cold" here means a fresh process and data dir, not an
emptied page cache (that needs root and would slow everyone else on the machine).

Usage: python bench/bench_package.py [--runs 5] [--app dist/docent] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "TMPDIR": str(home)}
    env.update(extra)
    return env


def _time(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def _time_to_window(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """Spawn to the line gui/app.py prints right after the window's first paint (not to exit)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    elapsed = None
    for line in proc.stdout:
        if line.startswith("{") and elapsed is None:
            elapsed = time.perf_counter() - t
    if proc.wait(timeout=120) != 0 or elapsed is None:
        raise SystemExit(f"{' '.join(cmd)}: no window (exit code {proc.returncode})")
    return elapsed


def measure(kind: str, command: list[str], runs: int, kb_template: Path | None) -> list[float]:
    times = []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="docent-bench-pkg-"))
        try:
            if kind == "status":
                times.append(_time([*command, "status", "--json"], _env(home), home))
            elif kind == "gui":
                times.append(_time_to_window(command, _env(home, QT_QPA_PLATFORM="offscreen",
                                                           DOCENT_BENCH_STARTUP="1"), home))
            else:
                kb = home / "kb"
                shutil.copytree(kb_template, kb)
                env = _env(home, DOCENT_MODEL_CACHE=os.environ.get("DOCENT_MODEL_CACHE", ""))
                if not env["DOCENT_MODEL_CACHE"]:
                    env.pop("DOCENT_MODEL_CACHE")
                    # the source run's ONNX export lives in the user cache; share the real one
                    env["XDG_CACHE_HOME"] = str(Path.home() / ".cache")
                times.append(_time([*command, "search", "Trans-Siberian railway length", "--kb", str(kb)], env, home))
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return times


def summary(times: list[float]) -> dict:
    rest = times[1:] or times
    return {"first_s": round(times[0], 3), "median_s": round(statistics.median(rest), 3), "runs": len(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--app", default=str(ROOT / "dist" / "docent"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    app = Path(args.app)
    exe = app / "docent"
    if not exe.exists():
        print(f"bench_package: {exe} not found: run `make package` first", file=sys.stderr)
        return 1
    from packaging_size import tree_size  # noqa: E402 - packaging/size_report.py, see below

    source = [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "main.py")]
    if not Path(source[0]).exists():
        source[0] = sys.executable
    packaged = [str(exe)]

    # a small knowledge base, indexed once with the source run, copied fresh for every search
    work = Path(tempfile.mkdtemp(prefix="docent-bench-pkg-kb-"))
    try:
        kb_template = work / "kb"
        subprocess.run([*source, "index", str(ROOT / "index" / "sample_docs"), "--kb", str(kb_template)],
                       check=True, capture_output=True, env=dict(os.environ, DOCENT_HOME=str(work / "home")))
        results = {}
        for kind in ("status", "gui", "first-query"):
            # interleaved, one run of each at a time: a busy machine slows both sides alike
            src_t: list[float] = []
            pkg_t: list[float] = []
            for _ in range(args.runs):
                src_t += measure(kind, source, 1, kb_template)
                pkg_t += measure(kind, packaged, 1, kb_template)
            src, pkg = summary(src_t), summary(pkg_t)
            results[kind] = {"source": src, "package": pkg,
                             "ratio_median": round(pkg["median_s"] / src["median_s"], 2),
                             "ratio_first": round(pkg["first_s"] / src["first_s"], 2)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = tree_size(app)
    report = {"app": str(app), "installed_mb": round(size / (1 << 20)), "startup": results,
              "target_ratio": 1.5}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"package {app}: {report['installed_mb']} MB installed")
    print(f"{'start-up':<12} {'source first/median':>22} {'package first/median':>22} {'ratio (median)':>15}")
    for kind, r in results.items():
        s, p = r["source"], r["package"]
        print(f"{kind:<12} {s['first_s']:>9.2f} / {s['median_s']:<9.2f}s {p['first_s']:>9.2f} / {p['median_s']:<9.2f}s"
              f" {r['ratio_median']:>10.2f}x {'ok' if r['ratio_median'] <= 1.5 else 'OVER 1.5x'}")
    return 0


if __name__ == "__main__":
    import importlib.util

    _spec = importlib.util.spec_from_file_location("packaging_size", ROOT / "packaging" / "size_report.py")
    _mod = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_mod)
    sys.modules["packaging_size"] = _mod
    sys.exit(main())
