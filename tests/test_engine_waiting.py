"""Runs waiting in line for a connection to a busy webhook, and the loop the engine runs on.

A run whose first receipt is due at once takes a connection slot of its webhook's origin as it
starts, or waits in line for one with no task of its own; these tests check that the line moves,
that a run cancelled in it is never sent, and that no slot is lost on the way. Every webhook is
a loopback ``Target`` on 127.0.0.1, port 0.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from targets import Target

from mock_server import Engine, Run

WAIT = 5.0
NXCLOUD = "nxcloud.zalo.success_never_delivered"
"""One receipt, pushed once (no retries)."""

MakeTarget = Callable[..., Target]


async def _task_count() -> int:
    return len(asyncio.all_tasks())


@contextmanager
def one_busy_connection(
    make_target: MakeTarget, time_scale: float = 0
) -> Iterator[tuple[Engine, Target, Run]]:
    """An engine with one connection per origin, held by a run to a webhook that never answers
    (until the run is cancelled): (engine, webhook, holding run)."""
    stuck = make_target("never")
    with Engine(time_scale=time_scale, max_connections=1) as engine:
        holder = engine.play(NXCLOUD, stuck.url, policy={"timeout": 30})
        stuck.wait_for(1)
        yield engine, stuck, holder


def _free(engine: Engine, stuck: Target, holder: Run) -> None:
    """Let the line move: later requests are answered, and the holder lets go."""
    stuck.mode = "ok"
    engine.cancel(holder.id)


def test_runs_waiting_for_a_connection_hold_no_task_each_and_are_all_sent_in_turn(
    make_target: MakeTarget,
) -> None:
    with one_busy_connection(make_target) as (engine, stuck, holder):
        line = [engine.play(NXCLOUD, stuck.url, policy={"timeout": 30}) for _ in range(200)]

        tasks = engine.call(_task_count(), WAIT, "counting the loop's tasks")
        assert tasks <= 3  # the holder's, the counter itself; not one per waiting run
        assert {run.state for run in line} == {"pending"}

        _free(engine, stuck, holder)
        for run in line:
            run.assert_acknowledged(WAIT)
        assert [a.outcome for a in holder.wait(WAIT).attempts] == ["cancelled"]
        assert stuck.count() == 201
        assert list(engine.errors) == []


def test_a_run_cancelled_while_waiting_for_a_connection_is_never_sent(
    make_target: MakeTarget,
) -> None:
    with one_busy_connection(make_target) as (engine, stuck, holder):
        first, cancelled, last = (
            engine.play(NXCLOUD, stuck.url, policy={"timeout": 30}) for _ in range(3)
        )
        engine.cancel(cancelled.id)
        cancelled.wait(WAIT)

        assert cancelled.state == "cancelled" and cancelled.attempts == []
        _free(engine, stuck, holder)
        first.assert_acknowledged(WAIT)
        last.assert_acknowledged(WAIT)
        assert cancelled.attempts == []
        assert stuck.count() == 3  # the holder's, first's, last's


def test_reset_cancels_the_runs_waiting_in_line_and_the_next_run_is_sent_at_once(
    make_target: MakeTarget,
) -> None:
    with one_busy_connection(make_target) as (engine, stuck, _holder):
        line = [engine.play(NXCLOUD, stuck.url, policy={"timeout": 30}) for _ in range(50)]
        stuck.mode = "ok"
        engine.reset()  # cancels the holder too: its connection comes free

        for run in line:
            assert run.wait(WAIT).state == "cancelled"
            assert run.attempts == []
        # The line's places were given up: the next run does not wait behind them.
        engine.play(NXCLOUD, stuck.url, policy={"timeout": 1}).assert_acknowledged(WAIT)
        assert stuck.count() == 2


def test_a_run_whose_wait_in_line_runs_out_is_journaled_pool_timeout_for_the_whole_wait(
    make_target: MakeTarget,
) -> None:
    with one_busy_connection(make_target) as (engine, stuck, holder):
        run = engine.play(NXCLOUD, stuck.url, policy={"timeout": 0.3}).wait(WAIT)

        [attempt] = run.attempts
        assert attempt.outcome == "pool_timeout"
        assert attempt.error == (
            f"not sent: no connection to http://127.0.0.1:{stuck.port} came free within 0.3 s "
            "(all 1 busy)"
        )
        assert attempt.offset == 0.0  # the attempt began when the run queued
        assert 250 < attempt.latency_ms < 3000  # and lasted the wait
        assert stuck.count() == 1
        engine.cancel(holder.id)


def test_a_run_that_waited_in_line_keeps_its_scheduled_time_in_the_journal(
    make_target: MakeTarget,
) -> None:
    with one_busy_connection(make_target) as (engine, stuck, holder):
        late = engine.play(NXCLOUD, stuck.url, start_after=5, policy={"timeout": 30})
        _free(engine, stuck, holder)

        late.assert_acknowledged(WAIT)
        assert late.attempts[0].offset == 5.0  # its due time on the scenario clock


def test_at_time_scale_1_the_first_attempt_counts_the_wait_in_line_as_latency(
    make_target: MakeTarget,
) -> None:
    with one_busy_connection(make_target, time_scale=1) as (engine, stuck, holder):
        waiting = engine.play(NXCLOUD, stuck.url, policy={"timeout": 30})
        time.sleep(0.3)
        _free(engine, stuck, holder)

        waiting.assert_acknowledged(WAIT)
        [attempt] = waiting.attempts
        assert attempt.offset < 0.1  # sent as the run started, as far as its clock goes
        assert attempt.latency_ms >= 250
        assert abs(attempt.at - waiting.created_at) < 0.1


def test_a_run_stopped_by_its_gate_gives_its_connection_to_the_next(target: Target) -> None:
    with Engine(time_scale=0, max_connections=1) as engine:
        gated = engine.play(NXCLOUD, target.url, gate=lambda delivery: "the send was cancelled")
        assert gated.wait(WAIT).state == "cancelled"

        # With the one slot lost, this would end in pool_timeout after 0.5 s.
        engine.play(NXCLOUD, target.url, policy={"timeout": 0.5}).assert_acknowledged(WAIT)
        assert gated.attempts == [] and target.count() == 1


def test_a_run_cancelled_before_its_task_begins_gives_back_the_slot_it_took(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Engine(time_scale=0, max_connections=1) as engine:
        spawn = engine._spawn_played

        def spawn_then_cancel() -> None:  # a cancel landing before the task's first step
            spawn()
            for run in engine.runs():
                if run.task is not None and run.scenario.name == NXCLOUD and run.state == "pending":
                    run.task.cancel()

        monkeypatch.setattr(engine, "_spawn_played", spawn_then_cancel)
        cancelled = engine.play(NXCLOUD, target.url)
        assert cancelled.wait(WAIT).state == "cancelled"
        monkeypatch.undo()

        engine.play(NXCLOUD, target.url, policy={"timeout": 0.5}).assert_acknowledged(WAIT)
        assert cancelled.attempts == [] and target.count() == 1


# ----------------------------------------------------------------------------- the loop
async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_the_engine_runs_on_uvloop_where_it_is_installed(target: Target) -> None:
    expected = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    with Engine(time_scale=0) as engine:
        module = engine.call(_loop_module(), WAIT, "asking for the loop")
        engine.play(NXCLOUD, target.url).assert_acknowledged(WAIT)

    assert module.split(".")[0] == expected


def test_without_uvloop_the_engine_runs_on_asyncios_loop(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed: import fails
    with Engine(time_scale=0) as engine:
        module = engine.call(_loop_module(), WAIT, "asking for the loop")
        run = engine.play(NXCLOUD, target.url)
        run.assert_acknowledged(WAIT)

    assert module.split(".")[0] == "asyncio"
    assert target.count() == 1


def test_latency_is_measured_finer_than_the_loops_millisecond_clock(
    make_target: MakeTarget,
) -> None:
    slow = make_target("slow", delay=0.0125)
    with Engine(time_scale=0) as engine:
        run = engine.play(NXCLOUD, slow.url)
        run.assert_acknowledged(WAIT)

    latency = run.attempts[0].latency_ms
    assert latency >= 12.5
    assert latency != round(latency)  # not whole milliseconds (uvloop's loop.time() is)


def test_a_run_waiting_out_its_delay_holds_no_connection(target: Target) -> None:
    # One connection to the webhook: a run whose first receipt is due later leaves it free for
    # the runs due now until its own time comes.
    with Engine(time_scale=1, max_connections=1) as engine:
        later = engine.play(NXCLOUD, target.url, start_after=30)
        started = time.monotonic()
        now = [engine.play(NXCLOUD, target.url, policy={"timeout": 2}) for _ in range(3)]
        for run in now:
            run.assert_acknowledged(WAIT)
        assert time.monotonic() - started < 2  # none of them waited for the later run's slot
        assert later.state == "running" and later.attempt_count == 0
        engine.cancel(later.id)
        later.wait(WAIT)
