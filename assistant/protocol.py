"""The answering contract every pipeline keeps: local GGUF, model server, quoted answers.

The CLI and the app hold an `AnswerPipeline` and never ask which kind it is.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Protocol, Sequence, Union, runtime_checkable

from assistant.answer import Answer
from index.types import SourceDocument

Retriever = Callable[[str, int], list[SourceDocument]]
OnToken = Callable[[str], None]
OnStep1 = Callable[[list[int], int], None]  # (chosen doc ids, documents offered), once per answer

MODES = ("generate", "quote")


@runtime_checkable
class AnswerPipeline(Protocol):
    mode: str            # "generate" (a language model writes the answer) or "quote" (the documents' own sentences)
    warnings: list[str]  # standing warnings about this pipeline (shown once, not per answer)

    @property
    def model_info(self) -> dict: ...

    def answer(
        self,
        question: str,
        documents: Union[Sequence[SourceDocument], Retriever],
        history: Sequence = (),
        on_token: OnToken | None = None,
        cancel: threading.Event | None = None,
        on_step1: OnStep1 | None = None,
    ) -> Answer: ...

    def close(self) -> None: ...


def open_question(question: str, documents, k: int) -> tuple[str, Sequence[SourceDocument], dict]:
    """Every pipeline's first steps: the question stripped (empty: ValueError), the documents
    retrieved when given a retriever (timed), and the timings dict the answer will carry."""
    question = question.strip()
    if not question:
        raise ValueError("the question is empty")
    timings: dict = {}
    if callable(documents):
        t = time.perf_counter()
        documents = documents(question, k)
        timings["retrieval_s"] = round(time.perf_counter() - t, 4)
    return question, documents, timings
