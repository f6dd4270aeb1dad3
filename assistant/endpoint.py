"""The grounded two-step answer through an OpenAI-compatible model server.

Same protocol and same `answer()` contract as `GroundedPipeline`, over HTTP
(vLLM, llama.cpp server, llama-cpp-python's server):

    step 1  system + documents + history + question -> {"relevant_doc_ids": [...]}
            temperature 0, constrained by our ids grammar or a JSON schema where the
            server supports one, then strictly validated and repaired (never trusted)
    step 2  the same messages + {"role": "assistant", "content": step-1 JSON}
            -> a second assistant turn, streamed with the profile's sampling

What a server supports is found out by trying and remembered per endpoint
(process wide): the `documents` role (llama-cpp-python's server rejects it,
so the documents are folded into the system turn as for models without that
role), the step-1 constraint (grammar, json_schema, json_object + schema, none),
the tokenize route and, from a "context length exceeded" answer, the real
context size.

Token counting: prompts are rendered with the profile's fixed format and
counted by the server's own tokenizer when it has a tokenize route, else
estimated conservatively (`estimate_tokens`); a margin covers the difference
between our rendering and the server's chat template, and a context overflow
the server still reports makes the pipeline shrink the documents and retry once.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import replace
from typing import Callable, Sequence

from assistant.answer import Answer, from_first_visible, grounded_answer
from assistant.budget import BudgetPlan, ContextBudget
from assistant.citations import Aligner
from assistant.endpoint_client import ContextOverflow, EndpointClient, EndpointConfig, normalize_base_url
from assistant.errors import (
    BudgetError,
    EndpointDisconnected,
    EndpointRequestError,
    EndpointTimeout,
    EndpointUnreachable,
)
from assistant.grammar import KEY, format_ids, parse_ids, ids_grammar
from assistant.language import NOT_FOUND, message_language
from assistant.pipeline import HistoryItem, Retriever, as_turns
from assistant.profiles import FOLDED_GROUNDING, GROUNDED_SYSTEM_PROMPT, PROFILES, ModelProfile
from assistant.prompts import PromptBuilder
from index.types import SourceDocument

DOCUMENTS_ROLE_MODES = ("auto", "on", "off")
# Tokens kept free for what our rendering cannot see: the server's own chat
# template (headers, BOS, a default system prompt) and a looser step-1 JSON.
TEMPLATE_MARGIN = 64
STEP1_SLACK = 16
# Step-1 constraint, tried in this order (a refusal moves down, remembered per server):
#   json_schema  OpenAI-style structured output (vLLM, llama.cpp's server)
#   grammar      our GBNF as `grammar` (offered ids only, strictly increasing, so unique: the one
#                constraint that forbids duplicates); llama-cpp-python's server refuses json_schema
#                (HTTP 500, validation error) and takes this one
#   json_object  with a schema: an older llama-cpp-python form
RESPONSE_FORMATS = ("json_schema", "grammar", "json_object", None)

FOLDED_NOTE = "the model server rejects the 'documents' role; the documents were folded into the system message"

_CAPS: dict[tuple[str, str], dict] = {}
_CAPS_LOCK = threading.Lock()


def endpoint_caps(base_url: str, model: str | None) -> dict:
    """What this process has learnt about one endpoint (documents role, response_format, n_ctx)."""
    with _CAPS_LOCK:
        return _CAPS.setdefault((normalize_base_url(base_url), model or ""), {})


def reset_endpoint_caps() -> None:
    """Forget everything learnt about every endpoint (tests; a settings change)."""
    with _CAPS_LOCK:
        _CAPS.clear()


def estimate_tokens(text: str) -> int:
    """Upper-leaning estimate for servers without a tokenize route: ASCII ~3 chars/token, others 1 each."""
    ascii_n = sum(1 for ch in text if ord(ch) < 128)
    return (ascii_n + 2) // 3 + (len(text) - ascii_n)


def ids_schema(offered: Sequence[int]) -> dict:
    ids = sorted(set(int(i) for i in offered))
    return {
        "type": "object",
        "properties": {KEY: {"type": "array", "items": {"type": "integer", "enum": ids}, "uniqueItems": True,
                             "maxItems": len(ids)}},
        "required": [KEY],
        "additionalProperties": False,
    }


def repair_ids(text: str, offered: Sequence[int]) -> tuple[list[int] | None, str]:
    """Strict parse first; else salvage the ids from noisy text.

    Returns (ids, note): ids keeps only offered ids, each once, in the model's
    order; None when nothing usable was found.  note is "" for a strictly
    valid answer, else what was repaired.
    """
    strict = parse_ids(text, offered)
    if strict.valid:
        return list(strict.ids), ""
    offered_set = set(offered)
    candidates: list[list] = []
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            if isinstance(value.get(KEY), list):
                candidates.insert(0, value[KEY])
            else:
                candidates += [v for v in value.values() if isinstance(v, list)]
    if not candidates:
        after = text.split(KEY, 1)[1] if KEY in text else text
        m = re.search(r"\[([^\[\]]*)\]", after)
        if m:
            candidates.append(re.findall(r"-?\d+", m.group(1)))
        elif KEY in text:
            candidates.append(re.findall(r"-?\d+", after))
    for raw in candidates:
        ids: list[int] = []
        for item in raw:
            try:
                i = int(item) if not isinstance(item, bool) else None
            except (TypeError, ValueError):
                i = None
            if i is None:
                continue
            if i in offered_set and i not in ids:
                ids.append(i)
        if not raw:
            return [], f"repaired ({strict.error})"
        if ids:
            return ids, f"repaired ({strict.error})"
    return None, strict.error or "no ids found"


class RemotePipeline:
    """Answers questions from documents with a model behind an OpenAI-compatible API."""

    def __init__(
        self,
        config: EndpointConfig,
        profile: ModelProfile | None = None,
        *,
        documents_role: str = "auto",
        max_answer_tokens: int = 512,
        k: int = 6,
        seed: int | None = 0,
        aligner: Aligner | None = None,
        constrained: bool = True,
    ):
        if documents_role not in DOCUMENTS_ROLE_MODES:
            raise ValueError(f"documents_role must be one of {', '.join(DOCUMENTS_ROLE_MODES)}")
        self.config = config
        self.client = EndpointClient(config)
        self.profile = profile or PROFILES["vikhr"]
        self.documents_role = documents_role
        self.max_answer_tokens = max_answer_tokens
        self.k = k
        self.seed = seed
        self.constrained = constrained
        self.aligner = aligner or Aligner()
        self.warnings: list[str] = []
        self._builders: dict[bool, PromptBuilder] = {}
        self._connected = False
        self._last_native: bool | None = None

    # -- endpoint state ----------------------------------------------------------
    @property
    def caps(self) -> dict:
        return endpoint_caps(self.client.base_url, self.client.model)

    def connect(self, cancel: threading.Event | None = None) -> None:
        """List the server's models (checks URL, key and model name); cheap after the first time."""
        if not self._connected:
            self.client.list_models(cancel)
            self._connected = not (cancel is not None and cancel.is_set())

    def _lost(self) -> None:
        """The server went away: ask it again about everything next time (it may have been replaced)."""
        self._connected = False
        self.client.forget_capabilities()

    @property
    def n_ctx(self) -> int:
        caps = self.caps
        return int(caps.get("n_ctx") or self.client.max_model_len or self.config.n_ctx)

    def _native(self) -> bool:
        if self.documents_role == "on":
            return True
        if self.documents_role == "off":
            return False
        return self.profile.documents_role and self.caps.get("documents_role") is not False

    def builder(self, native: bool) -> PromptBuilder:
        if native not in self._builders:
            p = self.profile
            if native:
                p = replace(p, documents_role=True)
            else:
                grounded = FOLDED_GROUNDING if p.grounded_system_prompt == GROUNDED_SYSTEM_PROMPT else p.grounded_system_prompt
                p = replace(p, documents_role=False, grounded_system_prompt=grounded)
            p = replace(p, use_gguf_template=False)  # the server applies its template; ours only counts tokens
            self._builders[native] = PromptBuilder(p)
        return self._builders[native]

    def count_tokens(self, text: str) -> list[int]:
        tokens = self.client.tokenize(text)
        return tokens if tokens is not None else [0] * estimate_tokens(text)

    def _budget(self, native: bool, n_ctx: int | None = None) -> ContextBudget:
        return ContextBudget(self.builder(native), self.count_tokens, n_ctx or self.n_ctx, self.max_answer_tokens,
                             margin_tokens=TEMPLATE_MARGIN + STEP1_SLACK)

    @property
    def budget(self) -> ContextBudget:
        """The current context budget (connects first: the CLI uses it to check a question early)."""
        self.connect()
        return self._budget(self._native())

    @property
    def model_info(self) -> dict:
        native = self._last_native if self._last_native is not None else self._native()
        return {
            "endpoint": self.client.base_url,
            "name": self.client.model,
            "profile": self.profile.key,
            "documents_role": "on" if native else "off",
            "n_ctx": self.n_ctx,
        }

    def close(self) -> None:
        self.client.close()

    # -- the two steps -----------------------------------------------------------
    def answer(
        self,
        question: str,
        documents: Sequence[SourceDocument] | Retriever,
        history: Sequence[HistoryItem] = (),
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        on_step1: Callable[[list[int], int], None] | None = None,
    ) -> Answer:
        """Step 1 then step 2 on the server; `on_token` gets each streamed piece (HTTP worker thread).

        Cancel returns at once with the partial text (Answer.cancelled); a server
        that drops the connection mid-answer raises EndpointDisconnected whose
        `partial_answer` holds what had arrived.
        """
        t_start = time.perf_counter()
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        timings: dict = {}
        if callable(documents):
            t = time.perf_counter()
            documents = list(documents(question, self.k))
            timings["retrieval_s"] = round(time.perf_counter() - t, 4)
        documents = list(documents)
        history_turns = as_turns(history)
        lang = message_language(question)
        warnings = list(self.warnings)
        try:
            return self._answer(question, documents, history_turns, on_token, cancel, on_step1,
                                t_start, timings, lang, warnings)
        except (EndpointUnreachable, EndpointDisconnected, EndpointTimeout):
            self._lost()
            raise

    def _answer(self, question, documents, history_turns, on_token, cancel, on_step1, t_start, timings, lang, warnings):
        self.connect(cancel)
        native = self._native()
        docs: list[SourceDocument] = []
        ids: list[int] = []

        def finish(text: str, chosen: list[int], found: bool, cancelled: bool = False, step1: str = "") -> Answer:
            self._last_native = native
            return grounded_answer(
                self.aligner, question=question, text=text, chosen=chosen, documents=docs, found=found,
                timings=timings, started=t_start, model=self.model_info | {"documents_role": "on" if native else "off"},
                language=lang, warnings=warnings, cancelled=cancelled, step1=step1,
            )

        def not_found(step1: str) -> Answer:
            text = NOT_FOUND[lang]
            if on_token is not None:
                on_token(text)
            return finish(text, [], False, step1=step1)

        if cancel is not None and cancel.is_set():
            return finish("", [], False, cancelled=True)

        # -- plan + step 1 (with the documents-role, response_format and overflow fallbacks)
        t = time.perf_counter()
        budget_n_ctx = self.caps.get("budget_n_ctx") or self.n_ctx
        plan = self._plan(native, budget_n_ctx, question, documents, history_turns, cancel)
        timings["budget_s"] = round(time.perf_counter() - t, 4)
        if plan is None:
            return finish("", [], False, cancelled=True)
        shrunk = False
        r1 = None
        for _attempt in range(6):
            docs = plan.documents
            timings["n_ctx"] = plan.n_ctx
            if not docs:
                warnings += plan.warnings
                return not_found(format_ids([]))
            rf_index = self.caps.get("response_format", 0) if self.constrained else len(RESPONSE_FORMATS) - 1
            rf = RESPONSE_FORMATS[rf_index]
            params = {"temperature": 0.0, "max_tokens": plan.step1_max_tokens + STEP1_SLACK}
            if self.seed is not None:
                params["seed"] = self.seed
            schema = ids_schema(range(len(docs)))
            if rf == "json_schema":
                params["response_format"] = {"type": "json_schema",
                                             "json_schema": {"name": "relevant_doc_ids", "strict": True, "schema": schema}}
            elif rf == "grammar":
                params["grammar"] = ids_grammar(range(len(docs)))
            elif rf == "json_object":
                params["response_format"] = {"type": "json_object", "schema": schema}
            msgs = self.builder(native).messages(question, plan.docs_json, plan.history)
            try:
                r1 = self.client.chat(msgs, params, cancel)
                break
            except ContextOverflow as exc:
                if shrunk:
                    raise BudgetError(f"the documents do not fit the model server's context even after shrinking: "
                                      f"{exc.detail}") from None
                shrunk = True
                budget_n_ctx = self._shrunk_n_ctx(plan, exc)
                warnings.append(f"the model server's context is smaller than assumed; documents packed for {budget_n_ctx} tokens")
                plan = self._plan(native, budget_n_ctx, question, documents, history_turns, cancel)
                if plan is None:
                    return finish("", [], False, cancelled=True)
            except EndpointRequestError as exc:
                detail = exc.detail.lower()
                if rf is not None and exc.status in (400, 422, 500) and (
                        "response_format" in detail or "json_schema" in detail or "grammar" in detail):
                    self.caps["response_format"] = rf_index + 1
                    continue
                if native and self.documents_role == "auto" and _rejects_documents_role(exc):
                    self.caps["documents_role"] = False
                    native = False
                    plan = self._plan(native, budget_n_ctx, question, documents, history_turns, cancel)
                    if plan is None:
                        return finish("", [], False, cancelled=True)
                    continue
                raise
        else:  # pragma: no cover - every branch above either breaks, continues a bounded number of times or raises
            raise EndpointRequestError(f"the model server at {self.client.base_url} kept refusing the request",
                                       self.client.base_url)
        if native and self.documents_role == "auto":
            self.caps["documents_role"] = True
        elif not native and self.documents_role == "auto" and self.profile.documents_role:
            warnings.append(FOLDED_NOTE)
        warnings += plan.warnings
        timings.update(
            step1_s=round(r1.t_total_s, 4),
            step1_prompt_tokens=r1.usage.get("prompt_tokens"),
            step1_output_tokens=r1.usage.get("completion_tokens"),
            step1_response_format=RESPONSE_FORMATS[self.caps.get("response_format", 0)] if self.constrained else None,
        )
        if r1.cancelled:
            return finish("", [], False, cancelled=True, step1=r1.text)
        offered = list(range(len(docs)))
        chosen, note = repair_ids(r1.text, offered)
        timings["step1_repaired"] = bool(note)
        if chosen is None:
            warnings.append(f"step 1 output was unusable ({note}); using every document")
            chosen = offered
        ids = chosen
        if on_step1 is not None:
            on_step1(list(ids), len(offered))
        if not ids:
            return not_found(r1.text)

        # -- step 2: a second assistant turn, streamed ---------------------------
        s = self.profile.sampling
        params = {"temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k, "min_p": s.min_p,
                  "repeat_penalty": s.repeat_penalty, "max_tokens": plan.answer_max_tokens}
        if self.seed is not None:
            params["seed"] = self.seed
        msgs = self.builder(native).step2_messages(question, plan.docs_json, plan.history, format_ids(ids))
        try:
            r2 = self.client.stream_chat(msgs, params, from_first_visible(on_token), cancel)
        except (EndpointDisconnected, EndpointTimeout) as exc:
            warnings.append(str(exc))
            exc.partial_answer = finish(exc.partial_text.strip(), ids, True, step1=r1.text)
            raise
        timings.update(
            step2_s=round(r2.t_total_s, 4),
            step2_first_token_s=round(r2.t_first_s, 4) if r2.t_first_s is not None else None,
            step2_prompt_tokens=r2.usage.get("prompt_tokens"),
            step2_output_tokens=r2.usage.get("completion_tokens"),
            step2_finish_reason=r2.finish_reason,
        )
        if r2.finish_reason == "length":
            warnings.append(f"the answer was cut at {plan.answer_max_tokens} tokens")
        return finish(r2.text.strip(), ids, True, cancelled=r2.cancelled, step1=r1.text)

    def _plan(self, native: bool, n_ctx: int, question: str, documents, history,
              cancel: threading.Event | None = None) -> BudgetPlan | None:
        """Pack the documents (token counts come from the server); None when stopped meanwhile."""
        budget = self._budget(native, n_ctx)
        if cancel is None:
            return budget.plan(question, documents, history)
        plan, cancelled, _ = self.client.run_cancellable(lambda call: budget.plan(question, documents, history), cancel)
        return None if cancelled else plan

    def _shrunk_n_ctx(self, plan: BudgetPlan, exc: ContextOverflow) -> int:
        """A budget that fits, from what the server said: its context size and its own token count."""
        server_ctx = exc.n_ctx or plan.n_ctx
        ours = len(plan.step1_tokens) + plan.step1_max_tokens + STEP1_SLACK
        ratio = max(1.0, (exc.requested / ours) if exc.requested and ours else 1.0)
        if not exc.n_ctx and not exc.requested:
            ratio = 1.5
        new = int(min(plan.n_ctx, server_ctx) / ratio * 0.95)
        if exc.n_ctx:
            self.caps["n_ctx"] = exc.n_ctx
        self.caps["budget_n_ctx"] = new
        return new


def _rejects_documents_role(exc: EndpointRequestError) -> bool:
    """A 400/422 (llama-cpp-python: 500) validation error about the 'documents' message role."""
    d = exc.detail.lower()
    return exc.status in (400, 422, 500) and "documents" in d and ("role" in d or "validation" in d)
