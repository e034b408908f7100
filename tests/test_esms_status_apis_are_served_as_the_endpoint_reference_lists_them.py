"""eSMS's status, look-up and OTP APIs are served as the endpoint reference lists them.

The reference (docs/reference/endpoints.md, generated from the endpoint tables) gives each API's
method, path, request schema (``(query)``: read from the query string), answer schema and the
TypeIds of the callbacks it causes. Each row here is called the way it says, with the trailing
slash real apps add, with the docs' request examples; its answer must fit its answer schema and
the callbacks that follow must be the ones it names.

A :class:`MockProvider` at time scale 0 on 127.0.0.1, a loopback sink, ``requests`` as the app.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from esms_sink import EsmsSink
from test_sendapi_esms_apis import (
    DEADLINE,
    EXPLAIN,
    KEYS,
    settle,
    valid,
    vector,
    voice_query,
    with_keys,
)

from mock_server import MockProvider
from mock_server._reference import render
from mock_server._registry import validator_for
from mock_server.sendapi.esms import canonical

OAID, TEMPLATE = "4097311281936189049", "205644"
STATUS_APIS = ("/ZaloCallback/GetCallback", "GetSmsReceiverStatus_get", "QueryZnsStatus",
               "GetZaloMessageStatus", "GetSmsSentData_V2", "SendMessageAutoGenCode_V4_get",
               "SendMessageAutoGenCode_V5", "CheckCodeGen_V4_get")
"""The APIs of ``mock_server.sendapi.esms_status``, as their reference rows end."""


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()


def reference_rows() -> dict[str, list[str]]:
    """The eSMS endpoint reference's rows of the status APIs, by API: method, path, request,
    answer, callbacks — the cells as the page shows them."""
    rows = {}
    for line in render("endpoints-esms").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        api = next((name for name in STATUS_APIS if cells[1:] and cells[1].endswith(name)), None)
        if api is not None:
            rows[api] = cells
    assert set(rows) == set(STATUS_APIS), sorted(rows)
    return rows


def call(provider: MockProvider, row: list[str], fields: dict[str, Any]) -> requests.Response:
    """``fields`` sent as the row says: the query string of a GET, else a JSON body; the path
    with a trailing slash."""
    method, path = row[0], row[1]
    url = f"{provider.url}{path}/"
    if method == "GET":
        return requests.get(url, params=fields, timeout=DEADLINE)
    return requests.request(method, url, json=fields, timeout=DEADLINE)


def zns(provider: MockProvider, sink: EsmsSink) -> tuple[str, str]:
    """A ZNS sent with a ``CallbackUrl``: its SMSID and the ``partnerids`` its callback carried."""
    answer = requests.post(f"{provider.url}/MainService.svc/json/SendZaloMessage_V6/",
                           timeout=DEADLINE,
                           json={**KEYS, "Phone": "0901888484", "OAID": OAID, "TempID": TEMPLATE,
                                 "TempData": {"otp": "686868"},
                                 "CallbackUrl": f"{sink.url}/pull"}).json()
    [(_, callback)] = sink.wait(answer["SMSID"], 1)
    settle(provider)
    return str(answer["SMSID"]), callback["partnerids"]


def test_each_status_api_answers_at_its_reference_row_and_causes_the_callbacks_it_names(
        esms: MockProvider, sink: EsmsSink) -> None:
    rows = reference_rows()
    smsid, partnerids = zns(esms, sink)
    requests_by_api: list[tuple[str, dict[str, Any], int]] = [
        # (API, the documented request filled in, how many callbacks it causes)
        ("/ZaloCallback/GetCallback",
         {**with_keys(vector("req-GetCallback.json")), "ListRefid": [smsid], "OAId": OAID}, 0),
        ("GetSmsReceiverStatus_get", voice_query("req-GetSmsReceiverStatus_get.url")
         | {"RefId": smsid}, 0),
        ("QueryZnsStatus", {**with_keys(vector("req-QueryZnsStatus.json")), "SmsId": smsid}, 0),
        ("GetZaloMessageStatus", {**with_keys(vector("req-GetZaloMessageStatus.json")),
                                  "OAID": OAID, "MessageId": partnerids}, 0),
        ("GetSmsSentData_V2", with_keys(vector("req-GetSmsSentData_V2.json")), 0),
        ("SendMessageAutoGenCode_V4_get", voice_query("req-SendMessageAutoGenCode_V4_get.url"),
         1),
        # A number ending 7777: its Zalo channel fails, so the SMS follows.
        ("SendMessageAutoGenCode_V5", {**with_keys(vector("req-SendMessageAutoGenCode_V5.json")),
                                       "Phone": "0901887777"}, 2),
    ]
    codes: dict[str, str] = {}
    for api, fields, count in requests_by_api:
        row = rows[api]
        runs = len(esms.runs)
        response = call(esms, row, fields)
        answer = valid(row[3], response.json())
        assert answer.get("CodeResult", answer.get("Code")) in ("100", 100), (api, answer)
        schema, _, read_from = row[2].partition(" ")
        assert read_from == ("(query)" if row[0] == "GET" else ""), row
        assert list(validator_for(schema).iter_errors(canonical(fields))) == [], api
        if count:
            codes[api] = response.headers[EXPLAIN].split()[1]
            called = [c["TypeId"] for _, c in sink.wait(answer["SMSID"], count)]
            assert row[4] == "TypeId " + ", then ".join(called), (api, called)
        else:
            assert (len(esms.runs), row[4]) == (runs, ""), api
    check = rows["CheckCodeGen_V4_get"]
    answer = call(esms, check, voice_query("req-CheckCodeGen_V4_get-example.url")
                  | {"Code": codes["SendMessageAutoGenCode_V4_get"]}).json()
    assert valid(check[3], answer) == vector("CheckCodeGen_V4_get-100.json")
    assert check[2] == "esms.otp.check.request (query)" and check[4] == ""

