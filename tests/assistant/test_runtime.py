"""LlamaRuntime: one worker thread, per-token cancellation, measured prefix reuse."""
from __future__ import annotations

import threading
import time

import pytest

from assistant.errors import BudgetError
from assistant.runtime import GenerationParams, LlamaRuntime, _StopMatcher, physical_cores

FREE = GenerationParams(max_tokens=4000, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=7)


def test_info_and_threads(tiny_runtime):
    rt = tiny_runtime("vikhr")
    info = rt.info
    assert info.n_ctx == 2048 and info.device in ("cpu", "gpu")
    assert info.n_threads == 1  # the fixture asks for one
    assert info.n_gpu_layers == 0 or info.gpu_offload_supported


def test_llama_is_only_touched_by_the_worker(tiny_runtime):
    rt = tiny_runtime("vikhr")
    names = set()
    rt.run_with_llama(lambda llm: names.add(threading.current_thread().name))
    rt.generate("<|begin_of_text|>x", GenerationParams(max_tokens=3), on_token=lambda s: names.add(threading.current_thread().name))
    assert names == {"docent-llama"}


def test_n_ctx_capped_by_model(tiny_model):
    with LlamaRuntime(tiny_model("bare"), n_ctx=100_000) as rt:
        assert rt.n_ctx == 8192
        assert any("capped" in w for w in rt.info.warnings)
        assert rt.info.n_threads == physical_cores() >= 1  # default: physical cores


def test_tokenize_special_and_bos(tiny_runtime):
    rt = tiny_runtime("vikhr")
    toks = rt.tokenize("<|begin_of_text|><|start_header_id|>user<|end_header_id|>")
    assert toks[0] == rt.tokenize("<|begin_of_text|>")[0] and len(toks) == 2 + len("user") + 1
    assert rt.tokenize("ab", add_bos=True)[0] == toks[0]
    assert rt.tokenize("<|begin_of_text|>ab", add_bos=True).count(toks[0]) == 1
    assert rt.count_tokens("abc") == 3
    assert rt.detokenize(rt.tokenize("Привет, 日本")) == "Привет, 日本"


@pytest.mark.timeout(60)
def test_cancel_mid_generation_stops_fast_and_runtime_stays_usable(tiny_runtime):
    rt = tiny_runtime("vikhr")
    cancel = threading.Event()
    pieces = []

    def on_token(p):
        pieces.append(p)
        if len(pieces) == 10:
            cancel.set()

    r = rt.generate("<|begin_of_text|>hello", FREE, on_token=on_token, cancel=cancel)
    # pieces can lag tokens by an incomplete UTF-8 byte sequence, never more
    assert r.finish_reason == "cancelled" and 10 <= r.n_output_tokens <= 13
    assert r.text == "".join(pieces)
    # from another thread, while it runs
    cancel2 = threading.Event()
    got, done = [], []
    worker = threading.Thread(target=lambda: done.append(rt.generate(
        "<|begin_of_text|>again", GenerationParams(max_tokens=2000, temperature=1.0, top_k=0, min_p=0.0, seed=3),
        on_token=got.append, cancel=cancel2)))
    t0 = time.monotonic()
    worker.start()
    while len(got) < 5 and worker.is_alive():
        time.sleep(0.001)
    cancel2.set()
    worker.join(10)
    assert time.monotonic() - t0 < 5
    # the canceller runs on another thread: the worker may be a few tokens ahead, never at the end
    assert done[0].finish_reason == "cancelled" and done[0].n_output_tokens < 1500
    # the runtime still answers normally afterwards
    r2 = rt.generate("<|begin_of_text|>hello", GenerationParams(max_tokens=8, seed=1))
    assert r2.finish_reason in ("length", "eog") and r2.n_output_tokens <= 8
    # a cancel set before the request starts: no work at all
    pre = threading.Event()
    pre.set()
    assert rt.generate("<|begin_of_text|>x", FREE, cancel=pre).finish_reason == "cancelled"


def test_prefix_reuse_is_measured(tiny_runtime):
    rt = tiny_runtime("saiga_llama3")
    base = "<|begin_of_text|>" + "documents " * 50
    r1 = rt.generate(base, GenerationParams(max_tokens=1))
    assert r1.n_prompt_evaluated == r1.n_prompt_tokens - r1.n_prefix_reused
    r2 = rt.generate(base + "question", GenerationParams(max_tokens=1))
    assert r2.n_prefix_reused == r1.n_prompt_tokens
    assert r2.n_prompt_evaluated == len("question")
    r3 = rt.generate(base + "question", GenerationParams(max_tokens=1))
    assert r3.n_prompt_evaluated == 0 and r3.n_prefix_reused == r3.n_prompt_tokens  # logits still valid
    r4 = rt.generate(base, GenerationParams(max_tokens=1))
    assert r4.n_prompt_evaluated == 1 and r4.n_prefix_reused == r4.n_prompt_tokens - 1  # logits refreshed


def test_prompt_longer_than_context_is_refused(tiny_runtime):
    rt = tiny_runtime("bare", 256)
    with pytest.raises(BudgetError):
        rt.generate("x" * 400, GenerationParams(max_tokens=4))
    r = rt.generate("x" * 250, GenerationParams(max_tokens=100, temperature=1.0, top_k=0, min_p=0.0))
    assert r.n_prompt_tokens + r.n_output_tokens <= 256


def test_stop_strings_cut_text():
    m = _StopMatcher(["<|im_end|>", "###"])
    out = []
    for piece in ["Hel", "lo <|im", "_e", "nd|> tail"]:
        text, hit = m.push(piece)
        out.append(text)
        if hit:
            break
    assert "".join(out) == "Hello " and hit
    m2 = _StopMatcher(["###"])
    assert m2.push("a#")[0] == "a" and m2.push("b")[0] == "#b"
