"""A run: one scenario played at one target URL, with its attempts and verdict."""

from __future__ import annotations

import asyncio
import logging
import marshal
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from .._errors import RunError
from .._hints import hint_for
from .._http import Request
from .._scenarios import Scenario
from ..providers import DeliveryPolicy, Payload, ReceiptKind
from .clock import Clock, ManualClock
from .compact import Packed, compress, decompress
from .outcomes import CANCELLED
from .records import Attempt, Delivery, packed_receipt

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

_KEPT, _PACKED, _COMPRESSED = 1, 2, 3
"""How :meth:`Run.compact` left a run (see ``Run._compact``)."""


@dataclass(eq=False, slots=True)
class Run:
    """One scenario played at one target URL."""

    id: str
    scenario: Scenario
    target: str
    policy: DeliveryPolicy
    clock: Clock
    seed: int
    packed_message: Packed
    """The run's message as a dict; once the run is compacted, the whole run packed (see
    :meth:`compact`)."""
    _deliveries: list[Delivery] | None
    engine: Engine
    _attempts: list[Attempt] | None = field(default_factory=list)
    """None once packed (like ``_deliveries``): see :meth:`compact`."""
    state: str = "pending"
    """pending → running → done | cancelled | error."""
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    task: asyncio.Task[None] | None = None
    start_after: float = 0.0
    """Seconds (on the run's clock) before the first step's own ``after`` starts counting."""
    gate: Callable[[Delivery], str | None] | None = None
    """Asked just before each step is first sent; a reason stops the run there (cancelled)."""
    live_zone: tzinfo | None = None
    """Set for receipts of real sends: their event times are stamped as they leave."""
    encoding: int | None = None
    held: bool = False
    """Planned but not started: :meth:`Engine.release` starts it."""
    cancel_requested: bool = False
    blocked: str | None = None
    """Why every delivery is journaled ``blocked`` instead of sent: a URL that cannot be
    delivered to (a send's callback URL is accepted anyway), or one the allow-list refuses."""
    connect_to: str | None = None
    """The address the allow-list checked the target's host name at (None: look it up)."""
    _slot: str | None = None
    """Engine use: the first send's connection slot while the run starts ("queued" in line for
    one, "held", or "expired" when none came free in time)."""
    _queued_at: float | None = None
    """Engine use: when (``time.perf_counter()``) the run queued for its first send's slot:
    the first attempt began then."""
    _done: bool = False
    _finishing: bool = False
    _on_finish: list[Callable[[Run], None]] | None = None
    _waiters: list[threading.Lock] | None = None
    """Locks of the threads blocked in :meth:`wait_done`, released when the run finishes."""
    _compact: int = 0
    """0 not compacted yet; :data:`_KEPT` tried, kept as it is; :data:`_PACKED` packed;
    :data:`_COMPRESSED` packed and compressed."""
    _attempt_count: int = 0

    @property
    def provider(self) -> str:
        return self.scenario.provider

    @property
    def deliveries(self) -> list[Delivery]:
        """The receipts the run sends, in order (duplicate copies included); once the run is
        compacted, rebuilt from its packed form at each read."""
        if self._deliveries is None:
            return self._unpacked()[1]
        return self._deliveries

    @property
    def attempts(self) -> list[Attempt]:
        """Every request sent, in order; once the run is compacted, rebuilt at each read."""
        if self._attempts is None:
            return self._unpacked()[2]
        return self._attempts

    @property
    def attempt_count(self) -> int:
        """How many attempts the run made (without rebuilding a compacted run)."""
        return self._attempt_count if self._attempts is None else len(self._attempts)

    @property
    def message(self) -> dict[str, Any]:
        """The message the receipts share (ids, phone, send time); once the run is compacted, a
        fresh dict each time."""
        if isinstance(self.packed_message, dict):  # not packed (set before the lists go)
            return self.packed_message
        return self._unpacked()[0]

    @property
    def message_id(self) -> str | None:
        """The value of the provider's message key (requestId / SMSID) the receipts carry."""
        value = self.message.get(self.scenario.first_kind.message_key)
        return None if value is None else str(value)

    @property
    def finished(self) -> bool:
        return self._done

    def wait_done(self, timeout: float | None) -> bool:
        """Block until the run has finished or ``timeout`` passed; whether it has finished."""
        if self._done:  # no lock to contend for with the engine's loop
            return True
        # Each waiter blocks on a lock of its own that only this run's end releases: a burst
        # of runs finishing wakes no thread waiting for another run.
        waiter = threading.Lock()
        waiter.acquire()
        with self.engine.finished_runs:
            if self.finished:  # finished meanwhile
                return True
            self._waiters = [*(self._waiters or ()), waiter]
        wait = -1.0 if timeout is None else min(max(timeout, 0.0), threading.TIMEOUT_MAX)
        if waiter.acquire(timeout=wait):
            return True
        with self.engine.finished_runs:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters = [w for w in self._waiters if w is not waiter] or None
            return self.finished

    def when_finished(self, callback: Callable[[Run], None]) -> None:
        """Call ``callback(run)`` once the run has finished (at once if it already has).

        Callbacks run before anyone waiting for the run is woken, on the engine's loop thread
        (or the caller's, if the run has already finished), so they must not block; e.g. one
        may start another run with :meth:`Engine.play`.
        """
        with self.engine.finished_runs:
            if not self._finishing:
                self._on_finish = [*(self._on_finish or ()), callback]
                return
        callback(self)

    def mark_done(self) -> None:
        """Record the run as finished and wake whoever waits for it (engine use)."""
        self.finished_at = time.time()
        with self.engine.finished_runs:
            self._finishing = True
            callbacks, self._on_finish = self._on_finish or [], None
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # a follow-up must never break the engine
                log.exception("a when_finished callback of run %s failed", self.id)
        self.engine.journal.finished(self)  # before waiters wake: may compact the run
        with self.engine.finished_runs:
            if not self._done:
                self.engine.pending_runs -= 1
            self._done = True
            waiters, self._waiters = self._waiters or (), None
            for waiter in waiters:
                waiter.release()
            self.engine.finished_runs.notify_all()
        if isinstance(self.clock, ManualClock):
            self.clock.finished()
        for listener in self.engine.on_finished:
            try:
                listener(self)
            except Exception:  # a listener's bug must not stop the others
                log.exception("on_finished listener failed for run %s", self.id)

    def compact(self) -> None:
        """Pack the finished run into one compressed blob (see :mod:`.compact`): the message, each
        delivery (its request; its receipt as the request body when that is the receipt's
        compact JSON) and each attempt, compressed as one zstd frame against a dictionary per
        scenario, so a finished run costs this object and one bytes. Readers see the same data
        (:attr:`deliveries`, :attr:`attempts` and :attr:`message` rebuild it). The journal calls
        it once it is large; a run whose data marshal cannot keep stays as it is."""
        if self._compact or not self._finishing:  # a run still going keeps its lists
            return
        self._compact = _KEPT
        if not isinstance(self.packed_message, dict):
            return
        message = _message_state(self.packed_message)
        deliveries = list(self.deliveries)
        index = {id(d): i for i, d in enumerate(deliveries)}
        count = len(deliveries)
        planned = []
        for delivery in deliveries:
            entry = _delivery_state(delivery)
            if entry is None:
                return
            planned.append(entry)
        tried = []
        for attempt in self.attempts:
            sent = attempt._delivery
            number = index.get(id(sent))
            if number is None:  # not one of the planned (e.g. a journal restored from history)
                entry = _delivery_state(sent)
                if entry is None:
                    return
                number = index[id(sent)] = len(deliveries)
                deliveries.append(sent)
                planned.append(entry)
            tried.append((number, attempt.attempt, attempt.offset, attempt.at, attempt.latency_ms,
                          attempt.outcome, attempt.status, attempt.response_body, attempt.error))
        try:
            blob = marshal.dumps((message, tuple(planned), count, tuple(tried)))
        except ValueError:  # a value marshal cannot keep (e.g. a Decimal): kept as it is
            return
        squeezed = compress(blob, f"run:{self.scenario.name}")
        self.packed_message = blob if squeezed is None else squeezed
        self._compact = _COMPRESSED if squeezed is not None else _PACKED
        self._attempt_count = len(tried)
        self._deliveries = self._attempts = None  # what they held is in the blob

    def _unpacked(self) -> tuple[dict[str, Any], list[Delivery], list[Attempt]]:
        """The message, deliveries and attempts of a packed run (fresh objects)."""
        assert isinstance(self.packed_message, bytes)
        blob = self.packed_message
        if self._compact == _COMPRESSED:
            blob = decompress(blob)
        message, planned, count, tried = marshal.loads(blob)
        deliveries = [
            Delivery(step, copy, kind, after, body if payload is None else payload,
                     Request(method, url, headers, body), lost_ack, malformed)
            for (step, copy, kind, after, method, url, headers, body, payload, lost_ack,
                 malformed) in planned
        ]
        attempts = [
            Attempt(self.id, deliveries[number].step, deliveries[number].copy,
                    deliveries[number].kind, attempt, deliveries[number], offset, at, latency,
                    outcome, status, response_body, error, deliveries[number].malformed)
            for (number, attempt, offset, at, latency, outcome, status, response_body,
                 error) in tried
        ]
        dates, fields = message
        for name in dates:
            fields[name] = datetime.fromisoformat(fields[name])
        return fields, deliveries[:count], attempts

    def _view(self) -> tuple[dict[str, Any], list[Delivery], list[Attempt]]:
        """The message, deliveries and attempts, unpacked once if the run is packed."""
        deliveries, attempts = self._deliveries, self._attempts
        if deliveries is None or attempts is None:
            return self._unpacked()
        return self.message, deliveries, attempts

    @property
    def payloads(self) -> list[Payload]:
        """The receipts of the run in sending order (duplicates included)."""
        return [d.payload for d in self.deliveries]

    def failures(self) -> list[str]:
        """Why the target did not acknowledge as the provider requires (empty when it did)."""
        _, deliveries, attempts = self._view()
        return self._failures(deliveries, attempts)

    def _failures(self, deliveries: list[Delivery], attempts: list[Attempt]) -> list[str]:
        problems: list[str] = []
        if self.state == "error":
            problems.append(f"run failed inside dlrmock: {self.error}")
        for delivery in deliveries:
            tries = [  # an answer the cancelled run stopped waiting for says nothing of the target
                a
                for a in attempts
                if a.step == delivery.step and a.copy == delivery.copy and a.outcome != CANCELLED
            ]
            label = f"step {delivery.step} ({delivery.kind}"
            label += f", copy {delivery.copy})" if delivery.copy else ")"
            if not tries:
                if self.finished and self.state != "cancelled":
                    problems.append(f"{label}: never sent")
                continue
            if delivery.malformed:
                bad = [a for a in tries if a.status is None or a.status >= 500]
                if bad:
                    problems.append(
                        f"{label}: a malformed payload must get a clean 4xx/2xx "
                        f"answer, got {_describe(bad[-1])}"
                    )
            elif not any(a.acknowledged for a in tries):
                last = tries[-1]
                rule = ""
                if self.policy.acknowledge != "2xx" and last.status is not None:
                    answered = _clip(last.response_body, 40) if last.response_body else ""
                    rule = (f" ({self.policy.explain()}; it answered HTTP {last.status} "
                            f"{answered!r})")
                problems.append(
                    f"{label}: not acknowledged after {len(tries)} attempt(s); "
                    f"last: {_describe(last)}{rule}"
                    f"{_hint(last, self.scenario.steps[delivery.step].spec)}"
                )
        return problems

    @property
    def ok(self) -> bool:
        """Finished, and every receipt acknowledged as the provider requires."""
        return self.finished and self.state == "done" and not self.failures()

    def wait(self, timeout: float | None = 30.0) -> Run:
        """Block until the run has finished; raise :class:`RunError` after ``timeout`` seconds."""
        if not self.wait_done(timeout):
            if isinstance(self.clock, ManualClock):
                raise RunError(
                    f"run {self.id} ({self.scenario.name}) is waiting on its manual clock with "
                    f"{self.clock.pending} delivery(ies) pending: call run.step() or "
                    "run.advance(seconds)"
                )
            raise RunError(
                f"run {self.id} ({self.scenario.name}) still running after {timeout} s "
                f"({len(self.attempts)} attempt(s) so far); raise the timeout or the time_scale"
            )
        return self

    def step(self, timeout: float = 30.0) -> list[Attempt]:
        """Manual clock: deliver the next scheduled receipt now; returns the attempts it made."""
        return self._move(lambda clock: clock.step(), timeout)

    def advance(self, seconds: float, timeout: float = 30.0) -> list[Attempt]:
        """Manual clock: move time on by ``seconds``; returns the attempts made meanwhile."""
        if not math.isfinite(seconds) or seconds < 0:
            raise RunError(
                f"cannot advance by {seconds!r} seconds: give a finite number >= 0 "
                "(time only moves forward)"
            )
        return self._move(lambda clock: clock.advance(seconds), timeout)

    def _move(self, action: Callable[[ManualClock], Any], timeout: float) -> list[Attempt]:
        if not isinstance(self.clock, ManualClock):
            raise RunError(
                f"run {self.id} uses a {self.clock.kind} clock; start it with clock='manual' "
                "to step it"
            )
        deadline = time.monotonic() + timeout
        while self.state == "pending" and not self._done:  # not started on the loop yet
            if time.monotonic() > deadline:
                raise RunError(f"run {self.id} has not started (it waits for its send's "
                               "answer, or for a release); step it once it runs")
            time.sleep(0.002)
        before = len(self.attempts)
        self.engine.call(action(self.clock), timeout, f"stepping run {self.id}")
        return self.attempts[before:]

    def assert_acknowledged(self, timeout: float = 30.0) -> None:
        """Raise ``AssertionError`` with the journal unless every receipt was acknowledged
        (a run cancelled or still going after ``timeout`` seconds fails too)."""
        __tracebackhide__ = True
        assert_handled(self, timeout)

    def journal_text(self) -> str:
        """The run's attempts as a readable table."""
        return self._journal_text(self.attempts)

    def _journal_text(self, attempts: list[Attempt]) -> str:
        lines = [
            f"journal of run {self.id}: {self.scenario.name} -> {self.target} "
            f"(seed {self.seed}, {self.state})"
        ]
        lines.append("  " + Attempt.HEADER)
        for a in attempts:
            lines.append("  " + a.row())
            body = a.request.body.decode("utf-8", "replace") or a.request.url
            lines.append(f"            sent: {a.request.method} {_clip(body, 300)}")
            if a.status is not None:
                lines.append(f"            got:  {a.status} {_clip(a.response_body, 200)}")
            elif a.error:
                lines.append(f"            error: {a.error}")
        if not attempts:
            lines.append("  (no attempts yet)")
        return "\n".join(lines)

    def as_dict(self, attempts: bool = True) -> dict[str, Any]:
        finished = self.finished
        message, deliveries, tried = self._view()  # once: a packed run is rebuilt at each read
        failures = self._failures(deliveries, tried) if finished else []
        key = message.get(self.scenario.first_kind.message_key)
        result: dict[str, Any] = {
            "id": self.id,
            "scenario": self.scenario.name,
            "provider": self.provider,
            "target": self.target,
            "state": self.state,
            "ok": self.state == "done" and not failures if finished else None,
            "failures": failures,
            "seed": self.seed,
            "clock": {
                "kind": self.clock.kind,
                "now": self.clock.now() if self.clock.kind == "manual" else None,
                "time_scale": getattr(self.clock, "time_scale", None),
            },
            "message_id": None if key is None else str(key),
            "message": {
                k: v.isoformat(sep=" ") if isinstance(v, datetime) else v
                for k, v in message.items()
            },
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "attempt_count": len(tried),
            "payloads": [d.payload for d in deliveries],
        }
        if attempts:
            result["attempts"] = [a.as_dict() for a in tried]
            result["journal"] = self._journal_text(tried)
        return result

