"""Docent's extraction layer: a supported file -> `Extracted` (text, title, pages).

    extract(path, max_bytes) -> Extracted     is_supported(path) -> bool
    SUPPORTED_SUFFIXES                        ExtractError(.reason)

Every failure a user's file can cause (unsupported, too large, empty, binary,
encrypted, corrupt, unreadable, vanished) is an `ExtractError` whose `.reason`
is a short sentence for people. Nothing else escapes for bad input; only
MemoryError, KeyboardInterrupt and SystemExit pass through untouched.

What `Extracted.text` is, per format:
- txt/md/rst/log/csv/tsv: exactly the decoded file (only a BOM is dropped), so
  `raw.decode(extracted.encoding) == extracted.text` (unless a warning says
  bytes were replaced).
- html, epub, docx, odt, rtf: blocks (paragraphs, headings, table rows)
  separated by a blank line "\\n\\n", white space collapsed inside blocks.
- pdf: page texts joined by "\\n\\n"; `pages` maps page numbers to offsets.
A file with no text at all (after a successful parse) yields empty `text`;
the caller decides what that means. A 0-byte file raises ExtractError('empty file').
"""
from __future__ import annotations

import os
import stat

from index.types import Extracted
from index.extract.errors import ExtractError, megabytes, short_message

__all__ = ["ExtractError", "Extracted", "SUPPORTED_SUFFIXES", "extract", "is_supported"]

PLAIN_SUFFIXES = frozenset((".txt", ".text", ".md", ".markdown", ".mdown", ".mkd", ".rst", ".log", ".csv", ".tsv"))
HTML_SUFFIXES = frozenset((".html", ".htm", ".xhtml"))
SUPPORTED_SUFFIXES: frozenset[str] = PLAIN_SUFFIXES | HTML_SUFFIXES | frozenset(
    (".pdf", ".docx", ".epub", ".odt", ".rtf")
)
DEFAULT_MAX_BYTES = 200 * 1024 * 1024

_FORMAT_NAMES = {".pdf": "PDF", ".docx": "DOCX", ".epub": "EPUB", ".odt": "ODT", ".rtf": "RTF"}
# Office/LibreOffice lock files ("~$report.docx", ".~lock.report.odt#") are not documents.
_LOCK_PREFIXES = ("~$", ".~lock.")


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def is_supported(path: str | os.PathLike) -> bool:
    """True when the name has a supported suffix (and is not an Office lock file)."""
    name = os.path.basename(os.fspath(path))
    if name.startswith(_LOCK_PREFIXES):
        return False
    return _suffix(name) in SUPPORTED_SUFFIXES


def os_reason(exc: OSError) -> str:
    """A short reason for an OS-level read failure."""
    if isinstance(exc, FileNotFoundError):
        return "file not found (moved or deleted?)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    return f"cannot read file: {exc.strerror or short_message(exc)}"


def _too_large(size: int, limit: int) -> ExtractError:
    shown, shown_limit = megabytes(size), megabytes(limit)
    if shown == shown_limit:
        shown, shown_limit = f"{size:,} bytes", f"{limit:,} bytes"
    return ExtractError(f"file too large ({shown} > {shown_limit} limit)")


def _format_name(suffix: str) -> str:
    if suffix in HTML_SUFFIXES:
        return "HTML"
    return _FORMAT_NAMES.get(suffix, "text file")


def extract(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> Extracted:
    """Text, title and page map of one file; ExtractError with a reason otherwise.

    The size limit is checked on the file's metadata before anything is read.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    suffix = _suffix(name)
    if suffix not in SUPPORTED_SUFFIXES:
        raise ExtractError(f"unsupported file type {suffix}" if suffix else "unsupported file type (no extension)")
    stem = os.path.splitext(name)[0] or name
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ExtractError(os_reason(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise ExtractError("is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise ExtractError("not a regular file")
    if st.st_size > max_bytes:
        raise _too_large(st.st_size, max_bytes)
    if st.st_size == 0:
        raise ExtractError("empty file")
    fmt = _format_name(suffix)
    try:
        with open(path, "rb") as stream:
            return _dispatch(stream, suffix, stem, max_bytes)
    except ExtractError:
        raise
    except MemoryError:
        raise
    except RecursionError:
        raise ExtractError(f"corrupt {fmt}: structure too deeply nested") from None
    except OSError as exc:
        raise ExtractError(os_reason(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any parser failure on bad input is a reason, not a crash
        raise ExtractError(f"corrupt {fmt}: {short_message(exc)}") from None


def _read_all(stream, max_bytes: int) -> bytes:
    # read(n) allocates n bytes up front: ask for the file's size, not the limit
    # (a 1 KB file must not reserve 200 MB, least of all under a memory limit).
    try:
        expected = min(os.fstat(stream.fileno()).st_size, max_bytes)
    except (OSError, AttributeError, ValueError):
        expected = max_bytes
    data = stream.read(expected + 1)
    if len(data) > expected:  # it grew since stat(): read on, still bounded
        data += stream.read(max_bytes + 1 - len(data))
    if len(data) > max_bytes:  # the file grew after stat()
        raise _too_large(len(data), max_bytes)
    if not data:
        raise ExtractError("empty file")
    return data


def _dispatch(stream, suffix: str, stem: str, max_bytes: int) -> Extracted:
    if suffix in PLAIN_SUFFIXES:
        from index.extract.text import extract_plain

        return extract_plain(_read_all(stream, max_bytes), suffix, stem)
    if suffix in HTML_SUFFIXES:
        from index.extract.html import extract_html

        return extract_html(_read_all(stream, max_bytes), stem)
    if suffix == ".pdf":
        from index.extract.pdf import extract_pdf

        return extract_pdf(stream, stem)
    if suffix == ".docx":
        from index.extract.docx import extract_docx

        return extract_docx(stream, stem)
    if suffix == ".epub":
        from index.extract.epub import extract_epub

        return extract_epub(stream, stem)
    if suffix == ".odt":
        from index.extract.odt import extract_odt

        return extract_odt(stream, stem)
    if suffix == ".rtf":
        from index.extract.rtf import extract_rtf

        return extract_rtf(_read_all(stream, max_bytes), stem)
    raise ExtractError(f"unsupported file type {suffix}")
