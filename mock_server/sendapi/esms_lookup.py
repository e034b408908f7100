"""eSMS's look-up APIs: templates, Zalo OAs, balance, brandnames — answered from the settings.

Every default just works: with nothing configured, every brandname has one approved OTP
template on every carrier, every OA has the documented OTP template, and the balance never
runs out. Keys are in the order eSMS's .NET service writes them (sorted, as in the docs).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._esms_common import EsmsEndpoint, invalid_request, number, query_error, text
from ._exchange import Answer, Exchange, Reject

if TYPE_CHECKING:
    from .esms import _Esms

__all__ = ["DEFAULT_FOLLOWERS", "DEFAULT_OA", "DEFAULT_RATING", "DEFAULT_USERS",
           "DEFAULT_ZNS_TEMPLATE", "ENDPOINTS", "sms_templates", "zns_templates"]

NETWORKS = (1, 2, 3, 4, 5, 6, 7)
"""eSMS NetworkID: Viettel, Mobifone, Vinaphone, Vietnamobile, Gtel, Itel, Reddi."""

DEFAULT_SMS_TEMPLATE = "{P1,20} la ma xac minh dang ky %s cua ban"
"""[choice] The OTP template every brandname has when ``sms_templates`` does not list it
(the documented example's first template, with the brandname)."""

DEFAULT_OA = ("4097311281936189049", "SVoucher")
"""[choice] The OA ``ZNS/GetListZOA/`` lists when ``zalo_oas`` is empty (from the docs)."""

DEFAULT_ZNS_TEMPLATE = "205644"
"""[choice] The template every OA has when ``zalo_oas`` lists none for it (from the docs)."""

_ZNS_OTP_CONTENT = "Mã OTP của bạn là {{otp}}. Không tiết lộ cho bất kỳ ai, Mã xác nhận sẽ có " \
    "hiệu lực trong 5 phút."


def _template_id(*parts: object) -> int:
    """A stable template id for the same brandname, text and carrier."""
    return 100 + zlib.crc32("|".join(map(str, parts)).encode("utf-8")) % 900_000


def sms_templates(settings_templates: Mapping[str, tuple[str, ...]],
                  brandname: str) -> list[dict[str, Any]]:
    """``BrandnameTemplates`` of ``brandname``: each template on every carrier."""
    texts = settings_templates.get(brandname) or (DEFAULT_SMS_TEMPLATE % brandname,)
    return [{"NetworkID": network, "TempContent": content,
             "TempId": _template_id(brandname, content, network)}
            for content in texts for network in NETWORKS]


def zns_templates(oas: Mapping[str, tuple[str, ...]], oaid: str) -> list[dict[str, Any]]:
    """``ZNSTemplates`` of ``oaid``: an approved OTP template per configured template id."""
    ids = oas.get(oaid) or (DEFAULT_ZNS_TEMPLATE,)
    return [{"TempContent": _ZNS_OTP_CONTENT,
             "TempId": int(tempid) if tempid.isdigit() else tempid,
             "TempName": "Xác nhận đăng ký dịch vụ",
             "ZNSTempDetail": [{"Limit": 10, "Param": "otp", "ParamLevel": 1,
                                "RequireType": "type_text"}]}
            for tempid in ids]


def _known_oa(api: _Esms, oaid: str) -> None:
    oas = api.settings.zalo_oas
    if not oaid:
        raise Reject(791, "Thiếu OA ID hoặc Template ID.", explain="OAId is required")
    if oas and oaid not in oas:
        raise Reject(204, "OAID không tồn tại trên hệ thống.",
                     explain=f"OA {oaid!r} is not in the zalo_oas setting "
                     f"({', '.join(sorted(oas))})")


def get_template(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST GetTemplate/``: SmsType 2 → the brandname's SMS templates; 24/25 → the OA's ZNS."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed"))
    api.check(endpoint.schema, params)
    sms_type = text(params.get("SmsType"))
    if sms_type in ("24", "25"):
        oaid = text(params.get("OAID"))
        _known_oa(api, oaid)
        return Answer({"CodeResult": "100", "ErrorMessage": "success",
                       "ZNSTemplates": zns_templates(api.settings.zalo_oas, oaid)})
    if sms_type not in ("1", "2"):
        raise Reject(118, "Loại tin nhắn không hỗ trợ.",
                     explain=f"SmsType {sms_type!r}: GetTemplate lists 2 (customer-care SMS "
                     "templates of Brandname) or 24/25 (ZNS templates of OAId)")
    brand = text(params.get("Brandname"))
    brandnames = api.settings.brandnames
    if not brand or (brandnames and brand not in brandnames):
        raise Reject(104, "Brand name code is not exist",
                     explain=f"brandname {brand!r} is not registered (the brandnames setting: "
                     f"{', '.join(brandnames) or 'any'})")
    return Answer({"BrandnameTemplates": sms_templates(api.settings.sms_templates, brand),
                   "CodeResult": "100", "ErrorMessage": "success"})


