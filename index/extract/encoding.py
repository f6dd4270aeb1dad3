"""Bytes -> str for plain-text formats, with the encoding that was used.

Order: a byte-order mark decides; else 7-bit ISO-2022-JP escapes; else strict UTF-8; else a BOM-less UTF-16
check (Latin-heavy text with NUL high bytes); else a binary check (a NUL in
the first 8 KB, as git and grep do, or many control bytes); else
charset-normalizer. The returned encoding is a Python codec name such that
`data.decode(encoding) == text` whenever no warning was raised: the caller
can re-read the file and land on the same offsets.
"""
from __future__ import annotations

import codecs
import re

from index.extract.errors import ExtractError

BINARY = "binary file, not text"

# Longest BOM first: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# C0 controls that never occur in text (tab, LF, VT, FF, CR, ESC and the DOS
# end-of-file mark SUB are allowed: ESC appears in ISO-2022-JP and ANSI logs).
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 26, 27))
_CONTROL_TABLE = bytes.maketrans(_CONTROL, b"\x00" * len(_CONTROL))

_LATIN_FAMILY = re.compile(
    r"^(cp125[04789]|cp1250|iso8859_(?:[1-4]|9|1[0345-6]|10)|latin_1|mac_(?:roman|latin2|turkish|iceland)"
    r"|cp(?:437|775|850|852|857|858|86[0-5])|hp_roman8)$"
)
_NOT_WESTERN = re.compile(r"[^\x00-\x7f\u00c0-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u00a0“”‘’„–—…€«»°·©®™§•]")


def bom_encoding(data: bytes) -> str | None:
    """The codec named by a leading byte-order mark, if any."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return None


def looks_binary(data: bytes) -> bool:
    """NUL in the first 8 KB, or more than 5 % non-text control bytes."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    sample = data[:65536]
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    return controls > 0.05 * len(sample)


