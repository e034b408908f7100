"""Behaviour of the example webhook: seeds accepted, idempotent, order-safe, strict on garbage."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from webhook_app import create_app, get_store, message_status

from mock_server import ErrorInfoEncoding, encode_error_info, encode_query

SEED_EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"

REQUEST_ID = "zalomid.a941ccf8dd374dafxxxxxxacbe7a6ea5"
ZNS_INACTIVE = (
    "User is inactive, or reject the message, or using an outdated Zalo version, "
    "or other internal errors"
)

VIBER_ID = "f6a7d49946094857ae02812969a83056"
WAMID = "wamid.HBgNODYxNzYwNjA1MDgxORUCABEYEjI4RTcyNzFGRDVGQTQwQkQ1RAA="

# seed file -> {message key: (status, error_code)}
SEED_EXPECTATIONS: dict[str, dict[str, tuple[str, int | None]]] = {
    "nxcloud.zalo.success.json": {REQUEST_ID: ("success", None)},
    "nxcloud.zalo.delivered.json": {REQUEST_ID: ("delivered", None)},
    "nxcloud.zalo.failed.json": {"zalomid.68d9cc28ba9546f797exxxxxx9333e23": ("failed", 17004)},
    "nxcloud.zalo.journey_acknowledged.json": {
        REQUEST_ID: ("journey_acknowledged", None),
        "journey:126052xxxx58967296": ("journey_acknowledged", None),
    },
    "nxcloud.zalo.journey_time_out.json": {
        "journey:126051xxxxxx4045952": ("journey_time_out", None),
    },
    # SendStatus=5 with SendSuccess=0 is a failure, even for the advertising example's
    # oddity (169 sent, none succeeded or failed).
    "esms.sms.ads.url": {"82b0bb8aed914a0aab8deba567c9b8c2": ("failed", None)},
    "esms.sms.cskh.url": {"dc712784-9c5f-4c69-b9a8-ea69d56adc9a87": ("failed", None)},
    "esms.viber.message.url": {"849fe08c19294b02857cf91687021a50250": ("delivered", None)},
    "esms.zalo.follower.consulting.url": {
        "7d11c87a22934df390f73ec59d8defd6205": ("delivered", None),
    },
    "esms.zalo.follower.transaction.url": {
        "53dbbc6e816f4159a9035a14a787e08f172": ("delivered", None),
    },
    "esms.zalo.follower.user_info.url": {
        "53dbbc6e816f4159a9035a14a787e08f172": ("delivered", None),
    },
    "esms.zns.journey.url": {"7d11c87a22934df390f73ec59d8defd6205": ("delivered", None)},
    "esms.zns.normal.url": {"f66545d2-c7e2-4603-984e-d2238c363c8292": ("failed", -114)},
    "nxcloud.sms.delivered.form": {"b308d94a73f94e6d84ae975c41f4b2a6": ("delivered", None)},
    "nxcloud.viber.success.json": {VIBER_ID: ("success", None)},
    "nxcloud.viber.delivered.json": {VIBER_ID: ("delivered", None)},
    "nxcloud.viber.failed.json": {VIBER_ID: ("failed", 11000)},
    "nxcloud.whatsapp.sent.json": {WAMID: ("sent", None)},
    "nxcloud.whatsapp.delivered.json": {WAMID: ("delivered", None)},
    "nxcloud.whatsapp.failed.json": {"ID": ("failed", 470)},
    "nxcloud.whatsapp.deleted.json": {"ID": ("deleted", None)},
    "nxcloud.whatsapp.inbound.button.json": {
        "wamid.HBgNODYxMzYwMzAxOTc1ORUCABIYFjNFQjA0NUJBNDczOTIzQUZBOUQ0OUEA": ("inbound", None),
    },
    "nxcloud.viber.reply.text.json": {"ae2c8ff7a4ee408398cf220e3fc1c199": ("reply", None)},
    "nxcloud.viber.reply.media.json": {"ae2c8ff7a4ee408398cf220e3fc1c199": ("reply", None)},
    "nxcloud.whatsapp.template_event.approved.json": {
        "template:1246121xxx3981": ("approved", None),
    },
    "nxcloud.whatsapp.template_event.paused.json": {"template:132693xxx507429": ("paused", None)},
    "nxcloud.whatsapp.template_event.rejected.json": {"template:14639xx35113": ("rejected", None)},
    "nxcloud.whatsapp.template_event.pending_deletion.json": {
        "template:125634xxx002056": ("pending_deletion", None),
    },
    **{
        f"nxcloud.whatsapp.account_event.{name}.json": {"waba:xxx": (event, None)}
        for name, event in {
            "account-deleted": "account_deleted", "account-restriction": "account_restriction",
            "account-review-approved": "approved", "account-update-disable": "disabled_update",
            "account-violation": "account_violation",
        }.items()
    },
    "nxcloud.whatsapp.account_event.account-update-reinstate.json": {
        "waba:1618074075500491": ("disabled_update", None),
    },
    **{
        f"nxcloud.whatsapp.inbound.{name}.json": {inbound_id: ("inbound", None)}
        for name, inbound_id in {
            "audio": "ABGHhhdgYFCBnwIQdSLi6R7UCDSsCqNkjrtczg",
            "document": "ABGHhhdgYFCBnwIQGvyQjDNptdnjvjN0dkD90Q",
            "image": "ABGHhhdgYFCBnwIQk5kC-xMSoi3XpEwoF2ZkIg",
            "location": "ABGHhhdgYFCBnwIQO8HTCPOtJUZLNLRo2dPufw",
            "sticker": "ABGHhhdgYFCBnwIQ1kuKFSU5LfuDxSUPOjKIwA",
            "text": "ABGHhhdgYFCBnwIQNkLO2ipL1_ZpZ41mwgMHEg",
            "video": "ABGHhhdgYFCBnwIQysyxXFholwoQ-lCwUTTWfw",
            "voice": "ABGHhhdgYFCBnwIQyrJn0a5IBKlmHZqf_uAuFw",
        }.items()
    },
    "esms.zns.uid.url": {"5450d5579bfa466a9f2a5911c82f4037": ("delivered", None)},
    # A voice call: keyed by ReferenceId; SentResult=0 is a call that did not go through.
    "esms.voice.call.url": {"066107ee-6ec4-4283-b595-aa74977c65c5": ("failed", None)},
    # NXCloud's other callbacks: stored under their own id, status "callback".
    **{
        name: {key: ("callback", None)}
        for name, key in {
            "nxcloud.did_sms.delivered.form": "fcf3432fd1834ccdac807a7cfb2d1fdf",
            "nxcloud.did_sms.delivered.signed.json": "fcf3432fd1834ccdac807a7cfb2d1fdf",
            "nxcloud.voice.report.url": "74078a0090f17e011505297261994",
            "nxcloud.ota.success.url": "b308d94a73f94e6d84ae975c41f4b2a6",
            "nxcloud.number_check.basic.json": "83ac9512-3c47-495d-a3c4-6d77a9f1149c",
            "nxcloud.number_check.hlr.json": "83ac9512-3c47-495d-a3c4-6d77a9f1149c",
            "nxcloud.number_check.call.json": "83ac9512-3c47-495d-a3c4-6d77a9f1149c",
            "nxcloud.number_check.failed.json": "cc5ef7d6-62be-42c9-abdf-b6ea9d6ed5e6",
            "nxcloud.pns.call_result.json": "69f1d1be1a82204c6049b4a2797ed0af",
            "nxcloud.pns.error.json": "1640920940635361280",
            "nxcloud.super_message.delivered.json": "62e6c4a55c79435aa2228ca0bd6b2671",
            "nxcloud.nxcc.call_log.json": "b1920376-5e15-4f22-9996-6233f297685e",
            "nxcloud.nxphone.cdr.json": "bf1b9043-cb9f-048f-cc97-0f939dc94609",
            "nxcloud.nxphone.call_status.json": "fe5f20eb-b054-4c52-8784-636d5d626c2f",
            **{f"nxcloud.predictive.{event}.json": "104906"
               for event in ("agent_ready", "agent_answer", "agent_hungup", "call_calling",
                             "call_answer", "call_hungup")},
        }.items()
    },
}


def stored(app: Flask, key: str) -> dict[str, Any]:
    """The probe's view of message ``key``, which must exist."""
    view = message_status(app, key)
    assert view is not None, f"no message {key!r} was stored"
    return view


