"""Work around a PySide6 6.12 reference-count bug on Python < 3.12.

PySide6 6.12 returns None, True and False to Python without taking a
reference (harmless on Python 3.12+, where these objects are immortal,
PEP 683). On Python 3.11 every call of a void Qt method (`setText`,
`insertText`...) or a signal `emit` removes one reference from None or
True, and after a few thousand calls the interpreter aborts with "Fatal
Python error: none_dealloc: deallocating None" (bool_dealloc for True).

Until the venv moves to Python 3.12 or PySide6 is fixed, the GUI makes these
singletons effectively immortal, as 3.12 does, by adding 2**40 references:
at a million Qt calls per second that lasts for more than ten years.
The objects are never freed anyway; nothing else changes.
"""
from __future__ import annotations

import ctypes
import sys

_EXTRA = 1 << 40
_done = False


def immortalize_singletons() -> bool:
    """Returns True when the refcounts were raised (Python < 3.12, release build)."""
    global _done
    if _done or sys.version_info >= (3, 12) or hasattr(sys, "gettotalrefcount"):  # debug builds: other layout
        return False
    _done = True
    singletons = [None, True, False, Ellipsis, NotImplemented, (), "", b""]
    singletons += list(range(-5, 257))  # the small-int cache, also immortal on 3.12
    for obj in singletons:
        ctypes.c_ssize_t.from_address(id(obj)).value += _EXTRA  # ob_refcnt is the first field
    return True
