"""The engine's lifecycle under races: each test forces one interleaving with events and
monkeypatched hooks (no sleeps), then checks that no run is lost, left pending or replayed.

Every webhook is a loopback ``Target`` on 127.0.0.1, port 0.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from targets import Target

from mock_server import Engine, EngineClosedError, MockProvider, Run, ServerError

WAIT = 5.0
"""Deadline of every wait in these tests (each normally ends in milliseconds)."""


class ContendedLock:
    """A lock that says when a second thread starts waiting for it (``contended``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.contended = threading.Event()
        self.on_acquired: Callable[[], None] | None = None
        """Called once, by the first thread that takes the lock after it is set."""

    def __enter__(self) -> ContendedLock:
        if not self._lock.acquire(blocking=False):
            self.contended.set()
            self._lock.acquire()
        hook, self.on_acquired = self.on_acquired, None
        if hook is not None:
            hook()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def engine_threads() -> int:
    return sum(t.name == "dlrmock-engine" and t.is_alive() for t in threading.enumerate())


@contextmanager
def loop_blocked(engine: Engine) -> Iterator[None]:
    """Keep the engine's loop busy (it runs no callback) until the block ends."""
    busy, free = threading.Event(), threading.Event()

    async def hold() -> None:
        busy.set()
        free.wait(WAIT)  # blocks the loop thread on purpose

    blocker = threading.Thread(target=engine.call, args=(hold(), WAIT, "blocking the loop"))
    blocker.start()
    assert busy.wait(WAIT)
    try:
        yield
    finally:
        free.set()
        blocker.join(WAIT)


# ------------------------------------------------------------------ closed means closed
def test_playing_on_a_closed_engine_is_refused_and_does_not_restart_it(target: Target) -> None:
    engine = Engine(time_scale=0).start()
    engine.play("nxcloud.zalo.failed", target.url).wait(WAIT)
    engine.close()
    threads = engine_threads()

    with pytest.raises(EngineClosedError, match=r"engine is closed .* create a new Engine"):
        engine.play("nxcloud.zalo.failed", target.url)
    with pytest.raises(EngineClosedError):
        engine.start()

    assert engine_threads() == threads
    assert target.count() == 1


def test_playing_on_a_stopped_provider_says_it_is_closed(target: Target) -> None:
    with MockProvider(time_scale=0) as provider:
        provider.play("nxcloud.zalo.failed", to=target.url).wait(WAIT)

    with pytest.raises(EngineClosedError, match=r"MockProvider\.stop\(\)"):
        provider.play("nxcloud.zalo.failed", to=target.url)
    assert target.count() == 1


def test_a_follow_up_played_while_the_engine_closes_is_refused_without_a_hang(
    target: Target,
) -> None:
    engine = Engine(time_scale=0).start()
    run = engine.play("nxcloud.zalo.failed", target.url, clock="manual")
    refused: list[BaseException] = []

    def follow_up(done: Run) -> None:  # runs on the loop thread while close() cancels
        try:
            engine.play("nxcloud.zalo.failed", target.url)
        except EngineClosedError as exc:
            refused.append(exc)

    run.when_finished(follow_up)
    started = time.monotonic()
    engine.close()

    assert time.monotonic() - started < WAIT  # the follow-up did not wait for close's lock
    assert run.state == "cancelled" and len(refused) == 1
    assert [r.id for r in engine.runs()] == [run.id] and target.count() == 0


# ---------------------------------------------------- close between start and hand-off
def test_close_landing_while_play_hands_a_run_over_leaves_no_run_pending(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(time_scale=1).start()
    lifecycle = ContendedLock()
    monkeypatch.setattr(engine, "_lifecycle", lifecycle)
    closer = threading.Thread(target=engine.close)

    def close_now() -> None:  # play() holds the lock: the engine is started, the run not queued
        closer.start()
        assert lifecycle.contended.wait(WAIT), "close() did not wait for the hand-off"

    lifecycle.on_acquired = close_now
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url)
    closer.join(WAIT)

    assert not closer.is_alive()
    assert run.wait(WAIT).state == "cancelled"
    assert engine.pending_runs == 0
    with pytest.raises(EngineClosedError):
        engine.play("nxcloud.zalo.failed", target.url)


# --------------------------------------------------------- cancel before the run spawns
def test_a_cancel_landing_between_queueing_and_spawning_stops_the_run(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    with Engine(time_scale=0) as engine:
        with loop_blocked(engine):  # the run is queued, the loop cannot spawn it yet
            run = engine.play("nxcloud.zalo.success_then_delivered", target.url)
            engine.cancel(run.id)

        assert run.wait(WAIT).state == "cancelled"
        assert run.attempts == [] and target.count() == 0
        assert engine.pending_runs == 0
    # the cancel queued for a task that never existed is a no-op, not an error on the loop
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


def test_a_cancel_landing_between_release_and_spawning_stops_the_run(target: Target) -> None:
    with Engine(time_scale=0) as engine:
        run = engine.play("nxcloud.zalo.success_then_delivered", target.url, hold=True)
        with loop_blocked(engine):
            engine.release(run)
            engine.cancel(run.id)

        assert run.wait(WAIT).state == "cancelled"
        assert run.attempts == [] and target.count() == 0


# ------------------------------------------------------------------ errors are never lost
class Boom(Exception):
    """Stands for a bug inside dlrmock."""


def explode(*_: Any) -> None:
    raise Boom("a listener failed")


def test_an_error_raised_while_check_takes_the_errors_is_raised_by_the_next_check(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockProvider(time_scale=0) as provider:
        engine = provider.state.engine
        engine.on_attempt.append(explode)
        lock = ContendedLock()
        monkeypatch.setattr(engine.errors, "_lock", lock)
        played: list[Run] = []

        def fail_a_run_meanwhile() -> None:  # check() is taking the engine's errors now
            played.append(provider.play("nxcloud.zalo.failed", to=target.url))
            assert lock.contended.wait(WAIT), "the failed run did not wait to record its error"

        lock.on_acquired = fail_a_run_meanwhile
        provider.check()  # nothing had failed when it began

        assert played[0].wait(WAIT).state == "error"
        with pytest.raises(ServerError, match=r"1 error.*Boom: a listener failed"):
            provider.check()
        engine.on_attempt.clear()


def test_every_thread_waiting_for_a_run_wakes_when_it_finishes(target: Target) -> None:
    with Engine(time_scale=0, seed=1) as engine:
        run = engine.play("nxcloud.zalo.success_never_delivered", target.url, hold=True)
        woke: list[bool] = []
        waiting = [threading.Thread(target=lambda: woke.append(run.wait_done(WAIT)))
                   for _ in range(3)]
        for thread in waiting:
            thread.start()
        engine.release(run)
        for thread in waiting:
            thread.join(WAIT)
        assert woke == [True, True, True] and run.ok


def test_a_wait_that_runs_out_leaves_nothing_behind_and_a_later_wait_still_wakes(
    target: Target,
) -> None:
    with Engine(time_scale=0, seed=1) as engine:
        run = engine.play("nxcloud.zalo.success_never_delivered", target.url, hold=True)
        other = engine.play("nxcloud.zalo.success_never_delivered", target.url)
        assert other.wait(WAIT).ok  # another run finishing does not end the wait below
        assert run.wait_done(0.05) is False and run.wait_done(0) is False
        assert run._waiters is None  # the timed-out waiters took their locks back out
        engine.release(run)
        assert run.wait_done(WAIT) is True and run.ok
        assert run.wait_done(0) is True
