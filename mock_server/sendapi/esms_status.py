"""eSMS's pull and query APIs over sent messages: GetCallback, GetSmsReceiverStatus_get,
QueryZnsStatus — and the OTP pair SendMessageAutoGenCode_* / CheckCodeGen_V4_get.

The answers are computed by small pure functions (``callback_data``, ``receiver_list``,
``zns_status``) from the sent batch and the callbacks already played, like ``status_of``.
"""

from __future__ import annotations

import json
import secrets
import string
import zlib
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .._wire import decode_error_info
from ..providers.esms import USER_INACTIVE, carrier_of
from ._esms_common import (
    AUTHORIZE_FAILED,
    EsmsEndpoint,
    SendPlan,
    as_float,
    as_int,
    invalid_request,
    refuse,
    text,
)
from ._exchange import Answer, Exchange, Reject
from ._messages import Part, SentMessage

if TYPE_CHECKING:
    from .esms import _Esms

__all__ = [
    "ENDPOINTS",
    "MAX_PAGE_SIZE",
    "MAX_REFIDS",
    "callback_data",
    "played",
    "receiver_list",
    "sent_data",
    "zns_status",
]

PROVIDER = "esms"
MAX_REFIDS = 200
""""Giới hạn 200 RefId" per GetCallback request; the rest are ignored."""
MAX_PAGE_SIZE = 500
"""``GetSmsSentData_V2``: "PageSize" at most 500 rows."""
VIETNAM = timezone(timedelta(hours=7))
"""eSMS's clock: ``From``/``To`` are read, and ``SentTime`` written, at +0700."""
NETWORK_NAMES = {"1": "Viettel", "2": "Mobifone", "3": "Vinaphone", "4": "Vietnamobile",
                 "5": "Gtel", "6": "Itel", "7": "Reddi", "9": "Zalo"}


def _error_info(value: Any) -> str | None:
    """``ErrorInfo`` as GetCallback shows it: Zalo's JSON text, then any trailer."""
    if value in (None, ""):
        return None
    try:
        decoded = decode_error_info(str(value))
    except ValueError:
        return str(value)
    data = json.dumps(decoded.data, ensure_ascii=False, separators=(",", ":"))
    return data + (decoded.trailer or "")


def played(sent: SentMessage) -> list[dict[str, Any]]:
    """The callbacks played for ``sent``, part by part, oldest first."""
    return [payload for part in sent.parts for payload in part.played]


