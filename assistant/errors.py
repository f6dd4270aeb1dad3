"""Exception types of the assistant core.

Every *expected* failure (bad model file, prompt that cannot fit, unsafe chat
template, cancelled generation) is an `AssistantError` subclass carrying a
one-line, human-readable message, so the CLI and the GUI can show it without
a traceback.
"""
from __future__ import annotations


class AssistantError(Exception):
    """Base class: the message is meant for the user, one line."""


class ModelError(AssistantError):
    """The model file is missing, not GGUF, truncated, or llama.cpp refused it."""


class TemplateError(AssistantError):
    """A chat template is unsafe, broken, too slow or produces too much output."""


class BudgetError(AssistantError):
    """The question (plus the fixed prompt parts) cannot fit the context window."""


class GenerationError(AssistantError):
    """llama.cpp failed while evaluating or sampling."""


class EndpointError(AssistantError):
    """A remote model server (OpenAI-compatible API) failed; the message names its URL, never the key."""

    def __init__(self, message: str, url: str = ""):
        super().__init__(message)
        self.url = url


class EndpointUnreachable(EndpointError):
    """Nothing answers at the URL (refused, unknown host, no route)."""


class EndpointAuthError(EndpointError):
    """401/403: the API key is missing or wrong."""


class EndpointModelError(EndpointError):
    """The server does not serve the requested model."""


class EndpointTimeout(EndpointError):
    """The server accepted the request but sent nothing for longer than the read timeout.

    Mid-answer, `partial_text` / `partial_answer` hold what had arrived (as for EndpointDisconnected).
    """

    def __init__(self, message: str, url: str = "", partial_text: str = ""):
        super().__init__(message, url)
        self.partial_text = partial_text
        self.partial_answer = None


class EndpointRequestError(EndpointError):
    """The server refused or failed the request (any other HTTP error)."""

    def __init__(self, message: str, url: str = "", status: int = 0, detail: str = ""):
        super().__init__(message, url)
        self.status = status
        self.detail = detail


class EndpointDisconnected(EndpointError):
    """The server closed the connection mid-answer.

    `partial_text` is what had streamed so far and `partial_answer` the Answer
    built from it (documents, step-1 ids, cancelled=False), so a caller can keep
    showing what the user already read; raising (rather than returning) keeps
    an incomplete answer from ever passing for a complete one.
    """

    def __init__(self, message: str, url: str = "", partial_text: str = ""):
        super().__init__(message, url)
        self.partial_text = partial_text
        self.partial_answer = None
