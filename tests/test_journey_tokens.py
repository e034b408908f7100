"""NXCloud journey tokens from the app's side: given out, described, used or expired.

A :class:`MockProvider` at time scale 0 serves on 127.0.0.1 and the app signs each request as
NXCloud documents (``live.send_nxcloud``); receipts go to the loopback ``target``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from live import send_nxcloud
from targets import Target

from mock_server import MockProvider
from mock_server.sendapi import SendState
from mock_server.sendapi._state import Journey

PHONE = "84912345678"


@pytest.fixture
def nxcloud() -> Iterator[MockProvider]:
    with MockProvider(time_scale=0, send={"appkey": "shop-app"}) as provider:
        yield provider


def init(provider: MockProvider, token_type: str = "token_logistics_7") -> dict[str, str]:
    answer = send_nxcloud(provider.url, "/v1/zalo/initJourneyToken",
                          {"appkey": "shop-app", "phone": PHONE, "tokenType": token_type})
    assert answer["code"] == 0, answer
    return dict(answer["data"])


def test_check_journey_token_says_when_the_token_was_given_out_to_the_millisecond(
        nxcloud: MockProvider) -> None:
    before = int(time.time() * 1000)
    token = init(nxcloud, "token_coach_bus_30")
    after = int(time.time() * 1000)
    answer = send_nxcloud(nxcloud.url, "/v1/zalo/checkJourneyToken",
                          {"appkey": "shop-app", "journeyToken": token["token"]})
    assert answer["code"] == 0 and answer["message"] == "Success"
    created = int(answer["data"]["createdAt"])
    assert before <= created <= after
    assert int(answer["data"]["expiredAt"]) == created + 30 * 86_400_000
    assert nxcloud.sent[-1].message_ids == [token["journeyId"]]  # the dashboard's link


def test_check_journey_token_refuses_another_app_with_9003_naming_it(
        nxcloud: MockProvider) -> None:
    token = init(nxcloud)
    answer = send_nxcloud(nxcloud.url, "/v1/zalo/checkJourneyToken",
                          {"appkey": "other-app", "journeyToken": token["token"]})
    assert list(answer) == ["code", "message", "traceId"]
    assert answer["code"] == 9003 and "'other-app'" in answer["message"]


def test_a_token_forgotten_past_messages_limit_still_times_out_on_schedule(
        target: Target) -> None:
    send = {"nxcloud_default_webhook": target.url, "messages_limit": 1}
    with MockProvider(time_scale=0, send=send) as provider:
        first = send_nxcloud(provider.url, "/v1/zalo/initJourneyToken", {
            "appkey": "a", "phone": PHONE, "tokenType": "token_logistics_7"})["data"]
        [expiry] = provider.sent[-1].run_ids
        send_nxcloud(provider.url, "/v1/zalo/initJourneyToken", {
            "appkey": "a", "phone": PHONE, "tokenType": "token_logistics_7"})
        assert provider.state.send_state.journey(first["token"]) is None  # forgotten
        provider.run(expiry).advance(7 * 86_400, timeout=10)
        [request] = target.wait_for(1)
        assert json.loads(request.body)["journeyId"] == first["journeyId"]
        assert json.loads(request.body)["status"] == "journey_time_out"
        provider.check()


def test_one_step_decides_used_or_expired_never_both() -> None:
    state = SendState()
    for token in ("used-first", "expired-first"):
        state.add_journey(Journey(token, f"id-{token}", "oa", "app", PHONE,
                                  "token_logistics_7", expiry_run_id=None))
    assert state.claim_journey("used-first", use=True) == "unused"
    assert state.expire_journey("used-first") == "journey id-used-first was used before it expired"
    assert state.expire_journey("expired-first") is None  # the expiry sends journey_time_out
    assert state.claim_journey("expired-first", use=True) == "expired"
    assert [state.journey(t).state for t in ("used-first", "expired-first")  # type: ignore[union-attr]
            ] == ["used", "expired"]
