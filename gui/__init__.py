"""Docent's desktop shell (PySide6). See gui/main_window.py for the layout."""
from gui.qt_compat import immortalize_singletons

immortalize_singletons()
