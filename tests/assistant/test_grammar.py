"""Step 1 is constrained: always parses, only offered ids, each once, bounded length."""
from __future__ import annotations

import json

import pytest

from assistant.grammar import format_ids, ids_grammar, max_output, parse_ids
from assistant.runtime import GenerationParams


def test_format_and_bound():
    assert format_ids([]) == '{"relevant_doc_ids": []}'
    assert format_ids([0, 2]) == '{"relevant_doc_ids": [0, 2]}'
    assert max_output(range(3)) == '{"relevant_doc_ids": [0, 1, 2]}'


def test_grammar_text():
    g = ids_grammar([0, 1, 2])
    assert 'root ::= "{\\"relevant_doc_ids\\": [" ids? "]}"' in g
    assert 'id0 ::= "0" (", " (id1 | id2))?' in g
    assert 'id2 ::= "2"' in g
    assert ids_grammar([]) == 'root ::= "{\\"relevant_doc_ids\\": []}"\n'
    with pytest.raises(ValueError):
        ids_grammar(range(100))


@pytest.mark.parametrize(
    "text, offered, ok, ids",
    [
        ('{"relevant_doc_ids": [0, 1]}', [0, 1, 2], True, (0, 1)),
        ('{"relevant_doc_ids": []}', [0], True, ()),
        (' {"relevant_doc_ids": [2]} ', [0, 1, 2], True, (2,)),
        ('{"relevant_doc_ids": [3]}', [0, 1, 2], False, ()),
        ('{"relevant_doc_ids": [1, 1]}', [0, 1], False, ()),
        ('{"relevant_doc_ids": [true]}', [0, 1], False, ()),
        ('{"relevant_doc_ids": ["0"]}', [0, 1], False, ()),
        ('{"relevant_doc_ids": [0], "x": 1}', [0], False, ()),
        ('{"relevant_doc_ids": 0}', [0], False, ()),
        ('{"relevant_doc_ids": [0', [0], False, ()),
        ("[0, 1]", [0, 1], False, ()),
        ("", [0], False, ()),
    ],
)
def test_parser_never_trusts_the_model(text, offered, ok, ids):
    r = parse_ids(text, offered)
    assert r.valid is ok and r.ids == ids


@pytest.mark.parametrize("family", ["vikhr", "shisa", "gemma", "generic"])
def test_real_model_under_grammar_always_valid(tiny_runtime, family):
    """Random weights at high temperature: the grammar alone must keep the output valid."""
    rt = tiny_runtime(family)
    seen = set()
    for trial in range(25):
        n = 1 + trial % 12
        offered = list(range(n))
        bound = max_output(offered)
        r = rt.generate(
            f"<|begin_of_text|>documents {trial}:",
            GenerationParams(
                max_tokens=len(bound) + 1, temperature=0.7 + trial * 0.1, top_k=0, top_p=1.0, min_p=0.0,
                seed=1000 + trial, grammar=ids_grammar(offered),
            ),
        )
        assert r.finish_reason == "eog", (r.text, r.finish_reason)
        parsed = parse_ids(r.text, offered)
        assert parsed.valid, (r.text, parsed.error)
        assert len(set(parsed.ids)) == len(parsed.ids) and set(parsed.ids) <= set(offered)
        assert r.n_output_tokens <= len(bound)
        assert json.loads(r.text) == {"relevant_doc_ids": list(parsed.ids)}
        seen.add(parsed.ids)
    assert len(seen) > 3  # the grammar constrains, it does not dictate
