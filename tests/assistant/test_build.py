"""build_pipeline (assistant/build.py): one way to build the answering pipeline for the CLI and the app."""
from __future__ import annotations

import threading

import pytest

from assistant.build import MAX_K, PipelineSettings, build_pipeline, is_chat_model
from assistant.errors import AssistantError, ModelError
from assistant.gguf_meta import read_gguf_meta
from assistant.pipeline import GroundedPipeline
from assistant.profiles import detect_profile
from assistant.protocol import AnswerPipeline
from index.types import Retrieved, SourceDocument

DOCS = [SourceDocument("Sea", "The sea level rose by 20 cm.", "/kb/sea.txt", None, 0, 28)]


def test_a_chat_model_generates_and_implements_the_contract(tiny_model):
    s = PipelineSettings(model_path=str(tiny_model("vikhr")), threads=1, n_ctx=1024, max_answer_tokens=8, k=3,
                         temperature=0.0)
    pipeline = build_pipeline(s)
    try:
        assert isinstance(pipeline, GroundedPipeline) and isinstance(pipeline, AnswerPipeline)
        assert pipeline.mode == "generate" and pipeline.k == 3 and pipeline.profile.sampling.temperature == 0.0
        assert set(pipeline.model_info) >= {"path", "profile", "n_gpu_layers"}
        steps: list[tuple] = []
        # search warnings (e.g. the vector store down) travel with the documents into the answer
        answer = pipeline.answer("How much did the sea rise?", Retrieved(DOCS, ["vector search unavailable"]),
                                 on_step1=lambda ids, n: steps.append((ids, n)))
        assert "vector search unavailable" in answer.warnings and answer.mode == "generate"
        assert len(steps) == 1 and steps[0][1] == 1  # step 1 reported once, with the documents offered
    finally:
        pipeline.close()  # releases the model: nobody has to reach for its runtime
    with pytest.raises(AssistantError, match="closed"):
        pipeline.runtime.tokenize("x")


def test_which_models_can_chat(tiny_model, gemma_path):
    for family, chat in (("vikhr", True), ("saiga_llama3", True), ("bare", False)):
        meta = read_gguf_meta(tiny_model(family))
        assert is_chat_model(meta, detect_profile(meta)) is chat, family
    gemma = read_gguf_meta(gemma_path)  # the bundled base model: no chat template, not a chat family
    assert not is_chat_model(gemma, detect_profile(gemma))
    assert is_chat_model(gemma, detect_profile(gemma), forced=True)  # --profile: the user says it can


def test_generate_mode_forces_a_base_model(tiny_model):
    pipeline = build_pipeline(PipelineSettings(mode="generate", model_path=str(tiny_model("bare")), threads=1,
                                               n_ctx=512, max_answer_tokens=4))
    try:
        assert pipeline.mode == "generate"
    finally:
        pipeline.close()


@pytest.mark.parametrize("change, message", [
    ({"mode": "poem"}, "mode must be one of auto, generate, quote"),
    ({"k": 0}, f"between 1 and {MAX_K}"),
    ({"k": MAX_K + 1}, f"between 1 and {MAX_K}"),
    ({"profile": "nope"}, "unknown model profile"),
])
def test_bad_settings_are_one_line_errors(change, message):
    with pytest.raises(ModelError, match=message):
        build_pipeline(PipelineSettings(**change))


def test_api_key_from_a_named_variable_must_be_set(monkeypatch):
    monkeypatch.delenv("DOCENT_TEST_NO_KEY", raising=False)
    with pytest.raises(ModelError, match="DOCENT_TEST_NO_KEY"):
        build_pipeline(PipelineSettings(endpoint_url="http://127.0.0.1:9/v1", api_key_env="DOCENT_TEST_NO_KEY"),
                       cancel=threading.Event())
