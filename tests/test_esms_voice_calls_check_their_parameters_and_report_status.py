"""eSMS's voice calls (``MakeCallTemplate_V2``, ``MakeCallRecord_V2``, the legacy ``VoiceOTP``)
and the voice ``GetSendStatus``: each documented parameter rule, each error in the voice API's
own shape (no ``CountRegenerate``), the callback a call plays and the status it reports before,
without and after its callback.

Over real sockets, as an app calls them: a :class:`MockProvider` at time scale 0 with registered
call scripts and recordings (``voice_templates``, ``voice_records``) and no default webhook, a
sink for the callbacks, ``requests`` sending GETs with the parameters in the query string.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from esms_invalid_request import invalid_request
from esms_sink import EsmsSink
from test_sendapi_esms_apis import DEADLINE, EXPLAIN, KEYS, api, settle, valid, vector

from mock_server import MockProvider

SCRIPTS = ["12", "13"]
RECORDINGS = ["34"]
DELIVERED, FAILED, NO_RECEIPT, HELD = "0901880000", "0901881111", "0901882222", "0901886666"
"""Numbers whose magic suffix decides the call: answered, failed, never reported, held."""


@pytest.fixture(scope="module")
def esms() -> Iterator[MockProvider]:
    send = {"voice_templates": SCRIPTS, "voice_records": RECORDINGS,
            "rules": [{"match": {"request_id": "^fail-"}, "outcome": "failed"}]}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()


def call(provider: MockProvider, name: str = "MakeCallTemplate_V2", *,
         headers: dict[str, str] | None = None, **params: str) -> requests.Response:
    """A GET to a voice API: our keys, script 12 (recording 34), ``params`` over them."""
    template = RECORDINGS[0] if name == "MakeCallRecord_V2" else SCRIPTS[0]
    query = {**KEYS, "TemplateId": template, "Phone": DELIVERED, **params}
    return requests.get(api(provider, name), params=query, headers=headers, timeout=DEADLINE)


def called(response: requests.Response) -> str:
    """The SMSID of an accepted call, its answer checked against the documented shape."""
    answer = valid("esms.voice.call.response", response.json())
    assert list(answer) == ["CodeResult", "SMSID"] and answer["CodeResult"] == "100", answer
    return str(answer["SMSID"])


def refused(provider: MockProvider, response: requests.Response, code: str,
            message: str) -> str:
    """Assert the voice API's error document (no CountRegenerate) and the code captured;
    dlrmock's explanation."""
    assert response.status_code == 200
    assert response.json() == {"CodeResult": code, "ErrorMessage": message}
    assert provider.sent[-1].error == code
    return str(response.headers[EXPLAIN])


def invalid(provider: MockProvider, response: requests.Response) -> str:
    """Assert eSMS's documented invalid request, captured as 99; dlrmock's explanation."""
    explain = invalid_request(response)
    assert provider.sent[-1].error == "99"
    return explain


def voice_status(provider: MockProvider, smsid: str) -> dict[str, Any]:
    settle(provider)
    response = requests.get(api(provider, "GetSendStatus"), timeout=DEADLINE,
                            params={**KEYS, "ReferenceId": smsid})
    return dict(valid("esms.voice.status.response", response.json()))


def status_of(smsid: str, *, duration: int = 0, call_status: str = "", ivr: str = "",
              send_status: int = 5, sent_result: int = 0) -> dict[str, Any]:
    """The whole voice status document, in ``voice-GetSendStatus-100.json``'s order."""
    return {"CallDuration": duration, "CallStatus": call_status, "CodeResponse": "100",
            "Ivr": ivr, "ReferenceId": smsid, "SendStatus": send_status,
            "SentResult": sent_result}


# ------------------------------------------------------------------------------ RequestId
@pytest.mark.parametrize(("name", "key"), [("MakeCallTemplate_V2", "RequestId"),
                                           ("MakeCallRecord_V2", "RequestID"),
                                           ("VoiceOTP", "requestid")])
def test_a_call_request_id_of_50_characters_is_accepted_and_51_is_an_invalid_request_stating_both(
        esms: MockProvider, name: str, key: str) -> None:
    extra = {"Code": "482913"} if name == "VoiceOTP" else {}
    called(call(esms, name, **extra, **{key: "r" * 50}))
    message = "RequestId is 51 characters long; eSMS allows at most 50"
    assert invalid(esms, call(esms, name, **extra, **{key: "s" * 51})) == message


def test_a_call_request_id_used_again_is_124_and_one_refused_for_another_reason_stays_free(
        esms: MockProvider) -> None:
    called(call(esms, RequestId="voice-1"))
    again = call(esms, RequestId="voice-1")
    assert again.json()["CodeResult"] == "124"
    assert "'voice-1'" in again.headers[EXPLAIN]
    invalid(esms, call(esms, RequestId="voice-2",
                       headers={"X-Dlrmock-Scenario": "no-such-outcome"}))
    called(call(esms, RequestId="voice-2"))


