"""eSMS's bulk ZNS (``Send_zns_bulk_v4_post_json/``): the request-wide checks (at most 500
items, the shared ``OAID`` and ``TempID``, the OA's templates) in eSMS's words, and each item as
its own send — its own SMSID, ``RequestId``, callback and inline error, the others going on.

Over real sockets, as an app calls it: a :class:`MockProvider` at time scale 0 whose account
lists its OA and templates (``zalo_oas``) and prices, a sink for the callbacks, ``requests``
posting the docs' example (``req-Send_zns_bulk_v4_post_json.json``) with our keys.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from esms_invalid_request import invalid_request
from esms_sink import EsmsSink
from test_sendapi_esms_apis import DEADLINE, EXPLAIN, KEYS, api, valid, vector

from mock_server import MockProvider

OA, TEMPLATE = "4097311281936189049", "267247"
DOCUMENTED = {**vector("req-Send_zns_bulk_v4_post_json.json"), **KEYS}
"""The docs' request: three items, RequestIds ``96accf59-0c41-4bc7-a5c1``…``a5c3``."""


@pytest.fixture(scope="module")
def esms() -> Iterator[MockProvider]:
    send = {"zalo_oas": {OA: [TEMPLATE]}, "esms_unit_prices": {"25": 330}, "balance": 700}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()


def bulk(sink: EsmsSink | None = None, **fields: Any) -> dict[str, Any]:
    """The documented request, calling back to the sink (or nowhere), ``fields`` over it."""
    document = copy.deepcopy(DOCUMENTED)
    if sink is None:
        del document["CallbackUrl"]
    else:
        document["CallbackUrl"] = f"{sink.url}/bulk"
    document.update(fields)
    return document


def post(provider: MockProvider, document: dict[str, Any],
         headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(api(provider, "Send_zns_bulk_v4_post_json/"), json=document,
                         headers=headers, timeout=DEADLINE)


def answered(response: requests.Response) -> dict[str, Any]:
    return dict(valid("esms.send.zns_bulk.response", response.json()))


def refused(response: requests.Response, code: str, message: str) -> str:
    assert response.json() == {"CodeResult": code, "CountRegenerate": 0, "ErrorMessage": message}
    return str(response.headers[EXPLAIN])


# ------------------------------------------------------------------ the request as a whole
def test_bulk_takes_500_items_and_refuses_501_with_687(esms: MockProvider) -> None:
    items = [{"Phone": f"0901{n:06d}", "Params": ["x"]} for n in range(501)]
    explain = refused(post(esms, bulk(Data=items)), "687",
                      "Danh sách yêu cầu vượt quá 500 số điện thoại.")
    assert explain == "501 items in Data, at most 500 per request"
    with MockProvider(time_scale=0) as unlimited:
        answer = answered(post(unlimited, bulk(Data=items[:500])))
    assert (answer["TotalSuccess"], answer["TotalFail"]) == (500, 0)


@pytest.mark.parametrize("missing", ["OAID", "TempID"])
def test_bulk_with_an_empty_shared_oaid_or_tempid_is_791(esms: MockProvider,
                                                          missing: str) -> None:
    document = bulk(**{missing: ""})  # left out altogether: the schema's 99 names it
    assert refused(post(esms, document), "791", "Thiếu OA ID hoặc Template ID.") == (
        "missing OAID or TempID (shared by every item)")


def test_bulk_checks_the_shared_oa_and_template_against_the_account(esms: MockProvider) -> None:
    refused(post(esms, bulk(OAID="3639635426588416370")), "204",
            "OAID không tồn tại trên hệ thống.")
    refused(post(esms, bulk(TempID="999999")), "789", "TemplateId is not config")


# --------------------------------------------------------------------------- each item
def test_each_bulk_item_is_its_own_send_with_its_request_id_in_its_callback(
        esms: MockProvider, sink: EsmsSink) -> None:
    document = bulk(sink, Data=[{**item, "Phone": item["Phone"][:-4] + "0000"}
                                for item in DOCUMENTED["Data"][:2]])
    answer = answered(post(esms, document))
    assert (answer["CodeResult"], answer["Message"]) == ("100", "Sucess")  # eSMS's spelling
    assert [item["CodeResult"] for item in answer["detail"]] == ["100", "100"]
    smsids = [item["SMSID"] for item in answer["detail"]]
    assert len(set(smsids)) == 2 and esms.sent[-1].message_ids == smsids
    assert len(esms.sent[-1].wait(DEADLINE)) == 2  # the captured send knows both runs
    for smsid, item in zip(smsids, document["Data"], strict=True):
        [(path, callback)] = sink.wait(smsid, 1)
        assert (path, callback["RequestId"], callback["tempid"]) == (
            "/bulk", item["RequestId"], TEMPLATE)


def test_a_bad_bulk_item_is_reported_inline_and_the_items_after_it_still_go(
        esms: MockProvider) -> None:
    items = copy.deepcopy(DOCUMENTED["Data"])
    items[0]["Phone"] = "097469188"
    answer = answered(post(esms, bulk(Data=items)))
    assert answer["detail"][0] == {"CodeResult": "108", "Phone": "097469188",
                                   "ErrorMessage": "The phone number 097469188 is not valid."}
    assert [item["CodeResult"] for item in answer["detail"][1:]] == ["100", "100"]
    assert (answer["TotalSuccess"], answer["TotalFail"]) == (2, 1)


def test_a_bulk_item_request_id_over_50_characters_makes_the_whole_request_invalid(
        esms: MockProvider) -> None:
    items = copy.deepcopy(DOCUMENTED["Data"])
    items[2]["RequestId"] = "r" * 51
    explain = invalid_request(post(esms, bulk(Data=items)))
    assert "RequestId is 51 characters long; eSMS allows at most 50" in explain
    assert esms.sent[-1].message_ids == []  # no item was sent
    items[2]["RequestId"] = "r" * 50
    detail = answered(post(esms, bulk(Data=items[1:])))["detail"]
    assert [item["CodeResult"] for item in detail] == ["100", "100"]


def test_a_bulk_request_id_used_again_is_124_for_that_item_only(esms: MockProvider) -> None:
    items = copy.deepcopy(DOCUMENTED["Data"])
    items[1]["RequestId"] = items[0]["RequestId"]
    detail = answered(post(esms, bulk(Data=items)))["detail"]
    assert [item["CodeResult"] for item in detail] == ["100", "124", "100"]
    assert detail[1]["ErrorMessage"] == "Request exist 1"


def test_a_bulk_item_the_balance_cannot_pay_keeps_its_request_id_free(
        esms: MockProvider) -> None:
    # The balance (700) pays two items of 330: the third is 103, and again 103 (not 124).
    for expected in (["100", "100", "103"], ["124", "124", "103"]):
        detail = answered(post(esms, bulk()))["detail"]
        assert [item["CodeResult"] for item in detail] == expected
    assert detail[2]["ErrorMessage"] == "Không đủ số dư để gửi tin."


def test_the_scenario_header_decides_every_bulk_item(esms: MockProvider, sink: EsmsSink) -> None:
    document = bulk(sink, Data=DOCUMENTED["Data"][:2])
    answer = answered(post(esms, document, headers={"X-Dlrmock-Scenario": "failed"}))
    for item in answer["detail"]:
        [(_, callback)] = sink.wait(item["SMSID"], 1)
        assert callback["SendFailed"] == "1"
