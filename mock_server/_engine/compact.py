"""Packing for what the journal keeps of a finished run: data as compact JSON, and bytes
compressed (zstd) against a preset dictionary per family (:meth:`Run.compact` compresses a
whole run, marshalled, against the first run of its scenario).

A generated receipt as a dict of dicts costs about six times its JSON text, and receipts of one
kind share most of their text (field names, fixed values), so a body compressed with the first
body of its kind as the dictionary shrinks to a fifth. Nothing is lost: :func:`decompress`
gives back the exact bytes, :func:`unpack` the dict.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import zstandard

Packed = bytes | dict[str, Any]
"""Compact JSON bytes, or, for data that is not plain
JSON, the dict itself. Data with top-level datetimes is packed as ``[[keys], {data}]``."""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def pack(data: Mapping[str, Any], same_as: bytes = b"") -> Packed:
    """``data`` as compact JSON; ``same_as`` (e.g. the request body) when that is the same text.

    Top-level datetimes (a message's ``sent_at``) come back as datetimes; anything else that is
    not JSON keeps the data as it is.
    """
    dates = [k for k, v in data.items() if isinstance(v, datetime)]
    try:
        if dates:  # a JSON object starts with "{", this with "["
            return _dumps([dates, {**data, **{k: data[k].isoformat() for k in dates}}]).encode()
        blob = _dumps(data).encode()
    except (TypeError, ValueError):
        return dict(data)  # not JSON: kept as it is (a shallow copy, as a dict)
    return same_as if blob == same_as else blob


def unpack(packed: Packed) -> dict[str, Any]:
    """The dict :func:`pack` kept (a fresh one, unless it was kept as it was)."""
    if not isinstance(packed, bytes):
        return packed
    blob = packed
    if blob[:1] != b"[":
        result: dict[str, Any] = json.loads(blob)
        return result
    dates, result = json.loads(blob)
    for key in dates:
        result[key] = datetime.fromisoformat(result[key])
    return result


# ---------------------------------------------------------------------------------- compress
_HEADER = 2
_NO_DICTIONARY = 0xFFFF
_MAX_DICTIONARIES = 4096
_MAX_DICTIONARY_BYTES = 32768
_LEVEL = -1
"""zstd's first fast level: about 2 µs for a run of one receipt (level 1 takes 5), and against
the dictionary the run still shrinks to about a quarter."""
_dictionaries: list[bytes] = []
_numbers: dict[str, int] = {}
_codecs: dict[int, tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]] = {}
_lock = threading.Lock()
"""Guards the tables, and each use of a codec (zstandard's are not safe to share between
threads; the engine's loop is the only heavy user, so the lock is never contended for long)."""


def _dictionary_for(family: str, sample: bytes) -> int:
    """The number of ``family``'s preset dictionary: its first sample (kept for good)."""
    number = _numbers.get(family)
    if number is not None:
        return number
    with _lock:
        number = _numbers.get(family)
        if number is None:
            if len(_dictionaries) >= _MAX_DICTIONARIES:
                return _NO_DICTIONARY
            number = _numbers[family] = len(_dictionaries)
            _dictionaries.append(sample[-_MAX_DICTIONARY_BYTES:])
        return number


def _codec(number: int) -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    """The compressor and decompressor for dictionary ``number`` (the lock held)."""
    codec = _codecs.get(number)
    if codec is None:
        options: dict[str, Any] = {}
        if number != _NO_DICTIONARY:
            # The sample as raw content: zstd matches against it as if it came first.
            dictionary = zstandard.ZstdCompressionDict(
                _dictionaries[number], dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
            dictionary.precompute_compress(level=_LEVEL)
            options["dict_data"] = dictionary
        codec = _codecs[number] = (
            zstandard.ZstdCompressor(level=_LEVEL, write_checksum=False, write_dict_id=False,
                                     write_content_size=True, **options),
            zstandard.ZstdDecompressor(**options),
        )
    return codec


def compress(data: bytes, family: str) -> bytes | None:
    """``data`` compressed against ``family``'s dictionary, as plain bytes (a header, then a
    zstd frame; :func:`decompress` gives ``data`` back), or None when that would not be
    smaller."""
    if len(data) < 64:
        return None
    number = _dictionary_for(family, data)
    with _lock:
        packed: bytes = _codec(number)[0].compress(data)
    if len(packed) + _HEADER >= len(data):
        return None
    return number.to_bytes(2, "big") + packed


def decompress(blob: bytes) -> bytes:
    """The bytes :func:`compress` was given."""
    number = int.from_bytes(blob[:_HEADER], "big")
    with _lock:
        data: bytes = _codec(number)[1].decompress(blob[_HEADER:])
    return data
