"""eSMS ``Send_zns_bulk_v4_post_json/``: one ZNS template, one content per recipient.

Each ``Data`` item is its own send (its own SMSID, RequestId and callback to the shared
``CallbackUrl``); an item that fails is reported inline in ``detail`` and the others still go,
as the documented answer shows (``"Message": "Sucess"`` and the lower-case ``detail`` included).
An item that makes the request invalid (a ``RequestId`` over 50 characters, an undocumented
``SendingMode``) refuses the whole request before any item is sent [choice]: eSMS documents
no per-item form of ``{"error": "Invalid request"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._esms_common import INVALID_REQUEST, invalid_request, refuse, text
from ._exchange import Answer, Exchange, Reject

if TYPE_CHECKING:
    from ._esms_common import EsmsEndpoint
    from .esms import _Esms

__all__ = ["MAX_ITEMS", "send_zns_bulk"]

MAX_ITEMS = 500
""""Mảng có kích thước tối đa 500 phần tử." (687 beyond)."""


def send_zns_bulk(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST Send_zns_bulk_v4_post_json/``: the per-recipient answers in ``detail``."""
    from .esms import canonical

    params = api.params(endpoint, exchange)
    api.authenticate(params)
    api.check(endpoint.schema, params)
    data = params["Data"]
    if len(data) > MAX_ITEMS:
        raise refuse(687, f"{len(data)} items in Data, at most {MAX_ITEMS} per request")
    oaid, tempid = text(params.get("OAID")), text(params.get("TempID"))
    if not oaid or not tempid:
        raise refuse(791, "missing OAID or TempID (shared by every item)")
    api.check_oa(oaid, tempid)
    choice = api.choice()
    shared = {k: v for k, v in params.items() if k not in ("Data", "RequestId")}
    items = [canonical(item) if isinstance(item, dict) else {} for item in data]
    for index, fields in enumerate(items):
        _check_item(api, index, {**shared, **fields})
    detail: list[dict[str, Any]] = []
    message_ids: list[str] = []
    run_ids: list[str] = []
    explain: list[str] = []
    for index, fields in enumerate(items):
        phone = text(fields.get("Phone"))
        request_id = text(fields.get("RequestId"))
        try:
            plan = api.plan_zns({**shared, **fields})
            api.claim(endpoint, request_id)
            try:
                answer = api.accept(endpoint, {**shared, **fields}, plan, request_id, choice)
            except BaseException:
                if request_id:
                    api.state.release_request_id(request_id)
                raise
        except Reject as rejected:
            if rejected.body == INVALID_REQUEST:  # the engine refused its callbacks
                for run_id in run_ids:
                    api.hooks.cancel(run_id)
                raise
            message = (f"The phone number {phone} is not valid." if rejected.code == 108
                       else rejected.message)
            detail.append({"CodeResult": str(rejected.code), "Phone": phone,
                           "ErrorMessage": message})
            explain.append(f"Data[{index}]: {rejected.explain or rejected.message}")
            continue
        smsid = answer.payload["SMSID"]
        message_ids.append(smsid)
        run_ids.extend(answer.run_ids)
        if answer.explain:
            explain.append(f"Data[{index}]: {answer.explain}")
        detail.append({"CodeResult": "100", "Phone": phone, "SMSID": smsid})
    success = len(message_ids)
    return Answer({"CodeResult": "100", "Message": "Sucess", "TotalFail": len(detail) - success,
                   "TotalSuccess": success, "detail": detail},
                  message_ids=message_ids, run_ids=run_ids, explain="; ".join(explain) or None)


def _check_item(api: _Esms, index: int, fields: dict[str, Any]) -> None:
    """An invalid request when item ``index`` makes it one; its other errors are its own."""
    request_id = text(fields.get("RequestId"))
    if len(request_id) > 50:
        raise invalid_request(f"Data[{index}]: RequestId is {len(request_id)} characters long; "
                              "eSMS allows at most 50")
    try:
        api.plan_zns(fields)
    except Reject as rejected:
        if rejected.body == INVALID_REQUEST:
            raise invalid_request(f"Data[{index}]: {rejected.explain}") from None
