"""``Dlrmock``: what the ``dlrmock`` fixture hands a test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from mock_server import DlrmockError, detect_kind
from mock_server import receipt as build_receipt
from mock_server import validate as run_validate
from mock_server import wire as to_wire
from mock_server._engine import Run
from mock_server._remote import RemoteRun
from mock_server._scenarios import Scenario
from mock_server.providers import Payload, WireRequest

__all__ = ["Dlrmock", "Provider"]


class Provider(Protocol):
    """What the fixtures need of a server: :class:`~mock_server.MockProvider` or a remote one."""

    @property
    def url(self) -> str: ...

    def play(self, scenario: Any, to: str, **options: Any) -> Any: ...
    def reset(self) -> None: ...
    def check(self) -> None: ...
    @property
    def sent(self) -> list[Any]: ...
    @property
    def messages(self) -> list[Any]: ...
    def message(self, message_id: str) -> Any: ...
    def release(self, message_id: str, outcome: str | None = None, *,
                scenario: str | None = None) -> Any: ...


class Dlrmock:
    """The fake provider as one test sees it: play receipts, build payloads, check them.

    Runs use ``time_scale=0`` unless the test says otherwise: delays are kept in order but not
    waited out. Generated data is seeded from the test's id (see :attr:`seed`).
    """

    def __init__(self, provider: Provider, *, seed: int, time_scale: float = 0.0) -> None:
        self.provider = provider
        self.seed = seed
        self.time_scale = time_scale
        self.runs: list[Run | RemoteRun] = []
        self._draws = 0

    @property
    def url(self) -> str:
        """The fake provider's base URL, for the system's provider configuration."""
        return self.provider.url

    def _next_seed(self) -> int:
        self._draws += 1
        return self.seed + self._draws - 1

    def play(
        self,
        scenario: str | Scenario | Mapping[str, Any],
        to: str,
        *,
        clock: str = "scaled",
        time_scale: float | None = None,
        seed: int | None = None,
        policy: Mapping[str, Any] | None = None,
        message: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Run | RemoteRun:
        """Play ``scenario`` at ``to``; keyword ``fields`` override receipt fields.

        ``clock="manual"`` returns a run that waits for ``run.step()`` / ``run.advance(s)``.
        """
        run: Run | RemoteRun = self.provider.play(
            scenario,
            to,
            fields=fields or None,
            message=dict(message) if message else None,
            seed=self._next_seed() if seed is None else seed,
            time_scale=self.time_scale if time_scale is None else time_scale,
            clock=clock,
            policy=dict(policy) if policy else None,
        )
        self.runs.append(run)
        return run

    def receipt(
        self, kind: str, *, message: Mapping[str, Any] | None = None, **overrides: Any
    ) -> Payload:
        """A valid receipt of ``kind`` (seeded), with ``overrides`` applied."""
        return build_receipt(kind, seed=self._next_seed(), message=message, overrides=overrides)

    def wire(self, kind: str, payload: Mapping[str, Any], url: str) -> WireRequest:
        """Exactly what the provider would send for ``payload`` to ``url``."""
        return to_wire(kind, payload, url)

    def validate(self, payload: Any, kind: str | None = None, *, strict: bool = False) -> None:
        """Fail the test, naming each problem, unless ``payload`` is a valid receipt."""
        __tracebackhide__ = True
        problems = run_validate(payload, kind=kind, strict=strict)
        if problems:
            try:
                shown = kind or detect_kind(payload)
            except DlrmockError:
                shown = "receipt"
            raise AssertionError(
                f"not a valid {shown}:\n" + "\n".join(f"  {p}" for p in problems)
            )

    @property
    def sent(self) -> list[Any]:
        """Every send request the system under test made to the fake provider."""
        return self.provider.sent

    @property
    def messages(self) -> list[Any]:
        """Messages the system under test sent (:class:`~mock_server.Message`), oldest first:
        their state (held, pending, playing, final) and receipts; ``.release(outcome)``."""
        return self.provider.messages

    def message(self, message_id: str) -> Any:
        """The message a send answered with ``message_id`` (SMSID / requestId)."""
        return self.provider.message(message_id)

    def release(self, message_id: str, outcome: str | None = None, *,
                scenario: str | None = None) -> Any:
        """Let a held message play ``outcome`` or ``scenario``."""
        return self.provider.release(message_id, outcome, scenario=scenario)

    def journals(self) -> str:
        """The journal of every run this test played."""
        return "\n\n".join(run.journal_text() for run in self.runs)
