"""Secrets for remote engines (a Chroma server's token, an API key).

Where they live, in order: an environment variable the user set (scripts,
CI), then the OS keyring (Secret Service, macOS Keychain, Windows Credential
Locker). They are never written to settings files; where no keyring exists
the desktop app keeps a secret for the session only and says so. Every
secret we read is registered with a logging filter that masks it, so a
library that logs a request header cannot leak it into a log file.
"""
from __future__ import annotations

import logging
import os
import threading

SERVICE = "Docent"

ENV_VARS = {"chroma": "DOCENT_CHROMA_TOKEN", "api": "DOCENT_API_KEY"}

log = logging.getLogger("docent.credentials")

_known: set[str] = set()
_known_lock = threading.Lock()
_session: dict[str, str] = {}


def _account(kind: str, address: str) -> str:
    address = address.strip().rstrip("/")
    if kind == "api" and not address.endswith("/v1"):  # http://h:8000 and http://h:8000/v1/ are one server
        address += "/v1"
    return f"{kind}:{address}"


def _keyring():
    """The keyring module when a real OS backend is available, else None."""
    try:
        import keyring
        from keyring.backends import fail
    except Exception:  # noqa: BLE001 - not installed or broken: no keyring
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001
        return None
    if isinstance(backend, fail.Keyring):
        return None
    try:
        if getattr(backend, "priority", 1) <= 0 and not getattr(backend, "backends", None):
            return None
    except Exception:  # noqa: BLE001 - a backend whose priority check fails is unusable
        return None
    return keyring


def keyring_available() -> bool:
    return _keyring() is not None


def remember(secret: str | None) -> str | None:
    """Mask `secret` in every log record from now on."""
    if secret and len(secret) >= 3:
        with _known_lock:
            _known.add(secret)
    return secret


def redact(text: str) -> str:
    with _known_lock:
        secrets = sorted(_known, key=len, reverse=True)
    for s in secrets:
        text = text.replace(s, "***")
    return text


def get_secret(kind: str, address: str) -> str | None:
    """The secret for `address` (a Chroma server URL, an endpoint base URL), or None."""
    env = os.environ.get(ENV_VARS.get(kind, ""), "")
    if env:
        return remember(env)
    account = _account(kind, address)
    if account in _session:
        return remember(_session[account])
    ring = _keyring()
    if ring is None:
        return None
    try:
        return remember(ring.get_password(SERVICE, account))
    except Exception as exc:  # noqa: BLE001 - a locked or broken keyring: behave as if empty
        log.warning("cannot read the keyring: %s", type(exc).__name__)
        return None


def set_secret(kind: str, address: str, secret: str | None) -> bool:
    """Store (or with an empty secret, forget) a secret; True when it went to the OS keyring.

    False means no keyring: the secret is kept for this session only.
    """
    account = _account(kind, address)
    ring = _keyring()
    if not secret:
        _session.pop(account, None)
        if ring is not None:
            try:
                ring.delete_password(SERVICE, account)
            except Exception:  # noqa: BLE001 - nothing stored is fine
                pass
        return ring is not None
    remember(secret)
    if ring is not None:
        try:
            ring.set_password(SERVICE, account, secret)
            _session.pop(account, None)
            return True
        except Exception as exc:  # noqa: BLE001
            log.warning("cannot write to the keyring (%s); keeping the secret for this session", type(exc).__name__)
    _session[account] = secret
    return False


class RedactingFilter(logging.Filter):
    """Masks known secrets in log messages (installed on the root handlers by setup_logging)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _known:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record is logged as is
                return True
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, None
        return True
