"""Read a GGUF file's header without llama.cpp.

Why our own parser instead of `gguf.GGUFReader`: the reader maps every tensor
and decodes every array element into numpy objects (slow for 128k-token
vocabularies) and fails with low-level errors on damaged files.  Here we walk
the header once with bounds checks, keep the few keys Docent needs, and verify
that the tensor data the header promises is really in the file, so a
truncated download or a non-GGUF file is refused with a clear message before
llama.cpp (which may abort the process) ever sees it.
"""
from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ModelError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32

# GGUF value types (gguf spec).
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = range(13)
_SCALAR_FORMATS = {
    _UINT8: "<B", _INT8: "<b", _UINT16: "<H", _INT16: "<h", _UINT32: "<I", _INT32: "<i",
    _FLOAT32: "<f", _BOOL: "<?", _UINT64: "<Q", _INT64: "<q", _FLOAT64: "<d",
}
_SCALAR_SIZES = {t: struct.calcsize(f) for t, f in _SCALAR_FORMATS.items()}

# String arrays we decode (everything else is skipped, only its length kept).
_DECODED_ARRAYS = {"tokenizer.ggml.tokens"}
_MAX_KEY_BYTES = 1 << 16
_MAX_STRING_BYTES = 64 << 20
_MAX_COUNT = 1 << 40


@dataclass
class GGUFMeta:
    """What Docent needs to know about a model before loading it."""

    path: str
    file_size: int
    version: int
    n_tensors: int
    fields: dict[str, Any]
    array_lengths: dict[str, int] = field(default_factory=dict)
    tokens: list[str] | None = None
    data_offset: int = 0
    data_size: int = 0

    # -- convenience accessors --------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def architecture(self) -> str:
        return str(self.fields.get("general.architecture", "") or "")

    @property
    def name(self) -> str:
        return str(self.fields.get("general.name", "") or "")

    @property
    def chat_template(self) -> str | None:
        value = self.fields.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    def _arch_key(self, suffix: str) -> Any:
        return self.fields.get(f"{self.architecture}.{suffix}")

    @property
    def context_length(self) -> int | None:
        value = self._arch_key("context_length")
        return int(value) if value is not None else None

    @property
    def block_count(self) -> int | None:
        value = self._arch_key("block_count")
        return int(value) if value is not None else None

    def token_id(self, kind: str) -> int | None:
        """Special token id: kind in bos, eos, eot, unknown, padding, eom."""
        value = self.fields.get(f"tokenizer.ggml.{kind}_token_id")
        return int(value) if value is not None else None

    def token_text(self, token_id: int | None) -> str | None:
        if token_id is None or self.tokens is None or not 0 <= token_id < len(self.tokens):
            return None
        return self.tokens[token_id]

    @property
    def bos_text(self) -> str | None:
        return self.token_text(self.token_id("bos"))

    @property
    def eos_text(self) -> str | None:
        return self.token_text(self.token_id("eos"))

    @property
    def add_bos_token(self) -> bool | None:
        value = self.fields.get("tokenizer.ggml.add_bos_token")
        return bool(value) if value is not None else None

    def has_token(self, text: str) -> bool:
        return self.tokens is not None and text in self._token_set()

    def _token_set(self) -> set[str]:
        cached = getattr(self, "_token_set_cache", None)
        if cached is None:
            cached = set(self.tokens or ())
            object.__setattr__(self, "_token_set_cache", cached)
        return cached

    def describe(self) -> str:
        return f"{self.name or Path(self.path).name} ({self.architecture or 'unknown architecture'})"


class _Cursor:
    """Bounds-checked little-endian reader over a memory map."""

    def __init__(self, buf: mmap.mmap | bytes, path: str):
        self.buf = buf
        self.pos = 0
        self.size = len(buf)
        self.path = path

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise ModelError(
                f"{self.path}: GGUF header is cut off while reading {what} "
                f"(offset {self.pos}, file has {self.size} bytes); the file is truncated or corrupt"
            )

    def scalar(self, vtype: int, what: str) -> Any:
        n = _SCALAR_SIZES[vtype]
        self.need(n, what)
        (value,) = struct.unpack_from(_SCALAR_FORMATS[vtype], self.buf, self.pos)
        self.pos += n
        return value

    def u32(self, what: str) -> int:
        return self.scalar(_UINT32, what)

    def u64(self, what: str) -> int:
        return self.scalar(_UINT64, what)

    def raw_string(self, what: str, limit: int = _MAX_STRING_BYTES) -> bytes:
        length = self.u64(f"{what} length")
        if length > limit:
            raise ModelError(f"{self.path}: implausible string length {length} in {what}; the file is corrupt")
        self.need(length, what)
        data = bytes(self.buf[self.pos:self.pos + length])
        self.pos += length
        return data

    def string(self, what: str, limit: int = _MAX_STRING_BYTES) -> str:
        return self.raw_string(what, limit).decode("utf-8", errors="replace")

    def skip_string(self, what: str) -> None:
        length = self.u64(f"{what} length")
        self.need(length, what)
        self.pos += length


