"""eSMS's pull and query APIs — GetCallback, QueryZnsStatus, GetSmsSentData_V2, the OTP
codes — refuse in their own shapes and record what they were asked about.

A :class:`MockProvider` at time scale 0 on 127.0.0.1, a loopback sink for the callbacks,
``requests`` as the app, the docs' request examples (``schemas/sendapi-examples/esms/``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from esms_sink import EsmsSink
from test_sendapi_esms_apis import (
    DEADLINE,
    EXPLAIN,
    KEYS,
    _sms_template,
    api,
    settle,
    vector,
    voice_query,
    with_keys,
)

from mock_server import MockProvider

OAID, TEMPLATE = "4097311281936189049", "205644"


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()


def zns(provider: MockProvider, phone: str, **fields: Any) -> str:
    answer = requests.post(api(provider, "SendZaloMessage_V6"), timeout=DEADLINE, json={
        **KEYS, "Phone": phone, "OAID": OAID, "TempID": TEMPLATE,
        "TempData": {"otp": "686868"}, **fields}).json()
    assert answer["CodeResult"] == "100", answer
    return str(answer["SMSID"])


def get_callback(provider: MockProvider, refids: list[str], **keys: str) -> requests.Response:
    document = with_keys(vector("req-GetCallback.json"))
    document.update(ListRefid=refids, **keys)
    return requests.post(f"{provider.url}/ZaloCallback/GetCallback", json=document,
                         timeout=DEADLINE)


# ------------------------------------------------------------------------------ GetCallback
def test_get_callback_with_a_wrong_key_is_101_in_its_own_shape(esms: MockProvider) -> None:
    for keys in ({"SecretKey": "wrong"}, {"ApiKey": "wrong"}):
        answer = get_callback(esms, ["x"], **keys)
        assert (answer.status_code, answer.json()) == (200, {"Code": 101,
                                                             "Message": "Authorize Failed"})
        assert "api_key" in answer.headers[EXPLAIN]


def test_get_callback_at_the_root_also_answers_with_a_trailing_slash(esms: MockProvider) -> None:
    document = with_keys(vector("req-GetCallback.json"))
    document.update(ListRefid=["x"], SecretKey="wrong")
    for path in ("/ZaloCallback/GetCallback", "/ZaloCallback/GetCallback/"):
        answer = requests.post(f"{esms.url}{path}", json=document, timeout=DEADLINE,
                               allow_redirects=False)
        assert (answer.status_code, answer.json()) == (200, {"Code": 101,
                                                             "Message": "Authorize Failed"})


def test_get_callback_is_recorded_with_the_known_messages_it_asked_about(
        esms: MockProvider, sink: EsmsSink) -> None:
    pulled = zns(esms, "0961230000", CallbackUrl=f"{sink.url}/pull")
    pushed = zns(esms, "0961230000")  # to the default webhook: nothing to pull
    sink.wait(pulled, 1)
    settle(esms)
    answer = get_callback(esms, ["unknown", pushed, pulled]).json()
    assert [entry["SMSID"] for entry in answer["Data_callback"]] == [pulled]
    assert esms.sent[-1].message_ids == [pushed, pulled]


# --------------------------------------------------------------- SendMessageAutoGenCode_V5
def gencode(provider: MockProvider, **fields: Any) -> requests.Response:
    """The docs' request with ``fields`` changed (``None``: left out)."""
    document = with_keys(vector("req-SendMessageAutoGenCode_V5.json"))
    document.update(fields)
    document = {key: value for key, value in document.items() if value is not None}
    return requests.post(api(provider, "SendMessageAutoGenCode_V5"), json=document,
                         timeout=DEADLINE)


def check_code(provider: MockProvider, phone: str, code: str) -> str:
    return str(requests.get(api(provider, "CheckCodeGen_V4_get"), timeout=DEADLINE,
                            params={**KEYS, "Phone": phone, "Code": code}).json()["CodeResult"])


