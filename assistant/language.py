"""The few fixed sentences Docent says itself, in the question's language.

Language detection is the analyser's (index.analysis.detect_language).
"""
from __future__ import annotations

from index.analysis import detect_language

LANGUAGES = ("en", "ru", "ja")

NOT_FOUND = {
    "en": "The knowledge base has no information on this question.",
    "ru": "В базе знаний нет информации по этому вопросу.",
    "ja": "ナレッジベースには、この質問に関する情報がありません。",
}


def message_language(text: str) -> str:
    """The language Docent answers `text` in: its own if Docent speaks it, else English."""
    language = detect_language(text)
    return language if language in LANGUAGES else "en"
