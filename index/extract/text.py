"""Plain-text formats (txt, md, rst, log, csv, tsv): the text IS the file.

`Extracted.text` is exactly the decoded content (only a BOM is dropped; line
ends and white space are kept), so any offset a search returns can be checked
against the file itself.
"""
from __future__ import annotations

import re

from index.types import Extracted
from index.extract.encoding import decode_bytes

_ATX_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT_H1 = re.compile(r"^ {0,3}=+[ \t]*$")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_FRONT_TITLE = re.compile(r"^title:[ \t]*[\"']?(.+?)[\"']?[ \t]*$")


def markdown_title(text: str, max_lines: int = 400) -> str | None:
    """First level-1 heading (ATX `# x` or setext), outside code fences.

    YAML front matter with `title:` counts when no heading comes first.
    """
    lines = text.splitlines()[:max_lines]
    front_title = None
    start = 0
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                start = i + 1
                break
            match = _FRONT_TITLE.match(lines[i])
            if match and front_title is None:
                front_title = match.group(1).strip()
    in_fence = False
    previous = ""
    for line in lines[start:]:
        if _FENCE.match(line):
            in_fence = not in_fence
            previous = ""
            continue
        if in_fence:
            continue
        match = _ATX_H1.match(line)
        if match and match.group(1).strip():
            return match.group(1).strip()
        if _SETEXT_H1.match(line) and previous.strip():
            return previous.strip()
        previous = line
    return front_title


def rst_title(text: str, max_lines: int = 200) -> str | None:
    """A reStructuredText title: a line underlined (and maybe overlined)."""
    lines = text.splitlines()[:max_lines]
    for i in range(len(lines) - 1):
        line = lines[i].strip()
        if line and not _RST_UNDERLINE.match(line) and _RST_UNDERLINE.match(lines[i + 1].strip()):
            if len(lines[i + 1].strip()) >= len(line):
                return line
    return None


def extract_plain(data: bytes, suffix: str, stem: str) -> Extracted:
    """Decode a plain-text file; the title comes from Markdown/RST headings."""
    text, encoding, warnings = decode_bytes(data)
    title = None
    if suffix in (".md", ".markdown", ".mdown", ".mkd"):
        title = markdown_title(text)
        fmt = "markdown"
    elif suffix == ".rst":
        title = rst_title(text)
        fmt = "rst"
    elif suffix in (".csv", ".tsv"):
        fmt = suffix[1:]
    else:
        fmt = "text"
    return Extracted(text=text, title=title or stem, format=fmt, encoding=encoding, warnings=warnings)
