"""NXCloud DID-number SMS pushes: delivery reports and inbound (MO) messages.

Both go to the MO URL configured on the DID number as an ``application/x-www-form-urlencoded``
POST, every value text, and are acknowledged by the text ``success``. ``type`` tells them apart
(``0`` MO, ``1`` DR), but none of the documented examples carries it: a push without ``type`` is
taken for a report, its ``smsStatus`` deciding the kind. The signed JSON variant (same fields as
JSON strings, ``accessKey``/``ts``/``bizType: 4``/``action``/``sign`` headers) validates as the
same kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from faker import Faker

from ._base import (
    POST_FORM,
    Builder,
    DeliveryPolicy,
    Family,
    Message,
    Payload,
    ReceiptKind,
    random_hex,
)

FAMILY = "nxcloud.did_sms"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MESSAGE_KEY = "messageId"

REPORTS: Mapping[str, tuple[str, str]] = {
    # smsStatus → (kind suffix, description)
    "DELIVRD": ("delivered", "delivered to the handset"),
    "UNDELIVR": ("undelivered", "not delivered"),
}
"""The documented ``smsStatus`` values of a DID report."""

POLICY = DeliveryPolicy(
    timeout=10.0, retries=0, retry_interval=10.0, acknowledge="success"
)
"""[doc] the receiver answers ``success`` (``error`` otherwise). [choice] pushed once, 10 s."""
RECEIPT_FAMILY = Family(FAMILY, POLICY, transport=POST_FORM)


def _did_phone(fake: Faker) -> str:
    area: str = fake.random.choice(["234", "818", "646", "415"])
    return f"+1{area}{fake.random.randint(2000000, 9999999)}"


def _builder(sms_status: str | None) -> Builder:
    def build(fake: Faker, message: Message) -> Payload:
        sent: datetime = message["sent_at"]
        did = str(message.setdefault("did", _did_phone(fake)))
        user = "+" + str(message["phone"]).lstrip("+")
        text = str(message.setdefault("content", fake.random.choice(
            ["Your code is 4821", "STOP", "Yes, please confirm", "test from dlrmock"])))
        received = sent + timedelta(seconds=fake.random.randint(1, 30))
        mo = sms_status is None
        payload: Payload = {
            MESSAGE_KEY: str(message.setdefault("did_message_id", random_hex(fake, 32))),
            "type": "0" if mo else "1",
            # A report goes from the DID number to the user; an MO comes the other way.
            "toPhone": did if mo else user,
            "fromPhone": user if mo else did,
            "content": text,
            "size": str(max(1, -(-len(text) // 160))),
            "price": f"{fake.random.uniform(0.005, 0.05):.4f}",
            "receiveTime": received.strftime(TIME_FORMAT),
            "smsStatus": sms_status or "DELIVRD",
        }
        return payload

    return build


KINDS: dict[str, ReceiptKind] = {
    **{
        f"{FAMILY}.{suffix}": ReceiptKind(
            f"{FAMILY}.{suffix}",
            f"DID SMS report: {description} (type 1, smsStatus {status})",
            _builder(status), family=RECEIPT_FAMILY, message_key=MESSAGE_KEY,
            discriminator="smsStatus", typed_field="size",
        )
        for status, (suffix, description) in REPORTS.items()
    },
    f"{FAMILY}.mo": ReceiptKind(
        f"{FAMILY}.mo", "an SMS a user sent to the DID number (type 0)", _builder(None),
        family=RECEIPT_FAMILY, message_key=MESSAGE_KEY, discriminator="type",
        typed_field="size",
    ),
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.did_sms.<kind>``: ``messageId`` with ``smsStatus`` (``type`` 0 is an MO)."""
    if MESSAGE_KEY not in payload or "smsStatus" not in payload:
        return None
    if payload.get("type") in ("0", 0):
        return f"{FAMILY}.mo"
    status = payload.get("smsStatus")
    known = REPORTS.get(status) if isinstance(status, str) else None
    return f"{FAMILY}.{known[0]}" if known else None
