"""NXCloud's Viber (``/api/viber/mt``) and WhatsApp (``/api/wa/mt``) send APIs as apps call
them: the documented error codes with dlrmock's explanation, the ids the answer gives and the
receipts carry, what the send decides about its receipts (rate type, template category,
scenario header, rules), as they arrive at the app's webhook.

Over real sockets: a :class:`MockProvider` at time scale 0 requiring one ``appkey``, a loopback
:class:`Target` as the NXCloud default webhook, ``requests`` signing each body as NXCloud
documents (``bizType`` 7 for Viber, 2 for WhatsApp).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from live import json_bodies, post_nxcloud
from targets import Target

from mock_server import MockProvider

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "sendapi-examples" / "nxcloud"
APPKEY = "chat-app"
DEADLINE = 10.0
VIBER, WHATSAPP = "/api/viber/mt", "/api/wa/mt"
RULES = [
    {"match": {"api": "^viber\\.mt$", "content": "VIBER-RULE"}, "outcome": "failed"},
    {"match": {"api": "^whatsapp\\.mt$", "content": "WA-RULE"}, "outcome": "failed"},
    {"match": {"template": "^wa_rule_template$"}, "outcome": "failed"},
    {"match": {"request_id": "^wa-rule-"}, "outcome": "failed"},
    # A Viber send has no template and no request id: rules on them never match it.
    {"match": {"api": "^viber\\.mt$", "template": "."}, "outcome": "failed"},
    {"match": {"api": "^viber\\.mt$", "request_id": "."}, "outcome": "failed"},
    {"match": {"api": "^viber\\.mt$", "phone": "9999$", "content": "^$"}, "outcome": "failed"},
    # On one number, any WhatsApp template name, cus_message_id or text fails the send.
    {"match": {"api": "^whatsapp\\.mt$", "phone": "8888$", "template": "."}, "outcome": "failed"},
    {"match": {"api": "^whatsapp\\.mt$", "phone": "8888$", "request_id": "."},
     "outcome": "failed"},
    {"match": {"api": "^whatsapp\\.mt$", "phone": "8888$", "content": "."}, "outcome": "failed"},
]


@pytest.fixture(scope="module")
def webhook() -> Iterator[Target]:
    with Target() as target:
        yield target


@pytest.fixture(scope="module")
def nxcloud(webhook: Target) -> Iterator[MockProvider]:
    send = {"nxcloud_default_webhook": webhook.url, "appkey": APPKEY, "rules": RULES}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(nxcloud: MockProvider) -> Iterator[None]:
    nxcloud.reset()
    yield
    nxcloud.check()


def example(name: str, **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    document.update({"appkey": APPKEY, **fields})
    return document


def post(provider: MockProvider, path: str, document: dict[str, Any],
         headers: dict[str, str] | None = None) -> requests.Response:
    """``document`` signed as NXCloud documents: Viber is bizType 7, WhatsApp 2."""
    return post_nxcloud(provider.url + path, json.dumps(document, ensure_ascii=False).encode(),
                        biz_type="7" if path == VIBER else "2", headers=headers)


def receipts(webhook: Target, message_id: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` receipts at the webhook about ``message_id``."""
    return json_bodies(webhook, lambda b: message_id in (
        b.get("requestId"), *(s.get("id") for s in b.get("statuses", []))), count)


def refusal(response: requests.Response, code: int) -> str:
    answer = response.json()
    assert response.status_code == 200 and answer["code"] == code, answer
    return str(answer["message"])


# ---------------------------------------------------------------------- both chat APIs
def viber(**message_data: Any) -> dict[str, Any]:
    return example("viber-mt-request-text.json", phone="79123450000",
                   messageData={"rateType": "Transactional", "text": "Your code is 989724.",
                                **message_data})


def whatsapp(name: str = "wa-mt-request-text.json", **fields: Any) -> dict[str, Any]:
    return example(name, **{"to": "8613612340000", "business_phone": "8618500008399", **fields})


@dataclass(frozen=True)
class Chat:
    path: str
    body: Callable[[str], dict[str, Any]]
    """A valid body to the number given."""
    api: str
    """The message's ``api``."""
    answered: Callable[[dict[str, Any]], str]
    """The message id in the answer."""
    status: Callable[[dict[str, Any]], str]
    """A receipt's status."""


CHAT = {
    "viber": Chat(VIBER, lambda to: {**viber(), "phone": to}, "viber.mt",
                  lambda answer: str(answer["data"]["requestId"]), lambda r: str(r["status"])),
    "whatsapp": Chat(WHATSAPP, lambda to: whatsapp(to=to), "whatsapp.mt",
                     lambda answer: str(answer["data"]["messages"][0]["id"]),
                     lambda r: str(r["statuses"][0]["status"])),
}


