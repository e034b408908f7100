"""NXCloud's request signature: ``md5`` over the sorted auth headers, the raw body and the secret.

``sign = lowercase hex md5("accessKey=…&action=…&bizType=…&ts=…" + "&body=" + RAW_BODY +
"&accessSecret=" + SECRET)``, the ``&body=`` part left out when the body is empty. The body is
the exact bytes sent, so whitespace and key order matter; these functions never re-serialise it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from urllib.parse import quote

__all__ = [
    "SIGNED_HEADERS",
    "diagnose",
    "header_safe",
    "masked_string_to_sign",
    "sign",
    "string_to_sign",
]

SIGNED_HEADERS = ("accessKey", "action", "bizType", "ts")
"""The headers that are signed, in the order they are signed (sorted by name, ASCII)."""

MASK = "******"
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def _header(headers: Mapping[str, str], name: str) -> str:
    """``headers[name]``, the name matched case-insensitively; ``""`` when absent."""
    if name in headers:
        return headers[name]
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return ""


def _prefix(headers: Mapping[str, str]) -> bytes:
    pairs = sorted((name, _header(headers, name)) for name in SIGNED_HEADERS)
    return "&".join(f"{name}={value}" for name, value in pairs).encode("utf-8")


def string_to_sign(headers: Mapping[str, str], body: bytes, secret: str) -> bytes:
    """The exact bytes whose md5 is the signature (header names matched case-insensitively)."""
    parts = [_prefix(headers)]
    if body:
        parts += [b"&body=", body]
    parts += [b"&accessSecret=", secret.encode("utf-8")]
    return b"".join(parts)


def sign(headers: Mapping[str, str], body: bytes, secret: str) -> str:
    """The signature NXCloud expects in the ``sign`` header: lowercase hex md5."""
    return hashlib.md5(string_to_sign(headers, body, secret), usedforsecurity=False).hexdigest()


def masked_string_to_sign(
    headers: Mapping[str, str], body: bytes, *, max_body: int | None = 4096
) -> str:
    """The string to sign as text, the secret replaced by ``******``, for people to read.

    A body longer than ``max_body`` bytes keeps its head and says how much was left out, e.g.
    ``…{"appkey":"k",…[+12000 bytes]``; bytes that are not UTF-8 show as U+FFFD.
    """
    text = _prefix(headers).decode("utf-8", "replace")
    if body:
        shown = body if max_body is None or len(body) <= max_body else body[:max_body]
        # Cut on a character boundary: drop a partial UTF-8 sequence at the end.
        body_text = shown.decode("utf-8", "ignore" if shown is not body else "replace")
        if shown is not body:
            body_text += f"…[+{len(body) - len(shown)} bytes]"
        text += "&body=" + body_text
    return text + "&accessSecret=" + MASK


def header_safe(text: str) -> str:
    """``text`` percent-encoded as UTF-8 where an HTTP header can't carry it as is.

    Printable ASCII stays (so a plain JSON body stays readable); ``%``, control characters and
    everything beyond ASCII are encoded. ``urllib.parse.unquote`` gives the text back.
    """
    return quote(text, safe=_HEADER_SAFE, errors="replace")


def diagnose(headers: Mapping[str, str], body: bytes, secret: str, given: str) -> str | None:
    """A likely cause when ``given`` is not the signature of this request, or ``None``.

    Tries the usual mistakes: upper-case hex, the body re-serialised (other spacing, key
    order or escaping than the bytes sent), the ``&body=`` part kept for an empty body or
    dropped for a non-empty one, the secret left out.
    """
    given_lower = given.strip().lower()
    if given != given_lower and given_lower == sign(headers, body, secret):
        return "the signature is right but must be lower-case hex"
    prefix = _prefix(headers)
    candidates: list[tuple[str, bytes]] = [
        ("without the '&body=' part", prefix + b"&accessSecret=" + secret.encode()),
        ("without '&accessSecret=<secret>'", prefix + (b"&body=" + body if body else b"")),
    ]
    if not body:
        candidates.append(("with an empty '&body=' part (leave it out when the body is empty)",
                           prefix + b"&body=&accessSecret=" + secret.encode()))
    try:
        document = json.loads(body) if body else None
    except (ValueError, RecursionError):
        document = None
    if document is not None:
        variants = {
            "compact JSON": {"separators": (",", ":"), "ensure_ascii": False},
            "JSON with spaces after ',' and ':'": {"ensure_ascii": False},
            "compact JSON with \\u escapes": {"separators": (",", ":")},
            "JSON with spaces and \\u escapes": {},
        }
        for label, options in variants.items():
            for sort_keys in (False, True):
                try:
                    text = json.dumps(document, sort_keys=sort_keys, **options)  # type: ignore[arg-type]
                except (TypeError, ValueError, RecursionError):
                    continue
                encoded = text.encode("utf-8", "replace")
                if encoded == body:
                    continue
                name = label + (" with sorted keys" if sort_keys else "")
                candidates.append((
                    f"over the body re-serialised as {name}, not over the bytes actually sent",
                    string_to_sign(headers, encoded, secret),
                ))
    for reason, data in candidates:
        if hashlib.md5(data, usedforsecurity=False).hexdigest() == given_lower:
            return f"the given sign was computed {reason}"
    return None