def get_zns_template_info(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``GET GetZnsTemplateInfo``: one approved template's details (V2 shape)."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed"))
    api.check(endpoint.schema, params)
    oaid, tempid = text(params.get("OAID")), text(params.get("TemplateId"))
    _known_oa(api, oaid)
    known = api.settings.zalo_oas.get(oaid) or (DEFAULT_ZNS_TEMPLATE,)
    if api.settings.zalo_oas.get(oaid) and tempid not in known:
        raise Reject(789, "TemplateId is not config",
                     explain=f"template {tempid!r} is not configured for OA {oaid!r} "
                     f"(its templates: {', '.join(known)})")
    data = {
        "ListButtons": [],
        "ListParams": [{"AcceptNull": False, "MaxLength": 10, "MinLength": 0, "Name": "otp",
                        "Require": True, "Type": "STRING"}],
        "PreviewUrl": f"https://account.zalo.cloud/znspreview/{tempid}",
        "Reason": "Template đã được duyệt",
        "Status": "ENABLE",
        "TemplateId": int(tempid) if tempid.isdigit() else tempid,
        "TemplateName": "Xác nhận đăng ký dịch vụ",
        "TemplateQuality": "null",
        "TemplateTag": "TRANSACTION",
        "Timeout": 7200000,
    }
    return Answer({"Data": data, "Error": 0, "Message": "Success"})


def get_list_zoa(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST ZNS/GetListZOA/``: the configured OAs (or the default one)."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed."))
    oas = sorted(api.settings.zalo_oas) or [DEFAULT_OA[0]]
    names = {DEFAULT_OA[0]: DEFAULT_OA[1]}
    return Answer({"CodeResult": "100", "ErrorMessage": "success",
                   "ZOAList": [{"OAID": oa, "OAName": names.get(oa, f"OA {oa}")}
                               for oa in oas]})


def get_quota(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST ZNS/GetQuota/``: [choice] the documented V2 example's numbers for any known OA."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed"))
    _known_oa(api, text(params.get("OAID")))
    return Answer({"CodeResult": "100", "DailyQuota": 5000, "DailyQuotaPromotion": 0,
                   "ErrorMessage": "success", "EstimatedNextMonthPromotionQuota": 425,
                   "MonthlyPromotionQuota": 403, "RemainingMonthlyPromotionQuota": 403,
                   "RemainingQuota": 4992, "RemainingQuotaPromotion": 0})


def get_quality(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST ZNS/GetQuality/``: [choice] HIGH both ways for any known OA."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed"))
    _known_oa(api, text(params.get("OAID")))
    return Answer({"CodeResult": "100", "ErrorMessage": "success", "Oa7dayQuality": "HIGH",
                   "OaCurrentQuality": "HIGH"})


DEFAULT_RATING: Mapping[str, Any] = {
    "feedbacks": ["Nhân viên tư vấn nhiệt tình, thái độ vui vẻ, dễ thương",
                  "Chính sách hỗ trợ rõ ràng, đầy đủ và dễ hiểu", "Chất lượng sản phẩm rất tốt",
                  "Giao hàng nhanh", "Dịch vụ chăm sóc rất tốt"],
    "msgId": "5dcf84fe1fd8bd85e4ca", "note": "", "rate": 5, "submitDate": "1659750276218",
    "trackingId": "",
}
"""[choice] The one rating every known OA's templates have (the documented example)."""

DEFAULT_FOLLOWERS = ("7800378501923859642", "4176617840488517388", "7000997455428487634",
                     "5889364632581220929")
"""[choice] The followers of every known OA (the documented example's four user ids)."""