@pytest.mark.parametrize("name", ["MakeCallTemplate_V2", "MakeCallRecord_V2", "VoiceOTP"])
def test_every_refusal_of_a_call_is_in_the_voice_apis_shape_without_count_regenerate(
        name: str) -> None:
    # The checks a call shares with the SMS sends (phone, RequestId, balance) answer in the
    # voice APIs' documented error shape too, as the Python sample's GET reads it.
    extra = {"Code": "482913"} if name == "VoiceOTP" else {}
    with MockProvider(time_scale=0, send={"balance": 100, "esms_unit_prices": {"voice": 300}}
                      ) as provider:
        refused(provider, call(provider, name, Phone="12ab", **extra), "108",
                "Số điện thoại không đúng định dạng.")
        refused(provider, call(provider, name, **extra), "103", "Không đủ số dư để gửi tin.")
    with MockProvider(time_scale=0) as provider:
        called(call(provider, name, REQUESTID="once", **extra))
        again = call(provider, name, REQUESTID="once", **extra)
        assert list(again.json()) == ["CodeResult", "ErrorMessage"], again.json()
        assert again.json()["CodeResult"] == "124" and provider.sent[-1].error == "124"


def test_send_rules_match_a_voice_calls_request_id(esms: MockProvider, sink: EsmsSink) -> None:
    smsid = called(call(esms, RequestId="fail-7", CallbackUrl=f"{sink.url}/voice"))
    [(_, callback)] = sink.wait(smsid, 1)
    assert (callback["SentResult"], callback["CallStatus"]) == ("0", "")
    assert voice_status(esms, smsid) == status_of(smsid, call_status="NOANSWERED")


def test_the_scenario_header_decides_a_call_and_no_answer_reads_noanswered_in_the_status(
        esms: MockProvider, sink: EsmsSink) -> None:
    smsid = called(call(esms, CallbackUrl=f"{sink.url}/voice",
                        headers={"X-Dlrmock-Scenario": "esms.voice.call.no_answer"}))
    [(_, callback)] = sink.wait(smsid, 1)
    assert (callback["CallStatus"], callback["SentResult"]) == ("NO ANSWER", "0")
    # [choice, docs/choices.md] the status API's own spelling: NOANSWERED.
    assert voice_status(esms, smsid) == status_of(smsid, call_status="NOANSWERED")


# --------------------------------------------------------------------- SendDate, Voice, Speed
def test_a_call_send_date_is_written_with_slashes(esms: MockProvider) -> None:
    called(call(esms, SendDate="2017/12/12 14:00:00"))
    message = ("SendDate '2017-12-12 14:00:00': voice calls write it yyyy/MM/dd hh:mm:ss, "
               "e.g. 2017/12/12 14:00:00")
    assert invalid(esms, call(esms, SendDate="2017-12-12 14:00:00")) == message


def test_a_call_voice_is_one_of_the_documented_four_in_any_letter_case(
        esms: MockProvider) -> None:
    for voice in ("male", "FEMALE", "HaTieuMai", "ngoclam"):
        called(call(esms, Voice=voice))
    message = "Voice 'robot': one of male, female, hatieumai, ngoclam"
    assert invalid(esms, call(esms, Voice="Robot")) == message


@pytest.mark.parametrize("speed", ["-3", "0", "3"])
def test_a_call_speed_from_minus_3_to_3_is_accepted(esms: MockProvider, speed: str) -> None:
    called(call(esms, "VoiceOTP", Code="482913", Speed=speed))


@pytest.mark.parametrize("speed", ["-4", "4", "1.5", "fast", "+1"])
def test_a_call_speed_outside_minus_3_to_3_is_an_invalid_request(esms: MockProvider,
                                                                speed: str) -> None:
    message = f"Speed {speed!r}: from -3 to 3"
    assert invalid(esms, call(esms, Speed=speed)) == message


# ----------------------------------------------------------------- scripts, recordings, codes
def test_a_call_script_not_registered_is_the_documented_104_naming_the_registered_ones(
        esms: MockProvider) -> None:
    response = call(esms, TemplateId="99")
    assert response.json() == vector("voice-MakeCallTemplate_V2-104.json")
    assert esms.sent[-1].error == "104"
    assert response.headers[EXPLAIN] == ("TemplateId '99' is not a registered call script "
                                         "(the voice_templates setting: 12, 13)")


