"""NXCloud SMS delivery reports: form-encoded POSTs to ``dr_url``, acknowledged by ``success``.

One kind per documented ``status`` code. Every value is text. Accounts registered after May 2023
get the parameters in the POST body; older ones in the URL's query string with an empty body
(the delivery policy's ``parameters`` setting, ``body`` by default).
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

FAMILY = "nxcloud.sms"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MESSAGE_KEY = "messageid"

STATUS_CODES: Mapping[str, tuple[str, str, str]] = {
    # status → (kind suffix, result text, description); result texts beyond DELIVRD/UNDELIV
    # are the doc's constant names [inferred].
    "2": ("delivered", "DELIVRD", "delivered to the handset"),
    "5": ("undelivered", "UNDELIV", "not delivered"),
    "6": ("rejected", "REJECTD", "rejected"),
    "7": ("expired", "EXPIRED", "expired before delivery"),
    "8": ("deleted", "DELETED", "deleted"),
    "9": ("dnd", "DND", "recipient on a do-not-disturb list"),
    "10": ("invalid_number", "ESME_RINVDSTADR", "wrong recipient number"),
    "11": ("invalid_sender", "ESME_RINVSRCADR", "wrong sender (source address)"),
    "12": ("unknown", "UNKNOWN", "unknown result"),
}
"""Documented SMS report status codes (NXCloud's ``SMS Delivery Receipt Callback`` page)."""

FIELDS = (
    "result", "size", "phone", "rate", "price", "messageid", "drtime", "currency", "sendtime",
    "status", "ext",
)
"""The documented fields, in the order of the documented example (``ext`` last: [choice])."""

POLICY = DeliveryPolicy(
    timeout=10.0, retries=0, retry_interval=10.0, acknowledge="success"
)
"""[doc] the receiver answers the text ``success``; pushed once. [choice] 10 s timeout."""
RECEIPT_FAMILY = Family(FAMILY, POLICY, transport=POST_FORM)


def message_id(fake: Faker, message: Message) -> str:
    """The message's ``messageid`` (32 lowercase hex unless the send gave one)."""
    value = message.get(MESSAGE_KEY)
    if value is None:
        value = message[MESSAGE_KEY] = random_hex(fake, 32)
    # The provider-wide message has a generated Zalo requestId; an SMS has none to show a probe.
    if str(message.get("requestId", "")).startswith("zalomid."):
        del message["requestId"]
    return str(value)


def _builder(status: str) -> Builder:
    _, result, _ = STATUS_CODES[status]

    def build(fake: Faker, message: Message) -> Payload:
        sent: datetime = message["sent_at"]
        reported = sent + timedelta(seconds=fake.random.randint(1, 30))
        currency = message.setdefault("sms_currency", fake.random.choice(["USD", "CNY"]))
        price = message.setdefault(
            "sms_price",
            f"{fake.random.uniform(0.005, 0.09):.3f}" if currency == "USD"
            else f"{fake.random.uniform(0.03, 0.6):.3f}",
        )
        payload: Payload = {
            "result": result,
            "size": str(message.setdefault("sms_size", fake.random.choice([1, 1, 1, 2]))),
            "phone": str(message["phone"]),
            "rate": f"{fake.random.uniform(6.8, 7.3):.4f}",
            "price": price,
            "messageid": message_id(fake, message),
            "drtime": reported.strftime(TIME_FORMAT),
            "currency": currency,
            "sendtime": sent.strftime(TIME_FORMAT),
            "status": status,
        }
        if message.get("ext") is not None:
            payload["ext"] = str(message["ext"])
        return payload

    return build


KINDS: dict[str, ReceiptKind] = {
    f"{FAMILY}.{suffix}": ReceiptKind(
        f"{FAMILY}.{suffix}",
        f"SMS report: {description} (status {status}, {result})",
        _builder(status),
        family=RECEIPT_FAMILY,
        message_key=MESSAGE_KEY,
        discriminator="status",
        typed_field="status",
    )
    for status, (suffix, result, description) in STATUS_CODES.items()
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.sms.<status>`` for a report: a numeric ``status`` next to ``messageid``."""
    status = payload.get("status")
    if not isinstance(status, str) or MESSAGE_KEY not in payload:
        return None
    known = STATUS_CODES.get(status.strip())
    return f"{FAMILY}.{known[0]}" if known else None


def is_report(payload: Mapping[str, Any]) -> bool:
    """Whether ``payload`` looks like an SMS report, whatever its status."""
    return MESSAGE_KEY in payload and ("drtime" in payload or "result" in payload)