@pytest.mark.parametrize("api", CHAT)
def test_a_chat_send_is_the_message_its_answered_id_names_in_runs_and_live_events(
        nxcloud: MockProvider, webhook: Target, api: str) -> None:
    chat = CHAT[api]
    events: list[Any] = []
    unsubscribe = nxcloud.state.events.subscribe(
        lambda event: events.append(event) if event.kind == "scheduled" else None)
    try:
        sent = chat.answered(post(nxcloud, chat.path, chat.body("+8613612340000")).json())
    finally:
        unsubscribe()
    message = nxcloud.message(sent)
    assert (message.provider, message.api) == ("nxcloud", chat.api)
    [run_id] = message.run_ids
    assert nxcloud.run(run_id).message_id == sent
    # The dashboard files the scheduled receipts under the message the send answered.
    assert [event.data["message_id"] for event in events] == [sent]
    assert len(receipts(webhook, sent, 2)) == 2


@pytest.mark.parametrize(("api", "scenario", "statuses"), [
    ("viber", "nxcloud.viber.delivered_then_seen", ["success", "delivered", "seen"]),
    ("whatsapp", "nxcloud.whatsapp.delivered_then_read", ["sent", "delivered", "read"]),
])
def test_a_chat_send_plays_the_scenario_of_its_family_the_header_names(
        nxcloud: MockProvider, webhook: Target, api: str, scenario: str,
        statuses: list[str]) -> None:
    chat = CHAT[api]
    response = post(nxcloud, chat.path, chat.body("8613612340000"),
                    headers={"X-Dlrmock-Scenario": scenario})
    sent = chat.answered(response.json())
    assert [chat.status(r) for r in receipts(webhook, sent, 3)] == statuses


@pytest.mark.parametrize("api", CHAT)
def test_a_chat_send_refuses_a_header_naming_another_familys_scenario_with_9000_listing_its_own(
        nxcloud: MockProvider, api: str) -> None:
    chat = CHAT[api]
    response = post(nxcloud, chat.path, chat.body("8613612340000"),
                    headers={"X-Dlrmock-Scenario": "nxcloud.zalo.failed"})
    answer = response.json()
    assert answer["code"] == 9000 and ("traceId" in answer) == (api == "viber")
    assert answer["message"].startswith(
        f"the X-Dlrmock-Scenario header: 'nxcloud.zalo.failed' is not a nxcloud.{api} "
        f"scenario; name one of nxcloud.{api}.")
    assert nxcloud.sent[-1].run_ids == []


# --------------------------------------------------------------------------------- Viber
def test_viber_refuses_another_appkey_with_9003_naming_it_and_the_setting(
        nxcloud: MockProvider) -> None:
    assert post(nxcloud, VIBER, viber()).json()["code"] == 0
    response = post(nxcloud, VIBER, {**viber(), "appkey": "someone-else"})
    assert refusal(response, 9003) == ("customer APP 'someone-else' missing or unavailable "
                                       "(dlrmock accepts the appkey setting)")
    assert list(response.json()) == ["code", "message", "traceId"]


def test_viber_refuses_a_phone_without_country_code_with_9002_and_an_example(
        nxcloud: MockProvider) -> None:
    message = refusal(post(nxcloud, VIBER, {**viber(), "phone": "0912345678"}), 9002)
    assert message == ("phone number error: '0912345678'; digits with the country code, "
                       "e.g. 79123456730")


@pytest.mark.parametrize(("function_type", "message_data"), [
    ("text", {"rateType": "Session", "text": "hello again"}),
    ("image", {"rateType": "Promotional", "image": "https://example.com/a.png"}),
])
def test_viber_receipts_cost_is_billed_at_the_rate_type_the_send_named(
        nxcloud: MockProvider, webhook: Target, function_type: str,
        message_data: dict[str, str]) -> None:
    body = {**viber(), "functionType": function_type, "messageData": message_data}
    request_id = post(nxcloud, VIBER, body).json()["data"]["requestId"]
    success, delivered = receipts(webhook, request_id, 2)
    assert [success["status"], delivered["status"]] == ["success", "delivered"]
    assert delivered["cost"]["rateType"] == message_data["rateType"]


def test_a_viber_rule_reads_the_text_of_the_send(nxcloud: MockProvider,
                                                  webhook: Target) -> None:
    response = post(nxcloud, VIBER, viber(text="VIBER-RULE please fail"))
    assert unquote(response.headers["X-Dlrmock-Explain"]) == "failed (send.rules[0])"
    [receipt] = receipts(webhook, response.json()["data"]["requestId"], 1)
    assert receipt["status"] == "failed"


def test_a_viber_send_without_text_is_matched_by_rules_as_empty_content(
        nxcloud: MockProvider, webhook: Target) -> None:
    image = {"rateType": "Promotional", "image": "https://example.com/a.png"}
    answers = [post(nxcloud, VIBER, {**viber(), "phone": "79123459999", **body})
               for body in ({"functionType": "image", "messageData": image}, {})]
    assert [unquote(a.headers["X-Dlrmock-Explain"]) for a in answers] == [
        "failed (send.rules[6])", "delivered (default_outcome)"]
    [failed] = receipts(webhook, answers[0].json()["data"]["requestId"], 1)
    assert failed["status"] == "failed"


