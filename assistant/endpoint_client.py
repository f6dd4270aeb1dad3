"""HTTP client for OpenAI-compatible model servers (vLLM, llama.cpp server, llama-cpp-python).

Only `/v1/models`, `/v1/chat/completions` (plain and SSE-streamed) and the
servers' tokenize endpoints are used, over httpx with no other dependency.

Cancellation: every request runs in a daemon worker thread and the caller
waits on it in short slices, so a Stop returns at once whatever the server is
doing (connecting, evaluating a long prompt, between two chunks).  A streamed
response is then aborted by shutting its socket down, which unblocks the
worker's read and tells the server to stop generating.  Text pieces are
handed to `on_piece` in the worker thread the moment their SSE line is
parsed; after a cancel no further piece is delivered.

Errors become one-line `EndpointError`s naming the URL; the API key is never
part of a message (it is also masked, should a server echo it).
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from assistant.errors import (
    EndpointAuthError,
    EndpointDisconnected,
    EndpointError,
    EndpointModelError,
    EndpointRequestError,
    EndpointTimeout,
    EndpointUnreachable,
)

DEFAULT_N_CTX = 8192
_POLL_S = 0.02


def normalize_base_url(url: str) -> str:
    """'http://h:8000', 'http://h:8000/', 'http://h:8000/v1/' -> 'http://h:8000/v1'."""
    url = url.strip().rstrip("/")
    if not re.match(r"^https?://", url, re.I):
        raise EndpointError(f"the model server URL must start with http:// or https:// (got {url!r})", url)
    return url if url.endswith("/v1") else url + "/v1"


@dataclass
class EndpointConfig:
    base_url: str
    model: str | None = None                 # None: the first model the server lists
    api_key: str | None = field(default=None, repr=False)
    n_ctx: int = DEFAULT_N_CTX               # used when the server does not report max_model_len
    connect_timeout: float = 5.0
    read_timeout: float = 120.0              # the first token of a long prompt can be slow


@dataclass
class ChatResult:
    text: str
    finish_reason: str | None               # "stop", "length", "cancelled", ...
    usage: dict = field(default_factory=dict)
    t_first_s: float | None = None          # seconds to the first content piece (streamed)
    t_total_s: float = 0.0

    @property
    def cancelled(self) -> bool:
        return self.finish_reason == "cancelled"


class ContextOverflow(EndpointRequestError):
    """The server says the prompt does not fit; `n_ctx`/`requested` when it says how much."""

    def __init__(self, message: str, url: str, status: int, detail: str):
        super().__init__(message, url, status, detail)
        m = re.search(r"maximum context length is (\d+)", detail) or re.search(r"context window of (\d+)", detail)
        self.n_ctx = int(m.group(1)) if m else None
        m = re.search(r"requested (\d+) tokens", detail) or re.search(r"Requested tokens \((\d+)\)", detail)
        self.requested = int(m.group(1)) if m else None


def _error_detail(response) -> str:
    """The server's error message from an OpenAI / FastAPI / llama.cpp error body."""
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - not JSON
        return (response.text or "").strip()
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message", body)))
        if isinstance(err, dict):
            err = err.get("message", err)
        return err if isinstance(err, str) else json.dumps(err, ensure_ascii=False)
    return json.dumps(body, ensure_ascii=False)


def _is_context_error(detail: str) -> bool:
    d = detail.lower()
    return "context_length_exceeded" in d or "maximum context length" in d or "exceed context window" in d or (
        "context" in d and ("too long" in d or "exceed" in d))


class _Call:
    """One request running in a worker thread; the caller can abandon it at any moment."""

    def __init__(self, on_piece: Callable[[str], None] | None, cancel: threading.Event | None = None):
        self.on_piece = on_piece
        self.cancel = cancel
        self.lock = threading.Lock()
        self.abandoned = False
        self.pieces: list[str] = []
        self.response = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def deliver(self, piece: str) -> bool:
        with self.lock:
            if self.abandoned or (self.cancel is not None and self.cancel.is_set()):
                return False  # a Stop takes effect before the next piece, not after the caller notices
            self.pieces.append(piece)
            if self.on_piece is not None:
                self.on_piece(piece)
            return True

    def abandon(self) -> str:
        with self.lock:
            self.abandoned = True
            text = "".join(self.pieces)
        response = self.response
        if response is not None:
            _shutdown(response)
        return text


