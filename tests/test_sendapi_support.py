"""Test doubles and helpers for the send-API tests, and the tests of the doubles themselves.

``RecordingHooks`` stands in for the delivery engine: it records what the send APIs hand over
and, when asked to ``play()``, builds the receipts the way the engine does (the scenario resolved,
its message fields applied to a generated message, one payload per step and copy), so the tests
can check the receipts an app would get without sockets or clocks. It does not feed the send
state's messages: what follows the callbacks played (``GetSendStatus``, the eSMS query APIs) is
tested against the real engine (``test_esms_queries_follow_each_message``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mock_server._factory import ReceiptFactory
from mock_server._scenarios import resolve
from mock_server.sendapi import (
    AcceptedMessage,
    CapturedSend,
    SendHooks,
    SendSettings,
    SendState,
    create_send_blueprints,
    sign,
)

ACCESS_KEY = "dlrmock-access-key"
SECRET = "dlrmock-secret"
API_KEY = "dlrmock-api-key"
SECRET_KEY = "dlrmock-secret-key"
WEBHOOK = "http://127.0.0.1:9/hook"


@dataclass
class RecordingHooks:
    """A :class:`SendHooks` that records, and plays receipts only when told to."""

    delivered: list[AcceptedMessage] = field(default_factory=list)
    captured: list[CapturedSend] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    runs: dict[str, AcceptedMessage] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    _played: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _factory: ReceiptFactory = field(default_factory=lambda: ReceiptFactory(seed=7))

    def deliver(self, message: AcceptedMessage) -> str | None:
        resolve(message.scenario)  # like the engine: an unknown scenario raises
        self.delivered.append(message)
        if message.callback_url is None:
            return None
        run_id = f"run-{next(self._ids)}"
        self.runs[run_id] = message
        return run_id

    def release(self, run_ids: Iterable[str]) -> None:
        self.released.extend(run_ids)

    def cancel(self, run_id: str) -> None:
        self.cancelled.append(run_id)

    def capture(self, sent: CapturedSend) -> None:
        self.captured.append(sent)

    def played(self, provider: str, message_id: str) -> list[dict[str, Any]]:
        return list(self._played.get((provider, message_id), []))

    # -- test controls
    def receipts(self, message: AcceptedMessage) -> list[tuple[str, dict[str, Any]]]:
        """(kind, payload) of every receipt the engine would send for ``message``, in order."""
        scenario = resolve(message.scenario)
        fields = self._factory.message(message.provider)
        fields.update(scenario.message)
        fields.update(message.message)
        built = [(step, self._factory.receipt(step.kind, fields, step.set or None))
                 for step in scenario.steps]
        order = list(range(len(built)))
        for index, step in enumerate(scenario.steps):
            if step.reorder:
                order[index], order[index + 1] = order[index + 1], order[index]
        result: list[tuple[str, dict[str, Any]]] = []
        for index in order:
            step, payload = built[index]
            result += [(step.kind, payload)] * (step.duplicate + 1)
        return result

    def play(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Deliver every receipt of ``run_id`` (default: of every run not cancelled yet)."""
        chosen = [run_id] if run_id else [r for r in self.runs if r not in self.cancelled]
        payloads: list[dict[str, Any]] = []
        for rid in chosen:
            message = self.runs.pop(rid)
            if message.gate is None or message.gate() is None:
                for _, payload in self.receipts(message):
                    self._played.setdefault((message.provider, message.message_id), []).append(
                        payload)
                    payloads.append(payload)
        return payloads

    @property
    def last(self) -> CapturedSend:
        return self.captured[-1]


def make_app(settings: SendSettings | None = None, hooks: RecordingHooks | None = None,
             clock: Any = time.time) -> tuple[FlaskClient, RecordingHooks, SendState]:
    """A bare Flask app with the send blueprints, its test client, hooks and state."""
    settings = settings or SendSettings()
    hooks = hooks or RecordingHooks()
    state = SendState(settings, clock=clock)
    app = Flask(__name__)
    for blueprint in create_send_blueprints(settings, hooks, state=state):
        app.register_blueprint(blueprint)
    return app.test_client(), hooks, state


def nx_headers(body: bytes, *, secret: str = SECRET, ts: int | str | None = None,
               **overrides: str) -> dict[str, str]:
    """NXCloud auth headers for ``body``, correctly signed unless ``overrides`` say otherwise."""
    headers = {
        "accessKey": ACCESS_KEY,
        "ts": str(ts if ts is not None else int(time.time() * 1000)),
        "bizType": "9",
        "action": "mt",
        "Content-Type": "application/json",
    }
    headers.update({k: v for k, v in overrides.items() if k != "sign"})
    headers["sign"] = overrides.get("sign", sign(headers, body, secret))
    return headers


