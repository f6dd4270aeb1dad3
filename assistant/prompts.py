"""Render the grounded conversation into one prompt string per model family.

Why we render ourselves: llama-cpp-python's built-in chat formatters drop any
role they do not know, and Vikhr's `documents` turn is exactly such a role.
Known families get a fixed renderer that reproduces the model card's format
byte for byte; models whose profile says so are rendered with the chat
template stored in the GGUF, inside a Jinja sandbox with time, output and
range limits (a GGUF is untrusted input: a template must not be able to reach
Python internals or hang the app).
"""
from __future__ import annotations

import json
import operator
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from assistant.errors import TemplateError
from assistant.profiles import FOLDED_DOCUMENTS_HEADER, LLAMA2_STEP2_FOLLOWUP, ModelProfile

Message = dict  # {"role": str, "content": str}


# --------------------------------------------------------------------------
# documents


def documents_json(documents: Iterable[tuple[str | None, str]]) -> str:
    """The Vikhr documents payload: doc_id 0..n-1 in order, ensure_ascii=False."""
    return json.dumps(
        [{"doc_id": i, "title": title, "content": content} for i, (title, content) in enumerate(documents)],
        ensure_ascii=False,
    )


# --------------------------------------------------------------------------
# fixed renderers (the formats printed in the seed model cards)


def _llama3_like(messages: Sequence[Message], gen: bool, bos: str, eot: str) -> str:
    out = [bos]
    for m in messages:
        out.append(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content'].strip()}{eot}")
    if gen:
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


def render_llama3(messages: Sequence[Message], gen: bool = True) -> str:
    """Llama-3 / Vikhr: any role (documents included) becomes a header."""
    return _llama3_like(messages, gen, "<|begin_of_text|>", "<|eot_id|>")


def render_vikhr_nemo(messages: Sequence[Message], gen: bool = True) -> str:
    """Vikhr-Nemo: the Vikhr headers with </s> in place of <|eot_id|>."""
    return _llama3_like(messages, gen, "<s>", "</s>")


def render_chatml(messages: Sequence[Message], gen: bool = True) -> str:
    """ChatML (Saiga v2/v3)."""
    out = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    if gen:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def render_llama2(messages: Sequence[Message], gen: bool = True, bos: str = "<s>", eos: str = "</s>") -> str:
    """llama-2 chat as in Shisa's tokenizer chat template ([INST] <<SYS>>, BOS per turn).

    There is no generation prompt: the model continues after ` [/INST]`.
    """
    out = []
    for idx, m in enumerate(messages):
        role, content = m["role"], m["content"]
        if role == "system":
            out.append(f"{bos}[INST] <<SYS>>\n{content}\n<</SYS>>\n\n")
        elif role == "user":
            if idx != 1:  # Shisa's template omits "[INST] " only right after the system turn
                out.append(f"{bos}[INST] {content} [/INST]")
            else:
                out.append(f"{content} [/INST]")
        elif role == "assistant":
            out.append(f" {content} {eos}")
        else:
            raise TemplateError(f"llama-2 format has no {role!r} role")
    return "".join(out)


def render_gemma(messages: Sequence[Message], gen: bool = True, bos: str = "<bos>") -> str:
    """Gemma turns; the system text is prepended to the first user turn (Gemma has no system role)."""
    out = [bos]
    prefix = ""
    for m in messages:
        role, content = m["role"], m["content"]
        if role == "system":
            prefix += content.strip() + "\n\n"
            continue
        role = "model" if role == "assistant" else role
        if role == "user" and prefix:
            content, prefix = prefix + content.strip(), ""
        out.append(f"<start_of_turn>{role}\n{content.strip()}<end_of_turn>\n")
    if gen:
        out.append("<start_of_turn>model\n")
    return "".join(out)


def render_plain(messages: Sequence[Message], gen: bool = True) -> str:
    """Last resort for an unknown model without a chat template."""
    out = [f"### {m['role'].capitalize()}\n{m['content'].strip()}\n\n" for m in messages]
    if gen:
        out.append("### Assistant\n")
    return "".join(out)


FIXED_RENDERERS: dict[str, Callable[[Sequence[Message], bool], str]] = {
    "llama3": render_llama3,
    "vikhr_nemo": render_vikhr_nemo,
    "chatml": render_chatml,
    "llama2": render_llama2,
    "gemma": render_gemma,
    "plain": render_plain,
}
FORMAT_STOPS = {"plain": ("\n### ",)}


# --------------------------------------------------------------------------
# sandboxed chat templates


@dataclass(frozen=True)
class TemplateLimits:
    max_source_chars: int = 200_000
    max_output_chars: int = 4_000_000
    time_limit_s: float = 2.0
    max_range: int = 10_000
    max_trace_events: int = 5_000_000


def _make_environment(limits: TemplateLimits):
    from jinja2 import sandbox

    class _Env(sandbox.ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context, op, left, right):  # noqa: D401 - jinja hook
            if op == "**":
                if isinstance(right, (int, float)) and abs(right) > 64:
                    raise TemplateError("chat template computes an oversized power")
                return operator.pow(left, right)
            if op == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                        if len(seq) * max(n, 0) > limits.max_output_chars:
                            raise TemplateError("chat template builds an oversized string")
                return operator.mul(left, right)
            return super().call_binop(context, op, left, right)

    env = _Env(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"], autoescape=False)

    def safe_range(*args):
        r = range(*args)
        if len(r) > limits.max_range:
            raise TemplateError(f"chat template asks for range of {len(r)} items (limit {limits.max_range})")
        return r

    def raise_exception(message: Any = "") -> None:
        raise TemplateError(f"chat template refused the conversation: {message}")

    def strftime_now(fmt: str) -> str:
        return datetime.now().strftime(str(fmt)[:100])

    def tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False, sort_keys: bool = False) -> str:
        return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)

    env.globals.update(range=safe_range, raise_exception=raise_exception, strftime_now=strftime_now)
    env.filters["tojson"] = tojson
    return env


