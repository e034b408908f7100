"""eSMS's registration APIs (``SubServicePreviewJson/``, ``RegisZNSTemplateJson/``,
``RegisOAPackageJson/``): the account's OAs and brandnames checked, the same request again
while it is being processed answered 199 whatever the order or types of its fields, each error
in the look-up shape and captured with its code.

Over real sockets, as an app calls them: a :class:`MockProvider` at time scale 0 whose account
lists its OA (``zalo_oas``) and brandname, ``requests`` posting JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from esms_sink import EsmsSink
from test_sendapi_esms_apis import DEADLINE, EXPLAIN, KEYS, api, valid

from mock_server import MockProvider

OA, OTHER_OA = "4097311281936189049", "3639635426588416370"
SMS_TEMPLATE = {"Content": "Ma xac minh cua ban la {P1,6}", "Brandname": "DLRMOCK",
                "ServiceType": 2, "SmsType": 2, "IsUnicode": 0}
ZNS_TEMPLATE = {"Content": "Ma OTP {{otp}}", "OAID": OA, "SmsType": 24}
OA_PACKAGE = {"OAID": OA, "Package": 2, "Dateactive": "2026-12-01", "Duaration": 12}


@pytest.fixture(scope="module")
def esms() -> Iterator[MockProvider]:
    send = {"zalo_oas": {OA: []}, "brandnames": ["ACME", "DLRMOCK"]}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider, sink: EsmsSink) -> None:
    esms.reset()
    with sink.changed:  # ServicePreviewIds count from 52353 again after a reset
        sink.calls.clear()


def register(provider: MockProvider, name: str, fields: dict[str, Any]) -> requests.Response:
    return requests.post(api(provider, f"{name}/"), json={**KEYS, **fields}, timeout=DEADLINE)


def code_of(provider: MockProvider, response: requests.Response) -> str:
    """The answer's CodeResult, checked against the registration schema and the capture."""
    answer = valid("esms.register.response", response.json())
    assert provider.sent[-1].error == (None if answer["CodeResult"] == "100"
                                       else answer["CodeResult"])
    return str(answer["CodeResult"])


@pytest.mark.parametrize(("name", "fields"), [("SubServicePreviewJson", SMS_TEMPLATE),
                                              ("RegisZNSTemplateJson", ZNS_TEMPLATE),
                                              ("RegisOAPackageJson", OA_PACKAGE)])
def test_a_registration_sent_again_in_another_order_or_with_numbers_as_text_is_199(
        esms: MockProvider, name: str, fields: dict[str, Any]) -> None:
    assert code_of(esms, register(esms, name, fields)) == "100"
    shuffled = {key: str(value) for key, value in reversed(fields.items())}
    again = register(esms, name, shuffled)
    assert again.json() == {"CodeResult": "199",
                            "ErrorMessage": "Yêu cầu này đã tồn tại, đang xử lý"}
    assert esms.sent[-1].error == "199"
    assert again.headers[EXPLAIN] == (f"the same {name} request is still being processed "
                                      "(dlrmock answers 199 to a repeat within 60 s)")


@pytest.mark.parametrize(("name", "fields"), [("RegisZNSTemplateJson", ZNS_TEMPLATE),
                                              ("RegisOAPackageJson", OA_PACKAGE)])
def test_a_zns_registration_for_an_oa_not_on_the_account_is_204(
        esms: MockProvider, name: str, fields: dict[str, Any]) -> None:
    response = register(esms, name, {**fields, "oaid": OTHER_OA})
    assert response.json()["CodeResult"] == "204"
    assert response.json()["ErrorMessage"] == "OAID không tồn tại trên hệ thống."
    assert esms.sent[-1].error == "204" and repr(OTHER_OA) in response.headers[EXPLAIN]


def test_a_zns_template_without_an_oa_is_registered(esms: MockProvider) -> None:
    fields = {key: value for key, value in ZNS_TEMPLATE.items() if key != "OAID"}
    assert code_of(esms, register(esms, "RegisZNSTemplateJson", fields)) == "100"


def test_registration_errors_are_captured_with_their_code(esms: MockProvider) -> None:
    response = register(esms, "SubServicePreviewJson", {**SMS_TEMPLATE, "ServiceType": 1})
    assert code_of(esms, response) == "301"
    assert response.headers[EXPLAIN] == ("ServiceType '1': eSMS registers templates of "
                                         "ServiceType 2 (customer care or fixed number) only")
    response = register(esms, "SubServicePreviewJson", {**SMS_TEMPLATE, "Brandname": "OTHER"})
    assert response.json() == {"CodeResult": "104", "ErrorMessage": "Brand name code is not exist"}
    assert esms.sent[-1].error == "104"
    assert response.headers[EXPLAIN] == ("brandname 'OTHER' is not on the account (the brandnames "
                                         "setting: ACME, DLRMOCK)")


def test_an_oa_package_with_a_callback_url_calls_nothing_back(esms: MockProvider,
                                                              sink: EsmsSink) -> None:
    response = register(esms, "RegisOAPackageJson", {**OA_PACKAGE, "CallbackUrl": sink.url})
    assert code_of(esms, response) == "100"
    assert esms.sent[-1].run_ids == [] and esms.runs == []


def test_a_template_registration_with_a_callback_url_is_captured_with_its_runs(
        esms: MockProvider, sink: EsmsSink) -> None:
    response = register(esms, "RegisZNSTemplateJson",
                        {**ZNS_TEMPLATE, "CallbackUrl": f"{sink.url}/tpl"})
    preview = str(response.json()["ServicePreviewId"])
    [run] = esms.sent[-1].wait(DEADLINE)
    assert [(p["ServicePreviewId"], p["Status"]) for p in run.payloads] == [
        (preview, "1"), (preview, "2")]
    assert len(esms.sent[-1].message_ids) == 1
    assert response.headers[EXPLAIN] == "delivered (default_outcome)"  # what decided, no phone


def test_the_scenario_header_decides_a_template_registration(esms: MockProvider,
                                                             sink: EsmsSink) -> None:
    response = requests.post(api(esms, "SubServicePreviewJson/"), timeout=DEADLINE,
                             headers={"X-Dlrmock-Scenario": "failed"},
                             json={**KEYS, **SMS_TEMPLATE, "CallbackUrl": f"{sink.url}/tpl"})
    calls = sink.wait(str(response.json()["ServicePreviewId"]), 2)
    assert [c[1]["Status"] for c in calls] == ["1", "0"]
