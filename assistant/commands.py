"""CLI command `ask` of the assistant (DESIGN.md section 4); `self-test` is assistant/self_test.py.

Thin handlers: retrieval is the knowledge base's (`KnowledgeBase.documents_for`),
the pipeline is `build_pipeline`'s (assistant/build.py, shared with the app).
Expected failures (missing or corrupt model, empty knowledge base, question too
long) become `CommandError`: one line on stderr, exit code 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from assistant.build import MAX_K, MODE_CHOICES, PipelineSettings
from assistant.citations import CONTRADICTED, PARTIAL

DEFAULT_K = PipelineSettings.k


def register(subparsers, common_parent: argparse.ArgumentParser) -> None:
    ask = subparsers.add_parser(
        "ask",
        parents=[common_parent],
        help="answer a question from the knowledge base, with citations",
        description="Two-step grounded answer: the model picks the relevant documents, then answers from them; "
        "each answer sentence is matched to the passage that supports it. Without a chat model the answer "
        "quotes the documents' best sentences (--mode).",
    )
    ask.add_argument("question", metavar="QUESTION", nargs="?")
    ask.add_argument("--batch", metavar="FILE",
                     help="one question per line ('-' for stdin), one JSON line out per question "
                          "(a blank line gives an empty line)")
    ask.add_argument("--mode", choices=MODE_CHOICES, default="auto",
                     help="generate (a language model writes the answer), quote (the documents' own sentences), "
                          "or auto (default): quote when no chat model is usable")
    _add_model_options(ask)
    ask.add_argument("-k", type=int, default=DEFAULT_K, metavar="N",
                     help=f"documents to retrieve, 1..{MAX_K} (default {DEFAULT_K})")
    ask.add_argument("--max-tokens", type=int, default=PipelineSettings.max_answer_tokens, metavar="N",
                     help=f"longest answer in tokens (default {PipelineSettings.max_answer_tokens})")
    ask.add_argument("--answer-cap", type=float, default=PipelineSettings.answer_cap, metavar="F",
                     help="longest answer in characters, as a multiple of the question's length (at least 400; "
                          f"0 = no cap; default {PipelineSettings.answer_cap:g})")
    ask.add_argument("--model-check", choices=("auto", "on", "off"), default=PipelineSettings.model_check,
                     help="the model judges the sentences the rules leave partial, under a grammar "
                          "(auto, default: only when the model runs fully on a GPU)")
    _add_endpoint_options(ask)
    ask.set_defaults(func=cmd_ask)



def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="GGUF", help="GGUF model file (default: the bundled gemma-3-270m)")
    p.add_argument("--n-ctx", type=int, default=PipelineSettings.n_ctx, metavar="N",
                   help=f"context window in tokens (default {PipelineSettings.n_ctx}; a model server that "
                        "reports its own size overrides it)")
    p.add_argument("--gpu-layers", type=int, default=None, metavar="N",
                   help="layers to offload to the GPU (default: all when this llama.cpp build supports a GPU, else 0)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads (default: physical cores)")
    p.add_argument("--temperature", type=float, default=None, metavar="T",
                   help="sampling temperature of the answer (default: the model profile's)")
    p.add_argument("--profile", default=None, metavar="NAME", help="force a model profile (vikhr, saiga_llama3, shisa, ...)")


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
    g.add_argument("--read-timeout", type=float, default=PipelineSettings.read_timeout, metavar="S",
                   help=f"seconds to wait for the server's next piece of output (default {PipelineSettings.read_timeout:g})")


def _command_error():
    from index.commands import CommandError

    return CommandError


def _err(message: str) -> None:
    print(f"docent: {message}", file=sys.stderr, flush=True)


def pipeline_settings(args, **changes) -> PipelineSettings:
    """The command line's options as the settings `build_pipeline` takes."""
    s = PipelineSettings(
        mode=getattr(args, "mode", "auto"),
        model_path=getattr(args, "model", None) or "",
        endpoint_url=getattr(args, "endpoint", None) or "",
        endpoint_model=getattr(args, "api_model", None) or "",
        api_key_env=getattr(args, "api_key_env", None) or "",
        documents_role=getattr(args, "documents_role", "auto"),
        read_timeout=getattr(args, "read_timeout", PipelineSettings.read_timeout),
        n_ctx=args.n_ctx,
        n_gpu_layers=args.gpu_layers,
        threads=args.threads,
        temperature=getattr(args, "temperature", None),
        profile=args.profile,
        max_answer_tokens=getattr(args, "max_tokens", PipelineSettings.max_answer_tokens),
        k=getattr(args, "k", DEFAULT_K),
        answer_cap=getattr(args, "answer_cap", PipelineSettings.answer_cap),
        model_check=getattr(args, "model_check", PipelineSettings.model_check),
    )
    for key, value in changes.items():
        setattr(s, key, value)
    return s


def _progress(step: str, detail: str) -> None:
    if step == "assembling":  # the bundled model, once: the only step slow enough to mention
        _err(detail)


def load_pipeline(settings: PipelineSettings, embedder=None):
    """build_pipeline with the CLI's manners: progress on stderr, failures as one-line CommandErrors."""
    from assistant.build import build_pipeline
    from assistant.errors import AssistantError

    try:
        return build_pipeline(settings, embedder=embedder, progress=_progress)
    except AssistantError as exc:
        raise _command_error()(str(exc)) from None


