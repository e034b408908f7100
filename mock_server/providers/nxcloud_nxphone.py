"""NXCloud NXPhone (cloud phone) callbacks, JSON POSTs: the call detail record (CDR V1.0), the call
status push (V1.0, marked unavailable in the docs), and the predictive outbound events.

A predictive outbound event is about the agent (``type`` 1) or the called customer (``type`` 2);
one kind per documented (type, state): the agent ready (2), answering (3) and hanging up (4), the
customer being called (1), answering (3) and hanging up (4). No acknowledgement or retry rule is
documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from faker import Faker

from ._base import Builder, Message, Payload, ReceiptKind, random_digits

FAMILY = "nxcloud.nxphone"
PREDICTIVE = "nxcloud.predictive"

EVENTS: Mapping[tuple[int, int], tuple[str, str]] = {
    # (type, state) → (kind suffix, info as documented)
    (1, 2): ("agent_ready", "Seats ready"),
    (1, 3): ("agent_answer", "Phone answer"),
    (1, 4): ("agent_hungup", "Phone hungup"),
    (2, 1): ("call_calling", "Phone calling"),
    (2, 3): ("call_answer", "Phone answer"),
    (2, 4): ("call_hungup", "Phone hungup"),
}
_OFFSETS = {"agent_ready": 0, "call_calling": 56, "call_answer": 67, "agent_answer": 67,
            "call_hungup": 426, "agent_hungup": 426}
"""Seconds after the agent is ready, as in the documented sequence."""


def _epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=timezone(timedelta(hours=8))).timestamp()


def _line(fake: Faker, message: Message) -> dict[str, str]:
    return {
        "sipid": str(message.setdefault("sipid", random_digits(fake, 7))),
        "username": str(message.setdefault("username", random_digits(fake, 10))),
    }


def _build_cdr(fake: Faker, message: Message) -> Payload:
    sent: datetime = message["sent_at"]
    ring = fake.random.randint(2, 15)
    talk = fake.random.randint(1, 300)
    start = int(_epoch(sent))
    session = str(message.setdefault("sessionid", fake.uuid4()))
    line = _line(fake, message)
    return {
        "show_phone": line["username"],
        "direction": fake.random.choice([0, 1]),
        "end_time": str(start + ring + talk),
        "record": 1,
        "answer_time": str(start + ring),
        "sipid": line["sipid"],
        "code": str(message.setdefault("countryCode", str(message["phone"])[:2])),
        "start_time": str(start),
        "duration": talk,
        "phone": str(message["phone"]),
        "username": line["username"],
        "mobile_name": str(message.setdefault("mobile_name", "first mobile")),
        "orderid": str(message.setdefault("orderid", random_digits(fake, 7))),
        "record_url": f"https://as01.nxcloud.com/record/{session}",
        "hangup_cause": "NORMAL_CLEARING",
        "sessionid": session,
    }


def _build_call_status(fake: Faker, message: Message) -> Payload:
    sent: datetime = message["sent_at"]
    return {
        "sessionid": str(message.setdefault("sessionid", fake.uuid4())),
        "state": 1,
        "time": f"{_epoch(sent) + fake.random.random():.5f}",
        "info": "start calling",
    }


def _predictive(kind_type: int, state: int) -> Builder:
    suffix, info = EVENTS[(kind_type, state)]

    def build(fake: Faker, message: Message) -> Payload:
        ready: datetime = message["sent_at"]
        moment = _epoch(ready + timedelta(seconds=_OFFSETS[suffix]))
        payload: Payload = {
            "info": info,
            "time": str(int(moment * 1_000_000) + fake.random.randint(0, 999_999)),
            "callid": str(message.setdefault("callid", random_digits(fake, 6))),
            "type": kind_type,
            "state": state,
        }
        if suffix != "agent_ready":
            payload["uuid"] = str(message.setdefault("call_uuid", fake.uuid4()))
            payload["callphone"] = str(message["phone"])
        if kind_type == 1:
            payload["agentid"] = str(message.setdefault("agentid", fake.uuid4()))
            payload.update(_line(fake, message))
        return payload

    return build


KINDS: dict[str, ReceiptKind] = {
    f"{FAMILY}.cdr": ReceiptKind(
        f"{FAMILY}.cdr", "NXPhone call detail record (V1.0): a call ended", _build_cdr,
        message_key="sessionid", discriminator="hangup_cause", typed_field="duration",
    ),
    f"{FAMILY}.call_status": ReceiptKind(
        f"{FAMILY}.call_status", "NXPhone call status push (V1.0, marked unavailable)",
        _build_call_status, message_key="sessionid", discriminator="state",
        typed_field="state",
    ),
    **{
        f"{PREDICTIVE}.{suffix}": ReceiptKind(
            f"{PREDICTIVE}.{suffix}",
            f"predictive outbound event: {'agent' if t == 1 else 'customer'} {info!r} "
            f"(type {t}, state {s})",
            _predictive(t, s), message_key="callid", discriminator="state", typed_field="type",
        )
        for (t, s), (suffix, info) in EVENTS.items()
    },
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.nxphone.cdr`` / ``.call_status`` by ``sessionid``; ``nxcloud.predictive.<event>``
    by ``callid`` with a documented (``type``, ``state``)."""
    if "sessionid" in payload:
        if "hangup_cause" in payload:
            return f"{FAMILY}.cdr"
        return f"{FAMILY}.call_status" if "state" in payload else None
    if "callid" in payload:
        kind_type, state = payload.get("type"), payload.get("state")
        if isinstance(kind_type, int) and isinstance(state, int):
            event = EVENTS.get((kind_type, state))
            return f"{PREDICTIVE}.{event[0]}" if event else None
    return None