DEFAULT_USERS = ("7406454492343693107", "7210831021380318952", "961919545811768483",
                 "6559140676281540092")
"""[choice] The user ids ``QueryListUID/`` lists for every known OA (the documented example)."""

MAX_RATINGS = 50
"""``ZNS/GetRating/``: "Tối đa mỗi request giới hạn 50 đánh giá"."""
MAX_UID_OFFSET, MAX_UID_COUNT = 9950, 50
"""``QueryListUID/``: ``Offset`` at most 9950, ``Count`` at most 50."""


def _whole(params: Mapping[str, Any], name: str, default: int, maximum: int,
           code: int | None = None, message: str = "") -> int:
    """A paging number from 0 (``Count``/``Limit`` from 1) to ``maximum``; else ``code`` with
    ``message``, or (``None``) an invalid request."""
    value = text(params.get(name))
    if not value:
        return default
    least = 0 if name == "Offset" else 1
    if not value.isdigit() or not least <= int(value) <= maximum:
        explain = f"{name} {value!r}: a whole number from {least} to {maximum}"
        if code is None:
            raise invalid_request(explain)
        raise Reject(code, message, explain=explain)
    return int(value)


def _time(params: Mapping[str, Any], name: str, fmt: str, shown: str, code: int | None = None,
          message: str = "") -> None:
    """``name`` is empty or a date in ``fmt``; else ``code`` with ``message``, or (``None``) an
    invalid request."""
    value = text(params.get(name))
    if not value:
        return
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        explain = f"{name} {value!r}: {shown} is required"
        if code is None:
            raise invalid_request(explain) from None
        raise Reject(code, message, explain=explain) from None


def get_rating(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST ZNS/GetRating/``: [choice] the documented rating for any known OA, paged."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed"))
    api.check(endpoint.schema, params)
    _known_oa(api, text(params.get("OAID")))
    for name in ("FromTime", "ToTime"):
        _time(params, name, "%Y-%m-%d %H:%M:%S", "yyyy-mm-dd hh:mm:ss")
    offset = _whole(params, "Offset", 0, 1_000_000)
    limit = _whole(params, "Limit", MAX_RATINGS, MAX_RATINGS)
    ratings = [dict(DEFAULT_RATING)]
    return Answer({"CodeResult": "100", "Data": ratings[offset:offset + limit],
                   "ErrorMessage": "success", "Total": len(ratings)})


def get_followers(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST ZNS/GetFollowers/``: [choice] the documented followers for any known OA."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed"))
    api.check(endpoint.schema, params)
    _known_oa(api, text(params.get("OAID")))
    offset = _whole(params, "Offset", 0, 1_000_000)
    count = _whole(params, "Count" if text(params.get("Count")) else "Limit", 50, 50)
    return Answer({"CodeResult": "100", "ErrorMessage": "success",
                   "Followers": [{"User_Id": uid}
                                 for uid in DEFAULT_FOLLOWERS[offset:offset + count]],
                   "Total": len(DEFAULT_FOLLOWERS)})


def query_list_uid(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST QueryListUID/``: [choice] the documented user ids for any known OA; 161 for a
    date not ``dd/MM/yyyy``, 162 for an ``Offset`` or ``Count`` out of range."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed"))
    api.check(endpoint.schema, params)
    _known_oa(api, text(params.get("OAID")))
    for name in ("FromDate", "ToDate"):
        _time(params, name, "%d/%m/%Y", "dd/MM/yyyy", 161, f"{name} is invalid date format.")
    offset = _whole(params, "Offset", 0, MAX_UID_OFFSET, 162, "Offset is invalid.")
    count = _whole(params, "Count", MAX_UID_COUNT, MAX_UID_COUNT, 162, "Count is invalid.")
    users = list(DEFAULT_USERS) if text(params.get("IsFollower")) != "0" else []
    return Answer({"CodeResult": "100",
                   "Data": {"Count": count, "Offset": offset, "Total": len(users),
                            "Users": users[offset:offset + count]}})


def get_balance(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``GetBalance_json`` (and the legacy ``GetBalance/{ApiKey}/{SecretKey}``)."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body={"Balance": 0, "CodeResponse": "101",
                                   "ErrorMessage": "Authorize Failed"})
    return Answer({"Balance": number(api.state.balance()), "CodeResponse": "100",
                   "UserID": api.settings.user_id})


