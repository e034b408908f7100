"""An invalid request to any eSMS API gets eSMS's documented answer, byte for byte.

eSMS's docs print ``{"error": "Invalid request"}`` (the tab "99" of the send pages,
``error-99-invalid-request.json``) and no ``CodeResult``. dlrmock answers exactly those bytes;
why it refused is only in its own places: the ``X-Dlrmock-Explain`` header, the captured send
(``GET /_dlrmock/sent``) and the serve log. Each request here is made the way a real app makes
it, with ``requests`` against a :class:`MockProvider` on a real 127.0.0.1 socket.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from esms_invalid_request import INVALID_REQUEST, VECTOR, invalid_request
from targets import refused_url

from mock_server import MockProvider
from mock_server._console import ConsolePrinter
from mock_server._registry import validator_for
from mock_server.sendapi.esms import ENDPOINTS

KEYS = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key"}
DEADLINE = 10.0
LIMIT = 4096


@pytest.fixture(scope="module")
def provider() -> Iterator[MockProvider]:
    send = {"esms_default_webhook": refused_url(), "max_body_bytes": LIMIT}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(provider: MockProvider) -> None:
    provider.reset()


def url(provider: MockProvider, name: str) -> str:
    return f"{provider.url}/MainService.svc/json/{name}"


def sms(**fields: Any) -> dict[str, Any]:
    return {**KEYS, "Phone": "0901888484", "Content": "Ma OTP 4821", "SmsType": "2",
            "Brandname": "Baotrixemay", **fields}


def recorded(provider: MockProvider, explain: str) -> None:
    """The refusal as dlrmock keeps it: eSMS's answer, its reason, nothing sent."""
    [sent] = provider.sent
    assert sent.response == {"error": "Invalid request"}
    assert sent.explain == explain and sent.error == "99"
    assert sent.message_ids == [] and sent.run_ids == [] and provider.runs == []


def test_the_expected_bytes_are_the_documented_example() -> None:
    # The docs' code block, kept verbatim under the spec's file name.
    assert VECTOR.name == "error-99-invalid-request.json"
    assert json.loads(INVALID_REQUEST) == {"error": "Invalid request"}


def test_a_form_body_posted_to_the_json_api_is_invalid(provider: MockProvider) -> None:
    # requests' data= sends a form: a common slip against SendMultipleMessage_V4_post_json.
    response = requests.post(url(provider, "SendMultipleMessage_V4_post_json/"), data=sms(),
                             timeout=DEADLINE)
    explain = invalid_request(response)
    assert explain.startswith("Invalid request: body is not valid JSON: ")
    recorded(provider, explain)


def test_a_body_that_is_not_an_object_is_invalid(provider: MockProvider) -> None:
    response = requests.post(url(provider, "SendZaloMessage_V6"), json=[sms()],
                             timeout=DEADLINE)
    assert invalid_request(response) == ("Invalid request: the body must be a JSON object, "
                                         "got a JSON list")


@pytest.mark.parametrize("length", [51, 60])
def test_a_request_id_over_50_characters_is_invalid_stating_both_numbers(
        provider: MockProvider, length: int) -> None:
    response = requests.post(url(provider, "SendMultipleMessage_V4_post_json"),
                             json=sms(RequestId="r" * length), timeout=DEADLINE)
    explain = invalid_request(response)
    assert explain == f"RequestId is {length} characters long; eSMS allows at most 50"
    recorded(provider, explain)


def test_a_request_id_of_50_characters_is_accepted(provider: MockProvider) -> None:
    response = requests.post(url(provider, "SendMultipleMessage_V4_post_json"),
                             json=sms(RequestId="r" * 50), timeout=DEADLINE)
    assert response.json()["CodeResult"] == "100"