def send_seed(client: FlaskClient, path: Path) -> Any:
    """Deliver one seed example the way its provider would."""
    if path.suffix == ".json":
        return client.post("/webhooks/nxcloud", data=path.read_bytes(),
                           content_type="application/json")
    if path.suffix == ".form":  # the docs print raw spaces; a real form body encodes them
        return client.post("/webhooks/nxcloud", data=path.read_text().strip().replace(" ", "+"),
                           content_type="application/x-www-form-urlencoded")
    query = urlsplit(path.read_text().strip()).query
    if path.name.startswith("nxcloud."):  # voice / OTA: a POST whose URL carries the fields
        return client.post("/webhooks/nxcloud", query_string=query.replace(" ", "+"))
    return client.get("/webhooks/esms", query_string=query)


def post_nxcloud(client: FlaskClient, payload: dict[str, Any]) -> Any:
    return client.post("/webhooks/nxcloud", json=payload)


def get_esms(client: FlaskClient, params: dict[str, str], encoding: int | None = None) -> Any:
    return client.get("/webhooks/esms",
                      query_string=encode_query(params, error_info_encoding=encoding))


def nxcloud(status: str, **fields: Any) -> dict[str, Any]:
    """A minimal NXCloud receipt for the module's request id."""
    return {"status": status, "requestId": REQUEST_ID, "code": 0, "message": status,
            "ext": "order-42", **fields}


