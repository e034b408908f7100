"""eSMS's send APIs and GetSendStatus: codes, callbacks handed over, status consistent."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from esms_invalid_request import invalid_request
from test_sendapi_support import (
    API_KEY,
    SECRET_KEY,
    WEBHOOK,
    RecordingHooks,
    esms_body,
    make_app,
)

from mock_server._errors import RunError
from mock_server._registry import validator_for
from mock_server._scenarios import parse_scenario, resolve
from mock_server.sendapi import AcceptedMessage, SendSettings

BASE = "/MainService.svc/json/"
SMS = {"Phone": "0912345678", "Content": "Ma OTP 4821", "Brandname": "ACME", "SmsType": "2"}
ZNS = {"Phone": "0912345678", "OAID": "4097311281936189049", "TempID": "267247"}
PHONES = ["0912345670", "0983456781"]


def check_send_answer(response: Any) -> dict[str, Any]:
    assert response.status_code == 200
    answer = response.get_json()
    assert not list(validator_for("esms.send.response").iter_errors(answer)), answer
    assert isinstance(answer["CodeResult"], str)
    return dict(answer)


def explained(response: Any) -> str:
    """dlrmock's explanation of an answer (the provider's fields keep eSMS's own words)."""
    return str(response.headers.get("X-Dlrmock-Explain", ""))


def code_of(response: Any) -> str:
    return str(check_send_answer(response)["CodeResult"])


def post(client: Any, api: str, **fields: Any) -> Any:
    return client.post(BASE + api, json=esms_body(**fields))


def get(client: Any, api: str, **params: Any) -> Any:
    return client.get(BASE + api + "?" + urlencode(params))


SENDS: list[tuple[str, str, dict[str, Any], str, str]] = [
    # (id, API, fields, callback TypeId, scenario of a plain number)
    ("sms-cskh", "SendMultipleMessage_V4_post_json", SMS, "2", "esms.sms.cskh.delivered"),
    ("sms-fixed-number", "SendMultipleMessage_V4_post_json", {**SMS, "SmsType": 8}, "2",
     "esms.sms.cskh.delivered"),
    ("sms-viber", "SendMultipleMessage_V4_post_json", {**SMS, "SmsType": "23"}, "23",
     "esms.viber.message.delivered"),
    ("ads", "SendMultipleSMSBrandname_json",
     {"Phones": PHONES, "Content": "Sale", "Brandname": "ACME", "SmsType": "1"}, "1",
     "esms.sms.ads.delivered"),
    ("zns-v4", "SendZaloMessage_V4_post_json", {**ZNS, "Params": ["Lan", 4821]}, "25",
     "esms.zns.normal.delivered"),
    ("zns-v4-journey", "SendZaloMessage_V4_post_json",
     {**ZNS, "Params": ["Lan"], "IsJourney": "1", "OrderId": "SO-1"}, "27",
     "esms.zns.journey.delivered"),
    ("zns-v5", "SendZaloMessage_V5_post",
     {**ZNS, "TempData": [{"key": "name", "value": "Lan"}], "SendingMode": "1"}, "25",
     "esms.zns.normal.delivered"),
    ("zns-v5-over-quota", "SendZaloMessage_V5_post",
     {**ZNS, "TempData": [{"key": "name", "value": "Lan"}], "SendingMode": 3}, "25",
     "esms.zns.normal.delivered"),
    ("sms-zalo-priority-content", "SendMultipleMessage_V4_post_json",
     {"Phone": "0912345678", "Content": "Ma OTP 4821", "SmsType": 24, "OAID": ZNS["OAID"]},
     "24", "esms.zns.priority.delivered"),
    ("sms-zalo-normal-content", "SendMultipleMessage_V4_post_json",
     {"Phone": "0912345678", "Content": "Ma OTP 4821", "SmsType": "25", "OAID": ZNS["OAID"]},
     "25", "esms.zns.normal.delivered"),
    ("zns-v6", "SendZaloMessage_V6", {**ZNS, "TempData": {"name": "Lan"}}, "25",
     "esms.zns.normal.delivered"),
    ("viber-ott", "Send_Multiple_Sms_OTT",
     {"Phones": PHONES, "Content": "Hi", "Brandname": "ACME", "SmsType": "23"}, "23",
     "esms.viber.message.delivered"),
]


