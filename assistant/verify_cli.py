"""CLI `verify`: check any text (a draft, an email, another tool's answer) against the knowledge base.

    python main.py verify [FILE|-] [--kb DIR] [-k N] [--json]
    python main.py verify --batch FILE [--kb DIR] [-k N]

`--batch`: one text per line in, one JSON line out per text; a blank line
gives an empty line, so line N of the output answers line N of the input.
Expected failures (missing file, empty knowledge base, empty text) are one
line on stderr and exit code 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.verify import DEFAULT_K

BATCH = 32  # lines searched together (one embedding pass)
MARKS = {"supported": "✓", "partial": "~", "contradicted": "✗", "unsupported": "?"}


def register(subparsers, common_parent: argparse.ArgumentParser | None) -> None:
    parents = [common_parent] if common_parent is not None else []
    p = subparsers.add_parser(
        "verify",
        parents=parents,
        help="check a text against the knowledge base: a verdict and a citation for every sentence",
        description="Each sentence is searched in the knowledge base and judged against the best span: "
        "supported, partial (words the source does not hold), contradicted (the source states another "
        "number, date, name, or the opposite), or unsupported.",
    )
    p.add_argument("file", nargs="?", default="-", metavar="FILE", help="text file to check ('-' or none: stdin)")
    p.add_argument("--batch", metavar="FILE", help="one text per line; one JSON line out per line")
    if "--kb" not in p._option_string_actions:
        p.add_argument("--kb", metavar="DIR", help="knowledge base folder (default: per-user data dir)")
    if "--json" not in p._option_string_actions:
        p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-k", type=int, default=DEFAULT_K, metavar="N",
                   help=f"candidate passages per sentence (default {DEFAULT_K})")
    p.add_argument("--search", choices=("hybrid", "lexical"), default="hybrid",
                   help="how candidate passages are found: hybrid (default) or lexical only (no embedding pass: "
                        "faster, and the verdicts compare words anyway)")
    p.set_defaults(func=cmd_verify)


def _read(path: str) -> str:
    from index.commands import CommandError

    if path == "-":
        return sys.stdin.read()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise CommandError(f"{path} is not a text file") from None
        return str(best)


def _print_human(result, out=None) -> None:
    out = out or sys.stdout
    for n, s in enumerate(result.sentences, 1):
        print(f"{MARKS[s.verdict]} [{s.verdict}] {' '.join(s.text.split())}", file=out)
        if s.conflict:
            print(f"    the source says {s.conflict['source']!r}, not {s.conflict['claim']!r}", file=out)
        if s.missing:
            words = ", ".join(repr(result.text[a:b]) for a, b in s.missing)
            print(f"    not in the source: {words}", file=out)
        if s.document is not None:
            quote = " ".join(s.quote.split())
            quote = quote if len(quote) <= 160 else quote[:157] + "..."
            page = f", page {s.document.page}" if s.document.page else ""
            print(f"    <- \"{quote}\"", file=out)
            print(f"       {s.document.path}{page}, chars {s.span_start}-{s.span_end}", file=out)
    counts = result.counts()
    print(" · ".join(f"{counts[v]} {v}" for v in counts if counts[v]) or "nothing to check", file=out)


def cmd_verify(args) -> int:
    from assistant.verify import Verifier
    from index.commands import CommandError, _open_kb

    if args.k < 1:
        raise CommandError("-k must be at least 1")
    if args.batch:
        lines = _read(args.batch).splitlines()
    else:
        text = _read(args.file)
        if not text.strip():
            raise CommandError("nothing to verify: the text is empty")
    kb = _open_kb(args)
    try:
        if kb.catalog.counts()["passages"] == 0:
            raise CommandError(f"knowledge base {kb.root} is empty; run 'index PATH' first")
        verifier = Verifier(kb, k=args.k, mode=args.search)
        if args.batch:
            for n in range(0, len(lines), BATCH):
                chunk = lines[n:n + BATCH]
                texts = [line for line in chunk if line.strip()]
                results = iter(verifier.verify_many(texts))
                for line in chunk:
                    print(json.dumps(next(results).to_json(), ensure_ascii=False) if line.strip() else "")
                sys.stdout.flush()
            return 0
        result = verifier.verify(text)
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            _print_human(result)
        return 0
    finally:
        kb.close()