def test_a_multichannel_code_is_6_digits_sent_by_zalo_with_its_template_and_checks_once(
        esms: MockProvider, sink: EsmsSink) -> None:
    response = gencode(esms, Phone="0901880000")  # the docs' request: TimeAlive 2, TypeId 2
    explain = response.headers[EXPLAIN]
    code = explain.split()[1]
    assert explain == f"code {code} for 0901880000, valid 2 min"
    assert len(code) == 6 and code.isdigit()
    [(path, callback)] = sink.wait(response.json()["SMSID"], 1)
    assert (path, callback["TypeId"], callback["oaid"], callback["tempid"]) == \
        ("/default", "25", "0", "22575")
    assert callback["phonenumber"] == "0901880000"
    assert (check_code(esms, "0901880000", code), check_code(esms, "0901880000", code)) == \
        ("100", "117")


@pytest.mark.parametrize(("alive", "minutes"), [(None, 5), ("", 5), (2, 2), ("15", 15)])
def test_a_multichannel_code_lives_time_alive_minutes_5_when_not_given(
        esms: MockProvider, alive: Any, minutes: int) -> None:
    response = gencode(esms, Phone="0901880000", TimeAlive=alive)
    assert response.json()["CodeResult"] == "100"
    assert response.headers[EXPLAIN].endswith(f", valid {minutes} min")


@pytest.mark.parametrize("alive", ["1", "16", "5m"])
def test_a_multichannel_time_alive_outside_2_to_15_minutes_is_an_invalid_request_naming_it(
        esms: MockProvider, alive: str) -> None:
    response = gencode(esms, Phone="0901880000", TimeAlive=alive)
    assert (response.status_code, response.json()) == (200, {"error": "Invalid request"})
    assert response.headers[EXPLAIN] == \
        f"TimeAlive {alive!r}: minutes from 2 to 15 (5 when not given)"
    assert not esms.runs


def test_type_id_1_only_makes_the_code_and_sends_nothing(esms: MockProvider,
                                                         sink: EsmsSink) -> None:
    response = gencode(esms, Phone="0901881111", TypeId=1)
    smsid = response.json()["SMSID"]
    code = response.headers[EXPLAIN].split()[1]
    settle(esms)
    assert not esms.runs  # nothing scheduled, not even to nowhere
    assert not [call for call in sink.calls if call[1].get("SMSID") == smsid]
    assert check_code(esms, "0901881111", code) == "100"


def test_a_type_id_other_than_1_or_2_is_an_invalid_request_naming_it(esms: MockProvider) -> None:
    response = gencode(esms, Phone="0901880000", TypeId="3")
    assert response.json() == {"error": "Invalid request"}
    assert response.headers[EXPLAIN] == \
        "TypeId '3': 1 (only make the code) or 2 (make and send it)"
    assert gencode(esms, Phone="0901880000", TypeId="").json()["CodeResult"] == "100"


def test_a_multichannel_template_id_that_is_not_a_number_calls_back_tempid_0(
        esms: MockProvider, sink: EsmsSink) -> None:
    smsid = gencode(esms, Phone="0901880000", MultiChannelTempId="otp-2026").json()["SMSID"]
    [(_, callback)] = sink.wait(smsid, 1)
    assert callback["tempid"] == "0"


# ------------------------------------------------------------------------ GetSmsSentData_V2
def sent_data(provider: MockProvider, start: float, end: float,
              **fields: Any) -> dict[str, Any]:
    def local(at: float) -> str:  # eSMS's clock: +0700, to the second
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at + 7 * 3600))

    answer = requests.post(api(provider, "GetSmsSentData_V2"), timeout=DEADLINE, json={
        **KEYS, "From": local(start), "To": local(end), **fields}).json()
    assert answer["CodeResult"] == "100", answer
    return dict(answer)


def created(row: dict[str, Any]) -> float:
    """The creation time ``SentTime`` shows (``/Date(<ms>+0700)/``), in seconds."""
    return int(row["SentTime"][6:-7]) / 1000


def test_sent_data_from_and_to_are_inclusive_to_the_second(esms: MockProvider) -> None:
    smsid = zns(esms, "0961230000")
    [row] = sent_data(esms, time.time() - 60, time.time() + 60)["SentData"]
    second = created(row)
    assert [r["ReferenceId"] for r in sent_data(esms, second, second)["SentData"]] == [smsid]
    assert sent_data(esms, second + 1, second + 60)["SentData"] == []
    assert sent_data(esms, second - 60, second - 1)["SentData"] == []


