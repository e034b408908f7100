"""NXCloud's SMS send APIs, whose delivery reports are the ``nxcloud.sms`` family.

- ``POST /api/sms/mtsend``: the legacy form API (``appkey`` + ``secretkey`` in the form body, no
  signature); answers ``{"result": "Request succeeded", "messageid": "…", "code": "0"}`` with
  string codes (1 wrong key, 2 parameter error, 4 empty content, 5 too long, 6 bad number,
  8 bad sender id).
- ``POST /api/sms/mtsend_v2``: signed JSON (``bizType`` 3, ``action`` ``mtsend``), camelCase body,
  the legacy answer shape (auth errors 1001–1005 as string codes too).
- ``POST /v1/sms/mt``: the same signed request, answered in the signed-API envelope
  ``{"code": 0, "message": "Success", "data": {"messageid": "…"}}`` [choice: the docs do not show
  it], errors ``{"code": n, "message": "…", "traceId": "…"}`` (9000 parameter, 9002 phone,
  9003 app).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import request

from .._registry import schema as schema_document
from ._exchange import Answer, Exchange, Reject, first_problem
from ._nxcloud_family import (
    Context,
    Endpoint,
    Recipient,
    accept,
    json_object,
)
from .nxcloud_signed import Signing, authenticate, nxcloud_error

__all__ = ["ENDPOINTS", "SCENARIOS", "check_app", "checked_form", "form_fields", "legacy_error",
           "segments"]

FAMILY = "nxcloud.sms"
SIGNING = Signing("3", "mtsend", "the SMS APIs")
SCENARIOS: Mapping[str, str | None] = {
    "delivered": "nxcloud.sms.delivered",
    "failed": "nxcloud.sms.undelivered",
    "no_receipt": None,
    "duplicate": "nxcloud.sms.duplicate_delivered",
    # One report per message: nothing to reorder.
    "out_of_order": "nxcloud.sms.delivered",
    "lost_ack": "nxcloud.sms.delivered_ack_lost",
}
"""Outcome → built-in scenario of an SMS send (``None``: no report at all)."""

LEGACY_TEXTS: Mapping[str, str] = {
    "0": "Request succeeded",
    "1": "Application unavailable or incorrect key",
    "2": "Parameter error or empty",
    "3": "Insufficient balance",
    "4": "Content is empty or contains illegal keywords",
    "5": "Content too long",
    "6": "Invalid number",
    "8": "Sender id must be 1-20 digits or letters",
    "88": "Request failed",
    "99": "System error",
}
"""The ``result`` text of each legacy code: code 0 and 1 verbatim from the docs' examples, the
others NXCloud's code table in English (the wire may carry Chinese text: key on ``code``)."""

_PHONE = re.compile(r"^\+?[1-9][0-9]{6,19}$")
_SENDER = re.compile(r"^[0-9A-Za-z]{1,20}$")
_SYS_MESSAGE_ID = re.compile(r"^[0-9A-Za-z-]{10,50}$")
MAX_CONTENT = 1000


_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


