"""eSMS.vn's APIs under ``/MainService.svc/json/``: the endpoint table, sends and GetSendStatus.

Parameter names are matched case-insensitively (``SandBox`` = ``Sandbox``, ``phone`` = ``Phone``)
on every endpoint, GET, POST JSON or POST form; numbers may come as strings or JSON numbers.
Answers are ``{"CodeResult": "100", "CountRegenerate": 0, "SMSID": …}`` or eSMS's error document
inside HTTP 200; an invalid request is eSMS's documented ``{"error": "Invalid request"}`` (HTTP
405 / 413 / 404 for a wrong method, a too large body, an unknown API). dlrmock's explanation is
in the ``X-Dlrmock-Explain`` header. The look-up APIs live in
:mod:`.esms_lookup`, the multichannel send in :mod:`.esms_multichannel`.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from .._errors import DlrmockError
from .._limits import loads_json
from ..providers.esms import carrier_of
from . import esms_bulk, esms_lookup, esms_multichannel, esms_register, esms_status, esms_voice
from ._esms_common import (
    INVALID_REQUEST_CODE,
    EsmsEndpoint,
    Handler,
    SendPlan,
    as_float,
    as_int,
    esms_error,
    flag,
    invalid_request,
    query_error,
    refuse,
    status_error,
    text,
    with_invalid_request,
)
from ._exchange import ALL_METHODS, Answer, ErrorShape, Exchange, Reject, first_problem, serve
from ._messages import Part, SentMessage, Starter
from ._model import AcceptedMessage, SendHooks
from ._outcomes import (
    SCENARIO_HEADER,
    Decision,
    ScenarioChoice,
    choose,
    decide,
    esms_scenario,
    final_state,
    magic_suffix,
)
from ._settings import SendSettings
from ._state import SendState

__all__ = [
    "ENDPOINTS",
    "MAX_PHONES",
    "MAX_REQUEST_ID",
    "UNKNOWN_CARRIER",
    "EsmsEndpoint",
    "esms_blueprint",
    "esms_error",
    "local_phone",
    "status_of",
]

PROVIDER = "esms"
SERVICE_PATHS = ("/MainService.svc/json", "/mainservice.svc/json")
"""eSMS's base path as documented, and in lower case as some of its own examples write it."""
SOAP_PATHS = ("/MainService.svc", "/mainservice.svc")
"""eSMS's SOAP service (``?wsdl``), which dlrmock refuses naming the JSON API to call."""

MAX_PHONES = 5000
"""Most numbers in one ``Phones`` list (eSMS's documented maximum for advertising SMS)."""
MAX_REQUEST_ID = 50
"""``RequestId``: "Độ dài tối đa 50 ký tự" on every V2 send page."""
MAX_ZALO_UID = 20
"""``ZaloUid``: "giới hạn 20 ký tự" (852 beyond)."""
UID_KIND = "esms.zns.uid"
"""The receipt kind of a ZNS sent by Zalo user id (eSMS's own UID callback sample)."""
UNKNOWN_CARRIER = "1"
"""[choice] telcoid of a number no carrier prefix matches (1 = Viettel, the largest)."""

_SHAPES: Mapping[str, ErrorShape] = {
    name: with_invalid_request(shape)
    for name, shape in (("send", esms_error), ("status", status_error), ("query", query_error))
}
"""Each API's error document; an invalid request (wrong method, body too large) is eSMS's."""


def _send(name: str, method: str, schema: str, family: str, type_ids: str,
          body: str = "json", handler: Handler | None = None) -> EsmsEndpoint:
    return EsmsEndpoint(name, method, schema, family, body=body, type_ids=type_ids,
                        handler=handler)


