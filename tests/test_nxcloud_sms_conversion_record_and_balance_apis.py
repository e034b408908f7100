"""NXCloud's legacy SMS side APIs as apps call them: the OTP conversion report
``/api/smsdr/conversion``, the record queries ``/api/sms/get`` and ``/api/sms/getSmsCdr`` and the
balance inquiry ``/api/common/getBalance``, answered from what dlrmock's SMS sends accepted.

Over real sockets: a :class:`MockProvider` at time scale 0 with two SMS applications, a DR
receiver, ``requests`` sending GET queries and forms the way NXCloud's Java SDK does (its
``NxSmsClient`` keeps ``appkey``/``secretkey`` and the last send's fields in every form it
posts). The documented answers (``schemas/sendapi-examples/nxcloud/``) are the test vectors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from test_nxcloud_sms_sends_documented_codes_and_reports import Receiver

from mock_server import MockProvider
from mock_server.openapi import openapi_document

VECTORS = Path(__file__).resolve().parents[1] / "schemas" / "sendapi-examples" / "nxcloud"
APPS = {"sms-app": "sms-secret", "sms-app-2": "other-secret"}
KEYS = {"appkey": "sms-app", "secretkey": "sms-secret"}
DEADLINE = 10.0
EXPLAIN = "X-Dlrmock-Explain"
CONVERSION, GET, BALANCE = "/api/smsdr/conversion", "/api/sms/get", "/api/common/getBalance"
CDR = "/api/sms/getSmsCdr"
CHINA = timezone(timedelta(hours=8))
SENT = "<the messageid sent>"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def nxcloud(receiver: Receiver) -> Iterator[MockProvider]:
    send = {"nxcloud_default_webhook": receiver.url, "sms_apps": APPS,
            "nxcloud_balance": 3788.32, "nxcloud_credit_balance": 500}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(nxcloud: MockProvider) -> None:
    nxcloud.reset()


def send(provider: MockProvider, *, scenario: str | None = None, **fields: str) -> str:
    """An SMS through the legacy form API; its messageid."""
    form = {**KEYS, "phone": "84912340000", "content": "Your code is 4821", **fields}
    headers = {"X-Dlrmock-Scenario": scenario} if scenario else {}
    answer = requests.post(provider.url + "/api/sms/mtsend", data=form, headers=headers,
                           timeout=DEADLINE).json()
    assert answer["code"] == "0", answer
    return str(answer["messageid"])


def explained(response: requests.Response) -> str:
    return unquote(response.headers[EXPLAIN])


def today() -> str:
    """Today in NXCloud's clock (China time), as the ``date`` field wants it."""
    return datetime.now(CHINA).strftime("%Y%m%d")


# ------------------------------------------------------------------ /api/smsdr/conversion
def convert(provider: MockProvider, **query: str) -> requests.Response:
    """A conversion report as a GET query."""
    return requests.get(provider.url + CONVERSION, params=query, timeout=DEADLINE)


def test_a_conversion_of_a_sent_code_by_get_query_is_success_in_plain_text(
        nxcloud: MockProvider) -> None:
    messageid = send(nxcloud)
    query = {"messageid": messageid, "phone": "84912340000", "status": "10"}
    response = requests.get(nxcloud.url + CONVERSION, params=query, timeout=DEADLINE)
    assert (response.status_code, response.text) == (200, "success")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert explained(response).startswith(f"conversion of SMS {messageid} to 84912340000 "
                                          "accepted")
    captured = nxcloud.sent[-1]
    assert (captured.endpoint, captured.method, captured.response) == \
        ("nxcloud.sms.conversion", "GET", "success")
    assert captured.json == query and captured.message_ids == [messageid]


def test_the_java_sdks_form_post_with_keys_and_no_status_is_success(
        nxcloud: MockProvider) -> None:
    messageid = send(nxcloud, phone="+84912340001")
    # NxSmsClient posts every param it holds: the keys and the last send's phone and content.
    form = {**KEYS, "phone": "84912340001", "content": "Your code is 4821",
            "messageid": messageid}
    response = requests.post(nxcloud.url + CONVERSION + "/", data=form, timeout=DEADLINE,
                             headers={"Content-Type": "application/x-www-form-urlencoded; "
                                                      "charset=UTF-8"})
    assert response.text == "success"
    assert nxcloud.sent[-1].method == "POST"


def test_a_conversion_without_phone_names_the_messages_recipients(
        nxcloud: MockProvider) -> None:
    messageid = send(nxcloud)
    response = convert(nxcloud, messageid=messageid)
    assert response.text == "success"
    assert f"of SMS {messageid} to 84912340000 accepted" in explained(response)