def _read_value(cur: _Cursor, vtype: int, key: str) -> tuple[Any, int | None]:
    """Returns (value, array_length); arrays not in _DECODED_ARRAYS give (None, n)."""
    if vtype in _SCALAR_FORMATS:
        return cur.scalar(vtype, key), None
    if vtype == _STRING:
        return cur.string(key), None
    if vtype != _ARRAY:
        raise ModelError(f"{cur.path}: unknown GGUF value type {vtype} for key {key!r}; the file is corrupt")
    etype = cur.u32(f"{key} element type")
    count = cur.u64(f"{key} element count")
    if count > _MAX_COUNT:
        raise ModelError(f"{cur.path}: implausible array length {count} for {key!r}; the file is corrupt")
    if etype in _SCALAR_FORMATS:
        nbytes = count * _SCALAR_SIZES[etype]
        cur.need(nbytes, key)
        cur.pos += nbytes
        return None, count
    if etype == _STRING:
        if key in _DECODED_ARRAYS:
            values = [cur.string(f"{key}[{i}]") for i in range(count)]
            return values, count
        for i in range(count):
            cur.skip_string(key)
        return None, count
    if etype == _ARRAY:
        for _ in range(count):
            _read_value(cur, _ARRAY, key)
        return None, count
    raise ModelError(f"{cur.path}: unknown GGUF array element type {etype} for key {key!r}; the file is corrupt")


def _tensor_nbytes(ggml_type: int, dims: list[int]) -> int | None:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        block_size, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError):
        return None
    n = 1
    for d in dims:
        n *= d
    return n // block_size * type_size


def read_gguf_meta(path: str | os.PathLike) -> GGUFMeta:
    """Parse and validate a GGUF file's header; raises ModelError with a clear reason."""
    path = str(path)
    if not os.path.exists(path):
        raise ModelError(f"model file not found: {path}")
    if os.path.isdir(path):
        raise ModelError(f"model path is a folder, not a GGUF file: {path}")
    try:
        size = os.path.getsize(path)
        handle = open(path, "rb")
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    with handle:
        if size < 24:
            raise ModelError(f"{path} is not a GGUF model file (only {size} bytes)")
        magic = handle.read(4)
        if magic != GGUF_MAGIC:
            raise ModelError(f"{path} is not a GGUF model file (starts with {magic!r}, expected b'GGUF')")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(buf, path, size)


def _parse(buf: mmap.mmap, path: str, size: int) -> GGUFMeta:
    cur = _Cursor(buf, path)
    cur.pos = 4
    version = cur.u32("version")
    if version not in SUPPORTED_VERSIONS:
        if version & 0xFFFF == 0 and version >> 16 in SUPPORTED_VERSIONS:
            raise ModelError(f"{path} is a big-endian GGUF file; only little-endian files are supported")
        raise ModelError(f"{path}: unsupported GGUF version {version} (supported: 2, 3)")
    n_tensors = cur.u64("tensor count")
    n_kv = cur.u64("metadata count")
    if n_tensors > 1 << 24 or n_kv > 1 << 24:
        raise ModelError(f"{path}: implausible GGUF counts (tensors={n_tensors}, keys={n_kv}); the file is corrupt")

    fields: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    tokens: list[str] | None = None
    for i in range(n_kv):
        key = cur.raw_string(f"metadata key #{i}", _MAX_KEY_BYTES).decode("utf-8", errors="replace")
        vtype = cur.u32(f"type of {key!r}")
        value, count = _read_value(cur, vtype, key)
        if count is not None:
            lengths[key] = count
            if key == "tokenizer.ggml.tokens":
                tokens = value
        else:
            fields[key] = value

    alignment = int(fields.get("general.alignment", DEFAULT_ALIGNMENT) or DEFAULT_ALIGNMENT)
    if alignment <= 0 or alignment & (alignment - 1):
        raise ModelError(f"{path}: invalid general.alignment {alignment}; the file is corrupt")

    data_end = 0
    for i in range(n_tensors):
        name = cur.string(f"tensor #{i} name", _MAX_KEY_BYTES)
        n_dims = cur.u32(f"tensor {name!r} rank")
        if n_dims > 8:
            raise ModelError(f"{path}: tensor {name!r} has rank {n_dims}; the file is corrupt")
        dims = [cur.u64(f"tensor {name!r} shape") for _ in range(n_dims)]
        ggml_type = cur.u32(f"tensor {name!r} type")
        offset = cur.u64(f"tensor {name!r} offset")
        nbytes = _tensor_nbytes(ggml_type, dims)
        if nbytes is not None:
            data_end = max(data_end, offset + nbytes)
        else:
            data_end = max(data_end, offset)

    data_offset = (cur.pos + alignment - 1) // alignment * alignment
    expected = data_offset + data_end
    if n_tensors == 0:
        raise ModelError(f"{path}: GGUF file contains no tensors (not a model)")
    if expected > size:
        raise ModelError(
            f"{path} is truncated: the header describes {expected:,} bytes of model data "
            f"but the file has {size:,} bytes ({100 * size / expected:.1f}% present); download it again"
        )
    return GGUFMeta(
        path=path,
        file_size=size,
        version=version,
        n_tensors=n_tensors,
        fields=fields,
        array_lengths=lengths,
        tokens=tokens,
        data_offset=data_offset,
        data_size=data_end,
    )
