"""NXCloud OTA one-click login results: a POST whose URL query string carries the result.

One kind per documented ``status``. The example spells the time ``drtime`` while the field table
spells it ``drTime``; both validate, and dlrmock sends the example's spelling. The receiver
answers the text ``success``.
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

FAMILY = "nxcloud.ota"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MESSAGE_KEY = "requestId"

STATUSES: Mapping[str, str] = {
    "SUCCESS": "the number matches the device: logged in",
    "PENDING": "not decided yet",
    "MISMATCH": "the number does not match the device",
    "FAILURE": "the check failed",
    "UNKNOWN": "the result is unknown",
}
POLICY = DeliveryPolicy(
    timeout=10.0, retries=0, retry_interval=10.0, acknowledge="success",
    parameters="query",
)
"""[doc] answered by ``success`` (``error`` otherwise); "params in URL" (``parameters: body``
sends a form body instead). [choice] pushed once, 10 s timeout."""
RECEIPT_FAMILY = Family(FAMILY, POLICY, transport=POST_FORM)


def _builder(status: str) -> Builder:
    def build(fake: Faker, message: Message) -> Payload:
        sent: datetime = message["sent_at"]
        rid = str(message.get("requestId") or random_hex(fake, 32)).removeprefix("zalomid.")
        message["requestId"] = rid
        return {
            "phone": str(message["phone"]),
            MESSAGE_KEY: rid,
            "drtime": (sent + timedelta(seconds=fake.random.randint(1, 15))).strftime(
                TIME_FORMAT),
            "status": status,
        }

    return build


KINDS: dict[str, ReceiptKind] = {
    f"{FAMILY}.{status.lower()}": ReceiptKind(
        f"{FAMILY}.{status.lower()}", f"OTA login status {status}: {description}",
        _builder(status), family=RECEIPT_FAMILY, message_key=MESSAGE_KEY,
        discriminator="status", typed_field="drtime",
    )
    for status, description in STATUSES.items()
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.ota.<status>``: an upper-case OTA ``status`` next to ``requestId``."""
    status = payload.get("status")
    if not isinstance(status, str) or status not in STATUSES or MESSAGE_KEY not in payload:
        return None
    return f"{FAMILY}.{status.lower()}"