class SafeTemplate:
    """A chat template compiled in a Jinja sandbox; rendering is bounded in time and size."""

    def __init__(self, source: str, limits: TemplateLimits = TemplateLimits()):
        from jinja2 import TemplateError as JinjaError

        if len(source) > limits.max_source_chars:
            raise TemplateError(f"chat template is too large ({len(source)} characters)")
        self.source = source
        self.limits = limits
        try:
            self._template = _make_environment(limits).from_string(source)
        except JinjaError as exc:
            raise TemplateError(f"chat template does not compile: {exc}") from None

    def render(self, **context: Any) -> str:
        from jinja2 import TemplateError as JinjaError
        from jinja2.exceptions import SecurityError

        limits = self.limits
        deadline = time.monotonic() + limits.time_limit_s
        events = 0

        def local_trace(frame, event, arg):
            nonlocal events
            events += 1
            if events > limits.max_trace_events or (events & 127 == 0 and time.monotonic() > deadline):
                raise TemplateError(
                    f"chat template rendering exceeded {limits.time_limit_s:g} s / {limits.max_trace_events} steps"
                )
            return local_trace

        def global_trace(frame, event, arg):
            return local_trace if frame.f_code.co_filename == "<template>" else None

        previous = sys.gettrace()
        chunks: list[str] = []
        size = 0
        sys.settrace(global_trace)
        try:
            for chunk in self._template.generate(**context):
                size += len(chunk)
                if size > limits.max_output_chars:
                    raise TemplateError(f"chat template output exceeds {limits.max_output_chars} characters")
                if time.monotonic() > deadline:
                    raise TemplateError(f"chat template rendering exceeded {limits.time_limit_s:g} s")
                chunks.append(chunk)
        except TemplateError:
            raise
        except SecurityError as exc:
            raise TemplateError(f"chat template tried an unsafe operation and was refused: {exc}") from None
        except JinjaError as exc:
            raise TemplateError(f"chat template failed: {exc}") from None
        except RecursionError:
            raise TemplateError("chat template recursed too deeply") from None
        except MemoryError:
            raise TemplateError("chat template used too much memory") from None
        except Exception as exc:  # a template is data: any failure is the template's
            raise TemplateError(f"chat template failed: {type(exc).__name__}: {exc}") from None
        finally:
            sys.settrace(previous)
        return "".join(chunks)


# --------------------------------------------------------------------------
# the conversation


@dataclass(frozen=True)
class HistoryTurn:
    """One earlier exchange kept for multi-turn conversations (no documents)."""

    question: str
    answer: str


