"""Integration on the real bundled gemma-3-270m GGUF (select with -m gemma)."""
from __future__ import annotations

import time

import pytest

from assistant.grammar import parse_ids
from assistant.pipeline import GroundedPipeline
from assistant.runtime import LlamaRuntime
from index.types import SourceDocument

pytestmark = [pytest.mark.gemma, pytest.mark.timeout(120)]

DOCS = [
    SourceDocument("Trans-Siberian Railway", "The Trans-Siberian Railway connects Moscow with Vladivostok. Its length is 9,288 kilometres.", "/kb/ts.txt", None, 0, 93),
    SourceDocument("Транссиб", "Строительство Транссибирской магистрали началось в 1891 году во Владивостоке.", "/kb/ts.ru.txt", None, 40, 117),
    SourceDocument("茶道", "わび茶を大成したのは千利休である。", "/kb/chado.txt", None, 0, 17),
]


def test_gemma_two_step_pipeline(gemma_path):
    t0 = time.monotonic()
    with LlamaRuntime(gemma_path, n_ctx=2048) as rt:
        pipe = GroundedPipeline(rt, max_answer_tokens=24)
        assert pipe.profile.key == "gemma" and not pipe.builder.uses_template
        for question in ("How long is the Trans-Siberian Railway?", "Когда началось строительство Транссиба?"):
            ans = pipe.answer(question, DOCS)
            assert parse_ids(ans.step1_output, range(3)).valid
            t = ans.timings
            if ans.found:
                assert ans.answer
                assert t["step2_prompt_evaluated"] <= t["step1_output_tokens"] + 32, t
                assert t["step2_prefix_reused"] >= t["step1_prompt_tokens"]
            assert ans.model["profile"] == "gemma" and ans.model["n_gpu_layers"] >= 0
    assert time.monotonic() - t0 < 100
