"""NXCloud Viber receipts: JSON POSTed to the application's ``dr_webhook``.

They look like Zalo receipts (``status``, ``requestId``, ``code``, ``message``, ``sendTime``)
but carry Viber codes (0, 11000–11003), a 32-hex ``requestId`` without the ``zalomid.`` prefix,
no ``zaloRes``, and a ``cost`` with ``localPrice`` and ``rateType``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from faker import Faker

from ._base import Builder, Message, Payload, ReceiptKind, random_hex

FAMILY = "nxcloud.viber"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

STATUSES: Mapping[str, tuple[int, str, str]] = {
    # status → (code, message as documented, description)
    "success": (0, "Successfully sent.", "sent to Viber (code 0), with cost"),
    "failed": (11000, "Viber send error", "not sent (code 11000)"),
    "delivered": (11001, "Viber message has delivered", "delivered to the phone (code 11001)"),
    "seen": (11002, "Viber message has seen", "read by the user (code 11002)"),
    "expired": (11003, "Viber message has expired", "expired undelivered (code 11003)"),
}
VIBER_CODES = frozenset({0, 11000, 11001, 11002, 11003, 1100, 1102, 9000, 9001, 9002, 9003,
                         9004, 9005, 9999})
"""Every code the Viber receipt page lists."""
_HEX32 = re.compile(r"^[0-9a-fx]{32}$")
_WITH_COST = frozenset({"success", "delivered"})
"""The wiki's success example and the SaaS delivered example carry ``cost``."""


def request_id(fake: Faker, message: Message) -> str:
    """The message's Viber ``requestId``: 32 hex, no ``zalomid.`` prefix.

    A message generated for the whole provider has a Zalo-style id; its hex part is kept, so
    the run's message and its receipts name the same id.
    """
    value = str(message.get("requestId") or random_hex(fake, 32))
    if value.startswith("zalomid."):
        value = value.removeprefix("zalomid.")
    message["requestId"] = value
    return value


def _builder(status: str) -> Builder:
    code, text, _ = STATUSES[status]

    def build(fake: Faker, message: Message) -> Payload:
        sent: datetime = message["sent_at"]
        if status in ("delivered", "seen", "expired"):
            sent += timedelta(seconds=fake.random.randint(1, 120))
        payload: Payload = {
            "status": status,
            "requestId": request_id(fake, message),
            "code": code,
            "message": text,
            "sendTime": sent.strftime(TIME_FORMAT),
        }
        if status in _WITH_COST:
            original = message.setdefault("viber_price", round(fake.random.uniform(0.01, 5), 4))
            payload["cost"] = {
                "currency": "USD",
                "localPrice": round(original * 7.25, 5),
                "originalPrice": original,
                "rateType": message.get("rateType", "Transactional"),
            }
        return payload

    return build


def _build_reply(fake: Faker, message: Message) -> Payload:
    """A user's reply, POSTed to the application's ``message_webhook``."""
    replied: datetime = message["sent_at"] + timedelta(seconds=fake.random.randint(30, 600))
    return {
        "phone": str(message["phone"]),
        "appkey": str(message.get("appkey") or f"app{random_hex(fake, 5)}"),
        "traceRequestId": request_id(fake, message),
        "message": {"text": fake.random.choice(["ok", "Thanks!", "STOP", "Who is this?"])},
        "sendTime": replied.strftime(TIME_FORMAT),
    }


KINDS: dict[str, ReceiptKind] = {
    **{
        f"{FAMILY}.{status}": ReceiptKind(
            f"{FAMILY}.{status}", f"Viber receipt: {description}", _builder(status)
        )
        for status, (_, _, description) in STATUSES.items()
    },
    f"{FAMILY}.reply": ReceiptKind(
        f"{FAMILY}.reply",
        "a user's reply to a Viber message (message_webhook; traceRequestId is the requestId)",
        _build_reply, discriminator="traceRequestId", typed_field="message",
    ),
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.viber.<status>`` when the receipt is Viber's, not Zalo's.

    Viber-only statuses (``seen``, ``expired``) and Viber codes decide; for ``success`` (code 0
    in both families) a ``zaloRes`` or a ``zalomid.`` id means Zalo, a 32-hex id or a cost with
    ``rateType`` / ``localPrice`` means Viber.
    """
    if "traceRequestId" in payload and "status" not in payload:
        return f"{FAMILY}.reply"
    status = payload.get("status")
    if not isinstance(status, str) or status not in STATUSES or "zaloRes" in payload:
        return None
    if status in ("seen", "expired"):
        return f"{FAMILY}.{status}"
    rid = payload.get("requestId")
    if isinstance(rid, str) and rid.startswith("zalomid."):
        return None
    code = payload.get("code")
    if status != "success" and isinstance(code, int) and code in VIBER_CODES:
        return f"{FAMILY}.{status}"
    cost = payload.get("cost")
    if isinstance(cost, Mapping) and ("rateType" in cost or "localPrice" in cost):
        return f"{FAMILY}.{status}"
    if isinstance(rid, str) and _HEX32.match(rid):
        return f"{FAMILY}.{status}"
    return None
