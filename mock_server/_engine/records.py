"""What a run sends (:class:`Delivery`) and what came of each request (:class:`Attempt`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._http import Request
from ..providers import Payload
from .outcomes import ACKNOWLEDGED, LOST_ACK


@dataclass(frozen=True, slots=True)
class Delivery:
    """One receipt the run will send (a step, or a duplicate copy of one)."""

    step: int
    copy: int
    kind: str
    after: float
    payload: Payload
    request: Request
    lost_ack: int = 0
    malformed: str | None = None

@dataclass(slots=True)
class Attempt:
    """One HTTP request sent to the target and what came of it."""

    run_id: str
    step: int
    copy: int
    kind: str
    attempt: int
    request: Request
    offset: float
    """Seconds of scenario time since the run started."""
    at: float
    """Wall-clock time the request was sent (epoch seconds)."""
    latency_ms: float
    outcome: str
    status: int | None = None
    response_body: str = ""
    error: str | None = None
    malformed: str | None = None

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

