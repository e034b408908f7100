"""Rules of the delivery engine that mutation testing of ``mock_server/_engine`` found unguarded.

Each test states one rule in its name and drives the engine the way a caller does (``Engine``,
``MockProvider``, the CLI); every webhook is a loopback ``Target`` on 127.0.0.1, port 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from targets import Target, refused_url

from mock_server import AllowList, Engine, EngineClosedError, MockProvider, RunError
from mock_server.cli import cli

MakeTarget = Callable[..., Target]
WAIT = 5.0


def query_of(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}


# ------------------------------------------------------------------------------ lifecycle
def test_stepping_a_run_after_its_engine_closed_says_the_engine_is_not_running(
    target: Target,
) -> None:
    engine = Engine(time_scale=0).start()
    run = engine.play("nxcloud.zalo.failed", target.url, clock="manual")
    engine.close()

    with pytest.raises(RunError, match=r"^the delivery engine is not running \(use it as a "
                                       r"context manager\)$"):
        run.step(timeout=WAIT)
    assert run.state == "cancelled" and target.count() == 0


def test_an_engine_closed_before_it_started_stays_closed_and_closes_again_quietly(
    target: Target,
) -> None:
    engine = Engine(time_scale=0)
    engine.close()
    engine.close()  # idempotent, also before any start

    with pytest.raises(EngineClosedError, match=r"engine is closed"):
        engine.play("nxcloud.zalo.failed", target.url)
    with pytest.raises(EngineClosedError):
        engine.start()
    engine.close()
    assert target.count() == 0


def test_closing_the_engine_while_a_request_waits_journals_it_cancelled(
    make_target: MakeTarget, caplog: pytest.LogCaptureFixture
) -> None:
    never = make_target("never")
    engine = Engine(time_scale=0).start()
    run = engine.play("nxcloud.zalo.success_never_delivered", never.url, policy={"timeout": 5})
    never.wait_for(1)

    engine.close()

    assert run.wait_done(0) and run.state == "cancelled"
    [attempt] = run.attempts
    assert attempt.outcome == "cancelled"
    assert attempt.error == "the run was cancelled while waiting for the answer"
    assert engine.pending_runs == 0 and list(engine.errors) == []
    assert [r.getMessage() for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == []


def test_a_held_run_that_is_cancelled_is_no_longer_held(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url, hold=True)
    was_held = run.held

    engine.cancel(run.id)

    assert run.wait_done(WAIT) and run.state == "cancelled"
    assert was_held and not run.held  # no longer "planned but not started"
    engine.release(run)  # so releasing it does nothing
    assert run.state == "cancelled" and target.count() == 0


def test_closing_the_engine_cancels_a_held_run_which_is_then_no_longer_held(
    target: Target,
) -> None:
    engine = Engine(time_scale=0).start()
    run = engine.play("nxcloud.zalo.failed", target.url, hold=True)

    engine.close()

    assert run.wait_done(0) and run.state == "cancelled"
    assert not run.held and target.count() == 0


def test_a_new_history_file_numbers_the_first_run_1(tmp_path: Path, target: Target) -> None:
    with MockProvider(time_scale=0, db=str(tmp_path / "history.sqlite")) as provider:
        run = provider.play("nxcloud.zalo.failed", to=target.url).wait(WAIT)

    assert run.id == "run-1"


# ------------------------------------------------------------------ --set of message fields
def test_play_set_of_a_shared_message_field_types_it_and_reaches_message_and_receipts(
    target: Target,
) -> None:
    # SMSID is text in the message and in the receipt; receivers is a number only the message
    # has: the receipt's TotalReceiver / TotalSent come from it.
    result = CliRunner(env={"DLRMOCK_ADMIN_TOKEN": None}).invoke(cli, [
        "play", "esms.sms.ads.delivered", "--to", target.url, "--time-scale", "0", "--json",
        "--set", "SMSID=sms-42", "--set", "receivers=40",
    ])

    assert result.exit_code == 0, result.output
    run: dict[str, Any] = json.loads(result.stdout)["run"]
    assert run["message_id"] == "sms-42"
    assert run["message"]["SMSID"] == "sms-42" and run["message"]["receivers"] == 40
    (request,) = target.wait_for(1)
    sent = query_of(request.path)
    assert sent["SMSID"] == "sms-42"
    assert sent["TotalReceiver"] == "40" and sent["TotalSent"] == "40"



# ------------------------------------------------------------ receipts stamped as they leave
def test_a_journey_event_of_a_real_send_carries_the_millisecond_it_leaves(
    engine: Engine, target: Target
) -> None:
    # A real send's journey event is planned when the message is sent and stamped as it leaves
    # (the provider's naive time in its zone, UTC+8); what the journal shows is what left.
    china = timezone(timedelta(hours=8))
    run = engine.play("nxcloud.zalo.journey_time_out", target.url, live_zone=china,
                      clock="manual")
    planned = dict(run.payloads[0])

    left = time.time() * 1000
    [attempt] = run.advance(0)
    [received] = target.wait_for(1)
    event = json.loads(received.body)
    assert abs(int(event["timestamp"]) - left) < 1000, (event["timestamp"], left)
    assert event == {**planned, "timestamp": event["timestamp"]}
    assert run.payloads == [event] and attempt.request.body == received.body


def test_a_malformed_step_stamped_as_it_leaves_still_goes_out_malformed(
    engine: Engine, target: Target
) -> None:
    china = timezone(timedelta(hours=8))
    scenario = {"name": "broken-expiry",
                "steps": [{"kind": "nxcloud.zalo.journey_time_out", "malformed": "bad_json"}]}
    run = engine.play(scenario, target.url, live_zone=china)

    [attempt] = run.wait(WAIT).attempts
    [received] = target.wait_for(1)
    assert attempt.malformed == "bad_json" and attempt.request.body == received.body
    with pytest.raises(json.JSONDecodeError):
        json.loads(received.body)


# ------------------------------------------------------------------- the journal's excerpt
@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut-at-2-KiB"])
def test_a_long_answer_that_is_not_utf8_is_journaled_not_fatal(
    engine: Engine, make_target: MakeTarget, cut: bool
) -> None:
    body = b"accepted \xff\xfe " + b"x" * (3000 if cut else 100)
    run = engine.play("nxcloud.zalo.failed", make_target(body=body).url).wait(WAIT)

    [attempt] = run.attempts
    assert run.ok and run.error is None
    assert attempt.response_body == body[:2048].decode("utf-8", "replace")
    assert attempt.response_body.startswith("accepted \ufffd\ufffd x")


# ----------------------------------------------------------------------- blocked deliveries
def test_each_blocked_receipt_is_journaled_once_counted_and_announced() -> None:
    scenario = {"name": "two-steps", "steps": [
        {"kind": "nxcloud.zalo.success"},
        {"kind": "nxcloud.zalo.delivered", "after": 2, "duplicate": 1, "malformed": "bad_json"},
    ]}
    announced: list[tuple[str, int, int]] = []
    with Engine(time_scale=0, allow_targets=AllowList()) as engine:
        engine.on_attempt.append(lambda run, a: announced.append((run.id, a.step, a.copy)))
        before = time.time()
        runs = [engine.play(scenario, "http://192.0.2.1:9/hook").wait(WAIT) for _ in range(2)]

    assert engine.blocked_attempts == 6  # 3 receipts a run, none retried
    for run in runs:
        rows = [(a.run_id, a.step, a.copy, a.kind, a.attempt, a.offset, a.latency_ms, a.outcome,
                 a.status, a.malformed) for a in run.attempts]
        assert rows == [
            (run.id, 0, 0, "nxcloud.zalo.success", 1, 0.0, 0.0, "blocked", None, None),
            (run.id, 1, 0, "nxcloud.zalo.delivered", 1, 2.0, 0.0, "blocked", None, "bad_json"),
            (run.id, 1, 1, "nxcloud.zalo.delivered", 1, 2.0, 0.0, "blocked", None, "bad_json"),
        ]
        assert all(a.error and "192.0.2.1:9" in a.error for a in run.attempts)
        assert all(before <= a.at <= time.time() for a in run.attempts)
        assert [a.request.body for a in run.attempts] == [
            d.request.body for d in run.deliveries]
    assert announced == [(run.id, step, copy) for run in runs
                         for step, copy in ((0, 0), (1, 0), (1, 1))]


# --------------------------------------------------------------------- an answered attempt
def test_an_answered_attempt_has_its_latency_in_milliseconds_and_no_error(
    engine: Engine, make_target: MakeTarget
) -> None:
    slow = make_target("slow", delay=0.3)
    run = engine.play("nxcloud.zalo.failed", slow.url).wait(WAIT)

    [attempt] = run.attempts
    assert 300 <= attempt.latency_ms < 300 + WAIT * 1000
    assert (attempt.outcome, attempt.status, attempt.error) == ("acknowledged", 200, None)
    assert attempt.as_dict()["error"] is None


def test_an_attempt_without_an_answer_has_no_status_and_an_empty_body(engine: Engine) -> None:
    run = engine.play("nxcloud.zalo.failed", refused_url(), policy={"retries": 0}).wait(WAIT)

    [attempt] = run.attempts
    assert (attempt.outcome, attempt.status, attempt.response_body) == ("refused", None, "")
    assert attempt.error
