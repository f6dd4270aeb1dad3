"""What can be kept from a damaged JSON file: the parts that still parse.

A knowledge base keeps two JSON files a person cares about: `settings.json`
(index/config.py) and `docent-chats.json` (the app's conversation history).
When one is damaged (a cut write, zeroed bytes, a bad sector) the values and
conversations that still parse are kept and the rest is reset, with a notice
saying what was lost, instead of starting afresh.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

_DECODER = json.JSONDecoder()


def read_json(path: Path) -> tuple[object | None, str | None]:
    """(data, None) for a file that parses; (None, reason) for one that does not (missing: (None, None))."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot read {path.name}: {exc.strerror or exc}"
    try:
        return json.loads(raw.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"{path.name} is not valid JSON ({exc})"


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


def salvage_fields(path: Path, names: list[str]) -> dict:
    """The top-level `"name": value` pairs of `path` that still parse, for the names given."""
    text = _text(path)
    found: dict = {}
    for name in names:
        for match in re.finditer(r'"%s"\s*:\s*' % re.escape(name), text):
            try:
                value, _ = _DECODER.raw_decode(text, match.end())
            except ValueError:
                continue
            found[name] = value
            break
    return found


def salvage_objects(path: Path, required_key: str) -> list[dict]:
    """Every complete JSON object in `path` that has `required_key` and is not inside another one
    kept (a damaged list of conversations: the conversations that are still whole)."""
    text = _text(path)
    out: list[dict] = []
    pos = 0
    marker = re.compile(r"\{\s*\"")
    while True:
        match = marker.search(text, pos)
        if match is None:
            return out
        try:
            value, end = _DECODER.raw_decode(text, match.start())
        except ValueError:
            pos = match.start() + 1
            continue
        if isinstance(value, dict) and required_key in value:
            out.append(value)
            pos = end
        else:
            pos = match.start() + 1


def load_settings(path: Path):
    """(EngineSettings, notice): the settings in `path`, or as much of them as still parses.

    The notice (None when the file is sound or missing) names what was reset to its default.
    """
    from dataclasses import fields

    from index.config import EngineSettings

    names = [f.name for f in fields(EngineSettings)]
    data, reason = read_json(path)
    if reason is None and data is None:
        return EngineSettings(), None
    if reason is None and not isinstance(data, dict):
        reason = f"{path.name} does not hold settings"
    if reason is not None:
        data = salvage_fields(path, names)
    defaults = EngineSettings()
    kept, reset = {}, []
    for name in names:
        if name not in data:
            if reason is not None:
                reset.append(name)
            continue
        value, default = data[name], getattr(defaults, name)
        same_type = isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int))
        if same_type and not (isinstance(value, bool) and not isinstance(default, bool)):
            kept[name] = value
        else:
            reset.append(name)
    settings = EngineSettings(**kept)
    if reason is None and not reset:
        return settings, None
    what = f"{reason}; " if reason else ""
    lost = f"reset to defaults: {', '.join(reset)}" if reset else "every setting was recovered"
    return settings, f"{what}{lost}"
