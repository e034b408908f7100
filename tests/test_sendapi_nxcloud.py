"""NXCloud's /v1/zalo/mt and /v1/zalo/initJourneyToken: auth, answers, receipts handed over."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import unquote

import pytest
from test_sendapi_support import (
    ACCESS_KEY,
    SECRET,
    WEBHOOK,
    make_app,
    mt_body,
    nx_headers,
    post_nx,
)

from mock_server._registry import validator_for
from mock_server._scenarios import parse_scenario
from mock_server.sendapi import (
    EXPECTED_SIGN_HEADER,
    SIGNED_STRING_HEADER,
    SendSettings,
    sign,
)

MT = "/v1/zalo/mt"
INIT = "/v1/zalo/initJourneyToken"
REQUEST_ID = re.compile(r"^zalomid\.[0-9a-f]{32}$")


def assert_error(response: Any, code: int) -> dict[str, Any]:
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["code"] == code, answer
    assert re.fullmatch(r"[0-9a-f]{32}", answer["traceId"])
    assert not list(validator_for("nxcloud.zalo.mt.response").iter_errors(answer))
    return dict(answer)


# ----------------------------------------------------------------------------------- success
def test_a_signed_send_is_answered_with_a_request_id() -> None:
    client, hooks, _ = make_app()
    response = post_nx(client, MT, mt_body())
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["code"] == 0 and answer["message"] == "Success"
    assert REQUEST_ID.match(answer["data"]["requestId"])
    assert not list(validator_for("nxcloud.zalo.mt.response").iter_errors(answer))
    assert answer["data"]["requestId"] == hooks.delivered[0].message_id


def test_the_receipts_go_to_dr_webhook_with_the_request_id_phone_and_ext() -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook="http://127.0.0.1:1/default"))
    answer = post_nx(client, MT, mt_body(ext="order-42")).get_json()
    [message] = hooks.delivered
    request_id = answer["data"]["requestId"]
    assert message.provider == "nxcloud"
    assert message.callback_url == WEBHOOK
    assert message.scenario == "nxcloud.zalo.success_then_delivered"
    assert message.message == {"requestId": request_id, "ext": "order-42", "phone": "84912345678",
                               "currency": "USD", "price": 0.05, "journey_price": 220,
                               "remaining_quota": 999, "daily_quota": 1000}
    receipts = hooks.play()
    assert [r["status"] for r in receipts] == ["success", "delivered"]
    assert all(r["requestId"] == request_id and r["ext"] == "order-42" for r in receipts)


def test_without_ext_the_receipts_carry_no_ext() -> None:
    client, hooks, _ = make_app()
    post_nx(client, MT, mt_body())
    assert hooks.delivered[0].message["ext"] is None
    assert all("ext" not in r for r in hooks.play())


def test_without_dr_webhook_the_receipts_go_to_the_default_webhook() -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook="http://127.0.0.1:1/default"))
    post_nx(client, MT, mt_body(drWebhook=None))
    assert hooks.delivered[0].callback_url == "http://127.0.0.1:1/default"


def test_without_any_webhook_the_send_is_accepted_and_nothing_is_played() -> None:
    client, hooks, _ = make_app()
    response = post_nx(client, MT, mt_body(drWebhook=None))
    assert response.get_json()["code"] == 0
    assert hooks.delivered == []
    assert hooks.last.run_ids == [] and len(hooks.last.message_ids) == 1


def test_header_names_are_case_insensitive_and_the_trailing_slash_optional() -> None:
    client, _, _ = make_app()
    raw = json.dumps(mt_body()).encode()
    headers = {k.upper(): v for k, v in nx_headers(raw).items()}
    assert client.post(MT + "/", data=raw, headers=headers).get_json()["code"] == 0


def test_every_send_is_captured_with_the_signed_string_masked() -> None:
    client, hooks, _ = make_app()
    raw = json.dumps(mt_body(ext="e")).encode()
    response = client.post(MT, data=raw, headers=nx_headers(raw))
    captured = hooks.last
    assert (captured.provider, captured.endpoint, captured.method, captured.path) == (
        "nxcloud", "nxcloud.zalo.mt", "POST", MT)
    assert captured.body == raw.decode() and captured.body_length == len(raw)
    assert captured.json == mt_body(ext="e")
    assert captured.status == 200 and captured.response == response.get_json()
    assert captured.message_ids == [response.get_json()["data"]["requestId"]]
    assert captured.run_ids == ["run-1"]
    assert {k.lower(): v for k, v in captured.headers.items()}["bizType".lower()] == "9"
    assert captured.signed_string is not None
    assert captured.signed_string.endswith("&accessSecret=******")
    assert SECRET not in captured.signed_string
    assert captured.error is None


# ------------------------------------------------------------------------------ auth errors
@pytest.mark.parametrize("missing", ["accessKey", "ts", "bizType", "action", "sign"])
def test_a_missing_auth_header_is_code_1001(missing: str) -> None:
    client, hooks, _ = make_app()
    raw = json.dumps(mt_body()).encode()
    headers = nx_headers(raw)
    del headers[missing]
    answer = assert_error(client.post(MT, data=raw, headers=headers), 1001)
    assert repr(missing) in answer["message"]
    assert hooks.delivered == [] and hooks.last.error == "1001"


@pytest.mark.parametrize(("header", "value"), [("bizType", "1"), ("action", "send")])
def test_a_wrong_biz_type_or_action_is_code_1002(header: str, value: str) -> None:
    client, _, _ = make_app()
    assert_error(post_nx(client, MT, mt_body(), None, **{header: value}), 1002)


def test_a_wrong_signature_is_code_1003_and_explains_itself() -> None:
    client, hooks, _ = make_app()
    raw = '{"appkey": "app-1", "phone": "84912345678", "functionType": "template", ' \
          '"messageData": {"templateId": "1", "templateData": {"name": "Nguyễn"}}}'
    body = raw.encode()
    headers = nx_headers(body)
    # The classic mistake: signing a re-serialised body instead of the bytes sent.
    headers["sign"] = sign(headers, json.dumps(json.loads(raw), separators=(",", ":"),
                                               ensure_ascii=False).encode(), SECRET)
    response = client.post(MT, data=body, headers=headers)
    answer = assert_error(response, 1003)
    expected = sign(headers, body, SECRET)
    assert expected in answer["message"] and headers["sign"] in answer["message"]
    assert "compact JSON" in answer["message"]
    assert SECRET not in answer["message"]
    assert response.headers[EXPECTED_SIGN_HEADER] == expected
    signed = unquote(response.headers[SIGNED_STRING_HEADER])
    assert signed == (f"accessKey={ACCESS_KEY}&action=mt&bizType=9&ts={headers['ts']}"
                      f"&body={raw}&accessSecret=******")
    assert response.headers[SIGNED_STRING_HEADER].isascii()
    assert hooks.last.signed_string == signed
    assert hooks.delivered == []


def test_a_signature_over_a_huge_body_is_explained_with_the_body_truncated() -> None:
    client, hooks, _ = make_app()
    body = json.dumps(mt_body(ext="x" * 60_000)).encode()
    response = client.post(MT, data=body, headers=nx_headers(body, sign="0" * 32))
    assert_error(response, 1003)
    header = response.headers[SIGNED_STRING_HEADER]
    assert len(header) < 4096 and "bytes]&accessSecret=******" in unquote(header)
    assert hooks.last.signed_string is not None and len(hooks.last.signed_string) > 60_000


@pytest.mark.parametrize("skew", [-61_000, 61_000])
def test_a_timestamp_more_than_60_s_away_is_code_1004(skew: int) -> None:
    client, _, _ = make_app()
    answer = assert_error(
        post_nx(client, MT, mt_body(), ts=str(int(time.time() * 1000) + skew)), 1004)
    assert "at most 60000 ms" in answer["message"]


def test_a_timestamp_that_is_not_a_number_is_code_1004() -> None:
    client, _, _ = make_app()
    assert_error(post_nx(client, MT, mt_body(), ts="yesterday"), 1004)


def test_the_allowed_skew_is_configurable() -> None:
    client, _, _ = make_app(SendSettings(max_skew_ms=1_000))
    assert_error(post_nx(client, MT, mt_body(), ts=str(int(time.time() * 1000) - 5_000)), 1004)


def test_an_unknown_access_key_is_code_1005() -> None:
    client, _, _ = make_app()
    assert_error(post_nx(client, MT, mt_body(), accessKey="someone-else"), 1005)


def test_configured_credentials_replace_the_test_ones() -> None:
    client, _, _ = make_app(SendSettings(access_key="ak", access_secret="sk"))
    raw = json.dumps(mt_body()).encode()
    response = client.post(MT, data=raw, headers=nx_headers(raw, secret="sk", accessKey="ak"))
    assert response.get_json()["code"] == 0


# ------------------------------------------------------------------------------ body errors
@pytest.mark.parametrize(("body", "code", "where"), [
    (b"", 1002, "empty body"),
    (b'{"appkey": ', 1002, "not valid JSON"),
    (b"[1, 2]", 1002, "JSON list"),
    (json.dumps(mt_body(appkey=None)).encode(), 9000, "$.appkey: required field"),
    (json.dumps(mt_body(functionType="text")).encode(), 9000, "$.functionType"),
    (json.dumps(mt_body(messageData={"templateId": 7, "templateData": {}})).encode(), 9000,
     "$.messageData.templateId"),
    (json.dumps(mt_body(drWebhook="not a url")).encode(), 9000, "$.drWebhook"),
    (json.dumps(mt_body(phone="0912345678")).encode(), 9002, "country code"),
    (json.dumps(mt_body(phone="84-91")).encode(), 9002, "phone number error"),
])
def test_a_bad_body_is_answered_with_its_code(body: bytes, code: int, where: str) -> None:
    client, hooks, _ = make_app()
    answer = assert_error(post_nx(client, MT, body), code)
    assert where in answer["message"]
    assert hooks.delivered == []


def test_an_unknown_appkey_is_code_9003_when_an_appkey_is_configured() -> None:
    client, _, _ = make_app(SendSettings(appkey="app-1"))
    assert post_nx(client, MT, mt_body()).get_json()["code"] == 0
    assert_error(post_nx(client, MT, mt_body(appkey="app-2")), 9003)


def test_an_ext_over_65535_bytes_is_code_9000() -> None:
    client, _, _ = make_app(SendSettings(max_body_bytes=10**6))
    answer = assert_error(post_nx(client, MT, mt_body(ext="ễ" * 30_000)), 9000)
    assert "65535 bytes" in answer["message"]


# ----------------------------------------------------------------------- outcomes by number
@pytest.mark.parametrize(("phone", "scenario"), [
    ("84912340000", "nxcloud.zalo.success_then_delivered"),
    ("84912341111", "nxcloud.zalo.failed"),
    ("84912342222", "nxcloud.zalo.success_never_delivered"),
    ("84912343333", "nxcloud.zalo.duplicate_delivered"),
    ("84912344444", "nxcloud.zalo.delivered_before_success"),
    ("84912345555", "nxcloud.zalo.success_then_delivered"),
])
def test_the_recipient_number_picks_the_scenario(phone: str, scenario: str) -> None:
    client, hooks, _ = make_app()
    post_nx(client, MT, mt_body(phone=phone))
    assert hooks.delivered[0].scenario == scenario


def test_a_failed_number_plays_zalo_error_minus_118() -> None:
    client, hooks, _ = make_app()
    post_nx(client, MT, mt_body(phone="84912341111"))
    [receipt] = hooks.play()
    assert receipt["status"] == "failed" and receipt["zaloRes"]["error"] == -118


def test_the_scenario_header_overrides_the_number() -> None:
    client, hooks, _ = make_app()
    post_nx(client, MT, mt_body(phone="84912341111"),
            headers={"X-Dlrmock-Scenario": "nxcloud.zalo.duplicate_delivered"})
    post_nx(client, MT, mt_body(), headers={"x-dlrmock-scenario": "failed"})
    assert [m.scenario for m in hooks.delivered] == ["nxcloud.zalo.duplicate_delivered",
                                                     "nxcloud.zalo.failed"]


@pytest.mark.parametrize("value", ["esms.sms.cskh.delivered", "delivered-ish"])
def test_a_scenario_header_naming_no_nxcloud_scenario_is_code_9000(value: str) -> None:
    client, hooks, _ = make_app()
    answer = assert_error(post_nx(client, MT, mt_body(),
                                  headers={"X-Dlrmock-Scenario": value}), 9000)
    assert "X-Dlrmock-Scenario" in answer["message"]
    assert hooks.delivered == []


def test_a_scenario_the_engine_does_not_know_is_code_9000_with_its_reason() -> None:
    client, _, _ = make_app()
    answer = assert_error(post_nx(client, MT, mt_body(),
                                  headers={"X-Dlrmock-Scenario": "nxcloud.zalo.faled"}), 9000)
    assert "nxcloud.zalo.failed" in answer["message"]  # the engine's "did you mean"


def test_the_default_outcome_applies_to_ordinary_numbers() -> None:
    client, hooks, _ = make_app(SendSettings(default_outcome="failed"))
    post_nx(client, MT, mt_body(phone="84912345678"))
    assert hooks.delivered[0].scenario == "nxcloud.zalo.failed"


# ---------------------------------------------------------------------------------- journeys
def init_token(client: Any, token_type: str = "token_logistics_7") -> dict[str, Any]:
    response = post_nx(client, INIT, {"appkey": "app-1", "phone": "84912345678",
                                      "tokenType": token_type})
    answer = response.get_json()
    assert not list(validator_for("nxcloud.zalo.journey_token.response").iter_errors(answer))
    assert answer["code"] == 0, answer
    return dict(answer["data"])


@pytest.mark.parametrize(("token_type", "days"), [
    ("token_logistics_7", 7), ("token_coach_bus_7", 7),
    ("token_logistics_30", 30), ("token_coach_bus_30", 30),
])
def test_a_journey_token_schedules_journey_time_out_at_its_lifetime(token_type: str,
                                                                    days: int) -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook=WEBHOOK))
    data = init_token(client, token_type)
    assert re.fullmatch(r"[0-9]{19}", data["journeyId"]) and len(data["token"]) > 100
    [expiry] = hooks.delivered
    assert expiry.callback_url == WEBHOOK and expiry.message_id == data["journeyId"]
    assert isinstance(expiry.scenario, dict)
    assert expiry.scenario["steps"] == [
        {"kind": "nxcloud.zalo.journey_time_out", "after": days * 86_400.0}]
    parse_scenario(expiry.scenario)  # a valid inline scenario
    assert expiry.message["journeyId"] == data["journeyId"]
    [receipt] = hooks.play()
    assert receipt["status"] == "journey_time_out" and receipt["journeyId"] == data["journeyId"]
    assert {"oaId", "appId"} <= set(receipt) and "ext" not in receipt
    assert hooks.last.run_ids == ["run-1"] and hooks.last.message_ids == [data["journeyId"]]


def test_without_a_default_webhook_no_expiry_is_scheduled() -> None:
    client, hooks, _ = make_app()
    init_token(client)
    assert hooks.delivered == []


def test_using_a_journey_token_cancels_its_expiry_and_plays_success_then_acknowledged() -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook=WEBHOOK))
    data = init_token(client)
    body = mt_body(ext="trip-9", messageData={"templateId": "1", "templateData": {},
                                              "journeyToken": data["token"]})
    answer = post_nx(client, MT, body).get_json()
    assert hooks.cancelled == ["run-1"]
    used = hooks.delivered[-1]
    assert isinstance(used.scenario, dict)
    parse_scenario(used.scenario)
    receipts = hooks.play()
    assert [r["status"] for r in receipts] == ["success", "journey_acknowledged"]
    assert {r["requestId"] for r in receipts} == {answer["data"]["requestId"]}
    assert receipts[1]["journeyId"] == data["journeyId"] and receipts[1]["ext"] == "trip-9"


def test_a_journey_token_used_again_plays_an_ordinary_message() -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook=WEBHOOK))
    data = init_token(client)
    body = mt_body(messageData={"templateId": "1", "templateData": {},
                                "journeyToken": data["token"]})
    post_nx(client, MT, body)
    post_nx(client, MT, body)
    assert hooks.cancelled == ["run-1"]
    assert hooks.delivered[-1].scenario == "nxcloud.zalo.success_then_delivered"
    assert hooks.delivered[-1].message["journeyId"] == data["journeyId"]


def test_a_failed_journey_message_leaves_the_token_unused() -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook=WEBHOOK))
    data = init_token(client)
    post_nx(client, MT, mt_body(phone="84912341111", messageData={
        "templateId": "1", "templateData": {}, "journeyToken": data["token"]}))
    assert hooks.delivered[-1].scenario == "nxcloud.zalo.failed"
    assert hooks.cancelled == []


# An expired token's refusal is tested on the real engine, its expiry sent on a manual clock:
# tests/test_lifecycle.py::test_a_journey_token_is_refused_once_its_expiry_was_sent.


def test_a_journey_token_dlrmock_did_not_give_out_is_played_as_a_fresh_journey() -> None:
    client, hooks, _ = make_app()
    post_nx(client, MT, mt_body(messageData={"templateId": "1", "templateData": {},
                                             "journeyToken": "from-elsewhere"}))
    receipts = hooks.play()
    assert [r["status"] for r in receipts] == ["success", "journey_acknowledged"]
    assert re.fullmatch(r"[0-9]{19}", receipts[1]["journeyId"])


@pytest.mark.parametrize(("phone", "statuses"), [
    ("84912343333", ["success", "journey_acknowledged", "journey_acknowledged"]),
    ("84912344444", ["journey_acknowledged", "success"]),
    ("84912342222", ["success"]),
])
def test_journey_messages_follow_the_magic_numbers_too(phone: str, statuses: list[str]) -> None:
    client, hooks, _ = make_app()
    post_nx(client, MT, mt_body(phone=phone, messageData={
        "templateId": "1", "templateData": {}, "journeyToken": "t"}))
    assert [r["status"] for r in hooks.play()] == statuses


def test_init_journey_token_checks_its_body() -> None:
    client, _, _ = make_app()
    answer = assert_error(post_nx(client, INIT, {"appkey": "a", "phone": "84912345678",
                                                 "tokenType": "token_logistics_9"}), 9000)
    assert "$.tokenType" in answer["message"]
    assert_error(post_nx(client, INIT, {"appkey": "a", "phone": "84912345678",
                                        "tokenType": "token_logistics_7"}, sign="0" * 32), 1003)
