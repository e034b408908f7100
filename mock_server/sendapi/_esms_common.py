"""What every eSMS API module shares: reading parameters as eSMS reads them, its error documents.

eSMS answers errors with its own short messages (``"Authorize Failed"``, ``"Request exist 1"``);
dlrmock keeps those byte for byte and puts its own explanation in the ``X-Dlrmock-Explain``
response header (:func:`refuse`). An invalid request gets eSMS's documented
``{"error": "Invalid request"}`` as the docs print it (:func:`invalid_request`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._exchange import Answer, ErrorShape, Exchange, Reject

__all__ = [
    "DOC_MESSAGES",
    "INVALID_REQUEST",
    "INVALID_REQUEST_CODE",
    "EsmsEndpoint",
    "Handler",
    "SendPlan",
    "as_float",
    "as_int",
    "esms_error",
    "flag",
    "invalid_request",
    "number",
    "query_error",
    "refuse",
    "status_error",
    "text",
    "with_invalid_request",
]

DOC_MESSAGES: Mapping[int, str] = {
    # Seen in the documented error examples, byte for byte.
    101: "Authorize Failed",
    104: "Brand name code is not exist",
    107: "Each request has at least 30 numbers to be approved",
    124: "Request exist 1",
    789: "TemplateId is not config",
    852: "Zalo UID Invalid",
    853: "Missing ZaloUid",
    # [choice] No example body exists: the error table's text (V2 bảng mã lỗi), verbatim.
    103: "Không đủ số dư để gửi tin.",
    105: "Không tìm thấy mã tin nhắn/ Mã cuộc gọi trên hệ thống.",
    108: "Số điện thoại không đúng định dạng.",
    118: "Loại tin nhắn không hỗ trợ.",
    120: "Danh sách số điện thoại gửi tin vượt quá giới hạn.",
    204: "OAID không tồn tại trên hệ thống.",
    210: "Không đúng payload theo quy định.",
    300: "Thiếu loại tin nhắn.",
    687: "Danh sách yêu cầu vượt quá 500 số điện thoại.",
    791: "Thiếu OA ID hoặc Template ID.",
    801: "Gửi tin chế độ Gửi vượt hạn mức không cho phép gửi tin hẹn giờ.",
    851: "Thiếu MessageId hoặc SMSID",
    854: "Không tìm thấy dữ liệu",
}
"""ErrorMessage of each eSMS code dlrmock answers with (codes not listed keep their explanation)."""


AUTHORIZE_FAILED: Mapping[str, Any] = {"CodeResult": "101", "ErrorMessage": "Authorize Failed"}
"""The 101 document the status, ZNS-status and voice APIs answer to wrong keys."""


INVALID_REQUEST: Mapping[str, Any] = {"error": "Invalid request"}
"""eSMS's answer to an invalid request, the document its docs show (the tab titled "99" of the
send pages; ``sendapi-examples/esms/error-99-invalid-request.json``), written like every other
answer. It has no ``CodeResult``: the error table's 99 ("phone blocked") is another thing."""
INVALID_REQUEST_CODE = 99
"""The code an invalid request is captured under (``CapturedSend.error``): the docs' tab title."""


def invalid_request(explain: str, *, status: int = 200,
                    headers: Mapping[str, str] | None = None) -> Reject:
    """An invalid request: eSMS's documented document, ``explain`` only in dlrmock's places
    (``X-Dlrmock-Explain``, the captured send, the journal)."""
    return Reject(INVALID_REQUEST_CODE, "Invalid request", status=status, headers=headers,
                  explain=explain, body=dict(INVALID_REQUEST))


def with_invalid_request(shape: ErrorShape) -> ErrorShape:
    """``shape``, answering :data:`INVALID_REQUEST` for the requests the shared exchange
    refuses itself (a wrong method, a body too large) under ``INVALID_REQUEST_CODE``."""
    def error(code: int | str, message: str) -> Any:
        if str(code) == str(INVALID_REQUEST_CODE):
            return dict(INVALID_REQUEST)
        return shape(code, message)

    return error


def refuse(code: int, explain: str, *, extra: Mapping[str, Any] | None = None,
           status: int = 200) -> Reject:
    """A send-API error in eSMS's words (``DOC_MESSAGES``), ``explain`` in the response header.

    ``extra`` members follow ``ErrorMessage`` (e.g. 124's ``"SendStatus": "5"``).
    """
    message = DOC_MESSAGES.get(code, explain)
    body = {**esms_error(code, message), **(extra or {})}
    return Reject(code, message, explain=explain, body=body, status=status)