def esms(send_status: int, send_success: int = 1, **params: str) -> dict[str, str]:
    """A minimal eSMS customer-care callback, every value a string."""
    return {"SMSID": "sms-1", "SendFailed": str(1 - send_success), "SendStatus": str(send_status),
            "SendSuccess": str(send_success), "TotalPrice": "850.0000", "TotalReceiver": "1",
            "TotalSent": "1", "RequestId": "", "TypeId": "2", **params}


def test_every_seed_example_has_an_expectation() -> None:
    # Parameter templates (blank values) document a shape; they are no receipt.
    examples = [p.name for p in SEED_EXAMPLES.iterdir() if not p.name.endswith(".template.url")]
    assert sorted(examples) == sorted(SEED_EXPECTATIONS)


def test_a_voice_callback_is_keyed_by_reference_id_and_answered_200(
    app: Flask, client: FlaskClient
) -> None:
    answered = {"ReferenceId": "call-1", "CallDuration": "31", "CallStatus": "ANSWERED",
                "Ivr": "1", "Price": "880.0000", "SentResult": "1", "CID": "02871002454",
                "SendStatus": "5"}
    assert get_esms(client, answered).status_code == 200
    assert stored(app, "call-1")["status"] == "delivered"
    assert get_esms(client, {**answered, "ReferenceId": ""}).status_code == 400


def test_an_mo_push_is_answered_with_a_client_response(app: Flask, client: FlaskClient) -> None:
    mo = {"sender": "84901888484", "content": "DK 123", "serviceNumber": "8041", "keyword": "DK",
          "sign": "O85nc2XByOhTm8a8t2rYKA==", "cpid": "10001", "smsid": "mo-1",
          "receiverTime": "20240424165801"}
    response = get_esms(client, mo)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == (
        "<ClientResponse><Message>Cam on quy khach</Message><Smsid>mo-1</Smsid>"
        "<Receiver>84901888484</Receiver></ClientResponse>"
    )
    assert stored(app, "mo-1")["status"] == "received"


