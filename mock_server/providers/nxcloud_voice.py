"""NXCloud voice call reports (group calls, voice verification codes, notifications).

The doc says to submit "form data", yet its example is a callback URL whose query string carries
every parameter; dlrmock follows the example by default (the policy's ``parameters: query``: a
POST with the parameters in the URL's query string and an empty body); ``parameters: body``
sends them as a form body instead. Pushed once; the receiver answers the text ``success``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from faker import Faker

from ._base import (
    POST_FORM,
    DeliveryPolicy,
    Family,
    Message,
    Payload,
    ReceiptKind,
    random_digits,
    random_hex,
)

FAMILY = "nxcloud.voice"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MESSAGE_KEY = "messageid"

POLICY = DeliveryPolicy(
    timeout=10.0, retries=0, retry_interval=10.0, acknowledge="success",
    parameters="query",
)
"""[doc] answered by ``success`` (``error`` otherwise), pushed once; parameters in the URL
(the example). [choice] 10 s timeout."""
RECEIPT_FAMILY = Family(FAMILY, POLICY, transport=POST_FORM)


def _build_report(fake: Faker, message: Message) -> Payload:
    sent: datetime = message["sent_at"]
    phone = str(message["phone"])
    country = str(message.setdefault("countryCode", phone[:2]))
    started = sent + timedelta(seconds=fake.random.randint(1, 20))
    seconds = fake.random.randint(5, 45)
    cycle = message.setdefault("voice_cycle", fake.random.choice([6, 60]))
    blocks = -(-seconds // cycle)
    basic_price = round(fake.random.uniform(0.003, 0.02), 3)
    payload: Payload = {
        "phone": phone,
        "countryCode": country,
        "duration": str(seconds),
        "voice_type": str(message.setdefault("voice_type", fake.random.choice([0, 1]))),
        MESSAGE_KEY: str(message.setdefault(
            "voice_message_id", random_digits(fake, 14) + random_hex(fake, 15))),
        "basic_price": f"{basic_price:g}",
        "second": str(seconds),
        "cycle": str(cycle),
        "size": str(blocks),
        "customer_price": f"{round(basic_price * fake.random.uniform(2, 8), 3):g}",
        "start_time": started.strftime(TIME_FORMAT),
        "end_time": (started + timedelta(seconds=seconds)).strftime(TIME_FORMAT),
        # The only documented result; other outcomes' texts are not documented.
        "result": "Successful connection",
        "hangup_cause": "NORMAL_CLEARING",
        "hangup_disposition": fake.random.choice(["send_bye", "recv_bye"]),
        "ivr_result": fake.random.choice(["", "", "1", "2"]),
    }
    return payload


KINDS: dict[str, ReceiptKind] = {
    f"{FAMILY}.report": ReceiptKind(
        f"{FAMILY}.report",
        "voice call report (group call, verification code or notification): a connected call",
        _build_report, family=RECEIPT_FAMILY, message_key=MESSAGE_KEY,
        discriminator="voice_type", typed_field="duration",
    ),
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.voice.report``: ``messageid`` with ``voice_type`` and ``hangup_cause``."""
    if MESSAGE_KEY in payload and "voice_type" in payload and "hangup_cause" in payload:
        return f"{FAMILY}.report"
    return None
