"""Which outcome a send plays, the way an app meets it over a real 127.0.0.1 socket: the
``X-Dlrmock-Scenario`` header, then ``send.rules``, then the number's magic suffix, then
``default_outcome`` — and what each outcome plays for each kind of message."""

from __future__ import annotations

import pytest
import requests
from esms_invalid_request import invalid_request
from live import send_nxcloud
from targets import refused_url

from mock_server import MockProvider

KEYS = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key"}


def test_a_template_registration_a_rule_says_no_receipt_for_calls_back_nothing() -> None:
    rules = [{"match": {"content": "SILENT"}, "outcome": "no_receipt"}]
    with MockProvider(time_scale=0, send={"rules": rules}) as provider:
        for content in ("SILENT {P1,6}", "Ma {P1,6}"):
            answer = requests.post(
                f"{provider.url}/MainService.svc/json/SubServicePreviewJson/", timeout=5,
                json={**KEYS, "Brandname": "B", "Content": content, "IsUnicode": 0,
                      "ServiceType": 2, "SmsType": 2, "CustomerName": "A",
                      "CustomerEmail": "a@example.com", "CustomerPhone": "0912345678",
                      "CallbackUrl": refused_url()}).json()
            assert answer["CodeResult"] == "100", answer
        silent, registered = provider.sent[-2:]
    assert silent.run_ids == [] and "no_receipt" in (silent.explain or "")
    assert len(registered.run_ids) == 1


def _send_nxcloud_sms(provider: MockProvider, phone: str) -> None:
    send_nxcloud(provider.url, "/v1/sms/mt", {"appKey": "a", "phone": phone, "content": "hi"},
                 biz_type="3", action="mtsend")


OUTCOME_LIST = "(delivered, failed, no_receipt, duplicate, out_of_order, lost_ack, hold)"


@pytest.mark.parametrize(("header", "explained"), [
    ("esms.sms.cskh.faild", "X-Dlrmock-Scenario: 'esms.sms.cskh.faild' is not a built-in esms "
     "scenario; did you mean 'esms.sms.cskh.failed'? name one that `dlrmock scenarios` lists, "
     f"or an outcome {OUTCOME_LIST}"),
    ("esms.zzzz", "X-Dlrmock-Scenario: 'esms.zzzz' is not a built-in esms scenario; name one "
     f"that `dlrmock scenarios` lists, or an outcome {OUTCOME_LIST}"),
    ("nxcloud.zalo.failed", "X-Dlrmock-Scenario: 'nxcloud.zalo.failed' is a scenario of "
     "nxcloud; this is the esms API (name a 'esms.?' scenario or an outcome: "
     f"{OUTCOME_LIST[1:-1]})"),
    ("nope", f"X-Dlrmock-Scenario: 'nope' is neither an outcome {OUTCOME_LIST} nor a esms "
     "scenario name ('esms.?'; `dlrmock scenarios` lists them)"),
    ("esms." + "x" * 150, f"X-Dlrmock-Scenario: {'esms.' + 'x' * 95!r} is not a built-in esms "
     f"scenario; name one that `dlrmock scenarios` lists, or an outcome {OUTCOME_LIST}"),
])
def test_a_bad_scenario_header_is_an_invalid_request_explaining_the_value_and_the_fix(
        header: str, explained: str) -> None:
    with MockProvider(time_scale=0) as provider:
        response = requests.post(
            f"{provider.url}/MainService.svc/json/SendMultipleMessage_V4_post_json/",
            headers={"X-Dlrmock-Scenario": header}, timeout=5,
            json={**KEYS, "Phone": "0912345678", "Content": "x", "SmsType": "2",
                  "Brandname": "B"})
        assert invalid_request(response) == explained
        assert provider.sent[-1].run_ids == []


def test_each_send_says_who_decided_its_outcome_and_waits_that_ones_receipt_delay() -> None:
    rules = [{"match": {"phone": "7777$"}, "scenario": "nxcloud.zalo.failed"},  # not eSMS's
             {"match": {"phone": "7777$"}, "outcome": "failed", "receipt_delay": [7, 7]}]
    sends = [  # (phone, header) → explanation, receipt delay
        (("0912345678", "duplicate"), ("duplicate (the X-Dlrmock-Scenario header)", 5)),
        (("0912345678", "esms.sms.cskh.failed"),
         ("esms.sms.cskh.failed (the X-Dlrmock-Scenario header)", 5)),
        (("0912347777", None), ("failed (send.rules[1])", 7)),
        (("0912341111", None), ("failed (number suffix 1111)", 5)),
        (("0912345678", None), ("delivered (default_outcome)", 5)),
    ]
    with MockProvider(time_scale=0, send={"rules": rules, "receipt_delay": 5}) as provider:
        for (phone, header), (explained, delay) in sends:
            answer = requests.post(
                f"{provider.url}/MainService.svc/json/SendMultipleMessage_V4_post_json/",
                headers={"X-Dlrmock-Scenario": header} if header else {}, timeout=5,
                json={**KEYS, "Phone": phone, "Content": "x", "SmsType": "2",
                      "Brandname": "B", "CallbackUrl": refused_url()})
            assert answer.headers["X-Dlrmock-Explain"] == f"{phone}: {explained}"
            [run_id] = provider.sent[-1].run_ids
            assert provider.run(run_id).start_after == delay


