"""eSMS voice calls (host ``voiceapi.esms.vn``): ``MakeCallTemplate_V2``, ``MakeCallRecord_V2``,
the legacy ``VoiceOTP`` of eSMS's PHP sample, and ``GetSendStatus?ReferenceId=``.

Each call goes through ``_Esms.accept`` like every send: its outcome comes from the number's
magic suffix, its callback is the ``esms.voice.call`` receipt kind (a GET with
``ReferenceId, CallDuration, CallStatus, Ivr, Price, SentResult, CID, SendStatus``). The voice
``GetSendStatus`` shares the SMS one's path and is told apart by ``ReferenceId``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._esms_common import (
    AUTHORIZE_FAILED,
    EsmsEndpoint,
    Handler,
    SendPlan,
    as_int,
    invalid_request,
    text,
)
from ._exchange import Answer, Exchange, Reject
from ._messages import SentMessage

if TYPE_CHECKING:
    from .esms import _Esms

__all__ = ["ENDPOINTS", "VOICE_KIND", "voice_status"]

VOICE_KIND = "esms.voice.call"
"""The receipt kind of a call's callback."""
VOICE_TYPE = "voice"
"""The ``esms_unit_prices`` key of a call."""
_VOICE_DATE = re.compile(r"^$|^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$")
_VOICES = ("", "male", "female", "hatieumai", "ngoclam")


def _refuse(code: int, message: str, explain: str) -> Reject:
    """Voice errors carry no ``CountRegenerate`` (``voice-MakeCallTemplate_V2-104.json``)."""
    return Reject(code, message, explain=explain,
                  body={"CodeResult": str(code), "ErrorMessage": message})


def _check(api: _Esms, params: Mapping[str, Any]) -> str:
    """The common checks of a call; its local phone number."""
    api.authenticate(params, body=AUTHORIZE_FAILED)
    request_id = text(params.get("RequestId"))
    if len(request_id) > 50:
        raise invalid_request(f"RequestId is {len(request_id)} characters long; eSMS allows "
                              "at most 50")
    send_date = text(params.get("SendDate"))
    if not _VOICE_DATE.fullmatch(send_date):
        raise invalid_request(f"SendDate {send_date!r}: voice calls write it yyyy/MM/dd "
                              "hh:mm:ss, e.g. 2017/12/12 14:00:00")
    voice = text(params.get("Voice")).lower()
    if voice not in _VOICES:
        raise invalid_request(f"Voice {voice!r}: one of {', '.join(v for v in _VOICES if v)}")
    speed = text(params.get("Speed"))
    if speed and (not re.fullmatch(r"-?[0-9]", speed) or not -3 <= int(speed) <= 3):
        raise invalid_request(f"Speed {speed!r}: from -3 to 3")
    return api.phone(params.get("Phone"))


def _call(api: _Esms, endpoint: EsmsEndpoint, params: Mapping[str, Any], phone: str,
          fields: dict[str, Any]) -> Answer:
    request_id = text(params.get("RequestId"))
    api.claim(endpoint, request_id)
    plan = SendPlan(VOICE_KIND, VOICE_TYPE, [phone], fields=fields)
    try:
        answer = api.accept(endpoint, params, plan, request_id, api.choice())
    except BaseException:
        if request_id:
            api.state.release_request_id(request_id)
        raise
    # The documented answer has no CountRegenerate (voice-MakeCall-100.json).
    answer.payload = {"CodeResult": "100", "SMSID": answer.payload["SMSID"]}
    return answer


def _registered(params: Mapping[str, Any], known: Sequence[str], code: int, message: str,
                what: str, setting: str) -> str:
    """The call's ``TemplateId``, refused with ``code`` unless ``known`` (empty: any) has it."""
    value = text(params.get("TemplateId"))
    if not value or (known and value not in known):
        raise _refuse(code, message, f"TemplateId {value!r} is not {what} (the {setting} "
                                     f"setting: {', '.join(known) or 'any'})")
    return value


