"""eSMS.vn: callbacks sent as an HTTP GET with every value in the query string.

The message callbacks (TypeId 1–27) live here; the voice callback and the short-code MO push,
which have parameter sets of their own, in :mod:`.esms_voice` and :mod:`.esms_mo`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from faker import Faker

from .._wire import ErrorInfoEncoding, encode_error_info
from . import esms_mo, esms_registration, esms_voice
from ._base import (
    GET_QUERY,
    DeliveryPolicy,
    Message,
    PackedField,
    Payload,
    Provider,
    ReceiptKind,
    random_digits,
    random_hex,
)

CARRIER_PREFIXES: dict[str, tuple[str, ...]] = {
    "1": ("086", "096", "097", "098", "032", "033", "034", "035", "036", "037", "038", "039"),
    "2": ("089", "090", "093", "070", "076", "077", "078", "079"),
    "3": ("088", "091", "094", "081", "082", "083", "084", "085"),
    "4": ("092", "056", "058"),
    "5": ("099", "059"),
    "6": ("087",),
    "7": ("055",),
}
"""telcoid → the mobile prefixes of that carrier (1 Viettel, 2 Mobifone, 3 Vinaphone,
4 Vietnamobile, 5 Gtel, 6 Itel, 7 Reddi)."""

USER_INACTIVE = {
    "error": -114,
    "message": "User is inactive, or reject the message, or using an outdated Zalo version, "
    "or other internal errors",
}
TYPE_IDS = {
    "1": "esms.sms.ads",
    "2": "esms.sms.cskh",
    "23": "esms.viber.message",
    "24": "esms.zns.priority",
    "25": "esms.zns.normal",
    "26": "esms.zalo.follower",
    "27": "esms.zns.journey",
}
ZNS_UID = "esms.zns.uid"
UID_TELCOID = "9"
"""The ``telcoid`` of eSMS's only callback for a send by Zalo user id."""
_PHONE = re.compile(r"^(?:0|84)[0-9]{9,10}$")
UID_DELIVERED = {
    "error": 0,
    "message": "Success",
    "data": {
        "delivery_time": None,
        "message": "The message was delivered to the user's phone",
        "status": 1,
    },
}


def carrier_of(phone: str) -> str | None:
    """The telcoid whose prefixes ``phone`` (0xxxxxxxxx or 84xxxxxxxxx) starts with."""
    local = "0" + phone[2:] if phone.startswith("84") else phone
    for telcoid, prefixes in CARRIER_PREFIXES.items():
        if local.startswith(prefixes):
            return telcoid
    return None


def _smsid(fake: Faker) -> str:
    # Seen in the examples: a GUID with or without dashes, often with digits appended.
    raw = random_hex(fake, 32)
    if fake.random.random() < 0.5:
        raw = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return raw + "".join(str(fake.random.randint(0, 9)) for _ in range(fake.random.randint(0, 3)))


def new_message(fake: Faker) -> Message:
    """The fields every callback about one eSMS message shares."""
    telcoid = fake.random.choice(sorted(CARRIER_PREFIXES))
    phone = fake.random.choice(CARRIER_PREFIXES[telcoid]) + random_digits(fake, 7)
    user_id = random_digits(fake, 17)
    return {
        "SMSID": _smsid(fake),
        "RequestId": "",  # empty in every documented example
        "telcoid": telcoid,
        "phonenumber": phone,
        "user_id": user_id,
        "oaid": random_digits(fake, 19),
        "tempid": random_digits(fake, 7),
        "partnerids": random_hex(fake, 20),
        "receivers": fake.random.randint(30, 300),
        "unit_price": fake.random.choice([250, 300, 470, 650, 850]),
        # A fixed window, not relative to today, so a seed gives the same payload on every run.
        "sent_at": datetime(2024, 1, 1) + timedelta(seconds=fake.random.randint(0, 365 * 86400)),
        "outcome": "delivered",
    }


def _failed(message: Message) -> bool:
    return bool(message.get("outcome") == "failed")


