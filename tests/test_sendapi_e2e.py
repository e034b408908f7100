"""End to end over real sockets: an app sends through every API of ``dlrmock serve`` and ends right.

``dlrmock serve --port 0 --time-scale 0`` runs as a subprocess, the example receiver
(``examples/webhook_app``) is served by Werkzeug from a thread, and a ``requests`` client plays
the system under test: it sends one message through every NXCloud and eSMS send API with the
receiver's URLs as callbacks, then checks the provider-shaped answer, what dlrmock captured, and
the state the receiver ends in. Everything binds 127.0.0.1 on a free port.

The in-process suites (``test_sendapi_*.py``) cover each rule; this module proves the socket path.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from esms_invalid_request import invalid_request
from flask import Flask
from werkzeug.serving import make_server

from mock_server.sendapi import EXPECTED_SIGN_HEADER, SIGNED_STRING_HEADER, sign

WEBHOOK_APP_DIR = Path(__file__).resolve().parents[1] / "examples" / "webhook_app"
if str(WEBHOOK_APP_DIR) not in sys.path:
    sys.path.insert(0, str(WEBHOOK_APP_DIR))

from webhook_app import create_app, get_store, message_status  # noqa: E402

# The documented test credentials (README, "Test credentials").
ACCESS_KEY = "dlrmock-access-key"
ACCESS_SECRET = "dlrmock-secret"
API_KEY = "dlrmock-api-key"
SECRET_KEY = "dlrmock-secret-key"

DEADLINE = 10.0
"""Seconds any wait in this module may take before it fails and says what it waited for."""
STARTUP = 30.0
"""Seconds ``dlrmock serve`` may take to print its URL and answer its health check (a loaded CI)."""
POLL = 0.02
ESMS = "/MainService.svc/json"
REQUEST_ID = re.compile(r"^zalomid\.[0-9a-f]{32}$")


# ----------------------------------------------------------------------------------- the receiver
@dataclass(frozen=True)
class Receiver:
    """The example webhook app, served on a real socket."""

    app: Flask
    url: str

    @property
    def nxcloud(self) -> str:
        return f"{self.url}/webhooks/nxcloud"

    @property
    def esms(self) -> str:
        return f"{self.url}/webhooks/esms"

    def wait_for(self, key: str, statuses: tuple[str, ...]) -> dict[str, Any]:
        """Poll ``message_status`` until message ``key`` is in one of ``statuses``."""
        deadline = time.monotonic() + DEADLINE
        view = message_status(self.app, key)
        while view is None or view["status"] not in statuses:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the webhook app did not record message {key!r} as {' or '.join(statuses)} "
                    f"within {DEADLINE:g} s; it shows {view!r}"
                )
            time.sleep(POLL)
            view = message_status(self.app, key)
        return view


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """``examples/webhook_app`` on an in-memory database, served by a threaded Werkzeug server."""
    app = create_app(":memory:")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="e2e-webhook-app", daemon=True)
    thread.start()
    try:
        yield Receiver(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(DEADLINE)
        server.server_close()
        get_store(app).close()
        assert not thread.is_alive(), f"the webhook app did not stop within {DEADLINE:g} s"


# ------------------------------------------------------------------------------ the fake provider
@dataclass
class Provider:
    """A ``dlrmock serve`` subprocess and a client session to it."""

    url: str
    process: subprocess.Popen[bytes]
    stderr: Path
    http: requests.Session

    def admin(self, path: str, **params: Any) -> Any:
        response = self.http.get(f"{self.url}/_dlrmock{path}", params=params, timeout=DEADLINE)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def captured(self, message_id: str) -> dict[str, Any]:
        """The captured send request that gave out ``message_id`` (status queries name it too)."""
        matches = [s for s in self.admin("/sent")["sent"]
                   if message_id in s["message_ids"] and s["endpoint"] != "esms.GetSendStatus"]
        assert len(matches) == 1, f"{len(matches)} captured sends gave out {message_id!r}"
        return matches[0]  # type: ignore[no-any-return]

    def settle(self, message_id: str) -> list[dict[str, Any]]:
        """Wait until every run of ``message_id`` has finished; the runs, with their attempts."""
        runs = []
        for run_id in self.captured(message_id)["run_ids"]:
            response = self.http.get(f"{self.url}/_dlrmock/runs/{run_id}/wait",
                                     params={"timeout": DEADLINE}, timeout=DEADLINE + 5)
            assert response.status_code == 200, (
                f"run {run_id} of {message_id} did not finish within {DEADLINE:g} s "
                f"(HTTP {response.status_code}):\n{response.json().get('journal')}"
            )
            runs.append(response.json())
        return runs

    def stderr_text(self) -> str:
        return self.stderr.read_text("utf-8", "replace")


def _start_provider(directory: Path, *extra: str) -> Provider:
    """Run ``dlrmock serve`` on a free loopback port; return once its health check answers."""
    stdout, stderr = directory / "stdout.txt", directory / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if k != "DLRMOCK_ADMIN_TOKEN"}
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "mock_server.cli", "serve", "--host", "127.0.0.1",
               "--port", "0", "--time-scale", "0", *extra]
    # Files, not pipes: the server logs every request on stderr and must never block on a full pipe.
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   env=env)
    http = requests.Session()
    provider = Provider("", process, stderr, http)
    try:
        deadline = time.monotonic() + STARTUP
        while not provider.url:
            lines = stdout.read_text("utf-8", "replace").splitlines()
            if lines and lines[0].strip():
                found = re.search(r" at (http://127\.0\.0\.1:\d+)\s*$", lines[0])
                assert found, f"unexpected first line from dlrmock serve: {lines[0]!r}"
                provider.url = found.group(1)
            elif process.poll() is not None:
                raise AssertionError(f"dlrmock serve exited with {process.returncode}:\n"
                                     f"{provider.stderr_text()}")
            elif time.monotonic() > deadline:
                raise AssertionError(f"dlrmock serve printed no URL within {STARTUP:g} s:\n"
                                     f"{provider.stderr_text()}")
            else:
                time.sleep(POLL)
        while True:
            try:
                if http.get(f"{provider.url}/_dlrmock/health", timeout=1).status_code == 200:
                    return provider
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"GET {provider.url}/_dlrmock/health never answered 200 "
                                     f"(exit code {process.poll()}):\n{provider.stderr_text()}")
            time.sleep(POLL)
    except BaseException:
        _stop_provider(provider, check=False)
        raise


def _stop_provider(provider: Provider, *, check: bool = True) -> None:
    """Terminate the server and make sure it exits; its stderr goes into every failure."""
    problem = None
    try:
        if check and provider.process.poll() is not None:
            problem = f"dlrmock serve died early (exit code {provider.process.returncode})"
        elif check:
            errors = provider.admin("/health")["errors"]
            if errors:
                problem = f"dlrmock recorded {errors} internal error(s)"
    finally:
        provider.http.close()
        provider.process.terminate()
        try:
            provider.process.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            provider.process.kill()
            provider.process.wait(DEADLINE)
            problem = f"dlrmock serve ignored SIGTERM for {DEADLINE:g} s"
    if check and problem is None and "Traceback" in provider.stderr_text():
        problem = "dlrmock serve logged a traceback"
    if problem is not None:
        raise AssertionError(f"{problem}; its stderr:\n{provider.stderr_text()}")


@pytest.fixture(scope="module")
def provider(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """``dlrmock serve --time-scale 0`` with the receiver's NXCloud route as default webhook."""
    started = _start_provider(tmp_path_factory.mktemp("dlrmock"),
                              "--default-webhook", receiver.nxcloud)
    try:
        yield started
    finally:
        _stop_provider(started)


