"""NXCloud's Viber send API, ``POST /api/viber/mt``; its receipts are the ``nxcloud.viber`` family.

Signed JSON (``bizType`` 7, ``action`` ``mt``); answers ``{"code": 0, "message": "Success",
"data": {"requestId": "<32 hex>"}}``. The request has no webhook field: receipts go to the
application's configured ``dr_webhook``, which dlrmock takes from ``nxcloud_default_webhook`` /
``default_webhook``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

from ._exchange import Answer, Exchange, Reject
from ._nxcloud_family import (
    Context,
    Endpoint,
    Recipient,
    accept,
    json_object,
)
from .nxcloud_signed import Signing, authenticate, nxcloud_error

__all__ = ["ENDPOINTS", "SCENARIOS"]

FAMILY = "nxcloud.viber"
SIGNING = Signing("7", "mt", "the Viber API")
SCENARIOS: Mapping[str, str | None] = {
    "delivered": "nxcloud.viber.success_then_delivered",
    "failed": "nxcloud.viber.failed",
    "no_receipt": "nxcloud.viber.success_never_delivered",
    "duplicate": "nxcloud.viber.duplicate_delivered",
    "out_of_order": "nxcloud.viber.delivered_before_success",
    # [choice] NXCloud documents no retry for Viber receipts: a lost answer is not repeated.
    "lost_ack": "nxcloud.viber.delivered_ack_lost",
}
"""Outcome → built-in scenario of a Viber send."""

_PHONE = re.compile(r"^\+?[1-9][0-9]{7,14}$")


def mt(context: Context, exchange: Exchange) -> Answer:
    authenticate(exchange, context.settings, context.state.clock, SIGNING)
    document = json_object(exchange, "nxcloud.viber.mt.request")
    phone: str = document["phone"]
    if not _PHONE.fullmatch(phone):
        raise Reject(9002, f"phone number error: {phone!r}; digits with the country code, "
                           "e.g. 79123456730")
    appkey = context.settings.appkey
    if appkey is not None and document["appkey"] != appkey:
        raise Reject(9003, f"customer APP {document['appkey']!r} missing or unavailable "
                           "(dlrmock accepts the appkey setting)")
    request_id = secrets.token_hex(16)
    data = document["messageData"]
    recipient = Recipient(phone, request_id, {
        "requestId": request_id, "phone": phone.lstrip("+"),
        "rateType": data.get("rateType", "Transactional")})
    run_ids, explain = accept(
        context, family=FAMILY, api="viber.mt", sent_id=request_id, recipients=[recipient],
        callback=context.settings.webhook_for("nxcloud"), scenarios=SCENARIOS, reject_code=9000,
        values={"content": str(data.get("text", "")), "template": "", "request_id": ""})
    return Answer({"code": 0, "message": "Success", "data": {"requestId": request_id}},
                  message_ids=[request_id], run_ids=run_ids, explain=explain)


ENDPOINTS = (
    Endpoint("POST", "/api/viber/mt", "nxcloud.viber.mt", FAMILY, "nxcloud.viber.mt.request",
             nxcloud_error, 9000, 1002, mt, answer="nxcloud.viber.mt.response", signing=SIGNING),
)
