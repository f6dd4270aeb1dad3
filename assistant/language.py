"""Script-based language detection and the few fixed sentences Docent says itself.

Docent's three languages (ru, en, ja) use different scripts, so counting
letters per script is enough and needs no model.
"""
from __future__ import annotations

LANGUAGES = ("en", "ru", "ja")

NOT_FOUND = {
    "en": "The knowledge base has no information on this question.",
    "ru": "В базе знаний нет информации по этому вопросу.",
    "ja": "ナレッジベースには、この質問に関する情報がありません。",
}


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF      # hiragana, katakana
        or 0x3400 <= o <= 0x4DBF   # CJK ext A
        or 0x4E00 <= o <= 0x9FFF   # CJK unified
        or 0xF900 <= o <= 0xFAFF
        or 0xFF66 <= o <= 0xFF9F   # half-width katakana
        or 0x31F0 <= o <= 0x31FF
    )


def is_cyrillic(ch: str) -> bool:
    return 0x0400 <= ord(ch) <= 0x04FF


def detect_language(text: str) -> str:
    """'ja' if CJK letters are a fair share, else 'ru' if Cyrillic dominates Latin, else 'en'."""
    cjk = cyr = lat = 0
    for ch in text:
        if is_cjk(ch):
            cjk += 1
        elif is_cyrillic(ch):
            cyr += 1
        elif ch.isalpha():
            lat += 1
    letters = cjk + cyr + lat
    if letters == 0:
        return "en"
    if cjk >= 0.2 * letters:
        return "ja"
    if cyr > lat:
        return "ru"
    return "en"


def not_found_message(question: str) -> str:
    return NOT_FOUND[detect_language(question)]
