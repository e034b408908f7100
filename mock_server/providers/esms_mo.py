"""eSMS.vn short-code MO: an SMS a customer sent to a short code, pushed to the partner.

"When a customer texts the short code, eSMS sends a request like this to the partner": an HTTP
GET with ``sender, content, serviceNumber, keyword, sign, cpid, smsid, receiverTime``. ``sign``
is Base64 of the raw MD5 of ``cpid + smsid + content + receiverTime + private key`` (the
documented .NET, Java and PHP snippets all Base64-encode the digest). The partner answers with a
``<ClientResponse>`` XML document holding the reply SMS; eSMS documents no acknowledgement or
resend rule for this push.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from faker import Faker

from ._base import Message, Payload, ReceiptKind, random_digits

MO_SHORTCODE = "esms.mo.shortcode"
FIELDS = ("sender", "content", "serviceNumber", "keyword", "sign", "cpid", "smsid",
          "receiverTime")
"""The push's parameters, in the order of eSMS's template."""
SERVICE_NUMBERS = ("8041", "8079", "6088")
"""The short codes eSMS names as examples."""
DEFAULT_CPID = "10001"
"""[choice] The partner id eSMS assigns (the docs show none)."""
DEFAULT_PRIVATE_KEY = "dlrmock-private-key"
"""[choice] The partner's private key used for ``sign`` unless the message has ``private_key``."""
RECEIVER_TIME_FORMAT = "%Y%m%d%H%M%S"
KEYWORDS = ("DK", "HUY", "TRACUU", "KM")


def mo_sign(cpid: str, smsid: str, content: str, receiver_time: str, private_key: str) -> str:
    """The ``sign`` eSMS puts on a short-code MO: Base64(MD5(cpid + smsid + content +
    receiverTime + private key)), the text encoded as UTF-8."""
    # MD5 is the provider's documented signature, not a security choice of dlrmock's.
    digest = hashlib.md5(
        (cpid + smsid + content + receiver_time + private_key).encode("utf-8")
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def _international(phone: str) -> str:
    return "84" + phone[1:] if phone.startswith("0") else phone


def _mo(fake: Faker, message: Message) -> Payload:
    """One MO push. Message fields: ``phonenumber`` (sent as ``sender`` in 84… form), ``SMSID``
    (sent as ``smsid``), optional ``content``, ``serviceNumber``, ``cpid``, ``private_key``."""
    content = str(
        message.get("content")
        or f"{fake.random.choice(KEYWORDS)} {random_digits(fake, 6)}"
    )
    late = timedelta(seconds=fake.random.randint(0, 59))
    # A real event (``live``) happens now; generated ones a moment after the message's time.
    received = message["sent_at"] + (timedelta(0) if message.get("live") else late)
    receiver_time = received.strftime(RECEIVER_TIME_FORMAT)
    cpid = str(message.get("cpid") or DEFAULT_CPID)
    smsid = str(message["SMSID"])
    private_key = str(message.get("private_key") or DEFAULT_PRIVATE_KEY)
    return {
        "sender": _international(str(message["phonenumber"])),
        "content": content,
        "serviceNumber": str(message.get("serviceNumber")
                             or fake.random.choice(SERVICE_NUMBERS)),
        "keyword": content.split()[0] if content.split() else "",
        "sign": mo_sign(cpid, smsid, content, receiver_time, private_key),
        "cpid": cpid,
        "smsid": smsid,
        "receiverTime": receiver_time,
    }


KIND = ReceiptKind(
    MO_SHORTCODE,
    "an SMS a customer sent to a short code, pushed to the partner (signed with MD5)",
    _mo,
    receipt_key="smsid",
    typed_field="receiverTime",
)


def detect(payload: Mapping[str, Any]) -> str | None:
    """``esms.mo.shortcode`` when the payload has the MO push's own parameters."""
    if "sender" in payload and "serviceNumber" in payload:
        return MO_SHORTCODE
    return None