def _shutdown(response) -> None:
    """Unblock a read on this response's socket (close() alone does not wake a blocked recv)."""
    try:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # noqa: BLE001 - already closed: nothing to unblock
        pass


class EndpointClient:
    """Talks to one server; thread safe (httpx.Client is), capabilities probed once."""

    def __init__(self, config: EndpointConfig):
        import httpx

        self.config = config
        self.base_url = normalize_base_url(config.base_url)
        self.root_url = self.base_url[: -len("/v1")]
        headers = {"Accept": "application/json"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(connect=config.connect_timeout, read=config.read_timeout, write=30.0, pool=config.connect_timeout),
            trust_env=False,  # loopback and LAN servers: never route through an environment proxy
            follow_redirects=False,
        )
        self._tokenize_route: tuple[str, str] | None | bool = False   # False: not probed yet
        self.models: list[dict] | None = None
        self.model: str | None = config.model
        self.max_model_len: int | None = None

    # -- errors -----------------------------------------------------------
    def _clean(self, text: str) -> str:
        key = self.config.api_key
        text = " ".join(str(text).split())
        if key:
            text = text.replace(key, "***")
        return text[:300]

    def _transport_error(self, exc: BaseException, partial: str | None = None) -> EndpointError:
        import httpx

        url = self.base_url
        if isinstance(exc, httpx.ConnectTimeout):
            return EndpointUnreachable(f"cannot reach the model server at {url}: no answer within "
                                       f"{self.config.connect_timeout:g} s", url)
        if isinstance(exc, httpx.ConnectError):
            reason = str(exc).lower()
            why = ("connection refused" if "refused" in reason else
                   "unknown host" if "name or service" in reason or "nodename" in reason or "getaddrinfo" in reason else
                   self._clean(str(exc)) or "connection failed")
            return EndpointUnreachable(f"cannot reach the model server at {url}: {why}", url)
        if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
            kept = "; the partial answer is kept" if partial else ""
            return EndpointTimeout(f"the model server at {url} sent nothing for {self.config.read_timeout:g} s "
                                   f"(timed out){kept}", url, partial or "")
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.StreamError)):
            if partial is not None:
                return EndpointDisconnected(
                    f"the model server at {url} closed the connection mid-answer; the partial answer is kept", url, partial)
            return EndpointDisconnected(f"the model server at {url} closed the connection before answering", url, "")
        return EndpointError(f"the model server at {url} failed: {self._clean(str(exc)) or type(exc).__name__}", url)

    def _http_error(self, response) -> EndpointError:
        url, status = self.base_url, response.status_code
        detail = self._clean(_error_detail(response))
        if status in (401, 403):
            return EndpointAuthError(f"the model server at {url} rejected the API key (HTTP {status})", url)
        if _is_context_error(detail):
            return ContextOverflow(f"the prompt does not fit the model server's context: {detail}", url, status, detail)
        low = detail.lower()
        if status == 404 and ("model" in low and ("not exist" in low or "not found" in low)):
            return EndpointModelError(f"the model server at {url} has no model {self.model!r}: {detail}", url)
        if status == 404 and "/chat/completions" in str(response.request.url) and not detail.lower().startswith("the model"):
            return EndpointRequestError(f"{url} is not an OpenAI-compatible server (no /chat/completions)", url, status, detail)
        return EndpointRequestError(f"the model server at {url} refused the request (HTTP {status}: {detail or 'no detail'})",
                                    url, status, detail)

    # -- plumbing -----------------------------------------------------------
    def run_cancellable(self, work: Callable[[_Call], Any], cancel: threading.Event | None,
             on_piece: Callable[[str], None] | None = None) -> tuple[Any, bool, str]:
        """Run `work(call)` in a worker thread; returns (result, cancelled, text so far).

        The caller polls `cancel` every 20 ms, so a Stop never waits for the server.
        """
        call = _Call(on_piece, cancel)

        def target() -> None:
            try:
                call.result = work(call)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                call.error = exc
            finally:
                call.done.set()

        threading.Thread(target=target, name="docent-endpoint", daemon=True).start()
        while not call.done.wait(_POLL_S):
            if cancel is not None and cancel.is_set():
                return None, True, call.abandon()
        if cancel is not None and cancel.is_set():  # stopped while (or just as) the work ended
            return None, True, call.abandon()
        if call.error is not None:
            raise call.error
        return call.result, False, "".join(call.pieces)

    def _request(self, method: str, url: str, cancel: threading.Event | None = None, **kwargs):
        import httpx

        def work(call: _Call):
            try:
                return self._http.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from None

        response, cancelled, _ = self.run_cancellable(work, cancel)
        return None if cancelled else response

    # -- capabilities ------------------------------------------------------
    def list_models(self, cancel: threading.Event | None = None) -> list[dict]:
        """GET /v1/models; picks the model (first listed when none was named) and its max_model_len."""
        r = self._request("GET", f"{self.base_url}/models", cancel)
        if r is None:
            return []
        if r.status_code != 200:
            raise self._http_error(r)
        try:
            data = r.json().get("data", [])
        except Exception:  # noqa: BLE001
            raise EndpointRequestError(f"{self.base_url}/models did not return a model list; is this an OpenAI-compatible server?",
                                       self.base_url) from None
        self.models = [m for m in data if isinstance(m, dict) and m.get("id")]
        names = [str(m["id"]) for m in self.models]
        if self.config.model is None:
            if not names:
                raise EndpointModelError(f"the model server at {self.base_url} lists no model; name one with --api-model",
                                         self.base_url)
            self.model = names[0]
        elif names and self.config.model not in names:
            raise EndpointModelError(
                f"the model server at {self.base_url} has no model {self.config.model!r} (it offers: {', '.join(names[:8])})",
                self.base_url)
        entry = next((m for m in self.models if str(m["id"]) == self.model), None)
        length = (entry or {}).get("max_model_len") or (entry or {}).get("context_length")
        self.max_model_len = int(length) if isinstance(length, (int, float)) and length > 0 else None
        return self.models

    def _probe_tokenize(self) -> tuple[str, str] | None:
        """Find the server's tokenize route: llama-cpp-python, then llama.cpp server / vLLM."""
        import httpx

        routes = ((f"{self.root_url}/extras/tokenize", "input"), (f"{self.root_url}/tokenize", "content"),
                  (f"{self.base_url}/tokenize", "content"))
        for url, key in routes:
            try:
                r = self._http.post(url, json=self._tokenize_body(key, "probe"))
            except httpx.HTTPError:
                continue
            if r.status_code == 200 and isinstance(self._tokens_of(r), list):
                return url, key
        return None

    def _tokenize_body(self, key: str, text: str) -> dict:
        # llama-cpp-python reads `input`, llama.cpp server `content`, vLLM `prompt` (+ `model`).
        body = {key: text, "prompt": text}
        if self.model:
            body["model"] = self.model
        return body

    @staticmethod
    def _tokens_of(response) -> list | None:
        try:
            tokens = response.json().get("tokens")
        except Exception:  # noqa: BLE001
            return None
        return tokens if isinstance(tokens, list) else None

    def tokenize(self, text: str) -> list[int] | None:
        """The server's own token ids for `text`, or None when it has no tokenize endpoint."""
        import httpx

        if self._tokenize_route is False:
            self._tokenize_route = self._probe_tokenize()
        if not self._tokenize_route:
            return None
        url, key = self._tokenize_route
        try:
            r = self._http.post(url, json=self._tokenize_body(key, text))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if r.status_code != 200:
            raise self._http_error(r)
        tokens = self._tokens_of(r)
        if tokens is None:
            raise EndpointRequestError(f"the model server at {self.base_url} returned no tokens from {url}", self.base_url)
        return tokens

    def forget_capabilities(self) -> None:
        """After a lost connection: probe again next time (the server may have been replaced)."""
        self._tokenize_route = False
        self.models = None

    # -- chat ----------------------------------------------------------------
    def chat(self, messages: list[dict], params: dict, cancel: threading.Event | None = None) -> ChatResult:
        """One non-streamed chat completion (step 1: short, and errors arrive as proper HTTP statuses)."""
        body = {"model": self.model, "messages": messages, "stream": False, **params}
        t0 = time.perf_counter()
        r = self._request("POST", f"{self.base_url}/chat/completions", cancel, json=body)
        if r is None:
            return ChatResult("", "cancelled", t_total_s=time.perf_counter() - t0)
        if r.status_code != 200:
            raise self._http_error(r)
        try:
            obj = r.json()
            choice = obj["choices"][0]
            text = (choice.get("message") or {}).get("content") or ""
        except Exception:  # noqa: BLE001
            raise EndpointRequestError(f"the model server at {self.base_url} sent a malformed chat completion",
                                       self.base_url) from None
        return ChatResult(text, choice.get("finish_reason"), obj.get("usage") or {}, t_total_s=time.perf_counter() - t0)

    def stream_chat(self, messages: list[dict], params: dict, on_piece: Callable[[str], None] | None = None,
                    cancel: threading.Event | None = None) -> ChatResult:
        """A streamed chat completion: `on_piece(text)` per SSE chunk (worker thread), cancellable at any point.

        A server that drops the connection raises EndpointDisconnected carrying the text so far.
        """
        import httpx

        body = {"model": self.model, "messages": messages, "stream": True, **params}
        t0 = time.perf_counter()
        state: dict = {"finish": None, "usage": {}, "t_first": None}

        def work(call: _Call):
            try:
                with self._http.stream("POST", f"{self.base_url}/chat/completions", json=body,
                                       headers={"Accept": "text/event-stream"}) as r:
                    call.response = r
                    if call.abandoned:
                        _shutdown(r)
                        return None
                    if r.status_code != 200:
                        r.read()
                        raise self._http_error(r)
                    done = False
                    for line in r.iter_lines():
                        if not line.startswith("data:"):
                            continue  # blank separators, ": ping" comments, event: lines
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            done = True
                            break
                        try:
                            chunk = json.loads(payload)
                        except ValueError:
                            continue
                        if "error" in chunk:
                            err = chunk["error"]
                            detail = self._clean(err.get("message", err) if isinstance(err, dict) else err)
                            if _is_context_error(detail):
                                raise ContextOverflow(f"the prompt does not fit the model server's context: {detail}",
                                                      self.base_url, 400, detail)
                            raise EndpointRequestError(f"the model server at {self.base_url} failed mid-answer: {detail}",
                                                       self.base_url, 500, detail)
                        if chunk.get("usage"):
                            state["usage"] = chunk["usage"]
                        for choice in chunk.get("choices") or ():
                            piece = (choice.get("delta") or {}).get("content")
                            if piece:
                                if state["t_first"] is None:
                                    state["t_first"] = time.perf_counter() - t0
                                if not call.deliver(piece):
                                    _shutdown(r)  # cancelled: the server stops at its next write
                                    return None
                            if choice.get("finish_reason"):
                                state["finish"] = choice["finish_reason"]
                    if not done and state["finish"] is None and not call.abandoned:
                        raise httpx.RemoteProtocolError("stream ended without [DONE]")
            except httpx.HTTPError as exc:
                if call.abandoned or (cancel is not None and cancel.is_set()):
                    return None
                raise self._transport_error(exc, "".join(call.pieces) or None) from None
            return True

        result, cancelled, text = self.run_cancellable(work, cancel, on_piece)
        elapsed = time.perf_counter() - t0
        if cancelled:
            return ChatResult(text, "cancelled", state["usage"], state["t_first"], elapsed)
        return ChatResult(text, state["finish"] or "stop", state["usage"], state["t_first"], elapsed)

    def close(self) -> None:
        self._http.close()
