"""CLI commands of the assistant: `ask` and `self-test` (DESIGN.md section 4).

Thin handlers: retrieval is the knowledge base's (`KnowledgeBase.documents_for`),
answering is `GroundedPipeline`'s.  Expected failures (missing or corrupt model,
empty knowledge base, question too long) become `CommandError`: one line on
stderr, exit code 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

DEFAULT_K = 6


def _add(parser: argparse.ArgumentParser, *flags: str, **kwargs) -> None:
    """Add an option unless the shared parent parser already defines it."""
    if any(f in parser._option_string_actions for f in flags):
        return
    parser.add_argument(*flags, **kwargs)


def register(subparsers, common_parent: argparse.ArgumentParser | None) -> None:
    parents = [common_parent] if common_parent is not None else []
    ask = subparsers.add_parser(
        "ask",
        parents=parents,
        help="answer a question from the knowledge base, with citations",
        description="Two-step grounded answer: the model picks the relevant documents, then answers from them; "
        "each answer sentence is matched to the passage that supports it.",
    )
    ask.add_argument("question", metavar="QUESTION")
    _add(ask, "--kb", metavar="DIR", help="knowledge base folder (default: per-user data dir)")
    _add(ask, "--json", action="store_true", help="print the answer object as JSON")
    _add_model_options(ask)
    _add(ask, "-k", type=int, default=DEFAULT_K, metavar="N", help=f"documents to retrieve (default {DEFAULT_K})")
    _add(ask, "--max-tokens", type=int, default=512, metavar="N", help="longest answer in tokens (default 512)")
    _add_endpoint_options(ask)
    ask.set_defaults(func=cmd_ask)

    st = subparsers.add_parser(
        "self-test",
        parents=parents,
        help="headless end-to-end check (index sample documents, ask, verify citations); exit 0/1",
    )
    _add_model_options(st)
    st.set_defaults(func=cmd_self_test)


def _add_model_options(p: argparse.ArgumentParser) -> None:
    _add(p, "--model", metavar="GGUF", help="GGUF model file (default: the bundled gemma-3-270m)")
    _add(p, "--n-ctx", type=int, default=None, metavar="N",
         help="context window in tokens (default 4096; with --endpoint: the server's max_model_len, else 8192)")
    _add(
        p, "--gpu-layers", type=int, default=None, metavar="N",
        help="layers to offload to the GPU (default: all when this llama.cpp build supports a GPU, else 0)",
    )
    _add(p, "--threads", type=int, default=None, metavar="N", help="CPU threads (default: physical cores)")
    _add(p, "--profile", default=None, metavar="NAME", help="force a model profile (vikhr, saiga_llama3, shisa, ...)")


def _add_endpoint_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("remote model server (OpenAI-compatible: vLLM, llama.cpp server, llama-cpp-python)")
    g.add_argument("--endpoint", metavar="URL", default=None,
                   help="answer through the server at URL (e.g. http://127.0.0.1:8000/v1) instead of a local GGUF")
    g.add_argument("--api-model", metavar="NAME", default=None,
                   help="model name on the server (default: the first one it lists)")
    g.add_argument("--api-key-env", metavar="VAR", default=None,
                   help="environment variable holding the API key (default: DOCENT_API_KEY, then the OS keyring)")
    g.add_argument("--documents-role", choices=("auto", "on", "off"), default="auto",
                   help="send documents as their own 'documents' message (on), fold them into the system "
                        "message (off), or try the role and fold when the server rejects it (auto, default)")
    g.add_argument("--read-timeout", type=float, default=120.0, metavar="S",
                   help="seconds to wait for the server's next piece of output (default 120)")


def _command_error():
    from index.commands import CommandError

    return CommandError


def _err(message: str) -> None:
    print(f"docent: {message}", file=sys.stderr, flush=True)


def _resolve_model(args) -> Path:
    from assistant.models import ensure_default_model

    if getattr(args, "model", None):
        return Path(args.model).expanduser()
    from index.config import data_dir

    return ensure_default_model(data_dir(), progress=_err)


def _endpoint_key(args) -> str | None:
    """The API key: from the variable named by --api-key-env, else DOCENT_API_KEY / the keyring (never argv)."""
    import os

    var = getattr(args, "api_key_env", None)
    if var:
        key = os.environ.get(var, "")
        if not key:
            raise _command_error()(f"environment variable {var} (--api-key-env) is not set")
        from index.credentials import remember

        return remember(key)
    from index.credentials import get_secret

    return get_secret("api", args.endpoint)  # one account per server: http://h:8000 and http://h:8000/v1/ alike


def _load_remote_pipeline(args, max_tokens: int = 512):
    """--endpoint: a RemotePipeline (it is its own 'runtime': close() releases the HTTP client)."""
    from assistant.endpoint import RemotePipeline
    from assistant.endpoint_client import DEFAULT_N_CTX, EndpointConfig
    from assistant.profiles import get_profile

    try:
        profile = get_profile(args.profile) if getattr(args, "profile", None) else None
    except ValueError as exc:
        raise _command_error()(str(exc)) from None
    config = EndpointConfig(
        args.endpoint, model=args.api_model, api_key=_endpoint_key(args),
        n_ctx=args.n_ctx if args.n_ctx is not None else DEFAULT_N_CTX,
        read_timeout=args.read_timeout,
    )
    pipeline = RemotePipeline(config, profile, documents_role=args.documents_role, max_answer_tokens=max_tokens)
    return pipeline, pipeline


def _load_pipeline(args, max_tokens: int = 512):
    """Model file -> checked header -> runtime -> pipeline; AssistantError on any expected failure."""
    if getattr(args, "endpoint", None):
        return _load_remote_pipeline(args, max_tokens)
    from assistant.gguf_meta import read_gguf_meta
    from assistant.pipeline import GroundedPipeline
    from assistant.profiles import detect_profile, get_profile
    from assistant.runtime import LlamaRuntime

    path = _resolve_model(args)
    meta = read_gguf_meta(path)
    try:
        profile = get_profile(args.profile) if getattr(args, "profile", None) else detect_profile(meta)
    except ValueError as exc:
        raise _command_error()(str(exc)) from None
    threads = getattr(args, "threads", None)
    n_ctx = args.n_ctx if args.n_ctx is not None else 4096
    runtime = LlamaRuntime(path, n_ctx=n_ctx, n_gpu_layers=args.gpu_layers, n_threads=threads,
                           n_threads_batch=threads, meta=meta)
    try:
        pipeline = GroundedPipeline(runtime, profile, max_answer_tokens=max_tokens)
    except BaseException:
        runtime.close()
        raise
    return runtime, pipeline


def _print_sources(answer, out=None) -> None:
    out = out or sys.stdout
    docs = answer.documents
    if answer.citations:
        print("\nSources:", file=out)
        for n, c in enumerate(answer.citations, 1):
            d = docs[c.doc_id]
            page = f", page {d.page}" if d.page else ""
            quote = " ".join(c.quote.split())
            if len(quote) > 160:
                quote = quote[:157] + "..."
            sentence = " ".join(answer.answer[c.answer_start:c.answer_end].split())
            print(f"  [{n}] {sentence[:80]}", file=out)
            print(f"      <- \"{quote}\"", file=out)
            print(f"         {d.path}{page}, chars {c.span_start}-{c.span_end}", file=out)
    if answer.unsupported:
        print("\nNot supported by the documents:", file=out)
        for u in answer.unsupported:
            print("  - " + " ".join(answer.answer[u.answer_start:u.answer_end].split())[:120], file=out)
    if answer.uncited_doc_ids:
        ids = ", ".join(str(i) for i in answer.uncited_doc_ids)
        print(f"\n(documents chosen in step 1 but not cited: {ids})", file=out)


def cmd_ask(args) -> int:
    from assistant.errors import AssistantError

    CommandError = _command_error()
    question = args.question.strip()
    if not question:
        raise CommandError("the question is empty")
    from index.commands import _open_kb, repairing

    kb = _open_kb(args)  # a shared knowledge base (chroma://...) is pulled from its server here
    runtime = None
    cancel = threading.Event()
    try:
        if repairing(kb, args, lambda: kb.catalog.counts())["passages"] == 0:
            raise CommandError(f"knowledge base {kb.root} is empty; run 'index PATH' first")
        # Model problems and an over-long question are reported before retrieval loads anything.
        try:
            runtime, pipeline = _load_pipeline(args, args.max_tokens)
            pipeline.budget.plan(question, [])
        except AssistantError as exc:
            raise CommandError(str(exc)) from None
        for w in pipeline.warnings:
            _err(f"warning: {w}")
        t0 = time.perf_counter()
        documents = repairing(kb, args, lambda: kb.documents_for(question, args.k))  # damage: repaired first
        retrieval_s = time.perf_counter() - t0

        def on_token(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

        try:
            answer = pipeline.answer(question, documents, on_token=None if args.json else on_token, cancel=cancel)
        except AssistantError as exc:
            raise CommandError(str(exc)) from None
        answer.timings["retrieval_s"] = round(retrieval_s, 4)
        if args.json:
            print(answer.json_text())
        else:
            print()
            _print_sources(answer)
        for w in answer.warnings:
            if w not in pipeline.warnings:
                _err(f"warning: {w}")
        return 0
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        if runtime is not None:
            runtime.close()
        kb.close()


# --------------------------------------------------------------------------
# self-test

_FALLBACK_DOCS = {
    "docent.en.txt": (
        "Docent answers questions from your own documents. Every answer sentence points to the passage "
        "that supports it. The model runs locally, so nothing is sent to the network."
    ),
    "transsib.ru.txt": (
        "Транссибирская магистраль соединяет Москву и Владивосток. Её длина составляет 9288 километров. "
        "Строительство началось в 1891 году."
    ),
    "chado.ja.txt": "茶道は日本の伝統文化である。わび茶を大成したのは千利休である。",
}


def _sample_docs(tmp: Path) -> tuple[Path, list[dict]]:
    try:
        from index.config import sample_docs_dir

        folder = sample_docs_dir()
    except ImportError:
        folder = None
    if folder is not None and folder.is_dir() and any(folder.iterdir()):
        questions = []
        qfile = folder / "questions.json"
        if qfile.exists():
            try:
                questions = json.loads(qfile.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                questions = []
        return folder, questions
    folder = tmp / "samples"
    folder.mkdir()
    for name, text in _FALLBACK_DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder, [
        {"question": "How long is the Trans-Siberian railway?", "file": "transsib.ru.txt",
         "answer": "Её длина составляет 9288 километров"},
    ]


def cmd_self_test(args) -> int:
    from assistant.citations import Aligner, CiteDoc
    from assistant.errors import AssistantError
    from assistant.grammar import parse_ids
    from assistant.language import NOT_FOUND
    from index.kb import KnowledgeBase

    results: list[tuple[bool, str]] = []

    def check(ok: bool, what: str) -> bool:
        results.append((bool(ok), what))
        print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        return bool(ok)

    print("Docent self-test")
    runtime = None
    with tempfile.TemporaryDirectory(prefix="docent-selftest-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            folder, questions = _sample_docs(tmp)
            kb = KnowledgeBase.open(tmp / "kb")
            try:
                report = kb.index([str(folder)])
                check(report.files_indexed > 0 and report.chunks_total > 0,
                      f"indexed {report.files_indexed} sample files into {report.chunks_total} passages")
                qa = next((q for q in questions if q.get("language", "en") == "en"), questions[0] if questions else None)
                question = qa["question"] if qa else "What does Docent do?"
                docs = kb.documents_for(question, DEFAULT_K)
                check(bool(docs), f"retrieved {len(docs)} documents for {question!r}")
                exact = all(kb.text_of(d.path) is not None and kb.text_of(d.path)[d.char_start:d.char_end] == d.content
                            for d in docs)
                check(exact, "document offsets point at the exact source text")
                if qa and qa.get("answer"):
                    target = [i for i, d in enumerate(docs) if Path(d.path).name == qa.get("file")]
                    cite_docs = [CiteDoc(i, d.content, d.char_start) for i, d in enumerate(docs)]
                    al = Aligner().align(qa["answer"] + ".", cite_docs)
                    good = bool(al.citations) and al.citations[0].doc_id in target and \
                        kb.text_of(docs[al.citations[0].doc_id].path)[al.citations[0].span_start:al.citations[0].span_end] == al.citations[0].quote
                    check(good, "citation aligner finds the reference answer in its source file")

                t0 = time.perf_counter()
                runtime, pipeline = _load_pipeline(args, max_tokens=96)
                check(True, f"model loaded: {pipeline.runtime.meta.describe()}, profile {pipeline.profile.key}, "
                            f"{runtime.info.device}, n_ctx {runtime.n_ctx} ({time.perf_counter() - t0:.1f} s)")
                answer = pipeline.answer(question, docs)
                offered = list(range(len(answer.documents)))
                step1 = parse_ids(answer.step1_output, offered)
                check(step1.valid, f"step 1 output parses with offered ids only: {answer.step1_output}")
                check(bool(answer.answer), f"answer ({answer.timings.get('total_s', 0):.1f} s): "
                                           f"{' '.join(answer.answer.split())[:100]!r}")
                quotes_ok = all(
                    kb.text_of(answer.documents[c.doc_id].path)[c.span_start:c.span_end] == c.quote
                    for c in answer.citations
                )
                check(quotes_ok, f"{len(answer.citations)} citations quote their source exactly, "
                                 f"{len(answer.unsupported)} sentences marked unsupported")
                if answer.found:
                    ev, out = answer.timings["step2_prompt_evaluated"], answer.timings["step1_output_tokens"]
                    check(ev <= out + 32, f"step 2 re-used the prompt: {ev} tokens evaluated (step 1 wrote {out})")
                empty = pipeline.answer("Какова длина Транссиба?", [])
                check(empty.answer == NOT_FOUND["ru"] and not empty.found, "no documents -> 'not in the knowledge base' (ru)")
                json.dumps(answer.to_json(), ensure_ascii=False)
                check(True, "answer serialises to the ask JSON object")
            finally:
                kb.close()
        except AssistantError as exc:
            check(False, str(exc))
        finally:
            if runtime is not None:
                runtime.close()
    failed = [w for ok, w in results if not ok]
    print(f"self-test: {len(results) - len(failed)}/{len(results)} checks passed")
    return 1 if failed else 0