def _load_pipeline(args, max_tokens: int = 512):
    """(runtime, pipeline) of a generating local model, for cmd_self_test (moving to assistant/self_test.py)."""
    pipeline = load_pipeline(pipeline_settings(args, mode="generate", max_answer_tokens=max_tokens))
    return pipeline.runtime, pipeline


def verdict_note(c, answer_text: str) -> str:
    """What a sentence's verdict says beyond its name: what the source states, the words it lacks."""
    if c.verdict == CONTRADICTED and c.conflict:
        return f"contradicted: the source says {c.conflict['source']!r}, not {c.conflict['claim']!r}"
    if c.verdict == PARTIAL and c.missing:
        return "partial: not in the source: " + ", ".join(repr(answer_text[a:b]) for a, b in c.missing)
    return c.verdict


def _print_sources(answer, out=None) -> None:
    """Sources are the supported and partial sentences' spans; a contradicted sentence is listed apart
    with what its source says instead, so a wrong claim never reads as backed."""
    out = out or sys.stdout
    docs = answer.documents
    text = answer.answer

    def place(c) -> str:
        d = docs[c.doc_id]
        page = f", page {d.page}" if d.page else ""
        quote = " ".join(c.quote.split())
        quote = quote if len(quote) <= 160 else quote[:157] + "..."
        by = " (checked by the model)" if c.checked_by == "model" else ""
        return f"      <- \"{quote}\"\n         {d.path}{page}, chars {c.span_start}-{c.span_end}{by}"

    backed = [c for c in answer.citations if c.verdict != CONTRADICTED]
    if backed:
        print("\nSources:", file=out)
        for n, c in enumerate(backed, 1):
            sentence = " ".join(text[c.answer_start:c.answer_end].split())
            print(f"  [{n}] {sentence[:80]}", file=out)
            print(f"      {verdict_note(c, text)}", file=out)
            print(place(c), file=out)
    wrong = [c for c in answer.citations if c.verdict == CONTRADICTED]
    if wrong:
        print("\nContradicted by the documents:", file=out)
        for c in wrong:
            print("  - " + " ".join(text[c.answer_start:c.answer_end].split())[:120], file=out)
            print(f"      {verdict_note(c, text)}", file=out)
            print(place(c), file=out)
    if answer.unsupported:
        print("\nNot supported by the documents:", file=out)
        for u in answer.unsupported:
            by = " (checked by the model)" if u.checked_by == "model" else ""
            print("  - " + " ".join(text[u.answer_start:u.answer_end].split())[:120] + by, file=out)
    if answer.uncited_doc_ids:
        ids = ", ".join(str(i) for i in answer.uncited_doc_ids)
        print(f"\n(documents chosen in step 1 but not cited: {ids})", file=out)
    counts = answer.counts()
    if any(counts.values()):
        print("\n" + " · ".join(f"{n} {v}" for v, n in counts.items() if n), file=out)


def _answer(pipeline, kb, args, question: str, on_token=None, cancel=None):
    """Retrieve, then answer; the retrieval time and the search's warnings go with the answer."""
    from assistant.errors import AssistantError

    from index.commands import repairing

    t0 = time.perf_counter()
    documents = repairing(kb, args, lambda: kb.documents_for(question, args.k))  # damage: repaired first
    retrieval_s = time.perf_counter() - t0
    try:
        answer = pipeline.answer(question, documents, on_token=on_token, cancel=cancel)
    except AssistantError as exc:
        raise _command_error()(str(exc)) from None
    answer.timings["retrieval_s"] = round(retrieval_s, 4)
    return answer


def _ask_batch(pipeline, kb, args, cancel) -> None:
    """One JSON line per question line; a blank line gives an empty line, a failed question an error line."""
    from index.commands import batch_lines

    CommandError = _command_error()
    for question in batch_lines(args.batch):
        if not question.strip():
            print()
        else:
            try:
                line = _answer(pipeline, kb, args, question.strip(), cancel=cancel).json_text()
            except (CommandError, ValueError) as exc:
                line = json.dumps({"question": question.strip(), "error": str(exc)}, ensure_ascii=False)
            print(line)
        sys.stdout.flush()


def cmd_ask(args) -> int:
    from index.commands import _open_kb, check_k, repairing

    CommandError = _command_error()
    question = (args.question or "").strip()
    if args.batch is None and not question:
        raise CommandError("the question is empty" if args.question is not None else "give a QUESTION or --batch FILE")
    check_k(args.k, MAX_K)
    kb = _open_kb(args)  # a shared knowledge base (chroma://...) is pulled from its server here
    pipeline = None
    cancel = threading.Event()
    try:
        if repairing(kb, args, lambda: kb.catalog.counts())["passages"] == 0:
            raise CommandError(f"knowledge base {kb.root} is empty; run 'index PATH' first")
        # Model problems are reported before retrieval loads anything.
        pipeline = load_pipeline(pipeline_settings(args), embedder=kb.embedder)
        for w in pipeline.warnings:
            _err(f"warning: {w}")
        if args.batch is not None:
            _ask_batch(pipeline, kb, args, cancel)
            return 0

        def on_token(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

        answer = _answer(pipeline, kb, args, question, None if args.json else on_token, cancel)
        if args.json:
            print(answer.json_text())
        else:
            print()
            _print_sources(answer)
            if answer.mode == "quote":
                _err(f"quoted from your documents: {answer.mode_reason}")
        for w in answer.warnings:
            if w not in pipeline.warnings:
                _err(f"warning: {w}")
        return 0
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        if pipeline is not None:
            pipeline.close()
        kb.close()
