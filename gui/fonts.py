"""Japanese text needs a CJK font: load a shipped one, else say how to get one.

Qt draws kana and kanji as empty boxes when no font covers them (a bare Linux
desktop, a fresh container). Fonts in `fonts/` next to the packaged app, or in
the user's `<data dir>/fonts`, are loaded at start; if none of the fonts then
known covers Japanese, the window says what to install instead of showing
boxes without a word.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger("docent.gui")

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")


def font_dirs() -> list[Path]:
    from index.config import data_dir

    dirs = [data_dir() / "fonts"]
    bundle = getattr(sys, "_MEIPASS", None)  # a PyInstaller package
    if bundle:
        dirs.insert(0, Path(bundle) / "fonts")
    return dirs


def load_font_files(dirs: list[Path]) -> list[str]:
    """Register every font file found; returns the families they added."""
    from PySide6.QtGui import QFontDatabase

    families: list[str] = []
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in FONT_SUFFIXES:
                continue
            font_id = QFontDatabase.addApplicationFont(str(path))
            if font_id < 0:
                log.warning("font %s could not be loaded", path)
                continue
            families += QFontDatabase.applicationFontFamilies(font_id)
    return families


def japanese_families() -> list[str]:
    from PySide6.QtGui import QFontDatabase

    return QFontDatabase.families(QFontDatabase.WritingSystem.Japanese)


def missing_cjk_font_message(dirs: list[Path] | None = None) -> str | None:
    """None when Japanese can be drawn (after loading shipped fonts); else what to do."""
    load_font_files(font_dirs() if dirs is None else dirs)
    if japanese_families():
        return None
    from gui.i18n import tr

    user_dir = (font_dirs() if dirs is None else dirs)[-1]
    return tr(
        "No Japanese/Chinese font is installed, so such text shows as boxes. "
        "Install one (Debian/Ubuntu: sudo apt install fonts-noto-cjk) or put a .ttf/.otf file in {folder}.",
        folder=str(user_dir),
    )
