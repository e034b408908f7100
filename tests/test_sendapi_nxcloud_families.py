"""NXCloud's SMS, Viber and WhatsApp send APIs, checkJourneyToken and unknown paths, in process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from test_sendapi_support import WEBHOOK, make_app, post_nx

from mock_server import create_app
from mock_server._registry import schema_problems
from mock_server.sendapi import EXPLAIN_HEADER, SCENARIO_HEADER, SendSettings

SPEC_VECTORS = Path(__file__).resolve().parents[1] / "schemas" / "sendapi-examples" / "nxcloud"
"""The docs' examples, verbatim."""
HEX32 = re.compile(r"^[0-9a-f]{32}$")
DEFAULT = "http://127.0.0.1:9/default"


def vector(name: str) -> Any:
    return json.loads((SPEC_VECTORS / name).read_text("utf-8"))


def explanation(response: Any) -> str:
    return unquote(response.headers[EXPLAIN_HEADER])


def form(**fields: str | None) -> dict[str, str]:
    """A valid legacy form; ``fields`` replace (``None`` removes) fields."""
    body = {"appkey": "app-1", "secretkey": "secret-1", "phone": "84912340000",
            "content": "Your code is 4821", "dr_url": WEBHOOK}
    for name, value in fields.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


# ---------------------------------------------------------------------- legacy /api/sms/mtsend
def test_legacy_send_is_answered_like_the_docs_and_plays_the_report() -> None:
    client, hooks, _ = make_app()
    response = client.post("/api/sms/mtsend", data=form(ext="order-7"))

    assert response.status_code == 200
    text = response.get_data(as_text=True)
    messageid = response.get_json()["messageid"]
    # Key order and string code as in the documented example.
    assert text == json.dumps({"result": "Request succeeded", "messageid": messageid, "code": "0"})
    assert HEX32.match(messageid)
    [message] = hooks.delivered
    assert (message.callback_url, message.scenario) == (WEBHOOK, "nxcloud.sms.delivered")
    [report] = hooks.play()
    assert report["messageid"] == messageid and report["ext"] == "order-7"
    assert (report["status"], report["result"], report["phone"]) == ("2", "DELIVRD", "84912340000")


@pytest.mark.parametrize(
    ("fields", "code", "named"),
    [
        ({"secretkey": None}, "2", "secretkey"),
        ({"content": ""}, "4", "content"),
        ({"content": "x" * 1001}, "5", "1001"),
        ({"phone": "0912340000"}, "6", "'0912340000'"),
        ({"phone": "84912340000,12"}, "6", "'12'"),
        ({"source_address": "no spaces allowed"}, "8", "'no spaces allowed'"),
        ({"sys_messageid": "short"}, "2", "'short'"),
    ],
)
def test_legacy_errors_use_the_documented_codes_and_explain_themselves(
    fields: dict[str, str | None], code: str, named: str
) -> None:
    client, hooks, _ = make_app()
    response = client.post("/api/sms/mtsend", data=form(**fields))

    answer = response.get_json()
    assert response.status_code == 200
    assert list(answer) == ["result", "code", "messageid"] and answer["messageid"] == ""
    assert answer["code"] == code and named not in answer["result"]  # the text stays NXCloud's
    assert named in explanation(response)
    assert hooks.delivered == [] and hooks.last.error == code
    assert hooks.last.explain is not None and named in hooks.last.explain


def test_legacy_wrong_key_is_code_1_when_sms_apps_are_configured() -> None:
    client, _, _ = make_app(SendSettings(sms_apps={"app-1": "secret-1"}))
    ok = client.post("/api/sms/mtsend", data=form())
    wrong = client.post("/api/sms/mtsend", data=form(secretkey="nope"))
    unknown = client.post("/api/sms/mtsend", data=form(appkey="app-2"))

    assert ok.get_json()["code"] == "0"
    assert wrong.get_json() == {"result": "Application unavailable or incorrect key",
                                "code": "1", "messageid": ""}
    assert "app-1" in explanation(wrong)
    assert unknown.get_json()["code"] == "1" and "'app-2'" in explanation(unknown)


