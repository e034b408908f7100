"""A sent message lives as it does at the provider: the answer first, receipts later, a status
in between, held messages, rules, accounts, truthful times, journeys used or expired.

Everything goes over real sockets the way a real app uses the provider: a small OTP app keeps a
challenge PENDING when it sends and SENT when the callback comes, keys callbacks by the SMSID the
send answered and answers 400 to one it does not know, and registers its eSMS route for GET.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from flask import Flask, request
from werkzeug.serving import make_server

from mock_server import MockProvider, decode_error_info
from mock_server.sendapi import sign

API_KEY, SECRET_KEY = "dlrmock-api-key", "dlrmock-secret-key"
ACCESS_KEY, ACCESS_SECRET = "dlrmock-access-key", "dlrmock-secret"
ESMS_SEND = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
ESMS_STATUS = "/MainService.svc/json/GetSendStatus"
CHINA, VIETNAM = timezone(timedelta(hours=8)), timezone(timedelta(hours=7))


# ------------------------------------------------------------------------------ the OTP app
class OtpApp:
    """An app as they are written: PENDING on send, SENT on callback, keyed by its own record."""

    def __init__(self) -> None:
        self.challenges: dict[str, str] = {}
        self.arrivals: list[tuple[float, str, dict[str, Any]]] = []
        self.unknown: list[str] = []
        self.lock = threading.Lock()
        app = Flask("otp-app")

        @app.get("/esms/callback")  # eSMS calls back with GET
        def esms_callback() -> tuple[str, int]:
            return self._received("esms", dict(request.args), request.args.get("SMSID", ""))

        @app.post("/nxcloud/receipts")
        def nxcloud_callback() -> tuple[str, int]:
            body = request.get_json(force=True)
            key = body.get("requestId") or body.get("journeyId") or ""
            return self._received("nxcloud", body, key)

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _received(self, provider: str, payload: dict[str, Any], key: str) -> tuple[str, int]:
        with self.lock:
            self.arrivals.append((time.time(), provider, payload))
            if key not in self.challenges:
                self.unknown.append(key)
                return "unknown message", 400
            status = payload.get("status") or payload.get("SendStatus")
            failed = payload.get("status") == "failed" or payload.get("SendSuccess") == "0"
            self.challenges[key] = "FAILED" if failed else "SENT" if status else "PENDING"
        return "ok", 200

    def send_otp(self, provider_url: str, phone: str, content: str = "Your code is 4821",
                 **extra: Any) -> str:
        answer = requests.post(provider_url + ESMS_SEND, json={
            "ApiKey": API_KEY, "SecretKey": SECRET_KEY, "Phone": phone, "Content": content,
            "Brandname": "Baotrixemay", "SmsType": "2", "IsUnicode": 0,
            "CallbackUrl": f"{self.url}/esms/callback?token=abc&id=7", **extra,
        }, timeout=10).json()
        assert answer["CodeResult"] == "100", answer
        with self.lock:
            self.challenges[answer["SMSID"]] = "PENDING"
        return str(answer["SMSID"])

    def calls(self, key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for _, _, p in self.arrivals
                    if key in (p.get("SMSID"), p.get("requestId"), p.get("journeyId"))]

    def wait_calls(self, key: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.calls(key)) < count:
            assert time.monotonic() < deadline, f"{key}: {len(self.calls(key))} of {count} calls"
            time.sleep(0.01)
        return self.calls(key)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def otp_app() -> Iterator[OtpApp]:
    app = OtpApp()
    yield app
    app.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., MockProvider]]:
    started: list[MockProvider] = []

    def start(**config: Any) -> MockProvider:
        provider = MockProvider(config).start()
        started.append(provider)
        return provider

    yield start
    for provider in started:
        provider.stop()


def status(provider: MockProvider, smsid: str) -> dict[str, Any]:
    answer = requests.get(provider.url + ESMS_STATUS, params={
        "RefId": smsid, "ApiKey": API_KEY, "SecretKey": SECRET_KEY}, timeout=10).json()
    assert answer["CodeResponse"] == "100", answer
    return dict(answer)


def nx_post(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    headers = {"accessKey": ACCESS_KEY, "ts": str(int(time.time() * 1000)), "bizType": "9",
               "action": "mt", "Content-Type": "application/json"}
    headers["sign"] = sign(headers, raw, ACCESS_SECRET)
    answer: dict[str, Any] = requests.post(url + path, data=raw, headers=headers,
                                           timeout=10).json()
    return answer


# ------------------------------------------------------------------------------ answer first
def test_a_callback_leaves_only_once_the_answer_of_its_send_is_written(
    serve: Callable[..., MockProvider]
) -> None:
    # No delay at all, the strictest case. The client does not read its answer; when the
    # callback reaches the webhook, the whole answer must already wait in the client's socket.
    provider = serve(time_scale=0, send={"receipt_delay": 0, "answer_margin": 0})
    client: list[socket.socket] = []
    written: list[bool] = []
    app = Flask("probe")

    @app.get("/esms")
    def callback() -> str:
        readable, _, _ = select.select(client, [], [], 0)
        written.append(bool(readable))
        return "ok"

    hook = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        for i in range(20):
            body = json.dumps({
                "ApiKey": API_KEY, "SecretKey": SECRET_KEY, "Phone": f"09123450{i:02d}",
                "Content": "x", "SmsType": "2", "Brandname": "B",
                "CallbackUrl": f"http://127.0.0.1:{hook.port}/esms"}).encode()
            sock = socket.create_connection(("127.0.0.1", provider.port))
            client[:] = [sock]
            sock.sendall(b"POST " + ESMS_SEND.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            deadline = time.monotonic() + 10
            while len(written) <= i and time.monotonic() < deadline:
                time.sleep(0.002)
            answer = sock.makefile("rb").read()
            sock.close()
            assert b'"CodeResult": "100"' in answer
    finally:
        hook.shutdown()
    assert written == [True] * 20


def test_an_app_that_reads_its_answer_then_stores_it_never_sees_an_unknown_callback(
    serve: Callable[..., MockProvider], otp_app: OtpApp
) -> None:
    provider = serve(time_scale=1, send={"receipt_delay": 0.2})
    smsids = [otp_app.send_otp(provider.url, f"09123450{i:02d}") for i in range(10)]

    for smsid in smsids:
        otp_app.wait_calls(smsid, 1)
    assert otp_app.unknown == []
    assert set(otp_app.challenges.values()) == {"SENT"}


def test_the_first_receipt_comes_the_configured_delay_after_the_answer(
    serve: Callable[..., MockProvider], otp_app: OtpApp
) -> None:
    provider = serve(time_scale=1, send={"receipt_delay": 0.4})
    started = time.time()
    smsid = otp_app.send_otp(provider.url, "0912345678")
    otp_app.wait_calls(smsid, 1)
    [(arrived, _, _)] = otp_app.arrivals
    assert arrived - started >= 0.4


# ------------------------------------------------------------------------ status follows time
def test_get_send_status_is_pending_until_the_callback_then_final(
    serve: Callable[..., MockProvider], otp_app: OtpApp
) -> None:
    provider = serve(time_scale=1, send={"receipt_delay": 0.6})
    smsid = otp_app.send_otp(provider.url, "0912345678")

    time.sleep(0.1)  # an app that polls right after sending
    early = status(provider, smsid)
    assert (early["SendStatus"], early["SendSuccess"], early["TotalSent"]) == (2, 0, 0)
    assert otp_app.challenges[smsid] == "PENDING"
    assert provider.message(smsid).state == "pending"

    otp_app.wait_calls(smsid, 1)
    provider.message(smsid).wait("final", 5)
    late = status(provider, smsid)
    assert (late["SendStatus"], late["SendSuccess"], late["TotalSent"]) == (5, 1, 1)
    assert late["TotalPrice"] == 650.0
    assert otp_app.challenges[smsid] == "SENT"


def test_the_status_survives_the_eviction_of_its_run_from_the_journal(
    serve: Callable[..., MockProvider], otp_app: OtpApp
) -> None:
    provider = serve(time_scale=0, journal_limit=1)
    first = otp_app.send_otp(provider.url, "0912345678")
    provider.message(first).wait("final", 5)
    for i in range(3):  # each run evicts the one before
        provider.message(otp_app.send_otp(provider.url, f"091234560{i}")).wait("final", 5)

    assert provider.state.engine.journal.stats()["evicted_runs"] >= 3
    answer = status(provider, first)
    assert (answer["SendStatus"], answer["SendSuccess"], answer["TotalSent"]) == (5, 1, 1)


def test_a_sandbox_send_is_free(serve: Callable[..., MockProvider], otp_app: OtpApp) -> None:
    provider = serve(time_scale=0)
    smsid = otp_app.send_otp(provider.url, "0912345678", Sandbox=1)

    [callback] = otp_app.wait_calls(smsid, 1)
    provider.message(smsid).wait("final", 5)
    assert callback["TotalPrice"] == "0.0000"
    assert status(provider, smsid)["TotalPrice"] == 0


# ----------------------------------------------------------------- late, never, twice, held
def test_an_app_sees_late_missing_and_duplicate_callbacks_without_changes(
    serve: Callable[..., MockProvider], otp_app: OtpApp
) -> None:
    provider = serve(time_scale=0)
    late = otp_app.send_otp(provider.url, "0912340000")
    never = otp_app.send_otp(provider.url, "0912342222")
    twice = otp_app.send_otp(provider.url, "0912343333")

    assert len(otp_app.wait_calls(twice, 2)) == 2
    otp_app.wait_calls(late, 1)
    provider.message(never).wait("final", 5)
    assert otp_app.calls(never) == []
    assert otp_app.challenges == {late: "SENT", never: "PENDING", twice: "SENT"}


def test_a_held_message_gets_nothing_until_released_then_exactly_that_outcome(
    serve: Callable[..., MockProvider], otp_app: OtpApp
) -> None:
    provider = serve(time_scale=0)
    smsid = otp_app.send_otp(provider.url, "0912346666")  # 6666: hold

    time.sleep(0.3)
    assert otp_app.calls(smsid) == []
    message = provider.message(smsid)
    assert message.state == "held"
    assert status(provider, smsid)["SendStatus"] == 2
    listed = requests.get(provider.url + "/_dlrmock/messages?state=held", timeout=5).json()
    assert [m["id"] for m in listed["messages"]] == [smsid]

    released = requests.post(provider.url + f"/_dlrmock/messages/{smsid}/release",
                             json={"outcome": "failed"}, timeout=5)
    assert released.status_code == 200, released.text
    [callback] = otp_app.wait_calls(smsid, 1)
    provider.message(smsid).wait("final", 5)
    assert (callback["SendSuccess"], callback["SendFailed"]) == ("0", "1")
    assert otp_app.challenges[smsid] == "FAILED"
    again = requests.post(provider.url + f"/_dlrmock/messages/{smsid}/release",
                          json={"outcome": "delivered"}, timeout=5)
    assert again.status_code == 409 and "not held" in again.json()["message"]
    time.sleep(0.2)
    assert len(otp_app.calls(smsid)) == 1


@pytest.mark.parametrize(("body", "status_code", "says"), [
    ({"outcome": "deliverd"}, 400, "unknown outcome 'deliverd'"),
    ({"scenario": "nxcloud.zalo.failed"}, 400, "for this esms message"),
    ({"scenario": "../etc/passwd.yaml"}, 400, "name a built-in"),
    ({}, 400, "exactly one of 'outcome'"),
    ({"outcome": "failed", "colour": 1}, 400, "unknown field 'colour'"),
])
def test_a_bad_release_is_a_4xx_naming_the_value(
    serve: Callable[..., MockProvider], otp_app: OtpApp, body: dict[str, Any],
    status_code: int, says: str
) -> None:
    provider = serve(time_scale=0)
    smsid = otp_app.send_otp(provider.url, "0912346666")
    answer = requests.post(provider.url + f"/_dlrmock/messages/{smsid}/release", json=body,
                           timeout=5)
    assert answer.status_code == status_code and says in answer.json()["message"]
    assert provider.message(smsid).state == "held"


def test_releasing_an_unknown_message_is_404(serve: Callable[..., MockProvider]) -> None:
    provider = serve(time_scale=0)
    answer = requests.post(provider.url + "/_dlrmock/messages/nope/release",
                           json={"outcome": "failed"}, timeout=5)
    assert answer.status_code == 404 and "no sent message 'nope'" in answer.json()["message"]


def test_a_rule_on_content_makes_one_message_fail_and_says_why(
    serve: Callable[..., MockProvider], otp_app: OtpApp
) -> None:
    provider = serve(time_scale=0, send={"rules": [
        {"match": {"content": "FAILME"}, "outcome": "failed"},
        {"match": {"phone": "^0987"}, "outcome": "hold"},
    ]})
    bad = otp_app.send_otp(provider.url, "0912345678", content="code 1 FAILME")
    good = otp_app.send_otp(provider.url, "0912345678", content="code 2")

    assert otp_app.wait_calls(bad, 1)[0]["SendFailed"] == "1"
    assert otp_app.wait_calls(good, 1)[0]["SendSuccess"] == "1"
    explain = {s.message_ids[0]: s.explain for s in provider.sent}
    assert explain[bad] == "0912345678: failed (send.rules[0])"
    assert explain[good] == "0912345678: delivered (default_outcome)"


def test_the_scenario_header_wins_over_rules_and_rules_over_numbers(
    serve: Callable[..., MockProvider], otp_app: OtpApp
) -> None:
    provider = serve(time_scale=0, send={"rules": [{"match": {"phone": "1111$"},
                                                    "outcome": "delivered"}]})
    by_rule = otp_app.send_otp(provider.url, "0912341111")
    answer = requests.post(provider.url + ESMS_SEND, headers={"X-Dlrmock-Scenario": "failed"},
                           json={"ApiKey": API_KEY, "SecretKey": SECRET_KEY,
                                 "Phone": "0912341111", "Content": "x", "SmsType": "2",
                                 "Brandname": "B", "CallbackUrl": otp_app.url + "/esms/callback"},
                           timeout=5)
    by_header = answer.json()["SMSID"]
    otp_app.challenges[by_header] = "PENDING"

    assert otp_app.wait_calls(by_rule, 1)[0]["SendSuccess"] == "1"
    assert otp_app.wait_calls(by_header, 1)[0]["SendFailed"] == "1"
    assert answer.headers["X-Dlrmock-Explain"] == (
        "0912341111: failed (the X-Dlrmock-Scenario header)")


# -------------------------------------------------------------------------- https callbacks
@pytest.fixture(scope="module")
def tls_webhook() -> Iterator[tuple[str, list[str]]]:
    """An https:// webhook whose certificate no system trust store knows."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    seen: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    seen.append(tls.recv(65536).decode("latin-1"))
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (ssl.SSLError, OSError):
                conn.close()

    threading.Thread(target=accept, daemon=True).start()
    yield f"https://127.0.0.1:{port}/esms/callback?token=abc", seen
    listener.close()


