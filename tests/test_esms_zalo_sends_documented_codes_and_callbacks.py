"""eSMS's Zalo sends beyond the template ZNS — full content, follower, Zalo user id, hashed
phone — and the account they are charged to: each documented error code in eSMS's own body,
each callback field the docs name, each price from ``esms_unit_prices`` by TypeId.

Over real sockets, as an app calls them: a :class:`MockProvider` at time scale 0 with an
account that lists its Zalo OA and templates (``zalo_oas``) and its prices, a sink for the
callbacks, ``requests`` sending the docs' examples (``schemas/sendapi-examples/esms/``) with
numbers where the docs show strings and the trailing slash or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from esms_invalid_request import invalid_request
from esms_sink import EsmsSink
from test_sendapi_esms_apis import (
    DEADLINE,
    EXPLAIN,
    KEYS,
    VECTORS,
    api,
    status,
    valid,
    vector,
    with_keys,
)

from mock_server import MockProvider

OA = "4097311281936189049"
TEMPLATES = ("205644", "540679", "200607")
"""The templates the account's OA has: the docs' OTP, zalo_uid and hash_phone examples."""
OTHER_OA = "3639635426588416370"
"""A second OA of the account (the docs' UID callback's), with any template."""
PRICES = {"1": 5, "2": 850, "23": 0.123456, "24": 660, "25": 330, "26": 60, "27": 400}
USER_ID = "31215806834323092"
"""The follower / Zalo user id of eSMS's own callback examples."""


@pytest.fixture(scope="module")
def esms(sink: EsmsSink) -> Iterator[MockProvider]:
    send = {"esms_default_webhook": f"{sink.url}/default", "esms_unit_prices": PRICES,
            "zalo_oas": {OA: list(TEMPLATES), OTHER_OA: []}, "balance": 1000}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()


def post(provider: MockProvider, name: str, document: dict[str, Any]) -> requests.Response:
    return requests.post(api(provider, name), json=document, timeout=DEADLINE)


def refused(response: requests.Response, code: str, message: str) -> str:
    """Assert eSMS's error document, byte for byte; dlrmock's explanation."""
    assert response.status_code == 200
    assert response.json() == {"CodeResult": code, "CountRegenerate": 0, "ErrorMessage": message}
    return str(response.headers[EXPLAIN])


