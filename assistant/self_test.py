"""CLI `self-test`: a headless end-to-end check that can fail. Exit code 0 (all held) or 1.

Indexes the sample documents into a temporary knowledge base, retrieves,
checks the claim checker itself (the reference answer is supported, the same
answer with its number changed is not), then asks the model for valid step-1 ids, prompt reuse in step 2 and the
honest "not in the knowledge base" when there are no documents, and requires
of the answer a user gets (`auto` mode: the model's own for a chat model, a
quoted answer for a base model such as the bundled demo one) a supported
sentence and exact quotes. A base model's own text is shown, not judged: the
app never shows it in `auto` mode. Every check is a real condition; any error is a
failed check, never a traceback or another exit code.
"""
from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path

FALLBACK_DOCS = {
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
FALLBACK_QUESTIONS = [
    {"question": "How long is the Trans-Siberian railway?", "language": "ru", "file": "transsib.ru.txt",
     "answer": "Её длина составляет 9288 километров"},
]
K = 6


def register(subparsers, common_parent) -> None:
    from assistant.commands import _add_model_options

    parents = [common_parent] if common_parent is not None else []
    st = subparsers.add_parser(
        "self-test",
        parents=parents,
        help="headless end-to-end check (index sample documents, ask, check the answer's citations); exit 0/1",
    )
    _add_model_options(st)
    st.set_defaults(func=cmd_self_test)


def sample_docs(tmp: Path) -> tuple[Path, list[dict]]:
    """The bundled sample documents and their questions; a small built-in set if they are missing."""
    try:
        from index.config import sample_docs_dir

        folder = sample_docs_dir()
    except ImportError:
        folder = None
    if folder is not None and folder.is_dir() and any(folder.iterdir()):
        try:
            questions = json.loads((folder / "questions.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            questions = []
        return folder, [q for q in questions if q.get("question") and q.get("answer") and q.get("file")]
    folder = tmp / "samples"
    folder.mkdir()
    for name, text in FALLBACK_DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder, FALLBACK_QUESTIONS


def changed_number(text: str) -> str | None:
    """The text with its first number changed (1891 -> 1892), or None when it has none."""
    m = re.search(r"\d+", text)
    if m is None:
        return None
    return text[:m.start()] + str(int(m.group()) + 1) + text[m.end():]


class Checks:
    def __init__(self):
        self.results: list[tuple[bool, str]] = []

    def __call__(self, ok: bool, what: str) -> bool:
        self.results.append((bool(ok), what))
        print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        return bool(ok)

    @property
    def failed(self) -> list[str]:
        return [w for ok, w in self.results if not ok]


def cmd_self_test(args) -> int:
    check = Checks()
    print("Docent self-test")
    try:
        _run(args, check)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - self-test reports every failure as a failed check, exit 1
        check(False, f"{type(exc).__name__}: {exc}")
    if not check.results:
        check(False, "no check ran")
    print(f"self-test: {len(check.results) - len(check.failed)}/{len(check.results)} checks passed")
    return 1 if check.failed else 0


def _run(args, check: Checks) -> None:
    from assistant.build import quote_pipeline
    from assistant.commands import _load_pipeline, pipeline_settings
    from assistant.grammar import parse_ids
    from assistant.language import NOT_FOUND
    from assistant.verify import Verifier
    from index.kb import KnowledgeBase

    runtime = None
    with tempfile.TemporaryDirectory(prefix="docent-selftest-") as tmp_name:
        tmp = Path(tmp_name)
        folder, questions = sample_docs(tmp)
        kb = KnowledgeBase.open(tmp / "kb")
        try:
            report = kb.index([str(folder)])
            check(report.files_indexed > 0 and report.chunks_total > 0 and not report.files_failed,
                  f"indexed {report.files_indexed} sample files into {report.chunks_total} passages, "
                  f"{len(report.files_failed)} failed")
            qa = next((q for q in questions if q.get("language") == "en"), questions[0] if questions else None)
            if not check(qa is not None, "the sample documents come with questions"):
                return
            question = qa["question"]
            docs = kb.documents_for(question, K)
            names = [Path(d.path).name for d in docs]
            check(qa["file"] in names, f"retrieved {len(docs)} documents for {question!r}, {qa['file']} among them")
            exact = bool(docs) and all(
                (kb.text_of(d.path) or "")[d.char_start:d.char_end] == d.content for d in docs)
            check(exact, "document offsets point at the exact source text")

            # the claim checker, on the knowledge base: the reference answer holds, a changed number does not
            verifier = Verifier(kb)
            claims = [q for q in questions if changed_number(q["answer"])]
            for q in claims[:2]:
                right = verifier.verify(q["answer"] + ".")
                s = right.sentences[0] if right.sentences else None
                good = s is not None and s.verdict == "supported" and Path(s.document.path).name == q["file"] \
                    and (kb.text_of(s.document.path) or "")[s.span_start:s.span_end] == s.quote
                check(good, f"verify: {q['answer']!r} is supported by {q['file']}")
                wrong_text = changed_number(q["answer"]) + "."
                wrong = verifier.verify(wrong_text)
                verdicts = [x.verdict for x in wrong.sentences]
                check(bool(verdicts) and "supported" not in verdicts,
                      f"verify: {wrong_text!r} is not supported ({', '.join(verdicts) or 'nothing checked'})")

            t0 = time.perf_counter()
            runtime, pipeline = _load_pipeline(args, max_tokens=96)
            info = getattr(pipeline, "model_info", {}) or {}
            print(f"  model: {info.get('name') or info.get('path')}, profile {info.get('profile')}, "
                  f"{info.get('device')}, n_ctx {info.get('n_ctx')} ({time.perf_counter() - t0:.1f} s)", flush=True)
            answer = generated = pipeline.answer(question, docs)
            offered = list(range(len(answer.documents)))
            step1 = parse_ids(answer.step1_output, offered)
            check(step1.valid, f"step 1 output parses with offered ids only: {answer.step1_output}")
            text = " ".join(answer.answer.split())
            if not _is_chat(pipeline, getattr(args, "profile", None)):
                print(f"  info generated by a base model (auto mode quotes instead; "
                      f"{answer.timings.get('total_s', 0):.1f} s): {text[:100]!r}", flush=True)
                answer = quote_pipeline(pipeline_settings(args, mode="quote"), "self-test",
                                        kb.embedder).answer(question, docs)
                text = " ".join(answer.answer.split())
                what = "quoted answer"
            else:
                what = "answer"
            check(bool(text), f"{what} ({answer.timings.get('total_s', 0):.1f} s): {text[:100]!r}")
            supported = [c for c in answer.citations if c.verdict == "supported"]
            counts = {v: 0 for v in ("supported", "partial", "contradicted")}
            for c in answer.citations:
                counts[c.verdict] += 1
            check(bool(supported), f"the {what} has a supported sentence: {counts['supported']} "
                                   f"supported, {counts['partial']} partial, {counts['contradicted']} "
                                   f"contradicted, {len(answer.unsupported)} unsupported")
            quotes_ok = bool(answer.citations) and all(
                (kb.text_of(answer.documents[c.doc_id].path) or "")[c.span_start:c.span_end] == c.quote
                for c in answer.citations)
            check(quotes_ok, f"{len(answer.citations)} citations quote their source exactly")
            if generated.found and "step2_prompt_evaluated" in generated.timings:
                ev, out = generated.timings["step2_prompt_evaluated"], generated.timings["step1_output_tokens"]
                check(ev <= out + 32, f"step 2 re-used the prompt: {ev} tokens evaluated (step 1 wrote {out})")
            empty = pipeline.answer("Какова длина Транссиба?", [])
            check(empty.answer == NOT_FOUND["ru"] and not empty.found and not empty.citations,
                  "no documents -> 'not in the knowledge base' (ru), nothing cited")
            data = json.loads(json.dumps(answer.to_json(), ensure_ascii=False))
            fields = all({"verdict", "missing", "conflict"} <= set(c) for c in data["citations"])
            check(data["answer"] == answer.answer and fields and len(data["citations"]) == len(answer.citations),
                  "the answer serialises to the ask JSON object"
                  + (", citations with their verdicts" if data["citations"] else " (no citation in it)"))
        finally:
            kb.close()
            if runtime is not None:
                runtime.close()


def _is_chat(pipeline, forced_profile) -> bool:
    """Would `auto` mode let this model write answers (build.is_chat_model on the loaded GGUF)?"""
    from assistant.build import is_chat_model

    runtime = getattr(pipeline, "runtime", None)
    if runtime is None:
        return True  # a model server: judge its own answer
    return is_chat_model(runtime.meta, pipeline.profile, forced=bool(forced_profile))
