"""The delivery engine: scenarios played at loopback webhooks, clocks, faults and policies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from targets import ReceivedRequest, Target

from mock_server import (
    KINDS,
    Attempt,
    DlrmockError,
    Engine,
    Run,
    RunError,
    builtin_scenarios,
    validate,
)
from mock_server.providers import get_provider

FAST = {"timeout": 0.2}
MakeTarget = Callable[..., Target]


def bodies(target: Target) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in target.requests]


def wire_source(request: ReceivedRequest) -> str | bytes:
    """What a receiver parses: the body (NXCloud) or the request target (eSMS, and NXCloud's
    voice / OTA POSTs, whose parameters are in the URL)."""
    return request.body if request.method == "POST" and request.body else request.path


def problems_of(source: str | bytes, kind: str) -> list[str]:
    try:
        return [str(p) for p in validate(source, kind=kind)]
    except DlrmockError as exc:  # not even readable as a receipt
        return [str(exc)]


# ----------------------------------------------------------------------------------- basics
def test_success_then_delivered_carries_the_same_request_id_and_ext(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url).wait(5)

    assert run.ok, run.journal_text()
    received = target.wait_for(2)
    assert [r.method for r in received] == ["POST", "POST"]
    assert all(r.header("Content-Type") == "application/json" for r in received)
    success, delivered = bodies(target)
    assert (success["status"], delivered["status"]) == ("success", "delivered")
    assert success["requestId"] == delivered["requestId"] == run.message_id
    assert success["requestId"].startswith("zalomid.")
    assert success["ext"] and success["ext"] == delivered["ext"]
    # The journal holds exactly what went on the wire.
    assert [a.request.body for a in run.attempts] == [r.body for r in received]
    assert [a.outcome for a in run.attempts] == ["acknowledged", "acknowledged"]
    assert [a.status for a in run.attempts] == [200, 200]
    assert [a.response_body for a in run.attempts] == ["success", "success"]


def test_when_finished_runs_before_waiters_wake_and_at_once_when_already_done(
    engine: Engine, target: Target
) -> None:
    seen: list[str] = []
    run = engine.play("esms.sms.cskh.delivered", target.url)
    run.when_finished(lambda r: seen.append(f"first {r.state}"))
    run.wait(5)
    assert seen == ["first done"]  # called before wait() returned
    run.when_finished(lambda r: seen.append("late"))
    assert seen == ["first done", "late"]


def test_a_failing_when_finished_callback_does_not_break_the_run(
    engine: Engine, target: Target
) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("boom")

    seen: list[str] = []
    run = engine.play("esms.sms.cskh.delivered", target.url, hold=True)  # not finished yet
    run.when_finished(broken)
    run.when_finished(lambda r: seen.append(r.state))
    engine.release(run)
    assert run.wait(10).state == "done"  # not "error": the engine went on
    assert seen == ["done"]  # and so did the next callback


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_every_builtin_scenario_sends_valid_receipts_except_malformed_steps(
    engine: Engine, target: Target, name: str
) -> None:
    run = engine.play(name, target.url).wait(5)

    received = target.wait_for(len(run.attempts))
    assert len(received) == len(run.attempts) >= len(run.deliveries)
    malformed = {(d.step, d.copy): d.malformed for d in run.deliveries}
    for attempt, request in zip(run.attempts, received, strict=True):
        found = problems_of(wire_source(request), attempt.kind)
        if malformed[attempt.step, attempt.copy]:
            assert found, f"step {attempt.step} is marked malformed but validates"
        else:
            assert found == [], f"step {attempt.step} ({attempt.kind}): {found}"
    for delivery in run.deliveries:
        if not delivery.malformed:
            assert validate(delivery.payload, kind=delivery.kind) == []
    json.dumps(run.as_dict())  # the admin API can serialise every run


def test_journal_text_shows_every_attempt(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url).wait(5)

    text = run.journal_text()
    assert run.id in text and "nxcloud.zalo.success_then_delivered" in text
    assert text.count("acknowledged") == 2
    assert '"status":"delivered"' in text


def test_attempt_round_trips_through_its_dict(engine: Engine, target: Target) -> None:
    run = engine.play("esms.zns.normal.delivered", target.url).wait(5)
    attempt = run.attempts[0]

    again = Attempt.from_dict(json.loads(json.dumps(attempt.as_dict())))

    assert again.as_dict() == attempt.as_dict()
    assert again.request == attempt.request


# ------------------------------------------------------------------------------------ clocks
def test_manual_clock_sends_nothing_until_stepped(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, clock="manual")

    assert not run.wait_done(0.1)
    assert target.count() == 0 and run.attempts == []

    first = run.step()
    assert [a.kind for a in first] == ["nxcloud.zalo.success"]
    assert target.count() == 1  # the state a test checks between two receipts
    assert run.clock.now() == 0.0 and run.clock.pending == 1 and not run.finished

    second = run.step()
    assert [a.kind for a in second] == ["nxcloud.zalo.delivered"]
    assert second[0].offset == 2.0 and target.count() == 2
    assert run.wait(5).ok
    assert run.step() == []  # nothing left


def test_manual_clock_advance_fires_due_deliveries_in_order(
    engine: Engine, target: Target
) -> None:
    scenario = {
        "steps": [
            {"kind": "nxcloud.zalo.success"},
            {"kind": "nxcloud.zalo.delivered", "after": 2},
            {"kind": "nxcloud.zalo.delivered", "after": 3},
        ]
    }
    run = engine.play(scenario, target.url, clock="manual")

    assert len(run.advance(1)) == 1 and run.clock.now() == 1.0
    assert run.advance(0.5) == [] and target.count() == 1
    assert [a.step for a in run.advance(0.5)] == [1]
    assert [a.step for a in run.advance(100)] == [2]
    assert run.clock.now() == 102.0
    assert [a.offset for a in run.attempts] == [0.0, 2.0, 5.0]
    assert [b["status"] for b in bodies(target)] == ["success", "delivered", "delivered"]
    assert run.wait(5).ok


def test_manual_clock_spaces_esms_retries_by_the_retry_interval(
    engine: Engine, target: Target
) -> None:
    run = engine.play("esms.sms.cskh.retried_after_lost_ack", target.url, clock="manual")

    assert len(run.step()) == 1
    assert run.advance(9.9) == []
    assert [a.attempt for a in run.advance(0.1)] == [2]
    assert len(run.advance(40)) == 4
    assert [a.offset for a in run.attempts] == pytest.approx([0, 10, 20, 30, 40, 50])
    assert run.wait(5).finished and target.count() == 6


def test_manual_run_wait_says_how_to_move_the_clock(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url, clock="manual")

    with pytest.raises(RunError, match=r"manual clock .* call run\.step\(\)"):
        run.wait(0.05)


def test_scaled_clock_keeps_the_delays_at_the_time_scale(
    engine: Engine, target: Target
) -> None:
    started = time.monotonic()
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, time_scale=0.05)
    run.wait(5)

    first, second = run.attempts
    gap = second.at - first.at  # `after: 2` at 0.05 → 0.1 s
    assert 0.09 <= gap < 0.5, gap
    assert time.monotonic() - started >= 0.09
    assert 1.9 <= second.offset < 10, second.offset  # scenario seconds, not real ones
    assert len(engine.lateness) >= 1 and max(engine.lateness) < 0.5


def test_time_scale_zero_keeps_order_without_waiting(engine: Engine, target: Target) -> None:
    scenario = {
        "steps": [
            {"kind": "nxcloud.zalo.journey_acknowledged"},
            {"kind": "nxcloud.zalo.journey_time_out", "after": 604800},
        ]
    }
    started = time.monotonic()

    run = engine.play(scenario, target.url).wait(5)

    assert time.monotonic() - started < 2
    assert [a.offset for a in run.attempts] == [0.0, 604800.0]
    statuses = [b["status"] for b in bodies(target)]
    assert statuses == ["journey_acknowledged", "journey_time_out"]


# ------------------------------------------------------------------------------------ faults
def test_duplicate_sends_identical_copies_right_after(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.duplicate_delivered", target.url).wait(5)

    received = target.wait_for(3)
    assert [(a.step, a.copy) for a in run.attempts] == [(0, 0), (1, 0), (1, 1)]
    assert received[1].body == received[2].body
    assert json.loads(received[2].body)["status"] == "delivered"
    assert run.attempts[1].offset == run.attempts[2].offset == 2.0
    assert run.ok


def test_reorder_swaps_receipts_but_keeps_the_schedule(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.delivered_before_success", target.url).wait(5)

    assert [b["status"] for b in bodies(target)] == ["delivered", "success"]
    assert [a.step for a in run.attempts] == [1, 0]
    assert [a.offset for a in run.attempts] == [0.0, 1.0]
    assert run.ok


def test_esms_lost_ack_is_retried_until_an_answer_gets_through(
    engine: Engine, target: Target
) -> None:
    run = engine.play({"steps": [{"kind": "esms.zns.normal", "lost_ack": 2}]}, target.url)
    run.wait(5)

    assert [a.outcome for a in run.attempts] == ["lost_ack", "lost_ack", "acknowledged"]
    assert [a.status for a in run.attempts] == [200, 200, 200]
    assert [a.offset for a in run.attempts] == [0.0, 10.0, 20.0]
    assert len({r.path for r in target.wait_for(3)}) == 1  # the same callback each time
    assert run.ok


def test_nxcloud_lost_ack_is_not_retried_by_default(engine: Engine, target: Target) -> None:
    scenario = {"steps": [{"kind": "nxcloud.zalo.success", "lost_ack": True}]}

    run = engine.play(scenario, target.url).wait(5)

    assert [(a.outcome, a.status) for a in run.attempts] == [("lost_ack", 200)]
    assert run.ok  # the target did answer 2xx; the provider just never saw it


def test_retried_after_lost_ack_makes_exactly_six_attempts(
    engine: Engine, target: Target
) -> None:
    run = engine.play("esms.sms.cskh.retried_after_lost_ack", target.url).wait(5)

    received = target.wait_for(6)
    assert [a.attempt for a in run.attempts] == [1, 2, 3, 4, 5, 6]
    assert {a.outcome for a in run.attempts} == {"lost_ack"}
    assert len({r.path for r in received}) == 1 and len(received) == 6
    assert len({a.request for a in run.attempts}) == 1


def test_malformed_step_is_marked_and_needs_a_clean_answer(
    engine: Engine, make_target: MakeTarget
) -> None:
    rejecting = make_target("ok", status=400, body=b'{"error": "bad receipt"}')
    crashing = make_target("error")

    rejected = engine.play("nxcloud.zalo.malformed_then_delivered", rejecting.url).wait(5)
    crashed = engine.play("nxcloud.zalo.malformed_then_delivered", crashing.url).wait(5)

    assert [a.malformed for a in rejected.attempts] == ["bad_json", None, None]
    with pytest.raises(ValueError):
        json.loads(rejecting.requests[0].body)
    # 400 is the right answer to the malformed receipt, the wrong one to the real ones.
    assert [p.split(":")[0] for p in rejected.failures()] == [
        "step 1 (nxcloud.zalo.success)",
        "step 2 (nxcloud.zalo.delivered)",
    ]
    assert "malformed payload must get a clean 4xx/2xx answer, got HTTP 500" in (
        crashed.failures()[0]
    )
    assert "[bad_json]" in crashed.journal_text()


def _malformed_modes(kind: str) -> list[str]:
    modes = ["missing_field", "wrong_type"]
    has_error_info = KINDS[kind].error_info_schema is not None
    if has_error_info or KINDS[kind].transport.body != "none":
        modes.append("bad_json")
    if has_error_info:
        modes.append("bad_error_info")
    return modes


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_malformed_mode_sends_an_invalid_receipt(
    engine: Engine, target: Target, kind: str
) -> None:
    modes = _malformed_modes(kind)
    scenario = {"steps": [{"kind": kind, "malformed": mode} for mode in modes]}

    run = engine.play(scenario, target.url).wait(5)

    assert [a.malformed for a in run.attempts] == modes
    for mode, request in zip(modes, target.wait_for(len(modes)), strict=True):
        assert problems_of(wire_source(request), kind), f"{mode} of {kind} validates"


# ---------------------------------------------------------------------------------- transport
@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        ("", "/hook?SMSID="),
        ("?token=abc", "/hook?token=abc&SMSID="),
        ("?token=abc&", "/hook?token=abc&SMSID="),
        ("?", "/hook?SMSID="),
    ],
)
def test_esms_appends_its_parameters_to_the_callback_url(
    engine: Engine, target: Target, suffix: str, expected: str
) -> None:
    run = engine.play("esms.sms.cskh.delivered", target.url + suffix).wait(5)

    (request,) = target.wait_for(1)
    assert request.method == "GET" and request.body == b""
    assert request.path.startswith(expected), request.path
    assert request.path.count("?") == 1
    assert run.ok


# ----------------------------------------------------------------------------------- policies
def test_run_policy_overrides_the_retry_count(
    engine: Engine, make_target: MakeTarget
) -> None:
    never = make_target("never")

    run = engine.play("esms.sms.cskh.delivered", never.url, policy={**FAST, "retries": 2})
    run.wait(5)

    assert [a.outcome for a in run.attempts] == ["timeout"] * 3
    assert "no response within 0.2 s" in (run.attempts[0].error or "")


def test_run_policy_can_retry_http_errors(engine: Engine, make_target: MakeTarget) -> None:
    failing = make_target("error")
    policy = {"retries": 2, "retry_on": ["http_error"]}

    run = engine.play("nxcloud.zalo.failed", failing.url, policy=policy).wait(5)

    assert [(a.attempt, a.status) for a in run.attempts] == [(1, 500), (2, 500), (3, 500)]
    assert failing.count() == 3


def test_run_policy_beats_scenario_policy_beats_engine_policy(target: Target) -> None:
    scenario = {
        "policy": {"retries": 3},
        "steps": [{"kind": "esms.sms.cskh", "lost_ack": True}],
    }
    with Engine(time_scale=0, policies={"esms": {"retries": 1}}) as engine:
        assert len(engine.play("esms.sms.cskh.retried_after_lost_ack", target.url)
                   .wait(5).attempts) == 2
        assert len(engine.play(scenario, target.url).wait(5).attempts) == 4
        assert len(engine.play(scenario, target.url, policy={"retries": 0})
                   .wait(5).attempts) == 1


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"timeout": "10"}, "'timeout' must be a number > 0, got '10'"),
        ({"timeout": 0}, "'timeout' must be a number > 0, got 0"),
        ({"retries": -1}, "'retries' must be an integer from 0 to 100, got -1"),
        ({"retries": 1.5}, "got 1.5"),
        ({"retry_interval": -2}, "'retry_interval' must be a number >= 0, got -2"),
        ({"retry_on": "timeout"}, "'retry_on' must be a list of outcomes, got 'timeout'"),
        ({"retry_on": ["timeuot"]}, "unknown outcome 'timeuot'"),
        ({"retires": 3}, "unknown delivery policy setting 'retires'"),
    ],
)
def test_bad_policy_is_refused_naming_the_value(
    engine: Engine, target: Target, policy: dict[str, Any], message: str
) -> None:
    with pytest.raises(RunError, match=message.replace("(", r"\(")):
        engine.play("esms.sms.cskh.delivered", target.url, policy=policy)
    assert engine.runs() == []


# -------------------------------------------------------------------------------------- seeds
def test_same_seed_gives_identical_payloads(engine: Engine, target: Target) -> None:
    runs = [
        engine.play("nxcloud.zalo.success_then_delivered", target.url, seed=seed).wait(5)
        for seed in (7, 7, 8)
    ]

    assert runs[0].seed == runs[1].seed == 7
    assert runs[0].payloads == runs[1].payloads != runs[2].payloads
    assert [a.request.body for a in runs[0].attempts] == [
        a.request.body for a in runs[1].attempts
    ]


def test_engine_seed_makes_every_run_reproducible(target: Target) -> None:
    def play_three() -> list[Run]:
        with Engine(time_scale=0, seed=99) as engine:
            return [engine.play("esms.zns.normal.delivered", target.url).wait(5)
                    for _ in range(3)]

    first, second = play_three(), play_three()

    assert [r.seed for r in first] == [r.seed for r in second]
    assert [r.payloads for r in first] == [r.payloads for r in second]
    assert len({r.seed for r in first}) == 3


def test_fields_override_every_receipt_that_has_them(engine: Engine, target: Target) -> None:
    run = engine.play(
        "nxcloud.zalo.success_then_delivered", target.url, fields={"ext": "order-42"}
    ).wait(5)

    assert [b["ext"] for b in bodies(target)] == ["order-42", "order-42"]
    assert run.message["ext"] == "order-42"


# ------------------------------------------------------------------------------- independence
def test_a_target_that_never_answers_does_not_delay_other_runs(
    make_target: MakeTarget,
) -> None:
    never, ok = make_target("never"), make_target("ok")
    with Engine(time_scale=0, max_connections=2) as engine:
        stuck = [
            engine.play("nxcloud.zalo.success_never_delivered", never.url,
                        policy={"timeout": 5})
            for _ in range(4)  # more than the connections allowed to that host
        ]
        never.wait_for(2)
        started = time.monotonic()
        fast = engine.play("nxcloud.zalo.success_then_delivered", ok.url).wait(5)
        elapsed = time.monotonic() - started

        assert fast.ok and elapsed < 1.0, elapsed
        assert not any(run.finished for run in stuck)


def test_runs_play_concurrently(engine: Engine, make_target: MakeTarget) -> None:
    slow = make_target("slow", delay=0.3)
    started = time.monotonic()

    runs = [engine.play("nxcloud.zalo.failed", slow.url) for _ in range(10)]
    for run in runs:
        run.wait(5)

    assert all(run.ok for run in runs)
    assert time.monotonic() - started < 2.0  # 10 x 0.3 s one after another would be 3 s


# -------------------------------------------------------------------------- errors and control
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/hook", "must be an http:// or https:// URL"),
        ("127.0.0.1:8000/hook", "must be an http:// or https:// URL"),
        ("http://", "has no host"),
        ("http://127.0.0.1:99999/hook", "out of range"),
        ("http://127.0.0.1/a hook", "percent-encode"),
    ],
)
def test_unusable_target_url_is_refused_before_the_run_starts(
    engine: Engine, url: str, message: str
) -> None:
    with pytest.raises(RunError, match=message):
        engine.play("nxcloud.zalo.failed", url)
    assert engine.runs() == []


def test_unknown_clock_and_negative_time_scale_are_refused(
    engine: Engine, target: Target
) -> None:
    with pytest.raises(RunError, match="unknown clock 'wall'"):
        engine.play("nxcloud.zalo.failed", target.url, clock="wall")
    with pytest.raises(RunError, match="time_scale must be >= 0"):
        engine.play("nxcloud.zalo.failed", target.url, time_scale=-1)


def test_stepping_a_scaled_run_is_refused(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url).wait(5)

    with pytest.raises(RunError, match="start it with clock='manual'"):
        run.step()
    manual = engine.play("nxcloud.zalo.failed", target.url, clock="manual")
    with pytest.raises(RunError, match="time only moves forward"):
        manual.advance(-1)


def test_cancel_right_after_play_finishes_the_run(target: Target) -> None:
    with Engine(time_scale=1) as slow_engine:
        runs = [
            slow_engine.play("nxcloud.zalo.success_then_delivered", target.url),
            slow_engine.play("nxcloud.zalo.success_then_delivered", target.url,
                             clock="manual"),
        ]
        for run in runs:
            slow_engine.cancel(run.id)
        for run in runs:
            assert run.wait(2).state == "cancelled"
            assert not run.ok


def test_cancel_keeps_what_was_sent(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, clock="manual")
    run.step()

    engine.cancel(run.id).wait(2)

    assert run.state == "cancelled" and len(run.attempts) == 1
    assert run.failures() == []  # cancelled: the unsent step is not a failure of the target


def test_cancel_while_waiting_for_an_answer_journals_the_request(
    engine: Engine, make_target: Callable[..., Target]
) -> None:
    never = make_target("never")
    run = engine.play("nxcloud.zalo.success_never_delivered", never.url, policy={"timeout": 5})
    never.wait_for(1)

    engine.cancel(run.id)
    run.wait(5)

    assert run.state == "cancelled"
    assert [(a.kind, a.outcome) for a in run.attempts] == [("nxcloud.zalo.success", "cancelled")]
    assert "cancelled while waiting" in (run.attempts[0].error or "")
    assert engine.journal.stats()["attempts"] == 1
    assert run.failures() == []  # the run was stopped: no verdict on the target


def test_reset_cancels_pending_runs_and_forgets_them(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, clock="manual")

    engine.reset()

    assert run.wait(2).state == "cancelled"
    assert engine.runs() == []
    with pytest.raises(RunError, match=f"no run '{run.id}'"):
        engine.get(run.id)


def test_close_finishes_pending_runs(target: Target) -> None:
    engine = Engine(time_scale=1).start()
    journaled = threading.Event()
    engine.on_attempt.append(lambda run, attempt: journaled.set())
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url)
    manual = engine.play("nxcloud.zalo.failed", target.url, clock="manual")
    assert journaled.wait(5)

    engine.close()

    assert run.wait(2).state == "cancelled" and len(run.attempts) == 1
    assert manual.wait(2).state == "cancelled"
    with pytest.raises(RunError, match="not running"):
        manual.step()


# ------------------------------------------------------------------ acknowledgement rules
@pytest.mark.parametrize(
    ("rule", "status", "body", "acknowledged"),
    [
        ("2xx", 200, b"", True),
        ("2xx", 204, b"", True),
        ("2xx", 299, b"x", True),
        ("2xx", 199, b"", False),
        ("2xx", 300, b"", False),
        ("2xx", 302, b"", False),
        ("200", 200, b"anything", True),
        ("200", 201, b"", False),
        ("200", 204, b"", False),
        ("success", 200, b"success", True),
        ("success", 200, b" success\r\n", True),
        ("success", 200, b"OK", False),
        ("success", 200, b"", False),
        ("success", 500, b"success", False),
    ],
)
def test_a_policy_acknowledges_by_its_rule(
    rule: str, status: int, body: bytes, acknowledged: bool
) -> None:
    policy = get_provider("nxcloud").policy.with_overrides({"acknowledge": rule})
    assert policy.acknowledges(status, body) is acknowledged


def test_a_201_does_not_acknowledge_when_the_policy_wants_exactly_200(
    engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target(status=201)
    run = engine.play(
        "nxcloud.zalo.failed", target.url, policy={"acknowledge": "200", **FAST}
    ).wait(5)

    assert [a.outcome for a in run.attempts] == ["http_error"]
    assert not run.attempts[0].acknowledged
    assert not run.ok and "not acknowledged" in run.failures()[0]


def test_an_answer_other_than_success_does_not_acknowledge_under_the_success_rule(
    engine: Engine, make_target: MakeTarget
) -> None:
    run_ok = engine.play("nxcloud.zalo.failed", make_target(body=b"success").url,
                         policy={"acknowledge": "success"}).wait(5)
    run_bad = engine.play("nxcloud.zalo.failed", make_target(body=b"OK").url,
                          policy={"acknowledge": "success"}).wait(5)

    assert run_ok.ok, run_ok.journal_text()
    assert [a.outcome for a in run_bad.attempts] == ["http_error"]


def test_an_unknown_acknowledgement_rule_is_refused_naming_the_choices(engine: Engine) -> None:
    with pytest.raises(RunError, match="'acknowledge' must be one of 2xx, 200, success"):
        engine.play("nxcloud.zalo.failed", "http://127.0.0.1:9/", policy={"acknowledge": "ok"})


# ------------------------------------------------------------------------ held runs
def test_a_held_run_sends_nothing_until_released(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url, hold=True)
    time.sleep(0.1)
    assert target.count() == 0 and run.state == "pending" and not run.finished

    engine.release(run)
    assert run.wait(5).ok
    assert target.count() == 1


def test_a_run_cancelled_while_its_release_is_delayed_never_plays(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url, hold=True)
    engine.release(run, after=0.2)
    engine.cancel(run.id)

    assert run.wait(5).state == "cancelled"
    time.sleep(0.3)
    assert target.count() == 0 and run.attempts == []


def test_a_gate_stops_the_run_before_the_step_it_refuses(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url,
                      gate=lambda d: "no more" if d.step == 1 else None).wait(5)

    assert run.state == "cancelled" and run.error == "no more"
    assert [a.kind for a in run.attempts] == ["nxcloud.zalo.success"]


def test_a_manual_run_cancelled_before_it_started_can_still_be_stepped(engine: Engine) -> None:
    # Found by the property-based sweep of the admin API: cancel, then step, was a 500.
    for _ in range(20):
        run = engine.play("nxcloud.zalo.failed", "http://127.0.0.1:9/hook", clock="manual")
        engine.cancel(run.id)
        assert run.step(5) == []
        assert run.wait(5).state == "cancelled"


def test_closing_the_engine_cancels_a_run_whose_delayed_start_is_pending(
    make_target: MakeTarget
) -> None:
    target = make_target()
    engine = Engine(time_scale=0).start()
    run = engine.play("nxcloud.zalo.failed", target.url, hold=True)
    engine.release(run, after=0.3)
    engine.close()

    assert run.finished and run.state == "cancelled"
    time.sleep(0.4)
    assert target.count() == 0 and list(engine.errors) == []
