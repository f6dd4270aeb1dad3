"""ODT (OpenDocument text): content.xml read with ElementTree.

Paragraphs and headings are blocks; a table row is one block with its
non-empty cells joined by " | "; footnotes and text boxes follow the paragraph
that anchors them. ODF collapses white space in text content and spells out
extra spaces, tabs and line breaks as elements, which are honoured.
"""
from __future__ import annotations

import re

from index.types import Extracted
from index.extract.archive import local, open_archive, parse_xml, read_member
from index.extract.errors import ExtractError

_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
P, H = _TEXT + "p", _TEXT + "h"
SPACE, TAB, LINE_BREAK, NOTE, NOTE_BODY = (_TEXT + t for t in ("s", "tab", "line-break", "note", "note-body"))
ROW, CELL, COVERED = _TABLE + "table-row", _TABLE + "table-cell", _TABLE + "covered-table-cell"
_SKIP = frozenset(
    [_TEXT + t for t in ("note-citation", "tracked-changes", "sequence-decls", "variable-decls",
                         "user-field-decls", "soft-page-break", "bookmark", "bookmark-start")]
    + [_OFFICE + "annotation", _OFFICE + "annotation-end", _OFFICE + "forms", _TABLE + "table-columns",
       _TABLE + "table-column"]
)
_WS = re.compile(r"[ \t\r\n]+")


def _push_content(work: list, el) -> None:
    """Queue an element's text and children so that pops come in document order."""
    for child in reversed(el):
        if child.tail:
            work.append(("text", child.tail))
        work.append(("el", child))
    if el.text:
        work.append(("text", el.text))


def _count(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), 100)
    except ValueError:
        return 1


def _inline(p) -> tuple[str, list]:
    """Text of one text:p/text:h, and nested blocks (notes, frames) found in it."""
    out: list[str] = []
    nested: list = []
    work: list = []  # ("text", str) | ("el", element)
    _push_content(work, p)
    while work:
        kind, value = work.pop()
        if kind == "text":
            out.append(_WS.sub(" ", value))
            continue
        el = value
        tag = el.tag
        if tag in _SKIP:
            continue
        if tag == SPACE:
            out.append(" " * _count(el.get(_TEXT + "c")))
        elif tag == TAB:
            out.append("\t")
        elif tag == LINE_BREAK:
            out.append("\n")
        elif tag in (P, H):
            nested.append(el)
        elif tag == NOTE:
            body = el.find(NOTE_BODY)
            if body is not None:
                nested.extend(body)
        else:
            _push_content(work, el)
    return "".join(out).strip(" \n"), nested


class _Reader:
    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.first_heading: str | None = None

    def container(self, root) -> None:
        stack = list(reversed(root))
        while stack:
            el = stack.pop()
            tag = el.tag
            if tag in _SKIP:
                continue
            if tag in (P, H):
                text, nested = _inline(el)
                if text:
                    self.blocks.append(text)
                    if tag == H and self.first_heading is None:
                        self.first_heading = " ".join(text.split())
                stack.extend(reversed(nested))
            elif tag == ROW:
                cells = [self._cell(c) for c in el if c.tag in (CELL, COVERED)]
                line = " | ".join(c for c in cells if c)
                if line:
                    self.blocks.append(line)
            else:
                stack.extend(reversed(el))

    def _cell(self, cell) -> str:
        inner = _Reader()
        inner.container(cell)
        return "\n".join(inner.blocks)


def _meta_title(zf) -> str | None:
    try:
        root = parse_xml(read_member(zf, "meta.xml"))
    except (KeyError, ExtractError, SyntaxError):
        return None
    for el in root.iter():
        if local(el.tag) == "title" and el.text and el.text.strip():
            return " ".join(el.text.split())
    return None


def extract_odt(stream, stem: str) -> Extracted:
    """Blocks of an .odt read from a binary file object (zip-bomb checked first)."""
    with open_archive(stream, "ODT") as zf:
        if b"encryption-data" in _manifest(zf):
            raise ExtractError("ODT is encrypted (password protected)")
        try:
            content = read_member(zf, "content.xml")
        except KeyError:
            raise ExtractError("corrupt ODT: content.xml is missing") from None
        root = parse_xml(content)
        title = _meta_title(zf)
    body = root.find(f"{_OFFICE}body")
    reader = _Reader()
    reader.container(body if body is not None else root)
    return Extracted(text="\n\n".join(reader.blocks), title=title or reader.first_heading or stem, format="odt")


def _manifest(zf) -> bytes:
    try:
        return read_member(zf, "META-INF/manifest.xml")
    except KeyError:
        return b""