@pytest.mark.parametrize(("api", "fields", "type_id", "scenario"),
                         [s[1:] for s in SENDS], ids=[s[0] for s in SENDS])
def test_every_send_api_accepts_and_hands_over_callbacks_of_its_type(
        api: str, fields: dict[str, Any], type_id: str, scenario: str) -> None:
    client, hooks, _ = make_app()
    answer = check_send_answer(post(client, api, RequestId="r-1", **fields))
    assert answer["CodeResult"] == "100" and answer["CountRegenerate"] == 0
    smsid = answer["SMSID"]
    assert len(smsid) >= 32
    assert hooks.delivered, "no callback handed over"
    assert {m.message_id for m in hooks.delivered} == {smsid}
    assert {m.scenario for m in hooks.delivered} == {scenario}
    assert all(m.callback_url == WEBHOOK and m.provider == "esms" for m in hooks.delivered)
    receipts = hooks.play()
    assert {r["TypeId"] for r in receipts} == {type_id}
    assert {r["SMSID"] for r in receipts} == {smsid}
    assert {r["RequestId"] for r in receipts} == {"r-1"}
    assert hooks.last.endpoint == f"esms.{api}" and hooks.last.message_ids == [smsid]


def test_a_multi_recipient_viber_send_hands_over_one_message_per_number() -> None:
    client, hooks, _ = make_app()
    post(client, "Send_Multiple_Sms_OTT", Phones=["84912345670", "0983456781"], Content="Hi")
    assert [m.message["phonenumber"] for m in hooks.delivered] == ["0912345670", "0983456781"]
    assert [m.message["telcoid"] for m in hooks.delivered] == ["3", "1"]
    assert len(hooks.last.run_ids) == 2


def test_an_advertising_send_hands_over_one_campaign_callback() -> None:
    client, hooks, _ = make_app()
    phones = [f"09123456{n:02d}" for n in range(35)]
    post(client, "SendMultipleSMSBrandname_json", Phones=phones, Content="Sale", SmsType=1)
    [campaign] = hooks.delivered
    assert campaign.message["receivers"] == 35 and "phonenumber" not in campaign.message
    [receipt] = hooks.play()
    assert receipt["TotalReceiver"] == "35"


def test_the_message_fields_carry_phone_carrier_oa_and_template() -> None:
    client, hooks, _ = make_app()
    post(client, "SendZaloMessage_V6", Phone="84351234567", OAID=123, TempID="77",
         TempData={}, RequestId=42)
    message = hooks.delivered[0].message
    assert message == {"SMSID": message["SMSID"], "RequestId": "42", "phonenumber": "0351234567",
                       "telcoid": "1", "outcome": "delivered", "oaid": "123", "tempid": "77",
                       "unit_price": 300.0}
    [receipt] = hooks.play()
    assert (receipt["phonenumber"], receipt["telcoid"], receipt["oaid"], receipt["tempid"]) == (
        "0351234567", "1", "123", "77")


def test_a_number_of_no_known_carrier_gets_telcoid_1() -> None:
    client, hooks, _ = make_app()
    post(client, "SendMultipleMessage_V4_post_json", **{**SMS, "Phone": "0201234567"})
    assert hooks.delivered[0].message["telcoid"] == "1"


def test_without_callback_url_the_default_webhook_gets_the_callbacks() -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook="http://127.0.0.1:1/d"))
    post(client, "SendMultipleMessage_V4_post_json", CallbackUrl=None, **SMS)
    assert hooks.delivered[0].callback_url == "http://127.0.0.1:1/d"