def test_legacy_api_refuses_json_and_other_methods_in_its_own_shape() -> None:
    client, _, _ = make_app()
    as_json = client.post("/api/sms/mtsend", json=form())
    as_get = client.get("/api/sms/mtsend")

    assert as_json.get_json()["code"] == "2" and "form" in explanation(as_json)
    assert as_get.status_code == 405 and as_get.headers["Allow"] == "POST"
    assert as_get.get_json()["code"] == "2"


def test_the_documented_curl_example_is_refused_for_its_placeholder_phone() -> None:
    client, _, _ = make_app()
    body = (SPEC_VECTORS / "sms-mtsend-request.form").read_bytes().strip()
    response = client.post("/api/sms/mtsend", data=body,
                           content_type="application/x-www-form-urlencoded")
    assert response.get_json()["code"] == "6" and "'123'" in explanation(response)


def test_a_batch_send_gets_one_report_per_number_at_the_app_url() -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook=DEFAULT))
    response = client.post("/api/sms/mtsend",
                           data=form(phone="84912340000,84912341111", ext="ignored"))

    messageid = response.get_json()["messageid"]
    assert [m.scenario for m in hooks.delivered] == ["nxcloud.sms.delivered",
                                                     "nxcloud.sms.undelivered"]
    for message in hooks.delivered:
        # [doc] dr_url and ext are for single-number sends; batch ids get "-" + 10 digits.
        assert message.callback_url == DEFAULT and message.message["ext"] is None
        assert re.fullmatch(re.escape(messageid) + r"-[0-9]{10}", message.message_id)


def test_sys_messageid_becomes_the_messageid() -> None:
    client, hooks, _ = make_app()
    response = client.post("/api/sms/mtsend", data=form(sys_messageid="order-2024-0001"))
    assert response.get_json()["messageid"] == "order-2024-0001"
    assert hooks.delivered[0].message["messageid"] == "order-2024-0001"


def test_any_dr_url_is_accepted_as_nxcloud_does() -> None:
    client, hooks, _ = make_app()
    response = client.post("/api/sms/mtsend", data=form(dr_url="ftp://app.example/dr"))
    assert response.get_json()["code"] == "0"
    assert hooks.delivered[0].callback_url == "ftp://app.example/dr"  # the engine blocks it


def test_the_scenario_header_may_name_an_sms_scenario_but_not_another_family() -> None:
    client, hooks, _ = make_app()
    named = client.post("/api/sms/mtsend", data=form(),
                        headers={SCENARIO_HEADER: "nxcloud.sms.expired"})
    other = client.post("/api/sms/mtsend", data=form(),
                        headers={SCENARIO_HEADER: "nxcloud.zalo.failed"})

    assert named.get_json()["code"] == "0" and hooks.delivered[0].scenario == "nxcloud.sms.expired"
    assert other.get_json()["code"] == "2"
    assert "'nxcloud.zalo.failed' is not a nxcloud.sms scenario" in explanation(other)


# ------------------------------------------------------------ signed /api/sms/mtsend_v2, /v1/sms/mt
SMS_SIGNED = {"bizType": "3", "action": "mtsend"}


def test_signed_sms_sends_answer_in_their_own_shapes() -> None:
    client, hooks, _ = make_app()
    body = {**vector("sms-mtsend_v2-request.json"), "phone": "8618651883168", "drUrl": WEBHOOK}
    v2 = post_nx(client, "/api/sms/mtsend_v2", body, **SMS_SIGNED).get_json()
    v1 = post_nx(client, "/v1/sms/mt", body, **SMS_SIGNED).get_json()

    assert list(v2) == ["result", "messageid", "code"] and v2["code"] == "0"
    assert v1 == {"code": 0, "message": "Success", "data": {"messageid": v1["data"]["messageid"]}}
    assert [m.message_id for m in hooks.delivered] == [v2["messageid"], v1["data"]["messageid"]]
    assert all(m.callback_url == WEBHOOK for m in hooks.delivered)


