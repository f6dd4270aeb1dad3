"""Quoted answers on the dev sets: does the answer hold the gold answer, is every sentence cited, how fast.

Per language (en, ru: XQuAD; ja: JSQuAD) the articles become files and a real
knowledge base (bench/evalsets.py); every sixth article is left out of the
knowledge base, and its questions measure how often quote mode answers what
the documents do not hold ("false found"). For the other questions, the
documents come from the real search (`KnowledgeBase.documents_for`), then:

    quote     QuotePipeline (assistant/quote.py) with the knowledge base's embedder
    baseline  the best-overlap sentence of the top 3 passages (shared content terms)
    generate  (--generate N) the bundled gemma through GroundedPipeline, first N questions

"holds" = the gold answer is contained in the answer after normalisation (NFKC, lower case,
punctuation and spaces removed). "cited" = every answer sentence has a citation whose quote is
the file's extracted text at its offsets. Time: quote mode per answer on top of retrieval.

Targets (issue 12): holds >= 0.85 (en, ru, ja), every sentence cited, mean time <= 100 ms.
Exit 1 when a target is missed.

    python bench/bench_quote.py [--langs en,ru,ja] [--limit N] [--generate N] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.quote import QuotePipeline  # noqa: E402
from bench import evalsets  # noqa: E402
from index.analysis import content_terms  # noqa: E402
from index.kb import KnowledgeBase  # noqa: E402
from index.sentences import split_sentences  # noqa: E402

TARGET_HOLDS = 0.85
TARGET_MS = 100.0
HELD_OUT_EVERY = 6


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if not (ch.isspace() or unicodedata.category(ch)[0] in "PS"))


def holds(answer: str, gold: str) -> bool:
    g = norm(gold)
    return bool(g) and g in norm(answer)


def every_sentence_cited(answer, texts: dict[str, str]) -> bool:
    """Each sentence of the answer is covered by a citation quoting the file's text at its offsets."""
    for c in answer.citations:
        doc = answer.documents[c.doc_id]
        file_text = texts.setdefault(doc.path, Path(doc.path).read_text(encoding="utf-8"))
        if file_text[c.span_start:c.span_end] != c.quote or answer.answer[c.answer_start:c.answer_end] != c.quote:
            return False
    covered = [(c.answer_start, c.answer_end) for c in answer.citations]
    return all(any(a <= s and e <= b for a, b in covered) for s, e in split_sentences(answer.answer)) and bool(covered)


def baseline(kb, question: str) -> str:
    """The naive quote: the sentence of the top 3 passages sharing the most content terms with the question."""
    q = set(content_terms(question))
    best, best_overlap = "", -1
    for hit in kb.search(question, 3):
        text = hit.passage.text
        for a, b in split_sentences(text):
            overlap = len(q & set(content_terms(text[a:b])))
            if overlap > best_overlap:
                best, best_overlap = text[a:b], overlap
    return best


def sample(questions: list, limit: int) -> list:
    if limit <= 0 or len(questions) <= limit:
        return questions
    step = len(questions) / limit
    return [questions[int(i * step)] for i in range(limit)]


