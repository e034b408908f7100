"""eSMS wire formats: callback query strings and the four encodings of ``error_info``.

eSMS sends its callback as an HTTP GET with every value in the query string. ``error_info`` (Zalo
types only) has arrived in four encodings across the provider's doc versions:

1. ``QUOTED_RAW``: the JSON object serialised, then serialised again as a JSON string, put into
   the URL without percent-encoding (dlrmock escapes only what HTTP forbids in a request line);
2. ``QUOTED_PERCENT``: the same quoted JSON string, percent-encoded once, braces left raw
   (the ZNS example in the docs);
3. ``DOUBLE_PERCENT_TIMESTAMPED``: the object followed by ``____`` and a ``dd/MM/yyyy HH:mm:ss``
   timestamp, percent-encoded twice (the follower and journey examples);
4. ``PERCENT_JSON``: the plain object, percent-encoded once, braces left raw.

Values handled here are those a receiver sees after its web framework decoded the query string
once (``request.args['error_info']``); :func:`decode_error_info` also accepts the raw wire text,
and text glued after the JSON object (eSMS's ``GetCallback`` example ends its ``ErrorInfo`` with a
.NET exception message), which it keeps as the ``trailer``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ._errors import ErrorInfoError, PayloadError

__all__ = [
    "DecodedErrorInfo",
    "ErrorInfoEncoding",
    "append_query",
    "decode_error_info",
    "encode_error_info",
    "encode_query",
    "parse_callback",
]

TIMESTAMP_SEPARATOR = "____"
TIMESTAMP_FORMAT = "%d/%m/%Y %H:%M:%S"
# What http.client refuses in a request line, plus what would change the query's meaning.
_UNSAFE_RAW = re.compile(r"[\x00-\x20\x7f%&+#]|[^\x00-\x7f]")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


class ErrorInfoEncoding(enum.IntEnum):
    """How ``error_info`` is written into the callback URL (see the module docstring)."""

    QUOTED_RAW = 1
    QUOTED_PERCENT = 2
    DOUBLE_PERCENT_TIMESTAMPED = 3
    PERCENT_JSON = 4


@dataclass(frozen=True)
class DecodedErrorInfo:
    """The object inside an ``error_info`` value, plus what trailed it."""

    data: dict[str, Any]
    timestamp: datetime | None = None
    trailer: str | None = None
    """Text after the object, fully percent-decoded: what follows ``____`` (``timestamp`` is set
    when it parses as one), or text appended right after the JSON, such as the .NET message
    ``Object reference not set to an instance of an object.`` in eSMS's ``GetCallback`` example."""


