"""What every signed NXCloud API shares: the auth headers, the MD5 signature, the error document.

``authenticate`` checks ``accessKey``, ``ts``, ``bizType``, ``action`` and ``sign`` over the raw
body, each API passing its own :class:`Signing` (Zalo 9 / mt, SMS 3 / mtsend, Viber 7 / mt,
WhatsApp 2 / mt); the endpoint tables carry the same object, so ``dlrmock openapi`` documents
exactly what is checked.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request

from ._exchange import BODY_KEPT, Exchange, Reject, trace_id
from ._settings import SendSettings
from .signature import SIGNED_HEADERS, diagnose, header_safe, masked_string_to_sign, sign

__all__ = [
    "AUTH_HEADERS",
    "EXPECTED_SIGN_HEADER",
    "SIGNED_STRING_HEADER",
    "ZALO_SIGNING",
    "Signing",
    "authenticate",
    "nxcloud_error",
]

SIGNED_STRING_HEADER = "X-Dlrmock-Signed-String"
"""On a 1003 answer: the string dlrmock signed, secret masked, percent-encoded (UTF-8)."""
EXPECTED_SIGN_HEADER = "X-Dlrmock-Expected-Sign"
"""On a 1003 answer: the signature dlrmock expected."""

AUTH_HEADERS = ("accessKey", "ts", "bizType", "action", "sign")
_HEADER_BODY = 2048
"""Body bytes shown in the signed-string header and the 1003 message (the capture keeps 64 KiB)."""


@dataclass(frozen=True)
class Signing:
    """The ``bizType`` and ``action`` headers a signed NXCloud API requires."""

    biz_type: str
    action: str
    api: str
    """Names the API family in error messages (``Zalo APIs``, ``the SMS APIs``)."""


ZALO_SIGNING = Signing("9", "mt", "Zalo APIs")
"""Every Zalo API, ``checkJourneyToken`` included: the docs write ``action`` ``mt`` for all."""


def nxcloud_error(code: int | str, message: str) -> dict[str, Any]:
    """NXCloud's error document."""
    return {"code": int(code), "message": message, "traceId": trace_id()}


def authenticate(
    exchange: Exchange,
    settings: SendSettings,
    clock: Callable[[], float],
    signing: Signing,
) -> None:
    """Check the signed-API headers of the current request; :class:`Reject` (1001–1005) if not."""
    biz_type, action, api = signing.biz_type, signing.action, signing.api
    headers = request.headers  # werkzeug matches header names case-insensitively
    missing = [name for name in AUTH_HEADERS if not headers.get(name, "").strip()]
    if missing:
        raise Reject(
            1001,
            f"missing header parameter {missing[0]!r} (NXCloud needs {', '.join(AUTH_HEADERS)})",
        )
    values = {name: headers[name] for name in SIGNED_HEADERS}
    body = exchange.body
    exchange.signed_string = masked_string_to_sign(values, body, max_body=BODY_KEPT)
    if values["bizType"] != biz_type:
        raise Reject(1002, f'bad bizType {values["bizType"]!r}: {api} need "{biz_type}"')
    if values["action"] != action:
        raise Reject(1002, f'bad action {values["action"]!r}: {api} need "{action}"')
    if not hmac.compare_digest(values["accessKey"].encode(), settings.access_key.encode()):
        raise Reject(
            1005,
            f"no permission: unknown accessKey {values['accessKey']!r} "
            "(dlrmock accepts the access_key setting, by default 'dlrmock-access-key')",
        )
    ts = values["ts"].strip()
    if not ts.isdigit() or not ts.isascii() or len(ts) > 19:  # int() refuses 4 301 digits
        raise Reject(
            1004, f"bad ts {values['ts']!r}: milliseconds since the epoch, e.g. 1655710885431"
        )
    now = int(clock() * 1000)
    skew = abs(now - int(ts))
    if skew > settings.max_skew_ms:
        raise Reject(
            1004,
            f"ts {ts} is {skew} ms away from dlrmock's clock ({now}); "
            f"at most {settings.max_skew_ms} ms is allowed",
        )
    expected = sign(values, body, settings.access_secret)
    given = headers["sign"].strip()
    if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
        shown = masked_string_to_sign(values, body, max_body=_HEADER_BODY)
        hint = diagnose(values, body, settings.access_secret, given)
        raise Reject(
            1003,
            f"signature mismatch: got {given!r}, expected {expected!r}, the md5 of "
            f"(secret masked) {shown}"
            + (f" — {hint}" if hint else "")
            + f"; the same string is in the {SIGNED_STRING_HEADER} response header",
            headers={SIGNED_STRING_HEADER: header_safe(shown), EXPECTED_SIGN_HEADER: expected},
        )