def run_language(lang: str, tmp: Path, limit: int, generate: int, pipeline_kwargs: dict) -> dict:
    docs_dir = tmp / lang / "docs"
    questions = evalsets.build(lang, docs_dir)
    files = sorted(docs_dir.glob("*.txt"))
    held_out = {str(p.resolve()) for n, p in enumerate(files) if n % HELD_OUT_EVERY == HELD_OUT_EVERY - 1}
    answerable = sample([q for q in questions if q.path not in held_out], limit)
    absent = sample([q for q in questions if q.path in held_out], max(limit // 4, 1) if limit > 0 else 0)
    texts: dict[str, str] = {}
    with KnowledgeBase.open(tmp / lang / "kb") as kb:
        kb.index([str(p) for p in files if str(p.resolve()) not in held_out])
        quote = QuotePipeline(kb.embedder, "bench", **pipeline_kwargs)
        kb.documents_for("warm up", 6)
        quote.answer("warm up", kb.documents_for("warm up", 6))
        n_hold = n_base = n_cited = n_found = n_sent = n_retrieved = 0
        retrieval_ms, quote_ms = [], []
        misses = []
        for q in answerable:
            t = time.perf_counter()
            docs = kb.documents_for(q.text, quote.k)
            t1 = time.perf_counter()
            ans = quote.answer(q.text, docs)
            t2 = time.perf_counter()
            retrieval_ms.append((t1 - t) * 1000)
            quote_ms.append((t2 - t1) * 1000)
            ok = holds(ans.answer, q.answer)
            retrieved = any(evalsets.is_hit(q, d.path, d.char_start, d.char_end) for d in docs)
            n_retrieved += retrieved
            n_hold += ok
            n_found += ans.found
            n_cited += ans.found and every_sentence_cited(ans, texts)
            n_sent += len(ans.citations)
            n_base += holds(baseline(kb, q.text), q.answer)
            if not ok and len(misses) < 400:
                misses.append({"q": q.text, "gold": q.answer, "answer": ans.answer, "retrieved": retrieved})
        false_found = sum(quote.answer(q.text, kb.documents_for(q.text, quote.k)).found for q in absent)
        n = len(answerable) or 1
        result = {
            "questions": len(answerable),
            "holds": round(n_hold / n, 4),
            "baseline": round(n_base / n, 4),
            "found": round(n_found / n, 4),
            "cited": round(n_cited / max(n_found, 1), 4),
            "sentences": round(n_sent / max(n_found, 1), 2),
            "retrieved": round(n_retrieved / n, 4),
            "quote_ms_mean": round(statistics.mean(quote_ms), 1) if quote_ms else 0.0,
            "quote_ms_p95": round(sorted(quote_ms)[int(0.95 * (len(quote_ms) - 1))], 1) if quote_ms else 0.0,
            "retrieval_ms_mean": round(statistics.mean(retrieval_ms), 1) if retrieval_ms else 0.0,
            "absent_questions": len(absent),
            "false_found": round(false_found / max(len(absent), 1), 4),
            "misses": misses,
        }
        if generate > 0:
            result["generate"] = run_generate(kb, sample(answerable, generate))
    return result


def run_generate(kb, questions: list) -> dict:
    """The bundled gemma in generate mode on the same questions: answers holding the gold answer."""
    from assistant.models import ensure_default_model
    from assistant.pipeline import GroundedPipeline
    from assistant.runtime import LlamaRuntime
    from index.config import data_dir

    from bench.bench_pipeline import answer_defects

    path = ensure_default_model(data_dir())
    n_hold, n_quote, seconds, defects = 0, 0, [], []
    quote = QuotePipeline(kb.embedder, "bench")
    with LlamaRuntime(path, n_ctx=8192) as runtime:
        pipeline = GroundedPipeline(runtime)
        for q in questions:
            docs = kb.documents_for(q.text, 6)
            t = time.perf_counter()
            ans = pipeline.answer(q.text, docs)
            seconds.append(time.perf_counter() - t)
            n_hold += holds(ans.answer, q.answer)
            n_quote += holds(quote.answer(q.text, docs).answer, q.answer)
            problems = answer_defects(ans.answer)
            if problems:
                defects.append({"q": q.text, "problems": problems, "answer": ans.answer[:300]})
                print(f"  defect: {q.text[:60]!r}: {', '.join(problems)}: {ans.answer[:160]!r}", file=sys.stderr)
    n = max(len(questions), 1)
    return {"questions": len(questions), "holds": round(n_hold / n, 4), "quote_holds": round(n_quote / n, 4),
            "defects": len(defects), "defect_examples": defects[:5],
            "s_per_answer": round(statistics.mean(seconds), 2) if seconds else 0.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--langs", default="en,ru,ja")
    ap.add_argument("--limit", type=int, default=300, help="answerable questions per language (0 = all)")
    ap.add_argument("--generate", type=int, default=0, metavar="N", help="also run generate mode on N questions")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--misses", metavar="FILE", help="write the questions quote mode missed (JSON lines)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a QuotePipeline parameter")
    args = ap.parse_args()
    kwargs = {k: float(v) if "." in v else int(v) for k, v in (s.split("=", 1) for s in args.set)}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="docent-quote-") as tmp:
        for lang in args.langs.split(","):
            if not evalsets.available(lang):
                print(f"{lang}: dev set not found under {evalsets.EVAL_DIR}", file=sys.stderr)
                return 1
            results[lang] = run_language(lang, Path(tmp), args.limit, args.generate, kwargs)
    if args.misses:
        with open(args.misses, "w", encoding="utf-8") as f:
            for lang, r in results.items():
                for m in r["misses"]:
                    f.write(json.dumps({"lang": lang, **m}, ensure_ascii=False) + "\n")
    for r in results.values():
        r.pop("misses")
    failed = [lang for lang, r in results.items()
              if r["holds"] < TARGET_HOLDS or r["cited"] < 1.0 or r["quote_ms_mean"] > TARGET_MS]
    if args.json:
        print(json.dumps({"results": results, "failed": failed}, ensure_ascii=False, indent=2))
    else:
        print(f"{'lang':4} {'n':>4} {'holds':>6} {'base':>6} {'found':>6} {'cited':>6} {'sent':>5} "
              f"{'in-docs':>7} {'ms':>6} {'p95':>6} {'retr':>6} {'absent':>6} {'f-found':>7}  generate")
        for lang, r in results.items():
            g = r.get("generate")
            gen = (f"{g['holds']:.3f} (quote {g['quote_holds']:.3f}) of {g['questions']}, {g['defects']} defects, "
                   f"{g['s_per_answer']} s/answer" if g else "-")
            print(f"{lang:4} {r['questions']:4d} {r['holds']:6.3f} {r['baseline']:6.3f} {r['found']:6.3f} "
                  f"{r['cited']:6.3f} {r['sentences']:5.2f} {r['retrieved']:7.3f} {r['quote_ms_mean']:6.1f} "
                  f"{r['quote_ms_p95']:6.1f} {r['retrieval_ms_mean']:6.1f} {r['absent_questions']:6d} "
                  f"{r['false_found']:7.3f}  {gen}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"targets: holds >= {TARGET_HOLDS}, cited = 1.000, ms (mean quote time on top of retrieval) "
              f"<= {TARGET_MS:.0f}; {'MISSED: ' + ', '.join(failed) if failed else 'all met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