def _compact(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def encode_error_info(
    obj: Mapping[str, Any],
    encoding: ErrorInfoEncoding | int = ErrorInfoEncoding.QUOTED_PERCENT,
    *,
    timestamp: datetime | None = None,
) -> str:
    """The ``error_info`` value as a receiver reads it after one query-string decode.

    Put it on the wire with :func:`encode_query`, which applies the outer layer of
    percent-encoding that ``encoding`` calls for.
    """
    encoding = ErrorInfoEncoding(encoding)
    text = _compact(obj)
    if encoding in (ErrorInfoEncoding.QUOTED_RAW, ErrorInfoEncoding.QUOTED_PERCENT):
        return json.dumps(text, ensure_ascii=False)
    if encoding is ErrorInfoEncoding.PERCENT_JSON:
        return text
    stamp = (timestamp or datetime(2024, 4, 24, 16, 58, 1)).strftime(TIMESTAMP_FORMAT)
    # The inner layer encodes { } " and spaces but leaves : , / alone, as the docs' examples do.
    return quote(text + TIMESTAMP_SEPARATOR + stamp, safe=":,/")


def _wire_value(name: str, value: str, packed: str | None, raw_error_info: bool) -> str:
    if name == packed:
        if raw_error_info:
            return _UNSAFE_RAW.sub(lambda m: quote(m.group(0), safe=""), value)
        return quote(value, safe="{}")
    return quote(value, safe="")


def encode_query(
    params: Mapping[str, str],
    *,
    error_info_encoding: ErrorInfoEncoding | int | None = None,
    packed: str | None = "error_info",
) -> str:
    """The query string for ``params``, in their order, as eSMS puts it on the wire.

    ``packed`` names the field written in ``error_info_encoding`` (its outer layer of
    percent-encoding); every other value is percent-encoded once."""
    raw = error_info_encoding is not None and int(error_info_encoding) == 1
    return "&".join(
        f"{quote(name, safe='')}={_wire_value(name, str(value), packed, raw)}"
        for name, value in params.items()
    )


def append_query(url: str, query: str) -> str:
    """``url`` with ``query`` appended: with ``&`` when it already has a query string."""
    base, _, fragment = url.partition("#")
    if "?" in base:
        joined = base + ("" if base.endswith(("?", "&")) else "&") + query
    else:
        joined = base + "?" + query
    return joined + ("#" + fragment if fragment else "")


def parse_callback(url_or_query: str) -> dict[str, str]:
    """The parameter map of an eSMS callback, from a whole URL or just its query string.

    Values are decoded once, as a web framework would; blank values are kept (``RequestId=``).
    """
    text = url_or_query.strip()
    if not text:
        raise PayloadError(
            "empty callback: expected a URL or a query string such as 'SMSID=…&TypeId=2'"
        )
    if "://" in text or text.startswith("/"):
        try:
            query = urlsplit(text).query
        except ValueError as exc:  # e.g. 'http://[::1': an unclosed IPv6 bracket
            raise PayloadError(f"callback URL {text[:80]!r} does not parse: {exc}") from None
        if not query:
            raise PayloadError(f"callback URL {text[:80]!r} has no query string")
    else:
        query = text[1:] if text.startswith("?") else text
    if "=" not in query:
        raise PayloadError(f"{text[:80]!r} is not a query string: no NAME=VALUE pair")
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        # A repeated parameter keeps its first value, as most frameworks' args.get() does.
        params.setdefault(name, value)
    return params


def _as_object(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def decode_error_info(value: str) -> DecodedErrorInfo:
    """Decode an ``error_info`` value in any of the four encodings.

    Accepts the value as a framework hands it over (decoded once) or as it stands on the wire.
    Raises :class:`ErrorInfoError` naming the value when no encoding fits.
    """
    if not isinstance(value, str):
        raise ErrorInfoError(repr(value), f"expected a string, got {type(value).__name__}")
    text = value.strip()
    trailer: str | None = None
    for _ in range(6):
        if not text:
            raise ErrorInfoError(value, "it is empty")
        obj = _as_object(text)
        if isinstance(obj, str):  # a JSON string holding the serialised object
            text = obj.strip()
            continue
        if isinstance(obj, dict):
            return DecodedErrorInfo(obj, _parse_stamp(trailer), trailer)
        if obj is not None:
            raise ErrorInfoError(value, f"it holds a JSON {type(obj).__name__}, not an object")
        if trailer is None and TIMESTAMP_SEPARATOR in unquote(unquote(text)):
            head, _, tail = text.rpartition(TIMESTAMP_SEPARATOR)
            if not head:  # the separator itself is still encoded: peel a layer first
                text = unquote(text)
                continue
            trailer = _fully_unquoted(tail)
            text = head
            continue
        if trailer is None:
            head_obj, rest = _leading_object(text)
            if head_obj is not None:
                return DecodedErrorInfo(head_obj, None, _fully_unquoted(rest))
        if _PERCENT.search(text):
            text = unquote(text)
            continue
        break
    raise ErrorInfoError(
        value, "not JSON, a quoted JSON string, or a percent-encoded form of either"
    )


def _leading_object(text: str) -> tuple[dict[str, Any] | None, str]:
    """A JSON object at the start of ``text`` followed by other text, and that text."""
    if not text.startswith("{"):
        return None, ""
    try:
        obj, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None, ""
    rest = text[end:]
    if not isinstance(obj, dict) or not rest.strip():
        return None, ""
    return obj, rest


def _fully_unquoted(text: str) -> str:
    for _ in range(3):
        if not _PERCENT.search(text):
            break
        text = unquote(text)
    return text


def _parse_stamp(trailer: str | None) -> datetime | None:
    if trailer is None:
        return None
    try:
        return datetime.strptime(trailer.strip(), TIMESTAMP_FORMAT)
    except ValueError:
        return None
