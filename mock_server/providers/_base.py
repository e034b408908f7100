"""What a provider is made of: receipt kinds, a delivery policy, and its wire transport."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone, tzinfo
from typing import Any, Literal
from urllib.parse import urlencode

from faker import Faker

from .._errors import ErrorInfoError
from .._http import Request as WireRequest
from .._wire import (
    DecodedErrorInfo,
    ErrorInfoEncoding,
    append_query,
    decode_error_info,
    encode_error_info,
    encode_query,
)

Payload = dict[str, Any]
Message = dict[str, Any]
"""Fields generated once per message and shared by every receipt about it."""

Builder = Callable[[Faker, Message], Payload]
Encoder = Callable[["ReceiptKind", Payload, str, "ErrorInfoEncoding | None"], WireRequest]
"""(kind, payload, target URL, packed-field encoding override) → the request on the wire."""


def random_digits(fake: Faker, count: int) -> str:
    """``count`` random decimal digits, the first not 0 (ids the providers write as digits)."""
    low, high = _digit_bounds(count)
    return str(fake.random.randint(low, high))


@functools.cache
def _digit_bounds(count: int) -> tuple[int, int]:
    """The smallest and largest number of ``count`` digits."""
    return 10 ** (count - 1), 10**count - 1


def random_hex(fake: Faker, count: int) -> str:
    """``count`` random lowercase hex digits."""
    return f"{fake.random.getrandbits(count * 4):0{count}x}"


@dataclass(frozen=True)
class AcknowledgeRule:
    """What answer acknowledges a receipt: a predicate over the HTTP status and the body."""

    name: str
    """How policies and overrides name the rule (``2xx``, ``200``, ``success``)."""
    wants: str
    """The rule in words: "the provider wants {wants}"."""
    accepts: Callable[[int, bytes], bool]


ACKNOWLEDGE_RULES: Mapping[str, AcknowledgeRule] = {
    rule.name: rule
    for rule in (
        AcknowledgeRule("2xx", "any 2xx answer", lambda status, body: 200 <= status < 300),
        AcknowledgeRule("200", "exactly HTTP 200", lambda status, body: status == 200),
        AcknowledgeRule(
            "success",
            "a 2xx answer whose body is the plain text 'success'",
            lambda status, body: 200 <= status < 300 and body.strip() == b"success",
        ),
    )
}
"""The acknowledgement rules a family (or a run's ``policy``) can name."""


@dataclass(frozen=True)
class DeliveryPolicy:
    """How a receipt family is delivered and what counts as acknowledged.

    Defaults marked [choice] in docs/scenarios.md ("Delivery rules") are dlrmock's
    interpretation where the provider is silent; every field can be overridden per run.
    """

    timeout: float = 10.0
    """Seconds to wait for the webhook's answer (real time, never scaled)."""
    retries: int = 0
    """Further attempts after the first, for the outcomes in ``retry_on``."""
    retry_interval: float = 10.0
    """Seconds between attempts (scaled by the run's clock)."""
    retry_on: frozenset[str] = frozenset({"timeout"})
    acknowledge: Literal["2xx", "200", "success"] = "2xx"
    """The name of the :data:`ACKNOWLEDGE_RULES` rule that acknowledges a receipt."""
    parameters: Literal["body", "query"] = "body"
    """Where a form-encoded receipt carries its parameters: the POST body, or the URL's query
    string with an empty body (NXCloud SMS reports of accounts registered before May 2023)."""

    def __post_init__(self) -> None:
        if self.acknowledge not in ACKNOWLEDGE_RULES:
            raise ValueError(
                f"unknown acknowledgement rule {self.acknowledge!r}; known: "
                f"{', '.join(ACKNOWLEDGE_RULES)}"
            )
        # Looked up once: acknowledges() runs for every answer.
        object.__setattr__(self, "_accepts", ACKNOWLEDGE_RULES[self.acknowledge].accepts)

    @property
    def rule(self) -> AcknowledgeRule:
        return ACKNOWLEDGE_RULES[self.acknowledge]

    def explain(self) -> str:
        """The acknowledgement rule in words, for failure messages."""
        return f"the provider wants {self.rule.wants}"

    def acknowledges(self, status: int, body: bytes) -> bool:
        """Whether an answer with ``status`` and ``body`` acknowledges the receipt."""
        accepts: Callable[[int, bytes], bool] = self._accepts  # type: ignore[attr-defined]
        return accepts(status, body)

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
class Transport:
    """How a family's receipts travel: the HTTP method, where the values go, their types."""

    name: str
    """``GET query``, ``POST JSON``, ``POST form``."""
    method: Literal["GET", "POST"]
    body: str
    """What the request body holds: ``json``, ``form``, another format's name, or ``none``
    (the values travel in the URL's query string)."""
    text_values: bool
    """Every value reaches the receiver as text (a query string or a form), so ``--set K=V``
    keeps ``V`` as typed."""
    encode: Encoder
    route_hint: str
    """What a 404/405 hint says the provider does ("{provider} {route_hint}; does your route
    accept {method} at this path?"); ``{family}`` names the receipt family."""
    headers: tuple[tuple[str, str], ...] = ()
    """Headers the family adds to every receipt (e.g. NXCC's ``token``)."""


@dataclass(frozen=True)
class PackedField:
    """A receipt field holding a JSON object encoded as text (eSMS's ``error_info``): checked
    against its own schema, edited through ``FIELD.sub`` overrides, broken by
    ``malformed: bad_error_info``."""

    name: str
    schema: str
    """Schema of the decoded object."""
    encoding: ErrorInfoEncoding
    """How the provider's own example encodes it; generators do the same."""
    broken: str = "%7B%22error%22%3A"
    """What ``malformed: bad_error_info`` sends instead: a truncated, encoded object."""

    def decode(self, value: str) -> DecodedErrorInfo:
        """The object in ``value``, in any of the encodings (``ErrorInfoError`` if none)."""
        return decode_error_info(value)

    def encode(
        self,
        obj: Mapping[str, Any],
        encoding: ErrorInfoEncoding | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """``obj`` as the field's value, in ``encoding`` (the field's own by default)."""
        return encode_error_info(obj, encoding or self.encoding, timestamp=timestamp)


@dataclass(frozen=True)
class Family:
    """A receipt family: kinds that share one delivery policy and one transport.

    A family module declares it with what differs from its provider; the provider fills in
    the rest when it binds its kinds (``provider`` is set then).
    """

    name: str
    """The kind names' first two parts (``nxcloud.sms``)."""
    policy: DeliveryPolicy | None = None
    transport: Transport | None = None
    provider: Provider | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ReceiptKind:
    """One documented callback shape: its schema (``<name>.json``), its factory, its family."""

    name: str
    description: str
    build: Builder
    packed: PackedField | None = None
    """A field holding an encoded JSON object with a schema of its own (eSMS Zalo types)."""
    restamp: Callable[[Payload, datetime], Payload] | None = None
    """For receipts of real sends: sets the fields that tell when the event happened to
    ``now`` (naive, in the provider's zone) as the receipt leaves."""
    family: Family | None = None
    """The family, when it declares a policy or transport of its own; bound by the provider."""
    message_key: str = ""
    """The message field that identifies the message in this family ("": the provider's)."""
    discriminator: str = ""
    """The field that tells this family's kinds apart ("": the provider's)."""
    typed_field: str = ""
    """A field with a strict type in this family, broken by ``malformed: wrong_type`` ("": the
    provider's)."""
    receipt_key: str = ""
    """The receipt field that carries the message key when its name differs from the message's
    (eSMS voice: ``ReferenceId`` carries the ``SMSID``); ``malformed: missing_field`` drops it."""

    def _bound(self) -> Family:
        if self.family is None or self.family.provider is None:
            raise RuntimeError(f"receipt kind {self.name!r} is not bound to a provider")
        return self.family

    @property
    def provider(self) -> Provider:
        provider = self._bound().provider
        assert provider is not None  # checked by _bound
        return provider

    @property
    def family_name(self) -> str:
        """The family's name, the kind name's first two parts (``nxcloud.sms``)."""
        return self._bound().name

    @property
    def policy(self) -> DeliveryPolicy:
        """The family's delivery policy."""
        policy = self._bound().policy
        assert policy is not None  # set by binding
        return policy

    @property
    def transport(self) -> Transport:
        """The family's transport."""
        transport = self._bound().transport
        assert transport is not None  # set by binding
        return transport

    @property
    def key_field(self) -> str:
        """The receipt field that carries the message key (dropped by ``missing_field``)."""
        return self.receipt_key or self.message_key

    @property
    def error_info_schema(self) -> str | None:
        """Schema of the packed field's decoded object (eSMS ``error_info``), if any."""
        return self.packed.schema if self.packed else None

    @property
    def error_info_encoding(self) -> ErrorInfoEncoding | None:
        return self.packed.encoding if self.packed else None

    def wire(
        self, payload: Payload, url: str, encoding: ErrorInfoEncoding | None = None
    ) -> WireRequest:
        """Exactly what the provider sends for ``payload`` to ``url`` (``encoding``: the packed
        field's, when not the kind's own)."""
        return self.transport.encode(self, payload, url, encoding)


@dataclass(frozen=True, eq=False)
class Provider:
    """A messaging provider: its receipt kinds and the defaults its families share."""

    name: str
    title: str
    """The provider's own spelling of its name (``NXCloud``, ``eSMS``), for messages."""
    description: str
    kinds: Mapping[str, ReceiptKind] = field(repr=False)
    """Declared by the family modules; bound to this provider on construction."""
    policy: DeliveryPolicy
    """The delivery policy of families that declare none."""
    transport: Transport
    """The transport of families that declare none."""
    message_key: str
    """The receipt field that identifies the message (``requestId``, ``SMSID``)."""
    new_message: Callable[[Faker], Message]
    detect: Callable[[Mapping[str, Any]], str | None]
    discriminator: str
    """The field that tells the kinds apart (``status``, ``TypeId``)."""
    typed_field: str
    """A field with a strict type, broken by ``malformed: wrong_type`` steps."""
    umbrella_schema: str = ""
    """The schema that dispatches on the discriminator."""
    time_zone: tzinfo = timezone.utc
    """The provider's clock: the message field ``sent_at`` is a naive time in this zone."""
    families: Mapping[str, Family] = field(default_factory=dict, repr=False, compare=False)
    """The bound families, by name (filled on construction)."""

    def __post_init__(self) -> None:
        families: dict[str, Family] = {}
        kinds: dict[str, ReceiptKind] = {}
        for name, kind in self.kinds.items():
            declared = kind.family or Family(".".join(name.split(".")[:2]))
            family = families.get(declared.name)
            if family is None:
                family = families[declared.name] = replace(
                    declared,
                    policy=declared.policy or self.policy,
                    transport=declared.transport or self.transport,
                    provider=self,
                )
            elif declared.policy not in (None, family.policy) or declared.transport not in (
                None, family.transport
            ):
                raise ValueError(f"kind {name!r} declares a different family {declared.name!r}")
            kinds[name] = replace(
                kind,
                family=family,
                message_key=kind.message_key or self.message_key,
                discriminator=kind.discriminator or self.discriminator,
                typed_field=kind.typed_field or self.typed_field,
            )
        # Frozen for users; bound once, here.
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "families", families)


def form_to_query(request: WireRequest) -> WireRequest:
    """A form POST with its parameters moved into the URL's query string and an empty body."""
    query = request.body.decode("ascii")
    headers = tuple((n, v) for n, v in request.headers if n.lower() != "content-type")
    return WireRequest(request.method, append_query(request.url, query), headers, b"")


def _with_content_type(content_type: str, kind: ReceiptKind) -> tuple[tuple[str, str], ...]:
    """The headers of a receipt with a body: its type, then the family's own."""
    return _headers(content_type, kind.transport.headers)


@functools.cache
def _headers(content_type: str, family: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """One tuple per family, shared by every receipt (a run waiting to be sent holds no copy of
    its own)."""
    return (("Content-Type", content_type), *family)


_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""One encoder for every JSON receipt (``json.dumps`` with options builds a new one per call)."""


def _json_body(
    kind: ReceiptKind, payload: Payload, url: str, encoding: ErrorInfoEncoding | None = None
) -> WireRequest:
    body = _COMPACT_JSON.encode(payload).encode()
    return WireRequest("POST", url, _with_content_type("application/json", kind), body)


def _form_body(
    kind: ReceiptKind, payload: Payload, url: str, encoding: ErrorInfoEncoding | None = None
) -> WireRequest:
    body = urlencode({name: str(value) for name, value in payload.items()}).encode("ascii")
    return WireRequest("POST", url, _with_content_type("application/x-www-form-urlencoded", kind),
                       body)


def _query(
    kind: ReceiptKind, payload: Payload, url: str, encoding: ErrorInfoEncoding | None = None
) -> WireRequest:
    params = {name: "" if value is None else str(value) for name, value in payload.items()}
    packed = kind.packed
    used = packed.encoding if packed else None
    if packed is not None and encoding is not None and packed.name in params \
            and encoding != used:
        try:
            decoded = packed.decode(params[packed.name])
        except ErrorInfoError:  # deliberately broken (a malformed step): sent as it is
            pass
        else:
            params[packed.name] = packed.encode(decoded.data, encoding, decoded.timestamp)
            used = encoding
    query = encode_query(params, error_info_encoding=used, packed=packed.name if packed else None)
    return WireRequest("GET", append_query(url, query), kind.transport.headers, b"")


POST_JSON = Transport(
    "POST JSON", "POST", "json", text_values=False, encode=_json_body, route_hint="posts JSON"
)
"""The receipt as a compact UTF-8 JSON body."""
POST_FORM = Transport(
    "POST form", "POST", "form", text_values=True, encode=_form_body,
    route_hint="posts {family} receipts as a form (application/x-www-form-urlencoded)",
)
"""The receipt as ``application/x-www-form-urlencoded`` (spaces as ``+``); every value text."""
GET_QUERY = Transport(
    "GET query", "GET", "none", text_values=True, encode=_query,
    route_hint="calls back with GET (the values in the query string)",
)
"""The receipt appended to the URL's query string, in the payload's order; every value text.
A packed field is written in the kind's encoding unless the run asks for another."""


__all__ = [
    "ACKNOWLEDGE_RULES",
    "GET_QUERY",
    "POST_FORM",
    "POST_JSON",
    "AcknowledgeRule",
    "Builder",
    "DeliveryPolicy",
    "Encoder",
    "Family",
    "Message",
    "PackedField",
    "Payload",
    "Provider",
    "ReceiptKind",
    "Transport",
    "WireRequest",
    "form_to_query",
    "random_digits",
    "random_hex",
]
