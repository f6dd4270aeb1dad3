"""The grounded two-step answer (Vikhr protocol) on any GGUF model.

    step 1  system + documents + history + question -> {"relevant_doc_ids": [...]}
            temperature 0, under a grammar that only allows offered ids
    step 2  step-1 prompt + step-1 answer + a new assistant turn -> the answer, streamed

Step 2's prompt *extends* step 1's, token for token where possible (the
model's own step-1 tokens are reused, then the end-of-turn and header tokens
are appended), so llama.cpp's prefix cache keeps the documents evaluated:
`timings.step2_prompt_evaluated` is the measured count of prompt tokens
llama.cpp decoded for step 2. The optional model check (assistant/model_check.py)
extends the same prompt once more, after the answer.
"""
from __future__ import annotations

import threading
import time

from assistant.answer import Answer
from assistant.budget import BudgetPlan, ContextBudget
from assistant.citations import Aligner
from assistant.grammar import format_ids, ids_grammar, parse_ids
from assistant.guard import DEFAULT_CAP_FACTOR
from assistant.model_check import check_partials
from assistant.profiles import ModelProfile, detect_profile
from assistant.prompts import PromptBuilder, TemplateLimits
from assistant.runtime import GenerationParams, GenerationResult, LlamaRuntime
from assistant.two_step import AnswerRun, TwoStepPipeline, sampling


