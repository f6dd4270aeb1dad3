"""What the optional model check costs per answer: gemma-3-270m on dev questions, with and without it.

The same questions are answered twice by one loaded model, check off then on,
side by side (seed 0, so both runs write the same answer and differ only by
the check). Prints per answer: seconds without and with the check, the
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
        try:
            kb.index([str(base / f"docs_{args.lang}")])
            picked = random.Random(0).sample(questions, min(args.questions, len(questions)))
            with LlamaRuntime(model, n_ctx=4096) as rt:
                off = GroundedPipeline(rt, max_answer_tokens=args.max_tokens, k=args.k, model_check=False)
                on = GroundedPipeline(rt, max_answer_tokens=args.max_tokens, k=args.k, model_check=True)
                for q in picked:
                    docs = kb.documents_for(q.text, args.k)
                    t0 = time.perf_counter()
                    a_off = off.answer(q.text, docs)
                    s_off = time.perf_counter() - t0
                    partial = sum(c.verdict == PARTIAL for c in a_off.citations)
                    t0 = time.perf_counter()
                    a_on = on.answer(q.text, docs)
                    s_on = time.perf_counter() - t0
                    t = a_on.timings
                    judged = t.get("model_check_sentences", 0)
                    reused = t.get("model_check_prefix_reused", 0)
                    rows.append((s_off, s_on, partial, judged, reused, t.get("model_check_prompt_evaluated", 0),
                                 t.get("step2_prompt_tokens", 0)))
                    ok &= judged == min(partial, 8) and (judged == 0 or reused >= t.get("step1_prompt_tokens", 1))
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
    print("every check reply parsed and reused the answer's KV prefix:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
