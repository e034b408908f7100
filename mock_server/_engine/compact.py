"""Packing for what the journal keeps of a finished run: data as compact JSON, and bytes
deflated against a preset dictionary per family (:meth:`Run.compact` deflates a whole run,
marshalled, against the first run of its scenario).

A generated receipt as a dict of dicts costs about six times its JSON text, and receipts of one
kind share most of their text (field names, fixed values), so a body deflated with the first
body of its kind as the preset dictionary shrinks to a fifth. Nothing is lost: :func:`inflate`
gives back the exact bytes, :func:`unpack` the dict.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

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


# ----------------------------------------------------------------------------------- deflate
_HEADER = 3
_NO_DICTIONARY = 0xFFFF
_MAX_DICTIONARIES = 4096
_dictionaries: list[bytes] = []
_numbers: dict[str, int] = {}
_lock = threading.Lock()


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
            _dictionaries.append(sample[-32768:])
        return number


_primed: dict[tuple[int, int], Any] = {}
"""Compressors with a family's dictionary already loaded, by (dictionary, window bits)."""
_MAX_PRIMED = 64
_MAX_PRIMED_WBITS = 12
"""Small windows only (a primed state of 2**12 bytes costs ~24 KB): what runs of a few receipts
and single receipts use."""


def _compressor(number: int, wbits: int, zdict: bytes) -> Any:
    """A fresh deflate state for ``zdict`` (dictionary ``number``) and ``wbits``: a copy of a
    primed one where there is one (copying costs less than loading the dictionary anew); the
    output is the same."""
    key = (number, wbits)
    primed = _primed.get(key)
    if primed is None:
        primed = zlib.compressobj(1, zlib.DEFLATED, -wbits, 4, zlib.Z_DEFAULT_STRATEGY,
                                  *((zdict,) if zdict else ()))
        if wbits > _MAX_PRIMED_WBITS or len(_primed) >= _MAX_PRIMED:
            return primed  # used once, as it is
        _primed[key] = primed
    return primed.copy()


def deflate(data: bytes, family: str) -> bytes | None:
    """``data`` deflated against ``family``'s dictionary, as plain bytes (a header, then the
    stream; :func:`inflate` gives ``data`` back), or None when that would not be smaller."""
    if len(data) < 64:
        return None
    number = _dictionary_for(family, data)
    zdict = _dictionaries[number] if number != _NO_DICTIONARY else b""
    # The smallest window that still reaches back over the dictionary, and a small hash table:
    # setting up a default deflate state costs five times more than compressing a receipt.
    wbits = min(max((len(zdict) + len(data)).bit_length(), 10), 15)
    compressor = _compressor(number, wbits, zdict)
    deflated: bytes = compressor.compress(data) + compressor.flush()
    if len(deflated) + _HEADER >= len(data):
        return None
    return number.to_bytes(2, "big") + bytes((wbits,)) + deflated


def inflate(blob: bytes) -> bytes:
    """The bytes :func:`deflate` was given."""
    number = int.from_bytes(blob[:2], "big")
    zdict = _dictionaries[number] if number != _NO_DICTIONARY else b""
    decompressor = zlib.decompressobj(-blob[2], *((zdict,) if zdict else ()))
    return decompressor.decompress(blob[_HEADER:]) + decompressor.flush()