def test_an_https_callback_url_is_accepted_and_its_delivery_journaled(
    serve: Callable[..., MockProvider], tls_webhook: tuple[str, list[str]]
) -> None:
    url, seen = tls_webhook
    provider = serve(time_scale=0)
    answer = requests.post(provider.url + ESMS_SEND, json={
        "ApiKey": API_KEY, "SecretKey": SECRET_KEY, "Phone": "0912345678", "Content": "x",
        "SmsType": "2", "Brandname": "B", "CallbackUrl": url}, timeout=5).json()

    assert answer["CodeResult"] == "100"
    message = provider.message(answer["SMSID"]).wait("final", 10)
    run = provider.state.engine.get(message.run_ids[0])
    assert run.attempts[0].outcome == "tls_error"
    assert "certificate verify failed" in (run.attempts[0].error or "")
    assert seen == []  # nothing readable reached the webhook


def test_an_unreachable_https_drwebhook_does_not_change_the_nxcloud_answer(
    serve: Callable[..., MockProvider]
) -> None:
    provider = serve(time_scale=0)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    answer = nx_post(provider.url, "/v1/zalo/mt", {
        "appkey": "a", "phone": "84912345678", "functionType": "template",
        "messageData": {"templateId": "1", "templateData": {}},
        "drWebhook": f"https://127.0.0.1:{port}/receipts"})

    assert answer["code"] == 0
    message = provider.message(answer["data"]["requestId"]).wait("final", 10)
    outcomes = {a.outcome for a in provider.state.engine.get(message.run_ids[0]).attempts}
    assert outcomes == {"refused"}


