"""Step 1 of the grounded protocol: the constrained `{"relevant_doc_ids": [...]}` answer.

The GBNF grammar only lets the model write ids that were offered, in strictly
increasing order.  Strictly increasing gives uniqueness for free and bounds
the output: at most every offered id once, so the longest possible answer is
known in advance (`max_output`) and the token budget can reserve it.  The
parser re-checks everything anyway: the model is never trusted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

KEY = "relevant_doc_ids"
PREFIX = '{"relevant_doc_ids": ['
SUFFIX = "]}"
SEPARATOR = ", "
MAX_IDS = 64


def format_ids(ids: Sequence[int]) -> str:
    """Canonical step-1 text, exactly as in the Vikhr card: {"relevant_doc_ids": [0, 1]}."""
    return PREFIX + SEPARATOR.join(str(i) for i in ids) + SUFFIX


def max_output(offered: Sequence[int]) -> str:
    """The longest text the grammar allows (every offered id)."""
    return format_ids(sorted(set(offered)))


def gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ids_grammar(offered: Sequence[int]) -> str:
    """GBNF accepting the canonical JSON with a strictly increasing subset of `offered`."""
    ids = sorted(set(int(i) for i in offered))
    if any(i < 0 for i in ids):
        raise ValueError("document ids must be non-negative")
    if len(ids) > MAX_IDS:
        raise ValueError(f"at most {MAX_IDS} documents can be offered to step 1")
    lines = []
    if ids:
        lines.append(f"root ::= {gbnf_literal(PREFIX)} ids? {gbnf_literal(SUFFIX)}")
        lines.append("ids ::= " + " | ".join(f"id{i}" for i in ids))
        for pos, i in enumerate(ids):
            later = ids[pos + 1:]
            if later:
                alts = " | ".join(f"id{j}" for j in later)
                lines.append(f'id{i} ::= "{i}" ({gbnf_literal(SEPARATOR)} ({alts}))?')
            else:
                lines.append(f'id{i} ::= "{i}"')
    else:
        lines.append(f"root ::= {gbnf_literal(PREFIX + SUFFIX)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class StepOneResult:
    ids: tuple[int, ...]
    valid: bool
    error: str = ""


def parse_ids(text: str, offered: Sequence[int]) -> StepOneResult:
    """Strictly validate a step-1 answer: JSON object, one key, unique offered integer ids."""
    offered_set = set(offered)
    try:
        value = json.loads(text.strip())
    except (json.JSONDecodeError, ValueError) as exc:
        return StepOneResult((), False, f"not JSON: {exc.msg if hasattr(exc, 'msg') else exc}")
    if not isinstance(value, dict) or set(value) != {KEY}:
        return StepOneResult((), False, f"expected an object with the single key {KEY!r}")
    ids = value[KEY]
    if not isinstance(ids, list):
        return StepOneResult((), False, f"{KEY} is not a list")
    seen: list[int] = []
    for item in ids:
        if isinstance(item, bool) or not isinstance(item, int):
            return StepOneResult((), False, f"id {item!r} is not an integer")
        if item not in offered_set:
            return StepOneResult((), False, f"id {item} was not offered")
        if item in seen:
            return StepOneResult((), False, f"id {item} is repeated")
        seen.append(item)
    return StepOneResult(tuple(seen), True)
