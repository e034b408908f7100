"""NXCloud's SMS send APIs as apps call them — the legacy form ``/api/sms/mtsend`` and the
signed ``/api/sms/mtsend_v2`` and ``/v1/sms/mt`` — with every documented code, the limits the
docs state, and the delivery reports that reach the app.

Over real sockets: a :class:`MockProvider` at time scale 0 with two SMS applications
(``sms_apps``), a receiver answering ``success`` and recording each report's form, ``requests``
posting forms (with and without a Content-Type) and signing JSON the way NXCloud's PHP addon
does.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from targets import ThreadedWsgiApp
from werkzeug.wrappers import Request, Response

from mock_server import MockProvider

VECTORS = Path(__file__).resolve().parents[1] / "schemas" / "sendapi-examples" / "nxcloud"

ACCESS_KEY, ACCESS_SECRET = "dlrmock-access-key", "dlrmock-secret"
APPS = {"sms-app": "sms-secret", "sms-app-2": "other-secret"}
DEADLINE = 10.0
EXPLAIN = "X-Dlrmock-Explain"
SCENARIO = "X-Dlrmock-Scenario"
LEGACY, V2, V1 = "/api/sms/mtsend", "/api/sms/mtsend_v2", "/v1/sms/mt"


class Receiver(ThreadedWsgiApp):
    """The app's DR URL: records each report's form fields, answers ``success``."""

    def __init__(self) -> None:
        self.reports: list[dict[str, str]] = []
        super().__init__("/dr")

    @Request.application  # type: ignore[misc]
    def app(self, request: Request) -> Response:
        with self.changed:
            self.reports.append({**request.args, **request.form})
            self.changed.notify_all()
        return Response("success")

    def wait(self, messageid: str, count: int = 1) -> list[dict[str, str]]:
        """The reports whose ``messageid`` is ``messageid`` or a batch id of it."""
        def mine() -> list[dict[str, str]]:
            return [r for r in self.reports if r.get("messageid", "").split("-")[0] == messageid]

        with self.changed:
            if not self.changed.wait_for(lambda: len(mine()) >= count, DEADLINE):
                raise AssertionError(f"{count} report(s) of {messageid} expected; got {mine()}")
            return mine()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


RULES = [
    {"match": {"provider": "^nxcloud$", "content": "RULE-FAILS"}, "outcome": "failed"},
    {"match": {"template": "."}, "outcome": "failed"},  # an SMS has no template
    {"match": {"request_id": "."}, "outcome": "failed"},  # any SMS ext
    {"match": {"api": "^sms\\.mt$", "content": "V1-FAILS"}, "outcome": "failed"},
]


@pytest.fixture(scope="module")
def nxcloud(receiver: Receiver) -> Iterator[MockProvider]:
    send = {"nxcloud_default_webhook": receiver.url, "sms_apps": APPS, "rules": RULES,
            "max_body_bytes": 100_000}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(nxcloud: MockProvider) -> None:
    nxcloud.reset()


def legacy(provider: MockProvider, **fields: str) -> requests.Response:
    form = {"appkey": "sms-app", "secretkey": "sms-secret", "phone": "84912340000",
            "content": "Your code is 4821", **fields}
    return requests.post(provider.url + LEGACY, data=form, timeout=DEADLINE)


def signed(provider: MockProvider, path: str, document: dict[str, Any] | None = None, *,
           raw: bytes | None = None, headers: dict[str, str] | None = None,
           **fields: Any) -> requests.Response:
    """A signed JSON post (bizType 3, action mtsend) of ``document`` updated by ``fields``."""
    body = raw if raw is not None else json.dumps(
        {"appKey": "sms-app", "phone": "84912340000", "content": "Your code is 4821",
         **(document or {}), **fields}, ensure_ascii=False).encode()
    ts = str(int(time.time() * 1000))
    # An empty body leaves "&body=" out of the signed string (providers.md §1.2).
    to_sign = f"accessKey={ACCESS_KEY}&action=mtsend&bizType=3&ts={ts}".encode() + (
        b"&body=" + body if body else b"") + f"&accessSecret={ACCESS_SECRET}".encode()
    sent = {"Content-Type": "application/json", "accessKey": ACCESS_KEY, "ts": ts,
            "bizType": "3", "action": "mtsend", "sign": hashlib.md5(to_sign).hexdigest(),
            **(headers or {})}
    return requests.post(provider.url + path, data=body, headers=sent, timeout=DEADLINE)


def legacy_refusal(response: requests.Response, code: str, result: str) -> str:
    """The legacy error document, key order and string code as documented; the explanation."""
    assert response.status_code == 200
    assert response.text == json.dumps({"result": result, "code": code, "messageid": ""})
    return unquote(response.headers[EXPLAIN])


def v1_refusal(response: requests.Response, code: int) -> str:
    """``{"code": n, "message": …, "traceId": <32 hex>}``; the message."""
    answer = response.json()
    assert list(answer) == ["code", "message", "traceId"] and answer["code"] == code, answer
    assert re.fullmatch(r"[0-9a-f]{32}", answer["traceId"])
    return str(answer["message"])


def messageid_of(response: requests.Response) -> str:
    answer = response.json()
    assert answer.get("code") in ("0", 0), answer
    return str(answer["data"]["messageid"] if "data" in answer else answer["messageid"])


# ---------------------------------------------------------------- the legacy form API
def test_a_form_posted_as_bytes_without_a_content_type_is_read_as_the_form(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    body = b"appkey=sms-app&secretkey=sms-secret&phone=84912340000&content=abc"
    response = requests.post(nxcloud.url + LEGACY + "/", data=body, timeout=DEADLINE)
    [report] = receiver.wait(messageid_of(response))
    assert (report["phone"], report["status"]) == ("84912340000", "2")
    [captured] = nxcloud.sent
    assert (captured.provider, captured.endpoint) == ("nxcloud", "nxcloud.sms.mtsend")
    assert captured.json == {"appkey": "sms-app", "secretkey": "sms-secret",
                             "phone": "84912340000", "content": "abc"}


def test_json_posted_to_the_form_api_is_code_2_saying_it_takes_a_form(
        nxcloud: MockProvider) -> None:
    form = {"appkey": "sms-app", "secretkey": "sms-secret", "phone": "84912340000",
            "content": "abc"}
    response = requests.post(nxcloud.url + LEGACY, json=form, timeout=DEADLINE)
    explain = legacy_refusal(response, "2", "Parameter error or empty")
    assert explain.startswith("Content-Type 'application/json': this API takes an "
                              "application/x-www-form-urlencoded body, not JSON")


def test_a_form_that_is_not_utf8_is_code_2(nxcloud: MockProvider) -> None:
    body = "appkey=sms-app&secretkey=sms-secret&phone=84912340000&content=Mã".encode("latin-1")
    response = requests.post(nxcloud.url + LEGACY, data=body, timeout=DEADLINE,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert legacy_refusal(response, "2", "Parameter error or empty") == \
        "the form body is not UTF-8 text"


def test_a_form_without_a_required_field_is_code_2_naming_the_fields(
        nxcloud: MockProvider) -> None:
    form = {"appkey": "sms-app", "secretkey": "sms-secret", "phone": "84912340000"}
    response = requests.post(nxcloud.url + LEGACY, data=form, timeout=DEADLINE)
    explain = legacy_refusal(response, "2", "Parameter error or empty")
    assert explain.endswith("(the API needs the form fields appkey, secretkey, phone, content)")


def test_an_empty_phone_list_is_code_2_naming_the_field(nxcloud: MockProvider) -> None:
    explain = legacy_refusal(legacy(nxcloud, phone=" , "), "2", "Parameter error or empty")
    assert explain == "phone is empty: give the number with its country code, e.g. 84912345678"
    message = v1_refusal(signed(nxcloud, V1, phone=","), 9000)
    assert message == "phone is empty: give the number with its country code, e.g. 84912345678"


@pytest.mark.parametrize("path", [LEGACY, V1])
def test_content_of_1000_characters_is_sent_and_1001_is_too_long(
        nxcloud: MockProvider, receiver: Receiver, path: str) -> None:
    send = legacy if path == LEGACY else (lambda p, **f: signed(p, V1, **f))
    [report] = receiver.wait(messageid_of(send(nxcloud, content="a" * 1000)))
    assert report["size"] == "7"  # 1000 GSM-7 characters: 153 a part
    too_long = send(nxcloud, content="a" * 1001)
    if path == LEGACY:
        explain = legacy_refusal(too_long, "5", "Content too long")
        assert explain == "content has 1001 characters; at most 1000"
    else:
        assert v1_refusal(too_long, 9000) == "content has 1001 characters; at most 1000"


@pytest.mark.parametrize(("content", "size"), [
    ("a" * 306, "2"), ("a" * 307, "3"), ("ố" * 134, "2"), ("ố" * 135, "3"),
], ids=["gsm7-306", "gsm7-307", "ucs2-134", "ucs2-135"])
def test_the_report_size_counts_153_gsm7_or_67_ucs2_characters_a_part(
        nxcloud: MockProvider, receiver: Receiver, content: str, size: str) -> None:
    [report] = receiver.wait(messageid_of(legacy(nxcloud, content=content)))
    assert report["size"] == size


def test_a_batch_reports_each_number_as_the_messageid_and_10_random_digits(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    phones = [f"+8491234{n:04d}" for n in range(20)]
    messageid = messageid_of(legacy(nxcloud, phone=",".join(phones)))
    reports = receiver.wait(messageid, 20)
    suffixes = [r["messageid"].split("-", 1)[1] for r in reports]
    assert all(re.fullmatch(r"[0-9]{10}", s) for s in suffixes), suffixes
    assert max(int(s) for s in suffixes) > 10**8  # random over 10 digits, not zero-padded
    # The report's phone is "country code + number": the "+" the app wrote is not kept.
    assert sorted(r["phone"] for r in reports) == sorted(p[1:] for p in phones)
    message = nxcloud.message(messageid)
    assert (message.provider, message.api) == ("nxcloud", "sms.mtsend")
    assert sorted(part["phone"] for part in message.parts) == sorted(phones)


# -------------------------------------------------------------------- the SMS applications
def test_the_signed_apis_take_any_configured_app_and_refuse_others_listing_them(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    receiver.wait(messageid_of(signed(nxcloud, V2, appKey="sms-app-2")))
    receiver.wait(messageid_of(signed(nxcloud, V1, appKey="sms-app")))
    message = v1_refusal(signed(nxcloud, V1, appKey="nobody"), 9003)
    assert message == ("unknown SMS application appkey 'nobody'; the sms_apps setting lists "
                       "sms-app, sms-app-2")
    legacy_refusal(signed(nxcloud, V2, appKey="nobody"), "1",
                   "Application unavailable or incorrect key")


def test_a_wrong_secretkey_is_code_1_saying_how_apps_map_to_secrets(
        nxcloud: MockProvider) -> None:
    explain = legacy_refusal(legacy(nxcloud, secretkey="other-secret"), "1",
                             "Application unavailable or incorrect key")
    assert explain == ("wrong secretkey for SMS application 'sms-app' (the sms_apps setting "
                       "maps appkey to secretkey)")


# ---------------------------------------------------------------- signed: body and fields
def test_a_signed_legacy_shaped_api_answers_body_errors_with_code_2(
        nxcloud: MockProvider) -> None:
    for response in (signed(nxcloud, V2, raw=b""), signed(nxcloud, V2, raw=b"{not json"),
                     signed(nxcloud, V2, {"content": None})):
        legacy_refusal(response, "2", "Parameter error or empty")
    v1_refusal(signed(nxcloud, V1, raw=b""), 9000)


def test_signed_field_errors_name_the_camel_case_field(nxcloud: MockProvider) -> None:
    assert v1_refusal(signed(nxcloud, V1, content=" "), 9000) == "content is empty"
    assert v1_refusal(signed(nxcloud, V1, sourceAddress="no spaces"), 9000) == \
        "sourceAddress 'no spaces' must be 1-20 digits or letters"
    assert v1_refusal(signed(nxcloud, V1, sysMessageId="short"), 9000) == \
        "sysMessageId 'short' must be 10-50 characters of 0-9, a-z, A-Z and '-'"
    assert v1_refusal(signed(nxcloud, V1, phone="84912340000,0912"), 9002) == \
        ("invalid number '0912': digits with the country code, e.g. 84912345678 (several: "
         "comma-separated)")


def test_each_signed_api_is_its_own_api_for_messages_and_rules(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    v2 = messageid_of(signed(nxcloud, V2, content="V1-FAILS"))
    v1 = messageid_of(signed(nxcloud, V1, content="V1-FAILS"))
    assert nxcloud.message(v2).api == "sms.mtsend_v2"
    assert nxcloud.message(v1).api == "sms.mt"
    [(v2_report)] = receiver.wait(v2)
    [(v1_report)] = receiver.wait(v1)
    assert (v2_report["status"], v1_report["status"]) == ("2", "5")


# ---------------------------------------------------------------- what decides the report
def test_rules_match_the_provider_and_the_ext_but_no_template(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    plain = messageid_of(legacy(nxcloud))
    by_provider = messageid_of(legacy(nxcloud, content="RULE-FAILS"))
    by_ext = messageid_of(signed(nxcloud, V1, ext="order-7"))
    statuses = {name: receiver.wait(messageid)[0]["status"]
                for name, messageid in (("plain", plain), ("provider", by_provider),
                                        ("ext", by_ext))}
    assert statuses == {"plain": "2", "provider": "5", "ext": "5"}
    assert "failed (send.rules[2])" in \
        unquote(next(s for s in nxcloud.sent if s.message_ids == [by_ext]).explain or "")


@pytest.mark.parametrize("path", [LEGACY, V1])
def test_a_scenario_header_the_sms_family_does_not_know_is_refused_in_the_apis_shape(
        nxcloud: MockProvider, path: str) -> None:
    headers = {SCENARIO: "esms.sms.cskh.delivered"}
    if path == LEGACY:
        response = requests.post(nxcloud.url + LEGACY, timeout=DEADLINE, headers=headers, data={
            "appkey": "sms-app", "secretkey": "sms-secret", "phone": "84912340000",
            "content": "abc"})
        explain = legacy_refusal(response, "2", "Parameter error or empty")
    else:
        explain = v1_refusal(signed(nxcloud, V1, headers=headers), 9000)
    assert "esms.sms.cskh.delivered" in explain
    other_family = v1_refusal(signed(nxcloud, V1, headers={SCENARIO: "nxcloud.viber.failed"}),
                              9000)
    assert "name one of nxcloud.sms.delivered, nxcloud.sms.delivered_ack_lost" in other_family


def test_an_sms_to_a_no_receipt_number_is_accepted_and_final_at_once(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    messageid = messageid_of(legacy(nxcloud, phone="84912342222"))  # …2222: no_receipt
    message = nxcloud.message(messageid)
    assert message.state == "final" and message.run_ids == []
    assert message.parts[0]["outcome"] == "no_receipt"
    receiver.wait(messageid_of(legacy(nxcloud)))  # a later report arrives; none for this one
    assert not [r for r in receiver.reports if r["messageid"] == messageid]


# ------------------------------------------------- Viber and WhatsApp: the body is JSON
def signed_to(provider: MockProvider, path: str, biz_type: str, body: bytes
              ) -> requests.Response:
    ts = str(int(time.time() * 1000))
    to_sign = f"accessKey={ACCESS_KEY}&action=mt&bizType={biz_type}&ts={ts}".encode() + (
        b"&body=" + body if body else b"") + f"&accessSecret={ACCESS_SECRET}".encode()
    headers = {"Content-Type": "application/json", "accessKey": ACCESS_KEY, "ts": ts,
               "bizType": biz_type, "action": "mt", "sign": hashlib.md5(to_sign).hexdigest()}
    return requests.post(provider.url + path, data=body, headers=headers, timeout=DEADLINE)


@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty body: a JSON object is required"),
    (b"{'phone': 1}", "body is not valid JSON: Expecting property name enclosed in double "
                      "quotes: line 1 column 2 (char 1)"),
    (b"[]", "body must be a JSON object, got a JSON list"),
], ids=["empty", "not-json", "array"])
@pytest.mark.parametrize(("path", "biz_type", "last"), [
    ("/api/viber/mt", "7", "traceId"), ("/api/wa/mt", "2", "data"),
], ids=["viber", "whatsapp"])
def test_a_viber_or_whatsapp_body_that_is_no_json_object_is_1002_saying_why(
        nxcloud: MockProvider, body: bytes, message: str, path: str, biz_type: str,
        last: str) -> None:
    answer = signed_to(nxcloud, path, biz_type, body).json()
    assert list(answer) == ["code", "message", last]
    assert (answer["code"], answer["message"]) == (1002, message)


def test_a_viber_send_is_captured_with_its_json_body(nxcloud: MockProvider) -> None:
    document = json.loads((VECTORS / "viber-mt-request-text.json").read_text("utf-8"))
    document["phone"] = "79123450730"  # the docs mask the number's digits
    answer = signed_to(nxcloud, "/api/viber/mt", "7", json.dumps(document).encode()).json()
    assert answer["code"] == 0, answer
    [captured] = nxcloud.sent
    assert captured.json == document


# ------------------------------------------------------------------ the signed headers
def test_signed_auth_errors_of_mtsend_v2_keep_the_legacy_shape_with_the_code(
        nxcloud: MockProvider) -> None:
    wrong = signed(nxcloud, V2, headers={"sign": "0" * 32})
    legacy_refusal(wrong, "1003", "Authentication failed (1003)")
    missing = v1_refusal(signed(nxcloud, V1, headers={"ts": ""}), 1001)
    assert missing == "missing header parameter 'ts' (NXCloud needs accessKey, ts, bizType, " \
                      "action, sign)"


def test_the_captured_signed_string_keeps_64_kib_of_a_longer_body(
        nxcloud: MockProvider) -> None:
    response = signed(nxcloud, V1, shortLink="x" * 70_000)
    assert response.json()["code"] == 0, response.json()
    [captured] = nxcloud.sent
    body_length = captured.body_length
    assert body_length > 65_536
    assert captured.signed_string is not None
    assert captured.signed_string.endswith(f"…[+{body_length - 65_536} bytes]&accessSecret=******")


@pytest.mark.parametrize(("path", "code"), [(V2, "2"), (V1, 1002)], ids=["mtsend_v2", "v1"])
def test_a_body_over_max_body_bytes_is_413_in_the_apis_shape(nxcloud: MockProvider, path: str,
                                                             code: str | int) -> None:
    response = signed(nxcloud, path, shortLink="x" * 100_001)
    assert response.status_code == 413
    assert response.json()["code"] == code


# ------------------------------------------------------------- batches, live view, delays
@pytest.mark.parametrize("held", [False, True], ids=["at-once", "held-then-released"])
def test_each_number_of_a_batch_is_explained_and_its_reports_shown_under_the_message(
        nxcloud: MockProvider, receiver: Receiver, held: bool) -> None:
    events: list[Any] = []
    unsubscribe = nxcloud.state.events.subscribe(
        lambda event: events.append(event) if event.kind in ("attempt", "run") else None)
    try:
        response = legacy(nxcloud, phone="84912346666,84912356666" if held
                          else "84912340000,84912341111")
        messageid = messageid_of(response)
        if held:
            assert nxcloud.message(messageid).state == "held"
            nxcloud.release(messageid, "delivered")
        receiver.wait(messageid, 2)
        nxcloud.message(messageid).wait("final", DEADLINE)
    finally:
        unsubscribe()
    if not held:
        assert unquote(response.headers[EXPLAIN]) == ("delivered (number suffix 0000); "
                                                      "failed (number suffix 1111)")
    # The dashboard files each report under the message the send answered, not its batch id.
    runs = set(nxcloud.message(messageid).run_ids)
    mine = [event for event in events if event.data["run_id"] in runs]
    assert len(runs) == 2 and len(mine) == 4  # an attempt and a run end per number
    # Each run carries its report's id (the batch id), released or not.
    assert sorted(nxcloud.run(run).message_id.split("-")[0] for run in runs) == [messageid] * 2
    assert [(event.data["message"] or {}).get("id") for event in mine] == [messageid] * 4


def test_the_first_report_comes_receipt_delay_after_the_answer(receiver: Receiver) -> None:
    send = {"nxcloud_default_webhook": receiver.url, "receipt_delay": 0.5}
    with MockProvider(time_scale=1, send=send) as slow:
        answered = time.monotonic()
        messageid = messageid_of(signed(slow, V1))
        receiver.wait(messageid)
        assert time.monotonic() - answered >= 0.5


def test_a_wrong_access_key_is_1005_naming_the_setting_and_its_default(
        nxcloud: MockProvider) -> None:
    message = v1_refusal(signed(nxcloud, V1, headers={"accessKey": "someone"}), 1005)
    assert message == ("no permission: unknown accessKey 'someone' (dlrmock accepts the "
                       "access_key setting, by default 'dlrmock-access-key')")


def test_a_wrong_sign_with_no_recognisable_mistake_says_only_what_was_signed(
        nxcloud: MockProvider) -> None:
    response = signed(nxcloud, V1, headers={"sign": "0" * 32})
    message = v1_refusal(response, 1003)
    expected = response.headers["X-Dlrmock-Expected-Sign"]
    shown = unquote(response.headers["X-Dlrmock-Signed-String"])
    assert message == (f"signature mismatch: got '{'0' * 32}', expected '{expected}', the md5 "
                       f"of (secret masked) {shown}; the same string is in the "
                       "X-Dlrmock-Signed-String response header")


def test_an_unknown_sms_path_is_404_listing_every_emulated_nxcloud_api(
        nxcloud: MockProvider) -> None:
    response = requests.post(nxcloud.url + "/v1/sms/multi/mt", json={}, timeout=DEADLINE)
    assert response.status_code == 404
    message = v1_refusal(response, -1)
    assert message.startswith("unknown NXCloud API POST /v1/sms/multi/mt: dlrmock emulates ")
    assert "POST /api/sms/mtsend; POST /api/sms/mtsend_v2; POST /v1/sms/mt; " in message


def test_a_body_over_max_body_bytes_to_an_unknown_path_is_413_code_1002(
        nxcloud: MockProvider) -> None:
    response = requests.post(nxcloud.url + "/api/sms/unknown", data=b"x" * 100_001,
                             timeout=DEADLINE)
    assert response.status_code == 413
    assert response.json()["code"] == 1002