def test_sent_data_lists_what_was_created_after_from_even_after_older_messages(
        esms: MockProvider) -> None:
    older = zns(esms, "0961230000")
    [row] = sent_data(esms, time.time() - 60, time.time() + 60)["SentData"]
    while time.time() < created(row) + 1:  # the next second, on eSMS's clock
        time.sleep(0.05)
    newer = zns(esms, "0961230001")
    [shown] = sent_data(esms, created(row) + 1, time.time() + 60)["SentData"]
    assert shown["ReferenceId"] == newer != older


def test_sent_data_leaves_out_template_registrations(esms: MockProvider, sink: EsmsSink) -> None:
    registered = requests.post(api(esms, "SubServicePreviewJson/"), timeout=DEADLINE,
                               json=_sms_template(CallbackUrl=f"{sink.url}/registered")).json()
    assert registered["CodeResult"] == "100", registered
    smsid = zns(esms, "0961230000")
    answer = sent_data(esms, time.time() - 60, time.time() + 60)
    assert (answer["CountTotal"], [r["ReferenceId"] for r in answer["SentData"]]) == (1, [smsid])


def test_a_sent_data_query_is_recorded_with_the_messages_it_shows(esms: MockProvider) -> None:
    first, second = zns(esms, "0961230000"), zns(esms, "0961230001")
    sent_data(esms, time.time() - 60, time.time() + 60, Page=2, PageSize=1)
    assert esms.sent[-1].message_ids == [second]
    sent_data(esms, time.time() - 60, time.time() + 60)
    assert esms.sent[-1].message_ids == sorted([first, second])


def test_a_multichannel_code_falls_back_to_sms_each_channel_at_its_type_price(
        esms: MockProvider, sink: EsmsSink) -> None:
    # The default esms_unit_prices: 300 for TypeId 25, 650 for 2; a failed channel costs 0.
    delivered = gencode(esms, Phone="0901880000").json()["SMSID"]
    [(_, zalo)] = sink.wait(delivered, 1)
    assert (zalo["TypeId"], zalo["TotalPrice"], zalo["RequestId"]) == ("25", "300.0000", "")
    smsid = gencode(esms, Phone="0901887777").json()["SMSID"]  # Zalo fails on …7777
    [(_, failed), (_, sms)] = sink.wait(smsid, 2)
    assert (failed["TypeId"], failed["SendFailed"], failed["TotalPrice"]) == ("25", "1", "0.0000")
    assert (sms["TypeId"], sms["SendSuccess"], sms["TotalPrice"]) == ("2", "1", "650.0000")
    assert (sms["phonenumber"], sms["RequestId"]) == ("0901887777", "")


def test_the_scenario_header_decides_the_zalo_channel_of_a_multichannel_code(
        esms: MockProvider, sink: EsmsSink) -> None:
    response = requests.post(api(esms, "SendMessageAutoGenCode_V5"), timeout=DEADLINE,
                             headers={"X-Dlrmock-Scenario": "failed"},
                             json={**with_keys(vector("req-SendMessageAutoGenCode_V5.json")),
                                   "Phone": "0901880000"})
    calls = sink.wait(response.json()["SMSID"], 2)
    assert [(c["TypeId"], c["SendSuccess"]) for _, c in calls] == [("25", "0"), ("2", "1")]


def test_channel_magic_numbers_decide_the_sms_channel_of_a_multichannel_code(
        sink: EsmsSink) -> None:
    send = {"esms_default_webhook": f"{sink.url}/default",
            "channel_magic_numbers": {"zalo": {"7777": "failed"}, "sms": {"7777": "failed"}}}
    with MockProvider(time_scale=0, send=send) as provider:
        smsid = gencode(provider, Phone="0901887777").json()["SMSID"]
        calls = sink.wait(smsid, 2)
    assert [(c["TypeId"], c["SendFailed"]) for _, c in calls] == [("25", "1"), ("2", "1")]


# --------------------------------------------------------------------- GetZaloMessageStatus
def zalo_message_status(provider: MockProvider, **fields: str) -> requests.Response:
    """The docs' request, our keys and OA, ``fields`` changed."""
    document = {**with_keys(vector("req-GetZaloMessageStatus.json")), "OAID": OAID, **fields}
    return requests.post(api(provider, "GetZaloMessageStatus/"), json=document,
                         timeout=DEADLINE)


def test_zalo_message_status_with_a_wrong_key_is_the_look_up_101(esms: MockProvider) -> None:
    answer = zalo_message_status(esms, MessageId="6dc7499c9ef6baaee3e1", SecretKey="wrong")
    assert (answer.status_code, answer.json()) == (200, vector("query-101-authorize.json"))
    assert "api_key" in answer.headers[EXPLAIN]