@pytest.mark.parametrize("name", sorted(SEED_EXPECTATIONS))
def test_seed_example_is_acknowledged_and_stored(app: Flask, client: FlaskClient,
                                                 name: str) -> None:
    response = send_seed(client, SEED_EXAMPLES / name)

    assert response.status_code == 200, response.get_data(as_text=True)
    if name.endswith(".form") or (name.startswith("nxcloud.") and name.endswith(".url")):
        # NXCloud's form / URL pushes are acknowledged by the text itself
        assert response.get_data(as_text=True) == "success"
    else:
        assert response.get_json()["result"] == "success"
    for key, (status, error_code) in SEED_EXPECTATIONS[name].items():
        view = stored(app, key)
        assert (view["status"], view["error_code"]) == (status, error_code)
        assert view["receipts_processed"] == 1


def test_zns_normal_example_stores_zalo_error_message(app: Flask, client: FlaskClient) -> None:
    send_seed(client, SEED_EXAMPLES / "esms.zns.normal.url")

    view = stored(app, "f66545d2-c7e2-4603-984e-d2238c363c8292")
    assert view["error_message"] == ZNS_INACTIVE
    assert view["provider"] == "esms"
    assert view["last_payload"]["TypeId"] == "25"


def test_nxcloud_failed_example_keeps_code_message_and_ext(app: Flask,
                                                           client: FlaskClient) -> None:
    send_seed(client, SEED_EXAMPLES / "nxcloud.zalo.failed.json")

    view = stored(app, "zalomid.68d9cc28ba9546f797exxxxxx9333e23")
    assert view["error_message"] == "Zalo send error(Zalo account not existed)"
    assert view["ext"] == "ext info"
    assert view["last_payload"]["zaloRes"]["error"] == -118


@pytest.mark.parametrize("encoding", list(ErrorInfoEncoding), ids=lambda e: e.name)
def test_error_info_decodes_in_every_encoding(app: Flask, client: FlaskClient,
                                              encoding: ErrorInfoEncoding) -> None:
    error_info = encode_error_info({"error": -114, "message": ZNS_INACTIVE}, encoding)
    params = esms(5, send_success=0, TypeId="25", error_info=error_info)

    response = get_esms(client, params, encoding)

    assert response.status_code == 200, response.get_data(as_text=True)
    view = stored(app, "sms-1")
    assert (view["status"], view["error_code"], view["error_message"]) == (
        "failed", -114, ZNS_INACTIVE)


@pytest.mark.parametrize("encoding", list(ErrorInfoEncoding), ids=lambda e: e.name)
def test_error_info_with_error_zero_is_delivered(app: Flask, client: FlaskClient,
                                                 encoding: ErrorInfoEncoding) -> None:
    result = {"data": {"message_id": "e1a60e", "user_id": "3121"}, "error": 0, "message": "Success"}
    params = esms(5, TypeId="26", error_info=encode_error_info(result, encoding))

    assert get_esms(client, params, encoding).status_code == 200
    assert (stored(app, "sms-1")["status"], stored(app, "sms-1")["error_code"]) == (
        "delivered", None)


@pytest.mark.parametrize("encoding", list(ErrorInfoEncoding), ids=lambda e: e.name)
def test_error_info_survives_a_real_request_line(app: Flask, live_url: str,
                                                 encoding: ErrorInfoEncoding) -> None:
    error_info = encode_error_info({"error": -118, "message": "Zalo account not existed"}, encoding)
    query = encode_query(esms(5, TypeId="25", error_info=error_info), error_info_encoding=encoding)

    with urllib.request.urlopen(f"{live_url}/webhooks/esms?{query}", timeout=10) as response:
        assert response.status == 200

    view = stored(app, "sms-1")
    assert (view["status"], view["error_code"]) == ("failed", -118)