def test_the_official_samples_upper_case_form_with_a_long_request_id_is_invalid(
        provider: MockProvider) -> None:
    # eSMS's Python sample posts these upper-case keys, form-encoded.
    form = {"APIKEY": KEYS["ApiKey"], "SECRETKEY": KEYS["SecretKey"], "CONTENT": "Ma OTP 4821",
            "SMSTYPE": "2", "BRANDNAME": "Baotrixemay", "PHONE": "0901888484",
            "REQUESTID": "x" * 60}
    response = requests.post(url(provider, "SendMultipleMessage_V4_post/"), data=form,
                             timeout=DEADLINE)
    assert "60 characters" in invalid_request(response)
    accepted = requests.post(url(provider, "SendMultipleMessage_V4_post/"), timeout=DEADLINE,
                             data={**form, "REQUESTID": "x" * 50})
    assert accepted.json()["CodeResult"] == "100"


def test_the_get_api_with_upper_case_keys_and_a_bad_send_date_is_invalid(
        provider: MockProvider) -> None:
    params = {"APIKEY": KEYS["ApiKey"], "SECRETKEY": KEYS["SecretKey"], "PHONE": "0901888484",
              "CONTENT": "x", "SMSTYPE": "2", "BRANDNAME": "B", "SENDDATE": "tomorrow"}
    response = requests.get(url(provider, "SendMultipleMessage_V4_get"), params=params,
                            timeout=DEADLINE)
    assert "$.SendDate" in invalid_request(response)


def test_an_empty_form_is_invalid(provider: MockProvider) -> None:
    response = requests.post(url(provider, "SendMultipleMessage_V4_post"), data=b"",
                             headers={"Content-Type": "application/x-www-form-urlencoded"},
                             timeout=DEADLINE)
    assert "empty body" in invalid_request(response)


def test_a_wrong_method_is_405_with_allow(provider: MockProvider) -> None:
    response = requests.get(url(provider, "SendMultipleMessage_V4_post_json/"),
                            timeout=DEADLINE)
    assert "method GET is not allowed" in invalid_request(response, 405)
    assert response.headers["Allow"] == "POST"
    response = requests.post(url(provider, "GetSendStatus"), json=KEYS, timeout=DEADLINE)
    assert "use GET" in invalid_request(response, 405) and response.headers["Allow"] == "GET"


def test_a_body_too_large_is_413(provider: MockProvider) -> None:
    body = json.dumps(sms(Content="x" * LIMIT)).encode()
    response = requests.post(url(provider, "SendMultipleSMSBrandname_json"), data=body,
                             headers={"Content-Type": "application/json"}, timeout=DEADLINE)
    explain = invalid_request(response, 413)
    assert explain == (f"request body too large: {len(body)} bytes, at most {LIMIT} (the "
                       "max_body_bytes setting)")


def test_an_unknown_api_is_404_listing_the_known_ones_in_the_header(
        provider: MockProvider) -> None:
    response = requests.post(url(provider, "SendSms_V9/"), json=sms(), timeout=DEADLINE)
    explain = invalid_request(response, 404)
    assert "'SendSms_V9/'" in explain and "MultiChannelMessage" in explain


def test_the_soap_service_description_is_404_pointing_at_the_json_api(
        provider: MockProvider) -> None:
    # eSMS's PHP sample (soap_client/) starts with new SoapClient(".../MainService.svc?wsdl").
    response = requests.get(f"{provider.url}/MainService.svc?wsdl", timeout=DEADLINE,
                            headers={"User-Agent": "PHP-SOAP/8.2.36"})
    explain = invalid_request(response, 404)
    assert explain == ("eSMS's SOAP service (GET /MainService.svc?wsdl) is not emulated: dlrmock "
                       "answers eSMS's JSON API; call the same method with the same fields at "
                       "/MainService.svc/json/<Method>, e.g. "
                       "/MainService.svc/json/SendMultipleMessage_V4_get")
    recorded(provider, explain)
    assert provider.sent[0].endpoint == "esms.soap"