def _counts(fake: Faker, message: Message, type_id: str, receivers: int = 1) -> Payload:
    if receivers == 1:
        success = 0 if _failed(message) else 1
        failed, sent = 1 - success, 1
    else:
        sent = receivers
        success = 0 if _failed(message) else fake.random.randint(0, sent)
        failed = fake.random.randint(0, sent - success)
    # A failed message costs nothing (docs/send-apis.md), a campaign included.
    price = 0 if _failed(message) else message["unit_price"] * (sent if receivers > 1 else 1)
    return {
        "SMSID": message["SMSID"],
        "SendFailed": str(failed),
        "SendStatus": "5",
        "SendSuccess": str(success),
        "TotalPrice": f"{price:.4f}",
        "TotalReceiver": str(receivers),
        "TotalSent": str(sent),
        "RequestId": message["RequestId"],
        "TypeId": type_id,
    }


def _zns_error_info(message: Message) -> dict[str, Any]:
    return dict(USER_INACTIVE) if _failed(message) else {"error": 0, "message": "Success"}


def _send_result(message: Message) -> dict[str, Any]:
    if _failed(message):
        return {"data": None, **USER_INACTIVE}
    return {
        "data": {"message_id": message["partnerids"], "user_id": message["user_id"]},
        "error": 0,
        "message": "Success",
    }


def _sms_ads(fake: Faker, message: Message) -> Payload:
    return _counts(fake, message, "1", receivers=message["receivers"])


def _sms_cskh(fake: Faker, message: Message) -> Payload:
    payload = _counts(fake, message, "2")
    payload.update(telcoid=message["telcoid"], phonenumber=message["phonenumber"], switchsmsid="")
    return payload


def _viber(fake: Faker, message: Message) -> Payload:
    payload = _counts(fake, message, "23")
    payload.update(telcoid=message["telcoid"], phonenumber=message["phonenumber"])
    return payload


def _zns(type_id: str) -> Any:
    def build(fake: Faker, message: Message) -> Payload:
        # The failed ZNS example reports SendFailed=1 with TotalSent=0; generated callbacks keep
        # the counts consistent (SendSuccess + SendFailed <= TotalSent) and say TotalSent=1.
        payload = _counts(fake, message, type_id)
        payload.update(
            telcoid=message["telcoid"],
            phonenumber=message["phonenumber"],
            partnerids="" if _failed(message) else message["partnerids"],
            error_info=encode_error_info(
                _zns_error_info(message), ErrorInfoEncoding.QUOTED_PERCENT
            ),
            oaid=message["oaid"],
            tempid=message["tempid"],
        )
        return payload

    return build


def _zalo_send_result(type_id: str) -> Any:
    def build(fake: Faker, message: Message) -> Payload:
        payload = _counts(fake, message, type_id)
        late = timedelta(seconds=fake.random.randint(1, 59))
        stamp = message["sent_at"] + (timedelta(0) if message.get("live") else late)
        payload.update(
            phonenumber=message["user_id"],
            error_info=encode_error_info(
                _send_result(message), ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED, timestamp=stamp
            ),
            oaid=message["oaid"],
            partnerids="" if _failed(message) else message["partnerids"],
        )
        return payload

    return build


def _zns_uid(fake: Faker, message: Message) -> Payload:
    """A ZNS sent by Zalo user id: ``phonenumber`` is ``message['user_id']``, ``telcoid`` 9, the
    decoded ``error_info`` carries Zalo's delivery status, ``partnerids`` last (eSMS's example)."""
    payload = _counts(fake, message, "25")
    failed = _failed(message)
    result = {**USER_INACTIVE, "data": None} if failed else UID_DELIVERED
    payload.update(
        telcoid=UID_TELCOID,
        phonenumber=message["user_id"],
        error_info=encode_error_info(result, ErrorInfoEncoding.PERCENT_JSON),
        oaid=message["oaid"],
        tempid=message["tempid"],
        partnerids="" if failed else message["partnerids"],
    )
    return payload