ENDPOINTS: tuple[EsmsEndpoint, ...] = (
    _send("SendMultipleMessage_V4_post_json", "POST", "esms.send.sms.request", "sms",
          "2, 23, 24, 25"),
    _send("SendMultipleMessage_V4_get", "GET", "esms.send.sms.request", "sms", "2, 23, 24, 25",
          body="query"),
    _send("SendMultipleMessage_V4_post", "POST", "esms.send.sms.request", "sms", "2, 24, 25",
          body="form"),
    _send("SendMultipleSMSBrandname_json", "POST", "esms.send.ads.request", "ads", "1"),
    _send("SendZaloMessage_V4_post_json", "POST", "esms.send.zns_v4.request", "zns", "25, 27"),
    _send("SendZaloMessage_V5_post", "POST", "esms.send.zns_v5.request", "zns", "25"),
    _send("SendZaloMessage_V6", "POST", "esms.send.zns_v6.request", "zns", "25"),
    _send("SendZaloMessage_V6/zalo_uid", "POST", "esms.send.zalo_uid.request", "zalo_uid", "25"),
    _send("SendZaloMessage_V6/hash_phone", "POST", "esms.send.hash_phone.request", "hash_phone",
          "25"),
    _send("SendZaloFollowerMessage_V5_post_json", "POST", "esms.send.follower_v5.request",
          "follower", "26"),
    _send("SendZaloFollowerMessage_V4_post_json", "POST", "esms.send.follower_v4.request",
          "follower", "26"),
    _send("Send_Multiple_Sms_OTT", "POST", "esms.send.viber.request", "viber", "23"),
    _send("MultiChannelMessage", "POST", "esms.send.multichannel.request", "multichannel",
          "24/25 (zalo), then 2 (sms)", handler=esms_multichannel.send_multichannel),
    EsmsEndpoint("Send_zns_bulk_v4_post_json", "POST", "esms.send.zns_bulk.request", "zns",
                 answer="esms.send.zns_bulk.response", type_ids="25",
                 handler=esms_bulk.send_zns_bulk),
    EsmsEndpoint("GetSendStatus", "GET", "esms.send.status.request", "status",
                 answer="esms.send.status.response", body="query", errors="status"),
    *esms_lookup.ENDPOINTS,
    *esms_status.ENDPOINTS,
    *esms_voice.ENDPOINTS,
    *esms_register.ENDPOINTS,
)
_BY_NAME = {endpoint.name.lower(): endpoint for endpoint in ENDPOINTS if not endpoint.root}
_ROOT = {endpoint.name.lower(): endpoint for endpoint in ENDPOINTS if endpoint.root}
_BY_PATH_KEYS = {endpoint.name.lower(): endpoint for endpoint in ENDPOINTS if endpoint.path_keys}

_CANONICAL = {name.lower(): name for name in (
    "ApiKey", "SecretKey", "Phone", "Phones", "Content", "Brandname", "SmsType", "IsUnicode",
    "Unicode", "Sandbox", "IsSandBox", "RequestId", "SendDate", "campaignid", "CallbackUrl",
    "Params", "TempData", "TempID", "OAID", "SendingMode", "IsJourney", "OrderId", "RefId",
    "Channels", "Data", "ZaloUid", "HashPhone", "Payload", "User_id", "TemplateId",
    "ListRefid", "MessageId", "SmsId", "Offset", "Count", "Limit", "ReferenceId",
    "VariableListStr", "Voice", "Speed", "NumberForward", "MaxRepeat", "MaxRetry",
    "TimeWaitToIvr", "WaitRetry", "Ivr", "Code", "From", "To", "Page", "PageSize",
    "FromDate", "ToDate", "FromTime", "ToTime", "IsFollower", "TagName",
)}
_PHONE = re.compile(r"^(?:\+?84|0)([1-9][0-9]{8,9})$")
_BARE_PHONE = re.compile(r"^([1-9][0-9]{8,9})$")
_HASH = re.compile(r"^[0-9a-fA-F]{64}$")
_SMS_TYPES = {"2": ("esms.sms.cskh", "2"), "8": ("esms.sms.cskh", "2"),
              "23": ("esms.viber.message", "23"), "24": ("esms.zns.priority", "24"),
              "25": ("esms.zns.normal", "25")}
_SENDING_MODES = ("", "1", "3")


