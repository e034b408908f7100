"""The engine: plays runs from one asyncio loop in a background thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import logging
import math
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from .. import _targets
from .._errors import (
    DlrmockError,
    EngineClosedError,
    ErrorLog,
    PendingLimitError,
    RunError,
    RunNotFoundError,
)
from .._factory import ReceiptFactory, delivery_request
from .._http import Response, TransportError
from .._scenarios import Scenario, resolve
from .clock import Clock, ManualClock, ScaledClock
from .journal import Journal
from .outcomes import ACKNOWLEDGED, BLOCKED, CANCELLED, HTTP_ERROR, LOST_ACK, SEEN_AS_TIMEOUT
from .plan import plan_run
from .policy import MAX_SECONDS, run_policy
from .records import Attempt, Delivery
from .run import Run

if TYPE_CHECKING:
    from .._http_client import HttpClient  # imported when the engine starts (it loads aiohttp)

log = logging.getLogger(__name__)

EXCERPT = 2048
"""How much of an answer's body the journal keeps (bytes)."""
_SHORT = 64
_common_answers: dict[bytes, str] = {}
"""Short answers already seen ("success", "OK", "{}"), kept once for every attempt they end."""


def excerpt(body: bytes) -> str:
    """The start of an answer's body, as text; a short answer seen before is shared."""
    if len(body) > _SHORT:
        return body[:EXCERPT].decode("utf-8", "replace")
    text = _common_answers.get(body)
    if text is None:
        text = body.decode("utf-8", "replace")
        if len(_common_answers) < 1024:
            _common_answers[body] = text
    return text


