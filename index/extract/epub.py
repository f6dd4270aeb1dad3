"""EPUB with zipfile: container.xml -> OPF package -> spine order.

Every spine document goes through the HTML extractor and chapters are joined
with a blank line. DRM-encrypted content is reported as such (font
obfuscation, which EPUBs use legitimately, is not DRM).
"""
from __future__ import annotations

import posixpath
from urllib.parse import unquote

from index.types import Extracted
from index.extract.archive import local, open_archive, parse_xml, read_member
from index.extract.encoding import decode_markup
from index.extract.errors import ExtractError
from index.extract.html import html_to_text

_HTML_TYPES = frozenset(("application/xhtml+xml", "text/html", "application/xml"))
_HTML_SUFFIXES = (".xhtml", ".html", ".htm", ".xml")
_FONT_OBFUSCATION = frozenset(("http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"))


class _Members:
    """Archive member lookup tolerating case and %-escaping slips."""

    def __init__(self, zf) -> None:
        self.exact = set(zf.namelist())
        self.lower = {n.lower(): n for n in zf.namelist()}

    def find(self, path: str) -> str | None:
        if path in self.exact:
            return path
        return self.lower.get(path.lower()) or self.lower.get(unquote(path).lower())


def _rootfile(zf, members: _Members) -> str:
    try:
        container = parse_xml(read_member(zf, "META-INF/container.xml"))
        for el in container.iter():
            if local(el.tag) == "rootfile" and el.get("full-path"):
                found = members.find(el.get("full-path"))
                if found:
                    return found
    except KeyError:
        pass
    opfs = sorted(n for n in members.exact if n.lower().endswith(".opf"))
    if not opfs:
        raise ExtractError("corrupt EPUB: no OPF package document")
    return opfs[0]


def _encrypted(zf) -> set[str]:
    """Paths encrypted with something other than font obfuscation."""
    try:
        root = parse_xml(read_member(zf, "META-INF/encryption.xml"))
    except KeyError:
        return set()
    paths: set[str] = set()
    for data in root.iter():
        if local(data.tag) != "EncryptedData":
            continue
        algorithm = next((m.get("Algorithm") for m in data.iter() if local(m.tag) == "EncryptionMethod"), None)
        if algorithm in _FONT_OBFUSCATION:
            continue
        for ref in data.iter():
            if local(ref.tag) == "CipherReference" and ref.get("URI"):
                paths.add(unquote(ref.get("URI")).lstrip("/"))
    return paths


def extract_epub(stream, stem: str) -> Extracted:
    """Spine documents of an .epub read from a binary file object, in reading order."""
    with open_archive(stream, "EPUB") as zf:
        members = _Members(zf)
        opf_path = _rootfile(zf, members)
        opf = parse_xml(read_member(zf, opf_path))
        base = posixpath.dirname(opf_path)

        title = None
        manifest: dict[str, tuple[str, str]] = {}
        spine: list[str] = []
        for el in opf.iter():
            name = local(el.tag)
            if name == "title" and title is None and el.text and el.text.strip():
                title = " ".join(el.text.split())
            elif name == "item" and el.get("id") and el.get("href"):
                href = unquote(el.get("href").split("#", 1)[0])
                manifest[el.get("id")] = (posixpath.normpath(posixpath.join(base, href)), el.get("media-type", ""))
            elif name == "itemref" and el.get("idref"):
                spine.append(el.get("idref"))

        documents = [manifest[i] for i in spine if i in manifest]
        documents = [p for p, kind in documents if kind in _HTML_TYPES or p.lower().endswith(_HTML_SUFFIXES)]
        if not documents:  # no usable spine: take the HTML files in archive order
            documents = [n for n in zf.namelist() if n.lower().endswith((".xhtml", ".html", ".htm"))]
        encrypted = _encrypted(zf)
        if encrypted and any(p in encrypted for p in documents):
            raise ExtractError("EPUB is DRM-protected (encrypted)")

        chapters: list[str] = []
        warnings: list[str] = []
        first_heading = None
        seen: set[str] = set()
        for path in documents:
            member = members.find(path)
            if member is None:
                warnings.append(f"missing chapter {path}")
                continue
            if member in seen:
                continue
            seen.add(member)
            try:
                markup, _, _ = decode_markup(read_member(zf, member))
            except ExtractError as exc:
                warnings.append(f"chapter {path} skipped: {exc.reason}")
                continue
            text, chapter_title = html_to_text(markup)
            if text:
                chapters.append(text)
                first_heading = first_heading or chapter_title
    return Extracted(
        text="\n\n".join(chapters), title=title or first_heading or stem, format="epub", warnings=tuple(warnings)
    )
