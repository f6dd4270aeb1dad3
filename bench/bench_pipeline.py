"""Pipeline overhead, step-2 prefix reuse and step-1 validity, measured side by side.

1. speed     step-2 generation through LlamaRuntime vs raw llama-cpp-python
             `create_completion` on the same Llama, same prompt tokens, greedy,
             interleaved runs; ratio of tokens/s (target >= 0.95x); both sides must
             produce the same text and the same number of tokens.
2. reuse     prompt tokens llama.cpp evaluated in step 2 vs step-1 output
             tokens + 32 (target: <=), per question, plus a cross-check of
             our counter against llama.cpp's own perf counters.
3. validity  step 1 on dev-set questions (xquad ru/en, jsquad ja): the
             article's paragraphs are the documents; share of outputs that
             parse, use only offered ids, no duplicates (target 100%).
4. guard     whole answers (the default answer length) to dev questions: how many show step-1
             JSON, protocol tokens, a literal backslash-n or a repeated sentence (target 0), and
             whether the streamed text is exactly the final answer; side by side, how often the
             generated and the quoted answer (assistant/quote.py, same documents) hold the gold answer.

    python bench/bench_pipeline.py [--model GGUF] [--limit N] [--reps R] [--langs en,ru,ja]

--limit N: questions per language for the validity section (0 = every question).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.grammar import format_ids, parse_ids  # noqa: E402
from assistant.pipeline import GroundedPipeline  # noqa: E402
from assistant.runtime import GenerationParams, LlamaRuntime  # noqa: E402
from index.sentences import split_sentences  # noqa: E402
from index.types import SourceDocument  # noqa: E402

DEFAULT_EVAL = ROOT.parent / "shared" / "eval"
SETS = {"en": "xquad/xquad_dev.en.json", "ru": "xquad/xquad_dev.ru.json", "ja": "jsquad/jsquad_dev.ja.json"}


def article_docs(lang: str, article: dict) -> list[SourceDocument]:
    """Paragraphs (<= 4000 chars) of one article, with offsets into the joined article text."""
    docs, pos = [], 0
    for p in article["paragraphs"]:
        ctx = p["context"]
        for k in range(0, len(ctx), 4000):
            piece = ctx[k:k + 4000]
            docs.append(SourceDocument(article["title"], piece, f"{lang}/{article['title']}.txt", None, pos + k, pos + k + len(piece)))
        pos += len(ctx) + 2
    return docs


def load_sets(eval_dir: Path) -> dict[str, list[dict]]:
    out = {}
    for lang, rel in SETS.items():
        path = eval_dir / rel
        if path.exists():
            out[lang] = json.loads(path.read_text(encoding="utf-8"))["data"]
    return out


def perf_tokens(llm) -> int:
    import llama_cpp

    p = llama_cpp.llama_perf_context(llm.ctx)
    return p.n_p_eval + p.n_eval


# --------------------------------------------------------------------------


def bench_speed(pipe: GroundedPipeline, docs: list[SourceDocument], question: str, n_tokens: int, reps: int) -> bool:
    """Tokens/s of LlamaRuntime.generate vs raw create_completion: the same prompt, the same greedy
    tokens counted the same way (output tokens, end-of-generation excluded), the same text checked."""
    rt = pipe.runtime
    plan = pipe.budget.plan(question, docs)
    r1 = pipe.run_step1(plan)
    ids = list(parse_ids(r1.text, range(len(plan.documents))).ids) or [0]
    step2_text = pipe.builder.step2(question, plan.docs_json, plan.history, format_ids(ids))
    tokens = pipe._step2_tokens(plan.step1_text, plan.step1_tokens, r1, step2_text)
    stop = list(pipe.stop)
    params = GenerationParams(max_tokens=n_tokens, temperature=0.0, stop=tuple(stop))

    def raw(stream: bool):
        def go(llm):
            t0 = time.perf_counter()
            if stream:
                pieces = [c["choices"][0]["text"] for c in llm.create_completion(
                    prompt=tokens, max_tokens=n_tokens, temperature=0.0, stop=stop, stream=True)]
                return time.perf_counter() - t0, "".join(pieces), None
            out = llm.create_completion(prompt=tokens, max_tokens=n_tokens, temperature=0.0, stop=stop)
            return time.perf_counter() - t0, out["choices"][0]["text"], out["usage"]["completion_tokens"]
        return rt.run_with_llama(go)

    ours_rates, raw_rates, stream_rates = [], [], []
    rt.generate(tokens, params)  # warm: the prompt is in the KV cache for every timed run
    texts, counts = set(), set()
    for _ in range(reps):
        r = rt.generate(tokens, params)
        n = r.n_output_tokens  # the tokens both sides produce; each side's rate divides this count
        ours_rates.append(n / r.t_total_s)
        texts.add(("ours", r.text))
        counts.add(n)
        dt, text, n_raw = raw(False)
        raw_rates.append(n / dt)
        texts.add(("raw", text))
        counts.add(n_raw)
        dt, text, _ = raw(True)
        stream_rates.append(n / dt)
        texts.add(("raw stream", text))
    ours, base, streamed = (statistics.median(x) for x in (ours_rates, raw_rates, stream_rates))
    same = len({t for _, t in texts}) == 1 and len(counts) == 1
    print(f"  step-2 prompt: {len(tokens)} tokens (prefix cached), {'/'.join(map(str, sorted(counts)))} tokens "
          f"generated per run, {reps} runs each")
    print(f"  LlamaRuntime.generate           {ours:8.1f} tok/s  (median)")
    print(f"  raw create_completion           {base:8.1f} tok/s")
    print(f"  raw create_completion(stream)   {streamed:8.1f} tok/s")
    print(f"  ratio ours / raw                {ours / base:8.3f}x  (target >= 0.95x)  {'met' if ours / base >= 0.95 else 'NOT met'}")
    print(f"  ratio ours / raw stream         {ours / streamed:8.3f}x")
    print(f"  same text and token count on both sides, every run: {same}")
    if not same:
        for side, text in sorted(texts):
            print(f"    {side}: {text[:120]!r}")
    return ours / base >= 0.95 and same


def bench_reuse(pipe: GroundedPipeline, sets: dict[str, list[dict]], per_lang: int) -> None:
    rt = pipe.runtime
    worst_margin = None
    rows = []
    for lang, data in sets.items():
        done = 0
        for article in data:
            docs = article_docs(lang, article)
            for para in article["paragraphs"]:
                for qa in para["qas"][:1]:
                    if done >= per_lang:
                        break
                    ans = pipe.answer(qa["question"], docs)
                    t = ans.timings
                    if not ans.found:
                        rows.append((lang, t["step1_output_tokens"], None, None))
                    else:
                        bound = t["step1_output_tokens"] + 32
                        margin = bound - t["step2_prompt_evaluated"]
                        worst_margin = margin if worst_margin is None else min(worst_margin, margin)
                        rows.append((lang, t["step1_output_tokens"], t["step2_prompt_evaluated"], t["step2_prompt_tokens"]))
                    done += 1
                if done >= per_lang:
                    break
            if done >= per_lang:
                break
    print(f"  {'lang':4} {'step1 out':>9} {'step2 evaluated':>15} {'bound (out+32)':>14} {'step2 prompt':>12}")
    for lang, out, ev, total in rows:
        if ev is None:
            print(f"  {lang:4} {out:9d} {'(empty ids: no step 2)':>31}")
        else:
            print(f"  {lang:4} {out:9d} {ev:15d} {out + 32:14d} {total:12d}")
    if worst_margin is not None:
        print(f"  all within bound: {worst_margin >= 0} (smallest margin {worst_margin} tokens)")

    # cross-check our counter (tokens handed to llama_decode) with llama.cpp's perf counters
    docs = article_docs("en", next(iter(sets.values()))[0])
    plan = pipe.budget.plan("What is this about?", docs)
    r1 = pipe.run_step1(plan)
    step2_text = pipe.builder.step2("What is this about?", plan.docs_json, plan.history, r1.text)
    tokens = pipe._step2_tokens(plan.step1_text, plan.step1_tokens, r1, step2_text)
    before = rt.run_with_llama(perf_tokens)
    r2 = rt.generate(tokens, GenerationParams(max_tokens=1))
    after = rt.run_with_llama(perf_tokens)
    print(f"  cross-check: step 2 evaluated {r2.n_prompt_evaluated} tokens by our count, "
          f"{after - before} by llama_perf_context (n_p_eval + n_eval); step 1 wrote {r1.n_output_tokens}")


def bench_validity(pipe: GroundedPipeline, sets: dict[str, list[dict]], limit: int, max_docs: int) -> bool:
    all_ok = True
    print(f"  {'lang':4} {'questions':>9} {'valid':>7} {'in set':>7} {'unique':>7} {'empty':>6} {'docs/q':>6} {'s/q':>6}")
    for lang, data in sets.items():
        n = valid = in_set = unique = empty = docs_offered = 0
        t0 = time.perf_counter()
        stop = False
        for article in data:
            docs = article_docs(lang, article)
            if max_docs:
                docs = docs[:max_docs]
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    if limit and n >= limit:
                        stop = True
                        break
                    plan = pipe.budget.plan(qa["question"], docs)
                    offered = list(range(len(plan.documents)))
                    r1 = pipe.run_step1(plan)
                    n += 1
                    docs_offered += len(offered)
                    try:
                        value = json.loads(r1.text)
                        ids = value["relevant_doc_ids"]
                        ok_json = set(value) == {"relevant_doc_ids"} and isinstance(ids, list)
                    except (ValueError, KeyError, TypeError):
                        ok_json, ids = False, []
                    valid += ok_json and r1.finish_reason == "eog"
                    in_set += ok_json and all(isinstance(i, int) and i in offered for i in ids)
                    unique += ok_json and len(set(ids)) == len(ids)
                    empty += ok_json and not ids
                    if n % 50 == 0:
                        print(f"    {lang}: {n} questions, {valid} valid, {in_set} in set, {unique} unique "
                              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
                    assert parse_ids(r1.text, offered).valid == (ok_json and set(ids) <= set(offered) and len(set(ids)) == len(ids))
                if stop:
                    break
            if stop:
                break
        secs = (time.perf_counter() - t0) / max(n, 1)
        ok = n > 0 and valid == in_set == unique == n
        all_ok &= ok
        print(f"  {lang:4} {n:9d} {valid / max(n, 1):7.1%} {in_set / max(n, 1):7.1%} {unique / max(n, 1):7.1%} "
              f"{empty / max(n, 1):6.1%} {docs_offered / max(n, 1):6.1f} {secs:6.2f}", flush=True)
    print(f"  step-1 validity 100% on every question run: {'met' if all_ok else 'NOT met'}")
    return all_ok


_PROTOCOL_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>|<(?:start|end)_of_turn>|<eos>|</s>|\[/?INST\]")


def answer_defects(text: str) -> list[str]:
    """What an answer must never show: step-1 JSON, protocol tokens, literal escapes, a repeated sentence."""
    found = []
    if "relevant_doc_ids" in text:
        found.append("step-1 JSON")
    if _PROTOCOL_TOKEN.search(text):
        found.append("protocol token")
    if "\\n" in text:
        found.append("literal \\n")
    keys = [" ".join(re.findall(r"\w+", text[a:b].lower())) for a, b in split_sentences(text)]
    keys = [k for k in keys if k]
    if len(keys) != len(set(keys)):
        found.append("repeated sentence")
    return found


def bench_guard(rt: LlamaRuntime, sets: dict[str, list[dict]], per_lang: int, max_docs: int) -> bool:
    """Whole answers (default answer length) on dev questions: none may show a defect, and what streamed
    must be exactly the final answer (the guard never withdraws shown text)."""
    from assistant.quote import QuotePipeline
    from bench.bench_quote import holds
    from index.config import EngineSettings
    from index.embedding import Embedder

    pipe = GroundedPipeline(rt)
    quote = QuotePipeline(Embedder(EngineSettings()))  # side by side on the same documents (issue 12)
    total = bad = withdrawn = 0
    reasons: dict[str, int] = {}
    print(f"  {'lang':4} {'answers':>7} {'defects':>7} {'guard stops':>11} {'s/answer':>8} "
          f"{'generate holds':>14} {'quote holds':>11}")
    for lang, data in sets.items():
        n = defects = stops = gen_holds = quote_holds = 0
        t0 = time.perf_counter()
        for article in data:
            docs = article_docs(lang, article)[:max_docs or None]
            for para in article["paragraphs"]:
                if n >= per_lang:
                    break
                qa = para["qas"][0]
                shown: list[str] = []
                ans = pipe.answer(qa["question"], docs, on_token=shown.append)
                n += 1
                gold = qa["answers"][0]["text"] if qa.get("answers") else ""
                gen_holds += holds(ans.answer, gold)
                quote_holds += holds(quote.answer(qa["question"], docs).answer, gold)
                if ans.found and "".join(shown) != ans.answer:
                    withdrawn += 1
                problems = answer_defects(ans.answer)
                if problems:
                    defects += 1
                    print(f"    {lang} {qa['question'][:60]!r}: {', '.join(problems)}: {ans.answer[:160]!r}")
                why = ans.timings.get("answer_guard")
                if why:
                    stops += 1
                    reasons[why] = reasons.get(why, 0) + 1
            if n >= per_lang:
                break
        total += n
        bad += defects
        print(f"  {lang:4} {n:7d} {defects:7d} {stops:11d} {(time.perf_counter() - t0) / max(n, 1):8.2f} "
              f"{gen_holds / max(n, 1):14.3f} {quote_holds / max(n, 1):11.3f}", flush=True)
    print(f"  guard stops by reason: {dict(sorted(reasons.items())) or 'none'}")
    print(f"  answers with step-1 JSON, protocol tokens, literal \\n or a repeated sentence: {bad} of {total} "
          f"(target 0)  {'met' if bad == 0 else 'NOT met'}")
    print(f"  streamed text differs from the final answer: {withdrawn} of {total} (target 0)")
    return bad == 0 and withdrawn == 0 and total > 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="GGUF file (default: the bundled gemma-3-270m)")
    ap.add_argument("--data-dir", type=Path, help="where the bundled model is assembled (default: Docent's data dir)")
    ap.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--limit", type=int, default=20, help="questions per language for step-1 validity (0 = all)")
    ap.add_argument("--max-docs", type=int, default=6,
                    help="documents per question in the validity section, like `ask -k` (0 = as many as fit)")
    ap.add_argument("--reuse-questions", type=int, default=3, help="questions per language for the prefix-reuse table")
    ap.add_argument("--tokens", type=int, default=128, help="tokens generated per speed run")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--guard-questions", type=int, default=10, help="questions per language for the answer-guard section")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: speed,reuse,validity,guard")
    ap.add_argument("--langs", default="en,ru,ja", help="dev sets to use (comma list)")
    ap.add_argument("--threads", type=int, help="llama.cpp threads (default: physical cores; 1 is faster on a busy machine)")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    if args.model:
        model = Path(args.model)
    else:
        from assistant.models import ensure_default_model
        from index.config import data_dir

        model = ensure_default_model(args.data_dir or data_dir(), progress=lambda m: print(m, file=sys.stderr))
    wanted = set(filter(None, args.langs.split(",")))
    sets = {lang: data for lang, data in load_sets(args.eval).items() if lang in wanted}
    if not sets:
        print(f"no evaluation data under {args.eval}")
        return 1
    t0 = time.perf_counter()
    with LlamaRuntime(model, n_ctx=args.n_ctx, n_threads=args.threads, n_threads_batch=args.threads) as rt:
        pipe = GroundedPipeline(rt, max_answer_tokens=16)
        info = rt.info
        print(f"model {rt.meta.describe()}  profile {pipe.profile.key}  {pipe.builder.describe()}")
        print(f"n_ctx {info.n_ctx}  threads {info.n_threads}/{info.n_threads_batch}  device {info.device}  "
              f"n_gpu_layers {info.n_gpu_layers}  (load {time.perf_counter() - t0:.1f} s)")
        first = next(iter(sets.values()))[0]
        ok = True
        if "speed" not in skip:
            print("\n[1] step-2 generation speed, pipeline vs raw llama-cpp-python")
            ok &= bench_speed(pipe, article_docs("en", first), first["paragraphs"][0]["qas"][0]["question"],
                              args.tokens, args.reps)
        if "reuse" not in skip:
            print("\n[2] step-2 prefix reuse: prompt tokens evaluated in step 2 vs step-1 output + 32")
            bench_reuse(pipe, sets, args.reuse_questions)
        if "validity" not in skip:
            print(f"\n[3] step-1 validity on dev-set questions ({'all' if not args.limit else args.limit} per language, "
                  f"{args.max_docs or 'all fitting'} paragraphs of the article as documents)")
            ok &= bench_validity(pipe, sets, args.limit, args.max_docs)
        if "guard" not in skip:
            print(f"\n[4] answer guard: whole answers to {args.guard_questions} dev questions per language")
            ok &= bench_guard(rt, sets, args.guard_questions, args.max_docs)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s  targets {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