def test_signed_sms_auth_errors_keep_each_apis_shape() -> None:
    client, _, _ = make_app()
    body = {"appKey": "k", "phone": "8618651883168", "content": "c"}
    v2 = post_nx(client, "/api/sms/mtsend_v2", body)  # Zalo's bizType 9 / action mt
    v1 = post_nx(client, "/v1/sms/mt", body, **SMS_SIGNED, sign="0" * 32)

    assert v2.get_json()["code"] == "1002" and 'need "3"' in explanation(v2)
    assert v1.get_json()["code"] == 1003 and "signature mismatch" in v1.get_json()["message"]


def test_signed_sms_body_errors_name_the_field() -> None:
    client, _, _ = make_app()
    response = post_nx(client, "/v1/sms/mt", {"phone": "8618651883168", "content": "c"},
                       **SMS_SIGNED)
    assert response.get_json()["code"] == 9000 and "$.appKey" in response.get_json()["message"]


# ------------------------------------------------------------------------------ /api/viber/mt
VIBER_REQUESTS = sorted(p.name for p in SPEC_VECTORS.glob("viber-mt-request-*.json"))


@pytest.mark.parametrize("name", VIBER_REQUESTS)
def test_every_documented_viber_request_is_accepted(name: str) -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook=DEFAULT))
    body = {**vector(name), "phone": "79123450000"}  # the docs mask the number's digits
    answer = post_nx(client, "/api/viber/mt", body, bizType="7").get_json()

    assert list(answer) == ["code", "message", "data"] and answer["code"] == 0
    assert HEX32.match(answer["data"]["requestId"])
    [message] = hooks.delivered
    assert message.callback_url == DEFAULT
    assert message.scenario == "nxcloud.viber.success_then_delivered"
    receipts = hooks.play()
    assert [r["status"] for r in receipts] == ["success", "delivered"]
    assert {r["requestId"] for r in receipts} == {answer["data"]["requestId"]}


def test_viber_checks_the_fields_its_function_type_needs() -> None:
    client, _, _ = make_app()
    body = {"appkey": "a", "phone": "79123450000", "functionType": "text_image",
            "messageData": {"rateType": "Promotional", "text": "hi"}}
    answer = post_nx(client, "/api/viber/mt", body, bizType="7").get_json()
    assert answer["code"] == 9000 and "$.messageData.image" in answer["message"]


def test_viber_without_a_default_webhook_is_accepted_and_plays_nothing() -> None:
    client, hooks, _ = make_app()
    body = {**vector("viber-mt-request-text.json"), "phone": "79123450000"}
    answer = post_nx(client, "/api/viber/mt", body, bizType="7").get_json()
    assert answer["code"] == 0 and hooks.last.run_ids == []


def test_viber_phone_errors_are_9002() -> None:
    client, _, _ = make_app()
    body = vector("viber-mt-request-text.json")  # "791xxxxx730": masked, not a number
    response = post_nx(client, "/api/viber/mt", body, bizType="7")
    assert response.get_json()["code"] == 9002 and "791xxxxx730" in explanation(response)


# --------------------------------------------------------------------------------- /api/wa/mt
WA_REQUESTS = sorted(p.name for p in SPEC_VECTORS.glob("wa-mt-request-*.json"))