def callback_data(sent: SentMessage) -> list[dict[str, Any]]:
    """``Data_callback`` entries of ``sent``: one per callback played (duplicates once), in
    the declaration order and types of the documented example."""
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for payload in played(sent):
        key = json.dumps(payload, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        telcoid = text(payload.get("telcoid"))
        entries.append({
            "SMSID": text(payload.get("SMSID")),
            "SendFailed": as_int(payload.get("SendFailed")),
            "SendSuccess": as_int(payload.get("SendSuccess")),
            "SendStatus": as_int(payload.get("SendStatus")),
            "TotalPrice": as_float(payload.get("TotalPrice", payload.get("Totalprice"))),
            "TotalReceiver": as_int(payload.get("TotalReceiver")),
            "TotalSent": as_int(payload.get("TotalSent")),
            "RequestId": text(payload.get("RequestId")) or None,
            "TypeId": as_int(payload.get("TypeId")),
            "Telcoid": as_int(telcoid) if telcoid else None,
            "PhoneNumber": text(payload.get("phonenumber")) or None,
            "CallbackUrl": sent.fields.get("CallbackUrl"),
            "Partnerids": text(payload.get("partnerids")) or None,
            "ErrorInfo": _error_info(payload.get("error_info")),
            "OAId": text(payload.get("oaid")) or None,
            "ZnsTempId": text(payload.get("tempid")) or None,
        })
    return entries


def receiver_list(sent: SentMessage) -> list[dict[str, Any]]:
    """``ReceiverList``: per number, sent (a callback came, or it ends without one) and how."""
    receivers = []
    for part in sent.parts:
        if part.played:
            done, ok = True, as_int(part.played[-1].get("SendSuccess")) > 0
        else:
            done = part.run_id is None and part.state == "final" and part.final_hint != "pending"
            ok = done and part.final_hint == "delivered"
        receivers.append({"IsSent": done,
                          "NetworkName": NETWORK_NAMES.get(carrier_of(part.phone) or "1",
                                                           "Viettel"),
                          "Phone": part.phone, "Retry": 0, "SentResult": ok})
    return receivers


def zns_status(sent: SentMessage) -> dict[str, Any]:
    """``QueryZnsStatus``'s ``Data`` for a ZNS message."""
    callbacks = played(sent)
    last = callbacks[-1] if callbacks else None
    if last is None:
        # No callback played: waiting (held, within its delay, never reported), or ended
        # without one (no webhook) as its outcome says — a failure with the error the failed
        # callback would have carried, as GetSendStatus counts it failed.
        part = sent.parts[0] if sent.parts else None
        done = part is not None and part.run_id is None and part.state == "final" \
            and part.final_hint != "pending"
        delivered = done and part is not None and part.final_hint == "delivered"
        error_info = None if not done else "0" if delivered else str(USER_INACTIVE["error"])
        return {"ErrorInfo": error_info, "FinalStatus": "1" if done else "0",
                "SMSID": sent.id, "SendFailed": int(done and not delivered),
                "SendStatus": 5 if done else 2, "SendSuccess": int(delivered),
                "TotalPrice": 0.0, "TotalReceiver": 1, "TotalSent": int(done),
                "ZaloMsgId": None}
    failed = as_int(last.get("SendFailed")) > 0
    info = _error_info(last.get("error_info")) or ""
    try:
        code = str(json.loads(info[:info.rindex("}") + 1]).get("error", 0)) if info else "0"
    except ValueError:
        code = "0"
    return {
        "ErrorInfo": code if failed else "0",
        "FinalStatus": "1",
        "SMSID": sent.id,
        "SendFailed": as_int(last.get("SendFailed")),
        "SendStatus": as_int(last.get("SendStatus")),
        "SendSuccess": as_int(last.get("SendSuccess")),
        "TotalPrice": as_float(last.get("TotalPrice")),
        "TotalReceiver": as_int(last.get("TotalReceiver")),
        "TotalSent": as_int(last.get("TotalSent")),
        "ZaloMsgId": text(last.get("partnerids")) or None,
    }


def get_callback(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST ZaloCallback/GetCallback``: the callbacks played for messages sent with a
    ``CallbackUrl`` (the others have none to show, as documented)."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body={"Code": 101, "Message": "Authorize Failed"})
    api.check(endpoint.schema, params)
    data: list[dict[str, Any]] = []
    asked = [text(refid) for refid in params["ListRefid"]][:MAX_REFIDS]
    for smsid in asked:
        sent = api.state.messages.find(smsid)
        if sent is not None and sent.fields.get("CallbackUrl"):
            with api.state.messages.lock:
                data.extend(callback_data(sent))
    return Answer({"Code": 100, "Message": "Success", "Data_callback": data},
                  message_ids=[s for s in asked if api.state.messages.find(s) is not None])


def _sent(api: _Esms, smsid: str, code: int = 105) -> SentMessage:
    sent = api.state.messages.find(smsid)
    if sent is None:
        raise refuse(code, f"no message with SMSID {smsid!r} (the SMSID a send answered; "
                     "dlrmock forgets them when restarted or reset)")
    return sent


def get_receiver_status(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``GET GetSmsReceiverStatus_get?RefId=``: each number of the message."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=AUTHORIZE_FAILED)
    api.check(endpoint.schema, params)
    smsid = text(params.get("RefId"))
    sent = _sent(api, smsid)
    with api.state.messages.lock:
        receivers = receiver_list(sent)
    return Answer({"CodeResult": "100", "ReceiverList": receivers}, message_ids=[smsid])


def query_zns_status(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST QueryZnsStatus/``: a ZNS message's status (SmsType 24/25)."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=AUTHORIZE_FAILED)
    smsid = text(params.get("SmsId"))
    if not smsid:
        raise refuse(851, "SmsId is required: the SMSID a ZNS send answered")
    sent = _sent(api, smsid, 854)
    with api.state.messages.lock:
        data = zns_status(sent)
    return Answer({"CodeResult": "100", "Data": data}, message_ids=[smsid])


def zalo_message_status(payload: Mapping[str, Any], at: float) -> dict[str, Any]:
    """``GetZaloMessageStatus``'s ``Data`` for the callback that carried the message id."""
    delivered = as_int(payload.get("SendSuccess")) > 0
    return {"delivery_time": str(int(at * 1000)) if delivered else None,
            "message": "The message was delivered to the user's phone" if delivered
            else "The message has not been delivered to the user's phone",
            "status": 1 if delivered else 0}


def get_zalo_message_status(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST GetZaloMessageStatus``: a ZNS by Zalo's message id (a callback's ``partnerids``)."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body=AUTHORIZE_FAILED)
    message_id = text(params.get("MessageId"))
    if not message_id:
        raise refuse(851, "MessageId is required: the partnerids of a ZNS callback")
    for sent in reversed(api.state.messages.all()):
        for payload in played(sent):
            if text(payload.get("partnerids")) == message_id:
                return Answer({"CodeResult": "100",
                               "Data": zalo_message_status(payload, exchange.at),
                               "ErrorMessage": "success. "}, message_ids=[sent.id])
    raise refuse(854, f"no ZNS callback played with partnerids {message_id!r}")


# ------------------------------------------------------------------------ GetSmsSentData_V2
def _send_result(part: Part) -> int:
    """``SendResult``: 1 sent, 0 failed, 2 not known yet."""
    if part.played:
        return 1 if as_int(part.played[-1].get("SendSuccess")) > 0 else 0
    if part.run_id is None and part.state == "final" and part.final_hint != "pending":
        return 1 if part.final_hint == "delivered" else 0
    return 2


def wcf_date(at: float) -> str:
    """A .NET WCF JSON date at +0700: ``/Date(1705484048995+0700)/``."""
    return f"/Date({int(at * 1000)}+0700)/"


def sms_id(smsid: str) -> int:
    """[choice] ``SmsId``: eSMS shows an int; dlrmock's SMSIDs are hex, so a stable number made
    from it (the SMSID itself is ``ReferenceId``)."""
    return zlib.crc32(smsid.encode("utf-8")) % 100_000_000


def sent_data(sent: SentMessage) -> list[dict[str, Any]]:
    """``SentData`` rows of ``sent``: one per recipient, keys sorted as eSMS writes them."""
    rows = []
    for part in sent.parts:
        result = _send_result(part)
        last = part.played[-1] if part.played else None
        if last is not None:
            price = as_float(last.get("TotalPrice", last.get("Totalprice")))
            status = as_int(last.get("SendStatus")) or 5
        else:
            price = 0.0 if sent.sandbox or result == 0 else \
                as_float(sent.fields.get("UnitPrice")) * part.receivers
            status = 2 if result == 2 else 5
        rows.append({
            "Campaign": text(sent.fields.get("Campaign")),
            "Content": text(sent.fields.get("Content")),
            "Phone": part.phone or text(sent.fields.get("Phone")),
            "ReferenceId": sent.id,
            "SellPrice": float(price),
            "SendResult": result,
            "SendStatus": status,
            "SentTime": wcf_date(sent.created_at),
            "SmsId": sms_id(sent.id),
            "SmsType": as_int(sent.fields.get("SmsType") or sent.type_id),
        })
    return rows


def _local_time(params: Mapping[str, Any], name: str) -> float:
    value = text(params.get(name))
    try:
        at = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=VIETNAM)
    except ValueError:
        raise invalid_request(f"{name} {value!r}: a creation time yyyy-MM-dd HH:mm:ss (+0700) "
                              "is required") from None
    return at.timestamp()


def _positive(params: Mapping[str, Any], name: str, default: int, maximum: int) -> int:
    value = text(params.get(name))
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise invalid_request(f"{name} {value!r}: a whole number from 1 to {maximum}")
    return int(value)


def get_sent_data(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST GetSmsSentData_V2``: the messages created between ``From`` and ``To``
    (inclusive, +0700), oldest first, one row per recipient, a page at a time."""
    params = api.params(endpoint, exchange)
    api.authenticate(params, body={"CodeResult": "101", "ErrorMessage": "Authorize Failed."})
    api.check(endpoint.schema, params)
    start, end = _local_time(params, "From"), _local_time(params, "To")
    page = _positive(params, "Page", 1, 1_000_000)
    size = _positive(params, "PageSize", MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    sms_type = text(params.get("SmsType"))
    rows: list[dict[str, Any]] = []
    with api.state.messages.lock:
        for sent in sorted(api.state.messages.all(), key=lambda s: s.created_at):
            if sent.provider != PROVIDER or not start <= sent.created_at < end + 1:
                continue
            if sent.type_id == "registration":  # a template registration sends nothing
                continue
            if sms_type and text(sent.fields.get("SmsType") or sent.type_id) != sms_type:
                continue
            rows.extend(sent_data(sent))
    shown = rows[(page - 1) * size:page * size]
    return Answer({"CodeResult": "100", "CountTotal": len(rows), "SentData": shown},
                  message_ids=sorted({row["ReferenceId"] for row in shown}))


# ------------------------------------------------------------------------------- OTP codes
def _code(length: int, digits_only: bool) -> str:
    alphabet = string.digits if digits_only else string.digits + string.ascii_uppercase
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _alive(params: Mapping[str, Any], maximum: int) -> int:
    minutes = text(params.get("TimeAlive"))
    if not minutes:
        return 5
    if not minutes.isdigit() or not 2 <= int(minutes) <= maximum:
        raise invalid_request(f"TimeAlive {minutes!r}: minutes from 2 to {maximum} (5 when not "
                              "given)")
    return int(minutes)


def send_gencode_sms(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``GET SendMessageAutoGenCode_V4_get``: eSMS makes the code and sends it by SMS.

    [choice] The code is not in the answer (as documented); dlrmock tells it in the
    ``X-Dlrmock-Explain`` header and the captured send, and checks it in CheckCodeGen_V4_get.
    """
    params = api.params(endpoint, exchange)
    api.authenticate(params)
    api.check(endpoint.schema, params)
    minutes = _alive(params, 10)
    length = as_int(params.get("NumCharOfCode")) or 6
    if not 4 <= length <= 10:
        raise invalid_request(f"NumCharOfCode {length}: from 4 to 10 characters (6 when not "
                              "given)")
    template = text(params.get("message"))
    if "{OTP}" not in template:
        raise invalid_request("message must contain {OTP}, where eSMS puts the code")
    phone = api.phone(params.get("Phone"))
    api.check_brandname(params)
    code = _code(length, text(params.get("IsNumber")) == "1")
    answer = api.accept(endpoint, params, SendPlan("esms.sms.cskh", "2", [phone]), "", api.choice())
    api.state.add_code(phone, code, minutes * 60.0)
    answer.explain = f"code {code} for {phone}, valid {minutes} min"
    return answer


def send_gencode_multichannel(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST SendMessageAutoGenCode_V5``: the code by Zalo, by SMS when Zalo fails
    (``TypeId`` 2), or only made (``TypeId`` 1)."""
    params = api.params(endpoint, exchange)
    api.authenticate(params)
    api.check(endpoint.schema, params)
    minutes = _alive(params, 15)
    phone = api.phone(params.get("Phone"))
    code = _code(6, True)
    mode = text(params.get("TypeId")) or "2"
    if mode not in ("1", "2"):
        raise invalid_request(f"TypeId {mode!r}: 1 (only make the code) or 2 (make and send "
                              "it)")
    tempid = text(params.get("MultiChannelTempId")) or "0"
    zalo = SendPlan("esms.zns.normal", "25", [phone], channel="zalo",
                    fields={"oaid": "0", "tempid": tempid if tempid.isdigit() else "0"})
    zalo.then = SendPlan("esms.sms.cskh", "2", [phone], channel="sms")
    if mode == "1":
        zalo.callback = zalo.then.callback = ""  # made, not sent: no callbacks
    answer = api.accept(endpoint, params, zalo, "", api.choice())
    api.state.add_code(phone, code, minutes * 60.0)
    answer.explain = f"code {code} for {phone}, valid {minutes} min"
    return answer


def check_code(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``GET CheckCodeGen_V4_get``: 100 once for a live code, 117 otherwise (as the examples)."""
    params = api.params(endpoint, exchange)
    api.authenticate(params)
    api.check(endpoint.schema, params)
    raw_phone, code = text(params.get("Phone")), text(params.get("Code"))
    phone = api.phone(raw_phone)
    if not api.state.use_code(phone, code):
        raise Reject(117, f"{raw_phone}, Content: {code} Code Invalid",
                     explain=f"{code!r} is not a live code for {phone}: never made, already "
                     "used, or past its TimeAlive")
    return Answer({"CodeResult": "100", "CountRegenerate": 0,
                   "ErrorMessage": f"{raw_phone}, Content: Success!"})


def _endpoints() -> tuple[EsmsEndpoint, ...]:
    def api(name: str, method: str, schema: str, handler: Any, answer: str,
            errors: str = "query", type_ids: str = "", root: bool = False) -> EsmsEndpoint:
        return EsmsEndpoint(name, method, schema, "status", answer=answer,
                            body="query" if method == "GET" else "json", errors=errors,
                            handler=handler, type_ids=type_ids, root=root)

    return (
        api("ZaloCallback/GetCallback", "POST", "esms.pull.callback.request", get_callback,
            "esms.pull.callback.response", root=True),
        api("GetSmsReceiverStatus_get", "GET", "esms.pull.receivers.request",
            get_receiver_status, "esms.pull.receivers.response"),
        api("QueryZnsStatus", "POST", "esms.pull.zns_status.request", query_zns_status,
            "esms.pull.zns_status.response"),
        api("GetZaloMessageStatus", "POST", "esms.pull.zalo_message_status.request",
            get_zalo_message_status, "esms.pull.zalo_message_status.response"),
        api("GetSmsSentData_V2", "POST", "esms.pull.sent_data.request", get_sent_data,
            "esms.pull.sent_data.response"),
        api("SendMessageAutoGenCode_V4_get", "GET", "esms.otp.sms.request", send_gencode_sms,
            "esms.send.response", errors="send", type_ids="2"),
        api("SendMessageAutoGenCode_V5", "POST", "esms.otp.multichannel.request",
            send_gencode_multichannel, "esms.send.response", errors="send",
            type_ids="25, then 2"),
        api("CheckCodeGen_V4_get", "GET", "esms.otp.check.request", check_code,
            "esms.otp.check.response", errors="send"),
    )


ENDPOINTS = _endpoints()
