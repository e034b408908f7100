"""eSMS's ``MultiChannelMessage/``: ``Channels`` in either documented form, each ``Data`` entry
checked and named in the explanation, each channel's own callback URL, sandbox flag and
``RequestId``, and the chain (the next channel only once the one before has failed) decided
by the scenario header, ``send.rules`` and the magic numbers.

Over real sockets, as an app calls it: a :class:`MockProvider` at time scale 0 with a default
webhook, a sink for the callbacks, ``requests`` posting the docs' example
(``req-MultiChannelMessage.json``) with our keys, number and callback paths.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from esms_invalid_request import invalid_request
from esms_sink import EsmsSink
from test_sendapi_esms_apis import (
    DEADLINE,
    EXPLAIN,
    api,
    multichannel,
    status,
    valid,
)

from mock_server import MockProvider

DELIVERED, FAILED, ZALO_FAILS = "0901880000", "0901881111", "0901887777"
"""Magic numbers: both channels deliver; both fail; Zalo fails and the SMS delivers."""
PRICES = {"2": 850, "25": 330}


@pytest.fixture(scope="module")
def esms(sink: EsmsSink) -> Iterator[MockProvider]:
    send = {"esms_default_webhook": f"{sink.url}/default", "esms_unit_prices": PRICES,
            "rules": [{"match": {"request_id": "^fail-"}, "outcome": "failed"}]}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()


def post(provider: MockProvider, document: dict[str, Any],
         headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(api(provider, "MultiChannelMessage/"), json=document, headers=headers,
                         timeout=DEADLINE)


def accepted(response: requests.Response) -> str:
    answer = valid("esms.send.response", response.json())
    assert answer["CodeResult"] == "100", (answer, response.headers.get(EXPLAIN))
    return str(answer["SMSID"])


def refused(response: requests.Response, code: str, message: str) -> str:
    """Assert eSMS's send error document; dlrmock's explanation."""
    assert response.json() == {"CodeResult": code, "CountRegenerate": 0, "ErrorMessage": message}
    return str(response.headers[EXPLAIN])


def renewed(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with RequestIds of its own (eSMS refuses one used within 24 h)."""
    for entry in document["Data"]:
        entry["RequestId"] = f"{entry['RequestId'][:30]}-{next(_SERIAL)}"
    return document


_SERIAL = itertools.count()


def channels_played(sink: EsmsSink, smsid: str, count: int) -> list[tuple[str, str, str]]:
    """(path, TypeId, SendSuccess) of each callback about ``smsid``, in order."""
    return [(path, c["TypeId"], c["SendSuccess"]) for path, c in sink.wait(smsid, count)]


# ------------------------------------------------------------------------------- Channels
def test_channels_as_a_comma_separated_string_chain_like_the_array(esms: MockProvider,
                                                                  sink: EsmsSink) -> None:
    document = {**multichannel(sink, ZALO_FAILS), "Channels": "zalo,sms"}
    smsid = accepted(post(esms, document))
    assert channels_played(sink, smsid, 2) == [("/zalo", "25", "0"), ("/sms", "2", "1")]


@pytest.mark.parametrize("channels", [["zalo", "zalo"], "zalo,viber", "zalo,SMS,zalo"])
def test_channels_naming_one_twice_or_an_unknown_one_are_invalid_stating_the_documented_value(
        esms: MockProvider, sink: EsmsSink, channels: Any) -> None:
    document = {**multichannel(sink, DELIVERED), "Channels": channels}
    read = channels.lower().split(",") if isinstance(channels, str) else channels
    message = (f"Channels {read!r}: list each of zalo, sms at most once, in the order to try "
               "them (the documented value is ['zalo', 'sms'])")
    assert invalid_request(post(esms, document)) == message


def test_the_sms_channel_alone_sends_the_sms(esms: MockProvider, sink: EsmsSink) -> None:
    document = multichannel(sink, DELIVERED)
    document.update(Channels=["sms"], Data=document["Data"][1:])
    smsid = accepted(post(esms, document))
    assert channels_played(sink, smsid, 1) == [("/sms", "2", "1")]


