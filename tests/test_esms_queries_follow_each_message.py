"""eSMS's query and pull APIs tell each message's story as its callbacks told it.

``ZaloCallback/GetCallback`` mirrors the callbacks the app received (PascalCase names, numbers,
the stored ``CallbackUrl``); ``GetSmsReceiverStatus_get``, ``GetSmsSentData_V2`` and
``QueryZnsStatus`` say, per message, whether it was sent and how: delivered, failed, still
waiting (held), never reported (``no_receipt``), or ended without a callback because the send
named no ``CallbackUrl`` and no default webhook is set. ``GetSendStatus`` waits until a callback
is played (its first attempt answered), then says what it said. A :class:`MockProvider` at time
scale 0 serves on 127.0.0.1; the app's webhook is the loopback ``target`` (a "gated" one holds a
callback until the test lets it through, so "before the callback" is seen without sleeping).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from targets import Target
from test_sendapi_esms_apis import api

from mock_server import MockProvider
from mock_server._registry import validator_for

KEYS = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key"}
OAID, TEMPLATE = "4097311281936189049", "205644"
ZNS_PRICE = 330.0
DEADLINE = 10.0
VECTORS = Path(__file__).resolve().parents[1] / "schemas" / "sendapi-examples" / "esms"


@pytest.fixture(scope="module")
def esms() -> Iterator[MockProvider]:
    with MockProvider(time_scale=0, send={"esms_unit_prices": {"25": ZNS_PRICE}}) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()  # forgets runs, sends and the send APIs' memory


def send(provider: MockProvider, name: str, **fields: Any) -> str:
    """The SMSID of an accepted send to API ``name``."""
    answer = requests.post(api(provider, name), json={**KEYS, **fields},
                           timeout=DEADLINE).json()
    assert answer["CodeResult"] == "100", answer
    return str(answer["SMSID"])


def send_zns(provider: MockProvider, phone: str, callback: str | None = None,
             **extra: Any) -> str:
    if callback:
        extra["CallbackUrl"] = callback
    return send(provider, "SendZaloMessage_V6/", Phone=phone, OAID=OAID, TempID=TEMPLATE,
                TempData={"otp": "686868"}, **extra)


def settle(provider: MockProvider) -> None:
    for run in provider.runs:
        run.wait(DEADLINE)


def query(request: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))


def get_callback(provider: MockProvider, refids: list[str]) -> list[dict[str, Any]]:
    response = requests.post(f"{provider.url}/ZaloCallback/GetCallback", timeout=DEADLINE,
                             json={**KEYS, "ListRefid": refids, "OAId": OAID})
    answer = response.json()
    assert (answer["Code"], answer["Message"]) == (100, "Success"), answer
    return list(answer["Data_callback"])


def mirrored(callback: dict[str, str], url: str) -> dict[str, Any]:
    """The GetCallback entry of one callback, as eSMS's example shows it: the webhook's
    fields with PascalCase names, numbers as numbers, empty text as null."""
    def or_none(value: str) -> str | None:
        return value or None

    return {
        "SMSID": callback["SMSID"],
        "SendFailed": int(callback["SendFailed"]),
        "SendSuccess": int(callback["SendSuccess"]),
        "SendStatus": int(callback["SendStatus"]),
        "TotalPrice": float(callback["TotalPrice"]),
        "TotalReceiver": int(callback["TotalReceiver"]),
        "TotalSent": int(callback["TotalSent"]),
        "RequestId": or_none(callback["RequestId"]),
        "TypeId": int(callback["TypeId"]),
        "Telcoid": int(callback["telcoid"]),
        "PhoneNumber": callback["phonenumber"],
        "CallbackUrl": url,
        "Partnerids": or_none(callback["partnerids"]),
        "ErrorInfo": json.loads(callback["error_info"]) if callback["error_info"] else None,
        "OAId": callback["oaid"],
        "ZnsTempId": callback["tempid"],
    }


def send_zalo_then_sms(provider: MockProvider, phone: str, zalo_url: str, sms_url: str) -> str:
    """A MultiChannelMessage: Zalo first, SMS when Zalo fails (…7777), each calling back to
    its own URL."""
    return send(provider, "MultiChannelMessage/", Phone=phone, Channels=["zalo", "sms"], Data=[
        {"TempID": TEMPLATE, "Params": ["686868"], "OAID": OAID, "CallbackUrl": zalo_url,
         "RequestId": "otp-zalo"},
        {"Content": "686868 la ma xac minh cua ban", "SmsType": "2", "Brandname": "B",
         "CallbackUrl": sms_url, "RequestId": "otp-sms"}])


# ------------------------------------------------------------------------------ GetCallback
def test_get_callback_mirrors_each_callback_the_app_received(esms: MockProvider,
                                                             target: Target) -> None:
    url = f"{target.url}?shop=7"
    delivered = send_zns(esms, "0961230000", url, RequestId="order-1")
    failed = send_zns(esms, "0911231111", url)
    target.wait_for(2)
    settle(esms)
    received = {call["SMSID"]: call for call in map(query, target.requests)}
    entries = get_callback(esms, [failed, delivered])
    assert entries == [mirrored(received[failed], url), mirrored(received[delivered], url)]
    assert entries[1]["Telcoid"] == 1 and entries[0]["Telcoid"] == 3  # Viettel, Vinaphone
    assert entries[1]["RequestId"] == "order-1" and entries[0]["RequestId"] is None
    assert entries[1]["SendSuccess"] == 1 and entries[1]["TotalPrice"] == ZNS_PRICE
    assert entries[0]["ErrorInfo"].startswith('{"error":-114,"message":"User is inactive')


def test_get_callback_shows_a_repeated_callback_once(esms: MockProvider,
                                                     target: Target) -> None:
    smsid = send_zns(esms, "0961233333", target.url)  # duplicate: the same callback twice
    target.wait_for(2)
    settle(esms)
    [first, second] = [query(r) for r in target.requests]
    assert first == second
    assert get_callback(esms, [smsid]) == [mirrored(first, target.url)]


def test_get_callback_shows_both_channels_of_a_fallback_in_the_order_played(
        esms: MockProvider, target: Target) -> None:
    smsid = send_zalo_then_sms(esms, "0961237777", f"{target.url}/zalo", f"{target.url}/sms")
    target.wait_for(2)
    settle(esms)
    entries = get_callback(esms, [smsid])
    assert [(e["TypeId"], e["RequestId"], e["SendSuccess"]) for e in entries] == \
        [(25, "otp-zalo", 0), (2, "otp-sms", 1)]


def test_get_callback_reads_only_the_first_200_refids(esms: MockProvider,
                                                      target: Target) -> None:
    smsid = send_zns(esms, "0961230000", target.url)
    target.wait_for(1)
    settle(esms)
    assert get_callback(esms, [f"unknown-{n}" for n in range(199)] + [smsid]) != []
    assert get_callback(esms, [f"unknown-{n}" for n in range(200)] + [smsid]) == []


# --------------------------------------------- receivers, sent data and ZNS status per state
def receivers(provider: MockProvider, smsid: str) -> list[dict[str, Any]]:
    answer = requests.get(api(provider, "GetSmsReceiverStatus_get"), timeout=DEADLINE,
                          params={**KEYS, "RefId": smsid}).json()
    assert answer["CodeResult"] == "100", answer
    return list(answer["ReceiverList"])


def sent_row(provider: MockProvider, smsid: str, since: float) -> dict[str, Any]:
    def local(at: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at + 7 * 3600))

    answer = requests.post(api(provider, "GetSmsSentData_V2"), timeout=DEADLINE, json={
        **KEYS, "SmsType": "25", "From": local(since - 1), "To": local(time.time() + 1),
        "Page": 1, "PageSize": 500}).json()
    [row] = [row for row in answer["SentData"] if row["ReferenceId"] == smsid]
    return dict(row)


def zns_status(provider: MockProvider, smsid: str) -> dict[str, Any]:
    answer = requests.post(api(provider, "QueryZnsStatus/"), timeout=DEADLINE,
                           json={**KEYS, "SmsId": smsid, "SmsType": "25"}).json()
    assert answer["CodeResult"] == "100", answer
    return dict(answer["Data"])


# phone, with a CallbackUrl → (IsSent, SentResult), (SendResult, SendStatus, SellPrice),
# QueryZnsStatus (ErrorInfo, FinalStatus, SendStatus, SendSuccess, SendFailed, TotalSent)
STORIES = {
    "delivered, called back": ("0961230000", True, (True, True), (1, 5, ZNS_PRICE),
                               ("0", "1", 5, 1, 0, 1)),
    "failed, called back": ("0961231111", True, (True, False), (0, 5, 0.0),
                            ("-114", "1", 5, 0, 1, 1)),
    "held, waiting": ("0961236666", True, (False, False), (2, 2, ZNS_PRICE),
                      (None, "0", 2, 0, 0, 0)),
    "no_receipt, never reported": ("0961232222", True, (False, False), (2, 2, ZNS_PRICE),
                                   (None, "0", 2, 0, 0, 0)),
    "delivered, no webhook": ("0961230000", False, (True, True), (1, 5, ZNS_PRICE),
                              ("0", "1", 5, 1, 0, 1)),
    "failed, no webhook": ("0961231111", False, (True, False), (0, 5, 0.0),
                           ("-114", "1", 5, 0, 1, 1)),
}


@pytest.mark.parametrize("story", list(STORIES))
def test_receivers_sent_data_and_zns_status_tell_how_a_message_ended(
        esms: MockProvider, target: Target, story: str) -> None:
    phone, called_back, receiver, row, zns = STORIES[story]
    since = time.time()
    smsid = send_zns(esms, phone, target.url if called_back else None)
    if story.endswith("called back"):
        target.wait_for(1)
    settle(esms)
    assert receivers(esms, smsid) == [{"IsSent": receiver[0], "NetworkName": "Viettel",
                                       "Phone": phone, "Retry": 0,
                                       "SentResult": receiver[1]}]
    found = sent_row(esms, smsid, since)
    assert (found["SendResult"], found["SendStatus"], found["SellPrice"]) == row
    assert (found["Phone"], found["SmsType"]) == (phone, 25)
    data = zns_status(esms, smsid)
    assert (data["ErrorInfo"], data["FinalStatus"], data["SendStatus"], data["SendSuccess"],
            data["SendFailed"], data["TotalSent"]) == zns
    assert (data["SMSID"], data["TotalReceiver"]) == (smsid, 1)
    callbacks = [query(r) for r in target.requests]
    if called_back and callbacks:
        assert data["TotalPrice"] == float(callbacks[-1]["TotalPrice"])
        assert data["ZaloMsgId"] == (callbacks[-1]["partnerids"] or None)
    else:
        assert (data["TotalPrice"], data["ZaloMsgId"]) == (0.0, None)


def test_a_sandbox_message_sells_for_nothing_even_before_its_callback(
        esms: MockProvider) -> None:
    since = time.time()
    smsid = send_zns(esms, "0961236666", None, Sandbox=1)  # held: no callback yet
    assert sent_row(esms, smsid, since)["SellPrice"] == 0.0


def test_the_zns_and_receiver_queries_refuse_a_wrong_key_and_a_missing_smsid_as_documented(
        esms: MockProvider) -> None:
    documented = json.loads((VECTORS / "query-101-authorize.json").read_text("utf-8"))
    wrong = {**KEYS, "SecretKey": "wrong"}
    assert requests.post(api(esms, "QueryZnsStatus/"), json={**wrong, "SmsId": "x"},
                         timeout=DEADLINE).json() == documented
    assert requests.get(api(esms, "GetSmsReceiverStatus_get"), timeout=DEADLINE,
                        params={**wrong, "RefId": "x"}).json() == documented
    missing = requests.post(api(esms, "QueryZnsStatus/"), json=KEYS, timeout=DEADLINE).json()
    assert missing["CodeResult"] == "851"


def test_a_zns_status_query_is_captured_with_the_message_it_names(esms: MockProvider) -> None:
    smsid = send_zns(esms, "0961230000")
    zns_status(esms, smsid)
    receivers(esms, smsid)
    assert [sent.message_ids for sent in esms.sent[-2:]] == [[smsid], [smsid]]


# ---------------------------------------------------------------------------- GetSendStatus
def send_status(provider: MockProvider, smsid: str) -> dict[str, Any]:
    """``GetSendStatus`` as an app calls it, checked against the documented shape."""
    answer = requests.get(api(provider, "GetSendStatus"), params={**KEYS, "RefId": smsid},
                          timeout=DEADLINE).json()
    assert not list(validator_for("esms.send.status.response").iter_errors(answer)), answer
    return dict(answer)


def send_sms(provider: MockProvider, phone: str, callback: str, **fields: Any) -> str:
    return send(provider, "SendMultipleMessage_V4_post_json", Phone=phone, CallbackUrl=callback,
                Content="Ma OTP 4821", Brandname="ACME", SmsType="2", **fields)


def test_status_is_waiting_until_the_callback_is_played_then_matches_it(
        esms: MockProvider, make_target: Callable[..., Target]) -> None:
    webhook = make_target("gated")
    smsid = send_sms(esms, "0912345678", webhook.url)
    [arrived] = webhook.wait_for(1)  # on its way; the app has not answered it yet
    waiting = send_status(esms, smsid)
    assert (waiting["SendStatus"], waiting["SendSuccess"], waiting["TotalSent"]) == (2, 0, 0)
    assert esms.message(smsid).played == []
    webhook.let_through()
    esms.message(smsid).wait("final", DEADLINE)
    callback = query(arrived)
    done = send_status(esms, smsid)
    assert done == {
        "CodeResponse": "100", "SMSID": smsid,
        "SendFailed": int(callback["SendFailed"]), "SendStatus": int(callback["SendStatus"]),
        "SendSuccess": int(callback["SendSuccess"]), "TotalPrice": float(callback["TotalPrice"]),
        "TotalReceiver": int(callback["TotalReceiver"]), "TotalSent": int(callback["TotalSent"]),
    }
    assert (done["SendStatus"], done["SendSuccess"], done["TotalSent"]) == (5, 1, 1)


def test_status_of_a_failed_message_reports_it_failed(esms: MockProvider,
                                                      target: Target) -> None:
    smsid = send_sms(esms, "0912341111", target.url)
    [callback] = target.wait_for(1)
    esms.message(smsid).wait("final", DEADLINE)
    answer = send_status(esms, smsid)
    assert query(callback)["SendFailed"] == "1"
    assert (answer["SendStatus"], answer["SendFailed"], answer["SendSuccess"],
            answer["TotalSent"]) == (5, 1, 0, 1)


def test_status_counts_a_duplicated_callback_once(esms: MockProvider, target: Target) -> None:
    smsid = send_sms(esms, "0912343333", target.url)
    first, second = target.wait_for(2)
    esms.message(smsid).wait("final", DEADLINE)
    assert query(first) == query(second)
    answer = send_status(esms, smsid)
    assert (answer["SendStatus"], answer["SendSuccess"], answer["TotalSent"],
            answer["TotalPrice"]) == (5, 1, 1, float(query(first)["TotalPrice"]))


def test_status_of_a_multi_recipient_send_is_7_until_every_callback_is_played(
        esms: MockProvider, target: Target) -> None:
    smsid = send(esms, "Send_Multiple_Sms_OTT", Phones=["0912345670", "0912346666"],
                 Content="x", CallbackUrl=target.url)  # …6666 is held until released
    target.wait_for(1)
    settle(esms)  # the first number's run; the held one has none yet
    partial = send_status(esms, smsid)
    assert (partial["SendStatus"], partial["TotalReceiver"], partial["SendSuccess"],
            partial["TotalSent"]) == (7, 2, 1, 1)
    esms.release(smsid, "delivered")
    target.wait_for(2)
    esms.message(smsid).wait("final", DEADLINE)
    final = send_status(esms, smsid)
    assert (final["SendStatus"], final["SendSuccess"], final["TotalSent"]) == (5, 2, 2)


def test_multichannel_status_waits_for_the_fallback_channel(
        esms: MockProvider, make_target: Callable[..., Target]) -> None:
    zalo, sms = make_target("ok"), make_target("gated")
    smsid = send_zalo_then_sms(esms, "0961237777", zalo.url, sms.url)
    [failed] = zalo.wait_for(1)
    sms.wait_for(1)  # Zalo's run is over; the SMS fallback's callback waits for the app
    assert query(failed)["SendFailed"] == "1"
    assert [p["TypeId"] for p in esms.message(smsid).played] == ["25"]
    assert send_status(esms, smsid)["SendStatus"] == 2
    sms.let_through()
    esms.message(smsid).wait("final", DEADLINE)
    final = send_status(esms, smsid)
    assert (final["SendStatus"], final["SendSuccess"], final["SendFailed"]) == (5, 1, 0)
