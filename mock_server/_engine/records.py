"""What a run sends (:class:`Delivery`) and what came of each request (:class:`Attempt`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._http import Request, with_default_headers
from ..providers import Payload
from .compact import Packed, pack, unpack
from .outcomes import ACKNOWLEDGED, LOST_ACK


def is_receipt_json(body: bytes, headers: tuple[tuple[str, str], ...],
                    malformed: str | None) -> bool:
    """Whether ``body`` is the compact JSON its receipt was encoded to (a JSON body not broken
    on purpose): then it *is* the receipt's packed form, kept once."""
    return (malformed is None and body[:1] == b"{"
            and any(name.lower() == "content-type" and value.startswith("application/json")
                    for name, value in headers))


def packed_receipt(payload: Payload, body: bytes, headers: tuple[tuple[str, str], ...],
                    malformed: str | None) -> Packed:
    """``payload`` packed; a JSON body encoded from it (see :func:`is_receipt_json`) is kept as
    its packed form."""
    if is_receipt_json(body, headers, malformed):
        return body
    return pack(payload, body)


class Delivery:
    """One receipt the run will send (a step, or a duplicate copy of one).

    A receipt sent as compact JSON is kept as the request's own body from the start
    (:func:`~mock_server._engine.plan.plan_run`; ``payload`` reads it back as a dict), so what
    is sent is stored once. Once its run has finished and the journal is large, the run packs
    the rest too (:meth:`Run.compact`).
    """

    __slots__ = ("_payload", "after", "body", "copy", "headers", "kind", "lost_ack", "malformed",
                 "method", "step", "url")
    _FIELDS = ("step", "copy", "kind", "after", "payload", "request", "lost_ack", "malformed")

    def __init__(self, step: int, copy: int, kind: str, after: float, payload: Packed,
                 request: Request, lost_ack: int = 0, malformed: str | None = None) -> None:
        self.step = step
        self.copy = copy
        self.kind = kind
        self.after = after
        self.method, self.url, self.headers, self.body = (
            request.method, request.url, request.headers, request.body)
        self._payload: Packed = payload
        self.lost_ack = lost_ack
        self.malformed = malformed

    @property
    def request(self) -> Request:
        """The exact request to send (as the receipt's family encodes it)."""
        return Request(self.method, self.url, self.headers, self.body)

    @property
    def payload(self) -> Payload:
        """The receipt sent (kept as JSON or compacted: a fresh dict each time)."""
        return unpack(self._payload)

    def replace(self, **changes: Any) -> Delivery:
        """A delivery like this one with ``changes`` (fields, ``payload``, ``request``); what
        is not changed is shared, not copied."""
        twin = object.__new__(Delivery)
        for name in self.__slots__:
            setattr(twin, name, getattr(self, name))
        if "payload" in changes or "request" in changes:
            request = changes.pop("request", self.request)
            twin.method, twin.url, twin.headers, twin.body = (
                request.method, request.url, request.headers, request.body)
            twin._payload = changes.pop("payload", self.payload)
        for name, value in changes.items():
            setattr(twin, name, value)
        return twin

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Delivery):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._FIELDS)
        return f"Delivery({shown})"


class Attempt:
    """One HTTP request sent to the target and what came of it."""

    __slots__ = ("_delivery", "at", "attempt", "error", "latency_ms", "offset", "outcome",
                 "response_body", "run_id", "status")
    _FIELDS = ("run_id", "step", "copy", "kind", "attempt", "request", "offset", "at",
               "latency_ms", "outcome", "status", "response_body", "error", "malformed")

    def __init__(self, run_id: str, step: int, copy: int, kind: str, attempt: int,
                 request: Request | Delivery, offset: float, at: float, latency_ms: float,
                 outcome: str, status: int | None = None, response_body: str = "",
                 error: str | None = None, malformed: str | None = None) -> None:
        self.run_id = run_id
        if isinstance(request, Request):  # not from a run of this engine (e.g. from_dict)
            request = Delivery(step, copy, kind, 0.0, {}, request, malformed=malformed)
        self._delivery = request
        """The delivery this attempt sent: its step, copy, kind and request, kept once."""
        self.attempt = attempt
        self.offset = offset
        """Seconds of scenario time since the run started."""
        self.at = at
        """Wall-clock time the request was sent (epoch seconds)."""
        self.latency_ms = latency_ms
        self.outcome = outcome
        self.status = status
        self.response_body = response_body
        self.error = error

    @property
    def step(self) -> int:
        return self._delivery.step

    @property
    def copy(self) -> int:
        return self._delivery.copy

    @property
    def kind(self) -> str:
        return self._delivery.kind

    @property
    def malformed(self) -> str | None:
        return self._delivery.malformed

    @property
    def request(self) -> Request:
        """The request sent, with every header the client adds spelled out (the journal keeps
        the request only as the receipt's family encoded it, and derives these)."""
        request = self._delivery.request
        try:
            return with_default_headers(request)
        except ValueError:  # a blocked target: shown as it would be sent
            return request

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attempt):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._FIELDS)
        return f"Attempt({shown})"

    @property
    def acknowledged(self) -> bool:
        """The answer acknowledged the receipt by the family's rule (even if the scenario then
        dropped it)."""
        return self.outcome in (ACKNOWLEDGED, LOST_ACK)

    HEADER = (
        f"{'time':>8}  {'step':<6} {'kind':<36} {'try':>3}  {'status':>6}  {'latency':>9}  outcome"
    )
    """Column titles of :meth:`row`."""

    def row(self) -> str:
        """The attempt as one line of the journal table (see :attr:`HEADER`)."""
        step = f"{self.step}" + (f"+{self.copy}" if self.copy else "")
        status = str(self.status) if self.status is not None else "-"
        extra = f" [{self.malformed}]" if self.malformed else ""
        return (
            f"{self.offset:8.3f}  {step:<6} {self.kind:<36} {self.attempt:>3}  {status:>6}  "
            f"{self.latency_ms:7.1f}ms  {self.outcome}{extra}"
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attempt:
        """The attempt back from :meth:`as_dict` (e.g. as the admin API returns it)."""
        req = data["request"]
        response = data.get("response") or {}
        return cls(
            run_id=data["run_id"],
            step=data["step"],
            copy=data["copy"],
            kind=data["kind"],
            attempt=data["attempt"],
            request=Request(
                req["method"], req["url"], tuple(req["headers"].items()), req["body"].encode()
            ),
            offset=data["offset"],
            at=data["at"],
            latency_ms=data["latency_ms"],
            outcome=data["outcome"],
            status=data["status"],
            response_body=response.get("body", ""),
            error=data.get("error"),
            malformed=data.get("malformed"),
        )

    def as_dict(self) -> dict[str, Any]:
        req = self.request
        return {
            "run_id": self.run_id,
            "step": self.step,
            "copy": self.copy,
            "kind": self.kind,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "offset": round(self.offset, 6),
            "at": self.at,
            "malformed": self.malformed,
            "error": self.error,
            "response": {"status": self.status, "body": self.response_body}
            if self.status is not None
            else None,
            "request": {
                "method": req.method,
                "url": req.url,
                "headers": dict(req.headers),
                "body": req.body.decode("utf-8", "replace"),
            },
        }