def test_zalo_error_fails_the_message_even_when_send_succeeded(app: Flask,
                                                               client: FlaskClient) -> None:
    error_info = encode_error_info({"error": -118, "message": "Zalo account not existed"})
    get_esms(client, esms(5, send_success=1, TypeId="25", error_info=error_info))

    view = stored(app, "sms-1")
    assert (view["status"], view["error_code"]) == ("failed", -118)


@pytest.mark.parametrize(("send_status", "send_success", "expected"), [
    (1, 0, "pending"), (2, 0, "pending"), (7, 0, "pending"),
    (4, 0, "failed"), (5, 0, "failed"), (5, 1, "delivered"),
])
def test_esms_send_status_maps_to_outcome(app: Flask, client: FlaskClient, send_status: int,
                                          send_success: int, expected: str) -> None:
    assert get_esms(client, esms(send_status, send_success)).status_code == 200
    assert stored(app, "sms-1")["status"] == expected


def test_lowercase_totalprice_spelling_is_accepted(app: Flask, client: FlaskClient) -> None:
    params = esms(5)
    params["Totalprice"] = params.pop("TotalPrice")

    assert get_esms(client, params).status_code == 200
    assert stored(app, "sms-1")["status"] == "delivered"


def test_duplicate_nxcloud_receipt_is_processed_once(app: Flask, client: FlaskClient) -> None:
    first = post_nxcloud(client, nxcloud("delivered"))
    second = post_nxcloud(client, nxcloud("delivered"))

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.get_json()["duplicate"], second.get_json()["duplicate"]) == (False, True)
    view = stored(app, REQUEST_ID)
    assert (view["receipts_processed"], view["duplicates_ignored"]) == (1, 1)


def test_byte_identical_esms_seeds_are_processed_once(app: Flask, client: FlaskClient) -> None:
    # The docs' transaction and user-info examples are the same callback twice.
    for name in ("esms.zalo.follower.transaction.url", "esms.zalo.follower.user_info.url"):
        assert send_seed(client, SEED_EXAMPLES / name).status_code == 200

    view = stored(app, "53dbbc6e816f4159a9035a14a787e08f172")
    assert (view["receipts_processed"], view["duplicates_ignored"]) == (1, 1)


def test_duplicate_with_reordered_keys_is_still_a_duplicate(app: Flask,
                                                            client: FlaskClient) -> None:
    receipt = nxcloud("success")
    post_nxcloud(client, receipt)
    client.post("/webhooks/nxcloud", data=json.dumps(dict(reversed(receipt.items())), indent=2),
                content_type="application/json")

    assert stored(app, REQUEST_ID)["duplicates_ignored"] == 1


def test_later_stage_receipt_advances_the_message(app: Flask, client: FlaskClient) -> None:
    post_nxcloud(client, nxcloud("success"))
    post_nxcloud(client, nxcloud("delivered", code=17003))

    view = stored(app, REQUEST_ID)
    assert (view["status"], view["receipts_processed"]) == ("delivered", 2)
    assert view["last_payload"]["code"] == 17003


def test_success_after_delivered_does_not_regress(app: Flask, client: FlaskClient) -> None:
    post_nxcloud(client, nxcloud("delivered", code=17003))
    late = post_nxcloud(client, nxcloud("success"))

    assert late.status_code == 200
    assert late.get_json()["applied"] == {REQUEST_ID: False}
    view = stored(app, REQUEST_ID)
    assert (view["status"], view["receipts_processed"]) == ("delivered", 2)
    assert view["last_payload"]["status"] == "delivered"


