"""NXCloud: the Zalo ZNS receipt family (JSON POSTed to ``drWebhook``) and the provider.

The other families live next to it (``nxcloud_sms``, ``nxcloud_viber``, ``nxcloud_whatsapp``,
and the other callbacks: ``nxcloud_did_sms``, ``nxcloud_voice``, ``nxcloud_super_message``,
``nxcloud_number_check``, ``nxcloud_ota``, ``nxcloud_pns``, ``nxcloud_nxcc``, ``nxcloud_nxphone``);
the provider here joins their kinds, detection and transports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from faker import Faker

from . import (
    nxcloud_did_sms,
    nxcloud_number_check,
    nxcloud_nxcc,
    nxcloud_nxphone,
    nxcloud_ota,
    nxcloud_pns,
    nxcloud_sms,
    nxcloud_super_message,
    nxcloud_viber,
    nxcloud_voice,
    nxcloud_whatsapp,
)
from ._base import (
    POST_JSON,
    DeliveryPolicy,
    Message,
    Payload,
    Provider,
    ReceiptKind,
    random_digits,
    random_hex,
)

STATUSES = ("success", "failed", "delivered", "journey_acknowledged", "journey_time_out")
"""The Zalo family's statuses."""
OTHER_CALLBACKS = (nxcloud_did_sms, nxcloud_voice, nxcloud_super_message, nxcloud_number_check,
                   nxcloud_ota, nxcloud_pns, nxcloud_nxcc, nxcloud_nxphone)
"""The callback families with shapes of their own (no Zalo-like ``status``), detected first."""
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SEND_TIME_ZONE = timezone(timedelta(hours=8))
"""sendTime is China time: the success example's 2024-05-01 10:12:39 is its zaloRes
sent_time 1714529559833 (02:12:39 UTC) plus 8 hours."""
SENT_FROM = datetime(2024, 1, 1)
"""Generated messages are sent within the year from here: a fixed window, not relative to
today, so a seed gives the same payload on every run."""


def _ms(moment: datetime) -> str:
    return str(int(moment.replace(tzinfo=SEND_TIME_ZONE).timestamp() * 1000))


def new_message(fake: Faker) -> Message:
    """The fields every receipt about one Zalo message shares."""
    sent = SENT_FROM + timedelta(seconds=fake.random.randint(0, 365 * 86400))
    return {
        "requestId": "zalomid." + random_hex(fake, 32),
        "ext": fake.random.choice(
            ["ext info", f"order-{random_digits(fake, 6)}", f"uid:{random_digits(fake, 8)}"]
        ),
        "phone": "84" + fake.random.choice("35789") + random_digits(fake, 8),
        "sent_at": sent,
        "oaId": random_digits(fake, 19),
        "journeyId": random_digits(fake, 18),
        "appId": random_digits(fake, 14),
        "msg_id": random_hex(fake, 20),
        "currency": fake.random.choice(["USD", "EUR"]),
    }


def _with_ext(payload: Payload, message: Message) -> Payload:
    # ext is echoed only when the send request carried one.
    if message.get("ext") is not None:
        payload["ext"] = message["ext"]
    return payload


def _later(message: Message, offset: timedelta) -> datetime:
    """``sent_at`` plus ``offset`` for generated receipts; a real send's (``live``) receipts
    stay at its own time, never ahead of the moment they are sent."""
    sent: datetime = message["sent_at"]
    return sent if message.get("live") else sent + offset


def _build_success(fake: Faker, message: Message) -> Payload:
    sent: datetime = message["sent_at"]
    daily = fake.random.choice([500, 1000, 5000])
    payload: Payload = {
        "status": "success",
        "requestId": message["requestId"],
        "code": 0,
        "message": "Successfully sent.",
        "sendTime": sent.strftime(TIME_FORMAT),
    }
    _with_ext(payload, message)
    price = round(fake.random.uniform(0.01, 9.99), 4)
    sent_time = _ms(_later(message, timedelta(milliseconds=fake.random.randint(1, 900))))
    remaining = fake.random.randint(0, daily - 1)
    if "price" in message:  # a real send: the account's own price and quota
        price, daily, remaining = message["price"], message["daily_quota"], message[
            "remaining_quota"]
    payload["cost"] = {"currency": message["currency"], "originalPrice": price}
    payload["zaloRes"] = {
        "sysMsg": "Successfully sent.",
        "cusMsg": "Successfully sent.",
        "error": 0,
        "message": "Success",
        "data": {
            "sent_time": sent_time,
            "sending_mode": "1",
            "msg_id": message["msg_id"],
            "quota": {
                "remainingQuota": str(remaining),
                "dailyQuota": str(daily),
            },
        },
    }
    return payload


def _build_failed(fake: Faker, message: Message) -> Payload:
    zalo_text = "Zalo account not existed"
    text = f"Zalo send error({zalo_text})"
    payload: Payload = {
        "status": "failed",
        "requestId": message["requestId"],
        "code": 17004,
        "message": text,
        "sendTime": message["sent_at"].strftime(TIME_FORMAT),
    }
    _with_ext(payload, message)
    payload["zaloRes"] = {
        "sysMsg": text,
        "cusMsg": text,
        "error": -118,
        "message": zalo_text,
        "data": None,
    }
    return payload


def _build_delivered(fake: Faker, message: Message) -> Payload:
    # sendTime is the send's time; generated receipts keep their historical spread.
    delivered = _later(message, timedelta(seconds=fake.random.randint(1, 120)))
    payload: Payload = {
        "status": "delivered",
        "requestId": message["requestId"],
        "code": 17003,
        "message": "Zalo message has delivered",
        "sendTime": delivered.strftime(TIME_FORMAT),
    }
    return _with_ext(payload, message)


