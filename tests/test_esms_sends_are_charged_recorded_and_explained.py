"""What an accepted eSMS send gives out, charges and records, seen the way an app sees it.

The SMSID has the shape of eSMS's own; the account pays each message's price from
``esms_unit_prices`` unless the send is a sandbox one (``Sandbox`` or ``IsSandBox``), a
failed message costs nothing and a fallback costs the channel that delivered; an advertising
send pays for every number; ``GetSmsSentData_V2`` shows what was sent (content, campaign,
SmsType, number, price); the ``X-Dlrmock-Explain`` header says, per number and channel, what
decided the outcome. A :class:`MockProvider` at time scale 0 on 127.0.0.1, a loopback sink for
the callbacks, ``requests`` as the app.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from esms_sink import EsmsSink
from test_sendapi_esms_apis import DEADLINE, EXPLAIN, KEYS, api, settle

from mock_server import MockProvider

PRICES = {"1": 5, "2": 850, "25": 330}
BALANCE = 100_000
SMS = {**KEYS, "Content": "Ma OTP 4821", "SmsType": "2", "Brandname": "B"}
OAID = "4097311281936189049"


@pytest.fixture(scope="module")
def esms(sink: EsmsSink) -> Iterator[MockProvider]:
    send = {"esms_unit_prices": PRICES, "balance": BALANCE}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()


def post(provider: MockProvider, name: str, **fields: Any) -> requests.Response:
    response = requests.post(api(provider, name), json=fields, timeout=DEADLINE)
    assert response.json()["CodeResult"] == "100", response.json()
    return response


def balance(provider: MockProvider) -> float:
    answer = requests.post(api(provider, "GetBalance_json"), json=KEYS, timeout=DEADLINE).json()
    return float(answer["Balance"])


def local(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at + 7 * 3600))


def sent_rows(provider: MockProvider, since: float) -> list[dict[str, Any]]:
    settle(provider)
    answer = requests.post(api(provider, "GetSmsSentData_V2"), timeout=DEADLINE, json={
        **KEYS, "From": local(since - 1), "To": local(time.time() + 1)}).json()
    return list(answer["SentData"])


def listed(provider: MockProvider) -> list[dict[str, Any]]:
    """``GET /_dlrmock/messages``: the sent messages."""
    response = requests.get(f"{provider.url}/_dlrmock/messages", timeout=DEADLINE)
    return list(response.json()["messages"])


def test_an_smsid_is_32_hex_digits_then_3_decimal_digits_like_esms_own() -> None:
    # eSMS's examples: "d8e0f1f0702544b2acb456ca9ccfd111250", "59e0c764…db4468f257fb221".
    with MockProvider(time_scale=0) as provider:
        smsids = {post(provider, "SendMultipleMessage_V4_post_json", Phone="0912345678",
                       **SMS).json()["SMSID"] for _ in range(40)}
    assert len(smsids) == 40
    odd = [s for s in smsids if not re.fullmatch(r"[0-9a-f]{32}[1-9][0-9]{2}", s)]
    assert not odd


@pytest.mark.parametrize("field", ["Sandbox", "IsSandBox", "ISSANDBOX", "sandbox"])
def test_a_sandbox_send_under_either_documented_name_is_free_and_calls_back_price_0(
        esms: MockProvider, sink: EsmsSink, field: str) -> None:
    since = time.time()
    smsid = post(esms, "SendMultipleMessage_V4_post_json", Phone="0912345678", **SMS,
                 CallbackUrl=f"{sink.url}/sandbox", **{field: 1}).json()["SMSID"]
    [(_, callback)] = sink.wait(smsid, 1)
    assert callback["TotalPrice"] == "0.0000"
    assert balance(esms) == BALANCE
    [row] = sent_rows(esms, since)
    assert row["SellPrice"] == 0.0
    [message] = listed(esms)
    assert (message["api"], message["sandbox"]) == ("SendMultipleMessage_V4_post_json", True)


def test_a_sandbox_send_without_a_webhook_sells_for_0(esms: MockProvider) -> None:
    since = time.time()
    post(esms, "SendMultipleMessage_V4_post_json", Phone="0912345678", **SMS, Sandbox="true")
    [row] = sent_rows(esms, since)  # no callback: the price comes from the message itself
    assert (row["SendResult"], row["SellPrice"]) == (1, 0.0)


def test_a_paid_send_costs_its_type_price_and_records_what_was_sent(esms: MockProvider) -> None:
    since = time.time()
    smsid = post(esms, "SendMultipleMessage_V4_post_json", Phone="84912345678", **SMS,
                 campaignid="Tet 2026").json()["SMSID"]
    assert balance(esms) == BALANCE - 850
    [row] = sent_rows(esms, since)  # no webhook: the message ends as its outcome says
    assert (row["ReferenceId"], row["Phone"], row["Content"]) == (smsid, "0912345678",
                                                                  "Ma OTP 4821")
    assert (row["Campaign"], row["SmsType"], row["SellPrice"]) == ("Tet 2026", 2, 850.0)
    assert (row["SendResult"], row["SendStatus"]) == (1, 5)
    [message] = listed(esms)
    assert (message["id"], message["api"], message["sandbox"]) == (
        smsid, "SendMultipleMessage_V4_post_json", False)
    assert [(p["phone"], p["receivers"]) for p in message["parts"]] == [("0912345678", 1)]


@pytest.mark.parametrize(("body", "written"), [
    ("json", "0901 888 484"), ("json", "+84 901 888 484"), ("form", "+84 901 888 484")])
def test_a_number_written_with_spaces_is_charged_and_listed_as_the_local_number(
        esms: MockProvider, body: str, written: str) -> None:
    since = time.time()
    if body == "json":
        answer = post(esms, "SendMultipleMessage_V4_post_json", **{**SMS, "Phone": written})
    else:  # as eSMS's Python sample posts it: requests encodes "+" as %2B, a space as "+"
        answer = requests.post(api(esms, "SendMultipleMessage_V4_post/"), timeout=DEADLINE,
                               data={"APIKEY": KEYS["ApiKey"], "SECRETKEY": KEYS["SecretKey"],
                                     "CONTENT": SMS["Content"], "SMSTYPE": "2",
                                     "BRANDNAME": "B", "PHONE": written})
        assert answer.json()["CodeResult"] == "100", answer.text
    assert answer.headers[EXPLAIN] == "0901888484: delivered (default_outcome)"
    [row] = sent_rows(esms, since)
    assert (row["Phone"], row["SellPrice"]) == ("0901888484", 850.0)


def test_a_zns_row_shows_the_template_values_joined_and_its_type(esms: MockProvider) -> None:
    since = time.time()
    post(esms, "SendZaloMessage_V4_post_json", Phone="0912345678", OAID=OAID, TempID="205644",
         Params=["Lan", 4821], **KEYS)
    [row] = sent_rows(esms, since)
    assert (row["Content"], row["SmsType"], row["SellPrice"]) == ("Lan 4821", 25, 330.0)


def test_an_advertising_send_pays_for_every_number_and_shows_the_first(
        esms: MockProvider) -> None:
    since = time.time()
    phones = ["0912345670", "0983456781", "0903456782"]
    post(esms, "SendMultipleSMSBrandname_json", Phones=phones, Content="Sale",
         Brandname="B", SmsType="1", **KEYS)
    assert balance(esms) == BALANCE - 3 * 5
    [row] = sent_rows(esms, since)
    assert (row["Phone"], row["SellPrice"], row["SmsType"]) == ("0912345670", 15.0, 1)
    [message] = listed(esms)  # one campaign part for all the numbers
    assert [(p["phone"], p["receivers"]) for p in message["parts"]] == [("", 3)]


def test_a_failed_message_costs_nothing(esms: MockProvider) -> None:
    since = time.time()
    post(esms, "SendMultipleMessage_V4_post_json", Phone="0912341111", **SMS)
    assert balance(esms) == BALANCE
    [row] = sent_rows(esms, since)
    assert (row["SendResult"], row["SellPrice"]) == (0, 0.0)


def test_a_fallback_costs_the_channel_that_delivered(esms: MockProvider, sink: EsmsSink) -> None:
    def multichannel(phone: str) -> requests.Response:
        return post(esms, "MultiChannelMessage", Phone=phone, Channels=["zalo", "sms"], Data=[
            {"TempID": "205644", "Params": ["686868"], "OAID": OAID,
             "CallbackUrl": f"{sink.url}/zalo"},
            {"Content": "686868", "SmsType": "2", "Brandname": "B",
             "CallbackUrl": f"{sink.url}/sms"}], **KEYS)

    delivered = multichannel("0912340000")  # Zalo delivers: no SMS
    assert balance(esms) == BALANCE - 330
    assert delivered.headers[EXPLAIN] == "0912340000: zalo: delivered (number suffix 0000)"
    fallback = multichannel("0912347777")  # Zalo fails (channel_magic_numbers): the SMS pays
    assert balance(esms) == BALANCE - 330 - 850
    assert fallback.headers[EXPLAIN] == (
        "0912347777: zalo: failed (channel_magic_numbers zalo suffix 7777); "
        "0912347777: sms: delivered (default_outcome)")
    multichannel("0912341111")  # both fail: nothing to pay
    assert balance(esms) == BALANCE - 330 - 850
    settle(esms)


def test_the_explanation_names_each_number_and_what_decided_it(esms: MockProvider) -> None:
    answer = post(esms, "Send_Multiple_Sms_OTT", Phones=["0912341111", "0912342222"],
                  Content="x", Brandname="B", SmsType="23", **KEYS)
    assert answer.headers[EXPLAIN] == ("0912341111: failed (number suffix 1111); "
                                       "0912342222: no_receipt (number suffix 2222)")


# ------------------------------------------------------------- rules and channels decide
RULES = [{"match": {"request_id": "^fail-"}, "outcome": "failed"},
         {"match": {"phone": "7777$"}, "outcome": "hold"}]


@pytest.fixture(scope="module")
def ruled(sink: EsmsSink) -> Iterator[MockProvider]:
    with MockProvider(time_scale=0, send={"rules": RULES}) as provider:
        yield provider


def zalo_then_sms(provider: MockProvider, sink: EsmsSink, phone: str,
                  headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.post(api(provider, "MultiChannelMessage"), timeout=DEADLINE,
                             headers=headers or {}, json={
        **KEYS, "Phone": phone, "Channels": ["zalo", "sms"], "Data": [
            {"TempID": "205644", "Params": ["686868"], "OAID": OAID,
             "CallbackUrl": f"{sink.url}/zalo"},
            {"Content": "686868", "SmsType": "2", "Brandname": "B",
             "CallbackUrl": f"{sink.url}/sms"}]})
    assert response.json()["CodeResult"] == "100", response.json()
    return response


def test_a_rule_on_the_request_id_decides_the_outcome(ruled: MockProvider) -> None:
    ruled.reset()
    answer = post(ruled, "SendMultipleMessage_V4_post_json", Phone="0912345678",
                  RequestId="fail-1", **SMS)
    assert answer.headers[EXPLAIN] == "0912345678: failed (send.rules[0])"


def test_a_fallback_channel_a_rule_would_hold_is_sent_at_once(ruled: MockProvider,
                                                               sink: EsmsSink) -> None:
    ruled.reset()
    answer = zalo_then_sms(ruled, sink, "0912347777")
    assert answer.headers[EXPLAIN] == (
        "0912347777: zalo: failed (channel_magic_numbers zalo suffix 7777); "
        "0912347777: sms: delivered (send.rules[1], not held)")
    paths = [path for path, _ in sink.wait(answer.json()["SMSID"], 2)]
    assert paths == ["/zalo", "/sms"]


def test_the_scenario_header_wins_over_the_channel_magic_numbers_on_the_first_channel(
        ruled: MockProvider, sink: EsmsSink) -> None:
    ruled.reset()
    answer = zalo_then_sms(ruled, sink, "0912347777", {"X-Dlrmock-Scenario": "delivered"})
    explain = answer.headers[EXPLAIN]
    assert explain.startswith("0912347777: zalo: delivered (") and "sms" not in explain
    [(path, _)] = sink.wait(answer.json()["SMSID"], 1)
    assert path == "/zalo"


def test_a_failed_channel_with_no_webhook_hands_over_to_the_next_at_once(
        ruled: MockProvider, sink: EsmsSink) -> None:
    ruled.reset()  # no default webhook: the Zalo channel has nowhere to call back
    answer = requests.post(api(ruled, "MultiChannelMessage"), timeout=DEADLINE, json={
        **KEYS, "Phone": "0912341111", "Channels": ["zalo", "sms"], "Data": [
            {"TempID": "205644", "Params": ["686868"], "OAID": OAID},
            {"Content": "686868", "SmsType": "2", "Brandname": "B",
             "CallbackUrl": f"{sink.url}/sms-only"}]}).json()
    [(path, callback)] = sink.wait(answer["SMSID"], 1)
    assert (path, callback["TypeId"], callback["SendFailed"]) == ("/sms-only", "2", "1")


@pytest.mark.parametrize(("name", "fields"), [
    ("SendZaloMessage_V4_post_json", {"Phone": "0912345678", "OAID": OAID, "TempID": "205644",
                                      "Params": ["Lan"]}),
    ("SendMultipleMessage_V4_get", {"Phone": "0912345678", "Content": "x", "SmsType": "2",
                                    "Brandname": "B"}),
])
def test_a_reused_request_id_elsewhere_is_124_without_send_status(
        esms: MockProvider, name: str, fields: dict[str, str]) -> None:
    def send() -> requests.Response:
        document = {**KEYS, **fields, "RequestId": "order-7"}
        if name.endswith("_get"):
            return requests.get(api(esms, name), params=document, timeout=DEADLINE)
        return requests.post(api(esms, name), json=document, timeout=DEADLINE)

    assert send().json()["CodeResult"] == "100"
    assert send().json() == {"CodeResult": "124", "CountRegenerate": 0,
                             "ErrorMessage": "Request exist 1"}


def test_a_fixed_number_sms_is_listed_as_sms_type_8_and_found_by_it(esms: MockProvider) -> None:
    since = time.time()
    smsid = post(esms, "SendMultipleMessage_V4_post_json", Phone="0912345678",
                 **{**SMS, "SmsType": 8}).json()["SMSID"]
    [row] = sent_rows(esms, since)
    assert (row["ReferenceId"], row["SmsType"], row["SellPrice"]) == (smsid, 8, 850.0)
    answer = requests.post(api(esms, "GetSmsSentData_V2"), timeout=DEADLINE, json={
        **KEYS, "From": local(since - 1), "To": local(time.time() + 1), "SmsType": "8"}).json()
    assert [r["ReferenceId"] for r in answer["SentData"]] == [smsid]


def test_an_advertising_campaign_ends_as_its_first_number_says(esms: MockProvider,
                                                               sink: EsmsSink) -> None:
    answer = post(esms, "SendMultipleSMSBrandname_json", Phones=["0912341111", "0983450000"],
                  Content="Sale", Brandname="B", SmsType="1", CallbackUrl=f"{sink.url}/ads",
                  **KEYS)
    assert answer.headers[EXPLAIN] == "0912341111: failed (number suffix 1111)"
    [(_, callback)] = sink.wait(answer.json()["SMSID"], 1)
    # docs/send-apis.md: a message that ends failed costs nothing, its callback says 0.
    assert (callback["TypeId"], callback["SendSuccess"], callback["TotalPrice"]) == \
        ("1", "0", "0.0000")
    assert balance(esms) == BALANCE


def test_a_multichannel_send_whose_first_channel_is_sandbox_is_free_and_listed_sandbox(
        esms: MockProvider, sink: EsmsSink) -> None:
    post(esms, "MultiChannelMessage", Phone="0912340000", Channels=["zalo", "sms"], Data=[
        {"TempID": "205644", "Params": ["686868"], "OAID": OAID, "Sandbox": 1},
        {"Content": "686868", "SmsType": "2", "Brandname": "B"}], **KEYS)
    assert balance(esms) == BALANCE
    [message] = listed(esms)
    assert message["sandbox"] is True


def test_a_viber_send_to_two_numbers_pays_for_each_as_its_own_part(esms: MockProvider) -> None:
    post(esms, "Send_Multiple_Sms_OTT", Phones=["0912340000", "0983450000"], Content="x",
         Brandname="B", SmsType="23", **KEYS)  # TypeId 23 keeps its default price, 470
    [message] = listed(esms)
    assert [(p["phone"], p["receivers"]) for p in message["parts"]] == \
        [("0912340000", 1), ("0983450000", 1)]
    assert balance(esms) == BALANCE - 2 * 470


def test_a_failed_scenario_named_for_the_zalo_channel_hands_over_to_the_sms(
        ruled: MockProvider, sink: EsmsSink) -> None:
    ruled.reset()
    answer = zalo_then_sms(ruled, sink, "0912340000",
                           {"X-Dlrmock-Scenario": "esms.zns.normal.failed_user_inactive"})
    calls = sink.wait(answer.json()["SMSID"], 2)
    assert [(path, c["TypeId"]) for path, c in calls] == [("/zalo", "25"), ("/sms", "2")]
