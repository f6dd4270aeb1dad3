"""Model profiles: prompt format, system prompts and sampling per model family.

The values come from the model cards in ../shared/seeds (prompt formats,
Vikhr's GROUNDED_SYSTEM_PROMPT verbatim, Saiga's default system prompt, Shisa's
sampling).  Where a card gives no sampling advice we use a conservative
low-temperature setting suited to grounded answers, and say so in `notes`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.gguf_meta import GGUFMeta

# Verbatim from the Vikhr-Llama3.1-8B-Instruct-R card ("Как работать с RAG").
GROUNDED_SYSTEM_PROMPT = (
    "Your task is to answer the user's questions using only the information from the provided documents. "
    "Give two answers to each question: one with a list of relevant document identifiers and the second "
    "with the answer to the question itself, using documents with these identifiers."
)

# Saiga card, DEFAULT_SYSTEM_PROMPT.
SAIGA_SYSTEM_PROMPT = (
    "Ты — Сайга, русскоязычный автоматический ассистент. Ты разговариваешь с людьми и помогаешь им."
)

# Shisa card, "Prompt format" (English variant).
SHISA_SYSTEM_PROMPT = "You are a helpful, unbiased, uncensored assistant."

# For models without a `documents` role: the Vikhr instruction, made explicit
# about the JSON first answer and the empty list, plus where the documents are.
FOLDED_GROUNDING = (
    GROUNDED_SYSTEM_PROMPT
    + ' The first answer is only a JSON object {"relevant_doc_ids": [...]} with the doc_id of every relevant'
    " document; if no document answers the question, the list is empty and the second answer says that the"
    " knowledge base has no information on it. Answer in the language of the question."
)
FOLDED_DOCUMENTS_HEADER = "Documents:"

# llama-2 has no way to start a second assistant turn: step 2 asks for it.
LLAMA2_STEP2_FOLLOWUP = "Now answer the question."

# Prompt formats with a fixed renderer in assistant.prompts.
FORMATS = ("llama3", "vikhr_nemo", "chatml", "llama2", "gemma", "plain")


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.3
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1


@dataclass(frozen=True)
class ModelProfile:
    """How to talk to one model family."""

    key: str
    title: str
    prompt_format: str                      # one of FORMATS
    documents_role: bool = False            # native `documents` turn (Vikhr)
    use_gguf_template: bool = False         # render with the GGUF's own chat template when present
    default_system_prompt: str | None = None
    grounded_system_prompt: str = FOLDED_GROUNDING
    sampling: Sampling = field(default_factory=Sampling)
    stop: tuple[str, ...] = ()
    needs_bos: bool = False                 # the prompt must start with BOS (Shisa)
    step2_followup: str | None = None       # user turn that asks for step 2 (llama-2)
    notes: str = ""


_LLAMA3_STOP = ("<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>")
_CHATML_STOP = ("<|im_end|>", "<|im_start|>", "<|endoftext|>")
_LLAMA2_STOP = ("</s>", "[INST]")
_GEMMA_STOP = ("<end_of_turn>", "<start_of_turn>", "<eos>")

PROFILES: dict[str, ModelProfile] = {
    "vikhr": ModelProfile(
        key="vikhr",
        title="Vikhr-Llama3.1-8B-Instruct-R",
        prompt_format="llama3",
        documents_role=True,
        use_gguf_template=True,
        grounded_system_prompt=GROUNDED_SYSTEM_PROMPT,
        sampling=Sampling(temperature=0.3, top_p=0.9, repeat_penalty=1.0),
        stop=_LLAMA3_STOP,
        notes="card: temperature 0.3 for the answer (0.1-0.4 recommended), 0.0 for the ids",
    ),
    "vikhr_nemo": ModelProfile(
        key="vikhr_nemo",
        title="Vikhr-Nemo-12B-Instruct-R",
        prompt_format="vikhr_nemo",
        documents_role=True,
        use_gguf_template=True,
        grounded_system_prompt=GROUNDED_SYSTEM_PROMPT,
        sampling=Sampling(temperature=0.3, top_p=0.9, repeat_penalty=1.0),
        stop=("</s>", "<|start_header_id|>"),
        notes="Vikhr headers with </s> in place of <|eot_id|>",
    ),
    "saiga_llama3": ModelProfile(
        key="saiga_llama3",
        title="Saiga Llama-3 8B (v4+)",
        prompt_format="llama3",
        default_system_prompt=SAIGA_SYSTEM_PROMPT,
        stop=_LLAMA3_STOP,
        notes="card gives no sampling advice: grounded default",
    ),
    "saiga_llama3_chatml": ModelProfile(
        key="saiga_llama3_chatml",
        title="Saiga Llama-3 8B (v2/v3, ChatML)",
        prompt_format="chatml",
        default_system_prompt=SAIGA_SYSTEM_PROMPT,
        stop=_CHATML_STOP + ("<|eot_id|>",),
        notes="card gives no sampling advice: grounded default",
    ),
    "t_lite": ModelProfile(
        key="t_lite",
        title="T-lite-instruct-0.1",
        prompt_format="llama3",
        stop=_LLAMA3_STOP,
        notes="card: Llama-3 terminators (eos, <|eot_id|>); no sampling advice: grounded default",
    ),
    "suzume": ModelProfile(
        key="suzume",
        title="Suzume Llama-3 8B multilingual",
        prompt_format="llama3",
        sampling=Sampling(temperature=0.0, top_p=1.0, repeat_penalty=1.05),
        stop=_LLAMA3_STOP,
        notes="card example uses temperature 0.0",
    ),
    "shisa": ModelProfile(
        key="shisa",
        title="Shisa 7B",
        prompt_format="llama2",
        default_system_prompt=SHISA_SYSTEM_PROMPT,
        sampling=Sampling(temperature=0.5, top_p=0.95, top_k=0, min_p=0.0, repeat_penalty=1.15),
        stop=_LLAMA2_STOP,
        needs_bos=True,
        step2_followup=LLAMA2_STEP2_FOLLOWUP,
        notes="card: temperature 0.5, repetition_penalty 1.15, top_p 0.95; BOS required",
    ),
    "gemma": ModelProfile(
        key="gemma",
        title="Gemma",
        prompt_format="gemma",
        needs_bos=True,
        sampling=Sampling(temperature=0.3, top_p=0.9, repeat_penalty=1.15),
        stop=_GEMMA_STOP,
        notes="gemma turns; the bundled 270M base model has no chat template",
    ),
    "generic": ModelProfile(
        key="generic",
        title="Generic (the GGUF's own chat template)",
        prompt_format="plain",
        use_gguf_template=True,
        stop=_LLAMA3_STOP + _CHATML_STOP + ("</s>", "<end_of_turn>"),
    ),
}


def get_profile(key: str) -> ModelProfile:
    try:
        return PROFILES[key]
    except KeyError:
        raise ValueError(f"unknown model profile {key!r}; known: {', '.join(sorted(PROFILES))}") from None


def _haystack(meta: "GGUFMeta") -> str:
    parts = [
        meta.get("general.name"), meta.get("general.basename"), meta.get("general.finetune"),
        meta.get("general.base_model.0.name"), Path(meta.path).stem,
    ]
    return " ".join(str(p) for p in parts if p).lower()


def _template_format(template: str | None) -> str | None:
    """Guess a fixed format from a chat template's text (None when unclear)."""
    if not template:
        return None
    if "<|im_start|>" in template:
        return "chatml"
    if "<start_of_turn>" in template:
        return "gemma"
    if "<|start_header_id|>" in template:
        return "llama3" if "<|eot_id|>" in template else "vikhr_nemo"
    if "[INST]" in template:
        return "llama2"
    return None


