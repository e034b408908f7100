"""eSMS.vn voice calls: the callback of ``MakeCallTemplate_V2`` / ``MakeCallRecord_V2``.

eSMS calls the ``CallbackUrl`` with an HTTP GET carrying ``ReferenceId, CallDuration, CallStatus,
Ivr, Price, SentResult, CID, SendStatus``. Unlike its SMS and Zalo callbacks, eSMS states the
rule outright: "return HTTP_STATUS_CODE=200 to confirm; without a 200 eSMS resends up to 5 times".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faker import Faker

from .._http import OUTCOMES as TRANSPORT_OUTCOMES
from ._base import DeliveryPolicy, Family, Message, Payload, ReceiptKind

FAMILY = "esms.voice"
VOICE_CALL = f"{FAMILY}.call"
FIELDS = ("ReferenceId", "CallDuration", "CallStatus", "Ivr", "Price", "SentResult", "CID",
          "SendStatus")
"""The callback's parameters, in the order of eSMS's template and example."""
DEFAULT_CID = "02871002454"
"""The calling number of eSMS's example; generated callbacks use it unless the message has
``cid``."""
PRICE_PER_MINUTE = 880
"""[choice] What an answered call costs per started minute (eSMS publishes no price here)."""

POLICY = DeliveryPolicy(
    timeout=10.0,
    retries=5,
    retry_interval=10.0,
    retry_on=frozenset({"http_error", *TRANSPORT_OUTCOMES}),
    acknowledge="200",
)
"""[doc] acknowledged by exactly HTTP 200, resent up to 5 times otherwise. [choice] the 10 s
timeout and interval of the other eSMS callbacks; a timeout or a broken connection counts as
"no 200" and is retried too."""
RECEIPT_FAMILY = Family(FAMILY, POLICY)


def _call(fake: Faker, message: Message) -> Payload:
    """One voice callback. Message fields: ``SMSID`` (the ``SMSID`` MakeCall answered, sent as
    ``ReferenceId``), ``outcome`` (``delivered``: answered; ``failed``: not), optional ``cid``,
    ``call_duration`` (seconds) and ``ivr`` (keys pressed)."""
    answered = message.get("outcome") != "failed"
    if answered:
        duration = int(message.get("call_duration") or fake.random.randint(8, 95))
        price = PRICE_PER_MINUTE * -(-duration // 60)
    else:
        duration, price = 0, 0
    return {
        "ReferenceId": message["SMSID"],
        "CallDuration": str(duration),
        # eSMS's only example (a failed call) has an empty CallStatus; "NO ANSWER" is the other
        # documented value (scenario esms.voice.call.no_answer).
        "CallStatus": "ANSWERED" if answered else "",
        "Ivr": str(message.get("ivr") or "") if answered else "",
        "Price": f"{price:.4f}",
        "SentResult": "1" if answered else "0",
        "CID": str(message.get("cid") or DEFAULT_CID),
        "SendStatus": "5",
    }


KIND = ReceiptKind(
    VOICE_CALL,
    "voice call result (MakeCallTemplate_V2 / MakeCallRecord_V2); acknowledged only by HTTP 200",
    _call,
    family=RECEIPT_FAMILY,
    receipt_key="ReferenceId",
    typed_field="CallDuration",
)


def detect(payload: Mapping[str, Any]) -> str | None:
    """``esms.voice.call`` when the payload has the voice callback's own parameters."""
    if "ReferenceId" in payload and ("CallStatus" in payload or "SentResult" in payload):
        return VOICE_CALL
    return None
