"""The optional model check on real llama.cpp models: grammar-bound verdicts for partial sentences.

A tiny random model cannot judge anything, so these tests check the mechanics that do not depend
on the model being right: every reply parses under the grammar, its verdict replaces the rules'
partial one (marked checked_by model), the check turns reuse the answer's KV prefix, and the
setting resolves (auto is off on a CPU)."""
from __future__ import annotations

import time

import pytest

from assistant import model_check
from assistant.answer import grounded_answer
from assistant.build import PipelineSettings, build_pipeline
from assistant.citations import PARTIAL
from assistant.errors import ModelError
from assistant.grammar import format_ids
from assistant.pipeline import GroundedPipeline
from assistant.runtime import LlamaRuntime
from index.types import SourceDocument

DOCS = [
    SourceDocument("Trans-Siberian Railway", "The Trans-Siberian Railway connects Moscow with Vladivostok. "
                   "Its length is 9,288 kilometres.", "/kb/ts.txt", None, 0, 93),
    SourceDocument("Tea", "Sen no Rikyu perfected the wabi style of the tea ceremony in Kyoto.", "/kb/tea.txt", None, 0, 67),
]
QUESTION = "What does the Trans-Siberian Railway connect?"
# Sentence 1: the span lacks "Beijing" and "daily" (partial by the rules); sentence 2 is supported.
ANSWER = ("The Trans-Siberian Railway connects Moscow with Vladivostok and Beijing daily. "
          "Its length is 9,288 kilometres.")


def _answer_with_partials(pipe: GroundedPipeline):
    """A real alignment of ANSWER, with the chat turns and prompt the answer would have had."""
    plan = pipe.budget.plan(QUESTION, DOCS)
    answer = grounded_answer(pipe.aligner, question=QUESTION, text=ANSWER, chosen=[0], documents=plan.documents,
                             found=True, timings={}, started=time.perf_counter(), model={}, language="en",
                             warnings=[])
    messages = pipe.builder.step2_messages(QUESTION, plan.docs_json, [], format_ids([0]))
    prefix_text = pipe.builder.render(messages, True)
    messages.append({"role": "assistant", "content": ANSWER})
    return answer, messages, prefix_text


def test_grammar_replies_parse_and_only_these():
    assert model_check.parse_verdict('{"verdict": "supported"}') == "supported"
    assert model_check.parse_verdict('{"verdict": "not_in_source"}') == "unsupported"
    assert model_check.parse_verdict('{"verdict": "contradicted"}') == "contradicted"
    for bad in ('{"verdict": "maybe"}', '{"verdict": "supported", "x": 1}', "supported", "[]"):
        assert model_check.parse_verdict(bad) is None


@pytest.mark.parametrize("family", ["vikhr", "gemma"])
def test_partial_sentences_get_the_models_verdict(tiny_runtime, family):
    rt = tiny_runtime(family)
    pipe = GroundedPipeline(rt, max_answer_tokens=16, model_check=True)
    answer, messages, prefix_text = _answer_with_partials(pipe)
    before = [(c.answer_start, c.verdict) for c in answer.citations]
    partial_starts = {start for start, verdict in before if verdict == PARTIAL}
    assert partial_starts, before  # the rules leave the first sentence partial
    # Two partial sentences: the same one twice is enough to see the second check reuse the first's prefix.
    answer.citations = answer.citations + [c for c in answer.citations if c.verdict == PARTIAL]
    prefix_tokens = pipe.tokenize_prompt(prefix_text)
    model_check.check_partials(pipe, answer, messages, prefix_tokens, prefix_text)
    t = answer.timings
    assert t["model_check_sentences"] == 2  # every grammar-bound reply parsed
    judged = [c for c in answer.citations if c.answer_start in partial_starts] + \
             [u for u in answer.unsupported if u.answer_start in partial_starts]
    assert judged and all(x.checked_by == "model" for x in judged)
    assert all(c.verdict != PARTIAL for c in answer.citations)
    untouched = [c for c in answer.citations if c.answer_start not in partial_starts]
    assert untouched and all(c.checked_by == "rules" for c in untouched)
    # the second check found the documents and the answer in the KV cache
    assert t["model_check_prefix_reused"] >= len(prefix_tokens), t
    data = answer.to_json()
    assert {c["checked_by"] for c in data["citations"] + data["unsupported"]} <= {"rules", "model"}
    assert sum(answer.counts().values()) == len(answer.citations) + len(answer.unsupported)


def test_setting_resolves_auto_off_on_cpu(tiny_model):
    path = tiny_model("vikhr")
    with LlamaRuntime(path, n_ctx=512, n_gpu_layers=0, n_threads=1) as rt:
        assert model_check.resolve("auto", rt) is False
        assert model_check.resolve("on", rt) is True and model_check.resolve("off", rt) is False
    pipe = build_pipeline(PipelineSettings(mode="generate", model_path=str(path), n_ctx=512, n_gpu_layers=0,
                                           threads=1, model_check="on"))
    try:
        assert pipe.model_check is True and pipe.model_info["model_check"] is True
    finally:
        pipe.close()
    with pytest.raises(ModelError, match="model check must be one of"):
        build_pipeline(PipelineSettings(mode="generate", model_path=str(path), model_check="sometimes"))
