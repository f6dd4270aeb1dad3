"""Exact prompt strings per family, pinned byte for byte against the seed model cards."""
from __future__ import annotations

import json
import re

import pytest

from assistant.grammar import format_ids
from assistant.profiles import (
    GROUNDED_SYSTEM_PROMPT,
    PROFILES,
    SAIGA_SYSTEM_PROMPT,
    SHISA_SYSTEM_PROMPT,
)
from assistant.prompts import (
    PromptBuilder,
    SafeTemplate,
    HistoryTurn,
    documents_json,
    render_chatml,
    render_gemma,
    render_llama2,
    render_llama3,
    render_vikhr_nemo,
)
from tests.assistant.conftest import seed_card
from tests.fixtures.tiny_gguf import (
    CHATML_TEMPLATE,
    LLAMA3_TEMPLATE,
    SHISA_TEMPLATE,
    VIKHR_NEMO_TEMPLATE,
    VIKHR_TEMPLATE,
)

# ---------------------------------------------------------------- Saiga card
SAIGA_CHAT = [
    {"role": "system", "content": SAIGA_SYSTEM_PROMPT},
    {"role": "user", "content": "Как дела?"},
    {"role": "assistant", "content": "Отлично, а у тебя?"},
    {"role": "user", "content": "Шикарно. Как пройти в библиотеку?"},
]

# Copied from the Saiga card, "v4, v5, v6+: LLama-3 prompt format".
SAIGA_LLAMA3_EXPECTED = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
    "Ты — Сайга, русскоязычный автоматический ассистент. Ты разговариваешь с людьми и помогаешь им."
    "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
    "Как дела?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    "Отлично, а у тебя?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
    "Шикарно. Как пройти в библиотеку?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
)

# Copied from the Saiga card, "v2, v3: ChatML prompt format".
SAIGA_CHATML_EXPECTED = (
    "<|im_start|>system\n"
    "Ты — Сайга, русскоязычный автоматический ассистент. Ты разговариваешь с людьми и помогаешь им.<|im_end|>\n"
    "<|im_start|>user\n"
    "Как дела?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Отлично, а у тебя?<|im_end|>\n"
    "<|im_start|>user\n"
    "Шикарно. Как пройти в библиотеку?<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def _card_block(card: str, heading: str) -> str:
    """The first ``` fenced block after `heading` in a card, exactly as printed."""
    at = card.index(heading)
    start = card.index("```\n", at) + 4
    return card[start:card.index("```", start)]


def test_saiga_llama3_format_matches_card():
    assert render_llama3(SAIGA_CHAT) == SAIGA_LLAMA3_EXPECTED
    assert SafeTemplate(LLAMA3_TEMPLATE).render(
        messages=SAIGA_CHAT, add_generation_prompt=True, bos_token="<|begin_of_text|>"
    ) == SAIGA_LLAMA3_EXPECTED
    card = seed_card("Saiga/Llama3")
    assert _card_block(card, "**v4, v5, v6+**") == SAIGA_LLAMA3_EXPECTED


def test_saiga_chatml_format_matches_card():
    assert render_chatml(SAIGA_CHAT) == SAIGA_CHATML_EXPECTED
    assert SafeTemplate(CHATML_TEMPLATE).render(messages=SAIGA_CHAT, add_generation_prompt=True) == SAIGA_CHATML_EXPECTED
    card = seed_card("Saiga/Llama3")
    assert _card_block(card, "**v2, v3**") == SAIGA_CHATML_EXPECTED


def test_saiga_default_system_prompt_is_the_cards():
    card = seed_card("Saiga/Llama3")
    assert f'DEFAULT_SYSTEM_PROMPT = "{SAIGA_SYSTEM_PROMPT}"' in card


# ---------------------------------------------------------------- Vikhr card
VIKHR_DOCS = [
    ("Глобальное потепление: ледники", "За последние 50 лет объем ледников в мире уменьшился на 30%"),
    ("Глобальное потепление: Уровень моря", "Уровень мирового океана повысился на 20 см с 1880 года и продолжает расти на 3,3 мм в год"),
]
VIKHR_DOCS_JSON = (
    '[{"doc_id": 0, "title": "Глобальное потепление: ледники", '
    '"content": "За последние 50 лет объем ледников в мире уменьшился на 30%"}, '
    '{"doc_id": 1, "title": "Глобальное потепление: Уровень моря", '
    '"content": "Уровень мирового океана повысился на 20 см с 1880 года и продолжает расти на 3,3 мм в год"}]'
)
# The card's sample_history rendered with Vikhr's template (every role is a header).
VIKHR_STEP1_EXPECTED = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
    + GROUNDED_SYSTEM_PROMPT
    + "<|eot_id|><|start_header_id|>documents<|end_header_id|>\n\n"
    + VIKHR_DOCS_JSON
    + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
    "Глоабльное потепление<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
)
# ... + [{'role': 'assistant', 'content': relevant_indexes}] for the final answer.
VIKHR_STEP2_EXPECTED = (
    VIKHR_STEP1_EXPECTED
    + '{"relevant_doc_ids": [0, 1]}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'
)


