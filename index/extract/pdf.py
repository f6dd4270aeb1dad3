"""PDF text with pypdfium2, one page after another.

Pages are joined with a blank line ("\\n\\n", the same block separator as every
other format, so the chunker never glues two pages into one paragraph) and
`Extracted.pages` maps each 1-based page number to its [start, end) range
(the separator belongs to no page; a page without text has start == end).
PDFium's "\\r\\n" line ends become "\\n"; its NUL, U+FFFE and soft-hyphen
artefacts are dropped (a soft hyphen at a line end re-joins the word), and
a line wrap between two CJK characters is removed, so Japanese sentences
are not cut by layout line breaks.

PDFium is not thread safe, so all PDFium work is serialised by a module lock.
"""
from __future__ import annotations

import re
import threading

from index.types import Extracted
from index.extract.errors import ExtractError, short_message

NO_TEXT = "PDF has no text layer (scanned image?); OCR is not available"
ENCRYPTED = "PDF is encrypted (password protected)"
PAGE_SEPARATOR = "\n\n"

_LOCK = threading.Lock()
_HYPHEN_AT_EOL = re.compile(r"[\u00ad\ufffe\x02][ \t]*\n[ \t]*")
_ARTEFACTS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\u00ad\ufffe\uffff]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
# A line break between two CJK characters is only where the line wrapped
# (CJK text has no spaces); a full stop, ！ or ？ before it may end a paragraph.
_CJK = "\u3001\u3005-\u3007\u300c-\u300f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60\uff66-\uff9f"
_CJK_WRAP = re.compile(f"(?<=[{_CJK}])(?<![！？])\n(?=[{_CJK}])")
_TITLE_NOISE = re.compile(r"^(Microsoft (Word|PowerPoint|Excel) - |untitled$)", re.IGNORECASE)

# FPDF_ERR_* codes from fpdfview.h
_ERR_FILE, _ERR_FORMAT, _ERR_PASSWORD, _ERR_SECURITY = 2, 3, 4, 6


def clean_page_text(raw: str) -> str:
    """PDFium page text -> our text: LF line ends, no artefacts, trimmed."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = _HYPHEN_AT_EOL.sub("", text)
    text = _ARTEFACTS.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _CJK_WRAP.sub("", text)
    return text.strip()


def _title(pdf) -> str | None:
    try:
        raw = pdf.get_metadata_value("Title")
    except Exception:  # noqa: BLE001 - a bad info dictionary only costs the title
        return None
    title = " ".join((raw or "").split())
    title = _TITLE_NOISE.sub("", title).strip()
    return title or None


def _open_error(exc: Exception) -> ExtractError:
    code = getattr(exc, "err_code", None)
    if code == _ERR_PASSWORD:
        return ExtractError(ENCRYPTED)
    if code == _ERR_SECURITY:
        return ExtractError("PDF is encrypted with an unsupported security handler")
    if code == _ERR_FORMAT:
        return ExtractError("corrupt PDF: not a PDF or damaged (truncated?)")
    message = short_message(exc)
    if "Success" in message:  # PDFium gave up without an error code
        return ExtractError("corrupt PDF: damaged beyond repair")
    return ExtractError(f"corrupt PDF: {message}")


def extract_pdf(stream, stem: str) -> Extracted:
    """Text of every page of the PDF read from the binary file object `stream`."""
    import pypdfium2 as pdfium

    with _LOCK:
        try:
            pdf = pdfium.PdfDocument(stream)
        except pdfium.PdfiumError as exc:
            raise _open_error(exc) from None
        try:
            title = _title(pdf)
            parts: list[str] = []
            pages: list[tuple[int, int, int]] = []
            unreadable: list[int] = []
            offset = 0
            for index in range(len(pdf)):
                text = ""
                try:
                    page = pdf[index]
                    try:
                        textpage = page.get_textpage()
                        try:
                            text = clean_page_text(textpage.get_text_range())
                        finally:
                            textpage.close()
                    finally:
                        page.close()
                except pdfium.PdfiumError:
                    unreadable.append(index + 1)
                if parts:
                    offset += len(PAGE_SEPARATOR)
                parts.append(text)
                pages.append((index + 1, offset, offset + len(text)))
                offset += len(text)
        finally:
            pdf.close()
    full = PAGE_SEPARATOR.join(parts)
    if not full.strip():
        if not pages:
            raise ExtractError("corrupt PDF: no pages")
        if len(unreadable) == len(pages):
            raise ExtractError("corrupt PDF: no page could be read")
        raise ExtractError(NO_TEXT)
    warnings: list[str] = []
    if unreadable:
        warnings.append(f"{len(unreadable)} page(s) could not be read: {_page_list(unreadable)}")
    empty = [n for (n, s, e) in pages if s == e and n not in unreadable]
    if empty:
        warnings.append(f"{len(empty)} of {len(pages)} pages have no text layer: {_page_list(empty)}")
    return Extracted(text=full, title=title or stem, format="pdf", pages=tuple(pages), warnings=tuple(warnings))


def _page_list(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (", ..." if len(numbers) > limit else "")
