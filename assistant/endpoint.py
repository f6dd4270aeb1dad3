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
from typing import Sequence

from assistant.answer import Answer
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
from assistant.grammar import KEY, format_ids, ids_grammar, parse_ids
from assistant.guard import DEFAULT_CAP_FACTOR
from assistant.profiles import FOLDED_GROUNDING, GROUNDED_SYSTEM_PROMPT, PROFILES, ModelProfile
from assistant.prompts import PromptBuilder
from assistant.two_step import AnswerRun, TwoStepPipeline, sampling

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


class RemotePipeline(TwoStepPipeline):
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
        answer_cap: float = DEFAULT_CAP_FACTOR,
        mode_reason: str = "",
    ):
        if documents_role not in DOCUMENTS_ROLE_MODES:
            raise ValueError(f"documents_role must be one of {', '.join(DOCUMENTS_ROLE_MODES)}")
        super().__init__(k=k, seed=seed, aligner=aligner, answer_cap=answer_cap, mode_reason=mode_reason)
        self.config = config
        self.client = EndpointClient(config)
        self.profile = profile or PROFILES["vikhr"]
        self.documents_role = documents_role
        self.max_answer_tokens = max_answer_tokens
        self.constrained = constrained
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
        """What answers: the server, the model's name and profile, how documents are sent, the context."""
        native = self._last_native if self._last_native is not None else self._native()
        return {
            "endpoint": self.client.base_url,
            "name": self.client.model,
            "path": None,
            "profile": self.profile.key,
            "n_gpu_layers": None,
            "device": "server",
            "prompt_format": self.builder(native).describe(),
            "documents_role": "on" if native else "off",
            "n_ctx": self.n_ctx,
        }

    def close(self) -> None:
        self.client.close()

    # -- the two steps -----------------------------------------------------------
    def _answer(self, run: AnswerRun) -> Answer:
        """Cancel returns at once with the partial text (Answer.cancelled); a server that drops the
        connection mid-answer raises EndpointDisconnected whose `partial_answer` holds what had arrived."""
        try:
            return self._two_steps(run)
        except (EndpointUnreachable, EndpointDisconnected, EndpointTimeout):
            self._lost()
            raise

    def _two_steps(self, run: AnswerRun) -> Answer:
        self.connect(run.cancel)
        if run.cancelled:
            return run.stopped()
        t = time.perf_counter()
        attempt = _Step1Attempt(self, run, self._native())
        run.model_extra["documents_role"] = "on" if attempt.native else "off"
        plan = attempt.plan(self.caps.get("budget_n_ctx") or self.n_ctx)
        run.timings["budget_s"] = round(time.perf_counter() - t, 4)
        r1 = attempt.run(plan) if plan is not None else None
        plan, native = attempt.plan_used, attempt.native
        self._last_native = native
        run.model_extra["documents_role"] = "on" if native else "off"
        if plan is None:
            return run.stopped()
        if r1 is None:  # nothing fits
            run.warnings += plan.warnings
            return run.not_found(format_ids([]))
        if native and self.documents_role == "auto":
            self.caps["documents_role"] = True
        elif not native and self.documents_role == "auto" and self.profile.documents_role:
            run.warnings.append(FOLDED_NOTE)
        run.warnings += plan.warnings
        run.timings.update(
            step1_s=round(r1.t_total_s, 4),
            step1_prompt_tokens=r1.usage.get("prompt_tokens"),
            step1_output_tokens=r1.usage.get("completion_tokens"),
            step1_response_format=RESPONSE_FORMATS[self.caps.get("response_format", 0)] if self.constrained else None,
        )
        if r1.cancelled:
            return run.stopped(r1.text)
        offered = list(range(len(run.docs)))
        ids, note = repair_ids(r1.text, offered)
        run.timings["step1_repaired"] = bool(note)
        if ids is None:
            run.warnings.append(f"step 1 output was unusable ({note}); using every document")
            ids = offered
        run.chose(ids)
        if not ids:
            return run.not_found(r1.text)
        return self._step2(run, plan, native, ids, r1.text)

    def _step2(self, run: AnswerRun, plan: BudgetPlan, native: bool, ids: list[int], step1: str) -> Answer:
        """A second assistant turn, streamed through the answer guard."""
        msgs = self.builder(native).step2_messages(run.question, plan.docs_json, plan.history, format_ids(ids))
        guard = run.stream()
        try:
            r2 = self.client.stream_chat(msgs, sampling(self.profile, plan.answer_max_tokens, self.seed),
                                         guard.push, guard.halt)
        except (EndpointDisconnected, EndpointTimeout) as exc:
            run.warnings.append(str(exc))
            exc.partial_answer = run.finish(guard.finish(), ids, True, step1=step1)
            raise
        run.timings.update(
            step2_s=round(r2.t_total_s, 4),
            step2_first_token_s=round(r2.t_first_s, 4) if r2.t_first_s is not None else None,
            step2_prompt_tokens=r2.usage.get("prompt_tokens"),
            step2_output_tokens=r2.usage.get("completion_tokens"),
        )
        return run.answered(r2.finish_reason, plan.answer_max_tokens, ids, step1)

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