def segments(content: str) -> int:
    """Billed SMS segments (the report's ``size``): GSM-7 text 160 / 153 characters a part,
    anything else UCS-2, 70 / 67."""
    single, part = (160, 153) if all(c in _GSM7 for c in content) else (70, 67)
    return 1 if len(content) <= single else -(-len(content) // part)


def legacy_error(code: int | str, message: str) -> dict[str, Any]:
    """The legacy error document, key order as the docs' failure example."""
    text = LEGACY_TEXTS.get(str(code), f"Authentication failed ({code})")
    return {"result": text, "code": str(code), "messageid": ""}


def _legacy_success(messageid: str) -> dict[str, Any]:
    return {"result": LEGACY_TEXTS["0"], "messageid": messageid, "code": "0"}


class _Codes:
    """The error codes of one answer shape."""

    def __init__(self, *, params: int | str, key: int | str, content: int | str,
                 long: int | str, phone: int | str, sender: int | str) -> None:
        self.params, self.key, self.content = params, key, content
        self.long, self.phone, self.sender = long, phone, sender


LEGACY_CODES = _Codes(params="2", key="1", content="4", long="5", phone="6", sender="8")
V1_CODES = _Codes(params=9000, key=9003, content=9000, long=9000, phone=9002, sender=9000)


def check_app(context: Context, appkey: str, secretkey: str | None, code: int | str) -> None:
    """Refuse (``code``) an ``appkey`` / ``secretkey`` pair the ``sms_apps`` setting does not
    list; an empty setting accepts any pair. ``secretkey`` ``None``: the key alone (signed APIs).
    """
    apps = context.settings.sms_apps
    if not apps:
        return
    if appkey not in apps:
        raise Reject(code, f"unknown SMS application appkey {appkey!r}; the sms_apps "
                           f"setting lists {', '.join(sorted(apps))}")
    if secretkey is not None and secretkey != apps[appkey]:
        raise Reject(code, f"wrong secretkey for SMS application {appkey!r} "
                           "(the sms_apps setting maps appkey to secretkey)")


def form_fields(exchange: Exchange, code: int | str) -> dict[str, str]:
    """The form body's fields (an empty body: none); :class:`Reject` (``code``) for JSON or a
    body that is not UTF-8. Kept as the captured send's ``json``."""
    content_type = request.headers.get("Content-Type", "")
    if "json" in content_type:
        raise Reject(code, f"Content-Type {content_type!r}: this API takes an "
                           "application/x-www-form-urlencoded body, not JSON")
    try:
        text = exchange.body.decode("utf-8")
    except UnicodeDecodeError:
        raise Reject(code, "the form body is not UTF-8 text") from None
    fields = dict(parse_qsl(text, keep_blank_values=True))
    exchange.json = fields
    return fields


def checked_form(exchange: Exchange, schema: str, code: int | str) -> dict[str, str]:
    """:func:`form_fields`, valid against ``schema`` (else :class:`Reject` ``code`` naming the
    problem and the required fields)."""
    fields = form_fields(exchange, code)
    problem = first_problem(schema, fields)
    if problem is not None:
        required = schema_document(schema).get("required", [])
        raise Reject(code, f"parameter error: {problem} (the API needs the form fields "
                           f"{', '.join(required)})")
    return fields


def _send(context: Context, fields: Mapping[str, str], codes: _Codes, *, api: str,
          names: Mapping[str, str], answer: Callable[[str], dict[str, Any]]) -> Answer:
    """Check the message fields, accept the send, play the reports; the answer.

    ``names`` maps the legacy field names to the ones this API uses (``dr_url`` → ``drUrl``).
    """
    def name(legacy: str) -> str:
        return names.get(legacy, legacy)

    phones = [p.strip() for p in fields[name("phone")].split(",") if p.strip()]
    if not phones:
        raise Reject(codes.params, f"{name('phone')} is empty: give the number with its "
                                   "country code, e.g. 84912345678")
    for phone in phones:
        if not _PHONE.fullmatch(phone):
            raise Reject(codes.phone, f"invalid number {phone!r}: digits with the country "
                                      "code, e.g. 84912345678 (several: comma-separated)")
    content = fields[name("content")]
    if not content.strip():
        raise Reject(codes.content, f"{name('content')} is empty")
    if len(content) > MAX_CONTENT:
        raise Reject(codes.long, f"{name('content')} has {len(content)} characters; at most "
                                 f"{MAX_CONTENT}")
    sender = fields.get(name("source_address"))
    if sender and not _SENDER.fullmatch(sender):
        raise Reject(codes.sender, f"{name('source_address')} {sender!r} must be 1-20 digits "
                                   "or letters")
    sys_id = fields.get(name("sys_messageid"))
    if sys_id and not _SYS_MESSAGE_ID.fullmatch(sys_id):
        raise Reject(codes.params, f"{name('sys_messageid')} {sys_id!r} must be 10-50 "
                                   "characters of 0-9, a-z, A-Z and '-'")
    single = len(phones) == 1
    messageid = sys_id if sys_id and single else secrets.token_hex(16)
    # Any dr_url is accepted, as NXCloud does; one dlrmock cannot deliver to is journaled
    # 'blocked' with the reason.
    dr_url = fields.get(name("dr_url")) or None
    # [doc] dr_url and ext apply to single-number sends only; a batch goes to the app's URL.
    callback = (dr_url if single else None) or context.settings.webhook_for("nxcloud")
    ext = fields.get(name("ext")) if single else None
    recipients = []
    for phone in phones:
        # [doc] each report of a batch: the answered messageid + "-" + 10 random digits.
        report_id = messageid if single else f"{messageid}-{secrets.randbelow(10**10):010d}"
        recipients.append(Recipient(phone, report_id, {
            "messageid": report_id, "phone": phone.lstrip("+"), "ext": ext,
            "sms_size": segments(content)}))
    run_ids, explain = accept(
        context, family=FAMILY, api=api, sent_id=messageid, recipients=recipients,
        callback=callback, scenarios=SCENARIOS, reject_code=codes.params,
        values={"content": content, "template": "", "request_id": ext or ""},
        # What the look-ups (/api/sms/get) answer about it besides its receipts.
        sent_fields={"content": content, "sender": sender or "",
                     "appkey": fields.get("appkey", fields.get("appKey", "")),
                     "report_ids": [r.message_id for r in recipients]})
    return Answer(answer(messageid), message_ids=[messageid], run_ids=run_ids, explain=explain)


# -- POST /api/sms/mtsend
def mtsend(context: Context, exchange: Exchange) -> Answer:
    """The legacy form API."""
    fields = checked_form(exchange, "nxcloud.sms.mtsend.request", LEGACY_CODES.params)
    check_app(context, fields["appkey"], fields["secretkey"], LEGACY_CODES.key)
    return _send(context, fields, LEGACY_CODES, api="sms.mtsend", names={},
                 answer=_legacy_success)


# -- POST /api/sms/mtsend_v2 and /v1/sms/mt
_SIGNED_NAMES = {
    "phone": "phone", "content": "content", "source_address": "sourceAddress",
    "sys_messageid": "sysMessageId", "dr_url": "drUrl", "ext": "ext",
}


def _signed(context: Context, exchange: Exchange, codes: _Codes, api: str,
            answer: Callable[[str], dict[str, Any]]) -> Answer:
    authenticate(exchange, context.settings, context.state.clock, SIGNING)
    document = json_object(exchange, "nxcloud.sms.mt.request", code=codes.params,
                           body_code=codes.params)
    check_app(context, document["appKey"], None, codes.key)
    fields = {k: str(v) for k, v in document.items() if v is not None and not isinstance(v, dict)}
    return _send(context, fields, codes, api=api, names=_SIGNED_NAMES, answer=answer)


def mtsend_v2(context: Context, exchange: Exchange) -> Answer:
    """Signed request, legacy answer."""
    return _signed(context, exchange, LEGACY_CODES, "sms.mtsend_v2", _legacy_success)


def v1_mt(context: Context, exchange: Exchange) -> Answer:
    """Signed request, signed-API answer."""
    return _signed(context, exchange, V1_CODES, "sms.mt", lambda messageid: {
        "code": 0, "message": "Success", "data": {"messageid": messageid}})


ENDPOINTS = (
    Endpoint("POST", "/api/sms/mtsend", "nxcloud.sms.mtsend", FAMILY, "nxcloud.sms.mtsend.request",
             legacy_error, "2", "2", mtsend, body="form", answer="nxcloud.sms.mtsend.response"),
    Endpoint("POST", "/api/sms/mtsend_v2", "nxcloud.sms.mtsend_v2", FAMILY,
             "nxcloud.sms.mt.request", legacy_error, "2", "2", mtsend_v2,
             answer="nxcloud.sms.mtsend.response", signing=SIGNING),
    Endpoint("POST", "/v1/sms/mt", "nxcloud.sms.mt", FAMILY, "nxcloud.sms.mt.request",
             nxcloud_error, 9000, 1002, v1_mt, answer="nxcloud.sms.mt.response", signing=SIGNING),
)
