"""What the send APIs hand to the delivery engine, and what they record about every request."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["AcceptedMessage", "CapturedSend", "SendHooks"]


@dataclass(frozen=True)
class AcceptedMessage:
    """One message a send API accepted: whose receipts to play, where, following which scenario.

    A send with several recipients gives one per recipient, except advertising SMS (one
    campaign receipt for all of them).
    """

    provider: str
    """``nxcloud`` or ``esms``."""
    message_id: str
    """The id receipts carry: NXCloud ``requestId`` (``zalomid.`` + 32 hex; for a journey
    token's expiry, its ``journeyId``), eSMS ``SMSID``."""
    callback_url: str | None
    """``drWebhook`` / ``CallbackUrl``, else the default webhook."""
    scenario: str | dict[str, Any]
    """A built-in scenario name, or an inline scenario (``schemas/dlrmock.scenario.json``)."""
    message: dict[str, Any]
    """Message fields every receipt carries; they override the generated ones."""
    sandbox: bool = False
    """eSMS ``Sandbox``/``SandBox``/``IsSandBox`` = 1: receipts are still played."""
    delay: float = 0.0
    """Seconds (scaled by the clock) from the answer to the first receipt."""
    gate: Callable[[], str | None] | None = None
    """Asked before each receipt is first sent; a reason stops the run (a journey expiry that
    lost the race to a send using the token)."""
    then: Callable[[], str | None] | None = None
    """Called once this message's run has finished (not cancelled): it starts a follow-up and
    returns its run id — eSMS multichannel's next channel after a failed one."""


@dataclass(frozen=True)
class CapturedSend:
    """One request to a send API and dlrmock's answer, accepted or not."""

    provider: str
    endpoint: str
    """e.g. ``nxcloud.zalo.mt``, ``esms.SendZaloMessage_V6``."""
    method: str
    path: str
    """The path with its query string, as requested."""
    headers: dict[str, str]
    body: str
    """The raw body as text (UTF-8, undecodable bytes replaced), at most 64 KiB kept."""
    json: Any | None
    """The parsed body (GET: the query parameters) when it could be parsed."""
    status: int
    """The HTTP status answered (provider errors are mostly inside a 200)."""
    response: Any
    """The JSON document answered."""
    message_ids: list[str] = field(default_factory=list)
    """requestId / SMSID / journeyId given out (empty when rejected)."""
    run_ids: list[str] = field(default_factory=list)
    """Runs the engine started for this send."""
    signed_string: str | None = None
    """NXCloud: the string dlrmock signed, the secret masked (long bodies truncated)."""
    at: float = 0.0
    """``time.time()`` when the request arrived."""
    body_length: int = 0
    """Length of the whole body in bytes (``body`` may be truncated; 413: the declared length)."""
    error: str | None = None
    """The provider error code answered (``"1003"``, ``"101"``…), ``None`` when accepted."""
    explain: str | None = None
    """dlrmock's own explanation (also in the ``X-Dlrmock-Explain`` response header)."""

    def bound(self, provider: Any) -> CapturedSend:
        """A copy that can :meth:`wait` on ``provider`` (a ``MockProvider`` or remote one)."""
        bound = copy.copy(self)
        object.__setattr__(bound, "_provider", provider)  # not a field: asdict() skips it
        return bound

    def wait(self, timeout: float | None = 30.0) -> list[Any]:
        """Block until every receipt this send caused has been played; returns its runs.

        Raises :class:`~mock_server.RunError` when a run is still going after ``timeout``
        seconds. A send with no receipts to play (rejected, no webhook) returns ``[]``.
        """
        provider = getattr(self, "_provider", None)
        if provider is None:
            from .._errors import RunError

            raise RunError(
                "this captured send is not attached to a provider; take it from "
                "provider.sent or dlrmock.sent to wait for its receipts"
            )
        runs: list[Any] = provider.wait_for_runs(self.run_ids, timeout)
        return runs


@runtime_checkable
class SendHooks(Protocol):
    """How the send APIs reach the delivery engine (and how tests replace it)."""

    def deliver(self, message: AcceptedMessage) -> str | None:
        """Plan the receipts of ``message``; the run id, or ``None`` when none is planned.

        The run waits for :meth:`release` (the send API calls it once its answer is written).
        May raise :class:`~mock_server.DlrmockError` (e.g. an unknown scenario); the send is
        then answered with the provider's error and nothing is recorded as sent.
        """
        ...

    def release(self, run_ids: Iterable[str]) -> None:
        """Start runs planned by :meth:`deliver`."""
        ...

    def cancel(self, run_id: str) -> None:
        """Stop a pending run (a journey token got used: no ``journey_time_out``)."""
        ...

    def capture(self, sent: CapturedSend) -> None:
        """Record a send request and its answer."""
        ...

