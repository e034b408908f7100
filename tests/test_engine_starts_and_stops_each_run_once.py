"""A run starts once, when it is released, and stops for good when its engine closes.

Rules of ``Engine.release`` and ``Engine.close`` (and the journal's excerpt of a short answer)
that mutation testing of ``mock_server/_engine/engine.py`` found unguarded. Each
test drives the engine the way a caller does (``Engine``, ``MockProvider`` and its send APIs);
every webhook is a loopback ``Target`` on 127.0.0.1, port 0.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from live import send_esms
from targets import Target

from mock_server import Engine, EngineClosedError, MockProvider

MakeTarget = Callable[..., Target]
WAIT = 5.0


# -------------------------------------------------------------------------- the excerpt
def test_a_short_answer_that_is_not_utf8_is_journaled_with_replacement_characters(
    engine: Engine, make_target: MakeTarget
) -> None:
    # New to this process (short answers seen before are decoded once and shared).
    body = b"ok \xff " + uuid.uuid4().hex.encode()
    hook = make_target(body=body)
    scenario = {"name": "twice", "steps": [{"kind": "nxcloud.zalo.failed", "duplicate": 1}]}
    run = engine.play(scenario, hook.url).wait(WAIT)

    first, second = run.attempts
    assert run.ok and run.error is None
    assert first.response_body == "ok \ufffd " + body[5:].decode()
    assert second.response_body == first.response_body
    # The same short answer is kept once for every attempt it ends, not once per attempt.
    assert second.response_body is first.response_body


# -------------------------------------------------------------------------------- release
def test_a_sends_first_receipt_waits_the_answer_margin_even_at_time_scale_0(
    target: Target,
) -> None:
    margin = 0.8  # under a second: the margin is real seconds, however short
    with MockProvider(time_scale=0, send={"answer_margin": margin}) as provider:
        before = time.time()
        smsid = send_esms(provider.url, "0912345678", target.url)["SMSID"]
        [run] = provider.runs
        assert run.wait_done(WAIT + margin)
        [attempt, *_] = run.attempts

    assert smsid in target.wait_for(1)[0].path
    assert attempt.at - before >= margin


def test_a_released_run_starts_at_once_before_a_run_played_after_it(target: Target) -> None:
    with Engine(time_scale=0, max_connections=1) as engine:  # one request at a time, in turn
        held = engine.play("nxcloud.zalo.failed", target.url, hold=True)
        engine.release(held)
        later = engine.play("nxcloud.zalo.failed", target.url)
        held.wait(WAIT)
        later.wait(WAIT)

    first, second = target.wait_for(2)
    assert held.attempts[0].request.body != later.attempts[0].request.body
    assert [first.body, second.body] == [held.attempts[0].request.body,
                                         later.attempts[0].request.body]


def test_releasing_a_run_that_already_started_does_not_play_it_again(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url)
    engine.release(run)  # not held: nothing to start
    run.wait(WAIT)
    held = engine.play("nxcloud.zalo.failed", target.url, hold=True)
    engine.release(held)
    engine.release(held)  # released once: later calls do nothing
    held.wait(WAIT)

    # Another run, played after both, finishes after anything they could still send.
    engine.play("nxcloud.zalo.failed", target.url).wait(WAIT)
    assert [len(r.attempts) for r in (run, held)] == [1, 1]
    assert target.count() == 3
    assert not held.held


# ---------------------------------------------------------------------------------- close
def test_closing_the_engine_cancels_a_run_waiting_in_line_for_a_connection_unsent(
    make_target: MakeTarget, caplog: pytest.LogCaptureFixture
) -> None:
    never = make_target("never")
    engine = Engine(time_scale=0, max_connections=1).start()
    sending = engine.play("nxcloud.zalo.failed", never.url, policy={"timeout": 5})
    never.wait_for(1)
    waiting = engine.play("nxcloud.zalo.failed", never.url, policy={"timeout": 5})

    engine.close()  # the first run's connection comes free: the waiting run must not take it

    assert sending.wait_done(0) and waiting.wait_done(0)
    assert (sending.state, waiting.state) == ("cancelled", "cancelled")
    assert waiting.attempts == [] and never.count() == 1
    assert list(engine.errors) == []
    assert [r.getMessage() for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == []


def test_an_engine_that_ran_closes_again_quietly_and_stays_closed(target: Target) -> None:
    engine = Engine(time_scale=0).start()
    run = engine.play("nxcloud.zalo.failed", target.url).wait(WAIT)
    engine.close()

    engine.close()  # idempotent: nothing left to stop
    with pytest.raises(EngineClosedError, match=r"engine is closed"):
        engine.start()
    with pytest.raises(EngineClosedError, match=r"engine is closed"):
        engine.play("nxcloud.zalo.failed", target.url)
    assert run.ok and target.count() == 1