@pytest.mark.parametrize(("query", "why"), [
    ({"messageid": "0123456789abcdef0123456789abcdef"}, "no SMS with messageid "
     "'0123456789abcdef0123456789abcdef': dlrmock knows the messageid its /api/sms/mtsend"),
    ({"phone": "84999999999"}, "phone '84999999999' is not a recipient of SMS"),
    ({"status": "5"}, "status '5': a conversion is status 10 (filled in), or no status at all"),
    ({"messageid": ""}, "parameter error: $.messageid:"),
    # Upper-case names are not read, as /api/sms/mtsend does not read them (None: left out).
    ({"messageid": None, "MESSAGEID": SENT}, "required field 'messageid' is missing"),
], ids=["unknown-messageid", "other-phone", "status-not-10", "empty-messageid", "upper-case"])
def test_a_conversion_dlrmock_cannot_match_is_fail_saying_why(
        nxcloud: MockProvider, query: dict[str, str | None], why: str) -> None:
    messageid = send(nxcloud)
    params = {"messageid": messageid, "phone": "84912340000", **query}
    response = requests.get(nxcloud.url + CONVERSION, timeout=DEADLINE, params={
        name: messageid if value == SENT else value for name, value in params.items()})
    assert (response.status_code, response.text) == (200, "fail")
    assert why in explained(response)
    assert nxcloud.sent[-1].error == "fail"