class _Step1Attempt:
    """Step 1 on a server whose abilities are found out by trying: the response_format it takes,
    the documents role, its real context size. Each refusal moves down a fallback (bounded)."""

    def __init__(self, pipeline: RemotePipeline, run: AnswerRun, native: bool):
        self.pipeline, self.run_, self.native = pipeline, run, native
        self.n_ctx = 0
        self.plan_used: BudgetPlan | None = None

    def plan(self, n_ctx: int) -> BudgetPlan | None:
        self.n_ctx = n_ctx
        run = self.run_
        return self.pipeline._plan(self.native, n_ctx, run.question, run.documents, run.history, run.cancel)

    def params(self, rf: str | None, n_docs: int, max_tokens: int) -> dict:
        p = self.pipeline
        params = {"temperature": 0.0, "max_tokens": max_tokens + STEP1_SLACK}
        if p.seed is not None:
            params["seed"] = p.seed
        schema = ids_schema(range(n_docs))
        if rf == "json_schema":
            params["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "relevant_doc_ids", "strict": True, "schema": schema}}
        elif rf == "grammar":
            params["grammar"] = ids_grammar(range(n_docs))
        elif rf == "json_object":
            params["response_format"] = {"type": "json_object", "schema": schema}
        return params

    def run(self, plan: BudgetPlan):
        """The step-1 ChatResult; None when no document fits (`plan_used` has no documents) or when
        stopped (`plan_used` is None). `plan_used` and `native` say how step 1 was asked."""
        p, run = self.pipeline, self.run_
        shrunk = False
        for _attempt in range(6):
            self.plan_used = plan
            run.docs = plan.documents
            run.timings["n_ctx"] = plan.n_ctx
            if not plan.documents:
                return None
            rf_index = p.caps.get("response_format", 0) if p.constrained else len(RESPONSE_FORMATS) - 1
            rf = RESPONSE_FORMATS[rf_index]
            msgs = p.builder(self.native).messages(run.question, plan.docs_json, plan.history)
            try:
                return p.client.chat(msgs, self.params(rf, len(plan.documents), plan.step1_max_tokens), run.cancel)
            except ContextOverflow as exc:
                if shrunk:
                    raise BudgetError(f"the documents do not fit the model server's context even after shrinking: "
                                      f"{exc.detail}") from None
                shrunk = True
                n_ctx = p._shrunk_n_ctx(plan, exc)
                run.warnings.append(f"the model server's context is smaller than assumed; documents packed for {n_ctx} tokens")
            except EndpointRequestError as exc:
                detail = exc.detail.lower()
                if rf is not None and exc.status in (400, 422, 500) and (
                        "response_format" in detail or "json_schema" in detail or "grammar" in detail):
                    p.caps["response_format"] = rf_index + 1
                    continue
                if not (self.native and p.documents_role == "auto" and _rejects_documents_role(exc)):
                    raise
                p.caps["documents_role"] = False
                self.native = False
                n_ctx = self.n_ctx
            plan = self.plan(n_ctx)
            if plan is None:
                self.plan_used = None
                return None
        # every branch above returns, continues a bounded number of times or raises
        raise EndpointRequestError(f"the model server at {p.client.base_url} kept refusing the request",  # pragma: no cover
                                   p.client.base_url)


def _rejects_documents_role(exc: EndpointRequestError) -> bool:
    """A 400/422 (llama-cpp-python: 500) validation error about the 'documents' message role."""
    d = exc.detail.lower()
    return exc.status in (400, 422, 500) and "documents" in d and ("role" in d or "validation" in d)
