"""End to end over real sockets: an app sends SMS, Viber and WhatsApp through NXCloud's APIs.

dlrmock (``MockProvider``, time scale 0) and the example receiver (``examples/webhook_app``)
listen on 127.0.0.1 at free ports. The client below is written the way NXCloud's public SDKs
write it, independently of dlrmock's code: the Java SDK posts the legacy API as an HTML form
(``appkey``, ``secretkey``, …), the PHP addon signs a JSON body with
``md5("accessKey=…&action=…&bizType=…&ts=…&body=" + body + "&accessSecret=" + secret)``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from mock_server import MockProvider

WEBHOOK_APP_DIR = Path(__file__).resolve().parents[1] / "examples" / "webhook_app"
if str(WEBHOOK_APP_DIR) not in sys.path:
    sys.path.insert(0, str(WEBHOOK_APP_DIR))

from webhook_app import create_app, message_status  # noqa: E402

ACCESS_KEY = "dlrmock-access-key"
ACCESS_SECRET = "dlrmock-secret"
DEADLINE = 10.0


# ------------------------------------------------------------------------ the client under test
class NxcloudClient:
    """What an app's NXCloud client does: legacy form posts and signed JSON posts."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def send_sms_legacy(self, phone: str, content: str, **extra: str) -> dict[str, Any]:
        form = {"appkey": "sms-app", "secretkey": "sms-secret", "phone": phone,
                "content": content, **extra}
        response = self.session.post(f"{self.base_url}/api/sms/mtsend", data=form, timeout=5)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def signed(self, path: str, biz_type: str, action: str, document: dict[str, Any]
               ) -> dict[str, Any]:
        body = json.dumps(document, ensure_ascii=False)
        ts = str(int(time.time() * 1000))
        to_sign = (f"accessKey={ACCESS_KEY}&action={action}&bizType={biz_type}&ts={ts}"
                   f"&body={body}&accessSecret={ACCESS_SECRET}")
        headers = {"Content-Type": "application/json", "accessKey": ACCESS_KEY, "ts": ts,
                   "bizType": biz_type, "action": action,
                   "sign": hashlib.md5(to_sign.encode()).hexdigest()}
        response = self.session.post(self.base_url + path, data=body.encode(), headers=headers,
                                     timeout=5)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


# ---------------------------------------------------------------------------------- fixtures
def _serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Flask, str]]:
    app = create_app(":memory:")
    for url in _serve(app):
        yield app, url


@pytest.fixture(scope="module")
def plain_ok() -> Iterator[str]:
    """A receiver that answers every report with ``200 OK`` (not NXCloud's ``success``)."""
    app = Flask("plain-ok")
    app.add_url_rule("/dr", "dr", lambda: ("OK", 200), methods=["POST"])
    yield from _serve(app)


@pytest.fixture(scope="module")
def provider(receiver: tuple[Flask, str]) -> Iterator[MockProvider]:
    config = {"time_scale": 0,
              "send": {"nxcloud_default_webhook": f"{receiver[1]}/webhooks/nxcloud"}}
    with MockProvider(config) as running:
        yield running


@pytest.fixture
def client(provider: MockProvider) -> NxcloudClient:
    return NxcloudClient(provider.url)


def wait_for_status(app: Flask, key: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    view = message_status(app, key)
    while view is None or view["status"] != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"message {key!r} did not end {status!r} within "
                                 f"{DEADLINE:g} s; the receiver shows {view!r}")
        time.sleep(0.02)
        view = message_status(app, key)
    return view


def runs_of(provider: MockProvider, answer_id: str) -> list[Any]:
    [sent] = [s for s in provider.sent if answer_id in s.message_ids]
    return [provider.state.engine.get(run_id).wait(DEADLINE) for run_id in sent.run_ids]


# ------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize(("phone", "final"), [("84912340000", "delivered"),
                                               ("84912341111", "undelivered")])
def test_legacy_sms_with_dr_url_reaches_the_receiver(
    provider: MockProvider, client: NxcloudClient, receiver: tuple[Flask, str], phone: str,
    final: str,
) -> None:
    app, url = receiver
    answer = client.send_sms_legacy(phone, "Mã OTP của bạn là 4821", ext="order 42",
                                    dr_url=f"{url}/webhooks/nxcloud")

    assert answer["code"] == "0" and answer["result"] == "Request succeeded"
    view = wait_for_status(app, answer["messageid"], final)
    assert view["ext"] == "order 42"
    [run] = runs_of(provider, answer["messageid"])
    assert run.ok, run.journal_text()
    request = run.attempts[0].request
    assert request.method == "POST"
    assert dict(request.headers)["Content-Type"] == "application/x-www-form-urlencoded"


def test_signed_sms_reaches_the_default_webhook(
    provider: MockProvider, client: NxcloudClient, receiver: tuple[Flask, str]
) -> None:
    answer = client.signed("/v1/sms/mt", "3", "mtsend",
                           {"appKey": "sms-app", "phone": "84912343333", "content": "hi"})

    assert answer["code"] == 0, answer
    messageid = answer["data"]["messageid"]
    wait_for_status(receiver[0], messageid, "delivered")
    [run] = runs_of(provider, messageid)  # waits until both copies were answered
    assert run.ok and len(run.attempts) == 2, run.journal_text()
    view = message_status(receiver[0], messageid)
    assert view is not None and view["duplicates_ignored"] == 1  # 3333: the report twice