def test_first_final_status_wins(app: Flask, client: FlaskClient) -> None:
    post_nxcloud(client, nxcloud("failed", code=17004, message="Zalo send error(x)"))
    post_nxcloud(client, nxcloud("delivered", code=17003))

    view = stored(app, REQUEST_ID)
    assert (view["status"], view["error_code"]) == ("failed", 17004)


def test_journey_acknowledged_after_time_out_does_not_regress(app: Flask,
                                                              client: FlaskClient) -> None:
    journey = {"journeyId": "126051", "oaId": "3041", "appId": "3310", "timestamp": "1721206920581"}
    post_nxcloud(client, {"status": "journey_time_out", "code": 17007, "message": "expired",
                          **journey})
    post_nxcloud(client, nxcloud("journey_acknowledged", code=17006, **journey))

    assert stored(app, "journey:126051")["status"] == "journey_time_out"
    assert stored(app, REQUEST_ID)["status"] == "journey_acknowledged"


def test_time_out_after_journey_acknowledged_keeps_the_charged_journey(
        app: Flask, client: FlaskClient) -> None:
    journey = {"journeyId": "126051", "oaId": "3041", "appId": "3310", "timestamp": "1721206920581"}
    post_nxcloud(client, nxcloud("journey_acknowledged", code=17006, **journey))
    post_nxcloud(client, {"status": "journey_time_out", "code": 17007, "message": "expired",
                          **journey})

    assert stored(app, "journey:126051")["status"] == "journey_acknowledged"
    assert stored(app, "journey:126051")["receipts_processed"] == 2


def test_esms_pending_after_finished_does_not_regress(app: Flask, client: FlaskClient) -> None:
    get_esms(client, esms(5))
    get_esms(client, esms(7, send_success=0))

    assert stored(app, "sms-1")["status"] == "delivered"


def test_unknown_extra_fields_are_ignored(app: Flask, client: FlaskClient) -> None:
    response = post_nxcloud(client, nxcloud("delivered", futureField={"nested": [1, 2]}))

    assert response.status_code == 200
    assert stored(app, REQUEST_ID)["status"] == "delivered"


def test_unknown_status_is_acknowledged_without_changing_state(app: Flask,
                                                               client: FlaskClient) -> None:
    post_nxcloud(client, nxcloud("success"))
    response = post_nxcloud(client, nxcloud("read"))

    assert response.status_code == 200
    view = stored(app, REQUEST_ID)
    assert (view["status"], view["receipts_processed"]) == ("success", 2)


NXCLOUD_MALFORMED = {
    "not JSON": b"status=success",
    "empty body": b"",
    "JSON array": b'[{"status": "success"}]',
    "JSON string": b'"success"',
    "invalid UTF-8": b'{"status": "success", "requestId": "\xff"}',
    "lone surrogate": b'{"status": "success", "requestId": "x", "ext": "\\ud800"}',
    "missing status": json.dumps({"requestId": REQUEST_ID, "code": 0}).encode(),
    "missing requestId": json.dumps({"status": "delivered", "code": 17003}).encode(),
    "time-out without journeyId": json.dumps({"status": "journey_time_out", "code": 1}).encode(),
    "code as a string": json.dumps(nxcloud("failed", code="17004")).encode(),
    "requestId as a number": json.dumps({**nxcloud("success"), "requestId": 7}).encode(),
    # Found by `dlrmock fuzz`: the schema allows any integer, SQLite stores 64 bits (was a 500).
    "code beyond 64 bits": json.dumps(nxcloud("failed", code=-(10**40))).encode(),
}


