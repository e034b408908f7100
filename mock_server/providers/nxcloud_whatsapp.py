"""NXCloud WhatsApp webhooks: message statuses and inbound messages, JSON POSTed to the app's
``webhook_url`` (or the send's ``dr_webhook``).

A status receipt is ``{"statuses": [{"id", "status", "timestamp", "recipient_id", …}]}``; an
inbound message is ``{"contacts": [...], "messages": [...], "merchant_phone", …}``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from faker import Faker

from ._base import Builder, Message, Payload, ReceiptKind, random_hex

FAMILY = "nxcloud.whatsapp"
MESSAGE_KEY = "wamid"
STATUSES: Mapping[str, str] = {
    "sent": "sent to WhatsApp, with the conversation and its costs",
    "delivered": "delivered to the phone",
    "read": "read by the user",
    "failed": "not sent; WhatsApp's error in errors[]",
    "deleted": "deleted by the user",
}


def wamid(fake: Faker, message: Message) -> str:
    """The message id of the send (``messages[0].id`` of its answer), kept in the message."""
    value = message.get(MESSAGE_KEY)
    if value is None:
        raw = fake.random.getrandbits(8 * 21).to_bytes(21, "big")
        value = message[MESSAGE_KEY] = "gBG" + base64.urlsafe_b64encode(raw).decode()[:25]
    # The provider-wide message has a generated Zalo requestId; WhatsApp has none to show a probe.
    if str(message.get("requestId", "")).startswith("zalomid."):
        del message["requestId"]
    return str(value)


def _unix(message: Message, fake: Faker, later: int = 0) -> str:
    sent: datetime = message["sent_at"]
    from .nxcloud import SEND_TIME_ZONE  # the provider's clock: sent_at is naive China time

    moment = sent.replace(tzinfo=SEND_TIME_ZONE) + timedelta(seconds=later)
    return str(int(moment.timestamp()))


def _conversation(fake: Faker, message: Message, expiring: bool) -> dict[str, Any]:
    conversation: dict[str, Any] = {
        "id": message.setdefault("wa_conversation", random_hex(fake, 32)),
    }
    if expiring:
        conversation["expiration_timestamp"] = _unix(message, fake, 86_400)
    conversation["origin"] = {"type": message.get("wa_category", "utility")}
    return conversation


def _cost(fake: Faker, message: Message) -> dict[str, Any]:
    price = message.setdefault("wa_price", round(fake.random.uniform(0.005, 0.08), 4))
    return {
        "currency": "USD",
        "price": round(price * 7.1, 4),
        "foreign_price": price,
        "cdr_type": 5,
        "message_id": wamid(fake, message),
        "direction": 1,
    }


def _builder(status: str) -> Builder:
    def build(fake: Faker, message: Message) -> Payload:
        later = {"sent": 1, "delivered": 2, "read": 30, "failed": 1, "deleted": 60}[status]
        item: dict[str, Any] = {
            "id": wamid(fake, message),
            "status": status,
            "timestamp": _unix(message, fake, later),
            "recipient_id": str(message["phone"]),
        }
        if status == "sent":
            item["conversation"] = _conversation(fake, message, expiring=True)
            item["costs"] = [_cost(fake, message)]
        elif status == "delivered":
            item["conversation"] = _conversation(fake, message, expiring=False)
        elif status == "failed":
            item["errors"] = [{
                "code": 470,
                "title": "Failed to send message because you are outside the support window "
                "for freeform messages to this user. Please use a valid HSM notification or "
                "reconsider.",
            }]
        elif status == "deleted":
            item["type"] = "message"
            item["message"] = {"recipient_id": str(message["phone"])}
        payload: Payload = {"statuses": [item]}
        # [choice] The field table documents these two; the examples leave them out.
        if message.get("business_phone") is not None:
            payload["business_phone"] = str(message["business_phone"])
        payload["messaging_product"] = "whatsapp"
        return payload

    return build


def _build_inbound(fake: Faker, message: Message) -> Payload:
    phone = str(message["phone"])
    raw = fake.random.getrandbits(8 * 27).to_bytes(27, "big")
    inbound_id = "ABGH" + base64.urlsafe_b64encode(raw).decode()[:34]
    return {
        "contacts": [{"profile": {"name": fake.first_name()}, "wa_id": phone}],
        "messages": [{
            "from": phone,
            "id": inbound_id,
            "text": {"body": fake.random.choice(["Hello", "Yes", "Stop", "Thanks!"])},
            "timestamp": _unix(message, fake, 120),
            "type": "text",
            "cost": {"currency": "USD", "price": 0, "foreign_price": 0, "cdr_type": 4,
                     "message_id": inbound_id, "direction": 1},
        }],
        "merchant_phone": str(message.get("business_phone") or "8617600000000"),
        "messaging_product": "whatsapp",
    }


TEMPLATE_FIELDS = ("message_template_status_update", "message_template_quality_update",
                   "template_category_update")
ACCOUNT_FIELDS = ("account_update", "account_review_update", "phone_number_name_update",
                  "phone_number_quality_update", "user_preferences")


def _event_value(fake: Faker, message: Message) -> dict[str, Any]:
    return {"business_phone": str(message.get("business_phone") or "8618500008399")}


def _build_template_event(fake: Faker, message: Message) -> Payload:
    event = fake.random.choice(["APPROVED", "REJECTED", "PAUSED", "PENDING_DELETION"])
    value = _event_value(fake, message)
    value.update({
        "event": event,
        "message_template_id": str(fake.random.randint(10**12, 10**15)),
        "message_template_language": fake.random.choice(["en", "en_US", "vi"]),
        "message_template_name": fake.random.choice(["order_update", "otp_code", "welcome"]),
        "reason": "INCORRECT_CATEGORY" if event == "REJECTED" else "NONE",
        "time": int(_unix(message, fake, 3600)),
        "wabaId": message.setdefault("waba_id", str(fake.random.randint(10**14, 10**15))),
    })
    return {"field": "message_template_status_update", "value": value}


def _build_account_event(fake: Faker, message: Message) -> Payload:
    value = _event_value(fake, message)
    value.update({
        "event": fake.random.choice(["ACCOUNT_VIOLATION", "ACCOUNT_RESTRICTION",
                                     "ACCOUNT_DELETED"]),
        "time": int(_unix(message, fake, 7200)),
        "wabaId": message.setdefault("waba_id", str(fake.random.randint(10**14, 10**15))),
    })
    return {"field": "account_update", "value": value}


KINDS: dict[str, ReceiptKind] = {
    **{
        f"{FAMILY}.{status}": ReceiptKind(
            f"{FAMILY}.{status}", f"WhatsApp status: {description}", _builder(status),
            message_key=MESSAGE_KEY, discriminator="statuses", typed_field="statuses",
        )
        for status, description in STATUSES.items()
    },
    f"{FAMILY}.inbound": ReceiptKind(
        f"{FAMILY}.inbound", "WhatsApp message from a user (contacts + messages)", _build_inbound,
        message_key=MESSAGE_KEY, discriminator="messages", typed_field="messages",
    ),
    f"{FAMILY}.template_event": ReceiptKind(
        f"{FAMILY}.template_event",
        "a template's status, quality or category changed (field message_template_…)",
        _build_template_event, discriminator="field", typed_field="value",
    ),
    f"{FAMILY}.account_event": ReceiptKind(
        f"{FAMILY}.account_event",
        "a WABA or phone number event (field account_update, account_review_update, …)",
        _build_account_event, discriminator="field", typed_field="value",
    ),
}


def detect(payload: Mapping[str, Any]) -> str | None:
    """``nxcloud.whatsapp.<status>`` from ``statuses[0].status``, or ``.inbound``."""
    statuses = payload.get("statuses")
    if isinstance(statuses, list) and statuses and isinstance(statuses[0], Mapping):
        status = statuses[0].get("status")
        if isinstance(status, str) and status in STATUSES:
            return f"{FAMILY}.{status}"
        return None
    if isinstance(payload.get("messages"), list) and "contacts" in payload:
        return f"{FAMILY}.inbound"
    field = payload.get("field")
    if isinstance(field, str) and "value" in payload:
        if field in TEMPLATE_FIELDS:
            return f"{FAMILY}.template_event"
        if field in ACCOUNT_FIELDS:
            return f"{FAMILY}.account_event"
    return None


def is_whatsapp(payload: Mapping[str, Any]) -> bool:
    """Whether ``payload`` has the shape of a WhatsApp webhook, whatever its status."""
    return ("statuses" in payload or ("messages" in payload and "contacts" in payload)
            or ("field" in payload and "value" in payload))
