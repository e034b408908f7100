"""eSMS's auto-generated OTP codes: ``SendMessageAutoGenCode_V4_get`` makes a code, sends it as a
customer-care SMS (TypeId 2, at its price, no ``RequestId``: the API has none), refuses a
``TimeAlive`` outside 2–10 minutes (eSMS's V2 page) and a ``NumCharOfCode`` outside 4–10 naming
the value; ``CheckCodeGen_V4_get`` accepts the code until ``TimeAlive`` minutes have passed.

A :class:`MockProvider` at time scale 0 on 127.0.0.1, a loopback sink, ``requests`` as the app;
the docs' request URL (``req-SendMessageAutoGenCode_V4_get.url``, its double slash included).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from esms_sink import EsmsSink
from test_sendapi_esms_apis import (
    DEADLINE,
    EXPLAIN,
    KEYS,
    settle,
    vector,
    voice_query,
    with_keys,
)

from mock_server import MockProvider

DOCUMENTED_URL = "/MainService.svc/json//SendMessageAutoGenCode_V4_get"
"""The path of the docs' request URL, as written there."""
SMS_PRICE = 650.0
"""The default ``esms_unit_prices`` of TypeId 2."""


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()


def gencode(provider: MockProvider, headers: dict[str, str] | None = None,
            **fields: Any) -> requests.Response:
    """The docs' request with ``fields`` changed (``None``: left out)."""
    query: dict[str, Any] = {**voice_query("req-SendMessageAutoGenCode_V4_get.url"), **fields}
    query = {key: value for key, value in query.items() if value is not None}
    return requests.get(f"{provider.url}{DOCUMENTED_URL}", params=query, headers=headers,
                        timeout=DEADLINE)


def check(provider: MockProvider, phone: str, code: str) -> str:
    query = {**voice_query("req-CheckCodeGen_V4_get-example.url"), "Phone": phone, "Code": code}
    return str(requests.get(f"{provider.url}/MainService.svc/json/CheckCodeGen_V4_get/",
                            params=query, timeout=DEADLINE).json()["CodeResult"])


def test_a_code_is_sent_as_customer_care_sms_at_its_price_without_a_request_id(
        esms: MockProvider, sink: EsmsSink) -> None:
    answer = gencode(esms).json()
    assert answer["CodeResult"] == "100", answer
    [(path, callback)] = sink.wait(answer["SMSID"], 1)
    assert (path, callback["TypeId"], callback["SendSuccess"], callback["RequestId"]) == \
        ("/default", "2", "1", "")
    assert float(callback["TotalPrice"]) == SMS_PRICE
    settle(esms)
    listed = requests.post(f"{esms.url}/MainService.svc/json/GetSmsSentData_V2", timeout=DEADLINE,
                           json=with_keys({"From": "2000-01-01 00:00:00",
                                           "To": "2100-01-01 00:00:00"})).json()
    [row] = listed["SentData"]
    assert (row["ReferenceId"], row["SmsType"], row["SellPrice"]) == \
        (answer["SMSID"], 2, SMS_PRICE)
    balance = requests.post(f"{esms.url}/MainService.svc/json/GetBalance_json", json=KEYS,
                            timeout=DEADLINE).json()
    assert balance["Balance"] == 10_000_000 - SMS_PRICE


def test_the_scenario_header_decides_the_codes_sms(esms: MockProvider, sink: EsmsSink) -> None:
    answer = gencode(esms, headers={"X-Dlrmock-Scenario": "failed"}).json()
    [(_, callback)] = sink.wait(answer["SMSID"], 1)
    assert (callback["SendFailed"], callback["SendSuccess"]) == ("1", "0")


@pytest.mark.parametrize(("fields", "length", "minutes"), [
    ({"TimeAlive": 10}, 6, 10),
    ({"NumCharOfCode": 4, "IsNumber": 1}, 4, 2),
    ({"NumCharOfCode": 10, "IsNumber": 1}, 10, 2),
])
def test_time_alive_up_to_10_minutes_and_4_to_10_characters_are_accepted(
        esms: MockProvider, fields: dict[str, Any], length: int, minutes: int) -> None:
    response = gencode(esms, **fields)
    assert response.json()["CodeResult"] == "100"
    code = response.headers[EXPLAIN].split()[1]
    assert response.headers[EXPLAIN] == f"code {code} for 0901888484, valid {minutes} min"
    assert len(code) == length


@pytest.mark.parametrize(("fields", "explain"), [
    ({"TimeAlive": 11}, "TimeAlive '11': minutes from 2 to 10 (5 when not given)"),
    ({"NumCharOfCode": 3}, "NumCharOfCode 3: from 4 to 10 characters (6 when not given)"),
    ({"NumCharOfCode": 11}, "NumCharOfCode 11: from 4 to 10 characters (6 when not given)"),
    ({"message": "la ma xac minh dang ky Baotrixemay cua ban"},
     "message must contain {OTP}, where eSMS puts the code"),
])
def test_a_time_alive_length_or_message_out_of_bounds_is_an_invalid_request_naming_it(
        esms: MockProvider, fields: dict[str, Any], explain: str) -> None:
    response = gencode(esms, **fields)
    assert (response.status_code, response.json()) == (200, {"error": "Invalid request"})
    assert response.headers[EXPLAIN] == explain
    assert not esms.runs


def test_a_code_checks_until_time_alive_minutes_have_passed(
        esms: MockProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_767_000_000.0]
    monkeypatch.setattr(esms.state.send_state, "clock", lambda: now[0])
    codes = {}
    for phone in ("0901888484", "0901888485"):
        response = gencode(esms, Phone=phone)  # the docs' TimeAlive: 2 minutes
        codes[phone] = response.headers[EXPLAIN].split()[1]
    now[0] += 2 * 60 - 0.5
    assert check(esms, "0901888484", codes["0901888484"]) == "100"
    now[0] += 1
    assert check(esms, "0901888485", codes["0901888485"]) == "117"


def test_a_code_never_made_is_the_documented_117_explaining_why(esms: MockProvider) -> None:
    query = voice_query("req-CheckCodeGen_V4_get-example.url")  # 0901888484, code 1NTTJ6
    response = requests.get(f"{esms.url}/MainService.svc/json/CheckCodeGen_V4_get/",
                            params=query, timeout=DEADLINE)
    assert response.json() == vector("CheckCodeGen_V4_get-117.json")
    assert response.headers[EXPLAIN] == ("'1NTTJ6' is not a live code for 0901888484: never "
                                         "made, already used, or past its TimeAlive")


def test_a_code_with_is_number_0_mixes_digits_and_upper_case_letters(
        esms: MockProvider) -> None:
    codes = [gencode(esms, IsNumber=0, NumCharOfCode=10).headers[EXPLAIN].split()[1]
             for _ in range(3)]
    assert all(re.fullmatch(r"[0-9A-Z]{10}", code) for code in codes), codes
    assert not all(code.isdigit() for code in codes), codes  # all digits: 1 in 10**16
