"""The delivery engine: plays runs at targets from one asyncio loop in a background thread.

A run is one scenario played at one target URL. Its receipts are generated up front, then
delivered in order, each on its schedule (``after`` seconds, scaled by the run's clock), with the
provider's retry policy. Every attempt goes into the journal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import heapq
import itertools
import json
import logging
import math
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import datetime, tzinfo
from typing import Any

from . import _targets
from ._errors import (
    DlrmockError,
    OverrideError,
    PendingLimitError,
    RunError,
    RunNotFoundError,
    close_matches,
)
from ._factory import (
    RawValue,
    ReceiptFactory,
    apply_overrides,
    override_paths,
    path_known,
    typed,
    wire,
)
from ._hints import hint_for
from ._http import (
    HttpClient,
    Request,
    Response,
    TransportError,
    with_default_headers,
)
from ._registry import validate
from ._scenarios import Scenario, resolve
from ._wire import ErrorInfoEncoding
from .providers import DeliveryPolicy, Payload, get_kind, get_provider
from .providers._base import form_to_query

__all__ = [
    "ACKNOWLEDGED",
    "Attempt",
    "Delivery",
    "Engine",
    "ManualClock",
    "Run",
    "ScaledClock",
]

log = logging.getLogger(__name__)

ACKNOWLEDGED = "acknowledged"
HTTP_ERROR = "http_error"
LOST_ACK = "lost_ack"
"""The target answered 2xx but the scenario drops the answer: the provider sees a timeout."""
CANCELLED = "cancelled"
"""The run was cancelled (or the engine closed) while this request waited for its answer."""
BLOCKED = "blocked"
"""Never sent: the target URL cannot be delivered to, is ambiguous, or is outside the
allow-list (the reason is in ``error``)."""
OUTCOMES = (
    ACKNOWLEDGED,
    HTTP_ERROR,
    LOST_ACK,
    "timeout",
    "refused",
    "unresolved",
    "reset",
    "closed",
    "invalid_response",
    "tls_error",
    CANCELLED,
    BLOCKED,
)
EXCERPT = 2048


# --------------------------------------------------------------------------------------- clocks
class ScaledClock:
    """Real time scaled by ``time_scale``: 0 means no waiting (order kept), 2 twice as slow."""

    kind = "scaled"

    def __init__(self, time_scale: float = 1.0) -> None:
        if not math.isfinite(time_scale) or time_scale < 0:
            raise RunError(f"time_scale must be >= 0 (a finite number), got {time_scale!r}")
        self.time_scale = time_scale
        self._origin = 0.0
        self._virtual = 0.0
        self.lateness: deque[float] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._origin = loop.time()

    def now(self) -> float:
        """Seconds of scenario time since the run started."""
        if self.time_scale == 0:
            return self._virtual
        return (self._loop.time() - self._origin) / self.time_scale

    async def sleep_until(self, due: float) -> None:
        if self.time_scale == 0:
            if due > self._virtual:
                self._virtual = due
                await asyncio.sleep(0)  # time passed: let other runs go first
            return
        target = self._origin + due * self.time_scale
        delay = target - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
            if self.lateness is not None:
                self.lateness.append(self._loop.time() - target)


class ManualClock:
    """A clock the caller moves: nothing is delivered until ``step()`` or ``advance()``."""

    kind = "manual"

    def __init__(self) -> None:
        self._now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        # Made here, not in start(): a caller may step the run before the loop has started it
        # (asyncio primitives bind to the loop that first uses them).
        self._idle: asyncio.Event | None = asyncio.Event()
        self._lock: asyncio.Lock | None = asyncio.Lock()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        pass

    def now(self) -> float:
        return self._now

    async def sleep_until(self, due: float) -> None:
        assert self._idle is not None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (due, next(self._seq), future))
        self._idle.set()
        await future

    def finished(self) -> None:
        """Called by the engine when the run has nothing left to do (done or cancelled)."""
        for _, _, future in self._timers:
            future.cancel()
        self._timers.clear()
        if self._idle is not None:
            self._idle.set()

    @property
    def pending(self) -> int:
        return len(self._timers)

    async def _fire_next(self) -> bool:
        assert self._idle is not None
        await self._idle.wait()
        while self._timers:
            due, _, future = heapq.heappop(self._timers)
            if future.done():  # the run was cancelled meanwhile
                continue
            self._now = max(self._now, due)
            self._idle.clear()
            future.set_result(None)
            await self._idle.wait()
            return True
        return False

    async def step(self) -> bool:
        """Fire the next scheduled delivery (whatever its delay) and wait until it is done."""
        assert self._lock is not None
        async with self._lock:  # one caller moves the clock at a time
            return await self._fire_next()

    async def advance(self, seconds: float) -> int:
        """Move time on by ``seconds``, firing every delivery that falls due, in order."""
        assert self._idle is not None and self._lock is not None
        async with self._lock:
            await self._idle.wait()
            target = self._now + seconds
            fired = 0
            while self._timers and self._timers[0][0] <= target:
                fired += await self._fire_next()
            self._now = max(self._now, target)
            return fired


Clock = ScaledClock | ManualClock


# ------------------------------------------------------------------------------- run and journal
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


@dataclass(eq=False, slots=True)
class Run:
    """One scenario played at one target URL."""

    id: str
    scenario: Scenario
    target: str
    policy: DeliveryPolicy
    clock: Clock
    seed: int
    message: dict[str, Any]
    deliveries: list[Delivery]
    engine: Engine
    attempts: list[Attempt] = field(default_factory=list)
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
    _done: bool = False
    _finishing: bool = False
    _on_finish: list[Callable[[Run], None]] = field(default_factory=list)

    @property
    def provider(self) -> str:
        return self.scenario.provider

    @property
    def message_id(self) -> str | None:
        """The value of the provider's message key (requestId / SMSID) the receipts carry."""
        key = get_provider(self.provider).message_key
        if self.scenario.steps:
            key = get_kind(self.scenario.steps[0].kind).message_key or key
        value = self.message.get(key)
        return None if value is None else str(value)

    @property
    def finished(self) -> bool:
        return self._done

    def wait_done(self, timeout: float | None) -> bool:
        """Block until the run has finished or ``timeout`` passed; whether it has finished."""
        with self.engine.finished_runs:
            return self.engine.finished_runs.wait_for(lambda: self._done, timeout)

    def when_finished(self, callback: Callable[[Run], None]) -> None:
        """Call ``callback(run)`` once the run has finished (at once if it already has).

        Callbacks run before anyone waiting for the run is woken, on the engine's loop thread
        (or the caller's, if the run has already finished), so they must not block; e.g. one
        may start another run with :meth:`Engine.play`.
        """
        with self.engine.finished_runs:
            if not self._finishing:
                self._on_finish.append(callback)
                return
        callback(self)

    def mark_done(self) -> None:
        """Record the run as finished and wake whoever waits for it (engine use)."""
        self.finished_at = time.time()
        with self.engine.finished_runs:
            self._finishing = True
            callbacks, self._on_finish = self._on_finish, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # a follow-up must never break the engine
                log.exception("a when_finished callback of run %s failed", self.id)
        with self.engine.finished_runs:
            if not self._done:
                self.engine.pending_runs -= 1
            self._done = True
            self.engine.finished_runs.notify_all()
        if isinstance(self.clock, ManualClock):
            self.clock.finished()
        for listener in self.engine.on_finished:
            try:
                listener(self)
            except Exception:  # a listener's bug must not stop the others
                log.exception("on_finished listener failed for run %s", self.id)

    @property
    def payloads(self) -> list[Payload]:
        """The receipts of the run in sending order (duplicates included)."""
        return [d.payload for d in self.deliveries]

    def failures(self) -> list[str]:
        """Why the target did not acknowledge as the provider requires (empty when it did)."""
        problems: list[str] = []
        if self.state == "error":
            problems.append(f"run failed inside dlrmock: {self.error}")
        for delivery in self.deliveries:
            tries = [  # an answer the cancelled run stopped waiting for says nothing of the target
                a
                for a in self.attempts
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
                    f"last: {_describe(last)}{rule}{_hint(last)}"
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
        lines = [
            f"journal of run {self.id}: {self.scenario.name} -> {self.target} "
            f"(seed {self.seed}, {self.state})"
        ]
        lines.append("  " + Attempt.HEADER)
        for a in self.attempts:
            lines.append("  " + a.row())
            body = a.request.body.decode("utf-8", "replace") or a.request.url
            lines.append(f"            sent: {a.request.method} {_clip(body, 300)}")
            if a.status is not None:
                lines.append(f"            got:  {a.status} {_clip(a.response_body, 200)}")
            elif a.error:
                lines.append(f"            error: {a.error}")
        if not self.attempts:
            lines.append("  (no attempts yet)")
        return "\n".join(lines)

    def as_dict(self, attempts: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": self.id,
            "scenario": self.scenario.name,
            "provider": self.provider,
            "target": self.target,
            "state": self.state,
            "ok": self.ok if self.finished else None,
            "failures": self.failures() if self.finished else [],
            "seed": self.seed,
            "clock": {
                "kind": self.clock.kind,
                "now": self.clock.now() if self.clock.kind == "manual" else None,
                "time_scale": getattr(self.clock, "time_scale", None),
            },
            "message_id": self.message_id,
            "message": {
                k: v.isoformat(sep=" ") if isinstance(v, datetime) else v
                for k, v in self.message.items()
            },
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "attempt_count": len(self.attempts),
            "payloads": self.payloads,
        }
        if attempts:
            result["attempts"] = [a.as_dict() for a in self.attempts]
            result["journal"] = self.journal_text()
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


def _describe(attempt: Attempt) -> str:
    if attempt.status is not None:
        return f"HTTP {attempt.status} ({attempt.outcome})"
    return f"{attempt.outcome}: {attempt.error}"


def _hint(attempt: Attempt) -> str:
    hint = hint_for(attempt)
    return f"; hint: {hint}" if hint else ""


def _clip(text: str, limit: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Journal:
    """Every run and attempt, bounded: beyond ``limit`` attempts the oldest finished runs go.

    Evictions are counted, never silent; runs still in progress are never evicted.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.runs: OrderedDict[str, Run] = OrderedDict()
        self.attempt_count = 0
        self.total_attempts = 0
        self.evicted_runs = 0
        self.evicted_attempts = 0
        self._lock = threading.Lock()

    def add_run(self, run: Run) -> None:
        with self._lock:
            self.runs[run.id] = run

    def record(self, run: Run, attempt: Attempt) -> None:
        run.attempts.append(attempt)
        with self._lock:
            self.total_attempts += 1
            if self.runs.get(run.id) is not run:
                return  # forgotten by clear() while in flight: not held, so not counted as held
            self.attempt_count += 1
            if self.attempt_count > self.limit:
                self._evict()

    def _evict(self) -> None:
        for run_id in list(self.runs):
            if self.attempt_count <= self.limit * 0.9:
                break
            run = self.runs[run_id]
            if run.finished:
                del self.runs[run_id]
                self.attempt_count -= len(run.attempts)
                self.evicted_attempts += len(run.attempts)
                self.evicted_runs += 1

    def get(self, run_id: str) -> Run | None:
        with self._lock:
            return self.runs.get(run_id)

    def all(self) -> list[Run]:
        with self._lock:
            return list(self.runs.values())

    def clear(self) -> list[Run]:
        with self._lock:
            runs = list(self.runs.values())
            self.runs.clear()
            self.attempt_count = 0
            return runs

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "runs": len(self.runs),
                "attempts": self.attempt_count,
                "total_attempts": self.total_attempts,
                "evicted_runs": self.evicted_runs,
                "evicted_attempts": self.evicted_attempts,
                "limit": self.limit,
            }


# --------------------------------------------------------------------------------------- engine
class Engine:
    """Plays runs from one asyncio loop in a daemon thread; safe to call from any thread."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        seed: int | None = None,
        journal_limit: int = 100_000,
        max_connections: int = 32,
        policies: Mapping[str, Mapping[str, Any]] | None = None,
        allow_targets: _targets.AllowList | None = None,
        max_pending_runs: int | None = None,
    ) -> None:
        self.time_scale = time_scale
        self.allow_targets = allow_targets
        """Where runs may deliver (None: anywhere); others are journaled ``blocked``."""
        self.max_pending_runs = max_pending_runs
        """Runs not yet finished allowed at once (None: no cap); beyond it play() refuses."""
        self.pending_runs = 0
        self.rejected_runs = 0
        """Runs refused because ``max_pending_runs`` were already pending."""
        self.blocked_attempts = 0
        self.seed = seed
        self.journal = Journal(journal_limit)
        self.max_connections = max_connections
        self.policy_overrides = {k: dict(v) for k, v in (policies or {}).items()}
        self.errors: list[BaseException] = []
        self.finished_runs = threading.Condition()
        """Notified whenever a run finishes (see :meth:`Run.wait_done`)."""
        self.lateness: deque[float] = deque(maxlen=100_000)
        self.on_attempt: list[Callable[[Run, Attempt], None]] = []
        self.on_finished: list[Callable[[Run], None]] = []
        """Called (from any thread) once when a run finishes, whatever its state."""
        self._factory = ReceiptFactory()
        self._seeds = random.Random(seed)
        self._factory_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: HttpClient | None = None
        self._start_lock = threading.Lock()
        self._unspawned: list[Run] = []
        """Runs played but not yet started on the loop (one wake-up of the loop per batch)."""
        self._unspawned_lock = threading.Lock()
        self._closing = False

    # -- lifecycle
    def start(self) -> Engine:
        """Start the loop thread (idempotent)."""
        with self._start_lock:
            if self._thread is not None:
                return self
            self._closing = False
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main() -> None:
                asyncio.set_event_loop(loop)
                self._client = HttpClient(max_connections_per_host=self.max_connections)
                loop.call_soon(ready.set)
                loop.run_forever()

            self._loop = loop
            self._thread = threading.Thread(target=main, name="dlrmock-engine", daemon=True)
            self._thread.start()
            if not ready.wait(10):
                raise RunError("the delivery engine did not start within 10 s")
        return self

    def close(self) -> None:
        """Cancel pending runs, close connections, stop the loop thread."""
        with self._start_lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return

            async def shutdown() -> None:
                self._closing = True  # runs whose start is still queued never start now
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if self._client is not None:
                    await self._client.aclose()

            try:
                asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
            except (concurrent.futures.TimeoutError, RuntimeError):
                log.warning("dlrmock engine did not shut down cleanly within 10 s")
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
            self._loop = self._thread = None
            with self._unspawned_lock:  # played while closing: never started, so cancelled
                stranded, self._unspawned = self._unspawned, []
            # Held, or released with a delay that had not run out: never started, so cancelled.
            stranded += [run for run in self.journal.all() if not run.finished]
            for run in stranded:
                run.held = False
                _settle(run)

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, coroutine: Any, timeout: float | None, what: str) -> Any:
        """Run ``coroutine`` on the engine loop and wait for its result."""
        if self._loop is None:
            coroutine.close()
            raise RunError("the delivery engine is not running (use it as a context manager)")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RunError(f"gave up {what} after {timeout} s") from None

    # -- runs
    def play(
        self,
        scenario: str | Scenario | Mapping[str, Any],
        to: str,
        *,
        fields: Mapping[str, Any] | None = None,
        message: Mapping[str, Any] | None = None,
        seed: int | None = None,
        time_scale: float | None = None,
        clock: str = "scaled",
        policy: Mapping[str, Any] | None = None,
        error_info_encoding: int | None = None,
        allow_invalid: bool = False,
        start_after: float = 0.0,
        gate: Callable[[Delivery], str | None] | None = None,
        live_zone: tzinfo | None = None,
        hold: bool = False,
        any_target: bool = False,
    ) -> Run:
        """Start playing ``scenario`` at ``to``; returns the run at once (see ``Run.wait``).

        ``fields`` override receipt fields in every receipt that has them (and the shared
        message field of that name); ``message`` sets shared message fields only.
        ``start_after`` delays the whole run (scaled by its clock); ``gate`` may stop it before
        a step (see :attr:`Run.gate`); ``live_zone`` stamps event times as receipts leave;
        ``hold`` plans the run without starting it (:meth:`release` starts it). With
        ``any_target`` a URL that cannot be delivered to is accepted: each receipt is journaled
        ``blocked`` with the reason (a provider accepts any callback URL at send time).
        """
        if not math.isfinite(start_after) or not 0 <= start_after <= MAX_SECONDS:
            raise RunError(f"start_after must be a number of seconds >= 0, got {start_after!r}")
        spec = resolve(scenario)
        blocked = None
        if not isinstance(to, str) or not to.lower().startswith(("http://", "https://")):
            blocked = (
                f"target URL {to!r} must be an http:// or https:// URL, "
                "e.g. http://127.0.0.1:8000/hook"
            )
        else:
            try:  # a URL the client cannot send to fails here, not inside the run
                _targets.parse(to)
            except _targets.AmbiguousTargetError:
                pass  # journaled 'blocked' below, like a target outside the allow-list
            except ValueError as exc:
                blocked = f"bad target URL: {exc}"
        if blocked is not None and not (any_target and isinstance(to, str)):
            raise RunError(blocked)
        address = None
        if blocked is None:
            blocked, address = _targets.decide(to, self.allow_targets)
        first = get_kind(spec.steps[0].kind) if spec.steps else None
        defaults = {  # the server's policies: the provider's, then the receipt family's
            **self.policy_overrides.get(spec.provider, {}),
            **(self.policy_overrides.get(first.family, {}) if first else {}),
        }
        policy_obj = run_policy(spec, defaults, policy)
        if clock == "manual":
            run_clock: Clock = ManualClock()
        elif clock == "scaled":
            try:
                scale = self.time_scale if time_scale is None else float(time_scale)
            except (TypeError, ValueError, OverflowError):
                raise RunError(f"time_scale must be a number >= 0, got {time_scale!r}") from None
            run_clock = ScaledClock(scale)
            run_clock.lateness = self.lateness
        else:
            raise RunError(f"unknown clock {clock!r}; use 'scaled' (with time_scale) or 'manual'")
        encoding = (
            error_info_encoding if error_info_encoding is not None else spec.error_info_encoding
        )
        with self._factory_lock:
            run_seed = seed if seed is not None else self._seeds.randrange(2**31)
            self._factory.reseed(run_seed)
            try:
                msg, deliveries = plan_run(
                    self._factory, spec, to, fields or {}, message or {}, encoding, allow_invalid,
                    policy=policy_obj,
                )
            except DlrmockError:
                raise
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                # A field of the wrong type reached a generator (e.g. sendTime given as a number).
                raise RunError(
                    f"cannot build the receipts of {spec.name} with the fields given "
                    f"({type(exc).__name__}: {exc}); check the types of the 'message' and "
                    "'fields' values against the receipt schemas"
                ) from None
        run = Run(
            id=f"run-{next(self._ids)}",
            scenario=spec,
            target=to,
            policy=policy_obj,
            clock=run_clock,
            seed=run_seed,
            message=msg,
            deliveries=deliveries,
            engine=self,
            start_after=start_after,
            gate=gate,
            live_zone=live_zone,
            encoding=encoding,
            held=hold,
            blocked=blocked,
            connect_to=address,
        )
        self.start()
        with self.finished_runs:
            if self.max_pending_runs is not None and self.pending_runs >= self.max_pending_runs:
                self.rejected_runs += 1
                raise PendingLimitError(
                    f"{self.pending_runs} runs are already pending (max_pending_runs "
                    f"{self.max_pending_runs}); wait for some to finish, cancel them, reset, "
                    "or raise max_pending_runs"
                )
            self.pending_runs += 1
        self.journal.add_run(run)
        if not hold:
            self._spawn(run)
        return run

    def release(self, run: Run, after: float = 0.0) -> None:
        """Start a run planned with ``hold=True`` (once; later calls do nothing), ``after``
        real seconds from now."""
        if not run.held:
            return
        run.held = False
        if after > 0 and self._loop is not None:
            loop = self._loop
            loop.call_soon_threadsafe(lambda: loop.call_later(after, self._spawn, run))
        else:
            self._spawn(run)

    def _spawn(self, run: Run) -> None:
        assert self._loop is not None
        with self._unspawned_lock:
            self._unspawned.append(run)
            wake = len(self._unspawned) == 1
        if wake:  # else the loop has a _spawn_played call queued that will take this run too
            self._loop.call_soon_threadsafe(self._spawn_played)

    def _spawn_played(self) -> None:
        assert self._loop is not None
        with self._unspawned_lock:
            runs, self._unspawned = self._unspawned, []
        for run in runs:
            if self.journal.get(run.id) is not run or run.cancel_requested or self._closing:
                # reset() forgot it, or it was cancelled, before it started
                _settle(run)
                continue
            run.task = self._loop.create_task(self._play(run), name=run.id)
            run.task.add_done_callback(functools.partial(_settle, run))

    def _cancel_soon(self, run: Run) -> None:
        """Cancel ``run`` from the loop, after it was spawned (call_soon callbacks run in order)."""
        run.cancel_requested = True
        if run.held:  # planned, never started: nothing to stop
            run.held = False
            _settle(run)
            return
        if self._loop is not None and not run.finished:
            self._loop.call_soon_threadsafe(lambda: run.task.cancel() if run.task else None)

    async def _play(self, run: Run) -> None:
        assert self._loop is not None and self._client is not None
        run.state = "running"
        run.clock.start(self._loop)
        due = run.start_after
        stamped: dict[int, Delivery] = {}
        try:
            for index, delivery in enumerate(run.deliveries):
                due += delivery.after
                await run.clock.sleep_until(due)
                if run.gate is not None and delivery.copy == 0:
                    reason = run.gate(delivery)
                    if reason is not None:
                        run.state, run.error = "cancelled", reason
                        return
                if run.live_zone is not None:
                    delivery = stamped.get(delivery.step) or self._restamp(run, delivery)
                    stamped[delivery.step] = run.deliveries[index] = delivery
                await self._deliver(run, delivery)
            run.state = "done"
        except asyncio.CancelledError:
            run.state = "cancelled"
            raise
        except Exception as exc:  # a bug in dlrmock: keep it for the caller, don't lose the run
            log.exception("run %s failed", run.id)
            run.state, run.error = "error", f"{type(exc).__name__}: {exc}"
            self.errors.append(exc)
        finally:
            run.mark_done()

    def _restamp(self, run: Run, delivery: Delivery) -> Delivery:
        """``delivery`` with its event times set to now, if its kind has any."""
        restamp = get_kind(delivery.kind).restamp
        if restamp is None or delivery.malformed or run.live_zone is None or run.blocked:
            return delivery
        now = datetime.now(run.live_zone).replace(tzinfo=None)
        payload = restamp(dict(delivery.payload), now)
        request, sent = _encode(delivery.kind, payload, run.target, run.encoding, None)
        request = _parameters_where(run.policy, request)
        return dataclass_replace(delivery, payload=sent, request=with_default_headers(request))

    async def _deliver(self, run: Run, delivery: Delivery) -> None:
        assert self._client is not None and self._loop is not None
        if run.blocked is not None:  # never connected to: journaled once, never retried
            self.blocked_attempts += 1
            attempt = Attempt(run_id=run.id, step=delivery.step, copy=delivery.copy,
                              kind=delivery.kind, attempt=1, request=delivery.request,
                              offset=run.clock.now(), at=time.time(), latency_ms=0.0,
                              outcome=BLOCKED, error=run.blocked, malformed=delivery.malformed)
            self.journal.record(run, attempt)
            for listener in self.on_attempt:
                listener(run, attempt)
            return
        policy = run.policy
        dropping = delivery.lost_ack
        number = 0
        while True:
            number += 1
            offset = run.clock.now()
            wall = time.time()
            started = self._loop.time()
            response: Response | None = None
            error: str | None = None
            stopped: asyncio.CancelledError | None = None
            try:
                response = await self._client.send(
                    delivery.request, policy.timeout, connect_to=run.connect_to
                )
                outcome = (ACKNOWLEDGED if policy.acknowledges(response.status, response.body)
                           else HTTP_ERROR)
            except TransportError as exc:
                outcome, error = exc.outcome, exc.detail
            except asyncio.CancelledError as exc:
                # The request may have reached the webhook: journal it, then stop the run.
                outcome, error = CANCELLED, "the run was cancelled while waiting for the answer"
                stopped = exc
            latency = (self._loop.time() - started) * 1000
            if outcome == ACKNOWLEDGED and dropping != 0:
                dropping -= 1
                outcome = LOST_ACK
            attempt = Attempt(
                run_id=run.id,
                step=delivery.step,
                copy=delivery.copy,
                kind=delivery.kind,
                attempt=number,
                request=delivery.request,
                offset=offset,
                at=wall,
                latency_ms=latency,
                outcome=outcome,
                status=response.status if response is not None else None,
                response_body=response.body[:EXCERPT].decode("utf-8", "replace")
                if response is not None
                else "",
                error=error,
                malformed=delivery.malformed,
            )
            self.journal.record(run, attempt)
            if stopped is not None:
                raise stopped
            for listener in self.on_attempt:
                listener(run, attempt)
            seen_as = "timeout" if outcome == LOST_ACK else outcome
            if seen_as not in policy.retry_on or number > policy.retries:
                return
            await run.clock.sleep_until(run.clock.now() + policy.retry_interval)

    def continue_run_ids(self, after: int) -> None:
        """Number the next runs from ``after + 1`` (run ids stay unique across a restart)."""
        self._ids = itertools.count(max(after, 0) + 1)

    def get(self, run_id: str) -> Run:
        run = self.journal.get(run_id)
        if run is None:
            raise RunNotFoundError(
                f"no run {run_id!r} (never started, reset, or evicted from the journal); "
                "list runs with GET /_dlrmock/runs"
            )
        return run

    def runs(self) -> list[Run]:
        return self.journal.all()

    def cancel(self, run_id: str) -> Run:
        """Stop a pending run; what it already sent stays in the journal."""
        run = self.get(run_id)
        self._cancel_soon(run)
        return run

    def reset(self) -> None:
        """Cancel every run and forget them (the journal's counters of evictions stay)."""
        for run in self.journal.clear():
            self._cancel_soon(run)
        self.errors.clear()


