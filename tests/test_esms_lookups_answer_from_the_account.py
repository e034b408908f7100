"""eSMS's look-up APIs answered from the account's settings: price estimates by part and number,
templates and OAs, quota and quality, ratings and followers paged, balance and brandnames —
each documented rule and each [choice] of ``docs/send-apis.md`` ("Look-ups, balance and OTP
codes"), errors in eSMS's words with dlrmock's explanation beside them.

Over real sockets, as an app calls them: a :class:`MockProvider` at time scale 0 whose account
lists its brandnames, OAs and prices, ``requests`` sending GETs and JSON POSTs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from esms_invalid_request import invalid_request
from test_sendapi_esms_apis import (
    API_KEY,
    DEADLINE,
    EXPLAIN,
    KEYS,
    SECRET_KEY,
    api,
    valid,
    vector,
)

from mock_server import MockProvider
from mock_server.sendapi.esms_lookup import DEFAULT_FOLLOWERS

OA, OTHER_OA = "4097311281936189049", "111"
PRICES = {"2": 850, "25": 330}


@pytest.fixture(scope="module")
def esms() -> Iterator[MockProvider]:
    send = {"brandnames": ["ACME", "DLRMOCK"], "zalo_oas": {OA: ["205644"], OTHER_OA: []},
            "esms_unit_prices": PRICES, "balance": 5000, "user_id": 4242}
    with MockProvider(time_scale=0, send=send) as provider:
        yield provider


def get(provider: MockProvider, name: str, **params: Any) -> requests.Response:
    return requests.get(api(provider, name), params={**KEYS, **params}, timeout=DEADLINE)


def post(provider: MockProvider, name: str, **fields: Any) -> requests.Response:
    return requests.post(api(provider, name), json={**KEYS, **fields}, timeout=DEADLINE)


# ----------------------------------------------------------------------- price estimates
@pytest.mark.parametrize(("content", "unicode", "parts"), [
    ("a" * 160, "0", 1), ("a" * 161, "0", 2), ("a" * 320, "0", 2), ("a" * 321, "0", 3),
    ("ă" * 70, "1", 1), ("ă" * 71, "1", 2), ("", "0", 1),
])
def test_an_sms_estimate_counts_parts_of_160_characters_or_70_in_unicode(
        esms: MockProvider, content: str, unicode: str, parts: int) -> None:
    answer = get(esms, "SummaryMultipleMessage_V4_get", Phone="0901888484", Content=content,
                 IsUnicode=unicode, SmsType="2", Brandname="ACME").json()
    assert answer == {"CodeResult": "100", "ErrorMessage": "success", "TotalPrice": 850 * parts,
                      "TotalReceiver": 1}


def test_an_sms_estimate_charges_each_number_what_its_send_would_cost(
        esms: MockProvider) -> None:
    answer = get(esms, "SummaryMultipleMessage_V4_get", Phone="0901888484, 84912345678,",
                 Content="hi", SmsType="1", Brandname="ACME").json()
    assert (answer["TotalPrice"], answer["TotalReceiver"]) == (500, 2)  # the default price of 1
    default = get(esms, "SummaryMultipleMessage_V4_get", Phone="0901888484", Content="hi",
                  Brandname="ACME").json()
    assert default["TotalPrice"] == 850  # no SmsType: customer care (2)
    # SmsType 8 (fixed number) is sent and charged as TypeId 2: the estimate says the same.
    fixed = get(esms, "SummaryMultipleMessage_V4_get", Phone="0901888484", Content="hi",
                SmsType="8", Brandname="ACME").json()
    assert fixed["TotalPrice"] == 850
    unpriced = get(esms, "SummaryMultipleMessage_V4_get", Phone="0901888484", Content="hi",
                   SmsType="5", Brandname="ACME").json()
    assert (unpriced["CodeResult"], unpriced["TotalPrice"]) == ("100", 0)  # a type with no price


def test_an_sms_estimate_refuses_a_brandname_not_on_the_account_and_a_bad_number(
        esms: MockProvider) -> None:
    other = get(esms, "SummaryMultipleMessage_V4_get", Phone="0901888484", Content="hi",
                Brandname="OTHER")
    assert other.json() == {"CodeResult": "104", "ErrorMessage": "Brand name code is not exist"}
    assert other.headers[EXPLAIN] == ("brandname 'OTHER' is not registered (the brandnames "
                                      "setting: ACME, DLRMOCK)")
    bad = get(esms, "SummaryMultipleMessage_V4_get", Phone="12345", Content="hi",
              Brandname="ACME")
    assert bad.json()["CodeResult"] == "108" and "'12345'" in bad.headers[EXPLAIN]


def test_a_fixed_number_estimate_needs_no_brandname_as_its_send_needs_none(
        esms: MockProvider) -> None:
    # SmsType 8 goes out from a fixed number: its send takes any Brandname, or none.
    for brand in ({}, {"Brandname": "OTHER"}):
        answer = get(esms, "SummaryMultipleMessage_V4_get", Phone="0901888484", Content="hi",
                     SmsType="8", **brand).json()
        assert (answer["CodeResult"], answer["TotalPrice"]) == ("100", 850), brand


def test_a_zalo_estimate_costs_the_zns_price_and_checks_the_oa_template(
        esms: MockProvider) -> None:
    answer = post(esms, "SummaryZaloMessage_V4_post_json/", Phone="0901888484", OAID=OA,
                  TempID="205644", Params=["1"]).json()
    assert answer == {"CodeResult": "100", "ErrorMessage": "success", "TotalPrice": 330,
                      "TotalReceiver": 1}
    other = post(esms, "SummaryZaloMessage_V4_post_json/", Phone="0901888484", OAID=OA,
                 TempID="999", Params=["1"])
    assert other.json()["CodeResult"] == "789"
    bad_phone = post(esms, "SummaryZaloMessage_V4_post_json/", Phone="abc", OAID=OA,
                     TempID="205644", Params=["1"])
    assert bad_phone.json()["CodeResult"] == "108"
    assert bad_phone.headers[EXPLAIN] == ("bad phone number format: 'abc'; use 0xxxxxxxxx or "
                                          "84xxxxxxxxx")


def test_the_sms_estimate_and_the_oa_list_refuse_wrong_keys_with_the_documented_dot(
        esms: MockProvider) -> None:
    wrong = {"ApiKey": "x", "SecretKey": "y"}
    estimate = requests.get(api(esms, "SummaryMultipleMessage_V4_get"), timeout=DEADLINE,
                            params={**wrong, "Phone": "0901888484", "Content": "hi"})
    oas = requests.post(api(esms, "ZNS/GetListZOA/"), json=wrong, timeout=DEADLINE)
    for response in (estimate, oas):
        assert response.json() == vector("query-101-authorize-dot.json")
        assert esms.sent[-1].error == "101"


# ------------------------------------------------------------------- templates and OAs
def test_get_template_lists_customer_care_or_advertising_and_refuses_other_types(
        esms: MockProvider) -> None:
    for sms_type in ("1", "2"):
        answer = post(esms, "GetTemplate/", SmsType=sms_type, Brandname="ACME").json()
        assert (answer["CodeResult"], answer["ErrorMessage"]) == ("100", "success")
        assert len(answer["BrandnameTemplates"]) == 7
    zns = post(esms, "GetTemplate/", SmsType="24", OAID=OA).json()
    assert (zns["CodeResult"], zns["ErrorMessage"]) == ("100", "success")
    other = post(esms, "GetTemplate/", SmsType="8", Brandname="ACME")
    assert other.json() == {"CodeResult": "118", "ErrorMessage": "Loại tin nhắn không hỗ trợ."}
    assert other.headers[EXPLAIN] == (
        "SmsType '8': GetTemplate lists 2 (customer-care SMS templates of Brandname) or 24/25 "
        "(ZNS templates of OAId)")
    missing = post(esms, "GetTemplate/", SmsType="2", Brandname="")
    assert missing.json()["CodeResult"] == "104"
    assert missing.headers[EXPLAIN] == ("brandname '' is not registered (the brandnames "
                                        "setting: ACME, DLRMOCK)")


def test_template_ids_are_stable_per_brandname_text_and_carrier(esms: MockProvider) -> None:
    first = post(esms, "GetTemplate/", SmsType="2", Brandname="ACME").json()
    again = post(esms, "GetTemplate/", SmsType="2", Brandname="ACME").json()
    other = post(esms, "GetTemplate/", SmsType="2", Brandname="DLRMOCK").json()
    ids = [t["TempId"] for t in first["BrandnameTemplates"]]
    assert ids == [t["TempId"] for t in again["BrandnameTemplates"]]
    assert len(set(ids)) == 7 and all(100 <= i < 900_100 for i in ids)
    assert not set(ids) & {t["TempId"] for t in other["BrandnameTemplates"]}


def test_zns_template_info_refuses_a_template_the_oa_does_not_have(esms: MockProvider) -> None:
    info = get(esms, "GetZnsTemplateInfo", TemplateId="205644", OAId=OA).json()
    assert (info["Error"], info["Data"]["TemplateId"], info["Data"]["PreviewUrl"]) == (
        0, 205644, "https://account.zalo.cloud/znspreview/205644")
    other = get(esms, "GetZnsTemplateInfo", TemplateId="999", OAId=OA)
    assert other.json() == {"CodeResult": "789", "ErrorMessage": "TemplateId is not config"}
    assert other.headers[EXPLAIN] == (f"template '999' is not configured for OA '{OA}' "
                                      "(its templates: 205644)")
    any_template = get(esms, "GetZnsTemplateInfo", TemplateId="abc", OAId=OTHER_OA).json()
    assert any_template["Data"]["TemplateId"] == "abc"  # an OA listing none has any


@pytest.mark.parametrize(("method", "name"), [
    ("POST", "ZNS/GetQuota/"), ("POST", "ZNS/GetQuality/"), ("POST", "ZNS/GetRating/"),
    ("POST", "SummaryZaloMessage_V4_post_json/"), ("GET", "GetZnsTemplateInfo"),
])
def test_the_zalo_look_ups_refuse_wrong_keys_with_the_documented_101_without_a_dot(
        esms: MockProvider, method: str, name: str) -> None:
    wrong = {"ApiKey": "x", "SecretKey": "y", "OAID": OA, "OAId": OA, "TemplateId": "205644"}
    if method == "GET":
        answer = requests.get(api(esms, name), params=wrong, timeout=DEADLINE)
    else:
        answer = requests.post(api(esms, name), json=wrong, timeout=DEADLINE)
    assert answer.json() == vector("query-101-authorize.json")
    assert esms.sent[-1].error == "101"


def test_a_zns_template_is_described_in_the_documented_shapes_with_its_otp_param(
        esms: MockProvider) -> None:
    listed = post(esms, "GetTemplate/", SmsType="24", OAID=OA).json()["ZNSTemplates"]
    documented = vector("GetTemplate-zns-100.json")["ZNSTemplates"][0]
    assert [(t["TempId"], t["TempName"], t["ZNSTempDetail"]) for t in listed] == [
        (documented["TempId"], documented["TempName"], documented["ZNSTempDetail"])]
    info = get(esms, "GetZnsTemplateInfo", TemplateId="205644", OAId=OA).json()
    shape = vector("GetZnsTemplateInfo-100.json")
    assert (info["Error"], info["Message"]) == (shape["Error"], shape["Message"])
    for key in ("Reason", "Status", "TemplateQuality", "TemplateTag", "Timeout"):
        assert info["Data"][key] == shape["Data"][key], key
    assert info["Data"]["TemplateName"] == documented["TempName"]
    otp = documented["ZNSTempDetail"][0]
    assert info["Data"]["ListParams"] == [{**shape["Data"]["ListParams"][0],
                                           "MaxLength": otp["Limit"], "Name": otp["Param"]}]


def test_the_oa_look_ups_list_the_accounts_oas_and_refuse_others(esms: MockProvider) -> None:
    zoa = post(esms, "ZNS/GetListZOA/").json()
    assert zoa["ZOAList"] == [{"OAID": OTHER_OA, "OAName": f"OA {OTHER_OA}"},
                              {"OAID": OA, "OAName": "SVoucher"}]
    for name in ("ZNS/GetQuota/", "ZNS/GetQuality/", "ZNS/GetRating/", "ZNS/GetFollowers/"):
        unknown = post(esms, name, OAID="222")
        assert unknown.json()["CodeResult"] == "204", name
        assert unknown.headers[EXPLAIN] == (f"OA '222' is not in the zalo_oas setting "
                                            f"({OTHER_OA}, {OA})")
        empty = post(esms, name, OAID="")
        assert empty.json() == {"CodeResult": "791",
                                "ErrorMessage": "Thiếu OA ID hoặc Template ID."}, name
        assert empty.headers[EXPLAIN] == "OAId is required"
    quality = post(esms, "ZNS/GetQuality/", OAID=OA).json()
    assert quality == {"CodeResult": "100", "ErrorMessage": "success", "Oa7dayQuality": "HIGH",
                       "OaCurrentQuality": "HIGH"}


# --------------------------------------------------------------------- paging and dates
def test_ratings_are_paged_by_offset_and_limit_and_need_their_time_format(
        esms: MockProvider) -> None:
    assert post(esms, "ZNS/GetRating/", OAID=OA, Offset=1).json()["Data"] == []
    assert len(post(esms, "ZNS/GetRating/", OAID=OA, Limit=50).json()["Data"]) == 1
    for field, value in (("Limit", "0"), ("Limit", "x"), ("FromTime", "2022-08-01")):
        invalid_request(post(esms, "ZNS/GetRating/", OAID=OA, **{field: value}))
    wrong = post(esms, "ZNS/GetRating/", OAID=OA, ToTime="31/08/2022")
    assert wrong.headers[EXPLAIN] == "ToTime '31/08/2022': yyyy-mm-dd hh:mm:ss is required"


def test_followers_are_paged_by_count_or_limit(esms: MockProvider) -> None:
    by_limit = post(esms, "ZNS/GetFollowers/", OAID=OA, Offset=1, Limit=2).json()
    by_count = post(esms, "ZNS/GetFollowers/", OAID=OA, Offset=1, Count=2, Limit=3).json()
    assert by_limit["Followers"] == by_count["Followers"] == [
        {"User_Id": "4176617840488517388"}, {"User_Id": "7000997455428487634"}]
    too_many = post(esms, "ZNS/GetFollowers/", OAID=OA, Count=51)
    assert invalid_request(too_many) == "Count '51': a whole number from 1 to 50"


def test_query_list_uid_of_non_followers_is_empty(esms: MockProvider) -> None:
    data = post(esms, "QueryListUID/", OAID=OA, IsFollower="0").json()["Data"]
    assert (data["Total"], data["Users"]) == (0, [])


# ---------------------------------------------------------------- balance and brandnames
def test_the_balance_answers_in_both_forms_with_the_accounts_user_id(esms: MockProvider) -> None:
    legacy = requests.get(api(esms, f"GetBalance/{API_KEY}/{SECRET_KEY}"), timeout=DEADLINE)
    assert legacy.json() == {"Balance": 5000, "CodeResponse": "100", "UserID": 4242}
    assert post(esms, "GetBalance_json").json() == legacy.json()
    wrong = requests.get(api(esms, "GetBalance/x/y"), timeout=DEADLINE).json()
    assert wrong == {"Balance": 0, "CodeResponse": "101", "ErrorMessage": "Authorize Failed"}


def test_the_brandname_list_is_the_accounts_or_dlrmock(esms: MockProvider) -> None:
    brands = requests.get(api(esms, f"GetListBrandname/{API_KEY}/{SECRET_KEY}"),
                          timeout=DEADLINE).json()
    assert brands == {"CodeResponse": "100", "ListBrandName": [
        {"Brandname": "ACME", "Type": 2}, {"Brandname": "DLRMOCK", "Type": 2}]}
    with MockProvider(time_scale=0) as plain:
        answer = requests.get(api(plain, f"GetListBrandname/{API_KEY}/{SECRET_KEY}"),
                              timeout=DEADLINE).json()
    assert valid("esms.lookup.keys.response", answer)["ListBrandName"] == [
        {"Brandname": "DLRMOCK", "Type": 2}]


def test_an_account_without_oas_lists_the_documented_svoucher_oa() -> None:
    with MockProvider(time_scale=0) as provider:
        answer = post(provider, "ZNS/GetListZOA/").json()
    assert answer == {"CodeResult": "100", "ErrorMessage": "success",
                      "ZOAList": [{"OAID": "4097311281936189049", "OAName": "SVoucher"}]}


def test_followers_and_user_ids_without_paging_are_all_listed_from_the_first(
        esms: MockProvider) -> None:
    followers = post(esms, "ZNS/GetFollowers/", OAID=OA).json()
    assert followers == {"CodeResult": "100", "ErrorMessage": "success", "Total": 4,
                         "Followers": [{"User_Id": uid} for uid in DEFAULT_FOLLOWERS]}
    users = post(esms, "QueryListUID/", OAID=OA).json()
    assert users == vector("QueryListUID-100.json")


def test_query_list_uid_explains_a_bad_date_or_page_naming_the_value_and_the_format(
        esms: MockProvider) -> None:
    date = post(esms, "QueryListUID/", OAID=OA, FromDate="2024-05-01")
    assert date.json() == {"CodeResult": "161",
                           "ErrorMessage": "FromDate is invalid date format."}
    assert date.headers[EXPLAIN] == "FromDate '2024-05-01': dd/MM/yyyy is required"
    count = post(esms, "QueryListUID/", OAID=OA, Count="51")
    assert count.json() == {"CodeResult": "162", "ErrorMessage": "Count is invalid."}
    assert count.headers[EXPLAIN] == "Count '51': a whole number from 1 to 50"


def test_zns_template_info_describes_each_template_the_oa_lists() -> None:
    with MockProvider(time_scale=0, send={"zalo_oas": {OA: ["300000", "300001"]}}) as provider:
        info = get(provider, "GetZnsTemplateInfo", TemplateId="300001", OAId=OA).json()
        default = get(provider, "GetZnsTemplateInfo", TemplateId="205644", OAId=OA)
    assert (info["Error"], info["Data"]["TemplateId"]) == (0, 300001)
    assert default.json()["CodeResult"] == "789"
    assert default.headers[EXPLAIN].endswith("(its templates: 300000, 300001)")


def test_a_template_id_that_is_not_a_number_is_listed_as_configured() -> None:
    with MockProvider(time_scale=0, send={"zalo_oas": {OA: ["otp-v2", "205644"]}}) as provider:
        listed = post(provider, "GetTemplate/", SmsType="24", OAID=OA).json()
    assert [t["TempId"] for t in listed["ZNSTemplates"]] == ["otp-v2", 205644]