def test_without_any_webhook_the_send_is_still_accepted() -> None:
    client, hooks, _ = make_app()
    assert code_of(post(client, "SendMultipleMessage_V4_post_json", CallbackUrl="", **SMS)) \
        == "100"
    assert hooks.delivered == []


# ------------------------------------------------------------------------------ the GET API
def test_the_get_api_reads_parameter_names_in_any_letter_case() -> None:
    client, hooks, _ = make_app()
    response = get(client, "SendMultipleMessage_V4_get", apikey=API_KEY, SECRETKEY=SECRET_KEY,
                   phone="0912345678", CONTENT="hi", smstype="2", brandname="ACME",
                   SandBox="1", callbackurl=WEBHOOK + "?token=abc", requestid="g-1")
    assert code_of(response) == "100"
    [message] = hooks.delivered
    assert message.sandbox is True and message.callback_url == WEBHOOK + "?token=abc"
    assert message.message["RequestId"] == "g-1"
    assert isinstance(hooks.last.json, dict)
    assert hooks.last.json["apikey"] == API_KEY  # captured as sent


@pytest.mark.parametrize("path", [
    "/MainService.svc/json/SendMultipleMessage_V4_post_json",
    "/MainService.svc/json/SendMultipleMessage_V4_post_json/",
    "/mainservice.svc/json/sendmultiplemessage_v4_post_json/",
])
def test_the_trailing_slash_and_letter_case_of_the_path_do_not_matter(path: str) -> None:
    client, _, _ = make_app()
    assert code_of(client.post(path, json=esms_body(**SMS))) == "100"


def test_get_status_also_takes_a_trailing_slash() -> None:
    client, _, _ = make_app()
    smsid = post(client, "SendMultipleMessage_V4_post_json", **SMS).get_json()["SMSID"]
    response = client.get(f"{BASE}GetSendStatus/?RefId={smsid}&ApiKey={API_KEY}"
                          f"&SecretKey={SECRET_KEY}")
    assert response.get_json()["CodeResponse"] == "100"


# ------------------------------------------------------------------------------ error codes
@pytest.mark.parametrize("fields", [
    {"ApiKey": "wrong"}, {"SecretKey": "wrong"}, {"ApiKey": None}, {"SecretKey": None},
])
def test_wrong_or_missing_credentials_are_101(fields: dict[str, Any]) -> None:
    client, hooks, _ = make_app()
    answer = check_send_answer(post(client, "SendMultipleMessage_V4_post_json",
                                    **{**SMS, **fields}))
    assert answer["CodeResult"] == "101" and "Authorize Failed" in answer["ErrorMessage"]
    assert hooks.delivered == [] and hooks.last.error == "101"


def test_a_request_id_reused_within_24_hours_is_124() -> None:
    now = [1_700_000_000.0]
    client, hooks, _ = make_app(clock=lambda: now[0])
    first = post(client, "SendMultipleMessage_V4_post_json", RequestId="dup-1", **SMS)
    assert code_of(first) == "100"
    again = check_send_answer(post(client, "SendZaloMessage_V6", RequestId="dup-1",
                                   TempData={}, **ZNS))
    assert again["CodeResult"] == "124" and "Request exist" in again["ErrorMessage"]
    now[0] += 86_401
    assert code_of(post(client, "SendMultipleMessage_V4_post_json", RequestId="dup-1",
                        **SMS)) == "100"
    assert len(hooks.delivered) == 2


def test_a_rejected_send_does_not_take_its_request_id() -> None:
    client, _, _ = make_app()
    assert code_of(post(client, "SendMultipleMessage_V4_post_json", RequestId="r",
                        **{**SMS, "Phone": "12"})) == "108"
    assert code_of(post(client, "SendMultipleMessage_V4_post_json", RequestId="r",
                        **SMS)) == "100"