def esms_error(code: int | str, message: str) -> dict[str, Any]:
    """eSMS's error document for the send APIs."""
    return {"CodeResult": str(code), "CountRegenerate": 0, "ErrorMessage": message}


def status_error(code: int | str, message: str) -> dict[str, Any]:
    """The error document of the APIs keyed ``CodeResponse`` (GetSendStatus, GetBalance_json)."""
    return {"CodeResponse": str(code), "ErrorMessage": message}


def query_error(code: int | str, message: str) -> dict[str, Any]:
    """The error document of the look-up APIs: ``CodeResult`` without ``CountRegenerate``."""
    return {"CodeResult": str(code), "ErrorMessage": message}


def text(value: Any) -> str:
    """A parameter as eSMS reads it: numbers and strings alike."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def flag(value: Any) -> bool:
    """``1`` / ``"1"`` / ``true`` / ``"True"``: on."""
    return text(value).lower() in ("1", "true")


def as_int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def as_float(value: Any) -> float:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return 0.0


def number(value: float) -> int | float:
    """A JSON number the way the .NET service writes it: ``36693``, not ``36693.0``."""
    return int(value) if float(value).is_integer() else round(value, 4)


@dataclass
class SendPlan:
    """What one accepted eSMS send plays: its receipt kind and TypeId, recipients, fields.

    ``then`` chains a fallback (multichannel): it is sent only when this one fails. ``callback``,
    ``sandbox`` and ``request_id`` override what the request's top level says (``None``: use it).
    """

    kind: str
    type_id: str
    phones: list[str]
    campaign: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    channel: str = ""
    """``zalo`` / ``sms`` in a multichannel send (its ``channel_magic_numbers``)."""
    by_user: bool = False
    """``phones`` are Zalo user ids / hashes, not numbers: no ``phonenumber``/``telcoid`` set."""
    callback: str | None = None
    named_callback: str = ""
    """The ``CallbackUrl`` the request itself named for this plan (not the default webhook)."""
    sandbox: bool | None = None
    request_id: str | None = None
    content: str = ""
    """What ``send.rules`` match as ``content``: the SMS text, or the template values joined."""
    template: str = ""
    then: SendPlan | None = None

    def chain(self) -> list[SendPlan]:
        """This plan and its fallbacks, in order."""
        plans: list[SendPlan] = []
        plan: SendPlan | None = self
        while plan is not None:
            plans.append(plan)
            plan = plan.then
        return plans


Handler = Callable[[Any, "EsmsEndpoint", Exchange], Answer]
"""An endpoint's own behaviour: ``(api, endpoint, exchange) -> Answer``."""

@dataclass(frozen=True)
class EsmsEndpoint:
    """One eSMS API, as the endpoint reference (docs/reference/endpoints.md) lists it."""

    name: str
    """The path under ``/MainService.svc/json/`` (``SendZaloMessage_V6/zalo_uid``)."""
    method: str
    schema: str
    """Request schema (``schemas/<schema>.json``)."""
    family: str
    """``sms`` (SmsType 2/8/23/24/25), ``ads``, ``viber``, ``zns``, ``follower``,
    ``zalo_uid``, ``hash_phone``, ``multichannel``, ``status`` or ``lookup``."""
    answer: str = "esms.send.response"
    """Response schema."""
    body: str = "json"
    """``json``, ``form`` (x-www-form-urlencoded; JSON accepted too) or ``query`` (GET)."""
    errors: str = "send"
    """Error document: ``send`` (CodeResult + CountRegenerate), ``status`` (CodeResponse),
    ``query`` (CodeResult)."""
    type_ids: str = ""
    """TypeId of the callbacks it causes (documentation)."""
    handler: Handler | None = None
    """Its own behaviour; ``None``: the generic send (or GetSendStatus for ``status``)."""
    path_keys: tuple[str, ...] = ()
    """Parameters given as trailing path segments (``GetBalance/{ApiKey}/{SecretKey}``)."""
    root: bool = False
    """Served at ``/<name>`` (another eSMS host's path), not under ``/MainService.svc/json/``."""