def test_a_recording_not_uploaded_is_106_in_esms_words_naming_the_uploaded_ones(
        esms: MockProvider) -> None:
    explain = refused(esms, call(esms, "MakeCallRecord_V2", TemplateId="35"), "106",
                      "File ghi âm không tồn tại.")
    assert explain == "TemplateId '35' is not an uploaded recording (the voice_records setting: 34)"


def test_without_registered_scripts_any_template_is_called_and_an_empty_one_is_104() -> None:
    with MockProvider(time_scale=0) as provider:
        called(call(provider, TemplateId="7"))
        called(call(provider, "MakeCallRecord_V2", TemplateId="8"))
        response = call(provider, TemplateId="")
        assert response.json() == vector("voice-MakeCallTemplate_V2-104.json")
        assert response.headers[EXPLAIN] == ("TemplateId '' is not a registered call script "
                                             "(the voice_templates setting: any)")


def test_voice_otp_reads_digits_only(esms: MockProvider) -> None:
    message = "Code '48a913': the digits to read out"
    assert invalid(esms, call(esms, "VoiceOTP", Code="48a913")) == message


@pytest.mark.parametrize(("name", "params", "field"), [
    ("MakeCallTemplate_V2", {"TemplateId": "13"}, ("template_id", "13")),
    ("MakeCallRecord_V2", {"TemplateId": "34"}, ("record_id", "34")),
    ("VoiceOTP", {"Code": "482913"}, ("code", "482913")),
])
def test_a_calls_run_records_the_script_recording_or_code_it_plays(
        esms: MockProvider, sink: EsmsSink, name: str, params: dict[str, str],
        field: tuple[str, str]) -> None:
    called(call(esms, name, CallbackUrl=f"{sink.url}/voice", **params))
    [run] = esms.sent[-1].wait(DEADLINE)
    key, value = field
    assert run.message[key] == value


def test_a_recorded_call_calls_back_with_the_key_pressed_and_its_status_repeats_it(
        esms: MockProvider, sink: EsmsSink) -> None:
    smsid = called(call(esms, "MakeCallRecord_V2", Ivr="3", CallbackUrl=f"{sink.url}/voice"))
    [(_, callback)] = sink.wait(smsid, 1)
    assert (callback["CallStatus"], callback["Ivr"], callback["SentResult"]) == (
        "ANSWERED", "3", "1")
    assert voice_status(esms, smsid) == status_of(
        smsid, duration=int(callback["CallDuration"]), call_status="ANSWERED", ivr="3",
        sent_result=1)


# ------------------------------------------------------------------------- GetSendStatus
def test_a_held_call_is_waiting_in_its_status_until_released_then_follows_its_callback(
        esms: MockProvider, sink: EsmsSink) -> None:
    smsid = called(call(esms, Phone=HELD, CallbackUrl=f"{sink.url}/voice"))
    assert voice_status(esms, smsid) == status_of(smsid, send_status=2)
    released = requests.post(f"{esms.url}/_dlrmock/messages/{smsid}/release",
                             json={"outcome": "failed"}, timeout=DEADLINE)
    assert released.status_code == 200, released.text
    [(_, callback)] = sink.wait(smsid, 1)
    assert callback["SentResult"] == "0"
    assert voice_status(esms, smsid) == status_of(smsid, call_status="NOANSWERED")


@pytest.mark.parametrize(("phone", "expected"), [
    (DELIVERED, {"call_status": "ANSWERED", "sent_result": 1}),
    (FAILED, {"call_status": "NOANSWERED"}),
    (NO_RECEIPT, {"send_status": 2}),
    (HELD, {"send_status": 2}),
])
def test_a_call_without_a_callback_url_reports_its_outcome_at_once(
        esms: MockProvider, phone: str, expected: dict[str, Any]) -> None:
    smsid = called(call(esms, Phone=phone))
    assert voice_status(esms, smsid) == status_of(smsid, **expected)


def test_the_voice_status_of_an_unknown_call_or_of_an_sms_is_105_and_queries_are_captured(
        esms: MockProvider) -> None:
    smsid = called(call(esms))
    voice_status(esms, smsid)
    assert esms.sent[-1].message_ids == [smsid]
    sms = requests.get(api(esms, "SendMultipleMessage_V4_get"), timeout=DEADLINE, params={
        **KEYS, "Phone": DELIVERED, "Content": "hi", "SmsType": "8"}).json()["SMSID"]
    for reference in ("nope", sms):
        response = requests.get(api(esms, "GetSendStatus"), timeout=DEADLINE,
                                params={**KEYS, "ReferenceId": reference})
        assert response.json() == {"CodeResponse": "105", "ErrorMessage":
                                   "Không tìm thấy mã tin nhắn/ Mã cuộc gọi trên hệ thống."}
        assert esms.sent[-1].error == "105"
        assert f"no call with ReferenceId {reference!r}" in response.headers[EXPLAIN]
