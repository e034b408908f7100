"""What ``Engine.play`` accepts and how a run lives on the loop, as a caller sees it.

Rules that mutation testing of ``Engine.play`` / ``Engine._play`` found unguarded. Each test
states one rule in its name and plays through ``Engine``; every webhook is a loopback
``Target`` on 127.0.0.1, port 0.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from targets import Target

from mock_server import Engine, EngineClosedError, PendingLimitError, RunError

WAIT = 5.0
NXCLOUD = "nxcloud.zalo.failed"
YEAR = 365 * 86_400.0


@pytest.mark.parametrize(
    ("start_after", "shown"),
    [(-1.0, "-1.0"), (YEAR + 1, "31536001.0"), (float("nan"), "nan"), (float("inf"), "inf")],
    ids=["negative", "more than a year", "nan", "infinite"],
)
def test_start_after_outside_0_to_a_year_is_refused_naming_the_value(
    engine: Engine, target: Target, start_after: float, shown: str
) -> None:
    with pytest.raises(RunError) as refused:
        engine.play("nxcloud.zalo.failed", target.url, start_after=start_after)

    assert str(refused.value) == f"start_after must be a number of seconds >= 0, got {shown}"
    assert engine.runs() == [] and engine.pending_runs == 0


@pytest.mark.parametrize("start_after", [0.0, YEAR], ids=["zero", "a year"])
def test_start_after_of_0_up_to_a_year_is_accepted(
    engine: Engine, target: Target, start_after: float
) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url, start_after=start_after, hold=True)

    assert run.start_after == start_after and run.held
    assert engine.runs() == [run]


@pytest.mark.parametrize("url", ["https://127.0.0.1:9/hook", "HTTPS://127.0.0.1:9/hook",
                                 "HTTP://127.0.0.1:9/hook"],
                         ids=["https", "upper-case https", "upper-case http"])
def test_an_http_or_https_target_is_accepted_whatever_the_case_of_its_scheme(
    engine: Engine, url: str
) -> None:
    run = engine.play("nxcloud.zalo.failed", url, hold=True)  # held: nothing is sent

    assert run.target == url and run.blocked is None


def test_a_target_that_is_not_http_is_refused_showing_what_a_target_looks_like(
    engine: Engine,
) -> None:
    with pytest.raises(RunError) as refused:
        engine.play("nxcloud.zalo.failed", "ftp://127.0.0.1/hook")

    assert str(refused.value) == ("target URL 'ftp://127.0.0.1/hook' must be an http:// or "
                                  "https:// URL, e.g. http://127.0.0.1:8000/hook")
    assert engine.runs() == []


def test_a_family_server_policy_wins_over_its_provider_policy(target: Target) -> None:
    # docs/choices.md: "a family's entry wins over its provider's"; every answer is lost, so
    # the callback is retried as often as the policy allows.
    with Engine(time_scale=0, policies={"esms": {"retries": 3}, "esms.sms": {"retries": 1}}
                ) as engine:
        run = engine.play("esms.sms.cskh.retried_after_lost_ack", target.url).wait(WAIT)
    with Engine(time_scale=0, policies={"esms": {"retries": 3}}) as engine:
        provider_only = engine.play("esms.sms.cskh.retried_after_lost_ack", target.url).wait(WAIT)

    assert [a.attempt for a in run.attempts] == [1, 2]
    assert [a.attempt for a in provider_only.attempts] == [1, 2, 3, 4]


def test_a_run_waiting_for_its_next_receipt_is_running(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, clock="manual")
    deadline = time.monotonic() + WAIT
    while run.state == "pending" and time.monotonic() < deadline:
        time.sleep(0.002)

    assert run.state == "running" and run.as_dict()["state"] == "running"
    run.step(timeout=WAIT)
    assert run.state == "running" and not run.finished
    run.step(timeout=WAIT)
    assert run.wait_done(WAIT) and run.state == "done"


def test_an_error_inside_a_run_fails_it_naming_the_error_and_keeps_it_for_the_caller(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(run: object, attempt: object) -> None:
        raise LookupError("a listener's bug")

    with Engine(time_scale=0) as engine:
        engine.on_attempt.append(broken)
        run = engine.play("nxcloud.zalo.success_then_delivered", target.url)
        assert run.wait_done(WAIT)
        errors = engine.errors.take()

    assert run.state == "error" and run.error == "LookupError: a listener's bug"
    assert [str(e) for e in errors] == ["a listener's bug"]
    assert target.count() == 1  # the run stopped at the receipt whose listener failed
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.getMessage() == f"run {run.id} failed" and logged.exc_info is not None


def test_a_time_scale_that_is_not_a_number_is_refused_naming_it(
    engine: Engine, target: Target
) -> None:
    with pytest.raises(RunError) as refused:
        engine.play("nxcloud.zalo.failed", target.url, time_scale="fast")  # type: ignore[arg-type]

    assert str(refused.value) == "time_scale must be a number >= 0, got 'fast'"


def test_a_message_field_of_the_wrong_type_is_refused_naming_the_error_and_the_fix(
    engine: Engine, target: Target
) -> None:
    with pytest.raises(RunError) as refused:
        engine.play("nxcloud.zalo.success_then_delivered", target.url, message={"sent_at": 5})

    assert str(refused.value) == (
        "cannot build the receipts of nxcloud.zalo.success_then_delivered with the fields given "
        "(AttributeError: 'int' object has no attribute 'strftime'); check the types of the "
        "'message' and 'fields' values against the receipt schemas")
    assert engine.runs() == []


def test_each_unseeded_run_draws_a_seed_of_its_own_that_replays_its_receipts(
    target: Target,
) -> None:
    with Engine(time_scale=0, seed=7) as engine:
        runs = [engine.play("nxcloud.zalo.failed", target.url, hold=True) for _ in range(100)]
        again = engine.play("nxcloud.zalo.failed", target.url, hold=True, seed=runs[-1].seed)

    assert len({run.seed for run in runs}) == 100
    assert again.deliveries == runs[-1].deliveries


def test_each_run_beyond_max_pending_runs_is_refused_naming_the_cap_and_counted(
    target: Target,
) -> None:
    with Engine(time_scale=0, max_pending_runs=2) as engine:
        held = [engine.play("nxcloud.zalo.failed", target.url, hold=True) for _ in range(2)]
        for _ in range(3):
            with pytest.raises(PendingLimitError) as refused:
                engine.play("nxcloud.zalo.failed", target.url, hold=True)
            assert str(refused.value) == (
                "2 runs are already pending (max_pending_runs 2); wait for some to finish, "
                "cancel them, reset, or raise max_pending_runs")

        assert (engine.pending_runs, engine.rejected_runs) == (2, 3)
        assert engine.runs() == held and [run.id for run in held] == ["run-1", "run-2"]


# -------------------------------------------------------------- the line for a connection
def test_a_run_cancelled_while_waiting_for_a_connection_ends_at_once_and_the_line_moves_on(
    make_target: Callable[..., Target],
) -> None:
    stuck = make_target("never")
    with Engine(time_scale=0, max_connections=1) as engine:
        holder = engine.play(NXCLOUD, stuck.url, policy={"timeout": 30})
        stuck.wait_for(1)
        cancelled = engine.play(NXCLOUD, stuck.url, policy={"timeout": 30})
        behind = engine.play(NXCLOUD, stuck.url, policy={"timeout": 30})
        # the loop runs its callbacks in order: once this has run, both runs are in line
        engine.call(asyncio.sleep(0), WAIT, "letting the loop take the runs")

        engine.cancel(cancelled.id)
        assert cancelled.wait_done(WAIT) and cancelled.state == "cancelled"
        stuck.mode = "ok"
        engine.cancel(holder.id)
        # the holder's connection skips the cancelled run and goes to the next in line
        behind.assert_acknowledged(WAIT)
        engine.play(NXCLOUD, stuck.url, policy={"timeout": 0.5}).assert_acknowledged(WAIT)

    assert cancelled.attempts == [] and stuck.count() == 3


def test_never_more_connections_to_one_origin_than_max_connections(
    make_target: Callable[..., Target],
) -> None:
    slow = make_target("slow", delay=0.2)
    with Engine(time_scale=0, max_connections=2) as engine:
        for _ in range(3):  # runs that finished give back no more connections than they took
            engine.play(NXCLOUD, slow.url).assert_acknowledged(WAIT)
        runs = [engine.play(NXCLOUD, slow.url, policy={"timeout": 30}) for _ in range(8)]
        for run in runs:
            run.assert_acknowledged(WAIT)

    assert slow.max_open == 2


def test_playing_on_a_closed_engine_is_refused_saying_to_create_a_new_one(target: Target) -> None:
    engine = Engine(time_scale=0).start()
    engine.close()
    with pytest.raises(EngineClosedError) as refused:
        engine.play(NXCLOUD, target.url)

    assert str(refused.value) == (
        "the delivery engine is closed (Engine.close(), MockProvider.stop() or the end of its "
        "`with` block) and plays no more runs; create a new Engine or MockProvider to play again")
    assert target.count() == 0


def _error_info_sent(target: Target) -> str:
    query = target.requests[-1].path.split("?", 1)[1]
    [value] = [v for k, v in (p.split("=", 1) for p in query.split("&")) if k == "error_info"]
    return value


@pytest.mark.parametrize("encoding", [1, 4])
def test_a_scenarios_error_info_encoding_reaches_the_wire_unless_the_play_overrides_it(
    engine: Engine, target: Target, encoding: int
) -> None:
    scenario = {"name": "zns-encoded", "error_info_encoding": encoding,
                "steps": [{"kind": "esms.zns.normal"}]}
    engine.play(scenario, target.url).assert_acknowledged(WAIT)
    own = _error_info_sent(target)
    other = 5 - encoding  # 1 <-> 4
    engine.play(scenario, target.url, error_info_encoding=other).assert_acknowledged(WAIT)
    overridden = _error_info_sent(target)

    quoted, plain = (own, overridden) if encoding == 1 else (overridden, own)
    # 1: the JSON object as a quoted JSON string; 4: the plain object, percent-encoded once
    assert quoted.startswith('"{') and "%" not in quoted
    assert unquote(plain).startswith("{") and "%" in plain
