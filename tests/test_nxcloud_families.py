"""The NXCloud receipt families beyond Zalo: detection, transport, acknowledgement, policies."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from targets import Target

from mock_server import (
    KINDS,
    DetectionError,
    DlrmockError,
    Engine,
    MockProvider,
    create_app,
    detect_kind,
    load_payload,
    receipt,
    validate,
    wire,
)
from mock_server._scenarios import resolve
from mock_server.cli import main
from pytest_plugin.conformance import ConformanceFailure, check_run

MakeTarget = Callable[..., Target]
EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "examples"
NEW_FAMILIES = ("nxcloud.sms", "nxcloud.viber", "nxcloud.whatsapp", "nxcloud.did_sms",
                "nxcloud.voice", "nxcloud.super_message", "nxcloud.number_check", "nxcloud.ota",
                "nxcloud.pns", "nxcloud.nxcc", "nxcloud.nxphone", "nxcloud.predictive")
NEW_KINDS = sorted(k for k in KINDS if KINDS[k].family_name in NEW_FAMILIES)
LEGACY_DR_URL = (
    # The docs' query-string report, raw spaces as printed (accounts from before May 2023).
    "http://106.15.34.94:8080/sms/testDr?result=DELIVRD&size=1&phone=6282167624806&rate=6.4845"
    "&price=0.045&messageid=b308d94a73f94e6d84ae975c41f4b2a6&drtime=2021-02-26 10:01:15"
    "&currency=USD&sendtime=2021-02-26 10:01:15&status=2"
)


def load_example(name: str) -> dict[str, Any]:
    """A documented example in any of its wire forms (JSON, form body, URL)."""
    return load_payload((EXAMPLES / name).read_text("utf-8"))


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text("utf-8"))
    return loaded


# ---------------------------------------------------------------------------------- detection
@pytest.mark.parametrize("status", ["success", "failed", "delivered", "seen", "expired"])
def test_a_viber_receipt_is_never_taken_for_a_zalo_one(status: str) -> None:
    code = {"success": 0, "failed": 11000, "delivered": 11001, "seen": 11002,
            "expired": 11003}[status]
    payload = {"status": status, "requestId": "f6a7d49946094857ae02812969a83056", "code": code,
               "message": "m", "sendTime": "2023-07-13 15:12:11"}
    assert detect_kind(payload) == f"nxcloud.viber.{status}"
    # Even broken: a Viber code or id keeps it Viber, and validate names the family.
    broken = {**payload, "sendTime": "yesterday"}
    problems = validate(broken)
    assert detect_kind(broken) == f"nxcloud.viber.{status}"
    assert [p.path for p in problems] == ["$.sendTime"]


@pytest.mark.parametrize("name", ["nxcloud.zalo.success.json", "nxcloud.zalo.failed.json",
                                  "nxcloud.zalo.delivered.json"])
def test_zalo_receipts_stay_zalo(name: str) -> None:
    assert detect_kind(example(name)) == name.removesuffix(".json")


def test_a_viber_success_relabelled_with_a_zalo_id_is_zalo() -> None:
    payload = {**example("nxcloud.viber.success.json"),
               "requestId": "zalomid.a941ccf8dd374dafxxxxxxacbe7a6ea5"}
    del payload["cost"]
    assert detect_kind(payload) == "nxcloud.zalo.success"


def test_the_legacy_query_string_report_is_an_sms_report() -> None:
    assert detect_kind(LEGACY_DR_URL) == "nxcloud.sms.delivered"
    assert validate(LEGACY_DR_URL, strict=True) == []


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"messageid": "m", "result": "X", "status": "3"}, "unknown NXCloud SMS report status '3'"),
        ({"statuses": [{"id": "i", "status": "queued"}]}, "unknown NXCloud WhatsApp webhook"),
        ({"status": "sent", "code": 0}, "unknown NXCloud status 'sent'"),
    ],
)
def test_unknown_statuses_name_the_family_they_look_like(
    payload: dict[str, Any], named: str
) -> None:
    with pytest.raises(DetectionError, match=named):
        detect_kind(payload)


def test_validate_cli_names_the_family(capsys: pytest.CaptureFixture[str]) -> None:
    payload = {**example("nxcloud.viber.delivered.json"), "code": "11001"}
    assert main(["validate", json.dumps(payload)]) == 1
    assert "invalid nxcloud.viber.delivered: $.code" in capsys.readouterr().out


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_generated_receipts_validate_strictly_and_are_detected(kind: str) -> None:
    for seed in range(5):
        payload = receipt(kind, seed=seed)
        assert detect_kind(payload) == kind
        assert validate(payload, kind=kind, strict=True) == []


# ---------------------------------------------------------------------------------- transport
def test_an_sms_report_is_a_form_post_spaces_as_plus() -> None:
    payload = receipt("nxcloud.sms.delivered", seed=1, ext="order 7")
    request = wire("nxcloud.sms.delivered", payload, "http://127.0.0.1/dr?acct=1")

    assert (request.method, request.url) == ("POST", "http://127.0.0.1/dr?acct=1")
    assert dict(request.headers)["Content-Type"] == "application/x-www-form-urlencoded"
    assert b"drtime=" + payload["drtime"].replace(" ", "+").replace(":", "%3A").encode() \
        in request.body
    assert dict(parse_qsl(request.body.decode())) == payload
    assert list(payload)[:3] == ["result", "size", "phone"]  # the docs' order


def test_viber_and_whatsapp_are_json_posts() -> None:
    for kind in ("nxcloud.viber.seen", "nxcloud.whatsapp.read"):
        payload = receipt(kind, seed=2)
        request = wire(kind, payload, "http://127.0.0.1/hook")
        assert dict(request.headers)["Content-Type"] == "application/json"
        assert json.loads(request.body) == payload


def test_sms_reports_go_in_the_query_string_when_the_policy_says_so(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.sms.delivered", target.url + "?acct=1",
                      policy={"parameters": "query"}).wait(5)

    (request,) = target.wait_for(1)
    assert run.ok, run.journal_text()
    assert request.method == "POST" and request.body == b""
    query = dict(parse_qsl(urlsplit(request.path).query))
    assert query["acct"] == "1" and query["messageid"] == run.message["messageid"]
    assert validate(request.path) == []


def test_sms_reports_go_in_a_form_body_by_default(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.sms.delivered", target.url + "?acct=1").wait(5)

    (request,) = target.wait_for(1)
    assert run.ok, run.journal_text()
    assert urlsplit(request.path).query == "acct=1"
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.body.decode()))["messageid"] == run.message["messageid"]


def test_the_query_variant_is_configurable_per_family() -> None:
    app = create_app({"policies": {"nxcloud.sms": {"parameters": "query"}}})
    assert app.extensions["dlrmock"].engine.policy_overrides["nxcloud.sms"] == {
        "parameters": "query"}
    with pytest.raises(DlrmockError, match=r"'nxcloud\.sm'.*nxcloud\.sms"):
        create_app({"policies": {"nxcloud.sm": {"parameters": "query"}}})
    with pytest.raises(DlrmockError, match="'parameters' must be 'body' or 'query'"):
        create_app({"policies": {"nxcloud.sms": {"parameters": "url"}}})


# ---------------------------------------------------------------------------- acknowledgement
def test_an_sms_report_is_acknowledged_only_by_the_text_success(
    engine: Engine, make_target: MakeTarget
) -> None:
    good = engine.play("nxcloud.sms.delivered", make_target(body=b"success").url).wait(5)
    ok_text = engine.play("nxcloud.sms.delivered", make_target(body=b"OK").url).wait(5)

    assert good.ok, good.journal_text()
    assert [a.outcome for a in ok_text.attempts] == ["http_error"]  # pushed once: no retry
    [failure] = ok_text.failures()
    assert "a 2xx answer whose body is the plain text 'success'" in failure
    assert "it answered HTTP 200 'OK'" in failure


def test_viber_and_whatsapp_receipts_take_any_2xx(
    engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target(status=204, body=b"")
    for scenario in ("nxcloud.viber.failed", "nxcloud.whatsapp.failed"):
        assert engine.play(scenario, target.url).wait(5).ok


def test_a_run_of_a_family_is_keyed_by_its_message_field(engine: Engine, target: Target) -> None:
    sms = engine.play("nxcloud.sms.delivered", target.url).wait(5)
    whatsapp = engine.play("nxcloud.whatsapp.failed", target.url).wait(5)
    viber = engine.play("nxcloud.viber.failed", target.url).wait(5)

    assert sms.message_id == sms.payloads[0]["messageid"]
    assert whatsapp.message_id == whatsapp.payloads[0]["statuses"][0]["id"]
    assert viber.message_id == viber.payloads[0]["requestId"]
    assert not viber.payloads[0]["requestId"].startswith("zalomid.")


def test_the_conformance_check_reports_an_ok_answer_to_an_sms_report(
    engine: Engine, make_target: MakeTarget
) -> None:
    scenario = resolve("nxcloud.sms.delivered")
    run = engine.play(scenario, make_target(body=b"OK").url).wait(5)

    with pytest.raises(ConformanceFailure) as failure:
        check_run(scenario, run, lambda key: {"status": "delivered"})
    text = str(failure.value)
    assert "[acknowledge]" in text
    assert "the plain text 'success'; it answered HTTP 200 'OK'" in text


def test_a_send_plays_sms_reports_in_the_query_string_when_configured(target: Target) -> None:
    config = {"time_scale": 0, "policies": {"nxcloud.sms": {"parameters": "query"}}}
    with MockProvider(config) as provider, provider.app.test_client().post(
            "/api/sms/mtsend", data={"appkey": "a", "secretkey": "s", "phone": "84912340000",
                                     "content": "hi", "dr_url": target.url}) as response:
        answer = response.get_json()
        response.close()  # the receipts start once the answer is written
        (request,) = target.wait_for(1)

    assert request.method == "POST" and request.body == b""
    assert dict(parse_qsl(urlsplit(request.path).query))["messageid"] == answer["messageid"]


def test_a_404_to_an_sms_report_hints_at_the_form_post(
    engine: Engine, make_target: MakeTarget
) -> None:
    run = engine.play("nxcloud.sms.delivered", make_target(status=404, body=b"").url).wait(5)
    [failure] = run.failures()
    assert ("hint: NXCloud posts nxcloud.sms receipts as a form "
            "(application/x-www-form-urlencoded)") in failure


# ------------------------------------------------------------- the other NXCloud callbacks
def test_a_did_push_without_type_is_a_report_and_type_0_an_mo() -> None:
    report = load_example("nxcloud.did_sms.delivered.form")
    assert "type" not in report  # as documented
    assert detect_kind(report) == "nxcloud.did_sms.delivered"
    assert detect_kind({**report, "smsStatus": "UNDELIVR"}) == "nxcloud.did_sms.undelivered"
    assert detect_kind({**report, "type": "0"}) == "nxcloud.did_sms.mo"
    assert [p.path for p in validate({**report, "type": "0", "price": "free"})] == ["$.price"]


def test_the_signed_did_json_push_validates_as_the_same_kind_as_the_form() -> None:
    signed = example("nxcloud.did_sms.delivered.signed.json")
    assert detect_kind(signed) == "nxcloud.did_sms.delivered"
    assert validate(signed, strict=True) == []
    assert [p.path for p in validate({**signed, "size": 1})] == ["$.size"]  # text, as the form


def test_a_did_push_is_a_form_post_acknowledged_only_by_success(
    engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target(body=b"success")
    good = engine.play("nxcloud.did_sms.mo_then_undelivered", target.url).wait(5)
    ok_text = engine.play("nxcloud.did_sms.delivered", make_target(body=b"OK").url).wait(5)

    requests = target.wait_for(2)
    assert good.ok, good.journal_text()
    assert {dict(r.headers)["Content-Type"] for r in requests} == {
        "application/x-www-form-urlencoded"}
    assert [dict(parse_qsl(r.body.decode())) for r in requests] == good.payloads
    assert [p["type"] for p in good.payloads] == ["0", "1"]
    assert [a.outcome for a in ok_text.attempts] == ["http_error"]


@pytest.mark.parametrize("kind", ["nxcloud.voice.report", "nxcloud.ota.success"])
def test_voice_and_ota_results_travel_in_the_query_string(
    engine: Engine, make_target: MakeTarget, kind: str
) -> None:
    target = make_target(body=b"success")
    run = engine.play(kind, target.url + "?acct=1").wait(5)

    (request,) = target.wait_for(1)
    assert run.ok, run.journal_text()
    assert request.method == "POST" and request.body == b""
    assert dict(parse_qsl(urlsplit(request.path).query))["acct"] == "1"
    assert detect_kind(request.path) == kind
    assert validate(request.path, strict=False) == []
    as_form = engine.play(kind, target.url, policy={"parameters": "body"}).wait(5)
    assert as_form.ok and target.wait_for(2)[1].body != b""


def test_the_ota_field_table_spelling_of_drtime_validates_too() -> None:
    payload = load_example("nxcloud.ota.success.url")
    table = {**{k: v for k, v in payload.items() if k != "drtime"}, "drTime": payload["drtime"]}
    assert validate(table, strict=True) == []
    assert [p.path for p in validate({k: v for k, v in payload.items() if k != "drtime"})] \
        == ["$"]


@pytest.mark.parametrize("kind", ["nxcloud.number_check.hlr", "nxcloud.pns.error"])
def test_number_check_and_pns_want_exactly_200_and_retry_every_minute(
    engine: Engine, make_target: MakeTarget, kind: str
) -> None:
    policy = KINDS[kind].policy
    assert policy is not None
    assert (policy.acknowledge, policy.retries, policy.retry_interval) == ("200", 60, 60.0)
    run = engine.play(kind, make_target(status=204, body=b"").url, policy={"retries": 2}).wait(5)
    assert [a.outcome for a in run.attempts] == ["http_error"] * 3
    assert "exactly HTTP 200" in run.failures()[0]
    assert engine.play(kind, make_target(body=b"").url).wait(5).ok


def test_a_super_message_report_is_never_taken_for_zalo_or_viber() -> None:
    report = example("nxcloud.super_message.delivered.json")
    assert detect_kind(report) == "nxcloud.super_message.delivered"
    broken = {**report, "sendTime": "yesterday"}
    assert detect_kind(broken) == "nxcloud.super_message.delivered"
    assert [p.path for p in validate(broken)] == ["$.sendTime"]
    with pytest.raises(DetectionError):
        detect_kind({**report, "code": 11001})  # a Viber code: neither family's


@pytest.mark.parametrize(
    ("name", "kind"),
    [("nxcloud.number_check.basic.json", "nxcloud.number_check.basic"),
     ("nxcloud.number_check.hlr.json", "nxcloud.number_check.hlr"),
     ("nxcloud.number_check.call.json", "nxcloud.number_check.call"),
     ("nxcloud.number_check.failed.json", "nxcloud.number_check.failed"),
     ("nxcloud.pns.call_result.json", "nxcloud.pns.call_result"),
     ("nxcloud.pns.error.json", "nxcloud.pns.error")],
)
def test_each_number_check_and_pns_shape_is_its_own_kind(name: str, kind: str) -> None:
    payload = example(name)
    others = [k for k in KINDS if KINDS[k].family is KINDS[kind].family and k != kind]
    assert detect_kind(payload) == kind
    assert all(validate(payload, kind=other, strict=True) for other in others)


def test_an_nxcc_call_log_carries_the_token_header_and_wants_exactly_200(
    engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target(body=b"")
    run = engine.play("nxcloud.nxcc.call_log", target.url).wait(5)
    refused = engine.play("nxcloud.nxcc.call_log", make_target(status=202, body=b"").url).wait(5)

    (request,) = target.wait_for(1)
    assert run.ok, run.journal_text()
    assert dict(request.headers)["token"] and json.loads(request.body) == run.payloads[0]
    assert [a.outcome for a in refused.attempts] == ["http_error"]


def test_nxphone_and_predictive_events_take_any_2xx(
    engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target(status=204, body=b"")
    cdr = engine.play("nxcloud.nxphone.call_status_then_cdr", target.url).wait(5)
    events = engine.play("nxcloud.predictive.answered_call", target.url).wait(5)

    assert cdr.ok and events.ok, events.journal_text()
    assert [detect_kind(p) for p in events.payloads] == [
        f"nxcloud.predictive.{s}" for s in ("agent_ready", "call_calling", "call_answer",
                                            "agent_answer", "call_hungup", "agent_hungup")]
    assert len({p["callid"] for p in events.payloads}) == 1  # one call throughout


def test_a_predictive_event_is_told_by_type_and_state() -> None:
    answer = example("nxcloud.predictive.call_answer.json")
    assert detect_kind({**answer, "type": 1}) == "nxcloud.predictive.agent_answer"
    assert [p.path for p in validate({**answer, "type": 1})][:1] == ["$.agentid"]
    with pytest.raises(DetectionError):
        detect_kind({**answer, "state": 2})  # the customer is never "ready"
