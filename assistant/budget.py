"""Fit the grounded conversation into the context window.

Everything is measured with the model's own tokenizer on the fully rendered
prompt, never estimated: the plan reserves the *worst case* of both steps
(the longest step-1 answer the grammar allows, then `max_answer_tokens`), so
generation can never run past n_ctx.  Priorities: the question (must fit,
else BudgetError), the most recent conversation turns (up to a share of the
room), then documents in rank order; the first document that does not fit is
cut at a sentence boundary and the rest are dropped.  Cutting keeps a prefix,
so character offsets into the source file stay valid.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from index.sentences import split_sentences
from assistant.errors import BudgetError
from assistant.grammar import MAX_IDS, max_output
from assistant.prompts import PromptBuilder, Turn, documents_json
from index.types import SourceDocument

MAX_DOC_CHARS = 4000  # Vikhr: "a chunk of text up to 4k characters"


@dataclass
class BudgetPlan:
    documents: list[SourceDocument]
    history: list[Turn]
    docs_json: str
    step1_text: str
    step1_tokens: list[int]
    step1_max_tokens: int
    answer_max_tokens: int
    worst_case_tokens: int
    n_ctx: int
    dropped_documents: int = 0
    truncated_documents: int = 0
    dropped_turns: int = 0
    warnings: list[str] = field(default_factory=list)


def _cut(content: str, limit: int) -> str:
    """Longest prefix of content within `limit` chars ending at a sentence end (else a space)."""
    if limit >= len(content):
        return content
    ends = [b for _, b in split_sentences(content[: limit + 1]) if b <= limit]
    if ends and ends[-1] >= limit // 2:
        return content[: ends[-1]]
    space = content.rfind(" ", 0, limit + 1)
    if space >= limit // 2:
        return content[:space]
    return content[:limit]


def clip_document(doc: SourceDocument, limit: int) -> SourceDocument:
    if len(doc.content) <= limit:
        return doc
    content = _cut(doc.content, limit)
    return replace(doc, content=content, char_end=doc.char_start + len(content))


class ContextBudget:
    """Packs question, history and documents so that step 1 + step 2 fit in n_ctx."""

    def __init__(
        self,
        builder: PromptBuilder,
        tokenize: Callable[[str], list[int]],
        n_ctx: int,
        max_answer_tokens: int = 512,
        min_answer_tokens: int = 32,
        history_share: float = 0.25,
        max_doc_chars: int = MAX_DOC_CHARS,
        min_doc_chars: int = 200,
        margin_tokens: int = 4,
    ):
        self.builder = builder
        self.tokenize = tokenize
        self.n_ctx = n_ctx
        self.max_answer_tokens = max_answer_tokens
        self.min_answer_tokens = min_answer_tokens
        self.history_share = history_share
        self.max_doc_chars = max_doc_chars
        self.min_doc_chars = min_doc_chars
        self.margin = margin_tokens

    def _prompt_need(self, question: str, docs: Sequence[SourceDocument], history: Sequence[Turn]) -> int:
        """Tokens of the worst-case step-2 prompt (+ the step-1 answer's worst tokenization)."""
        dj = documents_json((d.title, d.content) for d in docs)
        longest = max_output(range(len(docs)))
        step2 = self.builder.step2(question, dj, history, longest)
        # step 2 re-uses the model's own step-1 tokens: at worst one token per character.
        return len(self.tokenize(step2)) + len(longest) + self.margin

    def _doc_cost(self, index: int, doc: SourceDocument) -> int:
        """Tokens one document adds: its JSON entry, separator, and its id in the step-1 bound (twice)."""
        entry = documents_json([(doc.title, doc.content)])[1:-1].replace('"doc_id": 0', f'"doc_id": {index}', 1)
        return len(self.tokenize(", " + entry)) + 2 * (len(str(index)) + 2)

    def plan(
        self, question: str, documents: Sequence[SourceDocument], history: Sequence[Turn] = ()
    ) -> BudgetPlan:
        warnings: list[str] = []
        base = self._prompt_need(question, [], [])
        room = self.n_ctx - base
        if room < self.min_answer_tokens:
            raise BudgetError(
                f"the question is too long: the prompt needs {base} tokens and the answer at least "
                f"{self.min_answer_tokens}, but the context window has {self.n_ctx} tokens"
            )
        answer_tokens = min(self.max_answer_tokens, room)
        limit = self.n_ctx - answer_tokens

        # Conversation turns, newest first, within their share of the free room.
        hist_cap = base + int(self.history_share * max(0, limit - base))
        kept: list[Turn] = []
        for turn in reversed(list(history)):
            trial = [turn] + kept
            if self._prompt_need(question, [], trial) > hist_cap:
                break
            kept = trial
        dropped_turns = len(history) - len(kept)
        if dropped_turns:
            warnings.append(f"{dropped_turns} earlier turn(s) left out to fit the context")

        # Documents in rank order; the first that does not fit is cut, the rest dropped.
        # Each document's cost is measured on its own JSON entry (cheap), then the whole
        # prompt is measured once and trimmed further if tokenization at the seams disagrees.
        docs: list[SourceDocument] = []
        truncated = 0
        if len(documents) > MAX_IDS:  # step 1's grammar names at most MAX_IDS documents
            warnings.append(f"{len(documents) - MAX_IDS} document(s) beyond the first {MAX_IDS} left out")
        clipped_input = [clip_document(d, self.max_doc_chars) for d in documents[:MAX_IDS]]
        truncated += sum(1 for a, b in zip(documents, clipped_input) if a is not b)
        used = self._prompt_need(question, [], kept)
        for doc in clipped_input:
            cost = self._doc_cost(len(docs), doc)
            if used + cost <= limit:
                docs.append(doc)
                used += cost
                continue
            lo, hi, best = self.min_doc_chars, len(doc.content) - 1, None
            while lo <= hi:
                mid = (lo + hi) // 2
                cand = clip_document(doc, mid)
                c = self._doc_cost(len(docs), cand)
                if used + c <= limit:
                    best, lo = (cand, c), mid + 1
                else:
                    hi = mid - 1
            if best is not None and len(best[0].content) >= self.min_doc_chars:
                docs.append(best[0])
                used += best[1]
                truncated += 1
            break
        while docs:
            over = self._prompt_need(question, docs, kept) - limit
            if over <= 0:
                break
            last = docs[-1]
            keep_chars = len(last.content) - max(2 * over, 16)
            if keep_chars >= self.min_doc_chars:
                cut = clip_document(last, keep_chars)
                if last is clipped_input[len(docs) - 1]:
                    truncated += 1
                docs[-1] = cut
            else:
                docs.pop()
        dropped_docs = len(documents) - len(docs)
        if dropped_docs:
            warnings.append(f"{dropped_docs} document(s) left out to fit the context window of {self.n_ctx} tokens")
        if documents and not docs:  # an error, not "the documents hold no answer": nothing was read
            raise BudgetError(
                f"no document fits the context window of {self.n_ctx} tokens next to the question and the "
                f"answer's {answer_tokens} tokens; use a larger context (--n-ctx) or a shorter question"
            )

        dj = documents_json((d.title, d.content) for d in docs)
        step1 = self.builder.step1(question, dj, kept)
        step1_tokens = self.tokenize(step1)
        worst = self._prompt_need(question, docs, kept)
        answer_tokens = min(answer_tokens, self.n_ctx - worst)
        if answer_tokens < 1:  # cannot happen: the loops above only accept plans within `limit`
            raise BudgetError("internal error: the packed prompt leaves no room for an answer")
        longest = max_output(range(len(docs)))
        return BudgetPlan(
            documents=docs,
            history=kept,
            docs_json=dj,
            step1_text=step1,
            step1_tokens=step1_tokens,
            step1_max_tokens=len(longest) + 1,
            answer_max_tokens=answer_tokens,
            worst_case_tokens=worst + answer_tokens,
            n_ctx=self.n_ctx,
            dropped_documents=dropped_docs,
            truncated_documents=truncated,
            dropped_turns=dropped_turns,
            warnings=warnings,
        )