# --------------------------------------------------------------------- each entry, checked
def test_the_php_samples_aoid_spelling_is_791_naming_the_documented_oaid(
        esms: MockProvider, sink: EsmsSink) -> None:
    # eSMS's PHP sample (multiple_channel/) builds this body by hand, with "AOID" where the docs
    # name OAID (required), and posts it with Content-Type application/json. The docs win: the
    # OA is missing, as eSMS's error table's 791 says, and nothing is sent.
    body = """
        {
            "ApiKey": "dlrmock-api-key",
            "SecretKey": "dlrmock-secret-key",
            "Phone": "0902435340",
            "Channels": ["zalo", "sms"],
            "Data": [
                {"AOID": "4361812075662036180", "TempID": "200300",
                 "Params": ["9786", "Nguyen Quy"], "CallbackUrl": "SINK/zalo"},
                {"Content": "Ma xac nhan 892374", "Phone": "0902435340", "IsUnicode": 0,
                 "SmsType": 2, "Brandname": "eSMS.vn", "CallbackUrl": "SINK/sms"}
            ]
        }
    """.replace("SINK", sink.url)
    response = requests.post(api(esms, "MultiChannelMessage/"), data=body.encode(),
                             headers={"Content-Type": "application/json"}, timeout=DEADLINE)
    explain = refused(response, "791", "Thiếu OA ID hoặc Template ID.")
    assert explain == ("Data[0] (zalo): OAID is missing; 'AOID' is not an eSMS field (eSMS's PHP "
                       "sample misspells OAID): send the OA's id as OAID")
    [captured] = esms.sent
    assert captured.error == "791" and captured.explain == explain
    assert captured.message_ids == [] and esms.runs == []


def test_an_aoid_beside_the_oaid_is_ignored_like_any_unknown_field(esms: MockProvider,
                                                                   sink: EsmsSink) -> None:
    document = multichannel(sink, DELIVERED)
    document["Data"][0]["AOID"] = "3639635426588416370"
    [(_, zalo)] = sink.wait(accepted(post(esms, document)), 1)
    assert zalo["oaid"] == "4097311281936189049"


def test_a_channel_request_id_of_50_characters_is_accepted_and_51_is_invalid_naming_the_entry(
        esms: MockProvider, sink: EsmsSink) -> None:
    document = multichannel(sink, DELIVERED)
    document["Data"][1]["RequestId"] = "r" * 50
    accepted(post(esms, document))
    document["Data"][1]["RequestId"] = "s" * 51
    message = "Data[1] (sms): RequestId is 51 characters long; eSMS allows at most 50"
    assert invalid_request(post(esms, document)) == message


def test_the_zalo_channel_takes_tempdata_for_params_and_needs_one_of_them(
        esms: MockProvider, sink: EsmsSink) -> None:
    document = multichannel(sink, DELIVERED)
    del document["Data"][0]["Params"]
    message = "Data[0] (zalo): Params (the template's values, in order) is required"
    assert invalid_request(post(esms, document)) == message
    document["Data"][0]["TempData"] = {"otp": "686868"}
    [(_, zalo)] = sink.wait(accepted(post(esms, document)), 1)
    assert zalo["TypeId"] == "25"


def test_the_zalo_channel_is_a_normal_zns_even_when_its_entry_says_is_journey(
        esms: MockProvider, sink: EsmsSink) -> None:
    document = multichannel(sink, DELIVERED)
    document["Data"][0]["IsJourney"] = "1"  # a journey would need OrderId (99) and TypeId 27
    [(_, zalo)] = sink.wait(accepted(post(esms, document)), 1)
    assert zalo["TypeId"] == "25"


def test_the_sms_channel_sends_only_sms_type_2_and_needs_content(esms: MockProvider,
                                                                sink: EsmsSink) -> None:
    document = multichannel(sink, DELIVERED)
    document["Data"][1]["SmsType"] = "8"
    assert refused(post(esms, document), "118", "Loại tin nhắn không hỗ trợ.") == (
        "Data[1] (sms): SmsType '8'; the SMS channel sends only 2 (customer care)")
    del document["Data"][1]["SmsType"]
    assert refused(post(esms, document), "300", "Thiếu loại tin nhắn.") == (
        "Data[1] (sms): SmsType is missing; the SMS channel sends 2 (customer care)")
    document["Data"][1].update(SmsType="2", Content="")
    message = "Data[1] (sms): Content is required"
    assert invalid_request(post(esms, document)) == message


