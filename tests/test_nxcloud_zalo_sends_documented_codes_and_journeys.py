"""NXCloud's Zalo APIs as apps call them — ``/v1/zalo/mt`` and ``/v1/zalo/initJourneyToken`` —
with every documented code and dlrmock's explanation, the limits the docs state, what a send
decides about its receipts (rules, magic numbers, hold and release) and the journey a token
starts: its ids in the receipts, its expiry, used once.

Over real sockets: a :class:`MockProvider` at time scale 0 requiring one ``appkey``, a loopback
:class:`Target` as the NXCloud default webhook, ``requests`` signing each body as NXCloud
documents (``bizType`` 9, ``action`` ``mt``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from live import json_bodies, post_nxcloud
from targets import Target

from mock_server import MockProvider

APPKEY = "zalo-app"
DEADLINE = 10.0
MT, INIT = "/v1/zalo/mt", "/v1/zalo/initJourneyToken"
PHONE = "84912345678"
RULES = [
    {"match": {"api": "^zalo\\.mt$", "content": "^RULE-A RULE-B$"}, "outcome": "failed"},
    {"match": {"api": "^zalo\\.mt$", "template": "^rule-template$"}, "outcome": "failed"},
    {"match": {"api": "^zalo\\.mt$", "request_id": "^rule-ext-"}, "outcome": "failed"},
    # On one number, any template values or ext fail the send.
    {"match": {"phone": "8888$", "content": "."}, "outcome": "failed"},
    {"match": {"phone": "8888$", "request_id": "."}, "outcome": "failed"},
    {"match": {"provider": "^nxcloud$", "content": "^PROVIDER-RULE$"}, "outcome": "no_receipt"},
    # A rule naming another NXCloud family's scenario is not about Zalo sends: skipped.
    {"match": {"content": "^FAMILY-RULE$"}, "scenario": "nxcloud.sms.expired"},
    {"match": {"content": "^ZALO-RULE$"}, "scenario": "nxcloud.zalo.duplicate_delivered"},
]


@pytest.fixture(scope="module")
def webhook() -> Iterator[Target]:
    with Target() as target:
        yield target


@pytest.fixture(scope="module")
def nxcloud(webhook: Target) -> Iterator[MockProvider]:
    send = {"nxcloud_default_webhook": webhook.url, "appkey": APPKEY, "rules": RULES,
            "nxcloud_currency": "VND", "nxcloud_zns_price": 300, "nxcloud_journey_price": 150,
            "nxcloud_daily_quota": 500}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(nxcloud: MockProvider) -> Iterator[None]:
    nxcloud.reset()
    yield
    nxcloud.check()


def post(provider: MockProvider, path: str, document: dict[str, Any] | None = None, *,
         raw: bytes | None = None, headers: dict[str, str] | None = None,
         method: str = "POST") -> requests.Response:
    """``document`` (or ``raw``) signed as NXCloud documents for Zalo (bizType 9)."""
    body = raw if raw is not None else json.dumps(document, ensure_ascii=False).encode()
    return post_nxcloud(provider.url + path, body, biz_type="9", headers=headers, method=method)


def zns(phone: str = PHONE, **fields: Any) -> dict[str, Any]:
    """A ``/v1/zalo/mt`` body; ``messageData`` keys given as ``fields`` replace the default's."""
    data = {"templateId": "231", "templateData": {"otp": "4821"}}
    data.update({k: fields.pop(k) for k in ("templateId", "templateData", "journeyToken")
                 if k in fields})
    return {"appkey": APPKEY, "phone": phone, "functionType": "template", "messageData": data,
            **fields}


def request_id(response: requests.Response) -> str:
    answer = response.json()
    assert answer["code"] == 0, answer
    return str(answer["data"]["requestId"])


