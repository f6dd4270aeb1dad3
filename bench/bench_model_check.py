"""What the optional model check costs per answer: gemma-3-270m on dev questions, with and without it.

The same questions are answered twice by one loaded model, check off then on,
side by side (seed 0, so both runs write the same answer and differ only by
the check; the KV cache is emptied before each, so neither reuses the other's
prompt). A small model rarely writes a sentence the rules leave partial, so
each question also gets one made partial (its answer sentence plus words no
source holds) judged after its prompt, and the time per judged sentence. Prints per answer: seconds without and with the check, the
partial sentences the model judged, the prompt tokens the check found in the
KV cache and the ones it evaluated; then the mean added seconds and the ratio.
Exits 1 when a check reply did not parse (the grammar must make that
impossible) or a check found nothing of the answer's prompt in the KV cache.

    python bench/bench_model_check.py [--lang en] [--questions 3] [--kb-cache DIR] [--model GGUF]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import evalsets  # noqa: E402


def _forget(rt) -> None:
    """Replace the KV cache's content by a one-token prompt: each timed answer starts from nothing cached."""
    from assistant.runtime import GenerationParams

    rt.generate(rt.tokenize(".", add_bos=False), GenerationParams(max_tokens=1))


PADDING = {"en": " and it is known worldwide for its excellent breakfasts", "ru": " и славится вкусными пирожками",
           "ja": "、そして美味しい朝食で有名である"}


def _judge_made_partial(pipe, q, docs, lang: str) -> tuple[int, float, int, int]:
    """(judged, seconds, prefix tokens reused, tokens evaluated) for the question's answer sentence with
    words no source holds, checked after an answer made of it (its prompt evaluated first, as after step 2)."""
    from assistant import model_check
    from assistant.answer import grounded_answer
    from assistant.grammar import format_ids
    from assistant.runtime import GenerationParams

    from index.sentences import split_sentences

    plan = pipe.budget.plan(q.text, docs)
    text = Path(q.path).read_text(encoding="utf-8")
    span = next(((a, b) for a, b in split_sentences(text) if a <= q.answer_start and q.answer_end <= b), None)
    if not plan.documents or span is None:
        return 0, 0.0, 0, 0
    sentence = text[span[0]:span[1]].rstrip("。.!?！？ ")
    claim = sentence + PADDING.get(lang, PADDING["en"]) + ("。" if lang == "ja" else ".")
    chosen = list(range(len(plan.documents)))
    answer = grounded_answer(pipe.aligner, question=q.text, text=claim, chosen=chosen, documents=plan.documents,
                             found=True, timings={}, started=time.perf_counter(), model={}, language=lang,
                             warnings=[])
    messages = pipe.builder.step2_messages(q.text, plan.docs_json, [], format_ids(chosen))
    prefix_text = pipe.builder.render(messages, True)
    prefix = pipe.tokenize_prompt(prefix_text)
    pipe.runtime.generate(prefix, GenerationParams(max_tokens=1))  # the answer's prompt, as step 2 leaves it
    messages.append({"role": "assistant", "content": claim})
    model_check.check_partials(pipe, answer, messages, prefix, prefix_text)
    t = answer.timings
    return (t.get("model_check_sentences", 0), t.get("model_check_s", 0.0),
            t.get("model_check_prefix_reused", 0), t.get("model_check_prompt_evaluated", 0))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", default="en")
    ap.add_argument("--questions", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("-k", type=int, default=3, help="documents per answer")
    ap.add_argument("--kb-cache", type=Path, default=None, help="keep the knowledge base here between runs")
    ap.add_argument("--model", type=Path, default=None, help="GGUF (default: the bundled gemma-3-270m)")
    args = ap.parse_args(argv)
    if not evalsets.available(args.lang):
        print(f"bench_model_check: no dev set for {args.lang} (set DOCENT_EVAL_DIR)", file=sys.stderr)
        return 1
    from assistant.citations import PARTIAL
    from assistant.models import ensure_default_model
    from assistant.pipeline import GroundedPipeline
    from assistant.runtime import LlamaRuntime
    from index.kb import KnowledgeBase

    with tempfile.TemporaryDirectory(prefix="docent-bench-mc-") as tmp:
        base = args.kb_cache or Path(tmp)
        questions = evalsets.build(args.lang, base / f"docs_{args.lang}")
        kb = KnowledgeBase.open(base / f"kb_{args.lang}")
        model = args.model or ensure_default_model(Path(tmp) / "data")
        ok = True
        rows = []
        extra: list[tuple[int, float, int, int]] = []
        try:
            kb.index([str(base / f"docs_{args.lang}")])
            picked = random.Random(0).sample(questions, min(args.questions, len(questions)))
            with LlamaRuntime(model, n_ctx=4096) as rt:
                off = GroundedPipeline(rt, max_answer_tokens=args.max_tokens, k=args.k, model_check=False)
                on = GroundedPipeline(rt, max_answer_tokens=args.max_tokens, k=args.k, model_check=True)
                for q in picked:
                    docs = kb.documents_for(q.text, args.k)
                    _forget(rt)
                    t0 = time.perf_counter()
                    a_off = off.answer(q.text, docs)
                    s_off = time.perf_counter() - t0
                    partial = sum(c.verdict == PARTIAL for c in a_off.citations)
                    _forget(rt)
                    t0 = time.perf_counter()
                    a_on = on.answer(q.text, docs)
                    s_on = time.perf_counter() - t0
                    t = a_on.timings
                    judged = t.get("model_check_sentences", 0)
                    reused = t.get("model_check_prefix_reused", 0)
                    rows.append((s_off, s_on, partial, judged, reused, t.get("model_check_prompt_evaluated", 0),
                                 t.get("step2_prompt_tokens", 0)))
                    ok &= judged == min(partial, 8) and (judged == 0 or reused >= t.get("step1_prompt_tokens", 1))
                    # A small model rarely writes a partial sentence: also judge one made so (the question's
                    # own answer sentence with words no source holds), after the answer, as the pipeline does.
                    extra.append(_judge_made_partial(on, q, docs, args.lang))
        finally:
            kb.close()
    print(f"{'answer':>6} {'off s':>7} {'on s':>7} {'partial':>7} {'judged':>6} {'kv reused':>9} "
          f"{'evaluated':>9} {'step2 prompt':>12}")
    for n, r in enumerate(rows, 1):
        print(f"{n:6d} {r[0]:7.2f} {r[1]:7.2f} {r[2]:7d} {r[3]:6d} {r[4]:9d} {r[5]:9d} {r[6]:12d}")
    mean_off = sum(r[0] for r in rows) / max(len(rows), 1)
    mean_on = sum(r[1] for r in rows) / max(len(rows), 1)
    judged = sum(r[3] for r in rows)
    print(f"mean per answer: {mean_off:.2f} s without, {mean_on:.2f} s with the model check "
          f"(+{mean_on - mean_off:.2f} s, ratio {mean_on / mean_off if mean_off else 0:.2f}); "
          f"{judged} sentences judged in {len(rows)} answers")
    made = [e for e in extra if e[0]]
    if made:
        n = sum(e[0] for e in made)
        print(f"made-partial sentences: {n} judged in {sum(e[1] for e in made):.2f} s "
              f"({sum(e[1] for e in made) / n:.2f} s per sentence; {sum(e[2] for e in made)} prompt tokens "
              f"from the KV cache, {sum(e[3] for e in made)} evaluated)")
        ok &= all(e[2] > 0 for e in made)
    print("every check reply parsed and reused the answer's KV prefix:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
