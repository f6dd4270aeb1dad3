"""What the two two-step pipelines share (local GGUF: pipeline.py, model server: endpoint.py).

`TwoStepPipeline.answer` does the opening steps once for both (question checked,
documents retrieved, their warnings kept) and hands an `AnswerRun` to the
pipeline's own steps. The run holds everything one answer needs afterwards:
the step-1 report (`chose`, called once per answer), the guarded answer stream
(`stream`), and the ways an answer ends (`finish`, `not_found`, `stopped`).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union

from assistant.answer import Answer, grounded_answer
from assistant.citations import Aligner
from assistant.guard import DEFAULT_CAP_FACTOR, AnswerGuard
from assistant.language import NOT_FOUND, message_language
from assistant.profiles import ModelProfile
from assistant.prompts import HistoryTurn
from assistant.protocol import OnStep1, OnToken, Retriever, open_question
from index.types import Retrieved, SourceDocument

HistoryItem = Union[HistoryTurn, tuple, dict]


def as_turns(history: Sequence[HistoryItem]) -> list[HistoryTurn]:
    """Earlier exchanges as the prompt builders take them (the app keeps (question, answer) pairs)."""
    turns = []
    for item in history:
        if isinstance(item, HistoryTurn):
            turns.append(item)
        elif isinstance(item, dict):
            turns.append(HistoryTurn(str(item["question"]), str(item["answer"])))
        else:
            q, a = item
            turns.append(HistoryTurn(str(q), str(a)))
    return turns


def sampling(profile: ModelProfile, max_tokens: int, seed: int | None) -> dict[str, Any]:
    """Step 2's sampling: the profile's recommendation (the settings may have changed its temperature)."""
    s = profile.sampling
    params: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k, "min_p": s.min_p,
                              "repeat_penalty": s.repeat_penalty, "max_tokens": max_tokens}
    if seed is not None:
        params["seed"] = seed
    return params


@dataclass
class AnswerRun:
    """One question on its way through a two-step pipeline."""

    pipeline: "TwoStepPipeline"
    question: str
    documents: list[SourceDocument]          # as retrieved
    history: list[HistoryTurn]
    on_token: OnToken | None
    on_step1: OnStep1 | None
    cancel: threading.Event | None
    started: float
    language: str
    warnings: list[str]
    timings: dict = field(default_factory=dict)
    docs: list[SourceDocument] = field(default_factory=list)   # as offered to the model (after packing)
    guard: AnswerGuard | None = None
    model_extra: dict = field(default_factory=dict)            # what this answer adds to model_info

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def chose(self, ids: list[int]) -> None:
        """Step 1 is over: report its choice (once per answer) before the answer streams."""
        if self.on_step1 is not None:
            self.on_step1(list(ids), len(self.docs))

    def stream(self) -> AnswerGuard:
        """The guard step 2's pieces go through; pass `guard.halt` to generation as its cancel flag."""
        self.guard = AnswerGuard(self.question, self.on_token, self.pipeline.answer_cap, self.cancel)
        return self.guard

    def finish(self, text: str, ids: list[int], found: bool, cancelled: bool = False, step1: str = "") -> Answer:
        answer = grounded_answer(
            self.pipeline.aligner, question=self.question, text=text, chosen=ids, documents=self.docs, found=found,
            timings=self.timings, started=self.started, model=self.pipeline.model_info | self.model_extra,
            language=self.language, warnings=self.warnings, cancelled=cancelled, step1=step1,
        )
        answer.mode, answer.mode_reason = self.pipeline.mode, self.pipeline.mode_reason
        return answer

    def not_found(self, step1: str) -> Answer:
        text = NOT_FOUND[self.language]
        if self.on_token is not None:
            self.on_token(text)
        return self.finish(text, [], False, step1=step1)

    def stopped(self, step1: str = "") -> Answer:
        """The user pressed Stop before step 2."""
        return self.finish("", [], False, cancelled=True, step1=step1)

    def answered(self, finish_reason: str, max_tokens: int, ids: list[int], step1: str) -> Answer:
        """Step 2 is over: the guarded text, and why it ended when that is news to the user."""
        guard = self.guard
        text = guard.finish()
        user_stop = self.cancelled
        if guard.stopped:
            finish_reason = "guard"
            self.timings["answer_guard"] = guard.reason
            self.warnings.append(f"the answer was stopped at {guard.reason}")
        elif finish_reason == "length":
            self.warnings.append(f"the answer was cut at {max_tokens} tokens")
        self.timings["step2_finish_reason"] = finish_reason
        return self.finish(text, ids, True, cancelled=user_stop and not guard.stopped, step1=step1)


class TwoStepPipeline:
    """Common ground of `GroundedPipeline` and `RemotePipeline` (the `AnswerPipeline` contract)."""

    mode = "generate"

    def __init__(self, *, k: int, seed: int | None, aligner: Aligner | None,
                 answer_cap: float = DEFAULT_CAP_FACTOR, mode_reason: str = ""):
        self.k = k
        self.seed = seed
        self.aligner = aligner or Aligner()
        self.answer_cap = answer_cap      # answer length cap, relative to the question (assistant.guard)
        self.mode_reason = mode_reason
        self.warnings: list[str] = []

    @property
    def model_info(self) -> dict:  # pragma: no cover - each pipeline says what it runs
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - each pipeline releases what it holds
        raise NotImplementedError

    def answer(
        self,
        question: str,
        documents: Sequence[SourceDocument] | Retriever,
        history: Sequence[HistoryItem] = (),
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        on_step1: OnStep1 | None = None,
    ) -> Answer:
        """Step 1 then step 2. `on_token` gets the answer's text as it is written (generation thread),
        `on_step1(ids, n_offered)` the documents chosen, once, before the answer streams."""
        started = time.perf_counter()
        question, documents, timings = open_question(question, documents, self.k)
        warnings = list(self.warnings) + (documents.warnings if isinstance(documents, Retrieved) else [])
        run = AnswerRun(self, question, list(documents), as_turns(history), on_token, on_step1, cancel,
                        started, message_language(question), warnings, timings)
        return self._answer(run)

    def _answer(self, run: AnswerRun) -> Answer:  # pragma: no cover - each pipeline runs its steps
        raise NotImplementedError
