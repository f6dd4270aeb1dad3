"""Docent's desktop shell (PySide6). See gui/main_window.py for the layout."""