def test_the_request_id_ttl_is_configurable() -> None:
    now = [0.0]
    client, _, _ = make_app(SendSettings(request_id_ttl=10), clock=lambda: now[0])
    post(client, "SendMultipleMessage_V4_post_json", RequestId="r", **SMS)
    now[0] = 11.0
    assert code_of(post(client, "SendMultipleMessage_V4_post_json", RequestId="r",
                        **SMS)) == "100"


@pytest.mark.parametrize(("api", "fields"), [
    ("SendMultipleMessage_V4_post_json", {**SMS, "Brandname": "OTHER"}),
    ("SendMultipleMessage_V4_post_json", {**SMS, "Brandname": None}),
    ("SendMultipleSMSBrandname_json", {"Phones": PHONES, "Content": "x", "Brandname": "X"}),
    ("Send_Multiple_Sms_OTT", {"Phones": PHONES, "Content": "x", "Brandname": "X"}),
])
def test_an_unregistered_brandname_is_104_when_brandnames_are_configured(
        api: str, fields: dict[str, Any]) -> None:
    client, hooks, _ = make_app(SendSettings(brandnames=("ACME",)))
    response = post(client, api, **fields)
    assert check_send_answer(response) == {"CodeResult": "104", "CountRegenerate": 0,
                                           "ErrorMessage": "Brand name code is not exist"}
    assert "ACME" in explained(response) and hooks.last.explain == explained(response)


def test_any_brandname_is_accepted_when_none_are_configured() -> None:
    client, _, _ = make_app()
    assert code_of(post(client, "SendMultipleMessage_V4_post_json",
                        **{**SMS, "Brandname": "ANYTHING"})) == "100"


def test_fixed_number_sms_needs_no_brandname() -> None:
    client, _, _ = make_app(SendSettings(brandnames=("ACME",)))
    assert code_of(post(client, "SendMultipleMessage_V4_post_json",
                        **{**SMS, "SmsType": "8", "Brandname": None})) == "100"


@pytest.mark.parametrize(("api", "fields", "where"), [
    ("SendMultipleMessage_V4_post_json", {**SMS, "Content": None}, "$.Content: required field"),
    ("SendMultipleMessage_V4_post_json", {**SMS, "Phone": ["0912345678"]}, "$.Phone"),
    ("SendMultipleMessage_V4_post_json", {**SMS, "RequestId": "x" * 51},
     "RequestId is 51 characters long; eSMS allows at most 50"),
    ("SendMultipleMessage_V4_post_json", {**SMS, "SendDate": "tomorrow"}, "$.SendDate"),
    ("SendMultipleMessage_V4_post_json", {**SMS, "CallbackUrl": "h" * 2049}, "$.CallbackUrl"),
    ("SendZaloMessage_V4_post_json", {**ZNS}, "$.Params: required field 'Params' is missing"),
    ("SendZaloMessage_V5_post", {**ZNS, "TempData": [{"key": "a"}]}, "$.TempData[0]"),
    ("SendZaloMessage_V6", {**ZNS, "TempData": ["a"]}, "$.TempData"),
])
def test_an_invalid_request_is_the_documented_answer_naming_the_field_in_the_header(
        api: str, fields: dict[str, Any], where: str) -> None:
    client, hooks, _ = make_app()
    response = post(client, api, **fields)
    assert where in invalid_request(response)
    assert hooks.delivered == []


@pytest.mark.parametrize(("api", "fields", "hint"), [
    ("SendMultipleMessage_V4_post_json", {**SMS, "SmsType": "1"},
     "SendMultipleSMSBrandname_json"),
    ("SendMultipleMessage_V4_post_json", {**SMS, "SmsType": 5}, "SmsType '5'"),
    ("SendMultipleSMSBrandname_json", {"Phones": PHONES, "Content": "x", "SmsType": "2"},
     "sends SmsType 1"),
    ("Send_Multiple_Sms_OTT", {"Phones": PHONES, "Content": "x", "SmsType": "2"},
     "sends SmsType 23"),
])
def test_an_unsupported_message_type_is_118(api: str, fields: dict[str, Any],
                                            hint: str) -> None:
    client, _, _ = make_app()
    response = post(client, api, **fields)
    answer = check_send_answer(response)
    assert answer["CodeResult"] == "118" and answer["ErrorMessage"] == "Loại tin nhắn không hỗ trợ."
    assert hint in explained(response)


