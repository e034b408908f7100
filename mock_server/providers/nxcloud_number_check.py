"""NXCloud number check results: JSON POSTed to the check's ``drUrl`` (or the application's URL).

One kind per documented shape: the basic check, the basic check with HLR liveness (``live``),
with a test call (``dial``), and a failed check (an error code, no ``data``). Acknowledged by
HTTP 200 exactly; on an HTTP error NXCloud tries again every minute for up to an hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faker import Faker

from ._base import Builder, DeliveryPolicy, Family, Message, Payload, ReceiptKind, random_digits

FAMILY = "nxcloud.number_check"
MESSAGE_KEY = "messageId"

POLICY = DeliveryPolicy(
    timeout=10.0, retries=60, retry_interval=60.0,
    retry_on=frozenset({"http_error", "timeout", "refused", "reset", "closed",
                        "invalid_response"}),
    acknowledge="200",
)
"""[doc] HTTP 200 accepts; "HTTP ERROR" is retried every minute for up to 60 minutes.
[choice] connection failures and timeouts count as HTTP errors; 10 s timeout."""
RECEIPT_FAMILY = Family(FAMILY, POLICY)

ERRORS: Mapping[int, str] = {
    # [choice] a few of the documented 103-122 codes, with the documented 114 text.
    114: "Invalid number format",
    103: "Insufficient balance",
    121: "Number check failed",
}
_CARRIERS = {"84": ("VN", ["Viettel", "Vinaphone", "MobiFone"]),
             "86": ("CN", ["China Mobile", "China Unicom", "China Telecom"]),
             "62": ("ID", ["Telkomsel", "Indosat", "XL Axiata"])}


def _uuid(fake: Faker) -> str:
    return str(fake.uuid4())


def _common(fake: Faker, message: Message) -> Payload:
    return {
        MESSAGE_KEY: str(message.setdefault("check_id", _uuid(fake))),
        "code": 0,
        "msg": "success",
        "batchNo": str(message.setdefault("batchNo", random_digits(fake, 12))),
        "phone": str(message["phone"]),
    }


def _basic(fake: Faker, phone: str) -> dict[str, Any]:
    prefix = phone[:2] if phone[:2] in _CARRIERS else "84"
    region, carriers = _CARRIERS[prefix]
    return {
        "preCheck": "YES",
        "regionCode": region,
        "countryCode": prefix,
        "nationalNumber": phone[len(prefix):],
        "standNumber": phone,
        "numberType": fake.random.choice([1, 2]),
        "carrier": fake.random.choice(carriers),
    }


def _builder(part: str | None) -> Builder:
    def build(fake: Faker, message: Message) -> Payload:
        payload = _common(fake, message)
        data: dict[str, Any] = {"basic": _basic(fake, payload["phone"])}
        price = fake.random.uniform(0.05, 0.3)
        if part == "live":
            data["live"] = {"validity": "YES",
                            "reachable": fake.random.choice(["YES", "NO", "UNKNOWN"]),
                            "roaming": fake.random.choice(["NO", "UNKNOWN"])}
            price += 0.7
        elif part == "dial":
            answered = fake.random.choice(["YES", "NO"])
            data["dial"] = {"early": "NO", "answered": answered,
                            "response": "answered" if answered == "YES" else "invalid_number"}
            price += 0.8
        payload["data"] = data
        payload["cost"] = {"price": round(price, 4), "currency": "USD"}
        return payload

    return build


def _build_failed(fake: Faker, message: Message) -> Payload:
    payload = _common(fake, message)
    code = fake.random.choice(sorted(ERRORS))
    payload.update(code=code, msg=ERRORS[code])
    return payload


_SHAPES = {"basic": (None, "basic check: format, region, carrier"),
           "hlr": ("live", "basic check plus HLR liveness (data.live)"),
           "call": ("dial", "basic check plus a test call (data.dial)")}
KINDS: dict[str, ReceiptKind] = {
    **{
        f"{FAMILY}.{suffix}": ReceiptKind(
            f"{FAMILY}.{suffix}", f"number check result, {description}", _builder(part),
            family=RECEIPT_FAMILY, message_key=MESSAGE_KEY, discriminator="data",
            typed_field="code",
        )
        for suffix, (part, description) in _SHAPES.items()
    },
    f"{FAMILY}.failed": ReceiptKind(
        f"{FAMILY}.failed", "number check not done: an error code (103-122), no data",
        _build_failed, family=RECEIPT_FAMILY, message_key=MESSAGE_KEY, discriminator="code",
        typed_field="code",
    ),
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.number_check.<kind>``: ``messageId`` with ``batchNo``; the shape decides."""
    if MESSAGE_KEY not in payload or "batchNo" not in payload:
        return None
    code = payload.get("code")
    data = payload.get("data")
    if code != 0 and data is None:
        return f"{FAMILY}.failed"
    if isinstance(data, Mapping) and "dial" in data:
        return f"{FAMILY}.call"
    if isinstance(data, Mapping) and "live" in data:
        return f"{FAMILY}.hlr"
    return f"{FAMILY}.basic"
