"""CLI commands of the indexing engine: index, search, status, check (DESIGN.md section 4)."""
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


def _open_kb(args, repair: bool = True):
    """The knowledge base of `--kb`; damage found on opening is repaired first (progress on stderr)."""
    from index.kb import KnowledgeBase, KnowledgeBaseBusy, KnowledgeBaseError

    try:
        kb = KnowledgeBase.open(args.kb)
    except (KnowledgeBaseBusy, KnowledgeBaseError) as exc:
        raise CommandError(str(exc)) from None
    if repair and kb.damage:
        repair_now(kb, args)
    if kb.remote is not None and not kb.catalog.placeholder:  # a shared knowledge base: reach the server now
        try:
            kb.refresh(force=True)
        except KnowledgeBaseError as exc:
            kb.close()
            raise CommandError(str(exc)) from None
    return kb


def repair_now(kb, args) -> None:
    """Repair a damaged knowledge base before the command goes on; a CommandError if it cannot be."""
    quiet = getattr(args, "quiet", False)
    what = "; ".join(f"{d.part}: {d.reason}" for d in kb.damage)
    print(f"docent: knowledge base {kb.root} is damaged ({what[:300]}); rebuilding it from your documents",
          file=sys.stderr, flush=True)
    report = kb.repair(progress=None if quiet else ProgressBar())
    if report.error is not None:
        kb.close()
        raise CommandError(f"knowledge base {kb.root} could not be repaired: {report.error}")
    print(f"docent: {repair_summary(report)}", file=sys.stderr, flush=True)


def repair_summary(report) -> str:
    parts = [f"repaired in {report.seconds:.1f} s: rebuilt {', '.join(report.rebuilt) or 'nothing'}"]
    if report.files_total:
        parts.append(f"{report.files_total} files read, {report.vectors_reused} vectors reused, "
                     f"{report.vectors_embedded} embedded")
    parts.append(f"lost: {', '.join(report.lost) if report.lost else 'nothing'}")
    parts += report.notices
    if report.moved_to:
        parts.append(f"damaged files kept in {report.moved_to}")
    return "; ".join(parts)


_NOT_DAMAGE = (KeyboardInterrupt, SystemExit, GeneratorExit, CommandError)


def repairing(kb, args, fn):
    """fn(), repaired and run once more if it met damage: a storage error it raised, or one it survived
    (a search falls back to keywords when the vector store fails)."""
    try:
        result = fn()
    except BaseException as exc:
        if isinstance(exc, _NOT_DAMAGE) or not kb.suspect_damage(exc):
            raise
        repair_now(kb, args)
        return fn()
    if kb.storage_failure is not None and kb.suspect_damage():
        repair_now(kb, args)
        return fn()
    return result


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

    from index.repair import quick_scan

    kb = _open_kb(args)
    if args.reembed:
        return _reembed(kb, args)
    try:
        if kb.remote is None and not kb.damage:  # a write of every file ahead: check the files first (cheap)
            kb.damage = quick_scan(kb.root, fts=False)
            if kb.damage:
                repair_now(kb, args)
        try:
            report = repairing(kb, args, lambda: kb.index(args.paths, progress=None if args.quiet else ProgressBar()))
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


def _reembed(kb, args) -> int:
    """`index --reembed [MODEL]`: move the knowledge base to MODEL (default: a new knowledge base's)."""
    from index.config import EngineSettings
    from index.kb import KnowledgeBaseError
    from index.reembed import Reembed

    model = args.reembed if args.reembed is not True else EngineSettings().embedding_model
    try:
        if args.paths:
            raise CommandError("--reembed takes no PATH: it re-embeds what the knowledge base holds")
        before = kb.settings.embedding_model

        def show(p) -> None:
            if not args.quiet:
                sys.stderr.write(f"\rre-embedding with {p.model}: {p.done}/{p.total} passages")
                sys.stderr.flush()

        try:
            Reembed(kb, model).run(show)
        except KnowledgeBaseError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            raise CommandError("re-embedding interrupted; run the same command again to resume") from None
        if not args.quiet:
            sys.stderr.write("\n")
        if args.json:
            print(json.dumps({"model": model, "previous_model": before}, ensure_ascii=False))
        else:
            print(f"{kb.root} now uses {model} (was {before})")
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
        if repairing(kb, args, lambda: kb.catalog.counts())["passages"] == 0:
            raise CommandError(f"knowledge base {kb.root} is empty; run 'index PATH' first")
        if args.batch:
            for query in batch_lines(args.batch):
                if query.strip():
                    hits = repairing(kb, args, lambda q=query: kb.search(q, args.k, args.mode))
                    print(json.dumps({"query": query, "results": [_hit_json(h) for h in hits]}, ensure_ascii=False))
                else:
                    print()
                sys.stdout.flush()
            return 0
        hits = repairing(kb, args, lambda: kb.search(args.query, args.k, args.mode))
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
        status = repairing(kb, args, kb.status)
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


def cmd_check(args) -> int:
    """What is damaged, what was rebuilt, what was lost: exit 0 healthy or repaired, 1 otherwise."""
    kb = _open_kb(args, repair=False)
    try:
        report = kb.check(repair=args.repair, progress=ProgressBar() if args.repair and not args.json else None)
    finally:
        kb.close()
    if args.json:
        print(json.dumps({"kb": str(kb.root), **report.to_json()}, ensure_ascii=False))
    elif report.healthy:
        print(f"knowledge base {kb.root}: healthy")
    else:
        for finding in report.findings:
            print(f"damaged: {finding.part}: {finding.reason}")
        if report.repaired:
            print(repair_summary(report))
    if report.error is not None:
        raise CommandError(f"knowledge base {kb.root} could not be repaired: {report.error}")
    if not report.healthy and not args.repair:
        raise CommandError(f"knowledge base {kb.root} is damaged; 'check --repair' rebuilds it from your documents")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("index", parents=[common], help="index files and folders (no PATH: re-sync known folders)")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--reembed", nargs="?", const=True, metavar="MODEL",
                   help="move the knowledge base to another embedding model (default: the multilingual one); "
                        "resumable, search keeps working meanwhile")
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

    p = sub.add_parser("check", parents=[common], help="check the knowledge base for damage (--repair: rebuild it)")
    p.add_argument("--repair", action="store_true", help="rebuild what is damaged from your documents")
    p.set_defaults(func=cmd_check)
