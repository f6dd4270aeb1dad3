"""RTF text with striprtf.

The document's code page (\\ansicpgNNNN, per-font \\fcharset) decodes \\'xx
escapes, so Cyrillic (\\ansicpg1251) and Japanese (\\ansicpg932) RTF read
correctly; \\uNNNN? escapes (with surrogate pairs) are honoured. Hex picture
and object blobs are cut out first: striprtf would otherwise tokenise them
character by character. Each paragraph becomes a block.
"""
from __future__ import annotations

import codecs
import re

from index.types import Extracted
from index.extract.errors import ExtractError

_ANSICPG = re.compile(rb"\\ansicpg(\d{3,5})")
_BLOBS = re.compile(r"\{\\(?:\*\\)?(?:pict|objdata|themedata|colorschememapping|datastore|blipuid|latentstyles)(?![a-z])")
_BRACES = re.compile(r"\\[{}\\]|[{}]")
_TITLE = re.compile(r"\{\\title\s?((?:[^{}\\]|\\[^{}]|\\[{}])*)\}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _codepage(data: bytes) -> str:
    match = _ANSICPG.search(data[:8192])
    if match:
        name = f"cp{int(match.group(1))}"
        try:
            return codecs.lookup(name).name
        except LookupError:
            pass
    return "cp1252"


def _drop_blobs(rtf: str) -> str:
    """Cut out picture/object groups (hex data) by brace matching, no recursion."""
    pieces: list[str] = []
    pos = 0
    for match in _BLOBS.finditer(rtf):
        if match.start() < pos:
            continue  # inside a group already dropped
        pieces.append(rtf[pos : match.start()])
        depth = 0
        end = len(rtf)
        for brace in _BRACES.finditer(rtf, match.start()):
            token = brace.group()
            if token == "{":
                depth += 1
            elif token == "}":
                depth -= 1
                if depth == 0:
                    end = brace.end()
                    break
        pos = end
    pieces.append(rtf[pos:])
    return "".join(pieces)


def _fix_surrogates(text: str) -> str:
    if _SURROGATE.search(text):
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _blocks(text: str) -> str:
    lines = (line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n\n".join(line for line in lines if line)


def extract_rtf(data: bytes, stem: str) -> Extracted:
    from striprtf.striprtf import rtf_to_text

    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
        raise ExtractError("corrupt RTF: missing {\\rtf header")
    codepage = _codepage(data)
    rtf = _drop_blobs(data.decode(codepage, errors="replace"))
    text = _blocks(_fix_surrogates(rtf_to_text(rtf, encoding=codepage, errors="replace")))
    title = None
    match = _TITLE.search(rtf[:65536])
    if match:
        raw = rtf_to_text("{\\rtf1 " + match.group(1) + "}", encoding=codepage, errors="replace")
        title = " ".join(_fix_surrogates(raw).split()) or None
    return Extracted(text=text, title=title or stem, format="rtf", encoding=codepage)
