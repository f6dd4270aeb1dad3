"""The one exception the extraction layer lets out, and its helpers."""
from __future__ import annotations


class ExtractError(Exception):
    """A file that cannot be turned into text.

    `reason` is short and human-readable: it is shown to the user next to the
    file ("PDF is encrypted (password protected)"), so it never holds a trace.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Parser messages that mean more to people in other words (libxml2 via lxml).
_PLAIN_WORDS = (
    ("excessive depth in document", "XML nested too deeply"),
    ("maximum entity amplification factor exceeded", "XML entity expansion bomb refused"),
    ("detected an entity reference loop", "XML entity loop refused"),
    ("huge input lookup", "XML too large to parse safely"),
)


def short_message(exc: BaseException, limit: int = 120) -> str:
    """First line of an exception's text (or its class name), cut to `limit`."""
    text = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else ""
    if not text:
        text = type(exc).__name__
    lowered = text.lower()
    for needle, words in _PLAIN_WORDS:
        if needle in lowered:
            return words
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def megabytes(size: int) -> str:
    """A size for people: '612 MB', '1.5 MB', '0.2 MB' (MB = 2**20 bytes)."""
    mb = size / (1024 * 1024)
    if mb >= 10:
        return f"{mb:.0f} MB"
    return f"{mb:.1f} MB"