def test_a_soap_call_is_404_naming_its_json_equivalent(provider: MockProvider) -> None:
    # What a SOAP client with a cached description posts: the method in SOAPAction.
    envelope = ('<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV='
                '"http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>'
                "<SendMultipleMessage_V4_get><ApiKey>k</ApiKey></SendMultipleMessage_V4_get>"
                "</SOAP-ENV:Body></SOAP-ENV:Envelope>")
    response = requests.post(f"{provider.url}/MainService.svc", data=envelope.encode(),
                             timeout=DEADLINE, headers={
                                 "Content-Type": "text/xml; charset=utf-8",
                                 "SOAPAction": '"http://tempuri.org/IMainService/'
                                               'SendMultipleMessage_V4_get"'})
    explain = invalid_request(response, 404)
    assert explain.startswith("eSMS's SOAP service (POST /MainService.svc) is not emulated")
    assert explain.endswith("call /MainService.svc/json/SendMultipleMessage_V4_get with the "
                            "same fields instead")
    recorded(provider, explain)
    assert provider.sent[0].body == envelope


def test_a_soap_envelope_too_large_or_cut_short_is_still_esms_invalid_request(
        provider: MockProvider) -> None:
    # The body is read before the refusal: its own faults answer in eSMS's shape too, and are
    # recorded as eSMS's.
    big = requests.post(f"{provider.url}/MainService.svc", data=b"<x/>" * LIMIT,
                        headers={"Content-Type": "text/xml"}, timeout=DEADLINE)
    assert "max_body_bytes" in invalid_request(big, 413)
    port = int(provider.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as app:
        app.sendall(b"POST /mainservice.svc HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: text/xml\r\nContent-Length: 100\r\n\r\n<SOAP-ENV:")
        app.shutdown(socket.SHUT_WR)
        cut = http.client.HTTPResponse(app)
        cut.begin()
        assert (cut.status, cut.read()) == (400, INVALID_REQUEST)
    assert [(s.provider, s.endpoint, s.error) for s in provider.sent] == [
        ("esms", "esms.soap", "99"), ("esms", "esms.soap", "99")]


def test_a_bad_scenario_header_is_invalid(provider: MockProvider) -> None:
    response = requests.post(url(provider, "SendMultipleMessage_V4_post_json"), json=sms(),
                             headers={"X-Dlrmock-Scenario": "nxcloud.zalo.failed"},
                             timeout=DEADLINE)
    assert "is a scenario of nxcloud" in invalid_request(response)


def test_a_multichannel_entry_with_a_long_request_id_is_invalid_naming_it(
        provider: MockProvider) -> None:
    document = {**KEYS, "Phone": "0901888484", "Channels": ["zalo", "sms"], "Data": [
        {"TempID": "205644", "OAID": "4097311281936189049", "Params": ["1234"],
         "RequestId": "z" * 60},
        {"Content": "Ma OTP 1234", "Brandname": "B", "SmsType": "2"}]}
    response = requests.post(url(provider, "MultiChannelMessage/"), json=document,
                             timeout=DEADLINE)
    assert invalid_request(response).startswith("Data[0] (zalo): RequestId is 60 characters")


def test_a_bulk_zns_item_that_makes_the_request_invalid_refuses_all_of_it(
        provider: MockProvider) -> None:
    document = {**KEYS, "OAID": "4097311281936189049", "TempID": "205644", "Data": [
        {"Phone": "0901888484", "Params": ["1"], "RequestId": "ok-1"},
        {"Phone": "0901888485", "Params": ["2"], "RequestId": "b" * 60}]}
    response = requests.post(url(provider, "Send_zns_bulk_v4_post_json/"), json=document,
                             timeout=DEADLINE)
    explain = invalid_request(response)
    assert explain == "Data[1]: RequestId is 60 characters long; eSMS allows at most 50"
    recorded(provider, explain)  # the good item before it was not sent either
    document["Data"][1]["RequestId"] = "ok-2"
    answer = requests.post(url(provider, "Send_zns_bulk_v4_post_json/"), json=document,
                           timeout=DEADLINE).json()
    assert (answer["CodeResult"], answer["TotalSuccess"]) == ("100", 2)  # ok-1 is free


def test_a_bulk_zns_item_with_an_undocumented_sending_mode_refuses_all_of_it(
        provider: MockProvider) -> None:
    document = {**KEYS, "OAID": "4097311281936189049", "TempID": "205644", "Data": [
        {"Phone": "0901888484", "Params": ["1"]},
        {"Phone": "0901888485", "Params": ["2"], "SendingMode": "2"}]}
    response = requests.post(url(provider, "Send_zns_bulk_v4_post_json/"), json=document,
                             timeout=DEADLINE)
    assert invalid_request(response).startswith("Data[1]: SendingMode '2' is not documented")


@pytest.mark.parametrize(("method", "name", "fields", "reason"), [
    ("POST", "GetSmsSentData_V2", {"From": "2025-01-01 00:00:00", "To": "2025-01-02 00:00:00",
                                   "PageSize": 501}, "PageSize '501'"),
    ("POST", "ZNS/GetRating/", {"OAID": "1", "Limit": 51}, "Limit '51'"),
    ("GET", "MakeCallTemplate_V2", {"Phone": "0901888484", "TemplateId": "1",
                                    "SendDate": "2017-12-12"}, "yyyy/MM/dd"),
    ("GET", "VoiceOTP", {"Phone": "0901888484", "Code": "12ab"}, "Code '12ab'"),
    ("POST", "SubServicePreviewJson/", {"Brandname": "B", "ServiceType": 2},
     "required field 'Content'"),
    ("GET", "SendMessageAutoGenCode_V4_get", {"Phone": "0901888484", "Brandname": "B",
                                              "message": "no code here"}, "{OTP}"),
])
def test_look_ups_registrations_and_calls_answer_it_too(
        provider: MockProvider, method: str, name: str, fields: dict[str, Any],
        reason: str) -> None:
    if method == "GET":
        response = requests.get(url(provider, name), params={**KEYS, **fields},
                                timeout=DEADLINE)
    else:
        response = requests.post(url(provider, name), json={**KEYS, **fields},
                                 timeout=DEADLINE)
    assert reason in invalid_request(response)


def test_get_sent_shows_the_answer_and_the_reason(provider: MockProvider) -> None:
    response = requests.post(url(provider, "SendMultipleMessage_V4_post_json"),
                             json=sms(RequestId="r" * 60), timeout=DEADLINE)
    listed = requests.get(f"{provider.url}/_dlrmock/sent", timeout=DEADLINE).json()["sent"]
    [record] = [s for s in listed if s["endpoint"] == "esms.SendMultipleMessage_V4_post_json"]
    assert record["response"] == {"error": "Invalid request"} and record["error"] == "99"
    assert record["explain"] == response.headers["X-Dlrmock-Explain"]
    assert record["status"] == 200


def test_the_serve_log_names_the_reason(provider: MockProvider) -> None:
    out = io.StringIO()
    unsubscribe = provider.state.events.subscribe(ConsolePrinter(out, log_format="json"))
    try:
        requests.post(url(provider, "SendMultipleMessage_V4_post_json"),
                      json=sms(RequestId="r" * 60), timeout=DEADLINE)
    finally:
        unsubscribe()
    [line] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (line["outcome"], line["error"], line["status"]) == ("rejected", "99", 200)
    assert line["reason"] == "RequestId is 60 characters long; eSMS allows at most 50"


def test_every_esms_answer_schema_takes_it() -> None:
    document = json.loads(INVALID_REQUEST)
    for schema in sorted({endpoint.answer for endpoint in ENDPOINTS}):
        assert not list(validator_for(schema).iter_errors(document)), schema
    assert list(validator_for("esms.invalid_request").iter_errors({"error": "Invalid"}))
    assert list(validator_for("esms.send.response").iter_errors(
        {"error": "Invalid request", "CodeResult": "99"}))