# ---------------------------------------------------------------------------- truthful times
def _times(provider: str, payload: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(field, earliest, latest) epoch seconds each time field can stand for."""
    found: list[tuple[str, float, float]] = []
    if provider == "nxcloud":
        if "sendTime" in payload:
            moment = datetime.strptime(payload["sendTime"], "%Y-%m-%d %H:%M:%S")
            start = moment.replace(tzinfo=CHINA).timestamp()
            found.append(("sendTime", start, start + 1))
        sent_time = (payload.get("zaloRes") or {}).get("data") or {}
        if "sent_time" in sent_time:
            found.append(("sent_time", int(sent_time["sent_time"]) / 1000,
                          int(sent_time["sent_time"]) / 1000 + 0.001))
        if "timestamp" in payload:
            found.append(("timestamp", int(payload["timestamp"]) / 1000,
                          int(payload["timestamp"]) / 1000 + 0.001))
    elif "error_info" in payload:
        decoded = decode_error_info(payload["error_info"])
        if decoded.timestamp is not None:
            start = decoded.timestamp.replace(tzinfo=VIETNAM).timestamp()
            found.append(("error_info timestamp", start, start + 1))
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_time_field_of_a_real_send_is_before_the_send_or_after_its_arrival(
    serve: Callable[..., MockProvider], otp_app: OtpApp, seed: int
) -> None:
    provider = serve(time_scale=0, seed=seed,
                     send={"nxcloud_default_webhook": otp_app.url + "/nxcloud/receipts"})
    sends: list[tuple[float, str]] = []
    hook = otp_app.url + "/nxcloud/receipts"
    for phone in ("84912340000", "84912341111", "84912343333", "84912344444"):
        before = time.time()
        answer = nx_post(provider.url, "/v1/zalo/mt", {
            "appkey": "a", "phone": phone, "functionType": "template",
            "messageData": {"templateId": "1", "templateData": {}}, "drWebhook": hook})
        otp_app.challenges[answer["data"]["requestId"]] = "PENDING"
        sends.append((before, answer["data"]["requestId"]))
    # A journey: its token used (success, journey_acknowledged) ...
    token = nx_post(provider.url, "/v1/zalo/initJourneyToken",
                    {"appkey": "a", "phone": "84912345678", "tokenType": "token_logistics_7"})
    before = time.time()
    used = nx_post(provider.url, "/v1/zalo/mt", {
        "appkey": "a", "phone": "84912345678", "functionType": "template",
        "messageData": {"templateId": "1", "templateData": {}, "journeyToken":
                        token["data"]["token"]}, "drWebhook": hook})
    otp_app.challenges[used["data"]["requestId"]] = "PENDING"
    sends.append((before, used["data"]["requestId"]))
    # ... and one left to expire (its expiry waits on a manual clock at time scale 0).
    before = time.time()
    unused = nx_post(provider.url, "/v1/zalo/initJourneyToken",
                     {"appkey": "a", "phone": "84912345679", "tokenType": "token_logistics_30"})
    journey_id = unused["data"]["journeyId"]
    otp_app.challenges[journey_id] = "PENDING"
    sends.append((before, journey_id))
    [expiry] = provider.message(journey_id).run_ids
    time.sleep(0.05)
    provider.state.engine.get(expiry).advance(30 * 86400)
    for kind in ("2", "8", "23"):
        before = time.time()
        smsid = otp_app.send_otp(provider.url, "0912345678", SmsType=kind)
        sends.append((before, smsid))
    for zns in ({"SendingMode": 1}, {"SendingMode": 3}, {"IsJourney": 1, "OrderId": "o-1"}):
        before = time.time()
        answer = requests.post(provider.url + "/MainService.svc/json/SendZaloMessage_V6/", json={
            "ApiKey": API_KEY, "SecretKey": SECRET_KEY, "Phone": "0912345678", "OAID": "1",
            "TempID": "2", "TempData": {"otp": "1"}, **zns,
            "CallbackUrl": otp_app.url + "/esms/callback"}, timeout=5).json()
        otp_app.challenges[answer["SMSID"]] = "PENDING"
        sends.append((before, answer["SMSID"]))

    for _, key in sends:
        provider.message(key).wait("final", 10)
    checked = 0
    for sent_at, key in sends:
        for arrived, source, payload in [a for a in otp_app.arrivals
                                         if key in (a[2].get("SMSID"), a[2].get("requestId"),
                                                    a[2].get("journeyId"))]:
            for name, earliest, latest in _times(source, payload):
                checked += 1
                assert latest >= sent_at - 0.001 and earliest <= arrived, (name, payload)
    kinds = {p.get("status") for _, s, p in otp_app.arrivals if s == "nxcloud"}
    assert kinds >= {"success", "failed", "delivered", "journey_acknowledged",
                     "journey_time_out"}
    assert checked >= 12
    # Millisecond stamps have millisecond precision, not whole seconds.
    stamps = [p["timestamp"] for _, s, p in otp_app.arrivals if "timestamp" in p]
    assert any(not str(s).endswith("000") for s in stamps) or len(stamps) < 2


# ------------------------------------------------------------------------- one account, one world
def test_one_account_keeps_its_currency_price_and_a_falling_quota(
    serve: Callable[..., MockProvider], otp_app: OtpApp
) -> None:
    hook = otp_app.url + "/nxcloud/receipts"
    provider = serve(time_scale=0, send={"nxcloud_currency": "VND", "nxcloud_zns_price": 300,
                                         "nxcloud_daily_quota": 500})
    ids = []
    for _ in range(3):
        answer = nx_post(provider.url, "/v1/zalo/mt", {
            "appkey": "a", "phone": "84912345678", "functionType": "template",
            "messageData": {"templateId": "1", "templateData": {}}, "drWebhook": hook})
        ids.append(answer["data"]["requestId"])
        otp_app.challenges[ids[-1]] = "PENDING"
    successes = [next(p for p in otp_app.wait_calls(i, 2) if p["status"] == "success")
                 for i in ids]

    assert {s["cost"]["currency"] for s in successes} == {"VND"}
    assert {s["cost"]["originalPrice"] for s in successes} == {300}
    assert [s["zaloRes"]["data"]["quota"]["remainingQuota"] for s in successes] == [
        "499", "498", "497"]


# -------------------------------------------------------------------- journeys: used or expired
def test_a_journey_token_used_while_its_expiry_is_in_flight_is_refused(
    serve: Callable[..., MockProvider]
) -> None:
    got: list[dict[str, Any]] = []
    answered = threading.Event()
    app = Flask("slow-hook")

    @app.post("/receipts")
    def receipts() -> str:
        got.append(request.get_json(force=True))
        answered.wait(5)  # the webhook is slow to answer the journey_time_out
        return "ok"

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.port}/receipts"
    try:
        provider = serve(time_scale=0, send={"nxcloud_default_webhook": hook})
        token = nx_post(provider.url, "/v1/zalo/initJourneyToken",
                        {"appkey": "a", "phone": "84912345678",
                         "tokenType": "token_logistics_7"})["data"]
        [expiry] = provider.message(token["journeyId"]).run_ids
        run = provider.state.engine.get(expiry)
        mover = threading.Thread(target=lambda: run.advance(7 * 86400, timeout=10))
        mover.start()
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [g["status"] for g in got] == ["journey_time_out"]

        answer = nx_post(provider.url, "/v1/zalo/mt", {
            "appkey": "a", "phone": "84912345678", "functionType": "template",
            "messageData": {"templateId": "1", "templateData": {},
                            "journeyToken": token["token"]}, "drWebhook": hook})
        answered.set()
        mover.join(10)
        assert answer["code"] == 9000 and "expired" in answer["message"]
        time.sleep(0.2)
        assert [g["status"] for g in got] == ["journey_time_out"]
    finally:
        answered.set()
        server.shutdown()


def test_a_used_journey_token_never_times_out(serve: Callable[..., MockProvider],
                                              otp_app: OtpApp) -> None:
    hook = otp_app.url + "/nxcloud/receipts"
    provider = serve(time_scale=0, send={"nxcloud_default_webhook": hook})
    token = nx_post(provider.url, "/v1/zalo/initJourneyToken",
                    {"appkey": "a", "phone": "84912345678", "tokenType": "token_logistics_7"})
    journey_id = token["data"]["journeyId"]
    otp_app.challenges[journey_id] = "PENDING"
    [expiry] = provider.message(journey_id).run_ids
    used = nx_post(provider.url, "/v1/zalo/mt", {
        "appkey": "a", "phone": "84912345678", "functionType": "template",
        "messageData": {"templateId": "1", "templateData": {},
                        "journeyToken": token["data"]["token"]}, "drWebhook": hook})
    otp_app.challenges[used["data"]["requestId"]] = "PENDING"

    provider.message(used["data"]["requestId"]).wait("final", 5)
    run = provider.state.engine.get(expiry).wait(5)
    assert run.state == "cancelled"
    statuses = [p["status"] for p in otp_app.calls(journey_id)]
    assert "journey_time_out" not in statuses and "journey_acknowledged" in statuses


# ------------------------------------------------------------------------------- the plugin
def test_the_plugin_lists_messages_and_releases_a_held_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(r'''
        import requests

        def test_hold_and_release(dlrmock):
            api = "/MainService.svc/json/SendMultipleMessage_V4_post_json"
            answer = requests.post(dlrmock.url + api, json={
                "ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key",
                "Phone": "0912346666", "Content": "x", "SmsType": "2", "Brandname": "B",
                "CallbackUrl": "http://127.0.0.1:9/never"}).json()
            [message] = dlrmock.messages
            assert message.id == answer["SMSID"] and message.state == "held"
            message.release("failed")
            assert message.wait("final", 10).state == "final"
            assert dlrmock.message(answer["SMSID"]).parts[0]["outcome"] == "failed"
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# ---------------------------------------------------------------------- against dlrmock serve
def test_an_app_runs_its_whole_otp_flow_against_dlrmock_serve(
    otp_app: OtpApp, tmp_path: Path
) -> None:
    """The issue's "done when": PENDING on send, SENT on callback; late, never, twice and held
    callbacks, all against ``dlrmock serve`` with nothing changed in the app but its base URL."""
    from test_sendapi_e2e import _start_provider, _stop_provider

    config = tmp_path / "dlrmock.yaml"
    config.write_text(
        "send:\n"
        "  receipt_delay: 0.4\n"
        "  rules:\n"
        "    - match: {content: HOLDME}\n"
        "      outcome: hold\n", "utf-8")
    server = _start_provider(tmp_path, "--config", str(config), "--time-scale", "1")
    try:
        sent_at = time.time()
        late = otp_app.send_otp(server.url, "0912340000")
        polled = requests.get(server.url + ESMS_STATUS, params={
            "RefId": late, "ApiKey": API_KEY, "SecretKey": SECRET_KEY}, timeout=5).json()
        assert polled["SendStatus"] == 2 and otp_app.challenges[late] == "PENDING"
        never = otp_app.send_otp(server.url, "0912342222")
        twice = otp_app.send_otp(server.url, "0912343333")
        held = otp_app.send_otp(server.url, "0912345678", content="HOLDME 4821")

        otp_app.wait_calls(late, 1)
        assert otp_app.arrivals[0][0] - sent_at >= 0.4
        assert len(otp_app.wait_calls(twice, 2)) == 2
        time.sleep(0.5)
        assert otp_app.calls(never) == [] and otp_app.calls(held) == []
        assert otp_app.challenges == {late: "SENT", never: "PENDING", twice: "SENT",
                                      held: "PENDING"}

        released = server.http.post(f"{server.url}/_dlrmock/messages/{held}/release",
                                     json={"outcome": "delivered"}, timeout=5)
        assert released.status_code == 200, released.text
        otp_app.wait_calls(held, 1)
        assert otp_app.challenges[held] == "SENT"
        final = requests.get(server.url + ESMS_STATUS, params={
            "RefId": late, "ApiKey": API_KEY, "SecretKey": SECRET_KEY}, timeout=5).json()
        assert (final["SendStatus"], final["SendSuccess"]) == (5, 1)
    finally:
        _stop_provider(server)


def test_a_journey_token_is_refused_once_its_expiry_was_sent(
    serve: Callable[..., MockProvider], otp_app: OtpApp
) -> None:
    hook = otp_app.url + "/nxcloud/receipts"
    provider = serve(time_scale=0, send={"nxcloud_default_webhook": hook})
    token = nx_post(provider.url, "/v1/zalo/initJourneyToken",
                    {"appkey": "a", "phone": "84912345678", "tokenType": "token_coach_bus_7"})
    journey_id = token["data"]["journeyId"]
    otp_app.challenges[journey_id] = "PENDING"
    [expiry] = provider.message(journey_id).run_ids
    provider.state.engine.get(expiry).advance(7 * 86400)
    assert [p["status"] for p in otp_app.wait_calls(journey_id, 1)] == ["journey_time_out"]

    answer = nx_post(provider.url, "/v1/zalo/mt", {
        "appkey": "a", "phone": "84912345678", "functionType": "template",
        "messageData": {"templateId": "1", "templateData": {},
                        "journeyToken": token["data"]["token"]}, "drWebhook": hook})
    assert answer["code"] == 9000 and "expired" in answer["message"]
    assert provider.message(journey_id).state == "final"


@pytest.mark.parametrize("callback", ["ftp://127.0.0.1/hook", "not a url", "http://",
                                      "http://127.0.0.1:99999/hook"])
def test_an_undeliverable_callback_url_is_accepted_and_journaled_blocked(
    serve: Callable[..., MockProvider], callback: str
) -> None:
    provider = serve(time_scale=0)
    answer = requests.post(provider.url + ESMS_SEND, json={
        "ApiKey": API_KEY, "SecretKey": SECRET_KEY, "Phone": "0912345678", "Content": "x",
        "SmsType": "2", "Brandname": "B", "CallbackUrl": callback}, timeout=5).json()

    assert answer["CodeResult"] == "100"
    message = provider.message(answer["SMSID"]).wait("final", 5)
    [attempt] = provider.state.engine.get(message.run_ids[0]).attempts
    assert attempt.outcome == "blocked" and attempt.error
    assert callback in attempt.request.url
