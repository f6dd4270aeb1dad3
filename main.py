"""Docent: no argument opens the desktop app; subcommands are the CLI."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from assistant import commands as assistant_commands
    from index import commands as index_commands

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kb", metavar="DIR", help="knowledge base folder (default: per-user data dir)")
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    common.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser = argparse.ArgumentParser(prog="docent", description="Answers from your own documents, offline.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    index_commands.register(sub, common)
    assistant_commands.register(sub, common)
    from assistant import self_test, verify_cli

    self_test.register(sub, common)
    verify_cli.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from index.config import offline_environment

    offline_environment()  # before any library that could phone home is imported (GUI included)
    from index.memory import limit_arenas

    limit_arenas()  # before any thread allocates (index/memory.py)
    if argv[:1] == ["--docent-vector-worker"]:  # frozen builds: index/vector_worker.py, likewise
        from index.vector_worker import serve

        serve(argv[1], int(argv[2]))
        return 0
    if argv[:1] == ["--docent-extract-worker"]:  # frozen builds: index/limits.py runs its worker through us
        from index.limits import worker_entry

        worker_entry(int(argv[1]), int(argv[2]))
        return 0
    if not argv:
        from gui.app import run

        return run()
    from index.commands import CommandError
    from index.config import setup_logging
    from index.errors import KnowledgeBaseError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    try:
        return args.func(args) or 0
    except CommandError as exc:
        print(f"docent: {exc}", file=sys.stderr)
        return 1
    except KnowledgeBaseError as exc:  # e.g. a shared knowledge base's server went away mid-command
        print(f"docent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("docent: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not an expected failure: keep the trace in the log
        import logging

        from index.errors import may_be_damage

        if may_be_damage(exc):  # damage a command did not repair on its way: one line, never a trace
            logging.getLogger("docent").debug("storage error in %s", args.command, exc_info=True)
            print(f"docent: the knowledge base is damaged or unreadable ({exc}); "
                  "'check --repair' rebuilds it from your documents", file=sys.stderr)
            return 1

        logging.getLogger("docent").exception("unexpected error in %s", args.command)
        print(f"docent: internal error: {exc} (details in the log file)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