@pytest.mark.parametrize(("message_id", "code", "message", "explain"), [
    ("", "851", "Thiếu MessageId hoặc SMSID",
     "MessageId is required: the partnerids of a ZNS callback"),
    ("6dc7499c9ef6baaee3e1", "854", "Không tìm thấy dữ liệu",
     "no ZNS callback played with partnerids '6dc7499c9ef6baaee3e1'"),
])
def test_zalo_message_status_refuses_a_missing_or_unknown_message_id_naming_it(
        esms: MockProvider, message_id: str, code: str, message: str, explain: str) -> None:
    answer = zalo_message_status(esms, MessageId=message_id)
    assert (answer.json()["CodeResult"], answer.json()["ErrorMessage"]) == (code, message)
    assert answer.headers[EXPLAIN] == explain
    assert esms.sent[-1].error == code


def test_zalo_message_status_of_a_delivered_zns_tells_when_in_milliseconds(
        esms: MockProvider, sink: EsmsSink) -> None:
    # Only a delivered ZNS has a Zalo message id: a failed one calls back an empty partnerids.
    before = time.time()
    smsid = zns(esms, "0961230000", CallbackUrl=f"{sink.url}/pull")
    [(_, callback)] = sink.wait(smsid, 1)
    settle(esms)
    answer = zalo_message_status(esms, MessageId=callback["partnerids"]).json()
    after = time.time()
    data = answer["Data"]
    assert (data["status"], data["message"]) == \
        (1, "The message was delivered to the user's phone")
    assert before * 1000 <= int(data["delivery_time"]) <= after * 1000  # ms, as a string
    assert esms.sent[-1].message_ids == [smsid]


def test_get_callback_shows_an_error_info_no_encoding_decodes_as_it_was_played(
        esms: MockProvider, sink: EsmsSink) -> None:
    response = requests.post(api(esms, "SendZaloMessage_V6"), timeout=DEADLINE,
                             headers={"X-Dlrmock-Scenario": "esms.zns.normal.bad_error_info"},
                             json={**KEYS, "Phone": "0961230000", "OAID": OAID,
                                   "TempID": TEMPLATE, "TempData": {"otp": "686868"},
                                   "CallbackUrl": f"{sink.url}/pull"})
    smsid = response.json()["SMSID"]
    bad, real = (callback["error_info"] for _, callback in sink.wait(smsid, 2))
    settle(esms)
    entries = get_callback(esms, [smsid]).json()["Data_callback"]
    assert [entry["ErrorInfo"] for entry in entries] == [bad, '{"error":0,"message":"Success"}']
    assert real == '"{\\"error\\":0,\\"message\\":\\"Success\\"}"'  # quoted, as eSMS sends it


# ------------------------------------------------------------------ GetSmsReceiverStatus_get
def test_receiver_status_of_an_unknown_ref_id_is_105_naming_it(esms: MockProvider) -> None:
    query = voice_query("req-GetSmsReceiverStatus_get.url")  # the docs' RefId: unknown here
    answer = requests.get(api(esms, "GetSmsReceiverStatus_get/"), params=query,
                          timeout=DEADLINE)
    assert (answer.json()["CodeResult"], answer.json()["ErrorMessage"]) == \
        ("105", "Không tìm thấy mã tin nhắn/ Mã cuộc gọi trên hệ thống.")
    assert answer.headers[EXPLAIN] == (
        "no message with SMSID '1e8caf001e494a9b873cc70535ad8b15' (the SMSID a send answered; "
        "dlrmock forgets them when restarted or reset)")


@pytest.mark.parametrize("field", ["From", "To"])
def test_sent_data_refuses_a_time_not_in_the_documented_format_naming_it(
        esms: MockProvider, field: str) -> None:
    document = {**with_keys(vector("req-GetSmsSentData_V2.json")), field: "01/01/2025 06:00"}
    response = requests.post(api(esms, "GetSmsSentData_V2/"), json=document, timeout=DEADLINE)
    assert response.json() == {"error": "Invalid request"}
    assert response.headers[EXPLAIN] == (f"{field} '01/01/2025 06:00': a creation time "
                                         "yyyy-MM-dd HH:mm:ss (+0700) is required")
