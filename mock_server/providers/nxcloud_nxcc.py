"""NXCloud NXCC call-centre call logs: JSON POSTed with a static ``token`` header.

The receiver answers HTTP 200 ("200 OK" is success, anything else a failure); retries are not
documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from faker import Faker

from ._base import POST_JSON, DeliveryPolicy, Family, Message, Payload, ReceiptKind, random_digits

FAMILY = "nxcloud.nxcc"
TOKEN = "dlrmock-nxcc-token"
"""[choice] the ``token`` header's value: the docs show a placeholder, set per account."""

POLICY = DeliveryPolicy(timeout=10.0, retries=0, retry_interval=10.0,
                        acknowledge="200")
"""[doc] HTTP 200 is success, anything else a failure. [choice] no retry, 10 s timeout."""
RECEIPT_FAMILY = Family(
    FAMILY,
    POLICY,
    transport=replace(POST_JSON, name="POST JSON with token", headers=(("token", TOKEN),)),
)
"""The call log as JSON with the account's ``token`` header."""

INTENTS = ("转人工-成功", "转人工-失败", "已挂机", "")
"""[choice] the example's intent and a few like it."""


def _ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=timezone(timedelta(hours=8))).timestamp() * 1000)


def _build_call_log(fake: Faker, message: Message) -> Payload:
    sent: datetime = message["sent_at"]
    ring = fake.random.randint(1, 20)
    talk = fake.random.randint(3, 600)
    direction = fake.random.choice([0, 1, 2])
    agent = str(message.setdefault("agentName", fake.email()))
    return {
        "agentName": agent,
        "answerTime": _ms(sent + timedelta(seconds=ring)),
        "callDuration": talk,
        "callId": str(fake.uuid4()),
        "callee": f"NX{random_digits(fake, 5)}G{random_digits(fake, 6)}@"
                  f"{fake.ipv4_public()}:5060",
        "caller": str(message["phone"]),
        "direction": direction,
        "endTime": _ms(sent + timedelta(seconds=ring + talk)),
        "intent": fake.random.choice(INTENTS),
        "orderId": str(message.setdefault("orderId", f"ORDER_{random_digits(fake, 8)}")),
        "other": str(message.get("other", "")),
        "startTime": _ms(sent),
        "taskId": str(message.setdefault("taskId", random_digits(fake, 19))),
    }


KINDS: dict[str, ReceiptKind] = {
    f"{FAMILY}.call_log": ReceiptKind(
        f"{FAMILY}.call_log", "a call-centre call ended: its log (agent, times, direction)",
        _build_call_log, family=RECEIPT_FAMILY, message_key="callId",
        discriminator="direction", typed_field="answerTime",
    ),
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.nxcc.call_log``: ``callId`` with ``agentName`` and ``direction``."""
    if "callId" in payload and "agentName" in payload and "direction" in payload:
        return f"{FAMILY}.call_log"
    return None
