"""Do citations catch wrong claims? `verify` over a real knowledge base of the dev articles, per language.

For each language (en, ru from XQuAD; ja from JSQuAD) the articles become a
knowledge base (one file per article, indexed by the real engine). For a
sample of questions, three kinds of claim are verified against the whole
knowledge base (assistant/verify.py, candidates from hybrid search):

- true: the article's own sentence holding the answer. Hit = supported, cited
  from the right file with a span holding the answer. Target >= 0.97.
- q+a: "question: answer." Target: supported >= 0.85.
- swapped: the true sentence with its answer replaced by another article's
  answer. Supported = false support. Target <= 0.05.
- q+wrong: "question: another article's answer." (reported, no target).

Also the verify throughput in sentences/s over all those claims (target >= 50).
Exits 1 when a target is missed.

    python bench/bench_citations.py [--limit N] [--langs en,ru,ja] [--kb-cache DIR]
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

BATCH = 32  # texts verified together, as `verify --batch` does
TARGETS = {"true": 0.97, "qa": 0.85, "swapped": 0.05, "speed": 50.0}


def claim_of(question: str, answer: str, lang: str) -> str:
    """A plain claim built from a question and an answer: "question: answer." ("question、answer。" in ja)."""
    q = question.strip().rstrip("?？。.").strip()
    return f"{q}、{answer}。" if lang == "ja" else f"{q}: {answer}."


def make_claims(questions: list, lang: str, limit: int, seed: int = 0) -> list[dict]:
    """Sampled questions with their true, q+a, swapped and q+wrong claims (deterministic)."""
    from index.sentences import split_sentences

    rnd = random.Random(seed)
    texts: dict[str, str] = {}
    picked = rnd.sample(questions, min(limit, len(questions)))
    out = []
    for q in picked:
        text = texts.setdefault(q.path, Path(q.path).read_text(encoding="utf-8"))
        paragraph = text[q.paragraph_start:q.paragraph_end]
        sentence = next(((a, b) for a, b in split_sentences(text) if a <= q.answer_start and q.answer_end <= b), None)
        for _ in range(100):  # another article's answer, not in this paragraph
            other = questions[rnd.randrange(len(questions))]
            if other.path != q.path and other.answer not in paragraph and q.answer not in other.answer:
                break
        rec = {"q": q, "qa": claim_of(q.text, q.answer, lang), "qwrong": claim_of(q.text, other.answer, lang)}
        if sentence is not None:
            a, b = sentence
            rec["true"] = text[a:b]
            rec["swapped"] = text[a:q.answer_start] + other.answer + text[q.answer_end:b]
        out.append(rec)
    return out


def worst(result) -> str:
    """The claim's verdict: its weakest sentence (a claim is only as supported as its weakest part)."""
    order = {"supported": 0, "partial": 1, "contradicted": 2, "unsupported": 3}
    verdicts = [s.verdict for s in result.sentences] or ["unsupported"]
    return max(verdicts, key=order.__getitem__)


def run_language(lang: str, limit: int, kb_root: Path, docs_root: Path, mode: str = "hybrid") -> dict:
    from assistant.verify import Verifier
    from index.kb import KnowledgeBase

    questions = evalsets.build(lang, docs_root)
    kb = KnowledgeBase.open(kb_root)
    try:
        t0 = time.perf_counter()
        kb.index([str(docs_root)])
        index_s = time.perf_counter() - t0
        claims = make_claims(questions, lang, limit)
        verifier = Verifier(kb, mode=mode)
        verifier.verify("warm up the search and the analyser.")
        counts = {k: {"n": 0, "supported": 0} for k in ("true", "qa", "swapped", "qwrong")}
        jobs = [(rec, kind) for rec in claims for kind in ("true", "qa", "swapped", "qwrong") if kind in rec]
        right_span = sentences = 0
        t0 = time.perf_counter()
        for n in range(0, len(jobs), BATCH):
            chunk = jobs[n:n + BATCH]
            for (rec, kind), result in zip(chunk, verifier.verify_many([rec[kind] for rec, kind in chunk])):
                q = rec["q"]
                sentences += len(result.sentences)
                verdict = worst(result)
                counts[kind]["n"] += 1
                counts[kind]["supported"] += verdict == "supported"
                if kind == "true" and verdict == "supported":
                    s = result.sentences[0]
                    if len(result.sentences) == 1 and s.document is not None and \
                            evalsets.is_hit(q, s.document.path, s.span_start, s.span_end):
                        right_span += 1
        seconds = time.perf_counter() - t0
    finally:
        kb.close()
    rate = {k: (v["supported"] / v["n"] if v["n"] else 0.0) for k, v in counts.items()}
    return {
        "lang": lang, "claims": len(claims), "true": right_span / max(counts["true"]["n"], 1),
        "qa": rate["qa"], "swapped": rate["swapped"], "qwrong": rate["qwrong"],
        "speed": sentences / seconds if seconds else 0.0, "index_s": index_s,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=300, help="questions per language (default 300)")
    ap.add_argument("--langs", default="en,ru,ja")
    ap.add_argument("--kb-cache", type=Path, default=None,
                    help="keep the knowledge bases here between runs (indexing is the slow part)")
    ap.add_argument("--search", choices=("hybrid", "lexical"), default="hybrid",
                    help="how verify finds candidate passages (default hybrid, as the CLI)")
    args = ap.parse_args(argv)
    langs = [x.strip() for x in args.langs.split(",") if x.strip()]
    missing = [x for x in langs if x not in evalsets.SETS or not evalsets.available(x)]
    if missing:
        print(f"bench_citations: no dev set for {', '.join(missing)} (set DOCENT_EVAL_DIR)", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory(prefix="docent-bench-cit-") as tmp:
        base = args.kb_cache or Path(tmp)
        for lang in langs:
            rows.append(run_language(lang, args.limit, base / f"kb_{lang}", base / f"docs_{lang}", args.search))
    ok = True
    print(f"{'lang':4} {'claims':>6} {'true+span':>9} {'q+a':>6} {'swapped':>8} {'q+wrong':>8} {'sent/s':>7}")
    for r in rows:
        print(f"{r['lang']:4} {r['claims']:6d} {r['true']:9.3f} {r['qa']:6.3f} {r['swapped']:8.3f} "
              f"{r['qwrong']:8.3f} {r['speed']:7.1f}")
        ok &= r["true"] >= TARGETS["true"] and r["qa"] >= TARGETS["qa"]
        ok &= r["swapped"] <= TARGETS["swapped"] and r["speed"] >= TARGETS["speed"]
    print(f"targets: true+span >= {TARGETS['true']}, q+a >= {TARGETS['qa']}, swapped (false support) <= "
          f"{TARGETS['swapped']}, verify >= {TARGETS['speed']:.0f} sentences/s:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