def test_too_few_advertising_numbers_is_107_when_configured() -> None:
    client, _, _ = make_app(SendSettings(ads_min_phones=30))
    assert code_of(post(client, "SendMultipleSMSBrandname_json", Phones=PHONES,
                        Content="x")) == "107"


@pytest.mark.parametrize("api", ["SendMultipleSMSBrandname_json", "Send_Multiple_Sms_OTT"])
def test_more_than_5000_numbers_in_one_request_is_120(api: str) -> None:
    client, hooks, _ = make_app()
    response = post(client, api, Phones=["0912345678"] * 5001, Content="x")
    assert check_send_answer(response)["CodeResult"] == "120"
    assert "at most 5000" in explained(response)
    assert hooks.delivered == []


@pytest.mark.parametrize(("api", "fields"), [
    ("SendMultipleMessage_V4_post_json", {**SMS, "Phone": "12345"}),
    ("SendMultipleMessage_V4_post_json", {**SMS, "Phone": "+1 415 555 0100"}),
    ("SendZaloMessage_V6", {**ZNS, "Phone": "09123", "TempData": {}}),
    ("Send_Multiple_Sms_OTT", {"Phones": ["0912345678", "abc"], "Content": "x"}),
    ("SendMultipleSMSBrandname_json", {"Phones": "0912345678,0", "Content": "x"}),
])
def test_a_bad_phone_number_is_108(api: str, fields: dict[str, Any]) -> None:
    client, hooks, _ = make_app()
    assert code_of(post(client, api, **fields)) == "108"
    assert hooks.delivered == []


def test_phone_numbers_may_come_as_json_numbers() -> None:
    client, hooks, _ = make_app()
    assert code_of(post(client, "SendMultipleMessage_V4_post_json",
                        **{**SMS, "Phone": 912345678})) == "100"
    assert code_of(post(client, "SendMultipleMessage_V4_post_json",
                        **{**SMS, "Phone": 84912345678})) == "100"
    assert [m.message["phonenumber"] for m in hooks.delivered] == ["0912345678"] * 2


@pytest.mark.parametrize("missing", ["OAID", "TempID"])
def test_a_zns_send_without_oa_or_template_is_791(missing: str) -> None:
    client, _, _ = make_app()
    assert code_of(post(client, "SendZaloMessage_V6", **{**ZNS, missing: None},
                        TempData={})) == "791"


def test_zns_oa_and_template_are_checked_when_configured() -> None:
    client, _, _ = make_app(SendSettings(zalo_oas={"4097311281936189049": ("267247",),
                                                   "555": ()}))
    assert code_of(post(client, "SendZaloMessage_V6", **ZNS, TempData={})) == "100"
    assert code_of(post(client, "SendZaloMessage_V6", **{**ZNS, "OAID": "1"},
                        TempData={})) == "204"
    response = post(client, "SendZaloMessage_V6", **{**ZNS, "TempID": "9"}, TempData={})
    assert check_send_answer(response)["ErrorMessage"] == "TemplateId is not config"
    assert code_of(response) == "789" and "267247" in explained(response)
    assert code_of(post(client, "SendZaloMessage_V6", **{**ZNS, "OAID": "555", "TempID": "1"},
                        TempData={})) == "100"


