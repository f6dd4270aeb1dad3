"""The optional model check: the chat model judges the sentences the rules leave partial.

The rules (assistant/verdicts.py) are lexical: a faithful paraphrase with
other words, or a claim that only adds a word the span lacks, ends as
`partial`. With a chat model loaded, each such sentence can be put to the
model as a new user turn after its own answer, with the span the rules chose:
it answers under a GBNF grammar with exactly `{"verdict": "supported"}`,
`{"verdict": "contradicted"}` or `{"verdict": "not_in_source"}` (the fixed
opening is in the prompt, only the verdict is sampled), so the reply always
parses and costs a handful of tokens. The prompt repeats the
answer's prompt token for token (system, documents, question, the model's
answer) and only then adds the question, so llama.cpp finds the documents in
its KV cache and evaluates just the new turn (`model_check_prefix_reused`).

The judged sentence keeps the model's verdict with `checked_by: "model"`
(supported and contradicted stay citations; not_in_source becomes
unsupported). Off by default on CPU, where each check costs a prompt
evaluation of the new turn; on when the model runs fully on a GPU
(`model_check` auto|on|off in assistant/build.py).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

from assistant.citations import CONTRADICTED, PARTIAL, SUPPORTED, UNSUPPORTED, Unsupported, uncited_ids
from assistant.grammar import gbnf_literal

CHOICES = ("auto", "on", "off")
MODEL_VERDICTS = {"supported": SUPPORTED, "contradicted": CONTRADICTED, "not_in_source": UNSUPPORTED}
CHECKED_BY_MODEL = "model"
MAX_CHECKS = 8           # partial sentences judged per answer (the rest keep the rules' verdict)
MAX_SPAN_CHARS = 1200    # the span quoted in the question

# The reply's fixed opening is written into the prompt (the assistant turn starts with it): each token
# sampled under a grammar costs a pass over the whole vocabulary (262k for gemma-3), so only the verdict
# word and the closing are sampled. Reply = REPLY_OPENING + the sampled text.
REPLY_OPENING = '{"verdict": "'
GRAMMAR = "root ::= (" + " | ".join(gbnf_literal(v) for v in MODEL_VERDICTS) + ') "\\"}"\n'

QUESTION = (
    "Check one sentence of your answer against the source passage.\n"
    "Sentence: {sentence}\n"
    "Source passage: {span}\n"
    'Reply with JSON only: {{"verdict": "supported"}} if the passage states what the sentence says, '
    '{{"verdict": "contradicted"}} if it states something different (another number, date, name, or the '
    'opposite), {{"verdict": "not_in_source"}} if it does not say it.'
)


def parse_verdict(text: str) -> str | None:
    """The model's reply as a Docent verdict; None when it is not the grammar's JSON."""
    try:
        value = json.loads(text.strip())
    except ValueError:
        return None
    if not isinstance(value, dict) or set(value) != {"verdict"}:
        return None
    return MODEL_VERDICTS.get(value["verdict"])


def resolve(setting: str, runtime) -> bool:
    """auto|on|off to on or off: auto is on only when the model runs fully on a GPU."""
    if setting not in CHOICES:
        raise ValueError(f"model check must be one of {', '.join(CHOICES)} (got {setting!r})")
    if setting != "auto":
        return setting == "on"
    info, blocks = runtime.info, runtime.meta.block_count or 0
    return info.device == "gpu" and info.n_gpu_layers > blocks


def check_partials(pipeline, answer, messages: list, prefix_tokens: list[int], prefix_text: str,
                   cancel: threading.Event | None = None) -> None:
    """Judge `answer`'s partial citations with the model and apply its verdicts, in place.

    `messages` are the answer's chat turns up to and including the model's answer; `prefix_text` and
    `prefix_tokens` the same as rendered and as evaluated (answer prompt + the answer's own tokens),
    so each check prompt extends what is already in the KV cache."""
    from assistant.runtime import GenerationParams

    partial = [c for c in answer.citations if c.verdict == PARTIAL][:MAX_CHECKS]
    if not partial:
        return
    t0 = time.perf_counter()
    timings = answer.timings
    # the longest reply the grammar allows bounds the output (a byte-level vocabulary needs a token a byte)
    longest = max(MODEL_VERDICTS, key=len) + '"}'
    max_tokens = len(pipeline.runtime.tokenize(longest, add_bos=False)) + 2
    reused = evaluated = judged = 0
    verdicts: dict[int, str] = {}
    for c in partial:
        if cancel is not None and cancel.is_set():
            break
        sentence = answer.answer[c.answer_start:c.answer_end].strip()
        span = " ".join(c.quote.split())[:MAX_SPAN_CHARS]
        turn = {"role": "user", "content": QUESTION.format(sentence=sentence, span=span)}
        text = pipeline.builder.render([*messages, turn], True) + REPLY_OPENING
        tokens = _extend(pipeline, prefix_text, prefix_tokens, text)
        r = pipeline.runtime.generate(
            tokens, GenerationParams(max_tokens=max_tokens, temperature=0.0, grammar=GRAMMAR, seed=pipeline.seed),
            cancel=cancel)
        reused += r.n_prefix_reused
        evaluated += r.n_prompt_evaluated
        verdict = parse_verdict(REPLY_OPENING + r.text)
        if verdict is not None:
            verdicts[c.answer_start] = verdict
            judged += 1
    apply_verdicts(answer, verdicts)
    timings.update(model_check_s=round(time.perf_counter() - t0, 4), model_check_sentences=judged,
                   model_check_prefix_reused=reused, model_check_prompt_evaluated=evaluated)
    timings["total_s"] = round(timings.get("total_s", 0.0) + timings["model_check_s"], 4)


def apply_verdicts(answer, verdicts: dict[int, str]) -> None:
    """Set the model's verdicts (by sentence start) on `answer`'s citations, marked checked_by model."""
    if not verdicts:
        return
    citations, unsupported = [], list(answer.unsupported)
    for c in answer.citations:
        verdict = verdicts.get(c.answer_start)
        if verdict is None:
            citations.append(c)
        elif verdict == UNSUPPORTED:
            unsupported.append(Unsupported(c.answer_start, c.answer_end, checked_by=CHECKED_BY_MODEL))
        else:
            citations.append(replace(c, verdict=verdict, missing=(), checked_by=CHECKED_BY_MODEL))
    answer.citations = citations
    answer.unsupported = sorted(unsupported, key=lambda u: u.answer_start)
    answer.uncited_doc_ids = uncited_ids(citations, answer.relevant_doc_ids)


def _extend(pipeline, prefix_text: str, prefix_tokens: list[int], text: str) -> list[int]:
    """`text`'s tokens as `prefix_tokens` + the tokens of what follows the prefix (the KV cache holds
    the prefix exactly as evaluated); plain tokenization when the texts do not line up."""
    if prefix_tokens and text.startswith(prefix_text):
        tail_text = text[len(prefix_text):]
        tail = pipeline.runtime.tokenize(tail_text, add_bos=False)
        if tail and pipeline.runtime.detokenize(tail) == tail_text:
            return list(prefix_tokens) + tail
    return pipeline.tokenize_prompt(text)