ZNS_ERROR_INFO = PackedField("error_info", "esms.error_info.zns", ErrorInfoEncoding.QUOTED_PERCENT)
"""``error_info`` of ZNS callbacks: Zalo's answer, quoted then percent-encoded (the docs' ZNS
example)."""
UID_ERROR_INFO = PackedField(
    "error_info", "esms.error_info.uid_result", ErrorInfoEncoding.PERCENT_JSON
)
SEND_RESULT_ERROR_INFO = PackedField(
    "error_info", "esms.error_info.send_result", ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED
)
"""``error_info`` of follower and journey callbacks: the send result, timestamped."""

KINDS: dict[str, ReceiptKind] = {
    kind.name: kind
    for kind in (
        ReceiptKind("esms.sms.ads", "advertising SMS campaign (TypeId 1)", _sms_ads),
        ReceiptKind("esms.sms.cskh", "customer-care / OTP SMS (TypeId 2)", _sms_cskh),
        ReceiptKind("esms.viber.message", "Viber message (TypeId 23)", _viber),
        ReceiptKind(
            "esms.zns.priority",
            "Zalo ZNS, priority / OTP (TypeId 24)",
            _zns("24"),
            packed=ZNS_ERROR_INFO,
        ),
        ReceiptKind(
            "esms.zns.normal",
            "Zalo ZNS, normal (TypeId 25)",
            _zns("25"),
            packed=ZNS_ERROR_INFO,
        ),
        ReceiptKind(
            ZNS_UID,
            "Zalo ZNS sent by Zalo user id (TypeId 25, telcoid 9, phonenumber is the user id)",
            _zns_uid,
            packed=UID_ERROR_INFO,
        ),
        ReceiptKind(
            "esms.zalo.follower",
            "Zalo message to an OA follower; phonenumber is a Zalo user id (TypeId 26)",
            _zalo_send_result("26"),
            packed=SEND_RESULT_ERROR_INFO,
        ),
        ReceiptKind(
            "esms.zns.journey",
            "Zalo ZNS journey message (TypeId 27)",
            _zalo_send_result("27"),
            packed=SEND_RESULT_ERROR_INFO,
        ),
        esms_voice.KIND,
        esms_mo.KIND,
        esms_registration.KIND,
    )
}


def is_zns_uid(payload: Mapping[str, Any]) -> bool:
    """Whether a TypeId 25 callback reports a send by Zalo user id rather than by phone.

    eSMS says ``phonenumber`` holds the Zalo user id for those sends, and its example has
    ``telcoid`` 9 (carriers are 1–7): either tells them apart.
    """
    if str(payload.get("telcoid")) == UID_TELCOID:
        return True
    phone = payload.get("phonenumber")
    return isinstance(phone, str) and phone.isdigit() and not _PHONE.match(phone)


def detect(payload: Mapping[str, Any]) -> str | None:
    """The kind of an eSMS callback: from its ``TypeId`` (25 by Zalo user id apart), else from
    the voice callback's, the MO push's or the template registration's own parameters."""
    type_id = payload.get("TypeId")
    if type_id is None:
        return (esms_voice.detect(payload) or esms_mo.detect(payload)
                or esms_registration.detect(payload))
    kind = TYPE_IDS.get(str(type_id))
    if kind == "esms.zns.normal" and is_zns_uid(payload):
        return ZNS_UID
    return kind


PROVIDER = Provider(
    name="esms",
    title="eSMS",
    description="eSMS.vn: SMS, Viber and Zalo callbacks as an HTTP GET query string",
    kinds=KINDS,
    # [doc] retried 5 times when the customer's URL times out. [choice] 10 s timeout, 10 s
    # between attempts, only timeouts retried, any 2xx acknowledges.
    policy=DeliveryPolicy(timeout=10.0, retries=5, retry_interval=10.0),
    transport=GET_QUERY,
    message_key="SMSID",
    new_message=new_message,
    detect=detect,
    discriminator="TypeId",
    typed_field="SendSuccess",
    umbrella_schema="esms.callback",
    time_zone=timezone(timedelta(hours=7)),  # Vietnam
)