@pytest.mark.parametrize("body", NXCLOUD_MALFORMED.values(), ids=NXCLOUD_MALFORMED.keys())
def test_malformed_nxcloud_receipt_gets_400_json(app: Flask, client: FlaskClient,
                                                 body: bytes) -> None:
    response = client.post("/webhooks/nxcloud", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_receipt"
    assert message_status(app, REQUEST_ID) is None


ESMS_MALFORMED = {
    "no parameters": "",
    "missing SMSID": "SendStatus=5&SendSuccess=1",
    "blank SMSID": "SMSID=&SendStatus=5&SendSuccess=1",
    "missing SendStatus": "SMSID=sms-1&SendSuccess=1",
    "SendStatus not a number": "SMSID=sms-1&SendStatus=done&SendSuccess=1",
    "finished without SendSuccess": "SMSID=sms-1&SendStatus=5",
    "undecodable error_info": "SMSID=sms-1&SendStatus=5&SendSuccess=1&error_info=%7Bnot-json",
    "error_info holds an array": "SMSID=sms-1&SendStatus=5&SendSuccess=1&error_info=%5B1%5D",
    "error_info error not a number": (
        "SMSID=sms-1&SendStatus=5&SendSuccess=1&error_info=%7B%22error%22%3A%22bad%22%7D"),
    "error_info error beyond 64 bits": (
        "SMSID=sms-1&SendStatus=5&SendSuccess=1&error_info=%7B%22error%22%3A-1" + "0" * 40
        + "%7D"),
}


@pytest.mark.parametrize("query", ESMS_MALFORMED.values(), ids=ESMS_MALFORMED.keys())
def test_malformed_esms_callback_gets_400_json(app: Flask, client: FlaskClient,
                                               query: str) -> None:
    response = client.get("/webhooks/esms", query_string=query)

    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_receipt"
    assert message_status(app, "sms-1") is None


def test_wrong_method_gets_json_error(client: FlaskClient) -> None:
    response = client.get("/webhooks/nxcloud")

    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


def test_messages_endpoint_shows_the_stored_view(app: Flask, client: FlaskClient) -> None:
    post_nxcloud(client, nxcloud("delivered", code=17003))

    response = client.get(f"/messages/{REQUEST_ID}")

    assert response.status_code == 200
    assert response.get_json() == message_status(app, REQUEST_ID)
    assert set(response.get_json()) == {
        "key", "provider", "status", "error_code", "error_message", "receipts_processed",
        "duplicates_ignored", "ext", "last_payload"}


def test_messages_endpoint_404s_for_an_unknown_key(client: FlaskClient) -> None:
    response = client.get("/messages/zalomid.nope")

    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_file_database_keeps_state_across_app_instances(tmp_path: Path) -> None:
    database = tmp_path / "receipts.sqlite3"
    first = create_app(database)
    first.test_client().post("/webhooks/nxcloud", json=nxcloud("delivered"))
    get_store(first).close()

    second = create_app(database)
    try:
        response = second.test_client().post("/webhooks/nxcloud", json=nxcloud("delivered"))
        assert response.get_json()["duplicate"] is True
        assert stored(second, REQUEST_ID)["status"] == "delivered"
    finally:
        get_store(second).close()


def _post_json(url: str, payload: dict[str, Any]) -> int:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_concurrent_receipts_lose_no_updates(app: Flask, live_url: str) -> None:
    # 40 distinct receipts for one message (39 successes, one delivered), each sent twice, plus
    # one delivered receipt for each of 20 other messages, all at once through a threaded server.
    distinct = [nxcloud("success", attempt=i) for i in range(39)] + [nxcloud("delivered")]
    others = [{**nxcloud("delivered"), "requestId": f"zalomid.{i:032x}"} for i in range(20)]
    receipts = distinct + distinct[::-1] + others

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(lambda r: _post_json(f"{live_url}/webhooks/nxcloud", r), receipts))

    assert codes == [200] * len(receipts)
    view = stored(app, REQUEST_ID)
    assert (view["status"], view["receipts_processed"], view["duplicates_ignored"]) == (
        "delivered", 40, 40)
    statuses = [message_status(app, f"zalomid.{i:032x}") for i in range(20)]
    assert all(v is not None and v["status"] == "delivered" for v in statuses)