def mt_body(**fields: Any) -> dict[str, Any]:
    """A valid ``/v1/zalo/mt`` body; ``fields`` replace (``None`` removes) top-level fields."""
    body: dict[str, Any] = {
        "appkey": "app-1",
        "phone": "84912345678",
        "functionType": "template",
        "messageData": {"templateId": "100200", "templateData": {"name": "Lan", "otp": "4821"}},
        "drWebhook": WEBHOOK,
    }
    for key, value in fields.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def post_nx(client: FlaskClient, path: str, body: Mapping[str, Any] | bytes,
            headers: Mapping[str, str] | None = None, **header_overrides: str) -> Any:
    """POST ``body`` signed; ``header_overrides`` replace auth headers (``sign=`` too)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = nx_headers(raw, **header_overrides)
    sent.update(headers or {})
    return client.post(path, data=raw, headers=sent)


def esms_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ApiKey": API_KEY, "SecretKey": SECRET_KEY,
                            "CallbackUrl": WEBHOOK}
    for key, value in fields.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


# ---------------------------------------------------------------------------------- the doubles
def test_recording_hooks_satisfy_the_send_hooks_protocol() -> None:
    assert isinstance(RecordingHooks(), SendHooks)


def test_recording_hooks_play_a_scenario_like_the_engine() -> None:
    hooks = RecordingHooks()
    run_id = hooks.deliver(AcceptedMessage(
        "nxcloud", "zalomid." + "a" * 32, WEBHOOK, "nxcloud.zalo.duplicate_delivered",
        {"requestId": "zalomid." + "a" * 32, "ext": "order-1"}))
    assert run_id == "run-1"
    payloads = hooks.play()
    assert [p["status"] for p in payloads] == ["success", "delivered", "delivered"]
    assert hooks.played("nxcloud", "zalomid." + "a" * 32) == payloads


def test_recording_hooks_reject_an_unknown_scenario() -> None:
    with pytest.raises(LookupError):
        RecordingHooks().deliver(AcceptedMessage("esms", "x", WEBHOOK, "esms.nope", {}))


# -------------------------------------------------------- the double against the real engine
CONTRACT_SENDS = [
    ("esms", "SendMultipleMessage_V4_post_json",
     {"Phone": "0912345678", "Content": "c", "Brandname": "B", "SmsType": "2"}),
    ("esms", "SendMultipleSMSBrandname_json",
     {"Phones": ["0912345678", "0987654321"], "Content": "c", "Brandname": "B", "SmsType": "1"}),
    ("esms", "SendZaloMessage_V6", {"Phone": "0912345678", "OAID": "1", "TempID": "2",
                                    "TempData": {"a": "b"}}),
    ("esms", "Send_Multiple_Sms_OTT",
     {"Phones": ["0912345678"], "Content": "c", "Brandname": "B", "SmsType": "23"}),
    ("nxcloud", "/v1/zalo/mt", {}),
]


@pytest.mark.parametrize("suffix", ["0000", "1111", "3333", "4444", "5555"])
@pytest.mark.parametrize(("provider", "api", "fields"), CONTRACT_SENDS,
                         ids=[f"{s[0]}-{s[1].strip('/')}" for s in CONTRACT_SENDS])
def test_recording_hooks_hand_over_what_the_engine_plays(
    provider: str, api: str, fields: dict[str, Any], suffix: str
) -> None:
    """The double stands in for the engine in the send-API tests: for every API and outcome,
    the receipts it plays are the engine's (kinds, order, and every field the send sets)."""
    from targets import Sink

    from mock_server import Engine

    client, hooks, _ = make_app()
    if provider == "esms":
        phones = {k: (v[:-4] + suffix if k == "Phone" else [p[:-4] + suffix for p in v])
                  for k, v in fields.items() if k in ("Phone", "Phones")}
        answer = client.post(f"/MainService.svc/json/{api}",
                             json=esms_body(**{**fields, **phones}, RequestId="r-" + suffix))
        assert answer.get_json()["CodeResult"] == "100", answer.get_json()
    else:
        answer = post_nx(client, api, mt_body(phone="8491234" + suffix, ext="order-" + suffix))
        assert answer.get_json()["code"] == 0
    double = [payload for message in hooks.delivered for _, payload in hooks.receipts(message)]

    with Sink() as sink, Engine(time_scale=0) as engine:
        runs = [engine.play(m.scenario, sink.url, message=m.message).wait(10)
                for m in hooks.delivered]
    played = [payload for run in runs for payload in run.payloads]

    discriminator = "status" if provider == "nxcloud" else "TypeId"
    assert [p[discriminator] for p in double] == [p[discriminator] for p in played]
    for ours, theirs in zip(double, played, strict=True):
        for key, value in hooks.delivered[0].message.items():
            if key in theirs:
                assert ours.get(key) == theirs[key] == value, key
        if provider == "esms" and theirs["TotalReceiver"] == "1":  # a campaign's count is drawn
            assert (ours["SendSuccess"] == "0") == (theirs["SendSuccess"] == "0")
