"""English and Russian interface text: a small dict-based translation layer.

`tr("Indexed {n} files", n=3)` returns the text in the current language
(English source strings are the keys; `gui/i18n_ru.py` holds the Russian
table). The language follows the system locale unless the settings choose
one; `set_language` switches at run time and `notifier.changed` tells the
widgets to re-read their texts. Qt's own dialogs (file chooser, message box
buttons) are translated by Qt's bundled qtbase_*.qm through a QTranslator.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

log = logging.getLogger("docent.gui")

LANGUAGES = {"en": "English", "ru": "Русский"}

_language = "en"
_qt_translator = None


class _Notifier(QObject):
    changed = Signal(str)  # the new language; widgets connect their retranslate() (PySide drops the argument)


notifier = _Notifier()


def language() -> str:
    return _language


def tr(text: str, **kwargs) -> str:
    if _language == "ru":
        from gui.i18n_ru import RU

        text = RU.get(text, text)
    if kwargs:
        try:
            return text.format(**kwargs)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def ru_plural_form(n: int) -> int:
    """0: 1, 21, 31... (фрагмент); 1: 2-4, 22-24... (фрагмента); 2: the rest (фрагментов)."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return 0
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1
    return 2


def trn(singular: str, plural: str, n: int, **kwargs) -> str:
    """Text with a count: English singular/plural, Russian three forms (RU_PLURAL[plural])."""
    kwargs.setdefault("n", n)
    if _language == "ru":
        from gui.i18n_ru import RU_PLURAL

        forms = RU_PLURAL.get(plural)
        if forms:
            return forms[ru_plural_form(n)].format(**kwargs)
    return (singular if n == 1 else plural).format(**kwargs)


def system_language() -> str:
    from PySide6.QtCore import QLocale

    for name in QLocale.system().uiLanguages():
        code = name.replace("_", "-").split("-")[0].lower()
        if code in LANGUAGES:
            return code
        if code:
            break
    return "en"


def resolve(choice: str) -> str:
    return choice if choice in LANGUAGES else system_language()


def set_language(choice: str, app=None) -> str:
    """Switch the interface language ("system", "en", "ru"); returns the language in use."""
    global _language
    lang = resolve(choice)
    changed = lang != _language
    _language = lang
    _install_qt_translator(app, lang)
    if changed:
        notifier.changed.emit(lang)
    return lang


def _install_qt_translator(app, lang: str) -> None:
    global _qt_translator
    if app is None:
        return
    from PySide6.QtCore import QLibraryInfo, QLocale, QTranslator

    if _qt_translator is not None:
        app.removeTranslator(_qt_translator)
        _qt_translator = None
    if lang == "en":
        return
    translator = QTranslator(app)
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if translator.load(QLocale(lang), "qtbase", "_", folder):
        app.installTranslator(translator)
        _qt_translator = translator
    else:
        log.info("no Qt translations for %s in %s", lang, folder)