@pytest.fixture(scope="module")
def journey_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A server without a default webhook, so a journey token's expiry is never scheduled."""
    started = _start_provider(tmp_path_factory.mktemp("dlrmock-journey"))
    try:
        yield started
    finally:
        _stop_provider(started)


# ------------------------------------------------------------------------------------ NXCloud
def nx_post(provider: Provider, path: str, document: Mapping[str, Any], *,
            secret: str = ACCESS_SECRET) -> tuple[requests.Response, bytes, dict[str, str]]:
    """POST ``document`` to an NXCloud API, signed over the exact bytes sent."""
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    headers = {"accessKey": ACCESS_KEY, "ts": str(int(time.time() * 1000)), "bizType": "9",
               "action": "mt"}
    headers["sign"] = sign(headers, body, secret)
    response = provider.http.post(f"{provider.url}{path}", data=body, timeout=DEADLINE,
                                   headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    return response, body, headers


def mt_document(phone: str, **extra: Any) -> dict[str, Any]:
    return {
        "appkey": "e2e-app",
        "phone": phone,
        "functionType": "template",
        "messageData": {"templateId": "tpl-1001",
                        "templateData": {"name": "Nguyễn Văn A", "otp": "123456"}},
        **extra,
    }


def accepted_request_id(response: requests.Response) -> str:
    answer = response.json()
    assert answer["code"] == 0 and answer["message"] == "Success", answer
    assert list(answer) == ["code", "message", "data"]
    request_id: str = answer["data"]["requestId"]
    assert REQUEST_ID.fullmatch(request_id)
    return request_id


def assert_acknowledged(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every receipt of ``runs`` answered 2xx; their payloads in sending order."""
    assert runs, "no receipts were scheduled"
    for run in runs:
        assert run["ok"] is True, run["journal"]
        assert all(a["status"] == 200 for a in run["attempts"]), run["journal"]
    return [payload for run in runs for payload in run["payloads"]]


@pytest.mark.parametrize(
    ("phone", "final", "processed", "duplicates", "statuses"),
    [
        pytest.param("84912340000", "delivered", 2, 0, ["success", "delivered"], id="0000"),
        pytest.param("84912341111", "failed", 1, 0, ["failed"], id="1111"),
        pytest.param("84912343333", "delivered", 2, 1, ["success", "delivered", "delivered"],
                     id="3333-duplicate"),
        pytest.param("84912344444", "delivered", 2, 0, ["delivered", "success"],
                     id="4444-out-of-order"),
    ],
)
def test_nxcloud_mt_receipts_reach_dr_webhook_and_app_ends_right(
    provider: Provider, receiver: Receiver, phone: str, final: str, processed: int,
    duplicates: int, statuses: list[str],
) -> None:
    ext = f"order-{uuid.uuid4().hex[:8]}"
    document = mt_document(phone, drWebhook=receiver.nxcloud, ext=ext)
    response, body, _ = nx_post(provider, "/v1/zalo/mt", document)
    request_id = accepted_request_id(response)

    sent = provider.captured(request_id)
    assert sent["endpoint"] == "nxcloud.zalo.mt" and sent["status"] == 200
    assert sent["error"] is None and sent["response"] == response.json()
    assert sent["json"]["phone"] == phone
    assert sent["json"]["messageData"]["templateId"] == "tpl-1001"
    assert sent["json"]["drWebhook"] == receiver.nxcloud
    assert sent["body"].encode("utf-8") == body

    view = receiver.wait_for(request_id, (final,))
    payloads = assert_acknowledged(provider.settle(request_id))
    assert [p["status"] for p in payloads] == statuses
    assert {p["requestId"] for p in payloads} == {request_id}
    assert {p["ext"] for p in payloads} == {ext}
    for run in provider.settle(request_id):
        assert {a["request"]["url"] for a in run["attempts"]} == {receiver.nxcloud}

    view = message_status(receiver.app, request_id)
    assert view is not None
    assert view["status"] == final and view["provider"] == "nxcloud" and view["ext"] == ext
    assert view["receipts_processed"] == processed
    assert view["duplicates_ignored"] == duplicates
    if final == "failed":
        assert view["error_code"] == view["last_payload"]["code"] != 0
        assert view["last_payload"]["zaloRes"]["error"] == -118


def test_nxcloud_mt_without_dr_webhook_goes_to_default_webhook(
    provider: Provider, receiver: Receiver
) -> None:
    response, _, _ = nx_post(provider, "/v1/zalo/mt/", mt_document("84987650000"))
    request_id = accepted_request_id(response)
    assert "drWebhook" not in provider.captured(request_id)["json"]
    view = receiver.wait_for(request_id, ("delivered",))
    assert view["ext"] is None and "ext" not in view["last_payload"]
    runs = provider.settle(request_id)
    assert_acknowledged(runs)
    assert {run["target"] for run in runs} == {receiver.nxcloud}


def test_nxcloud_journey_token_then_mt_plays_journey_acknowledged(
    journey_provider: Provider, receiver: Receiver
) -> None:
    phone = "84912340000"
    response, _, _ = nx_post(journey_provider, "/v1/zalo/initJourneyToken",
                             {"appkey": "e2e-app", "phone": phone,
                              "tokenType": "token_logistics_7"})
    answer = response.json()
    assert answer["code"] == 0 and answer["message"] == "Success", answer
    journey_id, token = answer["data"]["journeyId"], answer["data"]["token"]
    assert re.fullmatch(r"[0-9]{19}", journey_id) and token
    assert journey_provider.captured(journey_id)["run_ids"] == []  # no webhook: no expiry

    document = mt_document(phone, drWebhook=receiver.nxcloud, ext="journey-ext")
    document["messageData"]["journeyToken"] = token
    response, _, _ = nx_post(journey_provider, "/v1/zalo/mt", document)
    request_id = accepted_request_id(response)
    assert journey_provider.captured(request_id)["json"]["messageData"]["journeyToken"] == token

    view = receiver.wait_for(request_id, ("journey_acknowledged",))
    journey = receiver.wait_for(f"journey:{journey_id}", ("journey_acknowledged",))
    payloads = assert_acknowledged(journey_provider.settle(request_id))
    assert [p["status"] for p in payloads] == ["success", "journey_acknowledged"]
    assert payloads[1]["journeyId"] == journey_id and payloads[1]["requestId"] == request_id
    assert view["ext"] == "journey-ext" and journey["provider"] == "nxcloud"


def test_nxcloud_journey_token_expiry_waits_on_a_manual_clock_at_time_scale_0(
    provider: Provider, receiver: Receiver
) -> None:
    response, _, _ = nx_post(provider, "/v1/zalo/initJourneyToken",
                             {"appkey": "e2e-app", "phone": "84912340000",
                              "tokenType": "token_coach_bus_30"})
    answer = response.json()
    journey_id, token = answer["data"]["journeyId"], answer["data"]["token"]
    (run_id,) = provider.captured(journey_id)["run_ids"]
    run = provider.admin(f"/runs/{run_id}")
    assert run["clock"]["kind"] == "manual" and run["attempts"] == []  # not expired at once

    advanced = provider.http.post(f"{provider.url}/_dlrmock/runs/{run_id}/advance",
                                  json={"seconds": 30 * 86400}, timeout=DEADLINE)
    assert advanced.status_code == 200, advanced.text
    assert [a["kind"] for a in advanced.json()["attempts"]] == ["nxcloud.zalo.journey_time_out"]

    view = receiver.wait_for(f"journey:{journey_id}", ("journey_time_out",))
    assert view["last_payload"]["code"] == 17007 and "ext" not in view["last_payload"]
    payloads = assert_acknowledged(provider.settle(journey_id))
    assert [p["status"] for p in payloads] == ["journey_time_out"]

    document = mt_document("84912340000", drWebhook=receiver.nxcloud)
    document["messageData"]["journeyToken"] = token
    refused = nx_post(provider, "/v1/zalo/mt", document)[0].json()
    assert refused["code"] == 9000 and "expired" in refused["message"], refused
    assert re.fullmatch(r"[0-9a-f]{32}", refused["traceId"])


def test_nxcloud_wrong_signature_is_explained(provider: Provider, receiver: Receiver) -> None:
    document = mt_document("84912340000", drWebhook=receiver.nxcloud)
    response, body, headers = nx_post(provider, "/v1/zalo/mt", document, secret="not-the-secret")
    answer = response.json()
    assert answer["code"] == 1003 and set(answer) == {"code", "message", "traceId"}, answer

    signed = (f"accessKey={ACCESS_KEY}&action=mt&bizType=9&ts={headers['ts']}&body="
              f"{body.decode('utf-8')}&accessSecret=******")
    shown = response.headers[SIGNED_STRING_HEADER]
    assert shown.isascii() and unquote(shown) == signed
    assert ACCESS_SECRET not in unquote(shown) and ACCESS_SECRET not in answer["message"]
    expected = sign(headers, body, ACCESS_SECRET)
    assert response.headers[EXPECTED_SIGN_HEADER] == expected
    assert expected in answer["message"] and headers["sign"] in answer["message"]

    rejected = [s for s in provider.admin("/sent")["sent"]
                if s["error"] == "1003" and s["headers"].get("Sign") == headers["sign"]]
    assert len(rejected) == 1
    assert rejected[0]["signed_string"] == signed and rejected[0]["message_ids"] == []
    assert rejected[0]["run_ids"] == []


# ---------------------------------------------------------------------------------------- eSMS
def esms_send(provider: Provider, api: str, params: Mapping[str, Any]) -> requests.Response:
    """Send to an eSMS API the way its docs say: POST JSON, or GET with a query string."""
    url = f"{provider.url}{ESMS}/{api}"
    if api.startswith("SendMultipleMessage_V4_get"):
        response = provider.http.get(url, params=dict(params), timeout=DEADLINE)
    else:
        response = provider.http.post(url, json=dict(params), timeout=DEADLINE)
    assert response.status_code == 200, response.text
    return response


def accepted_smsid(response: requests.Response) -> str:
    answer = response.json()
    assert list(answer) == ["CodeResult", "CountRegenerate", "SMSID"], answer
    assert answer["CodeResult"] == "100" and answer["CountRegenerate"] == 0
    smsid: str = answer["SMSID"]
    assert isinstance(smsid, str) and smsid
    return smsid


def _sms(phone: str) -> dict[str, Any]:
    return {"Phone": phone, "Content": "Ma OTP cua ban la 123456", "Brandname": "Baotrixemay",
            "SmsType": "2", "IsUnicode": "0", "Sandbox": "0"}


def _ads(phone: str) -> dict[str, Any]:
    return {"Phones": [phone], "Content": "Khuyen mai 50%", "Brandname": "QCAO", "SmsType": "1"}


def _zns_v4(phone: str) -> dict[str, Any]:
    return {"Phone": phone, "OAID": "4097311281936189049", "TempID": "200607",
            "Params": ["Nguyen Van A", "123456"], "SendingMode": "1"}


def _zns_v4_journey(phone: str) -> dict[str, Any]:
    return {**_zns_v4(phone), "IsJourney": "1", "OrderId": "ORDER-1"}


def _zns_v5(phone: str) -> dict[str, Any]:
    return {"Phone": phone, "OAID": "4097311281936189049", "TempID": "200608",
            "TempData": [{"key": "name", "value": "Nguyen Van A"}], "SendingMode": "3"}


def _zns_v6(phone: str) -> dict[str, Any]:
    return {"Phone": phone, "OAID": "4097311281936189049", "TempID": "200609",
            "TempData": {"name": "Nguyen Van A", "otp": "123456"}}


def _viber(phone: str) -> dict[str, Any]:
    return {"Phones": [phone], "Content": "Xin chao", "Brandname": "Baotrixemay",
            "SmsType": "23", "IsSandBox": "0"}


@dataclass(frozen=True)
class EsmsCase:
    api: str
    build: Callable[[str], dict[str, Any]]
    type_id: str
    endpoint: str
    template: str | None = None
    query: str = ""
    """Appended to the receiver's callback URL (the receiver's own parameters)."""


ESMS_CASES = [
    EsmsCase("SendMultipleMessage_V4_post_json", _sms, "2",
             "esms.SendMultipleMessage_V4_post_json"),
    EsmsCase("SendMultipleMessage_V4_post_json/", _sms, "2",
             "esms.SendMultipleMessage_V4_post_json", query="?token=abc"),
    EsmsCase("SendMultipleMessage_V4_get", _sms, "2", "esms.SendMultipleMessage_V4_get"),
    EsmsCase("SendMultipleSMSBrandname_json", _ads, "1", "esms.SendMultipleSMSBrandname_json"),
    EsmsCase("SendZaloMessage_V4_post_json", _zns_v4, "25", "esms.SendZaloMessage_V4_post_json",
             "200607"),
    EsmsCase("SendZaloMessage_V4_post_json/", _zns_v4_journey, "27",
             "esms.SendZaloMessage_V4_post_json", "200607"),
    EsmsCase("SendZaloMessage_V5_post", _zns_v5, "25", "esms.SendZaloMessage_V5_post", "200608",
             query="?token=abc&tenant=e2e"),
    EsmsCase("SendZaloMessage_V6", _zns_v6, "25", "esms.SendZaloMessage_V6", "200609"),
    EsmsCase("Send_Multiple_Sms_OTT", _viber, "23", "esms.Send_Multiple_Sms_OTT"),
]


def _send_case(provider: Provider, receiver: Receiver, case: EsmsCase, phone: str,
               request_id: str) -> str:
    params = {"ApiKey": API_KEY, "SecretKey": SECRET_KEY, **case.build(phone),
              "RequestId": request_id, "CallbackUrl": receiver.esms + case.query}
    smsid = accepted_smsid(esms_send(provider, case.api, params))

    sent = provider.captured(smsid)
    assert sent["endpoint"] == case.endpoint and sent["error"] is None
    assert sent["method"] == ("GET" if "_get" in case.api else "POST")
    assert sent["json"].get("Phone", sent["json"].get("Phones")) in (phone, [phone])
    assert sent["json"]["CallbackUrl"] == receiver.esms + case.query
    if case.template is not None:
        assert sent["json"]["TempID"] == case.template
    return smsid


def _status(provider: Provider, smsid: str) -> dict[str, Any]:
    response = provider.http.get(f"{provider.url}{ESMS}/GetSendStatus", timeout=DEADLINE,
                                 params={"RefId": smsid, "ApiKey": API_KEY,
                                         "SecretKey": SECRET_KEY})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("case", ESMS_CASES, ids=[c.api + c.query for c in ESMS_CASES])
def test_esms_send_calls_back_with_type_and_app_ends_delivered(
    provider: Provider, receiver: Receiver, case: EsmsCase
) -> None:
    phone, request_id = "0912340000", f"e2e-{uuid.uuid4().hex}"
    smsid = _send_case(provider, receiver, case, phone, request_id)

    view = receiver.wait_for(smsid, ("delivered",))
    runs = provider.settle(smsid)
    payloads = assert_acknowledged(runs)
    assert len(payloads) == 1 and view["receipts_processed"] == 1
    callback = view["last_payload"]
    assert payloads[0]["TypeId"] == callback["TypeId"] == case.type_id
    assert callback["SMSID"] == smsid and callback["RequestId"] == request_id
    assert callback["SendStatus"] == "5" and callback["SendSuccess"] == "1"
    if case.type_id not in ("1", "27"):  # campaigns have no phone; journeys carry a Zalo user id
        assert callback["phonenumber"] == phone and callback["telcoid"] == "3"  # 091: Vinaphone
    if case.template is not None:  # ZNS; the journey example has no tempid, so neither do we
        assert callback["oaid"] == "4097311281936189049"
        assert callback.get("tempid") == (None if case.type_id == "27" else case.template)

    # The callback is a GET to CallbackUrl, eSMS's parameters appended with '&' after the app's.
    (url,) = {a["request"]["url"] for run in runs for a in run["attempts"]}
    assert {a["request"]["method"] for run in runs for a in run["attempts"]} == {"GET"}
    split = urlsplit(url)
    assert f"{split.scheme}://{split.netloc}{split.path}" == receiver.esms
    own = case.query.lstrip("?")
    assert split.query.startswith(f"{own}&SMSID=" if own else "SMSID="), url
    assert parse_qs(split.query)["SMSID"] == [smsid]
    if own:
        assert callback["token"] == "abc"

    status = _status(provider, smsid)
    assert status == {"CodeResponse": "100", "SMSID": smsid, "SendFailed": 0, "SendStatus": 5,
                      "SendSuccess": 1, "TotalPrice": status["TotalPrice"], "TotalReceiver": 1,
                      "TotalSent": 1}
    assert status["TotalPrice"] == float(callback["TotalPrice"])
    queries = [s for s in provider.admin("/sent")["sent"]
               if s["endpoint"] == "esms.GetSendStatus" and s["json"]["RefId"] == smsid]
    assert len(queries) == 1 and queries[0]["response"] == status
    assert queries[0]["message_ids"] == [smsid] and queries[0]["run_ids"] == []


ESMS_BY_API = {c.api: c for c in ESMS_CASES}


@pytest.mark.parametrize(
    ("api", "phone", "final", "duplicates"),
    [
        ("SendMultipleMessage_V4_post_json", "0912341111", "failed", 0),
        ("SendZaloMessage_V6", "84912341111", "failed", 0),
        ("SendMultipleMessage_V4_get", "0912343333", "delivered", 1),
        ("SendZaloMessage_V5_post", "+84912343333", "delivered", 1),
        ("Send_Multiple_Sms_OTT", "0912344444", "delivered", 0),
        ("SendZaloMessage_V4_post_json", "0912344444", "delivered", 0),
    ],
)
def test_esms_outcome_by_number_reaches_the_app(
    provider: Provider, receiver: Receiver, api: str, phone: str, final: str, duplicates: int
) -> None:
    case = ESMS_BY_API[api]
    smsid = _send_case(provider, receiver, case, phone, f"e2e-{uuid.uuid4().hex}")

    view = receiver.wait_for(smsid, (final,))
    payloads = assert_acknowledged(provider.settle(smsid))
    assert len(payloads) == 1 + duplicates and payloads[0]["TypeId"] == case.type_id
    view = message_status(receiver.app, smsid)
    assert view is not None and view["status"] == final
    assert view["receipts_processed"] == 1 and view["duplicates_ignored"] == duplicates
    if final == "failed" and case.template is not None:  # ZNS: Zalo's error code recorded
        assert isinstance(view["error_code"], int) and view["error_code"] != 0
        assert view["last_payload"]["error_info"]
    elif final == "failed":
        assert view["last_payload"]["SendFailed"] == "1" and view["error_message"]

    status = _status(provider, smsid)
    assert status["CodeResponse"] == "100" and status["SendStatus"] == 5
    assert (status["SendSuccess"], status["SendFailed"]) == \
        ((0, 1) if final == "failed" else (1, 0))


def test_esms_reused_request_id_is_refused(provider: Provider, receiver: Receiver) -> None:
    request_id = f"e2e-{uuid.uuid4().hex}"
    case = ESMS_BY_API["SendMultipleMessage_V4_post_json"]
    _send_case(provider, receiver, case, "0912340000", request_id)
    params = {"ApiKey": API_KEY, "SecretKey": SECRET_KEY, **_sms("0912340000"),
              "RequestId": request_id, "CallbackUrl": receiver.esms}
    answer = esms_send(provider, case.api, params).json()
    assert answer["CodeResult"] == "124" and "Request exist" in answer["ErrorMessage"]


# ----------------------------------------------------------------------------------- bad input
TEN_MB = b"{" + b" " * (10 * 1024 * 1024) + b"}"


def _chunks(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "shape", "code"),
    [
        pytest.param("POST", "/v1/zalo/mt", b'{"appkey": "x", "phone": ', 200, "nxcloud", 1002,
                     id="nxcloud-malformed-json"),
        pytest.param("GET", "/v1/zalo/mt", b"", 405, "nxcloud", 9000, id="nxcloud-mt-GET"),
        pytest.param("DELETE", "/v1/zalo/initJourneyToken", b"", 405, "nxcloud", 9000,
                     id="nxcloud-journey-DELETE"),
        pytest.param("POST", "/v1/zalo/mt", TEN_MB, 413, "nxcloud", 1002, id="nxcloud-10MB"),
        pytest.param("POST", "/v1/zalo/initJourneyToken", "chunked", 413, "nxcloud", 1002,
                     id="nxcloud-10MB-chunked"),
        pytest.param("POST", f"{ESMS}/SendZaloMessage_V6", b'{"ApiKey": [', 200, "esms", None,
                     id="esms-malformed-json"),
        pytest.param("POST", f"{ESMS}/SendMultipleMessage_V4_post_json", b"\xff\xfe\x00", 200,
                     "esms", None, id="esms-not-utf8"),
        pytest.param("GET", f"{ESMS}/SendMultipleMessage_V4_post_json/", b"", 405, "esms", None,
                     id="esms-post-api-GET"),
        pytest.param("PUT", f"{ESMS}/SendMultipleMessage_V4_get", b"{}", 405, "esms", None,
                     id="esms-get-api-PUT"),
        pytest.param("POST", f"{ESMS}/SendMultipleSMSBrandname_json", TEN_MB, 413, "esms", None,
                     id="esms-10MB"),
        pytest.param("POST", f"{ESMS}/Send_Multiple_Sms_OTT", "chunked", 413, "esms", None,
                     id="esms-10MB-chunked"),
        pytest.param("POST", f"{ESMS}/GetSendStatus", b"", 405, "esms", None,
                     id="esms-status-POST"),
        pytest.param("GET", f"{ESMS}/SendSms_V9", b"", 404, "esms", None, id="esms-unknown-api"),
    ],
)
def test_bad_input_on_a_real_socket_gets_the_provider_shape_never_a_500(
    provider: Provider, method: str, path: str, body: bytes | str, status: int, shape: str,
    code: int | None,
) -> None:
    headers = {"Content-Type": "application/json"}
    if shape == "nxcloud" and status == 200:  # valid headers, so the body is what is judged
        headers.update(accessKey=ACCESS_KEY, ts=str(int(time.time() * 1000)), bizType="9",
                       action="mt")
        assert isinstance(body, bytes)
        headers["sign"] = sign(headers, body, ACCESS_SECRET)
    data = _chunks(TEN_MB) if body == "chunked" else body
    response = provider.http.request(method, f"{provider.url}{path}", data=data,
                                     headers=headers, timeout=DEADLINE)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    if shape == "nxcloud":
        answer = response.json()
        assert set(answer) == {"code", "message", "traceId"} and answer["code"] == code, answer
    else:  # eSMS's documented answer to an invalid request, whatever the API
        invalid_request(response, status)
    if status == 405:
        assert response.headers["Allow"] in ("GET", "POST")
    # The server is still healthy and counted no internal error.
    assert provider.admin("/health")["errors"] == 0