def get_list_brandname(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``GET GetListBrandname/{ApiKey}/{SecretKey}``: the registered brandnames (Type 2)."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed"))
    brands = api.settings.brandnames or ("DLRMOCK",)
    return Answer({"CodeResponse": "100",
                   "ListBrandName": [{"Brandname": brand, "Type": 2} for brand in brands]})


def _segments(content: str, unicode: bool) -> int:
    """[choice] SMS parts: 160 characters each (70 with IsUnicode), at least one."""
    size = 70 if unicode else 160
    return max(1, -(-len(content) // size))


def summary_sms(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``GET SummaryMultipleMessage_V4_get``: what a customer-care send would cost."""
    from .esms import _SMS_TYPES

    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed."))
    api.check(endpoint.schema, params)
    sms_type = text(params.get("SmsType")) or "2"
    brand = text(params.get("Brandname"))
    brandnames = api.settings.brandnames
    if brandnames and brand not in brandnames and sms_type != "8":  # 8 sends without one
        raise Reject(104, "Brand name code is not exist",
                     explain=f"brandname {brand!r} is not registered (the brandnames setting: "
                     f"{', '.join(brandnames)})")
    phones = [api.phone(p.strip()) for p in text(params.get("Phone")).split(",") if p.strip()]
    # Priced by the TypeId the send is charged at, as GetBalance_json counts it (8 sends as 2).
    type_id = _SMS_TYPES[sms_type][1] if sms_type in _SMS_TYPES else sms_type
    parts = _segments(text(params.get("Content")), text(params.get("IsUnicode")) == "1")
    price = float(api.settings.esms_unit_prices.get(type_id, 0)) * parts * len(phones)
    return Answer({"CodeResult": "100", "ErrorMessage": "success", "TotalPrice": number(price),
                   "TotalReceiver": len(phones)})


def summary_zalo(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST SummaryZaloMessage_V4_post_json/``: what a ZNS send would cost."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed"))
    api.check(endpoint.schema, params)
    api.check_oa(text(params.get("OAID")), text(params.get("TempID")) or None)
    phone = api.phone(params.get("Phone"))
    price = float(api.settings.esms_unit_prices.get("25", 0))
    return Answer({"CodeResult": "100", "ErrorMessage": "success", "TotalPrice": number(price),
                   "TotalReceiver": len([phone])})


def _endpoints() -> tuple[EsmsEndpoint, ...]:
    def lookup(name: str, method: str, schema: str, handler: Any, *, errors: str = "query",
               path_keys: tuple[str, ...] = ()) -> EsmsEndpoint:
        return EsmsEndpoint(name, method, schema, "lookup", answer=f"{schema[:-8]}.response",
                            body="query" if method == "GET" else "json", errors=errors,
                            handler=handler, path_keys=path_keys)

    keys = ("ApiKey", "SecretKey")
    return (
        lookup("GetTemplate", "POST", "esms.lookup.template.request", get_template),
        lookup("GetZnsTemplateInfo", "GET", "esms.lookup.zns_template_info.request",
               get_zns_template_info),
        lookup("ZNS/GetListZOA", "POST", "esms.lookup.keys.request", get_list_zoa),
        lookup("ZNS/GetQuota", "POST", "esms.lookup.oa.request", get_quota),
        lookup("ZNS/GetQuality", "POST", "esms.lookup.oa.request", get_quality),
        lookup("ZNS/GetRating", "POST", "esms.lookup.rating.request", get_rating),
        lookup("ZNS/GetFollowers", "POST", "esms.lookup.followers.request", get_followers),
        lookup("QueryListUID", "POST", "esms.lookup.uid_list.request", query_list_uid),
        lookup("GetBalance_json", "POST", "esms.lookup.keys.request", get_balance,
               errors="status"),
        lookup("GetBalance", "GET", "esms.lookup.keys.request", get_balance, errors="status",
               path_keys=keys),
        lookup("GetListBrandname", "GET", "esms.lookup.keys.request", get_list_brandname,
               path_keys=keys),
        lookup("SummaryMultipleMessage_V4_get", "GET", "esms.lookup.summary.request",
               summary_sms),
        lookup("SummaryZaloMessage_V4_post_json", "POST", "esms.lookup.summary.request",
               summary_zalo),
    )


ENDPOINTS = _endpoints()