def _bomless_utf16(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' for Latin-heavy UTF-16 without a BOM, else None."""
    if len(data) < 4 or len(data) % 2:
        return None
    sample = data[:65536]
    half = len(sample) // 2
    even_zero = sample[0::2].count(0)
    odd_zero = sample[1::2].count(0)
    if odd_zero > 0.4 * half and even_zero < 0.02 * half:
        name = "utf-16-le"
    elif even_zero > 0.4 * half and odd_zero < 0.02 * half:
        name = "utf-16-be"
    else:
        return None
    try:
        text = data.decode(name)
    except UnicodeDecodeError:
        return None
    if "\x00" in text or looks_binary(text[:32768].encode("utf-8", "surrogatepass")):
        return None
    return name


def _normal_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name


def _detect(data: bytes) -> str | None:
    """charset-normalizer's guess, nudged to cp1252 for clean Western text."""
    from charset_normalizer import from_bytes

    results = from_bytes(data)
    best = results.best()
    if best is None:
        return None
    name = best.encoding
    if _LATIN_FAMILY.match(name) and name != "cp1252":
        # Its Latin guesses are close calls on short text; cp1252 is by far the
        # most common of them, so take it when it decodes to ordinary letters.
        sample = data[:65536]
        try:
            as1252 = sample.decode("cp1252")
        except UnicodeDecodeError:
            as1252 = None
        if as1252 is not None and not _NOT_WESTERN.search(as1252):
            name = "cp1252"
    return name


def decode_bytes(data: bytes) -> tuple[str, str, tuple[str, ...]]:
    """Decode a text file's bytes -> (text, codec name, warnings).

    Raises ExtractError('binary file, not text') when the bytes are not text.
    A BOM is dropped; nothing else is changed (line ends stay as they are).
    """
    bom = bom_encoding(data)
    if bom:
        try:
            return data.decode(bom), bom, ()
        except UnicodeDecodeError:
            return data.decode(bom, errors="replace"), bom, ("some bytes could not be decoded and were replaced",)
    utf16 = _bomless_utf16(data) if b"\x00" in data[:8192] else None
    if utf16:
        return data.decode(utf16), utf16, ()
    if looks_binary(data):
        raise ExtractError(BINARY)
    if b"\x1b$" in data and data.isascii():
        # 7-bit ISO-2022-JP (old mail and news) is valid UTF-8 too: check it first.
        for name in ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext"):
            try:
                return data.decode(name), name, ()
            except UnicodeDecodeError:
                continue
    try:
        return data.decode("utf-8"), "utf-8", ()
    except UnicodeDecodeError:
        pass
    name = _detect(data)
    if name is None:  # not binary (checked above), yet no one encoding fits: mixed encodings
        return _decode_mixed(data)
    name = _normal_name(name)
    try:
        return data.decode(name), name, ()
    except (UnicodeDecodeError, LookupError):
        pass
    try:
        return data.decode(name, errors="replace"), name, ("some bytes could not be decoded and were replaced",)
    except LookupError:
        return data.decode("utf-8", errors="replace"), "utf-8", ("unknown encoding; undecodable bytes were replaced",)


MIXED = "mixed encodings: lines that are not UTF-8 were decoded as {}"
_MIXED_LINE_DETECTIONS = 300  # per-line guesses cost ~5 ms each


def _decode_mixed(data: bytes) -> tuple[str, str, tuple[str, ...]]:
    """Text pasted together from several encodings: UTF-8 lines as UTF-8, the
    others with the legacy code page that suits them (all of them together if
    one fits, else line by line; bytes nothing decodes are replaced). The
    warning says the text is not `data.decode(...)`."""
    lines = data.splitlines(keepends=True)
    decoded: list[str | None] = []
    legacy = bytearray()
    for line in lines:
        try:
            decoded.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            decoded.append(None)
            legacy += line
    overall = _detect(bytes(legacy)) if legacy else None
    used: list[str] = []
    last = overall
    budget = _MIXED_LINE_DETECTIONS
    out: list[str] = []
    for text, line in zip(decoded, lines):
        if text is not None:
            out.append(text)
            continue
        name = overall
        if name is None:
            if len(line) >= 32 and budget > 0:
                budget -= 1
                name = _detect(line) or last
            else:
                name = last
        name = _normal_name(name or "utf-8")
        try:
            out.append(line.decode(name, errors="replace"))
        except LookupError:
            name = "utf-8"
            out.append(line.decode(name, errors="replace"))
        last = name
        if name not in used:
            used.append(name)
    return "".join(out), "utf-8", (MIXED.format(", ".join(used) or "utf-8"),)


def declared_charset(head: bytes) -> str | None:
    """Charset declared by an HTML <meta> or an XML declaration in `head`."""
    text = head.decode("ascii", errors="replace")
    match = re.search(r"""<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)""", text) or re.search(
        r"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", text, re.IGNORECASE
    )
    if not match:
        return None
    name = match.group(1)
    try:
        name = codecs.lookup(name).name
    except LookupError:
        return None
    # A document that reached us as ASCII-compatible bytes cannot really be
    # UTF-16/32; browsers treat such a declaration as UTF-8 too.
    if name.startswith(("utf-16", "utf-32")) or name == "ascii":
        return "utf-8"
    if name == "iso8859-1":  # browsers read Latin-1 labels as windows-1252
        return "cp1252"
    return name


def decode_markup(data: bytes) -> tuple[str, str, tuple[str, ...]]:
    """Decode HTML/XHTML bytes: BOM, then the declared charset, then detection."""
    bom = bom_encoding(data)
    if bom:
        return decode_bytes(data)
    declared = declared_charset(data[:2048])
    if declared:
        try:
            return data.decode(declared), declared, ()
        except UnicodeDecodeError:
            if declared != "utf-8":
                return data.decode(declared, errors="replace"), declared, (
                    f"text is not valid {declared}; undecodable bytes were replaced",
                )
            # A wrong utf-8 declaration is common: fall through to detection.
    return decode_bytes(data)
