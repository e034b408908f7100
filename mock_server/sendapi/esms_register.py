"""eSMS's registration APIs: an SMS template, a ZNS template, an OA package.

``SubServicePreviewJson/``, ``RegisZNSTemplateJson/`` and ``RegisOAPackageJson/`` answer
``{"CodeResult": "100", "ErrorMessage": …, "ServicePreviewId": <number>}`` with the documented
texts; 101 for wrong keys, eSMS's ``{"error": "Invalid request"}`` for a missing required
field, 301 for an SMS template whose ``ServiceType`` is not 2, 199 for the same request again
while it is being processed. A template registration with a ``CallbackUrl`` plays
``esms.template.registration`` to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._esms_common import EsmsEndpoint, SendPlan, query_error, text
from ._exchange import Answer, Exchange, Reject

if TYPE_CHECKING:
    from .esms import _Esms

__all__ = ["ENDPOINTS", "PROCESSING_SECONDS", "REGISTRATION_KIND", "SERVICE_TYPES"]

REGISTRATION_KIND = "esms.template.registration"
"""The receipt kind played to a template registration's ``CallbackUrl``."""
REGISTRATION_TYPE = "registration"
"""The TypeId dlrmock files a registration under (eSMS has none; it costs nothing)."""

PROCESSING_SECONDS = 60.0
"""[choice] How long a registration is "being processed": the same request again within this
time is 199 "Yêu cầu này đã tồn tại, đang xử lý" (eSMS states no duration)."""
SERVICE_TYPES = ("2",)
"""[doc] "ServiceType = 2 là đăng ký Template CSKH hoặc Cố định giá rẻ"; others are 301."""
SMS_MODERATING = "ViHAT is moderating your template"
ZNS_CENSORING = "ViHAT is censoring trademark ownership"
"""[ex] The 100 answers' ``ErrorMessage`` (the OA package page copies the ZNS one)."""


def _refuse(code: int, message: str, explain: str) -> Reject:
    return Reject(code, message, explain=explain, body=query_error(code, message))


def _register(api: _Esms, endpoint: EsmsEndpoint, params: Mapping[str, Any],
              message: str) -> Answer:
    fingerprint = endpoint.name + json.dumps(
        {k: text(v) for k, v in params.items() if k not in ("ApiKey", "SecretKey")},
        sort_keys=True, ensure_ascii=False)
    preview_id = api.state.register(fingerprint, PROCESSING_SECONDS)
    if preview_id is None:
        raise _refuse(199, "Yêu cầu này đã tồn tại, đang xử lý",
                      f"the same {endpoint.name} request is still being processed (dlrmock "
                      f"answers 199 to a repeat within {PROCESSING_SECONDS:g} s)")
    answer = {"CodeResult": "100", "ErrorMessage": message, "ServicePreviewId": preview_id}
    callback = text(params.get("CallbackUrl"))
    if not callback or endpoint.name == "RegisOAPackageJson":
        return Answer(answer)
    # [choice] No phone, so no magic number: send.rules match the Content (``content``),
    # else the default outcome; delivered plays Status 1 then 2, failed 1 then 0.
    plan = SendPlan(REGISTRATION_KIND, REGISTRATION_TYPE, [""], by_user=True,
                    fields={"SMSID": str(preview_id)}, content=text(params.get("Content")))
    played = api.accept(endpoint, params, plan, "", api.choice())
    return Answer(answer, message_ids=played.message_ids, run_ids=played.run_ids,
                  explain=played.explain)


def _read(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> dict[str, Any]:
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=query_error(101, "Authorize Failed"))
    api.check(endpoint.schema, params)
    return params


def sms_template(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST SubServicePreviewJson/``: register an SMS template of a brandname."""
    params = _read(api, endpoint, exchange)
    service_type = text(params.get("ServiceType"))
    if service_type not in SERVICE_TYPES:
        raise _refuse(301, "Mã của loại dịch vụ chưa hỗ trợ.",
                      f"ServiceType {service_type!r}: eSMS registers templates of ServiceType 2 "
                      "(customer care or fixed number) only")
    brand = text(params.get("Brandname"))
    brandnames = api.settings.brandnames
    if brandnames and brand not in brandnames:
        raise _refuse(104, "Brand name code is not exist",
                      f"brandname {brand!r} is not on the account (the brandnames setting: "
                      f"{', '.join(brandnames)})")
    return _register(api, endpoint, params, SMS_MODERATING)


def zns_template(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST RegisZNSTemplateJson/``: register a ZNS template of an OA."""
    params = _read(api, endpoint, exchange)
    oaid = text(params.get("OAID"))
    if oaid:
        api.check_oa(oaid, None)
    return _register(api, endpoint, params, ZNS_CENSORING)


def oa_package(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST RegisOAPackageJson/``: buy an OA package (1 trial, 2 advanced, 3 premium)."""
    params = _read(api, endpoint, exchange)
    api.check_oa(text(params.get("OAID")), None)
    return _register(api, endpoint, params, ZNS_CENSORING)


def _endpoints() -> tuple[EsmsEndpoint, ...]:
    def register(name: str, schema: str, handler: Any, callback: str = "") -> EsmsEndpoint:
        return EsmsEndpoint(name, "POST", f"esms.register.{schema}.request", "register",
                            answer="esms.register.response", errors="query",
                            type_ids=callback, handler=handler)

    return (
        register("SubServicePreviewJson", "sms_template", sms_template, REGISTRATION_KIND),
        register("RegisZNSTemplateJson", "zns_template", zns_template, REGISTRATION_KIND),
        register("RegisOAPackageJson", "oa_package", oa_package),
    )


ENDPOINTS = _endpoints()
