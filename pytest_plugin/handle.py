"""``Dlrmock``: what the ``dlrmock`` fixture hands a test."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from mock_server import DlrmockError, RunNotFoundError, detect_kind
from mock_server import receipt as build_receipt
from mock_server import validate as run_validate
from mock_server import wire as to_wire
from mock_server._engine import Run
from mock_server._remote import RemoteRun
from mock_server._scenarios import Scenario
from mock_server.fuzz import FuzzReport
from mock_server.fuzz import fuzz as run_fuzz
from mock_server.providers import Payload, WireRequest
from mock_server.sendapi import CapturedSend

__all__ = ["Dlrmock", "Provider"]


class Provider(Protocol):
    """What the fixtures need of a server: :class:`~mock_server.MockProvider` or
    :class:`~mock_server.RemoteProvider`."""

    @property
    def url(self) -> str: ...

    def play(self, scenario: Any, to: str, **options: Any) -> Any: ...
    def run(self, run_id: str) -> Any: ...
    def wait_for_runs(self, run_ids: Iterable[str], timeout: float | None = ...) -> list[Any]: ...
    def now(self) -> float: ...
    def reset(self) -> None: ...
    def check(self) -> None: ...
    @property
    def sent(self) -> list[CapturedSend]: ...
    @property
    def messages(self) -> list[Any]: ...
    def message(self, message_id: str) -> Any: ...
    def release(self, message_id: str, outcome: str | None = None, *,
                scenario: str | None = None) -> Any: ...


def _order(run: Any) -> tuple[int, str]:
    number = str(run.id).rpartition("-")[2]
    return (int(number) if number.isdigit() else 0, str(run.id))


# The properties of Dlrmock hand their work to these (mutmut does not mutate decorated functions).
def _sent_since(captured: list[CapturedSend], since: float | None) -> list[CapturedSend]:
    if since is None:
        return captured
    return [item for item in captured if item.at >= since]


def _runs_of(
    provider: Provider, played: list[Run | RemoteRun], sent: list[CapturedSend]
) -> list[Run | RemoteRun]:
    runs: dict[str, Run | RemoteRun] = {run.id: run for run in played}
    for item in sent:
        for run_id in item.run_ids or _released_run_ids(provider, item.message_ids):
            if run_id in runs:
                continue
            try:
                runs[run_id] = provider.run(run_id)
            except RunNotFoundError:  # evicted from a full journal
                continue
    return sorted(runs.values(), key=_order)


def _released_run_ids(provider: Provider, message_ids: list[str]) -> list[str]:
    """The runs of a send that started none when it was made: its messages were held, and a
    release plays them later (or they have no receipt to play)."""
    run_ids: list[str] = []
    for message_id in message_ids:
        try:
            run_ids += provider.message(message_id).run_ids
        except DlrmockError:  # forgotten past messages_limit, or the server was reset
            continue
    return run_ids


class Dlrmock:
    """The fake provider as one test sees it: play receipts, build payloads, check them.

    Runs use ``time_scale=0`` unless the test says otherwise: delays are kept in order but not
    waited out. Generated data is seeded from the test's id (see :attr:`seed`).

    ``since`` is the server time the test started at when the server is shared and was not
    cleared (``--dlrmock-url``): :attr:`sent` and :attr:`runs` then show what happened after it.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        seed: int,
        time_scale: float = 0.0,
        since: float | None = None,
    ) -> None:
        self.provider = provider
        self.seed = seed
        self.time_scale = time_scale
        self.since = since
        self.played: list[Run | RemoteRun] = []
        """The runs this test started with :meth:`play`."""
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
        shared: Mapping[str, Any] | None = None,
        error_info_encoding: int | None = None,
        allow_invalid: bool = False,
        fields: Mapping[str, Any] | None = None,
        **more_fields: Any,
    ) -> Run | RemoteRun:
        """Play ``scenario`` at ``to``; keyword fields override receipt fields.

        The options are those of :meth:`mock_server.MockProvider.play`; the seed and the time
        scale default to the test's.
        """
        run: Run | RemoteRun = self.provider.play(
            scenario,
            to,
            fields={**(fields or {}), **more_fields} or None,
            shared=dict(shared) if shared else None,
            seed=self._next_seed() if seed is None else seed,
            time_scale=self.time_scale if time_scale is None else time_scale,
            clock=clock,
            policy=dict(policy) if policy else None,
            error_info_encoding=error_info_encoding,
            allow_invalid=allow_invalid,
        )
        self.played.append(run)
        return run

    def receipt(
        self, kind: str, *, shared: Mapping[str, Any] | None = None, **overrides: Any
    ) -> Payload:
        """A valid receipt of ``kind`` (seeded), with ``overrides`` applied."""
        return build_receipt(kind, seed=self._next_seed(), message=shared, overrides=overrides)

    def wire(
        self,
        kind: str,
        payload: Mapping[str, Any],
        url: str,
        error_info_encoding: int | None = None,
    ) -> WireRequest:
        """Exactly what the provider would send for ``payload`` to ``url``."""
        return to_wire(kind, payload, url, error_info_encoding)

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

    def fuzz(
        self,
        to: str,
        kind: str | Iterable[str] | None = None,
        *,
        max_examples: int = 50,
        timeout: float = 5.0,
    ) -> FuzzReport:
        """Fuzz the webhook ``to`` with generated receipts of ``kind`` (default: every kind);
        fail the test with each minimal receipt it answered 5xx, timed out or broke on. An
        ``https://`` webhook is verified as the session's own server verifies them
        (``--dlrmock-cacert`` / ``--dlrmock-insecure``)."""
        __tracebackhide__ = True
        engine = getattr(getattr(self.provider, "state", None), "engine", None)
        report = run_fuzz(to, kind, max_examples=max_examples, seed=self._next_seed(),
                          timeout=timeout, tls=getattr(engine, "tls", None))
        if not report.ok:
            raise AssertionError(report.describe())
        return report

    @property
    def sent(self) -> list[CapturedSend]:
        """Every send request the system under test made to the fake provider (during this
        test); each can ``wait()`` for the receipts it caused."""
        return _sent_since(self.provider.sent, self.since)

    @property
    def runs(self) -> list[Run | RemoteRun]:
        """The runs of this test: those it played and those its system's sends caused."""
        return _runs_of(self.provider, self.played, self.sent)

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
        """The journal of every run of this test."""
        return "\n\n".join(run.journal_text() for run in self.runs)
