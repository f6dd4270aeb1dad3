"""Nothing may overflow n_ctx: documents packed, history trimmed, long questions refused."""
from __future__ import annotations

import random

import pytest

from assistant.errors import BudgetError
from assistant.pipeline import GroundedPipeline
from assistant.prompts import Turn
from index.types import SourceDocument

WORDS = "alpha beta gamma delta Москва магистраль 東京 茶道 river mountain 1891 длина".split()


def make_doc(rng, i, n_chars, start=0):
    text = []
    while sum(len(w) + 1 for w in text) < n_chars:
        text.append(rng.choice(WORDS) + ("." if rng.random() < 0.15 else ""))
    content = " ".join(text)[:n_chars]
    return SourceDocument(f"doc {i}", content, f"/kb/file{i}.txt", None, start, start + len(content))


@pytest.mark.parametrize("family", ["vikhr", "shisa", "gemma", "saiga_chatml"])
def test_random_plans_never_overflow(tiny_runtime, family):
    rt = tiny_runtime(family, 1024)
    rng = random.Random(family)
    for trial in range(12):
        pipe = GroundedPipeline(rt, max_answer_tokens=rng.choice([16, 64, 200, 600]))
        docs = [make_doc(rng, i, rng.randint(50, 4500), rng.randint(0, 10_000)) for i in range(rng.randint(0, 7))]
        history = [Turn("q" * rng.randint(1, 300), "a" * rng.randint(1, 300)) for _ in range(rng.randint(0, 5))]
        question = "question " * rng.randint(1, 20)
        try:
            plan = pipe.budget.plan(question, docs, history)
        except BudgetError as exc:  # documents given, none fits: an error, never "no information"
            assert docs and "no document fits" in str(exc)
            with pytest.raises(BudgetError, match="no document fits"):
                pipe.answer(question, docs, history)
            continue
        assert plan.worst_case_tokens <= rt.n_ctx
        assert len(plan.step1_tokens) + plan.step1_max_tokens + plan.answer_max_tokens <= rt.n_ctx
        for packed in plan.documents:  # cut documents keep a prefix: offsets stay exact
            orig = next(d for d in docs if d.path == packed.path)
            assert orig.content.startswith(packed.content) and len(packed.content) <= 4000
            assert packed.char_end - packed.char_start == len(packed.content)
            assert packed.char_start == orig.char_start
        assert [t for t in history if t in plan.history] == plan.history
        assert plan.history == history[len(history) - len(plan.history):]  # oldest dropped first
        # and the real two-step run stays inside the window (llama.cpp would refuse otherwise)
        ans = pipe.answer(question, docs, history)
        t = ans.timings
        if ans.found:
            assert t["step2_prompt_tokens"] + t["step2_output_tokens"] <= rt.n_ctx


def test_documents_capped_at_the_step1_grammar_limit(tiny_runtime):
    from assistant.grammar import MAX_IDS, ids_grammar

    pipe = GroundedPipeline(tiny_runtime("vikhr", 8192), max_answer_tokens=16)
    rng = random.Random(3)
    docs = [make_doc(rng, i, 20) for i in range(MAX_IDS + 6)]
    plan = pipe.budget.plan("q?", docs)
    assert len(plan.documents) <= MAX_IDS
    assert any(f"first {MAX_IDS}" in w for w in plan.warnings)
    ids_grammar(range(len(plan.documents)))  # the grammar accepts what was offered


def test_question_longer_than_context(tiny_runtime):
    rt = tiny_runtime("vikhr", 512)
    pipe = GroundedPipeline(rt)
    with pytest.raises(BudgetError, match="too long"):
        pipe.answer("why " * 400, [])


def test_documents_that_do_not_fit_are_cut_then_dropped(tiny_runtime):
    rt = tiny_runtime("vikhr", 1024)
    pipe = GroundedPipeline(rt, max_answer_tokens=128)
    rng = random.Random(1)
    docs = [make_doc(rng, i, 3000) for i in range(4)]
    plan = pipe.budget.plan("What?", docs)
    assert 1 <= len(plan.documents) < 4
    assert plan.truncated_documents >= 1 and plan.dropped_documents >= 1
    assert any("left out" in w for w in plan.warnings)
    assert [d.path for d in plan.documents] == [d.path for d in docs[: len(plan.documents)]]


def test_history_trimmed_oldest_first(tiny_runtime):
    rt = tiny_runtime("saiga_llama3", 2048)
    pipe = GroundedPipeline(rt, max_answer_tokens=64)
    history = [Turn(f"question {i} " * 3, f"answer {i} " * 3) for i in range(10)]
    plan = pipe.budget.plan("Next?", [], history)
    assert 0 < len(plan.history) < 10
    assert plan.history[-1] is history[-1]
    assert plan.dropped_turns == 10 - len(plan.history)