# ---------------------------------------------------------------------------------- sandbox
@pytest.mark.parametrize(("api", "fields"), [
    ("SendMultipleMessage_V4_post_json", {**SMS, "Sandbox": "1"}),
    ("SendMultipleMessage_V4_post_json", {**SMS, "SandBox": 1}),
    ("SendZaloMessage_V6", {**ZNS, "TempData": {}, "Sandbox": True}),
    ("Send_Multiple_Sms_OTT", {"Phones": PHONES, "Content": "x", "IsSandBox": "1"}),
])
def test_sandbox_sends_are_accepted_and_still_play_callbacks(api: str,
                                                             fields: dict[str, Any]) -> None:
    client, hooks, _ = make_app()
    assert code_of(post(client, api, **fields)) == "100"
    assert hooks.delivered and all(m.sandbox for m in hooks.delivered)
    assert hooks.play()


def test_sandbox_0_is_not_a_sandbox_send() -> None:
    client, hooks, _ = make_app()
    post(client, "SendMultipleMessage_V4_post_json", **{**SMS, "Sandbox": "0"})
    assert hooks.delivered[0].sandbox is False


# ----------------------------------------------------------------------- outcomes by number
@pytest.mark.parametrize(("suffix", "scenario", "outcome"), [
    ("0000", "esms.zns.normal.delivered", "delivered"),
    ("1111", "esms.zns.normal.failed", "failed"),
    ("4444", "esms.zns.normal.delivered", "delivered"),
])
def test_the_number_picks_the_zns_scenario(suffix: str, scenario: str, outcome: str) -> None:
    client, hooks, _ = make_app()
    post(client, "SendZaloMessage_V6", **{**ZNS, "Phone": "091234" + suffix}, TempData={})
    [message] = hooks.delivered
    assert message.scenario == scenario and message.message["outcome"] == outcome


def test_a_failed_number_gets_a_failed_callback() -> None:
    client, hooks, _ = make_app()
    post(client, "SendMultipleMessage_V4_post_json", **{**SMS, "Phone": "0912341111"})
    [receipt] = hooks.play()
    assert (receipt["SendSuccess"], receipt["SendFailed"]) == ("0", "1")


def test_a_no_receipt_number_gets_no_callback() -> None:
    client, hooks, _ = make_app()
    assert code_of(post(client, "SendMultipleMessage_V4_post_json",
                        **{**SMS, "Phone": "0912342222"})) == "100"
    assert hooks.delivered == [] and hooks.last.run_ids == []


def test_a_duplicate_number_gets_the_same_callback_twice() -> None:
    client, hooks, _ = make_app()
    post(client, "SendZaloMessage_V6", **{**ZNS, "Phone": "0912343333"}, TempData={})
    [message] = hooks.delivered
    assert isinstance(message.scenario, dict)
    parse_scenario(message.scenario)
    first, second = hooks.play()
    assert first == second and first["TypeId"] == "25"


@pytest.mark.parametrize(("fields", "api", "expected"), [
    (SMS, "SendMultipleMessage_V4_post_json", "esms.sms.cskh.retried_after_lost_ack"),
    ({**ZNS, "TempData": {}}, "SendZaloMessage_V6", "esms.zns.normal.retried_after_lost_ack"),
])
def test_a_lost_ack_number_makes_esms_retry(fields: dict[str, Any], api: str,
                                            expected: str) -> None:
    client, hooks, _ = make_app()
    post(client, api, **{**fields, "Phone": "0912345555"})
    scenario = hooks.delivered[0].scenario
    name = scenario if isinstance(scenario, str) else scenario["name"]
    assert name == expected
    assert resolve(scenario).steps[0].lost_ack == -1  # every answer lost: 1 + 5 attempts


def test_the_scenario_header_overrides_the_number_and_its_scenario_decides_the_outcome() -> None:
    client, hooks, _ = make_app()
    client.post(BASE + "SendZaloMessage_V6", json=esms_body(**ZNS, TempData={}),
                headers={"X-Dlrmock-Scenario": "esms.zns.normal.failed_user_inactive"})
    [message] = hooks.delivered
    assert message.scenario == "esms.zns.normal.failed_user_inactive"
    assert "outcome" not in message.message
    [receipt] = hooks.play()
    assert receipt["SendFailed"] == "1"


