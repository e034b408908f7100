"""Misbehaving targets and load: every attempt handled per the provider's policy, journaled."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import pytest
import requests
from targets import FLAKY_ACTIONS, FlakyReceiver, SeenRequest, Sink, Target, refused_url

from mock_server import Attempt, Engine, MockProvider, Run

FAST = {"timeout": 0.2}
MakeTarget = Callable[..., Target]

NXCLOUD = "nxcloud.zalo.success_never_delivered"
ESMS = "esms.sms.cskh.delivered"


def wait_received(sink: Sink, expected: int, timeout: float = 5.0) -> int:
    """The sink's count once it reached ``expected`` (it counts just after answering)."""
    deadline = time.monotonic() + timeout
    while sink.received < expected and time.monotonic() < deadline:
        time.sleep(0.005)
    return sink.received


# ------------------------------------------------------------------------- one faulty target
@pytest.mark.parametrize(("scenario", "attempts"), [(ESMS, 6), (NXCLOUD, 1)])
def test_slow_target_gets_the_attempts_the_provider_makes(
    engine: Engine, make_target: MakeTarget, scenario: str, attempts: int
) -> None:
    slow = make_target("slow", delay=2.0)

    run = engine.play(scenario, slow.url, policy=FAST).wait(10)

    assert [a.attempt for a in run.attempts] == list(range(1, attempts + 1))
    assert {a.outcome for a in run.attempts} == {"timeout"}
    assert all(a.status is None and 190 <= a.latency_ms < 1500 for a in run.attempts)
    assert slow.wait_for(attempts) and slow.count() == attempts
    (problem,) = run.failures()
    assert problem == (
        f"step 0 ({run.attempts[0].kind}): not acknowledged after {attempts} attempt(s); "
        "last: timeout: no response within 0.2 s"
    )


FAULTS = [
    # (Target mode, outcome, HTTP status the journal keeps, what failures() says)
    ("error", "http_error", 500, "HTTP 500 (http_error)"),
    ("reset", "reset", None, "reset: connection reset by the server"),
    ("close", "closed", None, "closed: server closed the connection before answering"),
    ("garbage", "invalid_response", None, "invalid_response: not an HTTP response: Bad status"),
]


@pytest.mark.parametrize("scenario", [NXCLOUD, ESMS])
@pytest.mark.parametrize(("mode", "outcome", "status", "reason"), FAULTS)
def test_faulty_target_is_journaled_with_its_outcome_and_not_retried(
    engine: Engine,
    make_target: MakeTarget,
    scenario: str,
    mode: str,
    outcome: str,
    status: int | None,
    reason: str,
) -> None:
    faulty = make_target(mode)

    run = engine.play(scenario, faulty.url, policy=FAST).wait(5)

    (attempt,) = run.attempts  # neither provider retries anything but a timeout by default
    assert (attempt.outcome, attempt.status) == (outcome, status)
    assert faulty.count() == 1
    assert (attempt.error is None) == (status is not None)
    if status is not None:
        assert attempt.response_body == "internal error"
    assert run.state == "done" and not run.ok
    (problem,) = run.failures()
    assert reason in problem, problem
    journal = run.journal_text()
    assert outcome in journal and (attempt.error or "got:  500 internal error") in journal


@pytest.mark.parametrize("scenario", [NXCLOUD, ESMS])
def test_refused_connection_is_journaled(engine: Engine, scenario: str) -> None:
    run = engine.play(scenario, refused_url(), policy=FAST).wait(5)

    (attempt,) = run.attempts
    assert attempt.outcome == "refused" and attempt.status is None
    assert "connection refused" in run.failures()[0]


def test_esms_retries_other_outcomes_when_told_to(engine: Engine) -> None:
    policy = {**FAST, "retry_on": ["refused", "timeout"]}

    run = engine.play(ESMS, refused_url(), policy=policy).wait(5)

    assert [a.outcome for a in run.attempts] == ["refused"] * 6


def test_engine_keeps_working_after_every_kind_of_fault(
    engine: Engine, make_target: MakeTarget, target: Target
) -> None:
    urls = [make_target(mode).url for mode in ("error", "reset", "close", "garbage", "never")]
    urls.append(refused_url())

    runs = [engine.play(ESMS, url, policy=FAST) for url in urls for _ in range(3)]
    for run in runs:
        run.wait(10)

    assert all(run.state == "done" and run.failures() for run in runs)
    assert engine.play(NXCLOUD, target.url).wait(5).ok
    assert list(engine.errors) == []