def canonical(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """``raw`` with its keys in eSMS's documented spelling (``APIKEY`` → ``ApiKey``)."""
    return {_CANONICAL.get(str(key).lower(), str(key)): value for key, value in raw.items()}


def local_phone(value: Any) -> str | None:
    """``value`` as a local number ``0…`` (from ``0…``, ``84…``, ``+84…``), ``None`` if invalid.

    A JSON number that lost its leading zero (``912345678``) is accepted too.
    """
    digits = text(value).replace(" ", "")
    found = _PHONE.fullmatch(digits)
    if found is None and isinstance(value, int) and not isinstance(value, bool):
        found = _BARE_PHONE.fullmatch(digits)
    return "0" + found.group(1) if found else None


class _Esms:
    def __init__(self, settings: SendSettings, hooks: SendHooks, state: SendState) -> None:
        self.settings = settings
        self.hooks = hooks
        self.state = state

    def find(self, name: str, root: bool = False) -> EsmsEndpoint | None:
        segments = [segment for segment in name.split("/") if segment]
        if root:
            return _ROOT.get("/".join(segments).lower())
        endpoint = _BY_NAME.get("/".join(segments).lower())
        if endpoint is None and segments:
            keyed = _BY_PATH_KEYS.get(segments[0].lower())
            if keyed is not None and len(segments) == 1 + len(keyed.path_keys):
                endpoint = keyed
        return endpoint

    def serve(self, name: str, root: bool = False) -> Response:
        endpoint = self.find(name, root)
        if endpoint is None:
            shown = name if len(name) <= 100 else name[:97] + "..."
            return serve(
                Exchange(PROVIDER, f"esms.{shown}"), methods=ALL_METHODS,
                max_body=self.settings.max_body_bytes, error_shape=_SHAPES["send"],
                bad_request_code=INVALID_REQUEST_CODE, too_large_code=INVALID_REQUEST_CODE,
                hooks=self.hooks,
                handler=lambda _: self._unknown(shown),
            )
        handler = endpoint.handler or (
            type(self).status if endpoint.family == "status" else type(self).send)
        return serve(
            Exchange(PROVIDER, f"esms.{endpoint.name}"),
            methods=(endpoint.method,),
            max_body=self.settings.max_body_bytes,
            error_shape=_SHAPES[endpoint.errors],
            bad_request_code=INVALID_REQUEST_CODE,
            too_large_code=INVALID_REQUEST_CODE,
            hooks=self.hooks,
            handler=lambda ex: handler(self, endpoint, ex),
        )

    def soap(self) -> Response:
        """eSMS's SOAP service (``MainService.svc?wsdl``, its PHP sample's ``soap_client``):
        not emulated [choice], answered like an unknown API with the JSON path to call instead."""
        return serve(
            Exchange(PROVIDER, "esms.soap"), methods=ALL_METHODS,
            max_body=self.settings.max_body_bytes, error_shape=_SHAPES["send"],
            bad_request_code=INVALID_REQUEST_CODE, too_large_code=INVALID_REQUEST_CODE,
            hooks=self.hooks, handler=lambda _: self._soap_refused(),
        )

    @staticmethod
    def _soap_refused() -> Answer:
        query = request.query_string.decode("latin-1")
        what = f"{request.method} {request.path}{'?' + query if query else ''}"
        method = request.headers.get("SOAPAction", "").strip('" ').rsplit("/", 1)[-1]
        json_path = f"{SERVICE_PATHS[0]}/"
        named = _BY_NAME.get(method.lower())
        if named is not None:
            advice = f"call {json_path}{named.name} with the same fields instead"
        else:
            advice = (f"call the same method with the same fields at {json_path}<Method>, e.g. "
                      f"{json_path}SendMultipleMessage_V4_get")
        raise invalid_request(f"eSMS's SOAP service ({what[:200]}) is not emulated: dlrmock "
                              f"answers eSMS's JSON API; {advice}", status=404)

    @staticmethod
    def _unknown(name: str) -> Answer:
        emulated = ", ".join(e.name for e in ENDPOINTS)
        raise invalid_request(f"no eSMS API at {name!r} (dlrmock emulates {emulated})",
                              status=404)

    # -- reading the request
    def params(self, endpoint: EsmsEndpoint, exchange: Exchange) -> dict[str, Any]:
        raw: Any
        if endpoint.method == "GET":
            raw = {name: request.args.get(name, "") for name in request.args}
        elif endpoint.body == "form" and not exchange.body.lstrip().startswith(b"{"):
            try:
                raw = dict(parse_qsl(exchange.body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                raise invalid_request("Invalid request: the form body is not UTF-8") from None
            if not raw:
                raise invalid_request("Invalid request: empty body, an x-www-form-urlencoded "
                                      "form (Phone=…&Content=…&ApiKey=…) is required")
        else:
            if not exchange.body.strip():
                raise invalid_request("Invalid request: empty body, a JSON object is required")
            try:
                raw = loads_json(exchange.body, "the body")
            except (ValueError, RecursionError) as exc:
                raise invalid_request("Invalid request: body is not valid JSON: "
                                      f"{str(exc)[:200]}") from None
        if endpoint.path_keys and isinstance(raw, dict):
            segments = [segment for segment in request.path.split("/") if segment]
            raw = {**raw, **dict(zip(endpoint.path_keys, segments[-len(endpoint.path_keys):],
                                     strict=True))}
        exchange.json = raw
        if not isinstance(raw, dict):
            raise invalid_request("Invalid request: the body must be a JSON object, "
                                  f"got a JSON {type(raw).__name__}")
        return canonical(raw)

    def authenticate(self, params: Mapping[str, Any],
                     body: Mapping[str, Any] | None = None) -> None:
        """101 unless the keys are right; ``body``: the API's own 101 document."""
        if (text(params.get("ApiKey")) != self.settings.api_key
                or text(params.get("SecretKey")) != self.settings.secret_key):
            explain = ("wrong ApiKey or SecretKey (dlrmock accepts the api_key / secret_key "
                       "settings, by default 'dlrmock-api-key' / 'dlrmock-secret-key')")
            if body is not None:
                raise Reject(101, "Authorize Failed", explain=explain, body=dict(body))
            raise refuse(101, explain)

    @staticmethod
    def check(schema: str, params: Mapping[str, Any]) -> None:
        problem = first_problem(schema, params)
        if problem is not None:
            raise invalid_request(f"Invalid request: {problem}")

    @staticmethod
    def check_request_id(params: Mapping[str, Any]) -> None:
        request_id = text(params.get("RequestId"))
        if len(request_id) > MAX_REQUEST_ID:
            raise invalid_request(f"RequestId is {len(request_id)} characters long; eSMS "
                                  f"allows at most {MAX_REQUEST_ID}")

    def check_oa(self, oaid: str, tempid: str | None) -> None:
        """204 for an OA not configured, 789 for a template not configured for the OA."""
        oas = self.settings.zalo_oas
        if not oas:
            return
        if oaid not in oas:
            raise refuse(204, f"OAID not found: {oaid!r} (the zalo_oas setting lists "
                         f"{', '.join(sorted(oas))})")
        if tempid is not None and oas[oaid] and tempid not in oas[oaid]:
            raise refuse(789, f"template {tempid!r} is not configured for OA {oaid!r} "
                         f"(its templates: {', '.join(oas[oaid])})")

    # -- what each family sends
    def plan(self, endpoint: EsmsEndpoint, params: Mapping[str, Any]) -> SendPlan:
        """What the send plays, with what ``send.rules`` match (``content``, ``template``)."""
        plan = self._plan(endpoint, params)
        data = params.get("Params", params.get("TempData", params.get("Content")))
        if isinstance(data, Mapping):
            plan.content = " ".join(text(v) for v in data.values())
        elif isinstance(data, list):
            plan.content = " ".join(text(v) for v in data)
        else:
            plan.content = text(data)
        plan.template = text(params.get("TempID"))
        return plan

    def _plan(self, endpoint: EsmsEndpoint, params: Mapping[str, Any]) -> SendPlan:
        sms_type = text(params.get("SmsType"))
        if endpoint.family == "sms":
            if sms_type in ("24", "25"):
                return self.plan_zns_content(endpoint, params, sms_type)
            if sms_type not in _SMS_TYPES or (endpoint.body == "form" and sms_type != "2"):
                hint = " (advertising SMS goes through SendMultipleSMSBrandname_json)" \
                    if sms_type == "1" else ""
                types = "2 (customer care), 24/25 (Zalo full content)" \
                    if endpoint.body == "form" else \
                    "2 (customer care), 8 (fixed number), 23 (Viber), 24/25 (Zalo full content)"
                raise refuse(118, f"unsupported message type: SmsType {sms_type!r}{hint}; "
                             f"{endpoint.name} sends {types}")
            kind, type_id = _SMS_TYPES[sms_type]
            if sms_type != "8":
                self.check_brandname(params)
            return SendPlan(kind, type_id, [self.phone(params.get("Phone"))])
        if endpoint.family in ("ads", "viber"):
            expected = "1" if endpoint.family == "ads" else "23"
            if sms_type not in ("", expected):
                raise refuse(118, f"unsupported message type: SmsType {sms_type!r}; "
                             f"{endpoint.name} sends SmsType {expected}")
            self.check_brandname(params)
            phones = self.phones(params.get("Phones"))
            if endpoint.family == "viber":
                return SendPlan("esms.viber.message", "23", phones)
            if len(phones) < self.settings.ads_min_phones:
                raise refuse(107, f"advertising SMS needs at least {self.settings.ads_min_phones}"
                             f" numbers, got {len(phones)} (the ads_min_phones setting)")
            return SendPlan("esms.sms.ads", "1", phones, campaign=True,
                            fields={"receivers": len(phones)})
        if endpoint.family == "follower":
            return self.plan_follower(params)
        if endpoint.family in ("zalo_uid", "hash_phone"):
            return self.plan_zalo_user(endpoint, params)
        return self.plan_zns(params)

    def plan_zns_content(self, endpoint: EsmsEndpoint, params: Mapping[str, Any],
                         sms_type: str) -> SendPlan:
        """SmsType 24 (priority) / 25 (normal): a ZNS with full ``Content`` and an ``OAID``."""
        oaid = text(params.get("OAID"))
        if not oaid:
            raise refuse(791, f"SmsType {sms_type} on {endpoint.name} is a Zalo message: "
                         "it needs an OAID")
        self.check_oa(oaid, None)
        kind, type_id = _SMS_TYPES[sms_type]
        # [choice] a full-content ZNS has no template: its callback's tempid is TempID or "0".
        tempid = text(params.get("TempID")) or "0"
        return SendPlan(kind, type_id, [self.phone(params.get("Phone"))],
                        fields={"oaid": oaid, "tempid": tempid})

    def plan_zns(self, params: Mapping[str, Any]) -> SendPlan:
        """A template ZNS (TypeId 25, 27 with ``IsJourney``) to ``params['Phone']``."""
        oaid, tempid = text(params.get("OAID")), text(params.get("TempID"))
        if not oaid or not tempid:
            raise refuse(791, "missing OAID or TempID: a ZNS send names the OA (OAID) and its "
                         "approved template (TempID)")
        self.check_oa(oaid, tempid)
        mode = text(params.get("SendingMode"))
        if mode not in _SENDING_MODES:
            raise invalid_request(f"SendingMode {mode!r} is not documented; use 1 (normal, the "
                                  "default) or 3 (over quota, whitelisted OAs)")
        if mode == "3" and text(params.get("SendDate")):
            raise refuse(801, "SendingMode 3 (over quota) cannot be scheduled: drop SendDate")
        phone = self.phone(params.get("Phone"))
        fields = {"oaid": oaid, "tempid": tempid}
        if flag(params.get("IsJourney")):
            if not text(params.get("OrderId")):
                raise invalid_request("OrderId is required with IsJourney (the id of the "
                                      "journey)")
            return SendPlan("esms.zns.journey", "27", [phone], fields=fields)
        # SendingMode (normal / over quota) does not change the callback: TypeId 25.
        return SendPlan("esms.zns.normal", "25", [phone], fields=fields)

    def plan_follower(self, params: Mapping[str, Any]) -> SendPlan:
        oaid = text(params.get("OAID"))
        if not oaid:
            raise refuse(204, "missing OAID: a follower message names the OA that sends it")
        self.check_oa(oaid, None)
        payload = params.get("Payload")
        if payload is not None:
            recipient = payload.get("recipient") if isinstance(payload, dict) else None
            user_id = text(recipient.get("user_id")) if isinstance(recipient, dict) else ""
        else:
            user_id = text(params.get("User_id"))
        if not user_id:
            raise refuse(210, "the follower's Zalo user id is missing: Payload.recipient."
                         "user_id (V5) or User_id (V4)")
        return SendPlan("esms.zalo.follower", "26", [user_id], by_user=True,
                        fields={"oaid": oaid, "user_id": user_id})

    def plan_zalo_user(self, endpoint: EsmsEndpoint, params: Mapping[str, Any]) -> SendPlan:
        oaid, tempid = text(params.get("OAID")), text(params.get("TempID"))
        if not oaid or not tempid:
            raise refuse(791, "missing OAID or TempID")
        self.check_oa(oaid, tempid)
        if endpoint.family == "zalo_uid":
            uid = text(params.get("ZaloUid"))
            if not uid:
                raise refuse(853, "ZaloUid is required: the recipient's Zalo user id")
            if len(uid) > MAX_ZALO_UID:
                raise refuse(852, f"ZaloUid is {len(uid)} characters long; at most "
                             f"{MAX_ZALO_UID}")
            # The documented UID callback: TypeId 25, telcoid 9, phonenumber = the user id.
            return SendPlan(UID_KIND, "25", [uid], by_user=True,
                            fields={"oaid": oaid, "tempid": tempid, "user_id": uid})
        hashed = text(params.get("HashPhone"))
        if not _HASH.fullmatch(hashed):
            raise Reject(115, "Dữ liệu hashphone không đúng.",
                         explain=f"HashPhone {hashed[:80]!r} is not a SHA-256 hex digest "
                         "(64 hex digits) of the number")
        # docs/choices.md: the callback's phonenumber is the hash, its telcoid 9.
        return SendPlan("esms.zns.normal", "25", [hashed.lower()], by_user=True,
                        fields={"oaid": oaid, "tempid": tempid, "telcoid": "9",
                                "phonenumber": hashed.lower()})

    def check_brandname(self, params: Mapping[str, Any]) -> None:
        brandnames = self.settings.brandnames
        brand = text(params.get("Brandname"))
        if brandnames and brand not in brandnames:
            raise refuse(104, f"brandname {brand!r} is not registered (the brandnames setting: "
                         f"{', '.join(brandnames)})")

    @staticmethod
    def phone(value: Any) -> str:
        phone = local_phone(value)
        if phone is None:
            raise refuse(108, f"bad phone number format: {value!r}; use 0xxxxxxxxx or "
                         "84xxxxxxxxx")
        return phone

    def phones(self, value: Any) -> list[str]:
        values = value.split(",") if isinstance(value, str) else list(value)
        if len(values) > MAX_PHONES:
            raise refuse(120, f"{len(values)} numbers in Phones, at most {MAX_PHONES} per "
                         "request")
        return [self.phone(v.strip() if isinstance(v, str) else v) for v in values]

    def choice(self) -> ScenarioChoice | None:
        try:
            return choose(request.headers.get(SCENARIO_HEADER), PROVIDER)
        except ValueError as exc:
            raise invalid_request(str(exc)) from None

    def claim(self, endpoint: EsmsEndpoint, request_id: str) -> None:
        """124 when ``request_id`` was used within ``request_id_ttl``."""
        if request_id and not self.state.claim_request_id(request_id):
            # Only the POST-JSON customer-care page shows SendStatus next to the 124.
            extra = {"SendStatus": "5"} if endpoint.name == "SendMultipleMessage_V4_post_json" \
                else None
            raise refuse(124, f"RequestId {request_id!r} was used less than "
                         f"{self.settings.request_id_ttl:g} s ago", extra=extra)

    # -- the send APIs
    def send(self, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
        params = self.params(endpoint, exchange)
        self.authenticate(params)
        self.check_request_id(params)
        if endpoint.family == "sms" and not text(params.get("SmsType")):
            raise refuse(300, f"SmsType is missing; {endpoint.name} needs 2 (customer care), "
                         "8, 23 or 24/25")
        self.check(endpoint.schema, params)
        choice = self.choice()
        plan = self.plan(endpoint, params)
        request_id = text(params.get("RequestId"))
        self.claim(endpoint, request_id)
        try:
            return self.accept(endpoint, params, plan, request_id, choice)
        except BaseException:
            if request_id:
                self.state.release_request_id(request_id)
            raise

    def price(self, plan: SendPlan, sandbox: bool) -> float:
        """One message of ``plan`` (sandbox sends cost nothing)."""
        return 0.0 if sandbox else float(self.settings.esms_unit_prices.get(plan.type_id, 0))

    def accept(self, endpoint: EsmsEndpoint, params: Mapping[str, Any], plan: SendPlan,
               request_id: str, choice: ScenarioChoice | None) -> Answer:
        """Give out the SMSID, charge the send and plan its callbacks (one part per recipient).

        ``plan.then`` (multichannel) is a fallback: it gets its own callback, with the same
        SMSID, once the plan before it has failed (its run finished); a plan that does not fail
        ends the chain. Each channel's outcome: the scenario header (first channel only), the
        ``channel_magic_numbers``, then ``send.rules`` and the magic numbers.
        """
        smsid = secrets.token_hex(16) + str(secrets.randbelow(900) + 100)
        top_sandbox = flag(params.get("Sandbox")) or flag(params.get("IsSandBox"))
        top_callback = text(params.get("CallbackUrl")) or self.settings.webhook_for("esms")
        named_callback = text(params.get("CallbackUrl")) or plan.named_callback
        sent = SentMessage(smsid, PROVIDER, endpoint.name,
                           top_sandbox if plan.sandbox is None else plan.sandbox, plan.type_id,
                           fields={"RequestId": request_id, "CallbackUrl": named_callback or None,
                                   "Content": plan.content or text(params.get("Content")),
                                   "Campaign": text(params.get("campaignid")),
                                   "SmsType": text(params.get("SmsType")) or plan.type_id,
                                   "Phone": plan.phones[0] if plan.phones else "",
                                   "UnitPrice": self.price(plan, False)})
        targets = [plan.phones[0]] if plan.campaign else plan.phones
        receivers = len(plan.phones) if plan.campaign else 1
        explain: list[str] = []
        chains: list[tuple[str, list[_Leg]]] = []
        cost = 0.0
        for phone in targets:
            legs: list[_Leg] = []
            for index, step in enumerate(plan.chain()):
                # Each channel is matched by its own RequestId (multichannel: Data[i]'s).
                own_id = request_id if step.request_id is None else step.request_id
                decision = self.decide(endpoint, step, phone, own_id,
                                       choice if index == 0 else None, first=index == 0)
                sandbox = top_sandbox if step.sandbox is None else step.sandbox
                callback = top_callback if step.callback is None else step.callback or None
                legs.append(_Leg(step.kind, self.fields(smsid, phone, step, request_id, sandbox),
                                 callback, sandbox, decision.delay, decision.outcome,
                                 decision.scenario))
                channel = f"{step.channel}: " if step.channel else ""
                who = f"{phone}: " if phone else ""  # a registration has no phone
                explain.append(f"{who}{channel}{decision.outcome or decision.scenario} "
                               f"({decision.because})")
                ends = decision.outcome == "hold" or final_state(
                    None if decision.scenario else decision.outcome, decision.scenario) != "failed"
                if ends:
                    if decision.outcome != "hold":
                        cost += self.price(step, sandbox) * receivers
                    break
            chains.append((phone, legs))
        if not self.state.charge(cost):
            raise refuse(103, f"the balance ({self.state.balance():g}) cannot pay this send "
                         f"({cost:g}; the balance and esms_unit_prices settings)")
        run_ids: list[str] = []
        try:
            for phone, legs in chains:
                part = Part("" if plan.campaign else phone, receivers,
                            channels=max(1, sum(1 for leg in legs if leg.callback)))
                sent.parts.append(part)
                first = legs[0]
                if first.outcome == "hold":
                    self.state.messages.hold(sent, part, HELD,
                                             {"legs": [asdict(leg) for leg in legs]})
                    part.final_hint = "pending"
                    continue
                run_id = self._starter(sent, legs)(part, first.outcome, first.scenario)
                if run_id is not None:
                    run_ids.append(run_id)
        except (DlrmockError, ValueError) as exc:
            for run_id in run_ids:
                self.hooks.cancel(run_id)
            self.state.refund(cost)
            raise invalid_request(f"cannot play the callbacks: {exc}") from None
        self.state.messages.add(sent)
        return Answer({"CodeResult": "100", "CountRegenerate": 0, "SMSID": smsid},
                      message_ids=[smsid], run_ids=run_ids, explain="; ".join(explain))

    def decide(self, endpoint: EsmsEndpoint, plan: SendPlan, phone: str, request_id: str,
               choice: ScenarioChoice | None, first: bool) -> Decision:
        """How one channel of one recipient ends (see :meth:`accept`)."""
        decision = decide(self.settings, PROVIDER, choice, {
            "api": endpoint.name, "phone": phone, "content": plan.content,
            "template": plan.template, "request_id": request_id,
        }, self.state.rng)
        table = self.settings.channel_magic_numbers.get(plan.channel, {}) if plan.channel else {}
        best = magic_suffix(phone, table)
        if choice is None and best:
            decision = Decision(table[best], None, decision.delay,
                                f"channel_magic_numbers {plan.channel} suffix {best}")
        if not first and decision.outcome == "hold":
            # [choice] a fallback channel is not held: the message already played.
            decision = Decision("delivered", None, decision.delay, decision.because + ", not held")
        return decision

    def fields(self, smsid: str, phone: str, plan: SendPlan, request_id: str,
               sandbox: bool) -> dict[str, Any]:
        """The message fields of ``plan``'s callbacks for ``phone``."""
        message: dict[str, Any] = {
            "SMSID": smsid,
            "RequestId": request_id if plan.request_id is None else plan.request_id,
            "unit_price": self.price(plan, sandbox),
        }
        if not plan.campaign and not plan.by_user:
            message["phonenumber"] = phone
            message["telcoid"] = carrier_of(phone) or UNKNOWN_CARRIER
        message.update(plan.fields)
        return message

    def _held_starter(self, sent: SentMessage, recipe: Mapping[str, Any]) -> Starter:
        """The starter of a held part from its recipe (see :meth:`accept`)."""
        return self._starter(sent, [_Leg(**leg) for leg in recipe["legs"]])

    def _starter(self, sent: SentMessage, legs: list[_Leg], index: int = 0,
                 later: bool = False) -> Starter:
        """How a part of ``sent`` starts playing channel ``index`` of ``legs`` — now, when
        released, or (``later``) when the channel before it has failed."""
        def start(part: Part, outcome: str | None, named: str | None) -> str | None:
            leg = legs[index]
            fields = dict(leg.fields)
            if named is None:
                outcome = outcome or self.settings.default_outcome
                # A named scenario's own message decides the outcome.
                fields["outcome"] = "failed" if outcome == "failed" else "delivered"
            scenario = named or esms_scenario(leg.kind, outcome or "delivered")
            part.outcome, part.scenario = outcome, named
            part.final_hint = final_state(None if named else outcome, named)
            follow: Callable[[], str | None] | None = None
            if index + 1 < len(legs) and part.final_hint == "failed":
                after = legs[index + 1]
                if not leg.callback or scenario is None:  # nothing to wait for: next channel now
                    return self._starter(sent, legs, index + 1, later)(
                        part, after.outcome, after.scenario)
                follow = functools.partial(self._starter(sent, legs, index + 1, True), part,
                                           after.outcome, after.scenario)
            if not leg.callback or scenario is None:
                part.state = "final"
                return None
            run_id = self.state.messages.play(self.hooks.deliver, sent, part, AcceptedMessage(
                PROVIDER, sent.id, leg.callback, scenario, fields, leg.sandbox, delay=leg.delay,
                then=follow))
            if run_id is not None and later:  # the answer is long gone: nothing else releases it
                self.hooks.release([run_id])
            return run_id
        return start

    # -- GET GetSendStatus
    def status(self, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
        params = self.params(endpoint, exchange)
        if "ReferenceId" in params and "RefId" not in params:  # the voice host's status API
            return esms_voice.get_voice_status(self, params)
        smsid = text(params.get("RefId"))
        self.authenticate(params, body={"CodeResponse": "101", "SMSID": smsid})
        self.check(endpoint.schema, params)
        sent = self.state.messages.find(smsid)
        if sent is None:
            raise Reject(105, "Không tìm thấy mã tin nhắn/ Mã cuộc gọi trên hệ thống.",
                         explain=f"no message with SMSID {smsid!r} (RefId is the SMSID a send "
                         "answered; dlrmock forgets them when restarted or reset)")
        with self.state.messages.lock:
            answer = status_of(sent)
        return Answer(answer, message_ids=[smsid])


HELD = "esms"
"""The recipe kind of a held eSMS part (see
:meth:`~mock_server.sendapi._messages.MessageStore.hold`)."""


@dataclass(frozen=True)
class _Leg:
    """One channel of one recipient, as accepted: what it plays, where, and how it ends (plain
    data: a held part's recipe)."""

    kind: str
    """The :class:`SendPlan`'s kind (what :func:`esms_scenario` plays)."""
    fields: dict[str, Any]
    callback: str | None
    sandbox: bool
    delay: float
    outcome: str | None
    scenario: str | None


def status_of(sent: SentMessage) -> dict[str, Any]:
    """``GetSendStatus``'s answer for ``sent``, as far as its callbacks have been played.

    Per part, its last callback tells (duplicates count once); a part still waiting for its
    first callback (held, or within its receipt delay) or for a fallback channel's is waiting;
    a part that plays no callback at all ends as its outcome says (``no_receipt``: sent,
    waiting for the carrier report, forever). ``SendStatus`` is 5 when every part is final, 2
    when all are waiting, 7 otherwise.
    """
    parts = sent.parts
    success = failed = total = final = waiting = 0
    price = 0.0
    for part in parts:
        if part.played and len({str(p.get("TypeId")) for p in part.played}) < part.channels:
            waiting += 1  # a fallback channel has yet to call back
        elif part.played:
            last = part.played[-1]
            success += as_int(last.get("SendSuccess"))
            failed += as_int(last.get("SendFailed"))
            total += as_int(last.get("TotalSent"))
            price += as_float(last.get("TotalPrice", last.get("Totalprice")))
            final += as_int(last.get("SendStatus")) == 5
        elif part.state != "final" or part.run_id is not None:
            waiting += 1
        elif part.final_hint != "pending":
            final += 1
            total += part.receivers
            if part.final_hint == "failed":
                failed += part.receivers
            else:
                success += part.receivers
    status = 5 if final == len(parts) else 2 if waiting == len(parts) else 7
    return {
        "CodeResponse": "100",
        "SMSID": sent.id,
        "SendFailed": failed,
        "SendStatus": status,
        "SendSuccess": success,
        "TotalPrice": round(price, 4),
        "TotalReceiver": sum(p.receivers for p in parts),
        "TotalSent": total,
    }


class _AnyPath(PathConverter):
    """Werkzeug's ``path``, newlines included (an unknown API is still answered by eSMS)."""

    regex = r"[^/][\s\S]*?"


def esms_blueprint(settings: SendSettings, hooks: SendHooks, state: SendState) -> Blueprint:
    """The eSMS routes: every API under both spellings of the base path, trailing slash optional,
    the API name matched case-insensitively."""
    api = _Esms(settings, hooks, state)
    state.messages.starters[HELD] = api._held_starter
    blueprint = Blueprint("dlrmock_send_esms", __name__)
    # Any path under the base is eSMS's to answer, control characters included.
    def converter(setup: BlueprintSetupState) -> None:
        setup.app.url_map.converters.setdefault("esms_path", _AnyPath)

    blueprint.record_once(converter)

    def esms_api(name: str) -> Response:
        return api.serve(name)

    for number, base in enumerate(SERVICE_PATHS):
        blueprint.add_url_rule(f"{base}/<esms_path:name>", endpoint=f"api_{number}",
                               view_func=esms_api, strict_slashes=False, methods=ALL_METHODS)
    # A refusal, not an API (no endpoint-table row), like the unknown-API rules above.
    spellings = ", ".join(f'"{path.lstrip("/")}"' for path in SOAP_PATHS)
    blueprint.add_url_rule(f"/<any({spellings}):_service>", endpoint="soap",
                           view_func=lambda _service: api.soap(), methods=ALL_METHODS)
    for endpoint in _ROOT.values():
        blueprint.add_url_rule(f"/{endpoint.name}", endpoint=f"root_{endpoint.name}",
                               view_func=lambda name=endpoint.name: api.serve(name, root=True),
                               strict_slashes=False, methods=ALL_METHODS)
    return blueprint