# ------------------------------------------------------------------------------ WhatsApp
def test_whatsapp_without_cus_message_id_answers_an_id_shaped_like_the_docs_example(
        nxcloud: MockProvider, webhook: Target) -> None:
    ids = [post(nxcloud, WHATSAPP, whatsapp()).json()["data"]["messages"][0]["id"]
           for _ in range(3)]
    for wamid in ids:  # the docs' example: gBGHhhdgYFCBnwIJ6QRYvhwQk7Nc
        assert re.fullmatch(r"gBG[A-Za-z0-9]{25}", wamid), wamid
        statuses = [r["statuses"][0] for r in receipts(webhook, wamid, 2)]
        assert [s["id"] for s in statuses] == [wamid, wamid]
    assert len(set(ids)) == 3


def test_whatsapp_refuses_a_to_without_country_code_with_9000_data_null_and_an_example(
        nxcloud: MockProvider) -> None:
    answer = post(nxcloud, WHATSAPP, whatsapp(to="013612340000")).json()
    assert answer == {"code": 9000, "data": None, "message": (
        "request parameter error: to '013612340000'; digits with the country code, "
        "e.g. 8613612349759")}


def test_whatsapp_refuses_another_appkey_with_9003_naming_it_and_the_setting(
        nxcloud: MockProvider) -> None:
    assert post(nxcloud, WHATSAPP, whatsapp()).json()["code"] == 0
    answer = post(nxcloud, WHATSAPP, whatsapp(appkey="someone-else")).json()
    assert answer == {"code": 9003, "data": None, "message": (
        "APP 'someone-else' missing or unavailable (dlrmock accepts the appkey setting)")}


def test_whatsapp_statuses_name_the_recipient_without_plus_and_the_business_phone(
        nxcloud: MockProvider, webhook: Target) -> None:
    answer = post(nxcloud, WHATSAPP, whatsapp(to="+8613612340000")).json()
    wamid = answer["data"]["messages"][0]["id"]
    sent, delivered = receipts(webhook, wamid, 2)
    for receipt, status in ((sent, "sent"), (delivered, "delivered")):
        assert receipt["statuses"][0]["status"] == status
        assert receipt["statuses"][0]["recipient_id"] == "8613612340000"
        assert receipt["business_phone"] == "8618500008399"
        assert receipt["messaging_product"] == "whatsapp"


@pytest.mark.parametrize(("name", "template", "category"), [
    ("wa-mt-request-template-otp.json", "otp_test_02", "authentication"),
    ("wa-mt-request-template-otp.json", "Login_OTP", "authentication"),
    ("wa-mt-request-template-parameterized.json", "text_template", "utility"),
    ("wa-mt-request-text.json", None, "utility"),
    # Only a template send: a stray template object on a text send changes nothing.
    ("wa-mt-request-text.json", "otp_stray", "utility"),
])
def test_a_whatsapp_template_named_otp_opens_an_authentication_conversation_others_utility(
        nxcloud: MockProvider, webhook: Target, name: str, template: str | None,
        category: str) -> None:
    body = whatsapp(name)
    if template is not None:
        body.setdefault("template", {})["name"] = template
    wamid = post(nxcloud, WHATSAPP, body).json()["data"]["messages"][0]["id"]
    conversations = [r["statuses"][0]["conversation"] for r in receipts(webhook, wamid, 2)]
    assert [c["origin"]["type"] for c in conversations] == [category, category]


@pytest.mark.parametrize(("fields", "rule"), [
    ({"text": {"body": "WA-RULE please fail"}}, 1),
    ({"cus_message_id": "wa-rule-7"}, 3),
])
def test_whatsapp_rules_read_the_text_body_and_cus_message_id(
        nxcloud: MockProvider, webhook: Target, fields: dict[str, Any], rule: int) -> None:
    response = post(nxcloud, WHATSAPP, whatsapp(**fields))
    assert unquote(response.headers["X-Dlrmock-Explain"]) == f"failed (send.rules[{rule}])"
    wamid = response.json()["data"]["messages"][0]["id"]
    assert [r["statuses"][0]["status"] for r in receipts(webhook, wamid, 1)] == ["failed"]


def test_whatsapp_rules_read_the_template_name(nxcloud: MockProvider, webhook: Target) -> None:
    body = whatsapp("wa-mt-request-template-parameterized.json")
    body["template"]["name"] = "wa_rule_template"
    response = post(nxcloud, WHATSAPP, body)
    assert unquote(response.headers["X-Dlrmock-Explain"]) == "failed (send.rules[2])"



def test_a_whatsapp_text_send_has_no_template_and_a_template_send_no_content(
        nxcloud: MockProvider) -> None:
    unnamed = whatsapp("wa-mt-request-template-parameterized.json", to="8613612348888")
    del unnamed["template"]["name"]
    empty_text = whatsapp(to="8613612348888", text={"preview_url": False})
    explained = [unquote(post(nxcloud, WHATSAPP, body).headers["X-Dlrmock-Explain"])
                 for body in (whatsapp(to="8613612348888"), unnamed, empty_text)]
    assert explained == ["failed (send.rules[9])"] + ["delivered (default_outcome)"] * 2
