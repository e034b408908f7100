"""The event stream: sends, scheduled receipts, attempts and run ends, published once each, in
order, to every subscriber; the /health counters are one of its views."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from live import HELD_PHONE, send_esms
from targets import Target

from mock_server import MockProvider
from mock_server._events import Counters, Event, EventBus


@pytest.fixture
def provider() -> Iterator[MockProvider]:
    with MockProvider(time_scale=0, send={"answer_margin": 0}) as provider:
        yield provider


def test_every_subscriber_sees_every_event_in_order_and_a_failing_one_harms_none() -> None:
    bus = EventBus()
    seen: list[tuple[str, int]] = []

    def broken(event: Event) -> None:
        raise RuntimeError("a view's bug")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(lambda event: seen.append((event.kind, event.seq)))
    bus.publish("send", {})
    bus.publish("attempt", {})
    unsubscribe()
    bus.publish("run", {})
    assert seen == [("send", 1), ("attempt", 2)]


def test_a_send_then_its_schedule_release_attempt_and_run_end_are_published(
        provider: MockProvider, target: Target) -> None:
    events: list[Event] = []
    done = threading.Event()

    def listen(event: Event) -> None:
        events.append(event)
        if event.kind == "run":
            done.set()

    provider.state.events.subscribe(listen)
    answer = send_esms(provider.url, "0912345678", target.url)
    assert done.wait(10), [e.kind for e in events]
    assert [e.kind for e in events] == ["scheduled", "send", "released", "attempt", "run"]
    assert {e.message_id for e in events} == {answer["SMSID"]}
    send = events[1].data
    assert send["summary"]["phone"] == "0912345678" and not send["rejected"]
    assert send["messages"][0]["id"] == answer["SMSID"]
    attempt = events[3].data
    assert attempt["acknowledged"] and attempt["attempt"]["request"]["url"].startswith(target.url)
    assert events[4].data["message"]["state"] == "final"


def test_health_counts_rejected_sends_and_unacknowledged_runs(
        provider: MockProvider, make_target: object) -> None:
    failing = make_target("error")  # type: ignore[operator]
    send_esms(provider.url, "12", None)  # a bad number: rejected with 108
    answer = send_esms(provider.url, "0912345678", failing.url)
    provider.message(answer["SMSID"]).wait("final", 30)
    counters = requests.get(provider.url + "/_dlrmock/health", timeout=5).json()["counters"]
    assert counters["sends"] == 2 and counters["sends_rejected"] == 1
    assert counters["runs_finished"] == 1 and counters["runs_unacknowledged"] == 1
    assert counters["attempts"] >= 1 and counters["attempts_unacknowledged"] == counters["attempts"]


def test_reset_zeroes_the_counters(provider: MockProvider) -> None:
    send_esms(provider.url, "12", None)
    assert provider.state.counters.as_dict()["sends_rejected"] == 1
    requests.post(provider.url + "/_dlrmock/reset", timeout=5)
    assert provider.state.counters.as_dict() == dict.fromkeys(Counters.NAMES, 0)


def test_a_held_message_publishes_its_release(provider: MockProvider, target: Target) -> None:
    kinds: list[str] = []
    provider.state.events.subscribe(lambda event: kinds.append(event.kind))
    answer = send_esms(provider.url, HELD_PHONE, target.url)
    assert kinds == ["send"]  # held: nothing scheduled yet
    provider.release(answer["SMSID"], "delivered").wait("final", 10)
    assert kinds[1:3] == ["scheduled", "released"] and "attempt" in kinds


@pytest.mark.parametrize(("document", "expected"), [
    ({"Phone": "0912345678", "Content": "Hi", "RequestId": "r-1"},
     {"phone": "0912345678", "content": "Hi", "reference": "r-1"}),
    ({"Phones": ["0912345678", "0987654321"], "Content": "Sale"},
     {"phone": "0912345678,0987654321", "content": "Sale"}),
    ({"phone": "84912345678", "ext": "order-7",
      "messageData": {"templateId": "12345", "templateData": {"otp": "4821"}}},
     {"phone": "84912345678", "template": "12345", "params": {"otp": "4821"},
      "reference": "order-7"}),
    ({"Phone": "0912345678", "TempID": "200", "Params": ["a", "b"]},
     {"template": "200", "params": ["a", "b"]}),
    ({"phone": "84912345678", "messageData": {"text": "Viber hello"}},
     {"content": "Viber hello"}),
    ({"to": "+84912345678", "text": {"body": "WhatsApp hello"}},
     {"phone": "+84912345678", "content": "WhatsApp hello"}),
    (None, {"phone": None, "content": None, "template": None}),
    ({"Phones": 0, "Content": 0, "TempID": {"a": 1}, "messageData": 5, "text": []},
     {"phone": "0", "content": "0", "template": "{'a': 1}"}),
    ([1, 2], {"phone": None}),
])
def test_a_send_is_summarised_for_people(document: object,
                                         expected: dict[str, object]) -> None:
    from mock_server._events import send_summary

    summary = send_summary({"json": document})
    assert {key: summary[key] for key in expected} == expected
