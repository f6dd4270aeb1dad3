"""Knowledge bases as folders under data_dir()/kb/: list, create, rename, delete.

Qt-free. A knowledge base folder is whatever `KnowledgeBase.open` made of it
(catalog.sqlite, chroma/, settings.json, the lock); the app adds its
conversations file. The folder name is the knowledge base's name.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from index.config import kb_parent  # where knowledge bases live: one place for the app and the CLI

DEFAULT_NAME = "default"
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


class KbStoreError(Exception):
    """A user-facing, one-line reason (bad name, exists, in use...)."""


def is_kb_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "catalog.sqlite").exists() or (path / "settings.json").exists())


def list_kbs(parent: Path | None = None) -> list[str]:
    parent = parent or kb_parent()
    names = [p.name for p in parent.iterdir() if is_kb_folder(p) and not p.name.startswith(".")]
    return sorted(names, key=lambda n: (n != DEFAULT_NAME, n.casefold()))


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise KbStoreError("the name is empty")
    if _FORBIDDEN.search(name) or name in (".", "..") or name.startswith("."):
        raise KbStoreError('a name cannot contain < > : " / \\ | ? * or start with a dot')
    if name.split(".")[0].lower() in _RESERVED:
        raise KbStoreError(f"{name!r} is a reserved name on Windows")
    if len(name.encode("utf-8")) > 120:
        raise KbStoreError("the name is too long")
    return name


def kb_path(name: str, parent: Path | None = None) -> Path:
    return (parent or kb_parent()) / name


def create_kb(name: str, embedding_model: str | None = None, parent: Path | None = None,
              remote: str | None = None) -> Path:
    """Create an empty knowledge base folder (settings only; the catalog comes on first open).

    With `remote` (chroma://host:port/name) the folder is this computer's replica of a shared one.
    """
    from index.config import EngineSettings

    name = check_name(name)
    path = kb_path(name, parent)
    if path.exists():
        raise KbStoreError(f"a knowledge base named {name!r} already exists")
    path.mkdir(parents=True, mode=0o700)
    settings = EngineSettings()
    if embedding_model:
        settings.embedding_model = embedding_model
    if remote:
        from index.remote import RemoteSpec

        settings.remote = RemoteSpec.parse(remote).url
    settings.save(path / "settings.json")
    return path


def rename_kb(old: str, new: str, parent: Path | None = None) -> Path:
    """Rename a closed knowledge base folder."""
    new = check_name(new)
    src, dst = kb_path(old, parent), kb_path(new, parent)
    if not src.is_dir():
        raise KbStoreError(f"no knowledge base named {old!r}")
    if dst.exists() and os.path.normcase(str(dst)) != os.path.normcase(str(src)):
        raise KbStoreError(f"a knowledge base named {new!r} already exists")
    try:
        os.replace(src, dst)
    except OSError as exc:
        raise KbStoreError(f"cannot rename: {exc.strerror or exc}") from None
    return dst


def delete_kb(name: str, parent: Path | None = None) -> None:
    """Delete a closed knowledge base folder and everything in it (not the indexed documents)."""
    path = kb_path(name, parent)
    if not is_kb_folder(path):
        raise KbStoreError(f"no knowledge base named {name!r}")
    try:
        shutil.rmtree(path)
    except OSError as exc:
        raise KbStoreError(f"cannot delete {path}: {exc.strerror or exc}") from None


def remote_url(path: Path) -> str:
    """The server URL of a shared knowledge base folder, "" for a local one."""
    from index.config import EngineSettings

    try:
        return EngineSettings.load(path / "settings.json").remote
    except (OSError, ValueError, TypeError):
        return ""


def keyring_note() -> str:
    from gui.i18n import tr
    from index.credentials import keyring_available

    if keyring_available():
        return tr("Tokens and API keys are stored in the system keyring.")
    return tr("No system keyring was found: tokens and API keys are kept only until Docent quits.")
