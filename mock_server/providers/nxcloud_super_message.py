"""NXCloud Super Message reports: JSON POSTed to the send's ``webhook``.

A Super Message goes out over SMS or Viber (``channel``); its report names the outcome by
``code`` (14003 send error, 14004 delivered, 14005 undelivered, 14006 expired) and carries no
``status``, so it is never taken for a Zalo or Viber receipt.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from faker import Faker

from ._base import Builder, Message, Payload, ReceiptKind, random_hex

FAMILY = "nxcloud.super_message"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

CODES: Mapping[int, tuple[str, str, str]] = {
    # code → (kind suffix, message template, description); only the delivered text is
    # documented ("Viber message has delivered"), the others follow it [choice].
    14003: ("failed", "{channel} send error", "not sent"),
    14004: ("delivered", "{channel} message has delivered", "delivered"),
    14005: ("undelivered", "{channel} message has undelivered", "not delivered"),
    14006: ("expired", "{channel} message has expired", "expired undelivered"),
}
_CHANNEL_NAMES = {"SMS": "SMS", "VIBER": "Viber"}


def _builder(code: int) -> Builder:
    _, template, _ = CODES[code]

    def build(fake: Faker, message: Message) -> Payload:
        sent: datetime = message["sent_at"]
        channel = str(message.setdefault("channel", fake.random.choice(["SMS", "VIBER"])))
        rid = str(message.get("requestId") or random_hex(fake, 32)).removeprefix("zalomid.")
        message["requestId"] = rid
        payload: Payload = {
            "requestId": rid,
            "phone": str(message["phone"]),
            "channel": channel,
            "code": code,
            "message": template.format(channel=_CHANNEL_NAMES.get(channel, channel)),
            "sendTime": (sent + timedelta(seconds=fake.random.randint(1, 120))).strftime(
                TIME_FORMAT),
        }
        if code == 14004:  # [choice] cost on the delivered report, as the example shows
            price = message.setdefault("super_price", round(fake.random.uniform(0.05, 30), 4))
            payload["cost"] = {"currency": "CNY", "localPrice": price, "originalPrice": price}
        return payload

    return build


KINDS: dict[str, ReceiptKind] = {
    f"{FAMILY}.{suffix}": ReceiptKind(
        f"{FAMILY}.{suffix}", f"Super Message report: {description} (code {code})",
        _builder(code), discriminator="code", typed_field="code",
    )
    for code, (suffix, _, description) in CODES.items()
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.super_message.<kind>``: a ``channel`` and a 1400x ``code``, no ``status``."""
    code = payload.get("code")
    if isinstance(code, str) and code.strip().isdigit():  # broken, but still this family's
        code = int(code)
    if "channel" not in payload or "status" in payload or not isinstance(code, int):
        return None
    known = CODES.get(code)
    return f"{FAMILY}.{known[0]}" if known else None