@pytest.mark.parametrize("name", WA_REQUESTS)
def test_every_documented_whatsapp_request_is_accepted(name: str) -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook=DEFAULT))
    body = {**vector(name), "to": "8613612340000"}
    answer = post_nx(client, "/api/wa/mt", body, bizType="2").get_json()

    wamid = answer["data"]["messages"][0]["id"]
    assert answer == {"code": 0, "data": {"messaging_product": "whatsapp",
                                          "messages": [{"id": wamid}]},
                      "message": "Request successful"}
    statuses = hooks.play()
    assert [s["statuses"][0]["status"] for s in statuses] == ["sent", "delivered"]
    assert {s["statuses"][0]["id"] for s in statuses} == {wamid}
    assert {s["statuses"][0]["recipient_id"] for s in statuses} == {"8613612340000"}


def test_whatsapp_uses_cus_message_id_and_dr_webhook() -> None:
    client, hooks, _ = make_app(SendSettings(default_webhook=DEFAULT))
    body = {**vector("wa-mt-request-text.json"), "to": "8613612341111",
            "cus_message_id": "order-77", "dr_webhook": WEBHOOK}
    answer = post_nx(client, "/api/wa/mt", body, bizType="2").get_json()

    assert answer["data"]["messages"] == [{"id": "order-77"}]
    [message] = hooks.delivered
    assert (message.callback_url, message.scenario) == (WEBHOOK, "nxcloud.whatsapp.failed")
    assert hooks.play()[0]["statuses"][0]["errors"][0]["code"] == 470


def test_whatsapp_errors_carry_data_null() -> None:
    client, _, _ = make_app()
    body = {**vector("wa-mt-request-text.json"), "to": "8613612340000"}
    del body["text"]
    answer = post_nx(client, "/api/wa/mt", body, bizType="2").get_json()
    assert answer["code"] == 9000 and answer["data"] is None and "text" in answer["message"]


# -------------------------------------------------------------------- /v1/zalo/checkJourneyToken
def test_check_journey_token_describes_the_token_init_gave_out() -> None:
    client, _, _ = make_app()
    init = post_nx(client, "/v1/zalo/initJourneyToken", {
        "appkey": "a", "phone": "84912345678", "tokenType": "token_coach_bus_30",
        "templateId": "1"}).get_json()
    token = init["data"]["token"]
    answer = post_nx(client, "/v1/zalo/checkJourneyToken",
                     {**vector("zalo-check-journey-token-request.json"), "journeyToken": token}
                     ).get_json()

    data = answer["data"]
    assert answer["code"] == 0 and list(data) == ["createdAt", "expiredAt", "appId",
                                                  "tokenType", "oaId"]
    assert data["tokenType"] == "token_coach_bus_30"
    assert int(data["expiredAt"]) - int(data["createdAt"]) == 30 * 86_400_000


def test_check_journey_token_reports_the_journeys_oa_and_app() -> None:
    client, _, state = make_app()
    init = post_nx(client, "/v1/zalo/initJourneyToken", {
        "appkey": "a", "phone": "84912345678", "tokenType": "token_logistics_7",
        "templateId": "1"}).get_json()
    journey = state.journey(init["data"]["token"])
    assert journey is not None
    data = post_nx(client, "/v1/zalo/checkJourneyToken",
                   {"appkey": "a", "journeyToken": journey.token}).get_json()["data"]
    assert (data["oaId"], data["appId"]) == (journey.oa_id, journey.app_id)


def test_check_journey_token_of_an_unknown_token_is_the_documented_failure() -> None:
    client, _, _ = make_app()
    response = post_nx(client, "/v1/zalo/checkJourneyToken",
                       vector("zalo-check-journey-token-request.json"))
    answer = response.get_json()
    assert list(answer) == ["code", "message", "traceId"]
    assert (answer["code"], answer["message"]) == (-1, "Failure")
    assert "initJourneyToken" in explanation(response)


def test_the_request_schemas_accept_the_documented_requests() -> None:
    assert schema_problems("nxcloud.zalo.check_journey_token.request",
                           vector("zalo-check-journey-token-request.json")) == []
    assert schema_problems("nxcloud.sms.mt.request", vector("sms-mtsend_v2-request.json")) == []


