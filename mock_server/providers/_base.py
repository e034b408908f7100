"""What a provider is made of: receipt kinds, a delivery policy, and its wire transport."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone, tzinfo
from typing import Any, Literal

from faker import Faker

from .._http import Request as WireRequest
from .._wire import ErrorInfoEncoding, append_query

Payload = dict[str, Any]
Message = dict[str, Any]
"""Fields generated once per message and shared by every receipt about it."""

Builder = Callable[[Faker, Message], Payload]
Encoder = Callable[["ReceiptKind", Payload, str, "ErrorInfoEncoding | None"], WireRequest]
"""(kind, payload, target URL, error_info encoding override) → the request on the wire."""


def random_digits(fake: Faker, count: int) -> str:
    """``count`` random decimal digits, the first not 0 (ids the providers write as digits)."""
    return str(fake.random.randint(10 ** (count - 1), 10**count - 1))


def random_hex(fake: Faker, count: int) -> str:
    """``count`` random lowercase hex digits."""
    return f"{fake.random.getrandbits(count * 4):0{count}x}"


@dataclass(frozen=True)
class ReceiptKind:
    """One documented callback shape: its schema (``<name>.json``) and its factory."""

    name: str
    description: str
    build: Builder
    error_info_schema: str | None = None
    """Schema of the decoded ``error_info`` (eSMS Zalo types only)."""
    error_info_encoding: ErrorInfoEncoding | None = None
    """How the provider's own example encodes ``error_info``; generators do the same."""
    policy: DeliveryPolicy | None = None
    """The delivery policy of this kind's family when it differs from the provider's."""
    restamp: Callable[[Payload, datetime], Payload] | None = None
    """For receipts of real sends: sets the fields that tell when the event happened to
    ``now`` (naive, in the provider's zone) as the receipt leaves."""
    encode: Encoder | None = None
    """This kind's family's transport when it differs from the provider's (e.g. a form POST)."""
    message_key: str | None = None
    """The message field that identifies the message in this family, when not the provider's."""
    discriminator: str | None = None
    """The field that tells this family's kinds apart, when not the provider's."""
    typed_field: str | None = None
    """A field with a strict type in this family (broken by ``malformed: wrong_type``), when
    not the provider's."""
    receipt_key: str | None = None
    """The receipt field that carries the message key when its name differs from the message's
    (eSMS voice: ``ReferenceId`` carries the ``SMSID``); ``malformed: missing_field`` drops it."""

    @property
    def provider(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def family(self) -> str:
        """The receipt family: the kind name's first two parts (``nxcloud.sms``)."""
        return ".".join(self.name.split(".")[:2])


@dataclass(frozen=True)
class DeliveryPolicy:
    """How a provider delivers a receipt and what counts as acknowledged.

    Defaults marked [choice] in the README are dlrmock's interpretation where the provider is
    silent; every field can be overridden per run.
    """

    method: Literal["GET", "POST"]
    timeout: float = 10.0
    """Seconds to wait for the webhook's answer (real time, never scaled)."""
    retries: int = 0
    """Further attempts after the first, for the outcomes in ``retry_on``."""
    retry_interval: float = 10.0
    """Seconds between attempts (scaled by the run's clock)."""
    retry_on: frozenset[str] = frozenset({"timeout"})
    acknowledge: Literal["2xx", "200", "success"] = "2xx"
    """What answer acknowledges a receipt: any 2xx status, exactly 200, or a 2xx whose body
    is the text ``success`` (surrounding white space ignored)."""
    parameters: Literal["body", "query"] = "body"
    """Where a form-encoded receipt carries its parameters: the POST body, or the URL's query
    string with an empty body (NXCloud SMS reports of accounts registered before May 2023)."""

    def explain(self) -> str:
        """The acknowledgement rule in words, for failure messages."""
        if self.acknowledge == "200":
            return "the provider wants exactly HTTP 200"
        if self.acknowledge == "success":
            return "the provider wants a 2xx answer whose body is the plain text 'success'"
        return "the provider wants any 2xx answer"

    def acknowledges(self, status: int, body: bytes) -> bool:
        """Whether an answer with ``status`` and ``body`` acknowledges the receipt."""
        if self.acknowledge == "200":
            return status == 200
        if not 200 <= status < 300:
            return False
        return self.acknowledge == "2xx" or body.strip() == b"success"

    def with_overrides(self, overrides: Mapping[str, Any]) -> DeliveryPolicy:
        """A copy with ``overrides`` applied; unknown names raise ``ValueError``."""
        names = set(self.__dataclass_fields__)
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(
                f"unknown delivery policy setting {unknown[0]!r}; known: {', '.join(sorted(names))}"
            )
        values = dict(overrides)
        if "retry_on" in values:
            values["retry_on"] = frozenset(values["retry_on"])
        return replace(self, **values)


@dataclass(frozen=True)
class Provider:
    """A messaging provider: its receipt kinds, how it delivers them, and how it encodes them."""

    name: str
    description: str
    kinds: Mapping[str, ReceiptKind]
    policy: DeliveryPolicy
    message_key: str
    """The receipt field that identifies the message (``requestId``, ``SMSID``)."""
    new_message: Callable[[Faker], Message]
    detect: Callable[[Mapping[str, Any]], str | None]
    encode: Callable[[ReceiptKind, Payload, str, ErrorInfoEncoding | None], WireRequest]
    """(kind, payload, target URL, error_info encoding override) → the request."""
    discriminator: str
    """The field that tells the kinds apart (``status``, ``TypeId``)."""
    typed_field: str
    """A field with a strict type, broken by ``malformed: wrong_type`` steps."""
    umbrella_schema: str = ""
    """The schema that dispatches on the discriminator."""
    time_zone: tzinfo = timezone.utc
    """The provider's clock: the message field ``sent_at`` is a naive time in this zone."""


def form_to_query(request: WireRequest) -> WireRequest:
    """A form POST with its parameters moved into the URL's query string and an empty body."""
    query = request.body.decode("ascii")
    headers = tuple((n, v) for n, v in request.headers if n.lower() != "content-type")
    return WireRequest(request.method, append_query(request.url, query), headers, b"")


__all__ = [
    "Builder",
    "DeliveryPolicy",
    "Encoder",
    "Message",
    "Payload",
    "Provider",
    "ReceiptKind",
    "WireRequest",
    "form_to_query",
    "random_digits",
    "random_hex",
]