def test_viber_send_ends_delivered_at_the_receiver(
    provider: MockProvider, client: NxcloudClient, receiver: tuple[Flask, str]
) -> None:
    answer = client.signed("/api/viber/mt", "7", "mt", {
        "appkey": "viber-app", "phone": "79123450000", "functionType": "text",
        "messageData": {"rateType": "Transactional", "text": "Your code is 989724."}})

    assert answer["code"] == 0 and answer["message"] == "Success", answer
    request_id = answer["data"]["requestId"]
    wait_for_status(receiver[0], request_id, "delivered")
    assert all(run.ok for run in runs_of(provider, request_id))


def test_whatsapp_send_ends_delivered_at_its_dr_webhook(
    provider: MockProvider, client: NxcloudClient, receiver: tuple[Flask, str]
) -> None:
    app, url = receiver
    answer = client.signed("/api/wa/mt", "2", "mt", {
        "appkey": "wa-app", "business_phone": "8618500008399", "messaging_product": "whatsapp",
        "recipient_type": "individual", "to": "8613612340000", "type": "text",
        "text": {"body": "hello", "preview_url": False}, "dr_webhook": f"{url}/webhooks/nxcloud"})

    assert answer["code"] == 0 and answer["message"] == "Request successful", answer
    wamid = answer["data"]["messages"][0]["id"]
    wait_for_status(app, wamid, "delivered")
    assert all(run.ok for run in runs_of(provider, wamid))


def test_a_receiver_answering_ok_to_an_sms_report_is_reported_as_not_acknowledging(
    provider: MockProvider, client: NxcloudClient, plain_ok: str
) -> None:
    answer = client.send_sms_legacy("84912340000", "hi", dr_url=f"{plain_ok}/dr")

    [run] = runs_of(provider, answer["messageid"])
    assert not run.ok
    assert [(a.status, a.outcome) for a in run.attempts] == [(200, "http_error")]
    [failure] = run.failures()
    assert "the plain text 'success'" in failure and "'OK'" in failure
    with pytest.raises(AssertionError, match="the plain text 'success'"):
        run.assert_acknowledged()


def test_an_unknown_nxcloud_path_is_captured_and_counted(
    provider: MockProvider, client: NxcloudClient
) -> None:
    before = requests.get(f"{provider.url}/_dlrmock/health", timeout=5).json()["rejected_sends"]
    response = client.session.post(f"{provider.url}/api/sms/mtsend_batch",
                                   data={"appkey": "a"}, timeout=5)

    assert response.status_code == 404 and response.json()["code"] == -1
    assert "POST /api/sms/mtsend" in response.json()["message"]
    assert provider.sent[-1].endpoint == "nxcloud.unknown"
    health = requests.get(f"{provider.url}/_dlrmock/health", timeout=5).json()
    assert health["rejected_sends"] == before + 1


# ------------------------------------------------------------------------- the message lifecycle
def test_an_sms_to_a_hold_number_waits_for_its_release(
    provider: MockProvider, client: NxcloudClient, receiver: tuple[Flask, str]
) -> None:
    app, url = receiver
    answer = client.send_sms_legacy("84912346666", "hi", dr_url=f"{url}/webhooks/nxcloud")
    messageid = answer["messageid"]
    held = requests.get(f"{provider.url}/_dlrmock/messages/{messageid}", timeout=5).json()

    assert (held["api"], held["state"]) == ("sms.mtsend", "held")
    assert message_status(app, messageid) is None
    released = requests.post(f"{provider.url}/_dlrmock/messages/{messageid}/release",
                             json={"outcome": "failed"}, timeout=5)
    assert released.status_code == 200, released.text
    wait_for_status(app, messageid, "undelivered")


def test_send_rules_match_the_family_apis(receiver: tuple[Flask, str]) -> None:
    app, url = receiver
    config = {"time_scale": 0, "send": {
        "nxcloud_default_webhook": f"{url}/webhooks/nxcloud",
        "rules": [{"match": {"api": "^viber\\.mt$", "content": "FAILME"}, "outcome": "failed"}],
    }}
    with MockProvider(config) as running:
        client = NxcloudClient(running.url)
        document = {"appkey": "a", "phone": "79123450000", "functionType": "text",
                    "messageData": {"rateType": "Transactional", "text": "please FAILME"}}
        response = client.session.post(  # signed like NxcloudClient.signed, headers kept
            running.url + "/api/viber/mt", timeout=5, **_signed_request(document, "7"))
        request_id = response.json()["data"]["requestId"]

        assert "failed (send.rules[0])" in response.headers["X-Dlrmock-Explain"]
        wait_for_status(app, request_id, "failed")


def _signed_request(document: dict[str, Any], biz_type: str) -> dict[str, Any]:
    body = json.dumps(document)
    ts = str(int(time.time() * 1000))
    to_sign = (f"accessKey={ACCESS_KEY}&action=mt&bizType={biz_type}&ts={ts}"
               f"&body={body}&accessSecret={ACCESS_SECRET}")
    headers = {"Content-Type": "application/json", "accessKey": ACCESS_KEY, "ts": ts,
               "bizType": biz_type, "action": "mt",
               "sign": hashlib.md5(to_sign.encode()).hexdigest()}
    return {"data": body.encode(), "headers": headers}