def test_a_rule_naming_a_zalo_scenario_decides_zalo_sends_and_is_skipped_for_sms() -> None:
    rules = [{"match": {"phone": "7777$"}, "scenario": "nxcloud.zalo.failed"}]
    send = {"rules": rules, "nxcloud_default_webhook": refused_url()}
    with MockProvider(time_scale=0, send=send) as provider:
        _send_nxcloud_sms(provider, "84912347777")
        sms = provider.sent[-1].explain
        send_nxcloud(provider.url, "/v1/zalo/mt", {
            "appkey": "a", "phone": "84912347777", "functionType": "template",
            "messageData": {"templateId": "1", "templateData": {}}})
        zalo = provider.sent[-1].explain
    assert (sms, zalo) == ("delivered (default_outcome)", "nxcloud.zalo.failed (send.rules[0])")


def _send_esms(provider: MockProvider, phone: str) -> requests.Response:
    return requests.post(
        f"{provider.url}/MainService.svc/json/SendMultipleMessage_V4_post_json/", timeout=5,
        json={**KEYS, "Phone": phone, "Content": "x", "SmsType": "2", "Brandname": "B",
              "CallbackUrl": refused_url()})


def test_the_longest_matching_magic_suffix_wins_not_the_greatest() -> None:
    # "9" sorts after "0009", so only the longest-suffix rule picks 0009.
    magic = {"9": "failed", "0009": "no_receipt", "19": "duplicate"}
    with MockProvider(time_scale=0, send={"magic_numbers": magic}) as provider:
        explained = [_send_esms(provider, phone).headers["X-Dlrmock-Explain"]
                     for phone in ("0912340009", "0912340019", "0912340029")]
    assert explained == ["0912340009: no_receipt (number suffix 0009)",
                         "0912340019: duplicate (number suffix 19)",
                         "0912340029: failed (number suffix 9)"]


def test_a_rule_may_match_the_provider_of_the_send() -> None:
    rules = [{"match": {"provider": "^esms$"}, "outcome": "failed"}]
    send = {"rules": rules, "nxcloud_default_webhook": refused_url()}
    with MockProvider(time_scale=0, send=send) as provider:
        esms = _send_esms(provider, "0912345678").headers["X-Dlrmock-Explain"]
        _send_nxcloud_sms(provider, "84912345678")
        nxcloud = provider.sent[-1].explain
    assert esms == "0912345678: failed (send.rules[0])"
    assert nxcloud == "delivered (default_outcome)"


def test_a_receipt_delay_range_is_drawn_for_each_message_within_it() -> None:
    with MockProvider(time_scale=0, send={"receipt_delay": [1, 3]}) as provider:
        for _ in range(12):
            assert _send_esms(provider, "0912345678").json()["CodeResult"] == "100"
        delays = [provider.run(sent.run_ids[0]).start_after for sent in provider.sent]
    assert all(1 <= delay <= 3 for delay in delays), delays
    assert len(set(delays)) == len(delays), delays


def test_a_rule_without_match_decides_every_send() -> None:
    with MockProvider(time_scale=0, send={"rules": [{"outcome": "failed"}]}) as provider:
        explained = _send_esms(provider, "0912340000").headers["X-Dlrmock-Explain"]
    assert explained == "0912340000: failed (send.rules[0])"


def test_a_rule_sees_an_empty_template_on_an_nxcloud_sms() -> None:
    # An NXCloud SMS has no template: its `template` is empty text for the rules.
    rules = [{"match": {"template": "."}, "outcome": "failed"},
             {"match": {"template": "^$", "api": "^sms"}, "outcome": "duplicate"}]
    send = {"rules": rules, "nxcloud_default_webhook": refused_url()}
    with MockProvider(time_scale=0, send=send) as provider:
        _send_nxcloud_sms(provider, "84912345678")
        explained = provider.sent[-1].explain
    assert explained == "duplicate (send.rules[1])"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_content_rule_matches_the_text_of_a_plain_sms_sent_as_the_official_sample_sends_it(
        method: str) -> None:
    # eSMS's Python sample posts a form (or a query string to the _get API) with upper-case
    # names: APIKEY, SECRETKEY, CONTENT, SMSTYPE, BRANDNAME, PHONE; no Params, no TempData.
    rules = [{"match": {"content": "^Ma OTP 4821 FAILME$"}, "outcome": "failed"}]
    url = "/MainService.svc/json/SendMultipleMessage_V4_" + ("post/" if method == "POST" else
                                                            "get")
    with MockProvider(time_scale=0, send={"rules": rules}) as provider:
        explained = []
        for content in ("Ma OTP 4821 FAILME", "Ma OTP 4821"):
            fields = {"APIKEY": KEYS["ApiKey"], "SECRETKEY": KEYS["SecretKey"],
                      "CONTENT": content, "SMSTYPE": "2", "BRANDNAME": "B",
                      "PHONE": "0912345678"}
            answer = requests.request(method, provider.url + url, timeout=5,
                                      **{"data" if method == "POST" else "params": fields})
            assert answer.json()["CodeResult"] == "100", answer.text
            explained.append(answer.headers["X-Dlrmock-Explain"])
    assert explained == ["0912345678: failed (send.rules[0])",
                         "0912345678: delivered (default_outcome)"]
