"""Engine behaviour that mutation testing found unguarded (see "Mutation testing" in the README).

Each test states a promise of the README or of a public docstring and fails on the mutant that
broke it. Every webhook is a loopback ``Target`` on 127.0.0.1, port 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timezone
from typing import Any

import pytest
from targets import Target

from mock_server import Attempt, Engine, RunError
from mock_server._http import Request
from mock_server.app import create_app, get_state

MakeTarget = Callable[..., Target]


# --------------------------------------------------------------- the admin API's JSON round trip
@pytest.mark.parametrize(
    "fields",
    [
        {"status": 500, "response_body": "internal error", "outcome": "http_error",
         "malformed": "bad_json"},
        {"status": None, "response_body": "", "outcome": "refused",
         "error": "connection refused"},
    ],
    ids=["answered", "unanswered"],
)
def test_an_attempt_comes_back_whole_from_its_json_form(fields: dict[str, Any]) -> None:
    # RemoteProvider (--dlrmock-url) rebuilds the journal from this form: what it drops, a
    # remote test's failure report never shows.
    attempt = Attempt(
        run_id="run-7", step=1, copy=2, kind="esms.sms.cskh", attempt=3,
        request=Request("GET", "http://127.0.0.1:9/hook?SMSID=a", (("Host", "127.0.0.1:9"),),
                        b'{"a": "\xc3\xa9"}'),
        offset=1.5, at=1700000000.25, latency_ms=12.5, **fields,
    )
    assert Attempt.from_dict(attempt.as_dict()) == attempt


# ------------------------------------------------------------------------------- manual clock
def test_advancing_a_manual_clock_by_zero_delivers_what_is_due_now(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, clock="manual")

    assert [a.kind for a in run.advance(0)] == ["nxcloud.zalo.success"]
    assert run.advance(1.9) == []
    assert [a.kind for a in run.advance(0.1)] == ["nxcloud.zalo.delivered"]
    assert run.wait(5).ok


@pytest.mark.parametrize("move", ["step", "advance"])
def test_moving_a_manual_clock_gives_up_after_its_timeout(
    engine: Engine, make_target: MakeTarget, move: str
) -> None:
    silent = make_target("never")
    run = engine.play("nxcloud.zalo.failed", silent.url, clock="manual", policy={"timeout": 5})

    action = (lambda: run.step(timeout=0.3)) if move == "step" else (
        lambda: run.advance(1, timeout=0.3))
    with pytest.raises(RunError, match=rf"^gave up stepping run {run.id} after 0.3 s$"):
        action()
    engine.cancel(run.id)


# ---------------------------------------------------------------------- assert_acknowledged()
def test_assert_acknowledged_waits_for_a_run_still_playing(
    engine: Engine, make_target: MakeTarget
) -> None:
    failing = make_target("error")
    delayed = {"name": "delayed", "steps": [{"kind": "nxcloud.zalo.failed", "after": 0.3}]}
    run = engine.play(delayed, failing.url, time_scale=1)

    with pytest.raises(AssertionError, match="not acknowledged after 1 attempt"):
        run.assert_acknowledged()
    assert run.finished


def test_the_failure_report_lists_each_problem_then_the_journal(
    engine: Engine, make_target: MakeTarget
) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", make_target("error").url).wait(5)

    with pytest.raises(AssertionError) as failure:
        run.assert_acknowledged()
    assert str(failure.value).startswith(
        "the target did not handle the receipts as the provider requires:\n"
        "  - step 0 (nxcloud.zalo.success): not acknowledged after 1 attempt(s); "
        "last: HTTP 500 (http_error)\n"
        "  - step 1 (nxcloud.zalo.delivered): not acknowledged after 1 attempt(s); "
        "last: HTTP 500 (http_error)\n"
        f"journal of run {run.id}: nxcloud.zalo.success_then_delivered -> "
    )


# ------------------------------------------------------------------------------------ health
def test_health_shows_the_journal_counters(target: Target) -> None:
    app = create_app({"time_scale": 0, "journal_limit": 500})
    state = get_state(app)
    try:
        state.engine.play("nxcloud.zalo.success_then_delivered", target.url).wait(5)
        journal = app.test_client().get("/_dlrmock/health").get_json()["journal"]
    finally:
        state.engine.close()

    assert journal == {"runs": 1, "attempts": 2, "total_attempts": 2, "evicted_runs": 0,
                       "evicted_attempts": 0, "limit": 500}


def _attempt(**fields: Any) -> Attempt:
    values: dict[str, Any] = {
        "run_id": "run-1", "step": 0, "copy": 0, "kind": "nxcloud.zalo.failed", "attempt": 1,
        "request": Request("POST", "http://127.0.0.1:9/hook", (), b'{"a": 1}'),
        "offset": 0.0, "at": 1700000000.0, "latency_ms": 1.0, "outcome": "acknowledged",
        "status": 200, "response_body": "success",
    }
    values.update(fields)
    return Attempt(**values)


def test_the_json_form_of_an_attempt_carries_the_response_as_status_and_body() -> None:
    assert _attempt(status=500, response_body="no").as_dict()["response"] == {
        "status": 500, "body": "no"
    }
    assert _attempt(status=None, response_body="", outcome="refused").as_dict()["response"] is None


def test_a_request_body_cut_inside_a_character_still_shows_in_the_journal(
    engine: Engine, target: Target
) -> None:
    # malformed: bad_json halves the body, which may split a UTF-8 sequence.
    body = b'{"name": "Nguy\xe1\xbb'
    cut = _attempt(request=Request("POST", "http://127.0.0.1:9/hook", (), body))
    run = engine.play("nxcloud.zalo.failed", target.url, clock="manual")
    run.attempts.append(cut)  # as the engine journals it

    assert cut.as_dict()["request"]["body"] == '{"name": "Nguy\ufffd'
    assert '            sent: POST {"name": "Nguy\ufffd' in run.journal_text().splitlines()
    engine.cancel(run.id)


# ------------------------------------------------------------------------ the journal table
def test_a_journal_row_marks_duplicate_copies_and_attempts_without_an_answer() -> None:
    copy_row = _attempt(step=1, copy=2).row().split()
    refused_row = _attempt(status=None, outcome="refused", response_body="").row().split()

    assert copy_row[1] == "1+2" and copy_row[4] == "200"
    assert refused_row[1] == "0" and refused_row[4] == "-"


def test_the_journal_text_shows_each_attempt_with_what_was_sent_and_got(
    engine: Engine, make_target: MakeTarget
) -> None:
    answer = ("line one\nline two " + "x" * 300).encode()
    run = engine.play("nxcloud.zalo.failed", make_target(status=500, body=answer).url).wait(5)
    [attempt] = run.attempts

    lines = run.journal_text().splitlines()
    assert lines[1] == "  " + Attempt.HEADER
    assert lines[2] == "  " + attempt.row()
    body = attempt.request.body.decode()
    assert len(body) > 300
    assert lines[3] == f"            sent: POST {body[:297]}..."
    assert lines[4] == f"            got:  500 {answer.decode().replace(chr(10), ' ')[:197]}..."
    assert len(lines) == 5


def test_the_journal_text_of_a_run_not_started_says_so(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url, clock="manual")

    assert run.journal_text().splitlines()[2:] == ["  (no attempts yet)"]
    engine.cancel(run.id)


# ----------------------------------------------------------------------- a run's JSON form
def test_the_json_form_of_a_run_has_every_documented_field(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url).wait(5)

    data = run.as_dict()
    assert list(data) == [
        "id", "scenario", "provider", "target", "state", "ok", "failures", "seed", "clock",
        "message_id", "message", "created_at", "finished_at", "error", "attempt_count",
        "payloads", "attempts", "journal",
    ]
    assert data["provider"] == "nxcloud"
    assert data["clock"] == {"kind": "scaled", "now": None, "time_scale": 0}
    assert data["error"] is None and data["failures"] == []
    assert data["created_at"] <= data["finished_at"]
    assert data["payloads"] == run.payloads and len(data["payloads"]) == 2


# --------------------------------------------------------------------- waiting and failures
def test_waiting_too_short_for_a_scaled_run_says_how_far_it_got(
    engine: Engine, target: Target
) -> None:
    later = {"name": "later", "steps": [{"kind": "nxcloud.zalo.failed", "after": 30}]}
    run = engine.play(later, target.url, time_scale=1)

    with pytest.raises(RunError) as failure:
        run.wait(0.05)
    assert str(failure.value) == (
        f"run {run.id} (later) still running after 0.05 s (0 attempt(s) so far); "
        "raise the timeout or the time_scale"
    )
    engine.cancel(run.id)


def test_a_duplicate_copy_that_is_not_acknowledged_is_named_with_its_copy_number(
    engine: Engine, make_target: MakeTarget
) -> None:
    twice = {"name": "twice", "steps": [{"kind": "nxcloud.zalo.delivered", "duplicate": 1}]}
    run = engine.play(twice, make_target("error").url).wait(5)

    assert [problem.split(":")[0] for problem in run.failures()] == [
        "step 0 (nxcloud.zalo.delivered)", "step 0 (nxcloud.zalo.delivered, copy 1)"
    ]


def test_the_journal_text_shows_an_answer_of_exactly_200_characters_whole(
    engine: Engine, make_target: MakeTarget
) -> None:
    answer = b"y" * 200
    run = engine.play("nxcloud.zalo.failed", make_target(status=500, body=answer).url).wait(5)

    assert f"            got:  500 {answer.decode()}" in run.journal_text().splitlines()


# ------------------------------------------------------------- receipts of real sends (live zone)
def test_a_duplicate_of_a_receipt_stamped_as_it_leaves_is_journaled_as_its_copy(
    engine: Engine, target: Target
) -> None:
    # Receipts of real sends carry the time they leave; a duplicate copy carries the same stamp
    # but stays the copy it is, so a copy the webhook does not acknowledge is not hidden by the
    # acknowledged original.
    twice = {"name": "journey-twice",
             "steps": [{"kind": "nxcloud.zalo.journey_acknowledged", "duplicate": 1}]}
    run = engine.play(twice, target.url, live_zone=timezone.utc).wait(5)

    assert [(a.step, a.copy) for a in run.attempts] == [(0, 0), (0, 1)]
    assert [(d.step, d.copy) for d in run.deliveries] == [(0, 0), (0, 1)]
    first, second = (json.loads(r.body) for r in target.requests)
    assert first == second  # the same receipt twice, stamped once
    assert "  0+1  " in run.journal_text()


# ------------------------------------------------------------------------------ delivery policy
@pytest.mark.parametrize("name", ["timeout", "retry_interval"])
def test_a_policy_time_of_more_than_a_year_is_refused_naming_the_bound(
    engine: Engine, target: Target, name: str
) -> None:
    with pytest.raises(RunError, match=rf"policy '{name}' must be a number .*, got 1000000000\.0 "
                                       r"\(seconds, at most 3\.1536e\+07\)"):
        engine.play("nxcloud.zalo.failed", target.url, policy={name: 1e9})
    held = engine.play("nxcloud.zalo.failed", target.url, hold=True,
                       policy={name: 31_536_000})  # a year exactly is allowed
    assert getattr(held.policy, name) == 31_536_000
    engine.cancel(held.id)


def test_a_retry_interval_of_zero_is_allowed_and_a_timeout_of_zero_is_not(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url, policy={"retry_interval": 0})
    assert run.policy.retry_interval == 0
    with pytest.raises(RunError, match=r"policy 'timeout' must be a number > 0, got 0 "):
        engine.play("nxcloud.zalo.failed", target.url, policy={"timeout": 0})


# --------------------------------------------------------------------------- fields of a run
def test_a_run_field_three_levels_deep_reaches_the_receipt(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url,
                      fields={"zaloRes.data.quota.dailyQuota": "10"}).wait(5)

    sent = json.loads(target.requests[0].body)
    assert sent["zaloRes"]["data"]["quota"]["dailyQuota"] == "10"
    assert run.payloads[0] == sent


def test_a_misspelt_run_field_is_refused_with_the_closest_field_of_the_receipts(
    engine: Engine, target: Target
) -> None:
    with pytest.raises(RunError, match=r"field 'cost\.curency' is in none of the receipts of "
                                       r".*did you mean 'cost\.currency'\?"):
        engine.play("nxcloud.zalo.success_then_delivered", target.url,
                    fields={"cost.curency": "VND"})
    assert engine.runs() == []


def test_retries_go_up_to_100_and_no_further(engine: Engine, target: Target) -> None:
    held = engine.play("nxcloud.zalo.failed", target.url, hold=True, policy={"retries": 100})
    assert held.policy.retries == 100
    engine.cancel(held.id)
    with pytest.raises(RunError, match=r"policy 'retries' must be an integer from 0 to 100, "
                                       r"got 101"):
        engine.play("nxcloud.zalo.failed", target.url, policy={"retries": 101})


def test_a_scenario_set_of_a_nested_field_reaches_every_receipt_that_has_it(
    engine: Engine, target: Target
) -> None:
    spec = {"name": "quota", "set": {"zaloRes.data.quota.dailyQuota": "7"},
            "steps": [{"kind": "nxcloud.zalo.success"}, {"kind": "nxcloud.zalo.delivered"}]}
    run = engine.play(spec, target.url).wait(5)

    success, delivered = (json.loads(r.body) for r in target.requests)
    assert success["zaloRes"]["data"]["quota"]["dailyQuota"] == "7"
    assert "zaloRes" not in delivered  # a receipt without the field is left as it is
    assert run.payloads == [success, delivered]
