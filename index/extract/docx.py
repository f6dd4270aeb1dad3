"""DOCX text with python-docx: body paragraphs and tables in document order.

Each paragraph (headings included) is its own block; a table row is one
block with its non-empty cells joined by " | ". Runs inside content controls,
hyperlinks, tracked insertions and fields are read from the XML, deleted text
and field codes are not; text boxes follow the paragraph that anchors them.
Headers, footers, footnotes and comments are not indexed.
"""
from __future__ import annotations

from index.types import Extracted
from index.extract.archive import open_archive
from index.extract.errors import ExtractError, short_message

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
P, TBL, TR, TC = (_W + t for t in ("p", "tbl", "tr", "tc"))
T, TAB, BR, CR, NB_HYPHEN = (_W + t for t in ("t", "tab", "br", "cr", "noBreakHyphen"))
TXBX_CONTENT = _W + "txbxContent"
_SKIP_IN_PARAGRAPH = frozenset(
    [_W + t for t in ("pPr", "rPr", "del", "moveFrom", "delText", "instrText", "delInstrText",
                      "footnoteReference", "endnoteReference", "commentReference")]
    + [_MC + "Fallback"]
)
_SKIP_IN_BODY = frozenset(
    [_W + t for t in ("sectPr", "tblPr", "tblGrid", "trPr", "tcPr", "del", "moveFrom")] + [_MC + "Fallback"]
)


def _paragraph_text(p) -> tuple[str, list]:
    """Visible text of one w:p, and the text-box contents found inside it."""
    out: list[str] = []
    boxes: list = []
    stack = list(reversed(p))
    while stack:
        el = stack.pop()
        tag = el.tag
        if not isinstance(tag, str) or tag in _SKIP_IN_PARAGRAPH:
            continue
        if tag == T:
            out.append(el.text or "")
        elif tag == TAB:
            out.append("\t")
        elif tag == BR or tag == CR:
            out.append("\n")
        elif tag == NB_HYPHEN:
            out.append("-")
        elif tag == TXBX_CONTENT:
            boxes.append(el)
        else:
            stack.extend(reversed(el))
    return "".join(out).strip(), boxes


class _Reader:
    def __init__(self, style_names: dict[str, str]) -> None:
        self.style_names = style_names
        self.blocks: list[str] = []
        self.title_paragraph: str | None = None
        self.first_heading: str | None = None

    def _style(self, p) -> str:
        ppr = p.find(_W + "pPr")
        style = ppr.find(_W + "pStyle") if ppr is not None else None
        style_id = style.get(_W + "val") if style is not None else None
        return self.style_names.get(style_id or "", style_id or "").lower()

    def body(self, container) -> None:
        """Blocks of a body-like container (body, text box, content control)."""
        stack = list(reversed(container))
        while stack:
            el = stack.pop()
            tag = el.tag
            if not isinstance(tag, str) or tag in _SKIP_IN_BODY:
                continue
            if tag == P:
                text, boxes = _paragraph_text(el)
                if text:
                    self.blocks.append(text)
                    style = self._style(el)
                    if style == "title" and self.title_paragraph is None:
                        self.title_paragraph = text
                    elif style.startswith("heading") and self.first_heading is None:
                        self.first_heading = text
                for box in reversed(boxes):
                    stack.extend(reversed(box))
            elif tag == TBL:
                for row in self._rows(el):
                    self.blocks.append(row)
            else:  # sdt, sdtContent, customXml, ins, smartTag ...
                stack.extend(reversed(el))

    def _rows(self, tbl) -> list[str]:
        rows: list[str] = []
        for tr in tbl.iter(TR):
            if _nearest_table(tr) is not tbl:
                continue  # a nested table's row: part of its cell
            cells = [self._cell(tc) for tc in tr.iter(TC) if _nearest_row(tc) is tr]
            line = " | ".join(c for c in cells if c)
            if line:
                rows.append(line)
        return rows

    def _cell(self, tc) -> str:
        parts: list[str] = []
        stack = list(reversed(tc))
        while stack:
            el = stack.pop()
            tag = el.tag
            if not isinstance(tag, str) or tag in _SKIP_IN_BODY:
                continue
            if tag == P:
                text, boxes = _paragraph_text(el)
                if text:
                    parts.append(text)
                for box in reversed(boxes):
                    stack.extend(reversed(box))
            elif tag == TBL:
                parts.extend(self._rows(el))
            else:
                stack.extend(reversed(el))
        return "\n".join(parts)


def _nearest_table(el):
    parent = el.getparent()
    while parent is not None and parent.tag != TBL:
        parent = parent.getparent()
    return parent


def _nearest_row(el):
    parent = el.getparent()
    while parent is not None and parent.tag != TR:
        parent = parent.getparent()
    return parent


def extract_docx(stream, stem: str) -> Extracted:
    """Blocks of a .docx read from a binary file object (zip-bomb checked first)."""
    import docx

    open_archive(stream, "DOCX").close()
    stream.seek(0)
    try:
        document = docx.Document(stream)
    except (KeyError, ValueError) as exc:
        raise ExtractError(f"corrupt DOCX: missing or invalid part ({short_message(exc, 80)})") from None
    style_names: dict[str, str] = {}
    try:
        for style in document.styles:
            if style.style_id:
                style_names[style.style_id] = style.name or style.style_id
    except Exception:  # noqa: BLE001 - a broken styles part only costs heading detection
        pass
    reader = _Reader(style_names)
    reader.body(document.element.body)
    core_title = None
    try:
        core_title = " ".join((document.core_properties.title or "").split()) or None
    except Exception:  # noqa: BLE001 - a broken core-properties part only costs the title
        pass
    title = core_title or reader.title_paragraph or reader.first_heading or stem
    return Extracted(text="\n\n".join(reader.blocks), title=title, format="docx")