# ---------------------------------------------------------------------------- unknown paths
def test_an_unknown_nxcloud_path_is_answered_in_nxcloud_shape_and_counted() -> None:
    app = create_app()
    client = app.test_client()
    response = client.post("/api/sms/mtsend_v3", data={"appkey": "a"})
    health = client.get("/_dlrmock/health").get_json()
    sent = client.get("/_dlrmock/sent").get_json()["sent"]

    assert response.status_code == 404
    answer = response.get_json()
    assert answer["code"] == -1 and "POST /api/sms/mtsend" in answer["message"]
    assert "POST /v1/zalo/checkJourneyToken" in answer["message"]
    assert [(s["endpoint"], s["path"], s["error"]) for s in sent] == [
        ("nxcloud.unknown", "/api/sms/mtsend_v3", "-1")]
    assert health["rejected_sends"] == 1 and health["errors"] == 0


def test_rejected_sends_are_counted_and_reset() -> None:
    app = create_app()
    client = app.test_client()
    client.post("/api/sms/mtsend", data={"appkey": "a"})
    client.post("/api/sms/mtsend", data=form(dr_url=None))
    assert client.get("/_dlrmock/health").get_json()["rejected_sends"] == 1
    client.post("/_dlrmock/reset")
    assert client.get("/_dlrmock/health").get_json()["rejected_sends"] == 0


# ------------------------------------------------------------------ answers as the docs show them
def _shape(value: Any) -> Any:
    """Keys in order and value types, recursively: what a client's parser depends on."""
    if isinstance(value, dict):
        return [(k, _shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


def test_answers_have_the_documented_shape() -> None:
    client, _, _ = make_app(SendSettings(sms_apps={"app-1": "secret-1"}))
    legacy = client.post("/api/sms/mtsend", data=form()).get_json()
    v2_failed = post_nx(client, "/api/sms/mtsend_v2",
                        {"appKey": "nope", "phone": "8618651883168", "content": "c"},
                        bizType="3", action="mtsend").get_json()
    viber = post_nx(client, "/api/viber/mt", {**vector("viber-mt-request-text.json"),
                                              "phone": "79123450000"}, bizType="7").get_json()
    whatsapp = post_nx(client, "/api/wa/mt", {**vector("wa-mt-request-text.json"),
                                              "to": "8613612340000"}, bizType="2").get_json()

    assert _shape(legacy) == _shape(vector("sms-mtsend-response-success.json"))
    assert v2_failed == vector("sms-mtsend_v2-response-failure.json")
    assert _shape(viber) == _shape(vector("viber-mt-response-success.json"))
    assert _shape(whatsapp) == _shape(vector("wa-mt-response-success.json"))


@pytest.mark.parametrize(("content", "size"), [
    ("a" * 160, "1"), ("a" * 161, "2"), ("ố" * 70, "1"), ("Mã OTP " + "x" * 64, "2"),
])
def test_the_report_size_is_the_billed_segments_of_the_content(content: str, size: str) -> None:
    client, hooks, _ = make_app()
    client.post("/api/sms/mtsend", data=form(content=content))
    [report] = hooks.play()
    assert report["size"] == size


def test_a_rule_naming_another_familys_scenario_is_skipped() -> None:
    rules = [{"match": {"phone": "0000$"}, "scenario": "nxcloud.zalo.failed"},
             {"match": {"api": "^sms\\.", "content": "FAILME"}, "outcome": "failed"}]
    client, hooks, _ = make_app(SendSettings.from_mapping({"rules": rules}))
    plain = client.post("/api/sms/mtsend", data=form())
    failme = client.post("/api/sms/mtsend", data=form(content="FAILME please"))

    assert [m.scenario for m in hooks.delivered] == ["nxcloud.sms.delivered",
                                                     "nxcloud.sms.undelivered"]
    assert "number suffix 0000" in plain.headers[EXPLAIN_HEADER]
    assert "failed (send.rules[1])" in failme.headers[EXPLAIN_HEADER]
