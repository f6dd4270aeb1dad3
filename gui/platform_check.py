"""Before Qt starts: a missing system library makes Qt abort the process with
a cryptic message, so say plainly what to install instead."""
from __future__ import annotations

import ctypes.util
import os
import sys

# Qt's xcb platform plugin needs these on Linux (Debian/Ubuntu package names).
_XCB_LIBS = {
    "xcb-cursor": "libxcb-cursor0",
    "xkbcommon-x11": "libxkbcommon-x11-0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-image": "libxcb-image0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-shape": "libxcb-shape0",
    "EGL": "libegl1",
    "GL": "libgl1",
}


def missing_desktop_packages() -> list[str]:
    if not sys.platform.startswith("linux"):
        return []
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return []  # offscreen, wayland...
    if not platform and os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
        return []
    return [pkg for lib, pkg in _XCB_LIBS.items() if ctypes.util.find_library(lib) is None]


def desktop_problem() -> str | None:
    """A one-paragraph message when the desktop cannot be shown, else None."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    ):
        return (
            "no display found (DISPLAY is not set). Start Docent from a desktop session, "
            "or use the command line: python main.py --help"
        )
    missing = missing_desktop_packages()
    if missing:
        return (
            "the desktop window needs system libraries that are not installed. On Debian/Ubuntu run:\n"
            f"  sudo apt-get install {' '.join(missing)}\n"
            "(the command line works without them: python main.py --help)"
        )
    return None