def receipts(webhook: Target, key: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` receipts at the webhook whose requestId or journeyId is ``key``."""
    return json_bodies(webhook, lambda b: key in (b.get("requestId"), b.get("journeyId")), count)


def refusal(response: requests.Response, code: int) -> str:
    """NXCloud's error document inside HTTP 200; its message."""
    answer = response.json()
    assert list(answer) == ["code", "message", "traceId"] and answer["code"] == code, answer
    assert re.fullmatch(r"[0-9a-f]{32}", answer["traceId"])
    return str(answer["message"])


def explain(response: requests.Response) -> str:
    return unquote(response.headers["X-Dlrmock-Explain"])


def init(provider: MockProvider, token_type: str = "token_logistics_7") -> dict[str, str]:
    answer = post(provider, INIT, {"appkey": APPKEY, "phone": PHONE,
                                   "tokenType": token_type}).json()
    assert answer["code"] == 0 and answer["message"] == "Success", answer
    return dict(answer["data"])


# ------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize(("raw", "message"), [
    (b"", "empty body: a JSON object is required"),
    (b"[1, 2]", "body must be a JSON object, got a JSON list"),
    (b'"text"', "body must be a JSON object, got a JSON str"),
])
def test_a_zalo_body_that_is_no_json_object_is_1002_saying_why(
        nxcloud: MockProvider, raw: bytes, message: str) -> None:
    for path in (MT, INIT):
        assert refusal(post(nxcloud, path, raw=raw), 1002) == message
    assert nxcloud.sent[-1].run_ids == []


def test_a_zalo_body_that_is_not_json_is_1002_with_the_parsers_reason(
        nxcloud: MockProvider) -> None:
    message = refusal(post(nxcloud, MT, raw=b'{"appkey": '), 1002)
    assert message.startswith("body is not valid JSON: Expecting value: line 1 column 12")


@pytest.mark.parametrize(("raw", "reason"), [
    (b"[" * 65 + b"]" * 65, "the body is nested more than 64 levels deep; no payload needs that "
                           "many, flatten it"),
    (b'{"appkey": NaN}', "NaN is not a JSON number (JSON has no NaN or Infinity)"),
])
def test_a_zalo_body_too_deep_or_with_nan_is_1002_naming_the_body(
        nxcloud: MockProvider, raw: bytes, reason: str) -> None:
    assert refusal(post(nxcloud, MT, raw=raw), 1002) == f"body is not valid JSON: {reason}"


def test_a_zalo_phone_without_country_code_is_9002_with_an_example(
        nxcloud: MockProvider) -> None:
    for path, body in ((MT, zns("0912345678")),
                       (INIT, {"appkey": APPKEY, "phone": "0912345678",
                               "tokenType": "token_logistics_7"})):
        assert refusal(post(nxcloud, path, body), 9002) == (
            "phone number error: '0912345678'; digits with the country code, e.g. 84912345678")


def test_a_zalo_phone_with_plus_and_country_code_is_accepted(
        nxcloud: MockProvider, webhook: Target) -> None:
    sent = request_id(post(nxcloud, MT, zns("+84912345678")))
    assert [r["status"] for r in receipts(webhook, sent, 2)] == ["success", "delivered"]


def test_another_appkey_is_9003_naming_it_and_the_setting(nxcloud: MockProvider) -> None:
    for path, body in ((MT, zns(appkey="other-app")),
                       (INIT, {"appkey": "other-app", "phone": PHONE,
                               "tokenType": "token_logistics_7"})):
        assert refusal(post(nxcloud, path, body), 9003) == (
            "app 'other-app' missing or unavailable (dlrmock accepts the appkey setting)")


def test_a_schema_problem_is_9000_naming_the_field(nxcloud: MockProvider) -> None:
    message = refusal(post(nxcloud, INIT, {"appkey": APPKEY, "phone": PHONE,
                                           "tokenType": "token_logistics_9"}), 9000)
    assert message.startswith("request parameter error: $.tokenType")


def test_an_ext_of_65535_bytes_is_accepted_and_one_byte_more_is_9000(
        nxcloud: MockProvider, webhook: Target) -> None:
    longest = "ễ" * 21_845  # 3 bytes each in UTF-8
    sent = request_id(post(nxcloud, MT, zns(ext=longest)))
    assert {r["ext"] for r in receipts(webhook, sent, 2)} == {longest}
    assert refusal(post(nxcloud, MT, zns(ext=longest + "x")), 9000) == (
        "request parameter error: $.ext: longer than 65535 bytes")


def test_a_wrong_method_is_405_with_code_9000_and_allow_post(nxcloud: MockProvider) -> None:
    for path in (MT, INIT):
        response = post(nxcloud, path, zns(), method="PUT")
        assert response.status_code == 405 and response.headers["Allow"] == "POST"
        assert refusal(response, 9000)


def test_a_body_over_max_body_bytes_is_413_with_code_1002(webhook: Target) -> None:
    with MockProvider(time_scale=0, send={"max_body_bytes": 100}) as small:
        for path in (MT, INIT):
            response = post(small, path, zns(ext="x" * 200))
            assert response.status_code == 413
            assert refusal(response, 1002)


def test_the_trailing_slash_is_optional(nxcloud: MockProvider) -> None:
    assert request_id(post(nxcloud, MT + "/", zns()))
    answer = post(nxcloud, INIT + "/", {"appkey": APPKEY, "phone": PHONE,
                                         "tokenType": "token_logistics_30"}).json()
    assert answer["code"] == 0


# -------------------------------------------------------------- what a send decides
def test_zalo_rules_read_provider_api_template_values_joined_template_id_and_ext(
        nxcloud: MockProvider) -> None:
    cases = [
        (zns(templateData={"a": "RULE-A", "b": "RULE-B"}), "failed (send.rules[0])"),
        (zns(templateId="rule-template"), "failed (send.rules[1])"),
        (zns(ext="rule-ext-12"), "failed (send.rules[2])"),
        # No template values and no ext: the rules on them find nothing.
        (zns("84912348888", templateData={}), "delivered (default_outcome)"),
        (zns("84912348888", templateData={"otp": 1}), "failed (send.rules[3])"),
        (zns("84912348888", templateData={}, ext="e"), "failed (send.rules[4])"),
        (zns(templateData={"x": "PROVIDER-RULE"}), "no_receipt (send.rules[5])"),
        (zns(templateData={"x": "FAMILY-RULE"}), "delivered (default_outcome)"),
        (zns(templateData={"x": "ZALO-RULE"}),
         "nxcloud.zalo.duplicate_delivered (send.rules[7])"),
    ]
    assert [explain(post(nxcloud, MT, body)) for body, _ in cases] == [e for _, e in cases]


def test_the_receipts_go_to_dr_webhook_else_the_default_webhook(
        nxcloud: MockProvider, webhook: Target, make_target: Any) -> None:
    own = make_target()
    sent = request_id(post(nxcloud, MT, zns(drWebhook=own.url)))
    assert [json.loads(r.body)["requestId"] for r in own.wait_for(2)] == [sent, sent]
    assert receipts(webhook, request_id(post(nxcloud, MT, zns())), 2)


def test_without_any_webhook_the_send_is_final_at_once_with_nothing_played() -> None:
    with MockProvider(time_scale=0) as bare:
        sent = request_id(post(bare, MT, zns(appkey="any")))
        message = bare.message(sent)
        assert message.state == "final" and message.run_ids == []
        assert explain(post(bare, MT, zns(appkey="any"))) == "delivered (default_outcome)"
        token = post(bare, INIT, {"appkey": "any", "phone": PHONE,
                                  "tokenType": "token_logistics_7"}).json()["data"]
        journey = bare.message(token["journeyId"])
        assert journey.state == "final" and journey.run_ids == []


def test_the_receipts_carry_the_accounts_currency_prices_and_quota(
        nxcloud: MockProvider, webhook: Target) -> None:
    first = request_id(post(nxcloud, MT, zns()))
    success, delivered = receipts(webhook, first, 2)
    assert success["cost"] == {"currency": "VND", "originalPrice": 300}
    assert success["zaloRes"]["data"]["quota"] == {"remainingQuota": "499", "dailyQuota": "500"}
    assert success["requestId"] == delivered["requestId"] == first
    assert re.fullmatch(r"zalomid\.[0-9a-f]{32}", first)
    journey = init(nxcloud)
    used = request_id(post(nxcloud, MT, zns(journeyToken=journey["token"])))
    acknowledged = receipts(webhook, used, 2)[1]
    assert acknowledged["status"] == "journey_acknowledged"
    assert acknowledged["cost"] == {"currency": "VND", "originalPrice": 150}


def test_a_send_is_the_message_its_request_id_names(nxcloud: MockProvider) -> None:
    response = post(nxcloud, MT, zns("84912340000"))
    sent = request_id(response)
    message = nxcloud.message(sent)
    assert (message.provider, message.api) == ("nxcloud", "zalo.mt")
    assert [part["phone"] for part in message.parts] == ["84912340000"]
    [run_id] = message.run_ids
    assert nxcloud.run(run_id).message_id == sent
    assert nxcloud.sent[-1].run_ids == [run_id] and nxcloud.sent[-1].message_ids == [sent]
    assert explain(response) == "delivered (number suffix 0000)"


def test_a_held_zns_plays_nothing_until_released_then_that_outcome(
        nxcloud: MockProvider, webhook: Target) -> None:
    response = post(nxcloud, MT, zns("84912346666", ext="held-1"))
    sent = request_id(response)
    assert explain(response) == "hold (number suffix 6666)"
    assert nxcloud.message(sent).state == "held" and nxcloud.sent[-1].run_ids == []
    nxcloud.release(sent, "failed")
    [failed] = receipts(webhook, sent, 1)
    assert (failed["status"], failed["ext"]) == ("failed", "held-1")


# --------------------------------------------------------------------------- journeys
def test_init_journey_token_gives_a_long_url_safe_token_and_19_digit_ids(
        nxcloud: MockProvider) -> None:
    tokens = [init(nxcloud) for _ in range(5)]
    for data in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{200}", data["token"]), data["token"]
        assert re.fullmatch(r"[1-9][0-9]{18}", data["journeyId"])
    assert len({d["token"] for d in tokens}) == 5


@pytest.mark.parametrize(("token_type", "days"), [("token_logistics_7", 7),
                                                  ("token_coach_bus_30", 30)])
def test_an_unused_token_times_out_at_its_lifetime_with_its_journeys_ids(
        nxcloud: MockProvider, webhook: Target, token_type: str, days: int) -> None:
    data = init(nxcloud, token_type)
    message = nxcloud.message(data["journeyId"])
    assert (message.provider, message.api, message.state) == (
        "nxcloud", "zalo.initJourneyToken", "pending")
    [part] = message.parts
    assert (part["phone"], part["scenario"], part["receipts_to_come"]) == (
        PHONE, "nxcloud.zalo.journey_token_expiry", ["nxcloud.zalo.journey_time_out"])
    [expiry] = message.run_ids
    assert nxcloud.sent[-1].run_ids == [expiry]
    run = nxcloud.run(expiry)
    assert run.advance(days * 86_400 - 1) == []  # not a second early
    attempts: list[Any] = []
    unsubscribe = nxcloud.state.events.subscribe(
        lambda event: attempts.append(event) if event.kind == "attempt" else None)
    try:
        run.advance(1)
        [timed_out] = receipts(webhook, data["journeyId"], 1)
        deadline = time.monotonic() + DEADLINE
        while not attempts and time.monotonic() < deadline:  # published once answered
            time.sleep(0.01)
    finally:
        unsubscribe()
    # The dashboard files the time-out under the journey's message (its receipt has no
    # requestId to find it by).
    assert [event.data["message"]["id"] for event in attempts] == [data["journeyId"]]
    assert timed_out["status"] == "journey_time_out" and timed_out["code"] == 17007
    assert re.fullmatch(r"[1-9][0-9]{18}", timed_out["oaId"])
    assert re.fullmatch(r"[1-9][0-9]{18}", timed_out["appId"])
    # The journey's oaId / appId: those checkJourneyToken reports.
    check = post(nxcloud, "/v1/zalo/checkJourneyToken",
                 {"appkey": APPKEY, "journeyToken": data["token"]}).json()["data"]
    assert (timed_out["oaId"], timed_out["appId"]) == (check["oaId"], check["appId"])
    assert "ext" not in timed_out and "requestId" not in timed_out
    assert nxcloud.message(data["journeyId"]).wait("final", DEADLINE)
    # After its expiry was sent, the token is refused.
    refused = post(nxcloud, MT, zns(journeyToken=data["token"]))
    assert refusal(refused, 9000) == ("request parameter error: journeyToken has expired "
                                      "(journey_time_out was sent)")


def test_a_used_token_plays_its_journeys_ids_and_never_times_out(
        nxcloud: MockProvider, webhook: Target) -> None:
    data = init(nxcloud)
    [expiry] = nxcloud.message(data["journeyId"]).run_ids
    sent = request_id(post(nxcloud, MT, zns(journeyToken=data["token"], ext="trip-9")))
    success, acknowledged = receipts(webhook, sent, 2)
    assert [success["status"], acknowledged["status"]] == ["success", "journey_acknowledged"]
    assert acknowledged["journeyId"] == data["journeyId"] and acknowledged["ext"] == "trip-9"
    assert nxcloud.run(expiry).wait(5).state == "cancelled"
    # Its oaId / appId are those checkJourneyToken reports.
    check = post(nxcloud, "/v1/zalo/checkJourneyToken",
                 {"appkey": APPKEY, "journeyToken": data["token"]}).json()["data"]
    assert (acknowledged["oaId"], acknowledged["appId"]) == (check["oaId"], check["appId"])
    # Used again: an ordinary message of the same journey.
    again = request_id(post(nxcloud, MT, zns(journeyToken=data["token"])))
    assert [r["status"] for r in receipts(webhook, again, 2)] == ["success", "delivered"]


def test_a_held_journey_message_claims_its_token_when_released(
        nxcloud: MockProvider, webhook: Target) -> None:
    data = init(nxcloud)
    sent = request_id(post(nxcloud, MT, zns("84912346666", journeyToken=data["token"])))
    nxcloud.release(sent, "delivered")
    statuses = [(r["status"], r.get("journeyId")) for r in receipts(webhook, sent, 2)]
    assert statuses == [("success", None), ("journey_acknowledged", data["journeyId"])]


def test_a_token_dlrmock_did_not_give_out_starts_a_journey_of_fresh_19_digit_ids(
        nxcloud: MockProvider, webhook: Target) -> None:
    seen = set()
    for _ in range(5):
        sent = request_id(post(nxcloud, MT, zns(journeyToken="from-another-account")))
        acknowledged = receipts(webhook, sent, 2)[1]
        ids = [acknowledged[k] for k in ("journeyId", "oaId", "appId")]
        assert all(re.fullmatch(r"[1-9][0-9]{18}", i) for i in ids), ids
        seen.update(ids)
    assert len(seen) == 15
    assert len({i[:1] for i in seen}) > 1 and len({i[:4] for i in seen}) > 5  # random, all over


def test_the_first_receipt_comes_receipt_delay_after_the_answer_or_the_release(
        make_target: Any) -> None:
    own = make_target()
    send = {"nxcloud_default_webhook": own.url, "receipt_delay": 0.4}
    with MockProvider(time_scale=1, send=send) as slow:
        answered = time.monotonic()
        receipts(own, request_id(post(slow, MT, zns(appkey="any"))), 1)
        assert time.monotonic() - answered >= 0.4
        held = request_id(post(slow, MT, zns("84912346666", appkey="any")))
        released = time.monotonic()
        slow.release(held, "delivered")
        receipts(own, held, 1)
        assert time.monotonic() - released >= 0.4