def test_the_scenario_header_may_name_an_outcome() -> None:
    client, hooks, _ = make_app()
    client.post(BASE + "SendMultipleMessage_V4_post_json", json=esms_body(**SMS),
                headers={"X-Dlrmock-Scenario": "failed"})
    assert hooks.delivered[0].scenario == "esms.sms.cskh.failed"


def test_a_scenario_header_of_the_other_provider_is_an_invalid_request() -> None:
    client, hooks, _ = make_app()
    response = client.post(BASE + "SendMultipleMessage_V4_post_json", json=esms_body(**SMS),
                           headers={"X-Dlrmock-Scenario": "nxcloud.zalo.failed"})
    assert "X-Dlrmock-Scenario" in invalid_request(response)
    assert hooks.delivered == []


def test_an_unknown_scenario_is_an_invalid_request_and_starts_nothing() -> None:
    client, hooks, _ = make_app()
    response = client.post(BASE + "Send_Multiple_Sms_OTT",
                           json=esms_body(Phones=PHONES, Content="x", RequestId="u"),
                           headers={"X-Dlrmock-Scenario": "esms.viber.message.delivred"})
    assert "esms.viber.message.delivered" in invalid_request(response)
    assert hooks.delivered == []
    assert code_of(post(client, "Send_Multiple_Sms_OTT", Phones=PHONES, Content="x",
                        RequestId="u")) == "100"  # the RequestId was given back


class FailingSecondDelivery(RecordingHooks):
    def deliver(self, message: AcceptedMessage) -> str | None:
        if self.delivered:
            raise RunError("target URL 'https://x' must be an http:// URL")
        return super().deliver(message)


def test_when_the_engine_refuses_a_recipient_the_runs_already_started_are_cancelled() -> None:
    client, hooks, _ = make_app(hooks=FailingSecondDelivery())
    response = post(client, "Send_Multiple_Sms_OTT", Phones=PHONES, Content="x")
    assert "http:// URL" in invalid_request(response)
    assert hooks.cancelled == ["run-1"]


# ----------------------------------------------------------------------------- GetSendStatus
# How the status follows each callback the engine plays: test_esms_queries_follow_each_message.
def status(client: Any, smsid: str, **params: str) -> dict[str, Any]:
    query = {"RefId": smsid, "ApiKey": API_KEY, "SecretKey": SECRET_KEY, **params}
    response = client.get(BASE + "GetSendStatus?" + urlencode(query))
    assert response.status_code == 200
    answer = response.get_json()
    assert not list(validator_for("esms.send.status.response").iter_errors(answer)), answer
    return dict(answer)


def send_sms(client: Any, phone: str = "0912345678") -> str:
    return str(post(client, "SendMultipleMessage_V4_post_json",
                    **{**SMS, "Phone": phone}).get_json()["SMSID"])


def test_status_of_a_message_with_no_receipt_stays_sent_waiting_for_the_carrier() -> None:
    client, _, _ = make_app()
    answer = status(client, send_sms(client, "0912342222"))
    assert (answer["SendStatus"], answer["SendSuccess"], answer["SendFailed"]) == (7, 0, 0)


def test_status_without_a_webhook_is_final_at_once() -> None:
    client, _, _ = make_app()
    smsid = post(client, "SendMultipleMessage_V4_post_json", CallbackUrl=None,
                 **{**SMS, "Phone": "0912341111"}).get_json()["SMSID"]
    answer = status(client, smsid)
    assert (answer["SendStatus"], answer["SendFailed"], answer["TotalSent"]) == (5, 1, 1)