def detect_profile(meta: "GGUFMeta") -> ModelProfile:
    """Pick the profile from GGUF metadata: name, architecture, chat template."""
    text = _haystack(meta)
    template = meta.chat_template
    arch = meta.architecture.lower()
    if "vikhr" in text:
        if "nemo" in text or _template_format(template) == "vikhr_nemo":
            return PROFILES["vikhr_nemo"]
        return PROFILES["vikhr"]
    if "saiga" in text:
        fmt = _template_format(template)
        if fmt == "chatml" or (fmt is None and (meta.has_token("<|im_start|>") or re.search(r"\bv[23]\b", text))):
            return PROFILES["saiga_llama3_chatml"]
        return PROFILES["saiga_llama3"]
    if re.search(r"t[-_ ]?lite", text):
        return PROFILES["t_lite"]
    if "suzume" in text:
        return PROFILES["suzume"]
    if "shisa" in text:
        return PROFILES["shisa"]
    if arch.startswith("gemma") or (template is None and "gemma" in text):
        return PROFILES["gemma"] if template is None or _template_format(template) == "gemma" else PROFILES["generic"]
    if template is None:
        # No template and no known family: the fixed format that the vocabulary supports.
        if meta.has_token("<|start_header_id|>"):
            return replace(PROFILES["generic"], prompt_format="llama3", use_gguf_template=False)
        if meta.has_token("<|im_start|>"):
            return replace(PROFILES["generic"], prompt_format="chatml", use_gguf_template=False)
        if meta.has_token("<start_of_turn>"):
            return replace(PROFILES["generic"], prompt_format="gemma", use_gguf_template=False, needs_bos=True)
        return replace(
            PROFILES["generic"],
            use_gguf_template=False,
            notes="no chat template in the GGUF and no known family: plain-text prompt format",
        )
    return PROFILES["generic"]
