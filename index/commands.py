"""CLI commands of the indexing engine: index, search, status (DESIGN.md section 4)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from index.sync import Progress


class CommandError(Exception):
    """An expected failure: printed as one line on stderr, exit code 1."""


MAX_SEARCH_K = 100  # `search -k`: results per query


def check_k(k: int, maximum: int) -> int:
    """`-k` within 1..maximum, else a one-line CommandError."""
    if not 1 <= k <= maximum:
        raise CommandError(f"-k must be between 1 and {maximum} (got {k})")
    return k


def batch_lines(path: str):
    """The lines of a --batch FILE ('-' = stdin), newline removed. Callers answer a blank line
    with an empty output line, so output line N always answers input line N."""
    try:
        source = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    with source:
        for line in source:
            yield line.rstrip("\r\n")


def _open_kb(args):
    from index.kb import KnowledgeBase, KnowledgeBaseBusy, KnowledgeBaseError

    try:
        kb = KnowledgeBase.open(args.kb)
    except (KnowledgeBaseBusy, KnowledgeBaseError) as exc:
        raise CommandError(str(exc)) from None
    if kb.remote is not None:  # a shared knowledge base: reach the server now, with its news
        try:
            kb.refresh(force=True)
        except KnowledgeBaseError as exc:
            kb.close()
            raise CommandError(str(exc)) from None
    return kb


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    """files done/total, passages/s and ETA on stderr; redrawn at most 10 times a second."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self._last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        final = p.files_done >= p.files_total
        if not final and now - self._last < (0.1 if self.tty else 2.0):
            return
        self._last = now
        share = p.files_done / p.files_total if p.files_total else 1.0
        bar = "#" * int(share * 30)
        line = (
            f"[{bar:<30}] {p.files_done}/{p.files_total} files  {p.rate:6.1f} passages/s  "
            f"ETA {_fmt_time(p.eta)}"
        )
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        if final and self.tty:
            self.stream.write("\n")
        self.stream.flush()


def cmd_index(args) -> int:
    from index.kb import KnowledgeBaseError
    from index.sync import PathError

    kb = _open_kb(args)
    try:
        try:
            report = kb.index(args.paths, progress=None if args.quiet else ProgressBar())
        except (PathError, KnowledgeBaseError) as exc:  # a missing path; the disk holding the KB is full
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            raise CommandError("indexing interrupted; run the same command again to resume") from None
        if args.json:
            print(json.dumps(report.to_json(), ensure_ascii=False))
        else:
            print(
                f"{report.files_seen} files seen: {report.files_indexed} indexed, {report.files_unchanged} unchanged, "
                f"{report.files_removed} removed, {len(report.files_failed)} failed; "
                f"{report.chunks_total} passages in {kb.root} ({report.seconds:.1f} s)"
            )
            for failure in report.files_failed:
                print(f"  failed: {failure['path']}: {failure['error']}")
    finally:
        kb.close()
    return 0


def _hit_json(hit) -> dict:
    p = hit.passage
    return {
        "rank": hit.rank, "score": round(hit.score, 6), "path": p.path, "title": p.title, "page": p.page,
        "char_start": p.char_start, "char_end": p.char_end, "text": p.text,
    }


def cmd_search(args) -> int:
    if not args.query and not args.batch:
        raise CommandError("give a QUERY or --batch FILE")
    check_k(args.k, MAX_SEARCH_K)
    kb = _open_kb(args)
    try:
        if kb.catalog.counts()["passages"] == 0:
            raise CommandError(f"knowledge base {kb.root} is empty; run 'index PATH' first")
        if args.batch:
            for query in batch_lines(args.batch):
                if query.strip():
                    hits = kb.search(query, args.k, args.mode)
                    print(json.dumps({"query": query, "results": [_hit_json(h) for h in hits]}, ensure_ascii=False))
                else:
                    print()
                sys.stdout.flush()
            return 0
        hits = kb.search(args.query, args.k, args.mode)
        if args.json:
            print(json.dumps({"query": args.query, "results": [_hit_json(h) for h in hits]}, ensure_ascii=False))
        elif not hits:
            print("no matching passages")
        else:
            for h in hits:
                p = h.passage
                where = f"{p.path}" + (f" p.{p.page}" if p.page else "") + f" [{p.char_start}:{p.char_end}]"
                snippet = " ".join(p.text.split())
                print(f"{h.rank:2d}. {where}  score {h.score:.4f}\n    {snippet[:300]}")
    finally:
        kb.close()
    return 0


def cmd_status(args) -> int:
    kb = _open_kb(args)
    try:
        status = kb.status()
    finally:
        kb.close()
    if args.json:
        print(json.dumps(status, ensure_ascii=False))
    else:
        print(f"knowledge base: {status['kb']}")
        if status.get("remote"):
            print(f"shared on: {status['remote']} ({status['files_from_others']} files from other clients)")
        print(f"folders: {', '.join(status['roots']) or '(none)'}")
        print(f"files indexed: {status['files_indexed']}, failed: {len(status['files_failed'])}")
        print(f"passages: {status['chunks_total']}, embedding model: {status['embedding_model']}")
        print(f"size on disk: {status['size_bytes'] / 1e6:.1f} MB")
        for f in status["files_failed"]:
            print(f"  failed: {f['path']}: {f['error']}")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("index", parents=[common], help="index files and folders (no PATH: re-sync known folders)")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", parents=[common], help="best passages for a query")
    p.add_argument("query", nargs="?", metavar="QUERY")
    p.add_argument("--batch", metavar="FILE", help="one query per line ('-' for stdin), one JSON line out per "
                   "query (a blank line gives an empty line)")
    p.add_argument("-k", type=int, default=10, help=f"number of results, 1..{MAX_SEARCH_K} (default 10)")
    p.add_argument("--mode", choices=["hybrid", "lexical", "dense"], default="hybrid")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("status", parents=[common], help="describe the knowledge base")
    p.set_defaults(func=cmd_status)
