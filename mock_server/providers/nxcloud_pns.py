"""NXCloud PNS (privacy number) callbacks: a call's result and the unbound-call error, as JSON.

Both are acknowledged by HTTP 200 exactly; NXCloud retries every minute for up to an hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from faker import Faker

from ._base import Family, Message, Payload, ReceiptKind, random_digits, random_hex
from .nxcloud_number_check import POLICY

FAMILY = "nxcloud.pns"
RECEIPT_FAMILY = Family(FAMILY, POLICY)
"""Number check's delivery policy: acknowledged by HTTP 200, retried."""
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _hk_number(fake: Faker) -> str:
    first: str = fake.random.choice("2356789")
    return "852" + first + random_digits(fake, 7)


def _epoch(moment: datetime) -> int:
    return int(moment.replace(tzinfo=timezone(timedelta(hours=8))).timestamp())


def _build_call_result(fake: Faker, message: Message) -> Payload:
    sent: datetime = message["sent_at"]
    answered = fake.random.random() < 0.8
    ring = fake.random.randint(1, 15)
    talk = fake.random.randint(3, 300) if answered else 0
    started = _epoch(sent)
    bind_id = str(message.setdefault("bindId", random_hex(fake, 32)))
    day = sent.strftime("%Y%m%d")
    return {
        "id": fake.random.randint(1, 99999),
        "businessId": str(message.setdefault("businessId", f"busi_{random_hex(fake, 6)}")),
        "customerBindId": str(message.setdefault("customerBindId", random_digits(fake, 4))),
        "bindId": bind_id,
        "callId": random_digits(fake, 19),
        "did": str(message.setdefault("did", _hk_number(fake))),
        "caller": _hk_number(fake),
        "callee": _hk_number(fake),
        "callStatus": 1 if answered else 0,
        "callStatusMsg": "",
        "duration": talk,
        "startAt": started,
        "answerAt": started + ring if answered else 0,
        "hangupAt": started + ring + talk,
        "hangupCause": "",
        "hangupCode": 0,
        "hangup": fake.random.choice([0, 1]),
        "recordFile": f"https://remote.record.nxcloud.com/pns/{day}/{fake.uuid4()}.mp3"
        if answered else "",
    }


def _build_error(fake: Faker, message: Message) -> Payload:
    sent: datetime = message["sent_at"]
    return {
        "code": 10013,
        "msg": "binding not exist",
        "requestId": random_digits(fake, 19),
        "data": {
            "action": "queryAXB",
            "requestParams": {
                "caller": _hk_number(fake),
                "did": str(message.setdefault("did", _hk_number(fake))),
            },
            "occurrenceTime": sent.strftime(TIME_FORMAT),
        },
    }


KINDS: dict[str, ReceiptKind] = {
    f"{FAMILY}.call_result": ReceiptKind(
        f"{FAMILY}.call_result", "a call through a bound virtual number ended",
        _build_call_result, family=RECEIPT_FAMILY, message_key="bindId", discriminator="callId",
        typed_field="duration",
    ),
    f"{FAMILY}.error": ReceiptKind(
        f"{FAMILY}.error", "a call reached a virtual number with no binding (code 10013)",
        _build_error, family=RECEIPT_FAMILY, message_key="requestId", discriminator="data",
        typed_field="code",
    ),
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.pns.call_result`` (``bindId`` + ``callId``) or ``nxcloud.pns.error``
    (``data.requestParams``)."""
    if "bindId" in payload and "callId" in payload:
        return f"{FAMILY}.call_result"
    data = payload.get("data")
    if "requestId" in payload and isinstance(data, Mapping) and "requestParams" in data:
        return f"{FAMILY}.error"
    return None
