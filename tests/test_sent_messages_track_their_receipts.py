"""A sent message shows its receipts played and to come, and its state moves
``pending`` → ``playing`` → ``final`` as they go out (``provider.message(id)``, the admin API's
``/messages``). The app sends over a real 127.0.0.1 socket; receipts go to a loopback ``Target``.
"""

from __future__ import annotations

import logging
import time

import pytest
from live import send_esms, send_nxcloud
from targets import Target

from mock_server import MockProvider

SUCCESS, DELIVERED = "nxcloud.zalo.success", "nxcloud.zalo.delivered"


def send_zalo(provider: MockProvider, phone: str, hook: str) -> str:
    answer = send_nxcloud(provider.url, "/v1/zalo/mt", {
        "appkey": "a", "phone": phone, "functionType": "template", "drWebhook": hook,
        "messageData": {"templateId": "1", "templateData": {}}})
    assert answer["code"] == 0, answer
    return str(answer["data"]["requestId"])


def test_a_pending_message_lists_every_receipt_to_come_each_copy_included(
    target: Target,
) -> None:
    # number suffix 3333: duplicate — success, then delivered twice
    send = {"receipt_delay": 600}
    with MockProvider(time_scale=1, send=send) as provider:
        message_id = send_zalo(provider, "84912343333", target.url)
        message = provider.message(message_id).as_dict()
    part = message["parts"][0]
    assert message["state"] == "pending"
    assert (message["receipts_to_come"], message["receipts_played"]) == (3, 0)
    assert (message["id"], message["provider"], message["api"], message["sandbox"]) == (
        message_id, "nxcloud", "zalo.mt", False)
    assert abs(message["created_at"] - time.time()) < 60
    assert message["run_ids"] == [part["run_id"]] and message["run_ids"][0].startswith("run-")
    assert part["receipts_to_come"] == [SUCCESS, DELIVERED, DELIVERED]
    assert (part["receipts_played"], part["played"]) == (0, [])
    assert (part["phone"], part["receivers"], part["outcome"]) == ("84912343333", 1, "duplicate")
    assert target.count() == 0


def test_a_message_is_playing_once_its_first_receipt_is_out_and_final_after_the_last(
    target: Target,
) -> None:
    # time scale 10: the delivered receipt follows success by 2 s × 10
    with MockProvider(time_scale=10, send={"receipt_delay": 0}) as provider:
        message_id = send_zalo(provider, "84912340000", target.url)
        target.wait_for(1, timeout=10)
        message = provider.message(message_id)
        deadline = time.monotonic() + 10
        while message.state == "pending" and time.monotonic() < deadline:
            time.sleep(0.01)
        part = message.parts[0]
        assert (message.state, part["state"]) == ("playing", "playing")
        totals = message.as_dict()
        assert (totals["receipts_played"], totals["receipts_to_come"]) == (1, 1)
        assert part["receipts_to_come"] == [DELIVERED] and part["receipts_played"] == 1
        assert part["played"][0]["status"] == "success"
        assert [part["run_id"]] == message.run_ids
    assert target.count() == 1


def test_a_run_no_message_is_bound_to_finishes_without_an_error(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    with MockProvider(time_scale=0) as provider:
        provider.play("nxcloud.zalo.success_then_delivered", target.url).wait(10)
        message_id = send_zalo(provider, "84912340000", target.url)
        provider.message(message_id).wait("final", 10)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_message_sent_with_nowhere_to_call_back_is_final_at_once() -> None:
    with MockProvider(time_scale=0) as provider:
        smsid = send_esms(provider.url, "0912345678", None)["SMSID"]
        message = provider.message(smsid).as_dict()
    assert (message["state"], message["run_ids"]) == ("final", [])
    assert message["parts"][0]["state"] == "final"


def test_the_newest_messages_limit_messages_are_remembered_the_oldest_forgotten() -> None:
    with MockProvider(time_scale=0, send={"messages_limit": 2}) as provider:
        sent = [send_esms(provider.url, "0912345678", None)["SMSID"] for _ in range(3)]
        assert [message.id for message in provider.messages] == sent[1:]