def _new_loop() -> asyncio.AbstractEventLoop:
    """The engine's event loop: uvloop's where it is installed (a dependency except on
    Windows, which it does not support), asyncio's otherwise.

    uvloop runs the loop, its sockets and timers in C (libuv): the loop work under every
    request costs a fraction of the pure-Python selector loop's.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


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
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.time_scale = time_scale
        self.tls = tls
        """How https:// targets are verified (None: the system's trust store; see
        :func:`mock_server._http.tls_context`)."""
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
        self.errors = ErrorLog()
        """Errors raised inside the engine (dlrmock bugs); ``take()`` them to re-raise."""
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
        self._lifecycle = threading.Lock()
        """Held while the state changes and while a run is handed to the loop: a run is either
        handed over before ``close()`` begins, or refused."""
        self._state = "new"
        """new → running → closing → closed; a closed engine never plays again."""
        self._closer = threading.Lock()
        self._unspawned: list[Run] = []
        """Runs played but not yet started on the loop (one wake-up of the loop per batch)."""
        self._unspawned_lock = threading.Lock()
        self._closing = False
        self._on_slot = self._slot_ready
        """Bound once: each run waiting in line for a connection holds no method object."""

    # -- lifecycle
    def start(self) -> Engine:
        """Start the loop thread (idempotent); :class:`EngineClosedError` once closed."""
        with self._lifecycle:
            self._start_locked()
        return self

    def _start_locked(self) -> None:
        if self._state == "running":
            return
        if self._state != "new":
            raise EngineClosedError(
                "the delivery engine is closed (Engine.close(), MockProvider.stop() or the end "
                "of its `with` block) and plays no more runs; create a new Engine or "
                "MockProvider to play again"
            )
        loop = _new_loop()
        ready = threading.Event()

        def main() -> None:
            from .._http_client import HttpClient

            asyncio.set_event_loop(loop)
            self._client = HttpClient(max_connections_per_host=self.max_connections,
                                      tls=self.tls)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=main, name="dlrmock-engine", daemon=True)
        thread.start()
        if not ready.wait(10):
            loop.call_soon_threadsafe(loop.stop)
            raise RunError("the delivery engine did not start within 10 s")
        self._loop, self._thread = loop, thread
        self._state = "running"

    def close(self) -> None:
        """Cancel pending runs, close connections, stop the loop thread (idempotent).

        Runs played from now on are refused (:class:`EngineClosedError`), also those a
        ``when_finished`` callback of a run being cancelled tries to start.
        """
        with self._closer:  # a second caller returns once the engine is closed
            with self._lifecycle:
                if self._state in ("new", "closed"):
                    self._state = "closed"
                    return
                self._state = "closing"
                loop, thread = self._loop, self._thread
            assert loop is not None and thread is not None
            # Not under the lifecycle lock: runs finishing now call back into the engine.

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
            with self._lifecycle:
                loop.close()
                self._loop = self._thread = None
                self._state = "closed"
                with self._unspawned_lock:  # played while closing: never started, so cancelled
                    stranded, self._unspawned = self._unspawned, []
                # Held, or released with a delay that had not run out: never started.
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
        with self._lifecycle:
            if self._state != "running":
                coroutine.close()
                raise RunError("the delivery engine is not running (use it as a context manager)")
            assert self._loop is not None
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
        defaults = {  # the server's policies: the provider's, then the receipt family's
            **self.policy_overrides.get(spec.provider, {}),
            **self.policy_overrides.get(spec.first_kind.family_name, {}),
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
            packed_message=msg,
            _deliveries=deliveries,
            engine=self,
            start_after=start_after,
            gate=gate,
            live_zone=live_zone,
            encoding=encoding,
            held=hold,
            blocked=blocked,
            connect_to=address,
        )
        with self._lifecycle:  # close() cannot begin between the start and the hand-off
            self._start_locked()
            with self.finished_runs:
                if (self.max_pending_runs is not None
                        and self.pending_runs >= self.max_pending_runs):
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
        with self._lifecycle:
            if not run.held or self._state != "running":
                return  # closing: close() cancels the runs still held
            run.held = False
            assert self._loop is not None
            if after > 0:
                loop = self._loop
                loop.call_soon_threadsafe(lambda: loop.call_later(after, self._spawn_later, run))
            else:
                self._spawn(run)

    def _spawn_later(self, run: Run) -> None:
        with self._lifecycle:
            if self._state == "running":
                self._spawn(run)
            # else closing: close() cancels the runs that never started

    def _spawn(self, run: Run) -> None:
        """Queue ``run`` to start on the loop (the lifecycle lock held, the engine running)."""
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
        client = self._client
        assert client is not None
        for run in runs:
            if self.journal.get(run.id) is not run or run.cancel_requested or self._closing:
                # reset() forgot it, or it was cancelled, before it started
                _settle(run)
                continue
            run.clock.start(self._loop)
            if _sends_at_once(run):
                # Its first send needs a connection slot now: take one, or wait in line for one
                # as a callback rather than as a task (a burst of thousands of runs to one
                # webhook would otherwise park thousands of tasks, the garbage collector walking
                # each of them again and again).
                if client.take_slot(run.target, run.connect_to, run.policy.timeout,
                                    self._on_slot, run):
                    run._slot = "held"
                else:
                    run._slot = "queued"
                    run._queued_at = time.perf_counter()
                    continue
            self._start(run)

    def _start(self, run: Run) -> None:
        assert self._loop is not None
        run.task = self._loop.create_task(self._play(run), name=run.id)
        run.task.add_done_callback(functools.partial(self._ended, run))

    def _ended(self, run: Run, task: object) -> None:
        """A run's task is done; if it was cancelled before ``_play`` began, the slot taken for
        its first send goes to the next in line."""
        if run._slot == "held" and self._client is not None:
            run._slot = None
            self._client.give_slot(run.target, run.connect_to)
        _settle(run)

    def _slot_ready(self, run: Run, handed: bool) -> bool:
        """The client's answer for a run waiting in line for its first send's slot: one was
        handed over (``handed``), or its deadline passed. Whether the run takes it."""
        if run._slot != "queued" or run.cancel_requested or self._closing:
            return False  # cancelled meanwhile (settled by _cancel_queued or close())
        run._slot = "held" if handed else "expired"
        self._start(run)
        return True

    def _cancel_queued(self, run: Run) -> None:
        """Cancel ``run`` on the loop: its task, or its place in line for a connection."""
        if run.task is not None:
            run.task.cancel()
        elif run._slot == "queued":  # waiting for its first send's slot, never started
            run._slot = None  # the client skips it when its turn comes
            _settle(run)

    def _cancel_soon(self, run: Run) -> None:
        """Cancel ``run`` from the loop, after it was spawned (call_soon callbacks run in order)."""
        run.cancel_requested = True  # read by _spawn_played: a run not started yet never starts
        with self._lifecycle:
            if run.held:  # planned, never started: nothing to stop
                run.held = False
            elif self._state == "running" and not run.finished:
                assert self._loop is not None
                self._loop.call_soon_threadsafe(self._cancel_queued, run)
                return
            else:
                return  # finished, or close() is cancelling every run
        _settle(run)

    async def _play(self, run: Run) -> None:
        assert self._loop is not None and self._client is not None
        run.state = "running"
        slot, run._slot = run._slot, None  # the first send's, taken when the run was spawned
        due = run.start_after
        stamped: dict[int, Delivery] | None = None
        deliveries = run.deliveries
        try:
            # By index: while a burst of runs waits for connections, each holds as few objects
            # as it can (the garbage collector walks every one of them, again and again).
            for index in range(len(deliveries)):
                delivery = deliveries[index]
                due += delivery.after
                await run.clock.sleep_until(due)
                if run.gate is not None and delivery.copy == 0:
                    reason = run.gate(delivery)
                    if reason is not None:
                        run.state, run.error = "cancelled", reason
                        return
                if run.live_zone is not None:
                    if stamped is None:
                        stamped = {}
                    first = stamped.get(delivery.step)  # a duplicate copy: the same stamp
                    if first is None:
                        delivery = stamped[delivery.step] = self._restamp(run, delivery)
                    else:
                        delivery = first.replace(copy=delivery.copy, after=delivery.after)
                    deliveries[index] = delivery
                handed, slot = slot, None
                await self._deliver(run, delivery, handed)
            run.state = "done"
        except asyncio.CancelledError:
            run.state = "cancelled"
            raise
        except Exception as exc:  # a bug in dlrmock: keep it for the caller, don't lose the run
            log.exception("run %s failed", run.id)
            run.state, run.error = "error", f"{type(exc).__name__}: {exc}"
            self.errors.append(exc)
        finally:
            if slot == "held":  # stopped before its first send: the slot goes to the next
                assert self._client is not None
                self._client.give_slot(run.target, run.connect_to)
            run.mark_done()

    def _restamp(self, run: Run, delivery: Delivery) -> Delivery:
        """``delivery`` with its event times set to now, if its kind has any."""
        kind = run.scenario.steps[delivery.step].spec
        if kind.restamp is None or delivery.malformed or run.live_zone is None or run.blocked:
            return delivery
        now = datetime.now(run.live_zone).replace(tzinfo=None)
        payload = kind.restamp(dict(delivery.payload), now)
        request, sent = delivery_request(
            kind, payload, run.target, run.encoding, parameters=run.policy.parameters
        )
        return delivery.replace(payload=sent, request=request)

    async def _deliver(self, run: Run, delivery: Delivery, slot: str | None = None) -> None:
        """Send ``delivery`` (and retry it as the policy says), journaling every attempt.

        ``slot``: the first send's connection slot, taken when the run was spawned ("held"),
        or "expired" when none came free in time."""
        assert self._client is not None and self._loop is not None
        if run.blocked is not None:  # never connected to: journaled once, never retried
            self.blocked_attempts += 1
            attempt = Attempt(run_id=run.id, step=delivery.step, copy=delivery.copy,
                              kind=delivery.kind, attempt=1, request=delivery,
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
            if run._queued_at is not None:  # the first send: it began when the run queued
                started, run._queued_at = run._queued_at, None
                waited = time.perf_counter() - started
                offset = run.clock.now(waited)
                wall = time.time() - waited
            else:
                offset = run.clock.now()
                wall = time.time()
                started = time.perf_counter()  # uvloop's clock counts whole ms
            response: Response | None = None
            error: str | None = None
            stopped: asyncio.CancelledError | None = None
            held, slot = slot, None  # the first try's only
            try:
                response = await self._client.send(
                    delivery.request, policy.timeout, connect_to=run.connect_to,
                    slot=None if held is None else held == "held",
                )
                outcome = (ACKNOWLEDGED if policy.acknowledges(response.status, response.body)
                           else HTTP_ERROR)
            except TransportError as exc:
                outcome, error = exc.outcome, exc.detail
            except asyncio.CancelledError as exc:
                # The request may have reached the webhook: journal it, then stop the run.
                outcome, error = CANCELLED, "the run was cancelled while waiting for the answer"
                stopped = exc
            latency = (time.perf_counter() - started) * 1000
            if outcome == ACKNOWLEDGED and dropping != 0:
                dropping -= 1
                outcome = LOST_ACK
            attempt = Attempt(
                run_id=run.id,
                step=delivery.step,
                copy=delivery.copy,
                kind=delivery.kind,
                attempt=number,
                request=delivery,
                offset=offset,
                at=wall,
                latency_ms=latency,
                outcome=outcome,
                status=response.status if response is not None else None,
                response_body=excerpt(response.body) if response is not None else "",
                error=error,
                malformed=delivery.malformed,
            )
            self.journal.record(run, attempt)
            if stopped is not None:
                raise stopped
            for listener in self.on_attempt:
                listener(run, attempt)
            seen_as = "timeout" if outcome in SEEN_AS_TIMEOUT else outcome
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

def _sends_at_once(run: Run) -> bool:
    """Whether ``run``'s first delivery goes out as soon as the run starts."""
    clock = run.clock
    if run.blocked is not None or not isinstance(clock, ScaledClock) or not run.deliveries:
        return False
    return clock.time_scale == 0 or run.start_after + run.deliveries[0].after <= 0


def _settle(run: Run, task: object = None) -> None:
    """Once a run's task is done: drop it (the journal keeps runs, not their finished tasks),
    and finish the run if the task was cancelled before ``_play`` ever ran."""
    run.task = None
    if run.finished:
        return
    run.state = "cancelled"
    run.mark_done()

