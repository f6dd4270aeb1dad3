"""GGUF header checks before llama.cpp, and model profile detection."""
from __future__ import annotations

import struct

import pytest

from assistant.errors import ModelError
from assistant.gguf_meta import read_gguf_meta
from assistant.profiles import detect_profile
from assistant.runtime import LlamaRuntime
from tests.fixtures.tiny_gguf import FAMILIES, VIKHR_TEMPLATE, write_tiny_gguf


def test_reads_metadata(tiny_model):
    meta = read_gguf_meta(tiny_model("vikhr"))
    assert meta.name == "Vikhr-Llama3.1-8B-Instruct-R-21-09-24"
    assert meta.architecture == "llama"
    assert meta.chat_template == VIKHR_TEMPLATE
    assert meta.context_length == 8192 and meta.block_count == 2
    assert meta.bos_text == "<|begin_of_text|>" and meta.eos_text == "<|eot_id|>"
    assert meta.token_text(meta.token_id("eot")) == "<|eot_id|>"
    assert meta.has_token("<|start_header_id|>")
    assert meta.data_offset + meta.data_size == meta.file_size


@pytest.mark.parametrize(
    "family, profile",
    [
        ("vikhr", "vikhr"), ("vikhr_nemo", "vikhr_nemo"), ("saiga_llama3", "saiga_llama3"),
        ("saiga_chatml", "saiga_llama3_chatml"), ("t_lite", "t_lite"), ("suzume", "suzume"),
        ("shisa", "shisa"), ("gemma", "gemma"), ("generic", "generic"), ("bare", "generic"),
    ],
)
def test_detect_profile(tiny_model, family, profile):
    assert detect_profile(read_gguf_meta(tiny_model(family))).key == profile


def test_detect_profile_without_template_uses_vocabulary(tmp_path):
    path = write_tiny_gguf(tmp_path / "x.gguf", "saiga_chatml", name="Some-Llama3-Finetune", chat_template=None)
    prof = detect_profile(read_gguf_meta(path))
    assert prof.key == "generic" and prof.prompt_format == "chatml"
    bare = detect_profile(read_gguf_meta(write_tiny_gguf(tmp_path / "y.gguf", "bare")))
    assert bare.prompt_format == "plain" and "no chat template" in bare.notes


def test_real_gemma_header_if_assembled(gemma_path):
    meta = read_gguf_meta(gemma_path)
    assert meta.architecture == "gemma3" and meta.chat_template is None
    assert detect_profile(meta).key == "gemma"
    assert meta.data_offset + meta.data_size == meta.file_size


@pytest.mark.parametrize("keep", [3, 30, 200, 5000, -100_000, -1])
def test_truncated_file_refused(tiny_model, tmp_path, keep):
    data = tiny_model("vikhr").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:keep] if keep > 0 else data[:keep])
    with pytest.raises(ModelError) as exc:
        read_gguf_meta(cut)
    msg = str(exc.value)
    assert "truncated" in msg or "not a GGUF" in msg or "cut off" in msg
    with pytest.raises(ModelError):  # the runtime checks before llama.cpp sees the file
        LlamaRuntime(cut, n_ctx=256)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world, not a model", b"%PDF-1.7\n" + b"0" * 100, b"GGUF" + struct.pack("<I", 99) + b"\0" * 40,
     b"GGUF" + struct.pack("<I", 3) + struct.pack("<QQ", 10**12, 1) + b"\0" * 40],
)
def test_non_gguf_refused(tmp_path, content):
    p = tmp_path / "bad.gguf"
    p.write_bytes(content)
    with pytest.raises(ModelError):
        read_gguf_meta(p)


def test_missing_and_directory(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        read_gguf_meta(tmp_path / "nope.gguf")
    with pytest.raises(ModelError, match="folder"):
        read_gguf_meta(tmp_path)


def test_corrupt_tensor_data_is_llama_error_not_crash(tiny_model, tmp_path):
    """A header-valid file with a tensor type llama.cpp rejects -> ModelError, app stays usable."""
    data = bytearray(tiny_model("bare").read_bytes())
    meta = read_gguf_meta(tiny_model("bare"))
    # flip the architecture name so llama.cpp refuses to load it
    idx = data.find(b"general.architecture")
    j = data.find(b"llama", idx)
    data[j:j + 5] = b"zzzzz"
    p = tmp_path / "weird.gguf"
    p.write_bytes(bytes(data))
    assert read_gguf_meta(p).architecture == "zzzzz"
    with pytest.raises(ModelError, match="could not load"):
        LlamaRuntime(p, n_ctx=256)
    assert meta.n_tensors > 0