def assert_handled(run: Any, timeout: float = 30.0) -> None:
    """Raise ``AssertionError`` with the journal unless ``run`` (local or remote) is ok.

    A run that did not finish fails too: one still going after ``timeout`` seconds, or one
    cancelled (e.g. reset by another client of a shared server) before all its receipts went.
    """
    __tracebackhide__ = True
    problems: list[str] = []
    if not run.finished:
        try:
            run.wait(timeout)
        except RunError as exc:
            problems.append(f"the run did not finish: {exc}")
    if run.finished and run.state == "cancelled":
        problems.append(
            "the run was cancelled before it finished (run.cancel(), a reset of the server, "
            "or the server stopping); receipts it had not sent were never delivered"
        )
    problems += run.failures()
    if problems:
        raise AssertionError(
            "the target did not handle the receipts as the provider requires:\n  - "
            + "\n  - ".join(problems)
            + "\n"
            + run.journal_text()
        )

def _message_state(message: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """What :meth:`Run.compact` keeps of the run's message: the names of its datetime fields
    (marshal does not take datetimes) and the message with those as ISO text."""
    dates = [name for name, value in message.items() if isinstance(value, datetime)]
    if not dates:
        return dates, message
    return dates, {**message, **{name: message[name].isoformat() for name in dates}}


def _delivery_state(delivery: Delivery) -> tuple[Any, ...] | None:
    """What :meth:`Run.compact` keeps of ``delivery`` (None: its receipt is not plain JSON)."""
    body = delivery.body
    payload = delivery._payload
    if isinstance(payload, dict):
        payload = packed_receipt(payload, body, delivery.headers, delivery.malformed)
        if isinstance(payload, dict):
            return None
    return (delivery.step, delivery.copy, delivery.kind, delivery.after, delivery.method,
            delivery.url, delivery.headers, body, None if payload == body else payload,
            delivery.lost_ack, delivery.malformed)


def _describe(attempt: Attempt) -> str:
    if attempt.status is not None:
        return f"HTTP {attempt.status} ({attempt.outcome})"
    return f"{attempt.outcome}: {attempt.error}"

def _hint(attempt: Attempt, kind: ReceiptKind) -> str:
    hint = hint_for(attempt, kind)
    return f"; hint: {hint}" if hint else ""

def _clip(text: str, limit: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