class GroundedPipeline(TwoStepPipeline):
    """Answers questions from documents with one `LlamaRuntime` and one model profile."""

    def __init__(
        self,
        runtime: LlamaRuntime,
        profile: ModelProfile | None = None,
        *,
        max_answer_tokens: int = 512,
        k: int = 6,
        seed: int | None = 0,
        aligner: Aligner | None = None,
        template_limits: TemplateLimits = TemplateLimits(),
        answer_cap: float = DEFAULT_CAP_FACTOR,
        mode_reason: str = "",
        model_check: bool = False,
    ):
        """`model_check`: partial sentences are judged by the model (assistant/model_check.py)."""
        super().__init__(k=k, seed=seed, aligner=aligner, answer_cap=answer_cap, mode_reason=mode_reason)
        meta = runtime.meta
        self.runtime = runtime
        self.model_check = model_check
        self.profile = profile or detect_profile(meta)
        self.builder = PromptBuilder(
            self.profile,
            meta.chat_template,
            bos_token=meta.bos_text or "",
            eos_token=meta.eos_text or "",
            limits=template_limits,
        )
        self.add_bos = self.profile.needs_bos or bool(meta.add_bos_token)
        self.budget = ContextBudget(self.builder, self.tokenize_prompt, runtime.n_ctx, max_answer_tokens)
        self.stop = tuple(dict.fromkeys(self.profile.stop + self.builder.extra_stop))
        self.warnings = list(self.builder.warnings) + list(runtime.info.warnings)
        if self.profile.notes.startswith("no chat template"):
            self.warnings.append(f"{meta.describe()}: {self.profile.notes}")

    def tokenize_prompt(self, text: str) -> list[int]:
        return self.runtime.tokenize(text, add_bos=self.add_bos)

    @property
    def model_info(self) -> dict:
        info = self.runtime.info
        return {
            "path": info.model_path,
            "profile": self.profile.key,
            "n_gpu_layers": info.n_gpu_layers,
            "device": info.device,
            "name": self.runtime.meta.name,
            "prompt_format": self.builder.describe(),
            "n_ctx": info.n_ctx,
            "model_check": self.model_check,
        }

    def close(self) -> None:
        """Releases the model (the runtime's worker thread and llama.cpp's memory)."""
        self.runtime.close()

    # ------------------------------------------------------------------
    def _answer(self, run: AnswerRun) -> Answer:
        timings = run.timings
        timings["n_ctx"] = self.runtime.n_ctx
        t = time.perf_counter()
        plan = self.budget.plan(run.question, run.documents, run.history)
        timings["budget_s"] = round(time.perf_counter() - t, 4)
        run.warnings += plan.warnings
        run.docs = plan.documents
        if not run.docs:
            return run.not_found(format_ids([]))

        # -- step 1: relevant ids under the grammar -----------------------
        r1 = self.run_step1(plan, run.cancel)
        timings.update(
            step1_s=round(r1.t_total_s, 4),
            step1_prompt_tokens=r1.n_prompt_tokens,
            step1_prompt_evaluated=r1.n_prompt_evaluated,
            step1_prefix_reused=r1.n_prefix_reused,
            step1_output_tokens=r1.n_output_tokens,
        )
        if r1.finish_reason == "cancelled":
            return run.stopped(r1.text)
        offered = list(range(len(run.docs)))
        parsed = parse_ids(r1.text, offered)
        if parsed.valid:
            ids = list(parsed.ids)
        else:  # cannot happen under the grammar; never trust it anyway
            run.warnings.append(f"step 1 output was invalid ({parsed.error}); using every document")
            ids = offered
        run.chose(ids)
        if not ids:
            return run.not_found(format_ids([]))

        # -- step 2: the grounded answer, extending step 1's prompt ---------
        step2_text = self.builder.step2(run.question, plan.docs_json, plan.history, format_ids(ids))
        step2_tokens = self._step2_tokens(plan.step1_text, plan.step1_tokens, r1, step2_text)
        max_tokens = min(plan.answer_max_tokens, self.runtime.n_ctx - len(step2_tokens))
        guard = run.stream()
        r2 = self.runtime.generate(
            step2_tokens,
            GenerationParams(**sampling(self.profile, max_tokens, self.seed), stop=self.stop),
            on_token=guard.push,
            cancel=guard.halt,
        )
        timings.update(
            step2_s=round(r2.t_total_s, 4),
            step2_first_token_s=round(r2.t_prompt_s, 4),
            step2_prompt_tokens=r2.n_prompt_tokens,
            step2_prompt_evaluated=r2.n_prompt_evaluated,
            step2_prefix_reused=r2.n_prefix_reused,
            step2_output_tokens=r2.n_output_tokens,
            step2_tokens_per_s=round(r2.tokens_per_s, 2),
        )
        answer = run.answered(r2.finish_reason, max_tokens, ids, r1.text)
        if self.model_check and answer.found and not answer.cancelled and answer.citations:
            # the check turns follow the answer as the model wrote it: its prompt stays in the KV cache
            messages = self.builder.step2_messages(run.question, plan.docs_json, plan.history, format_ids(ids))
            messages.append({"role": "assistant", "content": answer.answer})
            check_partials(self, answer, messages, step2_tokens + list(r2.tokens), step2_text + r2.text, run.cancel)
        return answer

    def run_step1(self, plan: BudgetPlan, cancel: threading.Event | None = None) -> GenerationResult:
        """Step 1 alone: greedy, under the ids grammar, bounded by the plan (benchmarks use it too)."""
        return self.runtime.generate(
            plan.step1_tokens,
            GenerationParams(
                max_tokens=plan.step1_max_tokens,
                temperature=0.0,
                grammar=ids_grammar(range(len(plan.documents))),
                seed=self.seed,
            ),
            cancel=cancel,
        )

    def _step2_tokens(self, step1_text: str, step1_tokens: list[int], r1, step2_text: str) -> list[int]:
        """Step-1 prompt tokens + the model's own step-1 tokens + the new turn's tokens.

        Re-tokenizing the whole string could split the JSON differently from how
        the model wrote it and cost a re-evaluation; this keeps the KV prefix exact.
        Falls back to plain tokenization when the texts do not line up.
        """
        prefix = step1_text + r1.text
        if r1.finish_reason == "eog" and step2_text.startswith(prefix):
            tail_text = step2_text[len(prefix):]
            tail = self.runtime.tokenize(tail_text, add_bos=False)
            if tail and self.runtime.detokenize(tail) == tail_text:
                return list(step1_tokens) + list(r1.tokens) + tail
        return self.tokenize_prompt(step2_text)