def test_server_survives_faulty_targets_and_reports_them_over_http(
    make_target: MakeTarget,
) -> None:
    modes = ("error", "reset", "close", "garbage", "never")
    urls = [make_target(mode).url for mode in modes] + [refused_url()]
    with MockProvider(time_scale=0) as provider:
        admin = provider.url + "/_dlrmock"
        ids = []
        for url in urls:
            answer = requests.post(
                admin + "/runs", json={"scenario": ESMS, "to": url, "policy": FAST}, timeout=5
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
        outcomes = []
        for run_id in ids:
            answer = requests.get(f"{admin}/runs/{run_id}/wait?timeout=10", timeout=15)
            assert answer.status_code == 200
            body = answer.json()
            assert body["ok"] is False and body["failures"]
            outcomes.append(body["attempts"][-1]["outcome"])
        health = requests.get(admin + "/health", timeout=5).json()

    assert outcomes == ["http_error", "reset", "closed", "invalid_response", "timeout", "refused"]
    assert health["status"] == "ok" and health["errors"] == 0
    assert health["journal"]["total_attempts"] == 5 + 6  # the timeout was retried 5 times


# ------------------------------------------------------------------------------------- load
def test_thousand_concurrent_runs_journal_every_attempt_the_sink_saw(counting_sink: Sink) -> None:
    with Engine(time_scale=0) as engine:
        runs = [engine.play("nxcloud.zalo.success_then_delivered", counting_sink.url)
                for _ in range(1000)]
        for run in runs:
            run.wait(30)
        stats = engine.journal.stats()

        assert all(run.ok for run in runs)
        journaled = sum(len(run.attempts) for run in runs)
        assert journaled == stats["attempts"] == stats["total_attempts"] == 2000
        assert wait_received(counting_sink, journaled) == journaled
        assert list(engine.errors) == []


def test_thousand_runs_to_mixed_targets_lose_nothing(
    counting_sink: Sink, make_target: MakeTarget
) -> None:
    failing, refused = make_target("error"), refused_url()
    urls = [counting_sink.url] * 600 + [failing.url] * 200 + [refused] * 200
    with Engine(time_scale=0, max_connections=16) as engine:
        # The request timeout includes waiting for one of the 16 connections: keep it roomy.
        runs = [engine.play(NXCLOUD, url, policy={"timeout": 10}) for url in urls]
        for run in runs:
            run.wait(30)

        outcomes = Counter(a.outcome for run in runs for a in run.attempts)
        assert outcomes == {"acknowledged": 600, "http_error": 200, "refused": 200}
        assert engine.journal.stats()["total_attempts"] == 1000
        assert wait_received(counting_sink, 600) == 600
        assert failing.count() == 200
        assert sum(bool(run.failures()) for run in runs) == 400
        assert list(engine.errors) == []


def test_a_run_that_gets_no_connection_in_time_is_journaled_pool_timeout_and_retried(
    make_target: MakeTarget,
) -> None:
    stuck = make_target("never")
    with Engine(time_scale=0, max_connections=1) as engine:
        holder = engine.play(NXCLOUD, stuck.url, policy={"timeout": 5})
        stuck.wait_for(1)  # the one connection to the origin is now busy
        started = time.monotonic()
        run = engine.play(ESMS, stuck.url + "?other=path", policy={"timeout": 0.1}).wait(5)

        assert [a.outcome for a in run.attempts] == ["pool_timeout"] * 6  # retried as a timeout
        assert time.monotonic() - started < 4
        assert (run.attempts[0].error or "").startswith("not sent: no connection to http://")
        assert stuck.count() == 1 and not holder.finished
        engine.cancel(holder.id)


# ------------------------------------------------------------------ journal == wire, exactly
NOT_ON_THE_WIRE = frozenset({"connect_timeout", "pool_timeout", "refused", "unresolved", "blocked"})
"""Attempts whose request never left dlrmock (the error says why)."""
ACTION_OUTCOMES = {
    "ok": {"acknowledged"},
    "error": {"http_error"},
    "reset": {"reset"},
    "close": {"closed"},
    "garbage": {"invalid_response"},
    "slow": {"timeout"},
    "answer_close": {"acknowledged"},  # and 'closed' when a request beat the close to the wire
}


def on_the_wire(attempt: Attempt) -> SeenRequest:
    """The attempt's request as a webhook reads it."""
    url = urlsplit(attempt.request.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    return SeenRequest(attempt.request.method, target, attempt.request.body)


def assert_journal_is_the_wire(runs: Sequence[Run], receiver: FlakyReceiver) -> Counter[str]:
    """Every request the receiver read is one journaled attempt and the other way round;
    attempts are numbered 1, 2, ... per receipt. Returns the outcomes."""
    attempts = [attempt for run in runs for attempt in run.attempts]
    sent = [a for a in attempts if a.outcome not in NOT_ON_THE_WIRE]
    assert receiver.wait_seen(len(sent)) == len(sent)
    assert Counter(receiver.seen) == Counter(on_the_wire(a) for a in sent)
    for run in runs:
        numbers: dict[tuple[int, int], list[int]] = {}
        for attempt in run.attempts:
            numbers.setdefault((attempt.step, attempt.copy), []).append(attempt.attempt)
        assert all(got == list(range(1, len(got) + 1)) for got in numbers.values()), numbers
    return Counter(a.outcome for a in attempts)


def play_and_wait(engine: Engine, scenarios: Sequence[str], url: str, policy: dict[str, float],
                  *, together: int, timeout: float = 30) -> list[Run]:
    """Play the scenarios at ``url``, ``together`` at a time (fewer than the engine's
    connections: the next ones reuse them), and wait for all."""
    runs: list[Run] = []
    for start in range(0, len(scenarios), together):
        batch = [engine.play(scenario, url, policy=policy)
                 for scenario in scenarios[start:start + together]]
        for run in batch:
            run.wait(timeout)
        runs += batch
    assert all(run.finished for run in runs)
    return runs


@pytest.mark.parametrize("scenario", [NXCLOUD, ESMS], ids=["nxcloud-post-json", "esms-get"])
@pytest.mark.parametrize("action", sorted(set(FLAKY_ACTIONS) - {"ok"}))
def test_every_request_a_faulty_webhook_reads_is_one_journaled_attempt(
    engine: Engine, scenario: str, action: str
) -> None:
    # Half the requests meet the fault, on fresh and on reused keep-alive connections alike.
    policy = {"timeout": 0.25 if action == "slow" else 5.0}
    with FlakyReceiver(["ok", action], seed=7, delay=0.6) as receiver:
        runs = play_and_wait(engine, [scenario] * 30, receiver.url, policy, together=5)

        outcomes = assert_journal_is_the_wire(runs, receiver)

    assert ACTION_OUTCOMES[action] <= set(outcomes), outcomes
    expected = {"acknowledged"} | ACTION_OUTCOMES[action] | NOT_ON_THE_WIRE  # a loaded machine
    if action == "answer_close":
        expected.add("closed")
    assert set(outcomes) <= expected, outcomes


@pytest.mark.parametrize("scenario", [NXCLOUD, ESMS], ids=["nxcloud-post-json", "esms-get"])
def test_a_webhook_closing_after_one_answer_per_connection_sees_what_the_journal_says(
    engine: Engine, scenario: str
) -> None:
    # The reproduction: the first request on each connection is answered, the second
    # is read and the connection closed without an answer.
    with FlakyReceiver(lambda number: "ok" if number == 1 else "close") as receiver:
        runs = [engine.play(scenario, receiver.url, policy={"timeout": 2}).wait(10)
                for _ in range(6)]

        outcomes = assert_journal_is_the_wire(runs, receiver)

    assert outcomes == {"acknowledged": 3, "closed": 3}
    assert receiver.connections == 3


def test_thousand_runs_at_a_webhook_that_misbehaves_at_random_journal_the_wire_exactly() -> None:
    actions = ["ok"] * 6 + sorted(set(FLAKY_ACTIONS) - {"ok"})
    scenarios = [NXCLOUD, ESMS] * 500
    with FlakyReceiver(actions, seed=12, delay=0.7) as receiver, \
            Engine(time_scale=0, seed=3, max_connections=128) as engine:
        runs = play_and_wait(engine, scenarios, receiver.url, {"timeout": 0.5},
                             together=len(scenarios), timeout=60)

        outcomes = assert_journal_is_the_wire(runs, receiver)
        assert list(engine.errors) == []

    faults = {outcome for action in actions for outcome in ACTION_OUTCOMES[action]}
    assert faults <= set(outcomes), outcomes


# ----------------------------------------------------------------------------------- journal
def _play_all(engine: Engine, url: str, count: int) -> list[Run]:
    return [engine.play(NXCLOUD, url).wait(5) for _ in range(count)]


def test_journal_evicts_oldest_finished_runs_and_counts_them(counting_sink: Sink) -> None:
    with Engine(time_scale=0, journal_limit=50) as engine:
        runs = _play_all(engine, counting_sink.url, 200)
        stats = engine.journal.stats()
        kept = engine.runs()

    assert stats["total_attempts"] == 200
    assert stats["attempts"] <= 50 and stats["attempts"] == len(kept)
    assert stats["attempts"] + stats["evicted_attempts"] == 200
    assert stats["evicted_runs"] == 200 - len(kept)
    assert [r.id for r in kept] == [r.id for r in runs[-len(kept):]]  # the newest stay


def test_journal_never_evicts_runs_in_progress(counting_sink: Sink) -> None:
    with Engine(time_scale=0, journal_limit=20) as engine:
        pending = [
            engine.play("nxcloud.zalo.success_then_delivered", counting_sink.url, clock="manual")
            for _ in range(5)
        ]
        for run in pending:
            run.step()
        _play_all(engine, counting_sink.url, 100)

        assert all(engine.get(run.id) is run for run in pending)
        stats = engine.journal.stats()
        assert stats["attempts"] + stats["evicted_attempts"] == stats["total_attempts"] == 105


def test_journal_counts_attempts_of_runs_reset_while_in_flight(
    engine: Engine, make_target: MakeTarget
) -> None:
    slow = make_target("slow", delay=0.3)
    journaled = threading.Event()
    engine.on_attempt.append(lambda run, attempt: journaled.set())
    run = engine.play(NXCLOUD, slow.url, policy={"timeout": 5})
    slow.wait_for(1)

    engine.journal.clear()  # forget the run while its request is in flight
    assert journaled.wait(5)

    stats = engine.journal.stats()
    assert len(run.attempts) == 1
    assert (stats["attempts"], stats["total_attempts"]) == (0, 1)