def test_each_number_of_a_batch_converts_by_its_report_id_or_the_batch_id(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    messageid = send(nxcloud, phone="84912340001,84912340002")
    reports = {r["phone"]: r["messageid"] for r in receiver.wait(messageid, 2)}
    first = reports["84912340001"]
    assert convert(nxcloud, messageid=first, phone="84912340001").text == "success"
    assert convert(nxcloud, messageid=first, phone="84912340002").text == "fail"
    assert convert(nxcloud, messageid=messageid, phone="84912340002").text == "success"


def test_a_wrong_method_is_405_fail_in_plain_text(nxcloud: MockProvider) -> None:
    response = requests.put(nxcloud.url + CONVERSION, timeout=DEADLINE)
    assert (response.status_code, response.text) == (405, "fail")
    assert response.headers["Allow"] == "GET, POST"


# ------------------------------------------------------------------------- /api/sms/get
def record(provider: MockProvider, messageid: str, path: str = GET,
           **fields: str) -> requests.Response:
    form = {**KEYS, "date": today(), "messageid": messageid, **fields}
    return requests.post(provider.url + path, data=form, timeout=DEADLINE)


def test_the_record_of_a_delivered_sms_has_the_documented_shape_and_its_report(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    messageid = send(nxcloud, content="a" * 161, source_address="DLRMOCK")
    [report] = receiver.wait(messageid)
    nxcloud.message(messageid).wait("final", DEADLINE)
    document = record(nxcloud, messageid, GET + "/").json()
    vector = json.loads((VECTORS / "sms-get-response.json").read_text())
    assert list(document) == list(vector) and document["code"] == "0"
    row = document["row"]
    assert list(row) == list(vector["row"])
    assert {k: type(v) for k, v in row.items()} == {k: type(v) for k, v in vector["row"].items()}
    assert row == {
        "billing_size": 2, "date": report["sendtime"], "senderid": "DLRMOCK",
        "phone": "84912340000", "dr_time": report["drtime"],
        "billing_price": float(report["price"]), "msgid": messageid,
        "billing_status": "Billed", "body": "a" * 161, "dr_status": "Success",
        "dr": "DELIVRD", "network": ""}


def test_the_record_of_an_undelivered_sms_is_fail_and_unbilled(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    messageid = send(nxcloud, scenario="failed")
    [report] = receiver.wait(messageid)
    nxcloud.message(messageid).wait("final", DEADLINE)
    row = record(nxcloud, messageid).json()["row"]
    assert (row["dr"], row["dr_status"], row["billing_status"], row["billing_price"]) == \
        (report["result"], "Fail", "UnBilled", 0.0)
    assert report["result"] == "UNDELIV"


def test_the_record_before_any_report_has_the_send_time_and_empty_receipt_fields(
        nxcloud: MockProvider) -> None:
    messageid = send(nxcloud, scenario="no_receipt")
    row = record(nxcloud, messageid).json()["row"]
    sent = datetime.strptime(row["date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
    assert abs((datetime.now(CHINA) - sent).total_seconds()) < 60
    assert (row["dr"], row["dr_status"], row["dr_time"], row["billing_status"]) == \
        ("", "", "", "UnBilled")


def test_a_batch_report_id_has_its_own_record_and_the_batch_id_is_code_1(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    messageid = send(nxcloud, phone="84912340001,84912340002")
    reports = {r["phone"]: r for r in receiver.wait(messageid, 2)}
    nxcloud.message(messageid).wait("final", DEADLINE)
    second = reports["84912340002"]["messageid"]
    row = record(nxcloud, second).json()["row"]
    assert (row["msgid"], row["phone"], row["dr"]) == (second, "84912340002", "DELIVRD")
    response = record(nxcloud, messageid)
    assert response.json() == {"code": "1"}
    assert "is a batch of 2 numbers: ask about one report's messageid" in explained(response)


@pytest.mark.parametrize(("fields", "code", "why"), [
    ({"date": ""}, "1", "parameter error: $.date:"),
    ({"date": "2026-11-30"}, "1", "parameter error: $.date:"),
    ({"date": "20261331"}, "1", "date '20261331' is not a day as yyyyMMdd"),
    ({"messageid": "nope"}, "1", "no SMS with messageid 'nope'"),
    ({"secretkey": "other-secret"}, "2", "wrong secretkey for SMS application 'sms-app'"),
    ({"appkey": "nobody"}, "2", "unknown SMS application appkey 'nobody'; the sms_apps"),
    ({"appkey": "sms-app-2", "secretkey": "other-secret"}, "1",
     "was sent by the SMS application 'sms-app', not 'sms-app-2': ask with its keys"),
], ids=["no-date", "dashed-date", "no-such-day", "unknown-messageid", "wrong-secret",
        "unknown-app", "other-app"])
def test_a_query_with_a_bad_field_is_answered_with_its_documented_code(
        nxcloud: MockProvider, fields: dict[str, str], code: str, why: str) -> None:
    form = {**KEYS, "date": today(), "messageid": send(nxcloud, scenario="no_receipt"), **fields}
    response = requests.post(nxcloud.url + GET, data=form, timeout=DEADLINE)
    assert (response.status_code, response.text) == (200, json.dumps({"code": code}))
    assert why in explained(response)


def test_only_the_recent_31_days_can_be_queried_code_3(nxcloud: MockProvider) -> None:
    messageid = send(nxcloud, scenario="no_receipt")
    now = datetime.now(CHINA)
    long_ago = record(nxcloud, messageid, date=f"{now - timedelta(days=31):%Y%m%d}")
    assert long_ago.json() == {"code": "3"}
    assert "only the recent 31 days can be queried" in explained(long_ago)
    yesterday = record(nxcloud, messageid, date=f"{now - timedelta(days=1):%Y%m%d}")
    assert yesterday.json() == {"code": "1"}  # recent, but not the day it was sent
    assert "date must be its day" in explained(yesterday)
    tomorrow = record(nxcloud, messageid, date=f"{now + timedelta(days=1):%Y%m%d}")
    assert tomorrow.json() == {"code": "1"} and "is after today" in explained(tomorrow)


def test_a_json_query_is_code_1_saying_it_takes_a_form(nxcloud: MockProvider) -> None:
    form = {**KEYS, "date": today(), "messageid": send(nxcloud, scenario="no_receipt")}
    response = requests.post(nxcloud.url + GET, json=form, timeout=DEADLINE)
    assert response.json() == {"code": "1"}
    assert "this API takes an application/x-www-form-urlencoded body" in explained(response)


# ------------------------------------------------------------------- /api/sms/getSmsCdr
def records(provider: MockProvider, **fields: str) -> requests.Response:
    form = {**KEYS, "date": today(), "page_size": "10", "page": "1", **fields}
    return requests.post(provider.url + CDR, data=form, timeout=DEADLINE)


def test_the_days_records_of_the_app_come_a_page_at_a_time_in_the_documented_shape(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    batch = send(nxcloud, phone="84912340001,84912340002", content="first")
    single = send(nxcloud, phone="84912340003", content="second")
    other = send(nxcloud, appkey="sms-app-2", secretkey="other-secret", content="not mine")
    ids = {r["phone"]: r["messageid"] for r in receiver.wait(batch, 2)}
    for messageid in (batch, single, other):
        nxcloud.message(messageid).wait("final", DEADLINE)
    [report] = receiver.wait(single)
    vector = json.loads((VECTORS / "sms-getSmsCdr-response.json").read_text())
    document = records(nxcloud, page_size="2", page="1").json()
    assert list(document) == list(vector) and list(document["info"]) == list(vector["info"])
    info = document["info"]
    assert (info["total"], info["page"], info["pageSize"]) == (3, 1, 2)
    assert [row["msgid"] for row in info["rows"]] == [ids["84912340001"], ids["84912340002"]]
    expected = vector["info"]["rows"][0]
    for row in info["rows"]:
        assert list(row) == list(expected)
        # The docs' table says network is a string, their example shows 893: dlrmock keeps
        # the table (and knows no operator).
        assert {k: type(v) for k, v in row.items()} == \
            {k: type(v) for k, v in expected.items()} | {"network": str}
    [last] = records(nxcloud, page_size="2", page="2").json()["info"]["rows"]
    assert last == {
        "senderid": "", "body": "second", "phone": "84912340003", "msgid": single,
        "dr_status": "Success", "billing_size": 1, "billing_price": float(report["price"]),
        "date": report["sendtime"], "dr_time": report["drtime"], "billing_status": "Billed",
        "network": "", "dr": "DELIVRD"}
    newest = records(nxcloud, sort_type="1").json()["info"]["rows"]
    assert [row["msgid"] for row in newest] == [single, ids["84912340002"], ids["84912340001"]]
    mine = records(nxcloud, appkey="sms-app-2", secretkey="other-secret").json()["info"]
    assert [row["msgid"] for row in mine["rows"]] == [other] and mine["total"] == 1


@pytest.mark.parametrize(("fields", "code", "why"), [
    ({"page_size": "1000"}, "3", "page_size '1000' must be a whole number, 1-999"),
    ({"page_size": "ten"}, "3", "page_size 'ten' must be a whole number, 1-999"),
    ({"page": ""}, "4", "page '' must be a whole number, 1 or more"),
    ({"page": "0"}, "4", "page '0' must be a whole number, 1 or more"),
    ({"sort_type": "2"}, "1", "parameter error: $.sort_type:"),
    ({"secretkey": "nope"}, "2", "wrong secretkey for SMS application 'sms-app'"),
    ({"date": f"{datetime.now(CHINA) - timedelta(days=31):%Y%m%d}"}, "1",
     "only the recent 31 days can be queried"),
], ids=["page-size-1000", "page-size-text", "page-empty", "page-0", "sort-type-2",
        "wrong-secret", "old-date"])
def test_a_record_list_with_a_bad_field_is_answered_with_its_documented_code(
        nxcloud: MockProvider, fields: dict[str, str], code: str, why: str) -> None:
    response = records(nxcloud, **fields)
    assert response.json() == {"code": code}
    assert why in explained(response)


def test_a_day_without_sms_is_an_empty_page(nxcloud: MockProvider) -> None:
    send(nxcloud, scenario="no_receipt")
    yesterday = f"{datetime.now(CHINA) - timedelta(days=1):%Y%m%d}"
    assert records(nxcloud, date=yesterday).json() == {
        "code": "0", "info": {"total": 0, "page": 1, "pageSize": 10, "rows": []}}


# ---------------------------------------------------------------- /api/common/getBalance
def test_the_balance_is_the_settings_in_the_documented_answer(nxcloud: MockProvider) -> None:
    vector = (VECTORS / "balance-response.json").read_text()
    response = requests.post(nxcloud.url + BALANCE + "/", data=KEYS, timeout=DEADLINE)
    assert response.json() == json.loads(vector)
    assert list(response.json()) == list(json.loads(vector))
    other = {"appkey": "sms-app-2", "secretkey": "other-secret"}  # any enabled SMS app
    assert requests.post(nxcloud.url + BALANCE, data=other, timeout=DEADLINE).json() == \
        json.loads(vector)


def test_the_balance_follows_its_settings_and_defaults_to_1000() -> None:
    with MockProvider(time_scale=0, send={"nxcloud_balance": 0.5}) as provider:
        answer = requests.post(provider.url + BALANCE, data={"appkey": "a", "secretkey": "b"},
                               timeout=DEADLINE).json()
        assert answer == {"code": "0", "balance": "0.5", "credit_balance": "0"}
    with MockProvider(time_scale=0) as provider:
        answer = requests.post(provider.url + BALANCE, data={"appkey": "a", "secretkey": "b"},
                               timeout=DEADLINE).json()
        assert answer["balance"] == "1000"


@pytest.mark.parametrize(("form", "code", "why"), [
    ({"appkey": "sms-app", "secretkey": "nope"}, "1", "wrong secretkey for SMS application"),
    ({"appkey": "sms-app"}, "2", "$.secretkey: required field 'secretkey' is missing"),
], ids=["wrong-secret", "no-secret"])
def test_a_balance_inquiry_with_bad_keys_is_refused_saying_why(
        nxcloud: MockProvider, form: dict[str, str], code: str, why: str) -> None:
    response = requests.post(nxcloud.url + BALANCE, data=form, timeout=DEADLINE)
    assert response.json() == {"code": code}
    assert why in explained(response)


# ---------------------------------------------------------------------------- described
def test_the_openapi_document_describes_the_four_apis() -> None:
    paths: dict[str, Any] = openapi_document("nxcloud")["paths"]
    conversion = paths[CONVERSION]["get"]
    assert {p["name"] for p in conversion["parameters"]} == {"messageid", "phone", "status"}
    assert "text/plain" in conversion["responses"]["200"]["content"]
    for path in (GET, CDR, BALANCE):
        body = paths[path]["post"]["requestBody"]["content"]
        assert list(body) == ["application/x-www-form-urlencoded"]