def make_call_template(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``GET MakeCallTemplate_V2``: a call reading a registered script with its variables."""
    params = api.params(endpoint, exchange)
    phone = _check(api, params)
    api.check(endpoint.schema, params)
    template = _registered(params, api.settings.voice_templates, 104, "Template not found",
                           "a registered call script", "voice_templates")
    return _call(api, endpoint, params, phone, {"template_id": template})


def make_call_record(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``GET MakeCallRecord_V2``: a call playing a recording (``TemplateId`` = its id)."""
    params = api.params(endpoint, exchange)
    phone = _check(api, params)
    api.check(endpoint.schema, params)
    record = _registered(params, api.settings.voice_records, 106, "File ghi âm không tồn tại.",
                         "an uploaded recording", "voice_records")
    fields: dict[str, Any] = {"record_id": record}
    ivr = text(params.get("Ivr"))
    if ivr:
        fields["ivr"] = ivr
    return _call(api, endpoint, params, phone, fields)


def voice_otp(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``GET VoiceOTP`` (legacy, eSMS's PHP sample): a call reading ``Code``."""
    params = api.params(endpoint, exchange)
    phone = _check(api, params)
    api.check(endpoint.schema, params)
    code = text(params.get("Code"))
    if not code.isdigit():
        raise invalid_request(f"Code {code!r}: the digits to read out")
    return _call(api, endpoint, params, phone, {"code": code})


def voice_status(sent: SentMessage) -> dict[str, Any]:
    """The voice ``GetSendStatus`` of a call, from its last callback played.

    [choice] Before a callback: ``SendStatus`` 2 (waiting), nothing answered. ``CallStatus``
    is ``ANSWERED`` or ``NOANSWERED`` (this API's spelling; the callback says ``NO ANSWER``).
    """
    played = [payload for part in sent.parts for payload in part.played]
    if played:
        last = played[-1]
        answered = text(last.get("SentResult")) == "1"
        return {"CallDuration": as_int(last.get("CallDuration")),
                "CallStatus": "ANSWERED" if answered else "NOANSWERED",
                "CodeResponse": "100", "Ivr": text(last.get("Ivr")),
                "ReferenceId": sent.id, "SendStatus": as_int(last.get("SendStatus")) or 5,
                "SentResult": 1 if answered else 0}
    part = sent.parts[0] if sent.parts else None
    final = part is not None and part.run_id is None and part.state == "final" \
        and part.final_hint != "pending"
    answered = final and part is not None and part.final_hint == "delivered"
    return {"CallDuration": 0, "CallStatus": ("ANSWERED" if answered else "NOANSWERED")
            if final else "", "CodeResponse": "100", "Ivr": "", "ReferenceId": sent.id,
            "SendStatus": 5 if final else 2, "SentResult": 1 if answered else 0}


def get_voice_status(api: _Esms, params: Mapping[str, Any]) -> Answer:
    """``GET GetSendStatus?ReferenceId=`` on the voice host."""
    api.authenticate(params, body={"CodeResult": "101", "CountRegenerate": 0,
                                   "ErrorMessage": "Authorize Failed"})
    smsid = text(params.get("ReferenceId"))
    sent = api.state.messages.find(smsid)
    if sent is None or sent.type_id != VOICE_TYPE:
        raise Reject(105, "Không tìm thấy mã tin nhắn/ Mã cuộc gọi trên hệ thống.",
                     explain=f"no call with ReferenceId {smsid!r} (the SMSID MakeCall "
                     "answered; dlrmock forgets them when restarted or reset)")
    with api.state.messages.lock:
        answer = voice_status(sent)
    return Answer(answer, message_ids=[smsid])


def _in_voice_shape(handler: Handler) -> Handler:
    """``handler`` with the refusals of the checks a call shares with the SMS sends (108, 124,
    103) in the voice APIs' error shape: no ``CountRegenerate``, as their documented 101/104."""
    def handle(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
        try:
            return handler(api, endpoint, exchange)
        except Reject as refused:
            if isinstance(refused.body, dict):
                refused.body.pop("CountRegenerate", None)
            raise

    return handle


def _endpoints() -> tuple[EsmsEndpoint, ...]:
    def call(name: str, handler: Handler) -> EsmsEndpoint:
        return EsmsEndpoint(name, "GET", f"esms.voice.{name.lower()}.request", "voice",
                            answer="esms.voice.call.response", body="query", errors="query",
                            type_ids="voice callback (esms.voice.call)",
                            handler=_in_voice_shape(handler))

    return (
        call("MakeCallTemplate_V2", make_call_template),
        call("MakeCallRecord_V2", make_call_record),
        call("VoiceOTP", voice_otp),
    )


ENDPOINTS = _endpoints()
