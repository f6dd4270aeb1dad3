"""Light and dark: follow the system (Qt 6 color scheme), or the user's choice.

Qt 6.8+ can set the scheme itself (`QStyleHints.setColorScheme`); where the
platform style ignores it (or cannot tell the system scheme), a Fusion
palette is applied so that dark really is dark. The few colours Docent draws
itself (highlights, citation markers, statuses) come from `colors()`.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette


@dataclass(frozen=True)
class Colors:
    dark: bool
    highlight_bg: str      # the cited span in the source viewer
    highlight_fg: str
    term_bg: str           # query terms in search results
    cite: str              # [1] markers
    unsupported_bg: str
    unsupported_fg: str
    not_found: str
    muted: str
    ok: str
    failed: str
    pending: str
    question_bg: str
    partial_bg: str = "#ffe2b3"        # words of a partial sentence that the source does not hold
    partial_fg: str = "#7a3e00"
    contradicted_bg: str = "#fbd3d0"   # a sentence the source says otherwise
    contradicted_fg: str = "#8a1c12"


# Unsupported is grey (nothing to check it against), partial orange on the missing words, contradicted red.
LIGHT = Colors(False, "#ffe066", "#000000", "#fff3b0", "#1a5fb4", "#e6e6ec", "#45454f", "#8a5a00", "#6b6b6b",
               "#1e7b34", "#b3261e", "#8a5a00", "#eef3fb")
DARK = Colors(True, "#8a6d00", "#ffffff", "#5c4b00", "#8ab4ff", "#3c3c46", "#d0d0da", "#f0c674", "#a0a0a0",
              "#7fd18b", "#ff8a80", "#f0c674", "#26313f", "#5a3d10", "#ffd08a", "#5a2620", "#ffb4a9")

_forced: str = "system"
_applied_dark_palette = False


def system_is_dark(app) -> bool:
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return app.style().standardPalette().color(QPalette.Window).lightness() < 128


def is_dark() -> bool:
    if _forced in ("light", "dark"):
        return _forced == "dark"
    app = QGuiApplication.instance()
    if app is None:
        return False
    if _applied_dark_palette:
        return True
    return system_is_dark(app)


def colors() -> Colors:
    return DARK if is_dark() else LIGHT


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor("#1e1f22"), QColor("#2b2d31"), QColor("#e6e6e6")
    p.setColor(QPalette.Window, window)
    p.setColor(QPalette.WindowText, text)
    p.setColor(QPalette.Base, base)
    p.setColor(QPalette.AlternateBase, window)
    p.setColor(QPalette.ToolTipBase, window)
    p.setColor(QPalette.ToolTipText, text)
    p.setColor(QPalette.Text, text)
    p.setColor(QPalette.Button, window)
    p.setColor(QPalette.ButtonText, text)
    p.setColor(QPalette.BrightText, QColor("#ff6b6b"))
    p.setColor(QPalette.Link, QColor("#8ab4ff"))
    p.setColor(QPalette.Highlight, QColor("#3d6fb6"))
    p.setColor(QPalette.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.PlaceholderText, QColor("#8c8c8c"))
    p.setColor(QPalette.Dark, QColor("#151618"))
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        p.setColor(QPalette.Disabled, role, QColor("#777777"))
    return p


def apply_theme(app, choice: str = "system") -> None:
    """choice: system | light | dark."""
    global _forced, _applied_dark_palette
    _forced = choice
    hints = app.styleHints()
    if hasattr(hints, "setColorScheme"):
        target = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}.get(choice, Qt.ColorScheme.Unknown)
        hints.setColorScheme(target)  # Unknown = follow the system again
    want_dark = choice == "dark" or (choice == "system" and system_is_dark(app))
    style_dark = app.style().standardPalette().color(QPalette.Window).lightness() < 128
    if want_dark and not style_dark:
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
        _applied_dark_palette = True
    elif _applied_dark_palette and not want_dark:
        _applied_dark_palette = False
        app.setPalette(app.style().standardPalette())
