"""NXCloud's WhatsApp send API, ``POST /api/wa/mt``; its status webhooks are ``nxcloud.whatsapp``.

Signed JSON (``bizType`` 2, ``action`` ``mt``), Meta Cloud-API message shapes; answers
``{"code": 0, "data": {"messaging_product": "whatsapp", "messages": [{"id": "…"}]},
"message": "Request successful"}``, errors ``{"code": n, "message": "…", "data": null}``.
Statuses go to the send's ``dr_webhook``, else the default webhook; ``cus_message_id``, when
given, is the message id of the answer and the statuses.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from ._exchange import Answer, Exchange, Reject
from ._nxcloud_family import (
    Context,
    Endpoint,
    Recipient,
    accept,
    json_object,
)
from .nxcloud_signed import Signing, authenticate

__all__ = ["ENDPOINTS", "SCENARIOS", "whatsapp_error"]

FAMILY = "nxcloud.whatsapp"
SIGNING = Signing("2", "mt", "the WhatsApp API")
SCENARIOS: Mapping[str, str | None] = {
    "delivered": "nxcloud.whatsapp.sent_then_delivered",
    "failed": "nxcloud.whatsapp.failed",
    "no_receipt": "nxcloud.whatsapp.sent_never_delivered",
    "duplicate": "nxcloud.whatsapp.duplicate_delivered",
    "out_of_order": "nxcloud.whatsapp.delivered_before_sent",
    # [choice] NXCloud documents no retry for WhatsApp webhooks: a lost answer is not repeated.
    "lost_ack": "nxcloud.whatsapp.delivered_ack_lost",
}
"""Outcome → built-in scenario of a WhatsApp send."""

_PHONE = re.compile(r"^\+?[1-9][0-9]{7,14}$")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def whatsapp_error(code: int | str, message: str) -> dict[str, Any]:
    """The WhatsApp API's error document (``data`` null, as the docs' failure example)."""
    return {"code": int(code), "message": message, "data": None}


def _message_id() -> str:
    # Shaped like the docs' example id gBGHhhdgYFCBnwIJ6QRYvhwQk7Nc.
    return "gBG" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(25))


def mt(context: Context, exchange: Exchange) -> Answer:
    authenticate(exchange, context.settings, context.state.clock, SIGNING)
    document = json_object(exchange, "nxcloud.whatsapp.mt.request")
    to: str = document["to"]
    if not _PHONE.fullmatch(to):
        raise Reject(9000, f"request parameter error: to {to!r}; digits with the country "
                           "code, e.g. 8613612349759")
    appkey = context.settings.appkey
    if appkey is not None and document["appkey"] != appkey:
        raise Reject(9003, f"APP {document['appkey']!r} missing or unavailable "
                           "(dlrmock accepts the appkey setting)")
    # Any dr_webhook is accepted; one dlrmock cannot deliver to is journaled 'blocked'.
    webhook = document.get("dr_webhook") or context.settings.webhook_for("nxcloud")
    wamid = document.get("cus_message_id") or _message_id()
    message: dict[str, Any] = {"wamid": wamid, "phone": to.lstrip("+"),
                               "business_phone": document["business_phone"]}
    template = document.get("template")
    if document["type"] == "template" and isinstance(template, dict):
        # [choice] a template send opens a utility conversation unless named authentication.
        name = str(template.get("name", ""))
        message["wa_category"] = "authentication" if "otp" in name.lower() else "utility"
    text = document.get("text")
    run_ids, explain = accept(
        context, family=FAMILY, api="whatsapp.mt", sent_id=wamid,
        recipients=[Recipient(to, wamid, message)], callback=webhook, scenarios=SCENARIOS,
        reject_code=9000, values={
            "content": str(text.get("body", "")) if isinstance(text, dict) else "",
            "template": str(template.get("name", "")) if isinstance(template, dict) else "",
            "request_id": str(document.get("cus_message_id") or "")})
    return Answer(
        {"code": 0, "data": {"messaging_product": "whatsapp", "messages": [{"id": wamid}]},
         "message": "Request successful"},
        message_ids=[wamid], run_ids=run_ids, explain=explain,
    )


ENDPOINTS = (
    Endpoint("POST", "/api/wa/mt", "nxcloud.whatsapp.mt", FAMILY, "nxcloud.whatsapp.mt.request",
             whatsapp_error, 9000, 1002, mt, answer="nxcloud.whatsapp.mt.response",
             signing=SIGNING),
)