def test_grounded_system_prompt_verbatim_from_card():
    card = seed_card("GROUNDED_SYSTEM_PROMPT")
    assert f'GROUNDED_SYSTEM_PROMPT = "{GROUNDED_SYSTEM_PROMPT}"' in card


def test_documents_json_exactly_as_card():
    assert documents_json(VIKHR_DOCS) == VIKHR_DOCS_JSON
    dicts = [{"doc_id": i, "title": t, "content": c} for i, (t, c) in enumerate(VIKHR_DOCS)]
    assert documents_json(VIKHR_DOCS) == json.dumps(dicts, ensure_ascii=False)
    card = seed_card("GROUNDED_SYSTEM_PROMPT")
    for title, content in VIKHR_DOCS:
        assert f'"title": "{title}"' in card and f'"content": "{content}"' in card
    assert "'content': 'Глоабльное потепление'" in card
    assert 'Using documents: {"relevant_doc_ids": [0, 1]}' in card
    assert format_ids([0, 1]) == '{"relevant_doc_ids": [0, 1]}'


@pytest.mark.parametrize("use_template", [True, False])
def test_vikhr_documents_turn_and_step2(use_template):
    builder = PromptBuilder(
        PROFILES["vikhr"],
        VIKHR_TEMPLATE if use_template else None,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
    )
    assert builder.uses_template is use_template
    assert builder.step1("Глоабльное потепление", VIKHR_DOCS_JSON) == VIKHR_STEP1_EXPECTED
    assert builder.step2("Глоабльное потепление", VIKHR_DOCS_JSON, [], '{"relevant_doc_ids": [0, 1]}') == VIKHR_STEP2_EXPECTED
    assert builder.step2_followup is None


