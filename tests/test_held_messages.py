"""A held message plays exactly what its release names: an outcome or a built-in scenario.

The app sends to a number ending 6666 (held) over a real 127.0.0.1 socket, then a test
releases it through the admin API with a scenario; the callback the webhook (the loopback
``target``) receives is that scenario's, before and after a restart with ``--db``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from live import HELD_PHONE, send_esms
from targets import Target

from mock_server import MockProvider


def release(provider: MockProvider, message_id: str, **choice: str) -> None:
    answer = requests.post(f"{provider.url}/_dlrmock/messages/{message_id}/release",
                           json=choice, timeout=5)
    assert answer.status_code == 200, answer.text


def callback_of(target: Target, smsid: str) -> str:
    [request] = [r for r in target.wait_for(1, timeout=10) if smsid in r.path]
    return request.path


def test_a_held_message_released_with_a_scenario_plays_that_scenario(target: Target) -> None:
    with MockProvider(time_scale=0) as provider:
        smsid = send_esms(provider.url, HELD_PHONE, target.url)["SMSID"]
        held = provider.message(smsid)
        assert (held.state, held.parts[0]["outcome"]) == ("held", "hold")
        release(provider, smsid, scenario="esms.sms.cskh.failed")
        assert provider.message(smsid).wait("final", 10).parts[0]["scenario"] == \
            "esms.sms.cskh.failed"
        assert "SendFailed=1" in callback_of(target, smsid)


@pytest.mark.parametrize("choice", [{"scenario": "esms.sms.cskh.failed"}, {"outcome": "failed"}],
                         ids=["scenario", "outcome"])
def test_a_message_held_before_a_restart_is_released_after_it(
        tmp_path: Path, target: Target, choice: dict[str, str]) -> None:
    config = {"db": str(tmp_path / "dlrmock.sqlite"), "time_scale": 0}
    with MockProvider(**config) as first:
        smsid = send_esms(first.url, HELD_PHONE, target.url)["SMSID"]
    with MockProvider(**config) as second:
        release(second, smsid, **choice)
        [(key, value)] = choice.items()
        assert second.message(smsid).wait("final", 10).parts[0][key] == value
        assert "SendFailed=1" in callback_of(target, smsid)


def test_releasing_an_unknown_message_is_404_saying_where_messages_are_listed() -> None:
    with MockProvider(time_scale=0) as provider:
        answer = requests.post(f"{provider.url}/_dlrmock/messages/nope/release",
                               json={"outcome": "failed"}, timeout=5)
    assert answer.status_code == 404
    assert answer.json()["message"].endswith("; list them with GET /_dlrmock/messages")


def test_releasing_a_message_that_is_not_held_is_409_naming_its_state(target: Target) -> None:
    with MockProvider(time_scale=0) as provider:
        smsid = send_esms(provider.url, "0912345678", target.url)["SMSID"]
        provider.message(smsid).wait("final", 10)
        answer = requests.post(f"{provider.url}/_dlrmock/messages/{smsid}/release",
                               json={"outcome": "failed"}, timeout=5)
    assert answer.status_code == 409
    assert answer.json()["message"] == (
        f"message {smsid!r} is final, not held; only a message sent with the outcome 'hold' "
        "waits for a release")


def test_a_release_refused_while_too_many_runs_are_pending_leaves_the_message_held(
        target: Target) -> None:
    with MockProvider(time_scale=0, max_pending_runs=1) as provider:
        smsid = send_esms(provider.url, HELD_PHONE, target.url)["SMSID"]
        blocking = provider.play("esms.sms.cskh.delivered", target.url, clock="manual")
        refused = requests.post(f"{provider.url}/_dlrmock/messages/{smsid}/release",
                                json={"outcome": "failed"}, timeout=5)
        assert refused.status_code == 503 and "max_pending_runs 1" in refused.json()["message"]
        held = provider.message(smsid)
        assert (held.state, held.parts[0]["state"], held.run_ids) == ("held", "held", [])

        provider.state.engine.cancel(blocking.id)
        blocking.wait_done(10)
        release(provider, smsid, outcome="failed")
        assert provider.message(smsid).wait("final", 10).parts[0]["outcome"] == "failed"
    assert "SendFailed=1" in callback_of(target, smsid)


def test_a_held_message_released_with_no_receipt_is_final_at_once(target: Target) -> None:
    with MockProvider(time_scale=0) as provider:
        smsid = send_esms(provider.url, HELD_PHONE, target.url)["SMSID"]
        release(provider, smsid, outcome="no_receipt")
        released = provider.message(smsid)
        assert (released.state, released.run_ids) == ("final", [])
    assert target.count() == 0