def test_status_parameter_names_are_case_insensitive() -> None:
    client, _, _ = make_app()
    smsid = send_sms(client)
    response = client.get(BASE + "getsendstatus?" + urlencode(
        {"refid": smsid, "APIKEY": API_KEY, "secretkey": SECRET_KEY}))
    assert response.get_json()["CodeResponse"] == "100"


def test_status_of_an_unknown_sms_id_is_105() -> None:
    client, hooks, _ = make_app()
    answer = status(client, "nope")
    assert answer["CodeResponse"] == "105" and "'nope'" in str(hooks.last.explain)


def test_status_with_wrong_credentials_is_101_in_the_documented_shape() -> None:
    client, _, _ = make_app()
    smsid = send_sms(client)
    assert status(client, smsid, SecretKey="x") == {"CodeResponse": "101", "SMSID": smsid}


def test_status_queries_are_captured_under_their_own_endpoint() -> None:
    client, hooks, _ = make_app()
    send_sms(client)
    before = len(hooks.captured)
    smsid = hooks.last.message_ids[0]
    status(client, smsid)
    assert [c.endpoint for c in hooks.captured[before:]] == ["esms.GetSendStatus"]


def test_state_clear_forgets_request_ids_and_batches() -> None:
    client, _, state = make_app()
    smsid = str(post(client, "SendMultipleMessage_V4_post_json", RequestId="c",
                     **SMS).get_json()["SMSID"])
    state.clear()
    assert status(client, smsid)["CodeResponse"] == "105"
    assert code_of(post(client, "SendMultipleMessage_V4_post_json", RequestId="c",
                        **SMS)) == "100"


# ------------------------------------------------------------------------------ multichannel
def multichannel_body(phone: str, tag: str = "") -> dict[str, Any]:
    return esms_body(Phone=phone, Channels=["zalo", "sms"], CallbackUrl=None, Data=[
        {"TempID": "205644", "Params": ["686868"], "OAID": "4097311281936189049",
         "CallbackUrl": WEBHOOK + "?c=zalo", "RequestId": "m-zalo" + tag},
        {"Content": "686868 la ma OTP", "SmsType": "2", "Brandname": "ACME",
         "CallbackUrl": WEBHOOK + "?c=sms", "RequestId": "m-sms" + tag}])


def test_multichannel_hands_over_zalo_with_the_sms_fallback_only_when_zalo_fails() -> None:
    client, hooks, _ = make_app()
    answer = check_send_answer(client.post(BASE + "MultiChannelMessage/",
                                           json=multichannel_body("0912347777")))
    [zalo] = hooks.delivered
    assert (zalo.scenario, zalo.callback_url) == ("esms.zns.normal.failed", WEBHOOK + "?c=zalo")
    assert zalo.then is not None  # the SMS waits for Zalo's run to finish
    hooks.play()
    run_id = zalo.then()
    sms = hooks.delivered[-1]
    assert run_id is not None and run_id in hooks.released  # the answer is long gone
    assert sms.then is None
    assert (sms.scenario, sms.callback_url) == ("esms.sms.cskh.delivered", WEBHOOK + "?c=sms")
    assert sms.message_id == zalo.message_id == answer["SMSID"]
    assert (zalo.message["RequestId"], sms.message["RequestId"]) == ("m-zalo", "m-sms")
    other = client.post(BASE + "MultiChannelMessage/", json=multichannel_body("0912340000", "2"))
    assert hooks.delivered[-1].message_id == check_send_answer(other)["SMSID"]
    assert hooks.delivered[-1].then is None  # Zalo delivers: no SMS


def test_multichannel_reuse_of_either_request_id_is_124() -> None:
    client, _, _ = make_app()
    assert code_of(client.post(BASE + "MultiChannelMessage/",
                               json=multichannel_body("0912340000"))) == "100"
    again = client.post(BASE + "MultiChannelMessage/", json=multichannel_body("0912340000"))
    assert check_send_answer(again) == {"CodeResult": "124", "CountRegenerate": 0,
                                        "ErrorMessage": "Request exist 1"}