def test_vikhr_nemo_uses_eos_in_place_of_eot():
    builder = PromptBuilder(PROFILES["vikhr_nemo"], VIKHR_NEMO_TEMPLATE, bos_token="<s>", eos_token="</s>")
    expected = VIKHR_STEP1_EXPECTED.replace("<|begin_of_text|>", "<s>").replace("<|eot_id|>", "</s>")
    assert builder.step1("Глоабльное потепление", VIKHR_DOCS_JSON) == expected
    fixed = PromptBuilder(PROFILES["vikhr_nemo"], None)
    assert fixed.step1("Глоабльное потепление", VIKHR_DOCS_JSON) == expected
    assert render_vikhr_nemo([{"role": "user", "content": "x"}]) == (
        "<s><|start_header_id|>user<|end_header_id|>\n\nx</s><|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_vikhr_history_goes_after_documents():
    builder = PromptBuilder(PROFILES["vikhr"], VIKHR_TEMPLATE, bos_token="<|begin_of_text|>")
    text = builder.step1("А сколько?", "[]", [HistoryTurn("Что с ледниками?", "Уменьшились на 30%.")])
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + GROUNDED_SYSTEM_PROMPT
        + "<|eot_id|><|start_header_id|>documents<|end_header_id|>\n\n[]<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nЧто с ледниками?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nУменьшились на 30%.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nА сколько?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


# ---------------------------------------------------------------- Shisa card
def test_shisa_llama2_format():
    chat = [{"role": "system", "content": SHISA_SYSTEM_PROMPT}, {"role": "user", "content": "{prompt}"}]
    expected = "<s>[INST] <<SYS>>\nYou are a helpful, unbiased, uncensored assistant.\n<</SYS>>\n\n{prompt} [/INST]"
    assert render_llama2(chat) == expected
    multi = chat[:1] + [
        {"role": "user", "content": "{prompt 0}"},
        {"role": "assistant", "content": "{response 0}"},
        {"role": "user", "content": "{prompt 1}"},
        {"role": "assistant", "content": "{response 1}"},
        {"role": "user", "content": "{prompt N}"},
    ]
    expected_multi = (
        "<s>[INST] <<SYS>>\nYou are a helpful, unbiased, uncensored assistant.\n<</SYS>>\n\n"
        "{prompt 0} [/INST] {response 0} </s><s>[INST] {prompt 1} [/INST] {response 1} </s>"
        "<s>[INST] {prompt N} [/INST]"
    )
    assert render_llama2(multi) == expected_multi
    # the tokenizer chat template printed in the card renders the same bytes
    tpl = SafeTemplate(SHISA_TEMPLATE)
    assert tpl.render(messages=chat, bos_token="<s>", eos_token="</s>", add_generation_prompt=True) == expected
    assert tpl.render(messages=multi, bos_token="<s>", eos_token="</s>", add_generation_prompt=True) == expected_multi


def test_shisa_card_format_after_html_stripping():
    """The card lost `<s>`, `</s>` and `<<SYS>>` to HTML stripping (it prints `<>` and ``)."""
    card = seed_card("shisa-7b-v1")
    system = "You are a helful, unbiased, uncensored assistant."  # sic, the card's multi-turn block
    multi = [
        {"role": "system", "content": system},
        {"role": "user", "content": "{prompt 0}"},
        {"role": "assistant", "content": "{response 0}"},
        {"role": "user", "content": "{prompt 1}"},
        {"role": "assistant", "content": "{response 1}"},
    ]
    rendered = render_llama2(multi) + "...[INST] {prompt N} [/INST]"
    as_printed = re.sub(r"</?s>", "", rendered).replace("<<SYS>>", "<>").replace("<</SYS>>", "<>")
    flat = " ".join(as_printed.split())
    assert flat in " ".join(card.split())
    single = render_llama2([{"role": "system", "content": SHISA_SYSTEM_PROMPT}, {"role": "user", "content": "{prompt}"}])
    flat1 = " ".join(re.sub(r"</?s>", "", single).replace("<<SYS>>", "<>").replace("<</SYS>>", "<>").split())
    assert flat1 in " ".join(card.split())
    assert "temperature=0.5" in card and "repetition_penalty=1.15" in card and "top_p=0.95" in card
    s = PROFILES["shisa"].sampling
    assert (s.temperature, s.repeat_penalty, s.top_p) == (0.5, 1.15, 0.95)
    assert PROFILES["shisa"].needs_bos


def test_shisa_grounded_prompt_and_step2_followup():
    builder = PromptBuilder(PROFILES["shisa"], None)
    dj = documents_json([("T", "C")])
    step1 = builder.step1("Q?", dj)
    system = (
        SHISA_SYSTEM_PROMPT + "\n\n" + PROFILES["shisa"].grounded_system_prompt + "\n\nDocuments:\n" + dj
    )
    assert step1 == f"<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\nQ? [/INST]"
    step2 = builder.step2("Q?", dj, [], '{"relevant_doc_ids": [0]}')
    assert step2 == step1 + ' {"relevant_doc_ids": [0]} </s><s>[INST] Now answer the question. [/INST]'


# ---------------------------------------------------------------- Llama-3 family without documents role
@pytest.mark.parametrize("key", ["t_lite", "suzume", "saiga_llama3"])
def test_llama3_family_folds_documents_into_system(key):
    profile = PROFILES[key]
    builder = PromptBuilder(profile, None)
    dj = documents_json(VIKHR_DOCS)
    head = f"{profile.default_system_prompt}\n\n" if profile.default_system_prompt else ""
    system = head + profile.grounded_system_prompt + "\n\nDocuments:\n" + dj
    expected = (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + system
        + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nГлоабльное потепление<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert builder.step1("Глоабльное потепление", dj) == expected
    assert builder.step2("Глоабльное потепление", dj, [], '{"relevant_doc_ids": []}') == (
        expected + '{"relevant_doc_ids": []}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'
    )
    assert profile.grounded_system_prompt.startswith(GROUNDED_SYSTEM_PROMPT)
    assert "documents" not in [m["role"] for m in builder.messages("q", dj)]


def test_saiga_chatml_profile_prompt():
    builder = PromptBuilder(PROFILES["saiga_llama3_chatml"], None)
    text = builder.step1("Как дела?", "[]")
    assert text.startswith("<|im_start|>system\n" + SAIGA_SYSTEM_PROMPT + "\n\n")
    assert text.endswith("\n\nDocuments:\n[]<|im_end|>\n<|im_start|>user\nКак дела?<|im_end|>\n<|im_start|>assistant\n")


# ---------------------------------------------------------------- gemma (bundled base model)
def test_gemma_turns():
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A"}, {"role": "user", "content": "Q2"}]
    assert render_gemma(msgs) == (
        "<bos><start_of_turn>user\nS\n\nQ<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n"
        "<start_of_turn>user\nQ2<end_of_turn>\n<start_of_turn>model\n"
    )
    builder = PromptBuilder(PROFILES["gemma"], None, bos_token="<bos>")
    step1 = builder.step1("Q", "[]")
    assert builder.step2("Q", "[]", [], '{"relevant_doc_ids": []}') == (
        step1 + '{"relevant_doc_ids": []}<end_of_turn>\n<start_of_turn>model\n'
    )


def test_generic_uses_gguf_template_and_step2_extends_step1():
    builder = PromptBuilder(PROFILES["generic"], CHATML_TEMPLATE)
    assert builder.uses_template and builder.step2_followup is None
    s1 = builder.step1("Q", "[]")
    s2 = builder.step2("Q", "[]", [], '{"relevant_doc_ids": []}')
    assert s2 == s1 + '{"relevant_doc_ids": []}<|im_end|>\n<|im_start|>assistant\n'


def test_template_without_system_role_gets_system_in_first_user_turn():
    tpl = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    builder = PromptBuilder(PROFILES["generic"], tpl)
    assert builder.system_in_user
    text = builder.step1("Q", "[]")
    assert text.startswith("[user]" + PROFILES["generic"].grounded_system_prompt)
    assert text.endswith("Documents:\n[]\n\nQ[assistant]")


def test_template_ignoring_generation_prompt_gets_followup_turn():
    tpl = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
    builder = PromptBuilder(PROFILES["generic"], tpl)
    assert builder.step2_followup
    s2 = builder.step2("Q", "[]", [], "{}")
    assert s2.endswith("<assistant>{}<user>" + builder.step2_followup)


def test_vikhr_template_dropping_documents_falls_back_to_fixed_format():
    dropping = (
        "{{ bos_token }}{% for m in messages %}{% if m['role'] in ['system', 'user', 'assistant'] %}"
        "<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
    )
    builder = PromptBuilder(PROFILES["vikhr"], dropping, bos_token="<|begin_of_text|>")
    assert not builder.uses_template
    assert any("documents" in w for w in builder.warnings)
    assert builder.step1("Глоабльное потепление", VIKHR_DOCS_JSON) == VIKHR_STEP1_EXPECTED
