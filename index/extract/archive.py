"""Safe access to ZIP-based formats (DOCX, EPUB, ODT).

Before any parser touches an archive, the members' declared sizes are
checked: a zip bomb (a few KB that inflate to gigabytes) is refused at once.
Declared sizes can be trusted here because `zipfile` never inflates a member
past its declared size. XML read from these archives is refused if it
declares entities (billion-laughs style expansion).
"""
from __future__ import annotations

import zipfile
import xml.etree.ElementTree as ET

from index.extract.errors import ExtractError, megabytes, short_message

MAX_MEMBERS = 20_000
MAX_TOTAL_UNCOMPRESSED = 1024 * 1024 * 1024  # 1 GiB for the whole archive
MAX_MEMBER_UNCOMPRESSED = 512 * 1024 * 1024
RATIO_CHECK_FROM = 20 * 1024 * 1024  # small members may compress as well as they like
MAX_RATIO = 100


def check_archive(zf: zipfile.ZipFile) -> None:
    """Refuse archives whose members would expand to absurd sizes."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ExtractError(f"refused: archive has {len(infos)} members (zip bomb?)")
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        ratio = size / max(info.compress_size, 1)
        if size > MAX_MEMBER_UNCOMPRESSED or (size > RATIO_CHECK_FROM and ratio > MAX_RATIO):
            raise ExtractError(
                f"refused: {info.filename} would expand to {megabytes(size)} "
                f"from {megabytes(info.compress_size)} (zip bomb?)"
            )
    if total > MAX_TOTAL_UNCOMPRESSED:
        raise ExtractError(f"refused: archive would expand to {megabytes(total)} (zip bomb?)")


OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def not_zip_reason(stream, fmt: str) -> str | None:
    """A precise reason for a 'ZIP' file that is really an OLE2 container.

    Word stores a password-protected .docx as OLE2 with an EncryptedPackage
    stream; an old binary .doc renamed .docx is OLE2 too.
    """
    stream.seek(0)
    head = stream.read(8)
    if head != OLE_MAGIC:
        return None
    stream.seek(0)
    body = stream.read(4 * 1024 * 1024)
    if "EncryptedPackage".encode("utf-16-le") in body:
        return f"{fmt} is encrypted (password protected)"
    return f"corrupt {fmt}: this is an old binary Office file (e.g. .doc) with a {fmt} name"


def open_archive(stream, fmt: str) -> zipfile.ZipFile:
    """Open and check a ZIP container from a binary file object.

    `fmt` ('DOCX', 'EPUB', 'ODT') names the format in error reasons.
    """
    reason = not_zip_reason(stream, fmt)
    if reason:
        raise ExtractError(reason)
    stream.seek(0)
    try:
        zf = zipfile.ZipFile(stream)
    except zipfile.BadZipFile as exc:
        raise ExtractError(f"corrupt {fmt}: not a ZIP archive ({short_message(exc)})") from None
    try:
        check_archive(zf)
    except BaseException:
        zf.close()
        raise
    return zf


def read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes (size already bounded by check_archive)."""
    with zf.open(name) as member:
        return member.read()


def parse_xml(data: bytes) -> ET.Element:
    """Parse XML from an archive member, refusing entity declarations."""
    if b"<!ENTITY" in data or "<!ENTITY".encode("utf-16-le") in data:  # as text it would be escaped
        raise ExtractError("refused: XML declares entities")
    return ET.fromstring(data)


def local(tag: str) -> str:
    """'{namespace}name' -> 'name'."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