# ------------------------------------------------------- callbacks, sandbox, RequestId, chain
def test_a_channel_without_a_callback_url_calls_back_to_the_default_webhook(
        esms: MockProvider, sink: EsmsSink) -> None:
    document = multichannel(sink, ZALO_FAILS)
    for entry in document["Data"]:
        del entry["CallbackUrl"]
    smsid = accepted(post(esms, document))
    assert channels_played(sink, smsid, 2) == [("/default", "25", "0"), ("/default", "2", "1")]


def test_a_channel_without_any_callback_ends_at_once_as_its_outcome_says(sink: EsmsSink) -> None:
    with MockProvider(time_scale=0) as provider:
        document = multichannel(sink, ZALO_FAILS)
        for entry in document["Data"]:
            del entry["CallbackUrl"]
        smsid = accepted(post(provider, document))
        final = status(provider, smsid)
        assert (final["SendStatus"], final["SendSuccess"], final["SendFailed"]) == (5, 1, 0)
        assert provider.runs == []


@pytest.mark.parametrize(("phone", "entry", "paid", "free"), [
    (DELIVERED, 0, "330.0000", "0.0000"),   # Zalo delivers: its price, or 0 in sandbox
    (ZALO_FAILS, 1, "850.0000", "0.0000"),  # Zalo fails (free), the SMS delivers
])
def test_each_channels_sandbox_flag_decides_its_own_price(
        esms: MockProvider, sink: EsmsSink, phone: str, entry: int, paid: str, free: str) -> None:
    prices = []
    for sandbox in ("0", "1"):
        document = renewed(multichannel(sink, phone))
        document["Data"][entry]["Sandbox"] = sandbox
        calls = sink.wait(accepted(post(esms, document)), entry + 1)
        prices.append(calls[entry][1]["TotalPrice"])
    assert prices == [paid, free]


def test_a_request_id_shared_by_both_channels_is_claimed_once_and_then_is_124(
        esms: MockProvider, sink: EsmsSink) -> None:
    document = multichannel(sink, ZALO_FAILS)
    for entry in document["Data"]:
        entry["RequestId"] = "otp-shared"
    smsid = accepted(post(esms, document))
    assert [c["RequestId"] for _, c in sink.wait(smsid, 2)] == ["otp-shared", "otp-shared"]
    again = post(esms, document)
    assert again.json()["CodeResult"] == "124" and "'otp-shared'" in again.headers[EXPLAIN]


def test_a_send_refused_after_its_first_channel_claimed_its_request_id_frees_it(
        esms: MockProvider, sink: EsmsSink) -> None:
    used = renewed(multichannel(sink, DELIVERED))
    accepted(post(esms, used))
    document = renewed(multichannel(sink, DELIVERED))
    document["Data"][1]["RequestId"] = used["Data"][1]["RequestId"]  # 124 after Data[0]'s claim
    assert post(esms, document).json()["CodeResult"] == "124"
    document["Data"][1]["RequestId"] = "otp-fresh"
    accepted(post(esms, document))  # Data[0]'s RequestId was given back
    bad = renewed(multichannel(sink, DELIVERED))
    invalid_request(post(esms, bad, headers={"X-Dlrmock-Scenario": "no-such-outcome"}))
    accepted(post(esms, bad))  # a bad scenario header claims nothing


def test_the_scenario_header_fails_the_zalo_channel_and_the_sms_follows_the_number(
        esms: MockProvider, sink: EsmsSink) -> None:
    smsid = accepted(post(esms, multichannel(sink, DELIVERED),
                          headers={"X-Dlrmock-Scenario": "failed"}))
    assert channels_played(sink, smsid, 2) == [("/zalo", "25", "0"), ("/sms", "2", "1")]


def test_send_rules_match_each_channels_own_request_id(esms: MockProvider, sink: EsmsSink) -> None:
    document = renewed(multichannel(sink, ZALO_FAILS))
    document["Data"][1]["RequestId"] = "fail-sms-1"  # the SMS channel's own RequestId
    smsid = accepted(post(esms, document))
    assert channels_played(sink, smsid, 2) == [("/zalo", "25", "0"), ("/sms", "2", "0")]
    document = renewed(multichannel(sink, DELIVERED))
    document["Data"][0]["RequestId"] = "fail-zalo-1"  # fails Zalo only: the SMS delivers
    smsid = accepted(post(esms, document))
    assert channels_played(sink, smsid, 2) == [("/zalo", "25", "0"), ("/sms", "2", "1")]
    assert status(esms, smsid)["SendStatus"] == 5