def sent(provider: MockProvider, sink: EsmsSink, name: str,
         document: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Send, expect 100 and one callback; (its path, its parameters)."""
    answer = valid("esms.send.response", post(provider, name, document).json())
    assert answer["CodeResult"] == "100", answer
    [callback] = sink.wait(answer["SMSID"], 1)
    return callback


# ------------------------------------------------- SmsType 24 / 25: Zalo with full content
def full_content(sink: EsmsSink, **fields: Any) -> dict[str, Any]:
    """The docs' full-content Zalo request (its placeholders filled), SmsType a JSON number."""
    document = with_keys(vector("req-SendMultipleMessage_V4_post_json-fullcontent-zalo.json"))
    document.update({"SmsType": 24, "OAID": OA, "Phone": "0901888484",
                     "Content": "Ma OTP 4821", "RequestId": "",
                     "CallbackUrl": f"{sink.url}/content", **fields})
    return document


def test_full_content_zalo_calls_back_with_its_type_oa_template_0_and_the_type_price(
        esms: MockProvider, sink: EsmsSink) -> None:
    path, callback = sent(esms, sink, "SendMultipleMessage_V4_post_json/", full_content(sink))
    assert (path, callback["TypeId"], callback["phonenumber"]) == ("/content", "24", "0901888484")
    # [choice, docs/choices.md] no template: tempid is the request's TempID, else 0.
    assert (callback["oaid"], callback["tempid"]) == (OA, "0")
    assert callback["TotalPrice"] == "660.0000"
    _, normal = sent(esms, sink, "SendMultipleMessage_V4_post_json",
                     full_content(sink, SmsType="25", TempID=540679))
    assert (normal["TypeId"], normal["tempid"], normal["TotalPrice"]) == ("25", "540679",
                                                                         "330.0000")


def test_full_content_zalo_without_an_oaid_is_791(esms: MockProvider, sink: EsmsSink) -> None:
    document = full_content(sink)
    del document["OAID"]
    explain = refused(post(esms, "SendMultipleMessage_V4_post_json/", document), "791",
                      "Thiếu OA ID hoặc Template ID.")
    assert "SmsType 24 on SendMultipleMessage_V4_post_json is a Zalo message: it needs an OAID" \
        in explain


def test_full_content_zalo_from_an_oa_not_on_the_account_is_204(esms: MockProvider,
                                                               sink: EsmsSink) -> None:
    explain = refused(post(esms, "SendMultipleMessage_V4_post_json/",
                           full_content(sink, OAID="1397492183140006179")),
                      "204", "OAID không tồn tại trên hệ thống.")
    assert explain == ("OAID not found: '1397492183140006179' (the zalo_oas setting lists "
                       f"{OTHER_OA}, {OA})")


# ---------------------------------------------------------- follower messages (TypeId 26)
def follower_v4(sink: EsmsSink, **fields: Any) -> dict[str, Any]:
    """The docs' V4 text request: its broken ``"CallbackUrl":{{CallbackUrl}}"`` line mended."""
    text = (VECTORS / "req-SendZaloFollowerMessage_V4_post_json-text.json").read_text("utf-8")
    document = with_keys(json.loads(text.replace(':{{CallbackUrl}}"', ':"{{CallbackUrl}}"')))
    document.update({"OAID": int(OA), "User_id": USER_ID, "CallbackUrl": f"{sink.url}/follower",
                     **fields})
    return document


def test_follower_v4_by_user_id_calls_back_with_type_26_the_oa_and_its_price(
        esms: MockProvider, sink: EsmsSink) -> None:
    path, callback = sent(esms, sink, "SendZaloFollowerMessage_V4_post_json/", follower_v4(sink))
    assert (path, callback["TypeId"], callback["phonenumber"]) == ("/follower", "26", USER_ID)
    assert callback["oaid"] == OA and "telcoid" not in callback
    assert callback["RequestId"] == "96accf59-0c41-4bc7-a5c4-4a466c2e41c2"
    assert callback["TotalPrice"] == "60.0000"
    smsid = esms.sent[-1].message_ids[0]
    assert status(esms, smsid)["TotalPrice"] == 60


def test_a_follower_message_without_an_oa_is_204(esms: MockProvider, sink: EsmsSink) -> None:
    explain = refused(post(esms, "SendZaloFollowerMessage_V4_post_json",
                           follower_v4(sink, OAID="")),
                      "204", "OAID không tồn tại trên hệ thống.")
    assert "missing OAID: a follower message names the OA that sends it" in explain


def test_a_follower_message_from_an_oa_not_on_the_account_is_204(esms: MockProvider,
                                                                sink: EsmsSink) -> None:
    refused(post(esms, "SendZaloFollowerMessage_V4_post_json",
                 follower_v4(sink, OAID="1397492183140006179")),
            "204", "OAID không tồn tại trên hệ thống.")


@pytest.mark.parametrize(("api_name", "change"), [
    ("SendZaloFollowerMessage_V4_post_json", {"User_id": ""}),
    ("SendZaloFollowerMessage_V5_post_json", {"Payload": {"recipient": {"user_id": ""},
                                                          "message": {"text": "hi"}}}),
], ids=["v4-empty-user-id", "v5-empty-user-id"])
def test_a_follower_message_without_a_user_id_is_210_in_the_error_tables_words(
        esms: MockProvider, sink: EsmsSink, api_name: str, change: dict[str, Any]) -> None:
    document = {**follower_v4(sink), **change}
    if "Payload" in change:
        del document["User_id"]
    explain = refused(post(esms, api_name, document), "210", "Không đúng payload theo quy định.")
    assert "Payload.recipient.user_id (V5) or User_id (V4)" in explain


# ---------------------------------------------------- by Zalo user id and by hashed phone
def by_uid(sink: EsmsSink, **fields: Any) -> dict[str, Any]:
    document = with_keys(vector("req-SendZaloMessage_V6-zalo_uid.json"))
    document.update(CallbackUrl=f"{sink.url}/uid", **fields)
    return document


def by_hash(sink: EsmsSink, **fields: Any) -> dict[str, Any]:
    document = with_keys(vector("req-SendZaloMessage_V6-hash_phone.json"))
    document.update(CallbackUrl=f"{sink.url}/hash", **fields)
    return document


def test_a_send_by_zalo_uid_calls_back_with_its_oa_template_and_the_zns_price(
        esms: MockProvider, sink: EsmsSink) -> None:
    _, callback = sent(esms, sink, "SendZaloMessage_V6/zalo_uid/", by_uid(sink))
    assert (callback["oaid"], callback["tempid"]) == (OA, "540679")
    assert callback["TotalPrice"] == "330.0000"


def test_a_zalo_uid_of_20_characters_is_accepted_and_21_is_852(esms: MockProvider,
                                                               sink: EsmsSink) -> None:
    uid = USER_ID + "123"  # 20 characters; its last digits are no magic number
    _, callback = sent(esms, sink, "SendZaloMessage_V6/zalo_uid", by_uid(sink, ZaloUid=uid))
    assert callback["phonenumber"] == uid
    explain = refused(post(esms, "SendZaloMessage_V6/zalo_uid",
                           by_uid(sink, ZaloUid=uid + "4", RequestId="uid-21")),
                      "852", "Zalo UID Invalid")
    assert "ZaloUid is 21 characters long; at most 20" in explain


def test_a_send_by_hashed_phone_calls_back_with_telcoid_9_the_hash_oa_and_template(
        esms: MockProvider, sink: EsmsSink) -> None:
    document = by_hash(sink)
    _, callback = sent(esms, sink, "SendZaloMessage_V6/hash_phone/", document)
    assert (callback["TypeId"], callback["telcoid"]) == ("25", "9")
    # docs/choices.md: "phonenumber is the user id (as documented) or the hash".
    assert callback["phonenumber"] == document["HashPhone"]
    assert (callback["oaid"], callback["tempid"]) == (OA, "200607")
    assert callback["TotalPrice"] == "330.0000"


def test_a_hash_that_is_not_64_hex_digits_is_115_in_the_error_tables_words(
        esms: MockProvider, sink: EsmsSink) -> None:
    explain = refused(post(esms, "SendZaloMessage_V6/hash_phone",
                           by_hash(sink, HashPhone="0901888484")),
                      "115", "Dữ liệu hashphone không đúng.")
    assert "'0901888484' is not a SHA-256 hex digest (64 hex digits) of the number" in explain


@pytest.mark.parametrize("name", ["SendZaloMessage_V6/zalo_uid", "SendZaloMessage_V6/hash_phone"])
def test_a_send_by_user_without_a_template_is_791(esms: MockProvider, sink: EsmsSink,
                                                  name: str) -> None:
    document = (by_uid if name.endswith("uid") else by_hash)(sink)
    del document["TempID"]
    refused(post(esms, name, document), "791", "Thiếu OA ID hoặc Template ID.")


@pytest.mark.parametrize("name", ["SendZaloMessage_V6/zalo_uid", "SendZaloMessage_V6/hash_phone"])
def test_a_send_by_user_checks_the_oa_and_its_template_against_the_account(
        esms: MockProvider, sink: EsmsSink, name: str) -> None:
    document = (by_uid if name.endswith("uid") else by_hash)(sink)
    refused(post(esms, name, {**document, "OAID": "1397492183140006179"}), "204",
            "OAID không tồn tại trên hệ thống.")
    explain = refused(post(esms, name, {**document, "TempID": 267247}), "789",
                      "TemplateId is not config")
    assert explain == (f"template '267247' is not configured for OA '{OA}' (its templates: "
                       "205644, 540679, 200607)")


# -------------------------------------------------------------------- numbers and balance
def test_advertising_phones_may_be_one_comma_separated_string_or_json_numbers(
        esms: MockProvider, sink: EsmsSink) -> None:
    ads = {**KEYS, "Content": "Sale", "Brandname": "ACME", "SmsType": 1,
           "CallbackUrl": f"{sink.url}/ads"}
    for phones in ("0912345670, 84983456781", [912345670, 84983456781]):
        _, callback = sent(esms, sink, "SendMultipleSMSBrandname_json/",
                           {**ads, "Phones": phones})
        assert (callback["TotalReceiver"], callback["TotalPrice"]) == ("2", "10.0000")


def test_5000_numbers_in_one_request_are_accepted(esms: MockProvider, sink: EsmsSink) -> None:
    phones = [f"09{n:08d}" for n in range(5000)]
    answer = post(esms, "SendMultipleSMSBrandname_json", {
        **KEYS, "Phones": phones, "Content": "Sale", "Brandname": "ACME", "SmsType": "1",
        "Sandbox": 1, "CallbackUrl": f"{sink.url}/ads"}).json()
    assert answer["CodeResult"] == "100"
    [(_, callback)] = sink.wait(answer["SMSID"], 1)
    assert callback["TotalReceiver"] == "5000"


def test_the_balance_is_a_whole_json_number_or_rounded_to_4_decimals(esms: MockProvider,
                                                                     sink: EsmsSink) -> None:
    def balance() -> Any:
        answer = valid("esms.lookup.keys.response",
                       post(esms, "GetBalance_json/", dict(KEYS)).json())
        return answer["Balance"]

    whole = balance()
    assert whole == 1000 and isinstance(whole, int)  # as documented: "Balance": 36693
    sent(esms, sink, "Send_Multiple_Sms_OTT/", {  # a Viber message costs 0.123456
        **KEYS, "Phones": "0901888484", "Content": "Hi", "Brandname": "ACME", "SmsType": 23,
        "CallbackUrl": f"{sink.url}/viber"})
    assert balance() == 999.8765


# ------------------------------------------------------------------ template ZNS: SendingMode
def zns_v6(sink: EsmsSink, **fields: Any) -> dict[str, Any]:
    return {**KEYS, "Phone": "0901888484", "OAID": OA, "TempID": "205644",
            "TempData": {"otp": "686868"}, "CallbackUrl": f"{sink.url}/zns", **fields}


def test_sending_mode_2_is_undocumented_and_an_invalid_request_whatever_its_spelling(
        esms: MockProvider, sink: EsmsSink) -> None:
    document = zns_v6(sink, sendingMode=2)  # any letter case, a JSON number
    response = post(esms, "SendZaloMessage_V6/", document)
    message = ("SendingMode '2' is not documented; use 1 (normal, the default) or 3 (over "
               "quota, whitelisted OAs)")
    assert invalid_request(response) == message
    _, callback = sent(esms, sink, "SendZaloMessage_V6", zns_v6(sink, SENDINGMODE=3))
    assert callback["TypeId"] == "25"


def test_over_quota_sending_mode_3_cannot_be_scheduled_801(esms: MockProvider,
                                                           sink: EsmsSink) -> None:
    response = post(esms, "SendZaloMessage_V6/",
                    zns_v6(sink, SendingMode="3", SendDate="2026-12-01 10:00:00"))
    explain = refused(response, "801",
                      "Gửi tin chế độ Gửi vượt hạn mức không cho phép gửi tin hẹn giờ.")
    assert explain == "SendingMode 3 (over quota) cannot be scheduled: drop SendDate"


def test_a_template_zns_without_its_template_is_791_saying_what_it_names(
        esms: MockProvider, sink: EsmsSink) -> None:
    document = zns_v6(sink)
    del document["TempID"]
    explain = refused(post(esms, "SendZaloMessage_V6", document), "791",
                      "Thiếu OA ID hoặc Template ID.")
    assert explain == ("missing OAID or TempID: a ZNS send names the OA (OAID) and its approved "
                       "template (TempID)")


def test_a_journey_calls_back_with_type_27_its_oa_template_and_price(esms: MockProvider,
                                                                     sink: EsmsSink) -> None:
    document = with_keys(vector("req-SendZaloMessage_V4-journey.json"))
    document.update(Phone="0901888484", Params=["Lan"], TempID=205644, OAID=OA, RequestId="j-1",
                    campaignid="c", CallbackUrl=f"{sink.url}/journey")
    url = "SendZaloMessage_V4_post_json/"
    message = "OrderId is required with IsJourney (the id of the journey)"
    assert invalid_request(post(esms, url, {**document, "OrderId": ""})) == message
    _, callback = sent(esms, sink, url, {**document, "OrderId": "SO-1"})
    assert (callback["TypeId"], callback["oaid"]) == ("27", OA)
    assert "tempid" not in callback  # as the documented TypeId 27 callback
    assert callback["TotalPrice"] == "400.0000"


# ------------------------------------------------------- GetSendStatus of several numbers
def test_status_of_several_numbers_adds_up_their_callbacks_and_prices(
        esms: MockProvider, sink: EsmsSink) -> None:
    answer = post(esms, "Send_Multiple_Sms_OTT/", {
        **KEYS, "Phones": ["0901880000", "0901881111", "0901883333"], "Content": "Hi",
        "Brandname": "ACME", "SmsType": "23", "CallbackUrl": f"{sink.url}/ott"}).json()
    sink.wait(answer["SMSID"], 4)  # …3333 is called back twice: counted once
    final = status(esms, answer["SMSID"])
    assert (final["SendStatus"], final["SendSuccess"], final["SendFailed"]) == (5, 2, 1)
    assert (final["TotalSent"], final["TotalReceiver"]) == (3, 3)
    assert final["TotalPrice"] == 0.247  # two callbacks of "0.1235" (0.123456, 4 places)


def test_status_of_several_held_numbers_is_2_waiting(esms: MockProvider) -> None:
    answer = post(esms, "Send_Multiple_Sms_OTT", {
        **KEYS, "Phones": "0901886666,0901896666", "Content": "Hi", "SmsType": 23}).json()
    waiting = status(esms, answer["SMSID"])
    assert (waiting["SendStatus"], waiting["TotalSent"], waiting["TotalReceiver"]) == (2, 0, 2)


def test_status_of_several_numbers_sent_with_no_webhook_is_final_from_their_outcomes(
        sink: EsmsSink) -> None:
    with MockProvider(time_scale=0) as quiet:  # no CallbackUrl and no default webhook
        answer = post(quiet, "Send_Multiple_Sms_OTT", {
            **KEYS, "Phones": ["0901880000", "0901881111", "0901880001", "0901891111"],
            "Content": "Hi", "SmsType": "23"}).json()
        final = status(quiet, answer["SMSID"])
    assert (final["SendStatus"], final["SendSuccess"], final["SendFailed"]) == (5, 2, 2)
    assert final["TotalSent"] == 4


# ------------------------------------------------ what send.rules and brandnames read
def test_rules_read_the_template_values_joined_and_the_template_id(sink: EsmsSink) -> None:
    rules = [{"match": {"content": "^Lan 686868$"}, "outcome": "failed"},
             {"match": {"content": "^Lan 4821$"}, "outcome": "failed"},
             {"match": {"template": "^267247$"}, "outcome": "failed"}]
    send = {"esms_default_webhook": f"{sink.url}/rules", "rules": rules}
    with MockProvider(time_scale=0, send=send) as ruled:
        cases = [
            ("SendZaloMessage_V6/", {"TempData": {"name": "Lan", "otp": 686868}}),
            ("SendZaloMessage_V4_post_json", {"Params": ["Lan", 4821]}),
            ("SendZaloMessage_V6", {"TempID": 267247, "TempData": {"otp": "1"}}),
            ("SendZaloMessage_V6", {"TempData": {"otp": "1"}}),
        ]
        failed = []
        for name, fields in cases:
            document = {**KEYS, "Phone": "0901888484", "OAID": OA, "TempID": "205644", **fields}
            answer = post(ruled, name, document).json()
            [(_, callback)] = sink.wait(answer["SMSID"], 1)
            failed.append(callback["SendFailed"])
    assert failed == ["1", "1", "1", "0"]


def test_brandnames_are_read_in_any_letter_case_and_an_unknown_one_is_104(sink: EsmsSink) -> None:
    send = {"esms_default_webhook": f"{sink.url}/brand", "brandnames": ["Baotrixemay", "ACME"]}
    with MockProvider(time_scale=0, send=send) as branded:
        sms = {**KEYS, "Phone": "0901888484", "Content": "Ma OTP 4821", "SmsType": 2}
        accepted = post(branded, "SendMultipleMessage_V4_post_json/", {**sms, "BrandName": "ACME"})
        assert accepted.json()["CodeResult"] == "100"
        explain = refused(post(branded, "SendMultipleMessage_V4_post_json",
                               {**sms, "Brandname": "Other"}),
                          "104", "Brand name code is not exist")
    assert explain == ("brandname 'Other' is not registered (the brandnames setting: "
                       "Baotrixemay, ACME)")


def test_advertising_sms_type_on_the_customer_care_api_is_118_pointing_to_the_ads_api(
        esms: MockProvider, sink: EsmsSink) -> None:
    sms = {**KEYS, "Phone": "0901888484", "Content": "Sale", "Brandname": "ACME"}
    explain = refused(post(esms, "SendMultipleMessage_V4_post_json/", {**sms, "SmsType": 1}),
                      "118", "Loại tin nhắn không hỗ trợ.")
    assert "SmsType '1' (advertising SMS goes through SendMultipleSMSBrandname_json)" in explain
    other = refused(post(esms, "SendMultipleMessage_V4_post_json", {**sms, "SmsType": 4}),
                    "118", "Loại tin nhắn không hỗ trợ.")
    assert other == ("unsupported message type: SmsType '4'; SendMultipleMessage_V4_post_json "
                     "sends 2 (customer care), 8 (fixed number), 23 (Viber), 24/25 (Zalo full "
                     "content)")
    form = requests.post(api(esms, "SendMultipleMessage_V4_post/"), timeout=DEADLINE,
                         data={**sms, "SMSTYPE": "8"})
    assert refused(form, "118", "Loại tin nhắn không hỗ trợ.") == (
        "unsupported message type: SmsType '8'; SendMultipleMessage_V4_post sends 2 (customer "
        "care), 24/25 (Zalo full content)")


def test_advertising_needs_ads_min_phones_numbers_and_takes_exactly_that_many(
        sink: EsmsSink) -> None:
    with MockProvider(time_scale=0, send={"ads_min_phones": 30}) as strict:
        ads = {**KEYS, "Content": "Sale", "Brandname": "ACME", "SmsType": "1",
               "CallbackUrl": f"{sink.url}/ads-min"}
        phones = [f"09123456{n:02d}" for n in range(30)]
        _, callback = sent(strict, sink, "SendMultipleSMSBrandname_json", {**ads, "Phones": phones})
        assert callback["TotalReceiver"] == "30"
        explain = refused(post(strict, "SendMultipleSMSBrandname_json",
                               {**ads, "Phones": phones[:29]}),
                          "107", "Each request has at least 30 numbers to be approved")
    assert explain == ("advertising SMS needs at least 30 numbers, got 29 (the ads_min_phones "
                       "setting)")


# --------------------------------------------------------------- GetSendStatus and 404
def test_status_of_an_unknown_sms_id_is_105_in_the_error_tables_words(
        esms: MockProvider) -> None:
    response = requests.get(api(esms, "GetSendStatus"), timeout=DEADLINE,
                            params={"RefId": "nope", **KEYS})
    assert response.json() == {"CodeResponse": "105",
                               "ErrorMessage": "Không tìm thấy mã tin nhắn/ Mã cuộc gọi trên hệ "
                                               "thống."}
    assert response.headers[EXPLAIN] == ("no message with SMSID 'nope' (RefId is the SMSID a "
                                         "send answered; dlrmock forgets them when restarted "
                                         "or reset)")


def test_a_status_query_is_captured_with_the_sms_id_it_asked_about(
        esms: MockProvider, sink: EsmsSink) -> None:
    _, callback = sent(esms, sink, "SendZaloMessage_V6", zns_v6(sink))
    status(esms, callback["SMSID"])
    assert esms.sent[-1].endpoint == "esms.GetSendStatus"
    assert esms.sent[-1].message_ids == [callback["SMSID"]]


def test_an_unknown_api_is_404_listing_every_emulated_api(esms: MockProvider) -> None:
    response = post(esms, "SendSomething_V9", dict(KEYS))
    assert response.status_code == 404
    assert response.headers[EXPLAIN].startswith(
        "no eSMS API at 'SendSomething_V9' (dlrmock emulates SendMultipleMessage_V4_post_json, "
        "SendMultipleMessage_V4_get, SendMultipleMessage_V4_post, ")
