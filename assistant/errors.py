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
