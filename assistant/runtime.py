"""LlamaRuntime: the one thread that owns a llama.cpp model.

llama-cpp-python's `Llama` is not thread safe, so a single worker thread
creates it, runs every request from a queue, and is the only code that
touches it.  Generation streams text through a callback (or an iterator) and
stops as soon as a `threading.Event` is set: the flag is checked after every
token (prompt prefill itself cannot be interrupted).

We drive `Llama.generate()` ourselves instead of `create_completion()`:
that gives per-token cancellation, incremental UTF-8 decoding and stop
strings in O(1) per token, and lets us *measure* how many prompt tokens each
request really evaluated (prefix KV reuse), by counting the tokens handed to
`Llama.eval` before the first token is sampled.
"""
from __future__ import annotations

import codecs
import ctypes
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from assistant.errors import AssistantError, BudgetError, GenerationError, ModelError
from assistant.gguf_meta import GGUFMeta, read_gguf_meta

log = logging.getLogger("docent.assistant.runtime")

DEFAULT_N_CTX = 4096


# --------------------------------------------------------------------------
# hardware defaults


def physical_cores() -> int:
    """Physical cores available to this process (llama.cpp gains nothing from SMT siblings)."""
    try:
        logical = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        logical = os.cpu_count() or 1
    cores: set[tuple[str, str]] = set()
    try:
        phys = core = None
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    phys = value.strip()
                elif key == "core id":
                    core = value.strip()
                elif not line.strip():
                    if core is not None:
                        cores.add((phys or "0", core))
                    phys = core = None
            if core is not None:
                cores.add((phys or "0", core))
    except OSError:
        pass
    if cores:
        return max(1, min(len(cores), logical))
    return max(1, logical // 2 if logical >= 4 else logical)


def logical_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def gpu_offload_supported() -> bool:
    import llama_cpp

    try:
        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # very old or stripped builds
        return False


_log_callback = None


def _quiet_llama_logs() -> None:
    """Route llama.cpp's C logging to Python logging instead of the terminal."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    # ggml levels: 0 none, 1 debug, 2 info, 3 warn, 4 error, 5 continuation.  Only warnings
    # (to the log file) and errors (to the user's log level) are kept: the rest is chatter.
    levels = {3: logging.DEBUG, 4: logging.WARNING}
    llama_log = logging.getLogger("docent.llama_cpp")

    @llama_cpp.llama_log_callback
    def _cb(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:  # pragma: no cover - C callback
        py_level = levels.get(level)
        if py_level is None or not llama_log.isEnabledFor(py_level):
            return
        try:
            llama_log.log(py_level, text.decode("utf-8", "replace").rstrip())
        except Exception:
            pass

    _log_callback = _cb
    llama_cpp.llama_log_set(_cb, ctypes.c_void_p(0))


# --------------------------------------------------------------------------
# requests and results


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 40
    min_p: float = 0.0
    repeat_penalty: float = 1.0
    seed: int | None = None
    grammar: str | None = None
    stop: tuple[str, ...] = ()


@dataclass
class GenerationResult:
    text: str
    tokens: list[int]                 # generated tokens, end-of-generation token excluded
    finish_reason: str                # "eog", "stop", "length", "cancelled"
    n_prompt_tokens: int
    n_prompt_evaluated: int           # measured: tokens decoded before the first sample
    n_prefix_reused: int              # prompt tokens found already in the KV cache
    n_sampled: int                    # tokens sampled, end-of-generation token included
    t_prompt_s: float                 # request start -> first token sampled
    t_total_s: float

    @property
    def n_output_tokens(self) -> int:
        return len(self.tokens)

    @property
    def tokens_per_s(self) -> float:
        gen_time = self.t_total_s - self.t_prompt_s
        return (self.n_sampled - 1) / gen_time if self.n_sampled > 1 and gen_time > 0 else 0.0


@dataclass
class RuntimeInfo:
    model_path: str
    n_ctx: int
    n_ctx_train: int | None
    n_threads: int
    n_threads_batch: int
    n_gpu_layers: int
    device: str
    gpu_offload_supported: bool
    warnings: list[str] = field(default_factory=list)


class _StopMatcher:
    """Cuts text at the first stop string; holds back a possible partial match."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.buf = ""

    def push(self, text: str) -> tuple[str, bool]:
        if not self.stops:
            return text, False
        self.buf += text
        hits = [i for i in (self.buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.buf = self.buf[: min(hits)], ""
            return out, True
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(self.buf)), 0, -1):
                if self.buf.endswith(s[:k]):
                    hold = max(hold, k)
                    break
        out = self.buf[: len(self.buf) - hold]
        self.buf = self.buf[len(self.buf) - hold:]
        return out, False

    def flush(self) -> str:
        out, self.buf = self.buf, ""
        return out


# --------------------------------------------------------------------------
# the runtime


class LlamaRuntime:
    """Owns one `Llama` on a dedicated worker thread; every call goes through its queue."""

    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        n_gpu_layers: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        meta: GGUFMeta | None = None,
    ):
        self.model_path = str(model_path)
        self.meta = meta if meta is not None else read_gguf_meta(self.model_path)
        self._jobs: "queue.Queue[tuple[Callable[..., Any], tuple, Future] | None]" = queue.Queue()
        self._llm = None
        self._evaluated = 0
        self._pieces: dict[int, bytes] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._worker, name="docent-llama", daemon=True)
        self._thread.start()
        try:
            self.info: RuntimeInfo = self.submit(
                self._load, n_ctx, n_threads, n_threads_batch, n_gpu_layers, n_batch, seed
            ).result()
        except BaseException:
            self.close()
            raise

    # -- worker ------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            fn, args, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # delivered to the caller
                fut.set_exception(exc)
        if self._llm is not None:
            try:
                self._llm.close()
            except Exception:
                pass
            self._llm = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run fn(*args) on the worker thread; fn may use `self.llama`."""
        if self._closed:
            raise AssistantError("the model runtime is closed")
        fut: Future = Future()
        self._jobs.put((fn, args, fut))
        return fut

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.submit(fn, *args).result()

    def run_with_llama(self, fn: Callable[[Any], Any]) -> Any:
        """Run fn(llama) on the worker thread (benchmarks, diagnostics)."""
        return self.call(lambda: fn(self._llm))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)

    def __enter__(self) -> "LlamaRuntime":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- loading (worker thread) -------------------------------------------
    def _load(self, n_ctx, n_threads, n_threads_batch, n_gpu_layers, n_batch, seed) -> RuntimeInfo:
        _quiet_llama_logs()
        from llama_cpp import Llama

        warnings: list[str] = []
        n_ctx_train = self.meta.context_length
        n_ctx = int(n_ctx or DEFAULT_N_CTX)
        if n_ctx_train and n_ctx > n_ctx_train:
            warnings.append(f"n_ctx {n_ctx} capped to the model's context length {n_ctx_train}")
            n_ctx = n_ctx_train
        n_ctx = max(n_ctx, 64)
        threads = n_threads or physical_cores()
        threads_batch = n_threads_batch or max(threads, logical_cores())
        supported = gpu_offload_supported()
        layers = (-1 if supported else 0) if n_gpu_layers is None else int(n_gpu_layers)
        if layers != 0 and not supported:
            warnings.append("this llama.cpp build has no GPU support; running on the CPU")
            layers = 0

        def make(gpu_layers: int):
            return Llama(
                model_path=self.model_path,
                n_ctx=n_ctx,
                n_batch=min(n_batch, n_ctx),
                n_ubatch=min(n_batch, n_ctx),
                n_threads=threads,
                n_threads_batch=threads_batch,
                n_gpu_layers=gpu_layers,
                seed=seed,
                logits_all=False,
                verbose=False,
            )

        try:
            try:
                llm = make(layers)
            except (ValueError, RuntimeError, OSError) as exc:
                if layers == 0:
                    raise
                warnings.append(f"GPU offload failed ({exc}); running on the CPU")
                layers = 0
                llm = make(0)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"llama.cpp could not load {self.model_path} ({self.meta.describe()}): {exc}. "
                "The file may be damaged or its architecture unsupported by this llama.cpp build."
            ) from None

        # Count every token llama.cpp decodes: the measured prompt-evaluation cost.
        orig_eval = llm.eval

        def counting_eval(tokens: Sequence[int]) -> None:
            self._evaluated += len(tokens)
            orig_eval(tokens)

        llm.eval = counting_eval  # type: ignore[method-assign]
        self._llm = llm
        block_count = self.meta.block_count or 0
        offloaded = 0 if layers == 0 else (block_count + 1 if layers < 0 else min(layers, block_count + 1))
        return RuntimeInfo(
            model_path=self.model_path,
            n_ctx=llm.n_ctx(),
            n_ctx_train=n_ctx_train,
            n_threads=threads,
            n_threads_batch=threads_batch,
            n_gpu_layers=offloaded,
            device="gpu" if offloaded else "cpu",
            gpu_offload_supported=supported,
            warnings=warnings,
        )

    # -- tokens --------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        return self.info.n_ctx

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        return self.call(self._tokenize, text, add_bos, special)

    def _tokenize(self, text: str, add_bos: bool, special: bool) -> list[int]:
        llm = self._llm
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
        if add_bos:
            bos = llm.token_bos()
            if bos >= 0 and (not tokens or tokens[0] != bos):
                tokens = [bos] + tokens
        return tokens

    def count_tokens(self, text: str, *, add_bos: bool = False) -> int:
        return len(self.tokenize(text, add_bos=add_bos))

    def detokenize(self, tokens: Sequence[int], special: bool = True) -> str:
        return self.call(lambda: b"".join(self._piece(t, special) for t in tokens).decode("utf-8", "replace"))

    def _piece(self, token: int, special: bool = True) -> bytes:
        key = token if special else -1 - token
        piece = self._pieces.get(key)
        if piece is None:
            import llama_cpp

            vocab = self._llm._model.vocab
            size = 64
            while True:
                buf = ctypes.create_string_buffer(size)
                n = llama_cpp.llama_token_to_piece(vocab, token, buf, size, 0, special)
                if n >= 0:
                    piece = buf.raw[:n]
                    break
                size = -n + 8
            self._pieces[key] = piece
        return piece

    # -- generation ----------------------------------------------------------
    def generate(
        self,
        prompt: str | Sequence[int],
        params: GenerationParams,
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        """Blocking generation on the worker thread; text pieces go to on_token as produced."""
        return self.call(self._generate, prompt, params, on_token, cancel)

    def _generate(
        self,
        prompt: str | Sequence[int],
        params: GenerationParams,
        on_token: Callable[[str], None] | None,
        cancel: threading.Event | None,
    ) -> GenerationResult:
        import llama_cpp
        from llama_cpp import LlamaGrammar

        llm = self._llm
        t0 = time.perf_counter()
        tokens = self._tokenize(prompt, False, True) if isinstance(prompt, str) else [int(t) for t in prompt]
        n_ctx = llm.n_ctx()
        if not tokens:
            raise GenerationError("empty prompt")
        if len(tokens) >= n_ctx:
            raise BudgetError(f"prompt of {len(tokens)} tokens does not fit the context window of {n_ctx} tokens")
        max_tokens = max(0, min(params.max_tokens, n_ctx - len(tokens)))

        cached = llm._input_ids
        reused = 0
        for a, b in zip(cached, tokens):
            if a != b:
                break
            reused += 1
        if reused == len(tokens) and (llm.n_tokens != len(tokens) or llm._requires_eval):
            reused -= 1  # llama.cpp re-evaluates the last token to refresh the logits

        if (cancel is not None and cancel.is_set()) or max_tokens == 0:
            return GenerationResult(
                "", [], "cancelled" if cancel is not None and cancel.is_set() else "length",
                len(tokens), 0, reused, 0, 0.0, time.perf_counter() - t0,
            )

        grammar = LlamaGrammar.from_string(params.grammar, verbose=False) if params.grammar else None
        if params.seed is not None:
            llm.set_seed(params.seed)
        vocab = llm._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stopper = _StopMatcher(params.stop)
        out_tokens: list[int] = []
        parts: list[str] = []
        finish = "length"
        n_sampled = 0
        t_first = None
        evaluated_before = self._evaluated
        n_prompt_evaluated = 0

        def emit(text: str) -> None:
            if text:
                parts.append(text)
                if on_token is not None:
                    on_token(text)

        gen = llm.generate(
            tokens,
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=params.min_p,
            temp=params.temperature,
            repeat_penalty=params.repeat_penalty,
            grammar=grammar,
            reset=True,
        )
        try:
            for token in gen:
                if t_first is None:
                    t_first = time.perf_counter()
                    n_prompt_evaluated = self._evaluated - evaluated_before
                n_sampled += 1
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    finish = "eog"
                    break
                out_tokens.append(token)
                text, hit = stopper.push(decoder.decode(self._piece(token, True)))
                emit(text)
                if hit:
                    finish = "stop"
                    break
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                if len(out_tokens) >= max_tokens:
                    finish = "length"
                    break
        except AssistantError:
            raise
        except Exception as exc:
            raise GenerationError(f"generation failed: {exc}") from None
        finally:
            gen.close()
        if finish != "stop":
            text, hit = stopper.push(decoder.decode(b"", final=True))
            emit(text)
            if not hit and finish != "cancelled":
                emit(stopper.flush())
        t_end = time.perf_counter()
        return GenerationResult(
            text="".join(parts),
            tokens=out_tokens,
            finish_reason=finish,
            n_prompt_tokens=len(tokens),
            n_prompt_evaluated=n_prompt_evaluated,
            n_prefix_reused=max(reused, 0),
            n_sampled=n_sampled,
            t_prompt_s=(t_first or t_end) - t0,
            t_total_s=t_end - t0,
        )