def _journey_fields(fake: Faker, message: Message, after: timedelta) -> Payload:
    return {
        "oaId": message["oaId"],
        "journeyId": message["journeyId"],
        "appId": message["appId"],
        "timestamp": _ms(_later(message, after)),
    }


def _stamp_now(payload: Payload, now: datetime) -> Payload:
    """A journey event's ``timestamp`` is when it happened: a real send's receipt gets the
    moment it leaves (``now``, naive in NXCloud's zone)."""
    payload["timestamp"] = _ms(now)
    return payload


def _build_journey_acknowledged(fake: Faker, message: Message) -> Payload:
    payload: Payload = {
        "status": "journey_acknowledged",
        "requestId": message["requestId"],
        "code": 17006,
        "message": "The journey begins to be charged",
    }
    payload.update(_journey_fields(fake, message, timedelta(seconds=fake.random.randint(1, 60))))
    _with_ext(payload, message)
    price = fake.random.choice([130, 220, 300])
    payload["cost"] = {
        "currency": message["currency"],
        "originalPrice": message.get("journey_price", price),
    }
    return payload


def _build_journey_time_out(fake: Faker, message: Message) -> Payload:
    payload: Payload = {
        "status": "journey_time_out",
        "code": 17007,
        "message": "Journey expires and has never been used",
    }
    # The token's lifetime (7 or 30 days) after it was issued; 7 unless the message says.
    lifetime = timedelta(days=message.get("journey_days", 7))
    payload.update(_journey_fields(fake, message, lifetime))
    return payload


ZALO_KINDS: dict[str, ReceiptKind] = {
    kind.name: kind
    for kind in (
        ReceiptKind("nxcloud.zalo.success", "ZNS accepted by Zalo (code 0)", _build_success),
        ReceiptKind(
            "nxcloud.zalo.failed",
            "ZNS rejected; Zalo's error in zaloRes (code 17004)",
            _build_failed,
        ),
        ReceiptKind(
            "nxcloud.zalo.delivered", "ZNS delivered to the phone (code 17003)", _build_delivered
        ),
        ReceiptKind(
            "nxcloud.zalo.journey_acknowledged",
            "journey message used: charging begins (code 17006)",
            _build_journey_acknowledged,
            restamp=_stamp_now,
        ),
        ReceiptKind(
            "nxcloud.zalo.journey_time_out",
            "journey expired without being used (code 17007)",
            _build_journey_time_out,
            restamp=_stamp_now,
        ),
    )
}


KINDS: dict[str, ReceiptKind] = {
    **ZALO_KINDS,
    **nxcloud_sms.KINDS,
    **nxcloud_viber.KINDS,
    **nxcloud_whatsapp.KINDS,
    **{name: kind for family in OTHER_CALLBACKS for name, kind in family.KINDS.items()},
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """The kind of an NXCloud receipt: its family from its shape, then its ``status``.

    A Viber, WhatsApp or SMS receipt is never taken for a Zalo one (see each family's
    ``detect``).
    """
    detectors: tuple[Callable[[Mapping[str, Any]], str | None], ...] = (
        *(family.detect for family in OTHER_CALLBACKS),
        nxcloud_whatsapp.detect, nxcloud_sms.detect, nxcloud_viber.detect,
    )
    for family_detect in detectors:
        kind = family_detect(payload)
        if kind is not None:
            return kind
    if nxcloud_whatsapp.is_whatsapp(payload) or nxcloud_sms.is_report(payload):
        return None
    status = payload.get("status")
    if isinstance(status, str) and status in STATUSES:
        return f"nxcloud.zalo.{status}"
    return None


def unknown_status_hint(payload: Mapping[str, Any]) -> str:
    """Why :func:`detect` recognised no kind, naming the family the shape belongs to."""
    if nxcloud_whatsapp.is_whatsapp(payload):
        return (
            "unknown NXCloud WhatsApp webhook: statuses[0].status is not one of "
            f"{', '.join(nxcloud_whatsapp.STATUSES)}"
        )
    if nxcloud_sms.is_report(payload):
        return (
            f"unknown NXCloud SMS report status {payload.get('status')!r}; expected one of "
            f"{', '.join(nxcloud_sms.STATUS_CODES)}"
        )
    statuses = dict.fromkeys([*STATUSES, *nxcloud_viber.STATUSES])
    return (
        f"unknown NXCloud status {payload.get('status')!r}; expected one of "
        f"{', '.join(statuses)} (Zalo, Viber), a numeric SMS report status or a WhatsApp "
        "'statuses' list"
    )


PROVIDER = Provider(
    name="nxcloud",
    title="NXCloud",
    description="NXCloud: Zalo ZNS, Viber and WhatsApp JSON receipts, SMS form reports",
    kinds=KINDS,
    # [choice] NXCloud documents no timeout, retry or expected answer: any 2xx acknowledges,
    # 10 s timeout, pushed once (like its sibling SMS/voice callbacks).
    policy=DeliveryPolicy(timeout=10.0, retries=0, retry_interval=10.0),
    transport=POST_JSON,
    message_key="requestId",
    new_message=new_message,
    detect=detect,
    discriminator="status",
    typed_field="code",
    umbrella_schema="nxcloud.zalo.receipt",
    time_zone=SEND_TIME_ZONE,
)
FAMILIES = tuple(PROVIDER.families)
"""The receipt families' names, Zalo first."""
