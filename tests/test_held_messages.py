"""A held message plays exactly what its release names: an outcome or a built-in scenario.

The app sends to a number ending 6666 (held) over a real 127.0.0.1 socket, then a test
releases it through the admin API with a scenario; the callback the webhook (the loopback
``target``) receives is that scenario's, before and after a restart with ``--db``.
"""

from __future__ import annotations

from pathlib import Path

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


def test_a_message_held_before_a_restart_is_released_with_a_scenario_after_it(
        tmp_path: Path, target: Target) -> None:
    config = {"db": str(tmp_path / "dlrmock.sqlite"), "time_scale": 0}
    with MockProvider(**config) as first:
        smsid = send_esms(first.url, HELD_PHONE, target.url)["SMSID"]
    with MockProvider(**config) as second:
        release(second, smsid, scenario="esms.sms.cskh.failed")
        second.message(smsid).wait("final", 10)
        assert "SendFailed=1" in callback_of(target, smsid)


def test_releasing_an_unknown_message_is_404_saying_where_messages_are_listed() -> None:
    with MockProvider(time_scale=0) as provider:
        answer = requests.post(f"{provider.url}/_dlrmock/messages/nope/release",
                               json={"outcome": "failed"}, timeout=5)
    assert answer.status_code == 404
    assert answer.json()["message"].endswith("; list them with GET /_dlrmock/messages")
