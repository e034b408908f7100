"""What one account remembers between requests: eSMS RequestIds, OTP codes, its balance and
registrations; the NXCloud Zalo daily quota.

Called over a real 127.0.0.1 socket the way an app calls the provider; dlrmock's explanation
(the OTP code it made) is read from ``X-Dlrmock-Explain``, never from the provider's fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from live import send_nxcloud
from targets import Target

from mock_server import MockProvider

KEYS = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key"}
DEADLINE = 10.0


@pytest.fixture(scope="module")
def esms() -> Iterator[MockProvider]:
    with MockProvider(time_scale=0, send={"balance": 1000,
                                          "esms_unit_prices": {"2": 800}}) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()  # forgets runs, sends and the send APIs' memory


def call(provider: MockProvider, name: str, method: str = "POST",
         **values: Any) -> requests.Response:
    url = f"{provider.url}/MainService.svc/json/{name}"
    if method == "GET":
        return requests.get(url, params={**KEYS, **values}, timeout=DEADLINE)
    return requests.post(url, json={**KEYS, **values}, timeout=DEADLINE)


def sms(provider: MockProvider, **values: Any) -> dict[str, Any]:
    document = {"Phone": "0961234567", "Content": "Ma OTP 4821", "SmsType": "2",
                "Brandname": "B", **values}
    answer: dict[str, Any] = call(provider, "SendMultipleMessage_V4_post_json/",
                                  **document).json()
    return answer


def test_a_send_refused_for_its_balance_leaves_its_request_id_free(esms: MockProvider) -> None:
    assert sms(esms, RequestId="order-9")["CodeResult"] == "100"  # 800 of the 1000
    assert sms(esms, RequestId="order-10")["CodeResult"] == "103"
    # Refused, so not a use of order-10: the app may send it again (free in the sandbox) …
    assert sms(esms, RequestId="order-10", Sandbox=1)["CodeResult"] == "100"
    # … and only then is it taken.
    assert sms(esms, RequestId="order-10", Sandbox=1)["CodeResult"] == "124"
    balance = call(esms, "GetBalance_json/").json()
    assert balance["Balance"] == 200


def test_an_otp_code_with_letters_checks_as_it_was_made_and_only_once(
        esms: MockProvider) -> None:
    made = call(esms, "SendMessageAutoGenCode_V4_get", "GET", Phone="0961234567",
                TimeAlive=2, Brandname="B", Type=2, IsNumber=0, NumCharOfCode=10,
                message="{OTP} la ma xac minh cua ban")
    assert made.json()["CodeResult"] == "100"
    code = made.headers["X-Dlrmock-Explain"].split()[1]
    assert len(code) == 10 and code == code.upper()
    check = {"Phone": "0961234567", "Code": code}
    assert call(esms, "CheckCodeGen_V4_get", "GET", **check).json()["CodeResult"] == "100"
    assert call(esms, "CheckCodeGen_V4_get", "GET", **check).json()["CodeResult"] == "117"


def test_service_preview_ids_count_up_from_52353_and_start_over_after_a_reset(
        esms: MockProvider) -> None:
    def register(oa: str) -> Any:
        return call(esms, "RegisOAPackageJson", OAID=oa, Package=2,
                    Dateactive="2026-12-01", Duaration=12).json()["ServicePreviewId"]

    assert [register("1"), register("2"), register("3")] == [52353, 52354, 52355]
    esms.reset()
    assert register("1") == 52353


def test_request_id_limit_request_ids_are_remembered_the_oldest_forgotten_first() -> None:
    with MockProvider(time_scale=0, send={"request_id_limit": 2}) as provider:
        assert [sms(provider, RequestId=r)["CodeResult"] for r in ("a", "b", "a")] == \
            ["100", "100", "124"]
        assert [sms(provider, RequestId=r)["CodeResult"] for r in ("c", "a", "c")] == \
            ["100", "100", "124"]


def test_the_remaining_zalo_quota_stops_at_0_and_is_full_again_after_a_reset(
        target: Target) -> None:
    def remaining_after_a_send(provider: MockProvider) -> str:
        answer = send_nxcloud(provider.url, "/v1/zalo/mt", {
            "appkey": "a", "phone": "84912345678", "functionType": "template",
            "messageData": {"templateId": "1", "templateData": {}}, "drWebhook": target.url})
        request_id = answer["data"]["requestId"]
        provider.sent[-1].wait(10)  # every receipt of the send played
        [success] = [b for b in (json.loads(r.body) for r in target.requests)
                     if b["requestId"] == request_id and b["status"] == "success"]
        return str(success["zaloRes"]["data"]["quota"]["remainingQuota"])

    with MockProvider(time_scale=0, send={"nxcloud_daily_quota": 2}) as provider:
        assert [remaining_after_a_send(provider) for _ in range(3)] == ["1", "0", "0"]
        provider.reset()  # the quota is full again
        assert remaining_after_a_send(provider) == "1"


def test_a_send_that_spends_the_balance_to_exactly_0_is_accepted() -> None:
    with MockProvider(time_scale=0, send={"balance": 1600,
                                          "esms_unit_prices": {"2": 800}}) as provider:
        assert [sms(provider)["CodeResult"] for _ in range(3)] == ["100", "100", "103"]