class PromptBuilder:
    """Builds step-1 and step-2 prompts for one model (profile + its GGUF template)."""

    _PROBE_SYS, _PROBE_DOC, _PROBE_USER, _PROBE_ASSIST = "\u27e6sys\u27e7", "\u27e6doc\u27e7", "\u27e6usr\u27e7", "\u27e6ans\u27e7"

    def __init__(
        self,
        profile: ModelProfile,
        chat_template: str | None = None,
        bos_token: str = "",
        eos_token: str = "",
        limits: TemplateLimits = TemplateLimits(),
    ):
        self.profile = profile
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.warnings: list[str] = []
        self.template: SafeTemplate | None = None
        self.system_in_user = False
        self.step2_followup = profile.step2_followup
        if profile.use_gguf_template and chat_template:
            self.template = SafeTemplate(chat_template, limits)
            self._probe_template()

    # -- template capability probes ---------------------------------------
    def _probe_template(self) -> None:
        sys_, doc, usr, ans = self._PROBE_SYS, self._PROBE_DOC, self._PROBE_USER, self._PROBE_ASSIST
        msgs = [{"role": "system", "content": sys_}, {"role": "user", "content": usr}]
        if self.profile.documents_role:
            msgs.insert(1, {"role": "documents", "content": doc})
        try:
            text = self._render_template(msgs, True)
        except TemplateError as exc:
            if "refused the conversation" not in str(exc):
                raise
            text = ""
        if self.profile.documents_role and doc not in text:
            self.warnings.append("the GGUF chat template drops the documents role; using the fixed format")
            self.template = None
            return
        if sys_ not in text:
            self.system_in_user = True
            merged = [{"role": "user", "content": sys_ + "\n\n" + usr}]
            text = self._render_template(merged, True)
            if usr not in text:
                raise TemplateError("the GGUF chat template does not render a user message")
        base = [{"role": "user", "content": usr}] if self.system_in_user else msgs
        without_gen = self._render_template(base, False)
        with_gen = self._render_template(base, True)
        if with_gen == without_gen:
            self.step2_followup = self.step2_followup or _DEFAULT_FOLLOWUP
            return
        try:
            two = self._render_template(base + [{"role": "assistant", "content": ans}], True)
            ok = ans in two and two != self._render_template(base + [{"role": "assistant", "content": ans}], False)
        except TemplateError:
            ok = False
        if not ok:
            self.step2_followup = self.step2_followup or _DEFAULT_FOLLOWUP

    def _render_template(self, messages: Sequence[Message], gen: bool) -> str:
        assert self.template is not None
        return self.template.render(
            messages=[dict(m) for m in messages],
            add_generation_prompt=gen,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )

    @property
    def uses_template(self) -> bool:
        return self.template is not None

    @property
    def extra_stop(self) -> tuple[str, ...]:
        return () if self.template is not None else FORMAT_STOPS.get(self.profile.prompt_format, ())

    # -- rendering -------------------------------------------------------
    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        if self.system_in_user:
            messages = _merge_system_into_user(messages)
        if self.template is not None:
            return self._render_template(messages, add_generation_prompt)
        fmt = self.profile.prompt_format
        if fmt == "llama2":
            return render_llama2(messages, add_generation_prompt, self.bos_token or "<s>", self.eos_token or "</s>")
        if fmt == "gemma":
            return render_gemma(messages, add_generation_prompt, self.bos_token or "<bos>")
        return FIXED_RENDERERS[fmt](messages, add_generation_prompt)

    def system_prompt(self, docs_json: str) -> str:
        p = self.profile
        if p.documents_role:
            return p.grounded_system_prompt
        head = f"{p.default_system_prompt}\n\n" if p.default_system_prompt else ""
        return f"{head}{p.grounded_system_prompt}\n\n{FOLDED_DOCUMENTS_HEADER}\n{docs_json}"

    def messages(self, question: str, docs_json: str, history: Sequence[HistoryTurn] = ()) -> list[Message]:
        msgs: list[Message] = [{"role": "system", "content": self.system_prompt(docs_json)}]
        if self.profile.documents_role:
            msgs.append({"role": "documents", "content": docs_json})
        for turn in history:
            msgs.append({"role": "user", "content": turn.question})
            msgs.append({"role": "assistant", "content": turn.answer})
        msgs.append({"role": "user", "content": question})
        return msgs

    def step1(self, question: str, docs_json: str, history: Sequence[HistoryTurn] = ()) -> str:
        return self.render(self.messages(question, docs_json, history), True)

    def step2_messages(self, question: str, docs_json: str, history: Sequence[HistoryTurn], step1_output: str) -> list[Message]:
        msgs = self.messages(question, docs_json, history)
        msgs.append({"role": "assistant", "content": step1_output})
        if self.step2_followup:
            msgs.append({"role": "user", "content": self.step2_followup})
        return msgs

    def step2(self, question: str, docs_json: str, history: Sequence[HistoryTurn], step1_output: str) -> str:
        return self.render(self.step2_messages(question, docs_json, history, step1_output), True)

    def describe(self) -> str:
        how = "GGUF chat template (sandboxed)" if self.template is not None else f"fixed {self.profile.prompt_format} format"
        return f"{self.profile.key}: {how}"


_DEFAULT_FOLLOWUP = LLAMA2_STEP2_FOLLOWUP


def _merge_system_into_user(messages: Sequence[Message]) -> list[Message]:
    out: list[Message] = []
    pending = ""
    for m in messages:
        if m["role"] == "system":
            pending += m["content"] + "\n\n"
        elif m["role"] == "user" and pending:
            out.append({"role": "user", "content": pending + m["content"]})
            pending = ""
        else:
            out.append(dict(m))
    return out