_RETRYABLE = frozenset(OUTCOMES) - {ACKNOWLEDGED, LOST_ACK, CANCELLED, BLOCKED}


POLICY_SETTINGS = ("timeout", "retries", "retry_interval", "retry_on", "acknowledge", "parameters")
ACKNOWLEDGE_RULES = ("2xx", "200", "success")
"""What a run, a scenario or the server config may override of a provider's policy."""
MAX_SECONDS = 31_536_000.0


def check_policy(overrides: Mapping[str, Any]) -> None:
    """Reject override values of the wrong type or range, naming them (``ValueError``)."""

    unknown = sorted(set(overrides) - set(POLICY_SETTINGS))
    if unknown:
        raise ValueError(
            f"unknown delivery policy setting {unknown[0]!r}; known: {', '.join(POLICY_SETTINGS)}"
            " (the transport, POST or GET, is the provider's own)"
        )

    def number(name: str, minimum: float, inclusive: bool) -> None:
        value = overrides[name]
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if (
            not ok
            or not math.isfinite(value)
            or value > MAX_SECONDS
            or not (value >= minimum if inclusive else value > minimum)
        ):
            bound = ">=" if inclusive else ">"
            raise ValueError(
                f"policy {name!r} must be a number {bound} {minimum:g}, got {value!r} "
                f"(seconds, at most {MAX_SECONDS:g})"
            )

    if "timeout" in overrides:
        number("timeout", 0, inclusive=False)
    if "retry_interval" in overrides:
        number("retry_interval", 0, inclusive=True)
    if "retries" in overrides:
        value = overrides["retries"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise ValueError(f"policy 'retries' must be an integer from 0 to 100, got {value!r}")
    if "acknowledge" in overrides and overrides["acknowledge"] not in ACKNOWLEDGE_RULES:
        raise ValueError(
            f"policy 'acknowledge' must be one of {', '.join(ACKNOWLEDGE_RULES)}, "
            f"got {overrides['acknowledge']!r}"
        )
    if "parameters" in overrides and overrides["parameters"] not in ("body", "query"):
        raise ValueError(
            f"policy 'parameters' must be 'body' or 'query' (where a form-encoded receipt "
            f"carries its fields), got {overrides['parameters']!r}"
        )
    if "retry_on" in overrides:
        value = overrides["retry_on"]
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise ValueError(
                f"policy 'retry_on' must be a list of outcomes, got {value!r}; "
                f"choose from {', '.join(sorted(_RETRYABLE))}"
            )
        for item in value:
            if item not in _RETRYABLE:
                raise ValueError(
                    f"policy 'retry_on' has unknown outcome {item!r}; "
                    f"choose from {', '.join(sorted(_RETRYABLE))}"
                )


INVALID_OVERRIDE = "invalid_override"
"""How the journal marks a receipt made invalid by a field override the caller allowed."""


def _message_value(value: Any, generated: Any) -> Any:
    """A shared message field from a caller's value (text from the CLI takes the generated
    value's type: ``--set receivers=40`` is the number 40)."""
    if isinstance(value, RawValue):
        if isinstance(generated, str):
            return str(value)
        try:
            return json.loads(value)
        except ValueError:
            return str(value)
    return value


def _planned_payloads(
    factory: ReceiptFactory,
    spec: Scenario,
    message: dict[str, Any],
    fields: Mapping[str, Any],
    allow_invalid: bool,
) -> tuple[list[Payload], dict[int, str]]:
    """Each step's receipt with the overrides applied: the scenario's ``set``, the step's, then
    the caller's ``fields`` (which win); a caller's path must exist in some receipt, and a
    receipt it makes invalid is refused unless ``allow_invalid`` (then marked malformed)."""
    payloads: list[Payload] = []
    changed: list[tuple[int, str, dict[str, Any]]] = []
    known: set[str] = set()
    suggestions: list[str] = []
    for index, step in enumerate(spec.steps):
        base = factory.receipt(step.kind, message)
        suggestions += override_paths(base)
        here = {k: v for k, v in fields.items() if str(k).split(".", 1)[0] in base}
        known.update(k for k in here if path_known(step.kind, base, str(k)))
        mine = {k: typed(step.kind, str(k), v) for k, v in here.items()}
        every = {k: v for k, v in spec.set.items() if str(k).split(".", 1)[0] in base}
        overrides = {**every, **step.set, **mine}
        payloads.append(apply_overrides(step.kind, base, overrides) if overrides else base)
        if mine:
            changed.append((index, step.kind, mine))
    unknown = [k for k in fields if k not in known and k not in message]
    if unknown:
        name = str(unknown[0])
        close = close_matches(name, set(suggestions))
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise RunError(
            f"field {name!r} is in none of the receipts of {spec.name} "
            f"({', '.join(dict.fromkeys(spec.kinds))}); {hint}check its spelling, or set it in "
            "a step's 'set' of your own scenario to add it"
        )
    invalid: dict[int, str] = {}
    for index, kind, mine in changed:
        problems = validate(payloads[index], kind=kind)
        if problems and not allow_invalid:
            given = ", ".join(f"{k}={v!r}" for k, v in mine.items())
            raise OverrideError(
                f"{given} makes the {kind} receipt of step {index} invalid: {problems[0]}; fix "
                "the value, or send it anyway with --allow-invalid (allow_invalid=True in "
                "Python and the admin API), marked malformed"
            )
        if problems:
            invalid[index] = INVALID_OVERRIDE
    return payloads, invalid


def plan_run(
    factory: ReceiptFactory,
    spec: Scenario,
    url: str,
    fields: Mapping[str, Any],
    message_fields: Mapping[str, Any],
    encoding: int | None,
    allow_invalid: bool = False,
    *,
    policy: DeliveryPolicy | None = None,
) -> tuple[dict[str, Any], list[Delivery]]:
    """The message and the deliveries of one run of ``spec`` at ``url``, in sending order.

    Receipts come from ``factory`` (seed it first for reproducible data); ``fields`` override
    receipt fields wherever they appear, ``message_fields`` set shared message fields; each
    delivery carries the exact request to send (the engine and the Locust user both send these).
    """
    message = factory.message(spec.provider)
    shared = {k: _message_value(v, message[k]) for k, v in fields.items() if k in message}
    message.update(spec.message)
    message.update(message_fields)
    message.update(shared)
    payloads, invalid = _planned_payloads(
        factory, spec, message, fields, allow_invalid
    )
    order = list(range(len(spec.steps)))
    for index, step in enumerate(spec.steps):
        if step.reorder:
            order[index], order[index + 1] = order[index + 1], order[index]
    deliveries: list[Delivery] = []
    for position, source in enumerate(order):
        timing = spec.steps[position]
        step = spec.steps[source]
        request, sent = _encode(step.kind, payloads[source], url, encoding, step.malformed)
        request = _parameters_where(policy, request)  # ``policy`` may put a form in the URL
        with contextlib.suppress(ValueError):  # a blocked target: shown as it would be sent
            request = with_default_headers(request)  # the journal shows every header sent
        for copy in range(step.duplicate + 1):
            deliveries.append(
                Delivery(
                    step=source,
                    copy=copy,
                    kind=step.kind,
                    after=timing.after if copy == 0 else 0.0,
                    payload=sent,
                    request=request,
                    lost_ack=step.lost_ack,
                    malformed=step.malformed or invalid.get(source),
                )
            )
    return message, deliveries


def run_policy(
    spec: Scenario,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> DeliveryPolicy:
    """The delivery policy of a run of ``spec``: its first kind's family policy (else its
    provider's), with ``defaults`` (e.g. the server's config), the scenario's own ``policy`` and
    the run's ``overrides`` applied in that order."""
    provider = get_provider(spec.provider)
    base = get_kind(spec.steps[0].kind).policy if spec.steps else None
    base = base or provider.policy
    merged = {**(defaults or {}), **spec.policy, **(overrides or {})}
    try:
        check_policy(merged)
        return base.with_overrides(merged) if merged else base
    except (ValueError, TypeError) as exc:
        raise RunError(str(exc)) from None


def _settle(run: Run, task: object = None) -> None:
    """Once a run's task is done: drop it (the journal keeps runs, not their finished tasks),
    and finish the run if the task was cancelled before ``_play`` ever ran."""
    run.task = None
    if run.finished:
        return
    run.state = "cancelled"
    run.mark_done()


def _parameters_where(policy: DeliveryPolicy | None, request: Request) -> Request:
    """``request`` with a form body moved into the URL when the policy says ``query``."""
    if policy is None or policy.parameters != "query" or request.method != "POST":
        return request
    is_form = any(
        name.lower() == "content-type" and value.startswith("application/x-www-form-urlencoded")
        for name, value in request.headers
    )
    return form_to_query(request) if is_form else request


def _encode(
    kind: str, payload: Payload, url: str, encoding: int | None, malformed: str | None
) -> tuple[Request, Payload]:
    encoding_obj = ErrorInfoEncoding(encoding) if encoding is not None else None
    if malformed is None:
        return wire(kind, payload, url, encoding_obj), payload
    spec = get_kind(kind)
    provider = get_provider(spec.provider)
    broken = dict(payload)
    if malformed == "missing_field":
        broken.pop(spec.receipt_key or spec.message_key or provider.message_key, None)
        broken.pop(spec.discriminator or provider.discriminator, None)
    elif malformed == "wrong_type":
        broken[spec.typed_field or provider.typed_field] = ["not", "a", "value"]
    elif malformed == "bad_error_info" and spec.error_info_encoding is not None:
        broken["error_info"] = "%7B%22error%22%3A"
    elif malformed == "bad_json" and provider.policy.method == "GET":
        # Replaced below; a second error_info after the valid one would be ignored by receivers
        # that read the first value of a repeated parameter.
        broken.pop("error_info", None)
    request = wire(kind, broken, url, encoding_obj)
    if malformed == "bad_json":
        if request.method == "POST":
            request = Request(
                request.method,
                request.url,
                request.headers,
                request.body[: max(1, len(request.body) // 2)],
            )
        else:
            request = Request(
                request.method,
                request.url + "&error_info=%7B%22broken",
                request.headers,
                request.body,
            )
            broken["error_info"] = '{"broken'
    return request, broken
