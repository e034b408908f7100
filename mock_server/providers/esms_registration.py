"""eSMS.vn template registration: the result of an SMS or ZNS template registration.

The registration APIs are ``SubServicePreviewJson/`` and ``RegisZNSTemplateJson/``.
eSMS documents only the status values sent to the registration's ``CallbackUrl``: "0: Failed
1: eSMS is received the submit 2: The template is registered successfully". The HTTP method, the
parameter names, the encoding and the retry rule are not documented anywhere. [choice] dlrmock
sends a GET with the query string ``ServicePreviewId=<id>&Status=<0|1|2>``, like eSMS's other
callbacks, with the eSMS retry rule; a registration plays 1 (received), then 2 or 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faker import Faker

from ._base import Message, Payload, ReceiptKind

TEMPLATE_REGISTRATION = "esms.template.registration"
FIELDS = ("ServicePreviewId", "Status")
"""[choice] The callback's parameters (the docs name none)."""
STATUSES = {"0": "failed", "1": "received", "2": "registered"}
"""[doc] 0 failed, 1 received by eSMS, 2 registered."""


def _registration(fake: Faker, message: Message) -> Payload:
    """One registration callback. Message fields: ``SMSID`` (the ``ServicePreviewId`` the
    registration answered, sent as ``ServicePreviewId``), ``outcome`` (``failed``: Status 0;
    anything else: 2; a scenario step sets 1 for "received")."""
    return {
        "ServicePreviewId": str(message["SMSID"]),
        "Status": "0" if message.get("outcome") == "failed" else "2",
    }


KIND = ReceiptKind(
    TEMPLATE_REGISTRATION,
    "SMS / ZNS template registration result (Status 0 failed, 1 received, 2 registered); "
    "[choice] GET ServicePreviewId=…&Status=…",
    _registration,
    receipt_key="ServicePreviewId",
    typed_field="Status",
)


def detect(payload: Mapping[str, Any]) -> str | None:
    """``esms.template.registration`` when the payload has ``ServicePreviewId`` and ``Status``."""
    if "ServicePreviewId" in payload and "Status" in payload:
        return TEMPLATE_REGISTRATION
    return None
