"""eSMS.vn's send APIs under ``/MainService.svc/json/`` and ``GetSendStatus``.

Parameter names are matched case-insensitively (``SandBox`` = ``Sandbox``, ``phone`` = ``Phone``)
on every endpoint, GET or POST; numbers may come as strings or JSON numbers. Answers are
``{"CodeResult": "100", "CountRegenerate": 0, "SMSID": …}`` or ``{"CodeResult": "<code>",
"CountRegenerate": 0, "ErrorMessage": …}`` inside HTTP 200 (405 / 413 / 404 for a wrong method,
a too large body, an unknown API).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, request

from .._errors import DlrmockError
from .._limits import loads_json
from ..providers.esms import carrier_of
from ._exchange import ALL_METHODS, Answer, Exchange, Reject, first_problem, serve
from ._messages import Part, SentMessage
from ._model import AcceptedMessage, SendHooks
from ._outcomes import (
    SCENARIO_HEADER,
    ScenarioChoice,
    choose,
    decide,
    esms_scenario,
    final_state,
)
from ._settings import SendSettings
from ._state import SendState

__all__ = [
    "ENDPOINTS",
    "MAX_PHONES",
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

MAX_PHONES = 5000
"""Most numbers in one ``Phones`` list (eSMS's documented maximum for advertising SMS)."""
UNKNOWN_CARRIER = "1"
"""[choice] telcoid of a number no carrier prefix matches (1 = Viettel, the largest)."""


@dataclass(frozen=True)
class EsmsEndpoint:
    """One eSMS API: its name (the last path segment), method, request schema and family."""

    name: str
    method: str
    schema: str
    family: str
    """``sms`` (SmsType 2/8/23), ``ads``, ``viber``, ``zns`` or ``status``."""


ENDPOINTS: tuple[EsmsEndpoint, ...] = (
    EsmsEndpoint("SendMultipleMessage_V4_post_json", "POST", "esms.send.sms.request", "sms"),
    EsmsEndpoint("SendMultipleMessage_V4_get", "GET", "esms.send.sms.request", "sms"),
    EsmsEndpoint("SendMultipleSMSBrandname_json", "POST", "esms.send.ads.request", "ads"),
    EsmsEndpoint("SendZaloMessage_V4_post_json", "POST", "esms.send.zns_v4.request", "zns"),
    EsmsEndpoint("SendZaloMessage_V5_post", "POST", "esms.send.zns_v5.request", "zns"),
    EsmsEndpoint("SendZaloMessage_V6", "POST", "esms.send.zns_v6.request", "zns"),
    EsmsEndpoint("Send_Multiple_Sms_OTT", "POST", "esms.send.viber.request", "viber"),
    EsmsEndpoint("GetSendStatus", "GET", "esms.send.status.request", "status"),
)
_BY_NAME = {endpoint.name.lower(): endpoint for endpoint in ENDPOINTS}

_CANONICAL = {name.lower(): name for name in (
    "ApiKey", "SecretKey", "Phone", "Phones", "Content", "Brandname", "SmsType", "IsUnicode",
    "Unicode", "Sandbox", "IsSandBox", "RequestId", "SendDate", "campaignid", "CallbackUrl",
    "Params", "TempData", "TempID", "OAID", "SendingMode", "IsJourney", "OrderId", "RefId",
)}
_PHONE = re.compile(r"^(?:\+?84|0)([1-9][0-9]{8,9})$")
_BARE_PHONE = re.compile(r"^([1-9][0-9]{8,9})$")
_SMS_TYPES = {"2": ("esms.sms.cskh", "2"), "8": ("esms.sms.cskh", "2"),
              "23": ("esms.viber.message", "23")}


def esms_error(code: int | str, message: str) -> dict[str, Any]:
    """eSMS's error document for the send APIs."""
    return {"CodeResult": str(code), "CountRegenerate": 0, "ErrorMessage": message}


def _status_error(code: int | str, message: str) -> dict[str, Any]:
    return {"CodeResponse": str(code), "ErrorMessage": message}


def _text(value: Any) -> str:
    """A parameter as eSMS reads it: numbers and strings alike."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _flag(value: Any) -> bool:
    return _text(value).lower() in ("1", "true")


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return 0.0


def local_phone(value: Any) -> str | None:
    """``value`` as a local number ``0…`` (from ``0…``, ``84…``, ``+84…``), ``None`` if invalid.

    A JSON number that lost its leading zero (``912345678``) is accepted too.
    """
    text = _text(value).replace(" ", "")
    found = _PHONE.fullmatch(text)
    if found is None and isinstance(value, int) and not isinstance(value, bool):
        found = _BARE_PHONE.fullmatch(text)
    return "0" + found.group(1) if found else None


@dataclass
class _Plan:
    kind: str
    type_id: str
    phones: list[str]
    campaign: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    content: str = ""
    """What rules match as ``content``: the SMS text, or the template parameters joined."""
    template: str = ""


class _Esms:
    def __init__(self, settings: SendSettings, hooks: SendHooks, state: SendState) -> None:
        self.settings = settings
        self.hooks = hooks
        self.state = state

    def serve(self, name: str) -> Response:
        endpoint = _BY_NAME.get(name.lower())
        if endpoint is None:
            shown = name if len(name) <= 100 else name[:97] + "..."
            return serve(
                Exchange(PROVIDER, f"esms.{shown}"), methods=ALL_METHODS,
                max_body=self.settings.max_body_bytes, error_shape=esms_error,
                bad_request_code=99, too_large_code=99, hooks=self.hooks,
                handler=lambda _: self._unknown(shown),
            )
        status = endpoint.family == "status"
        return serve(
            Exchange(PROVIDER, f"esms.{endpoint.name}"),
            methods=(endpoint.method,),
            max_body=self.settings.max_body_bytes,
            error_shape=_status_error if status else esms_error,
            bad_request_code=99,
            too_large_code=99,
            hooks=self.hooks,
            handler=(lambda ex: self.status(endpoint, ex)) if status
            else (lambda ex: self.send(endpoint, ex)),
        )

    @staticmethod
    def _unknown(name: str) -> Answer:
        raise Reject(99, f"unknown API {name!r}; dlrmock emulates "
                     f"{', '.join(e.name for e in ENDPOINTS)}", status=404)

    # -- reading the request
    def params(self, endpoint: EsmsEndpoint, exchange: Exchange) -> dict[str, Any]:
        raw: Any
        if endpoint.method == "GET":
            raw = {name: request.args.get(name, "") for name in request.args}
        else:
            if not exchange.body.strip():
                raise Reject(99, "Invalid request: empty body, a JSON object is required")
            try:
                raw = loads_json(exchange.body, "the body")
            except (ValueError, RecursionError) as exc:
                raise Reject(99, f"Invalid request: body is not valid JSON: {str(exc)[:200]}") \
                    from None
        exchange.json = raw
        if not isinstance(raw, dict):
            raise Reject(99, f"Invalid request: the body must be a JSON object, "
                         f"got a JSON {type(raw).__name__}")
        return {_CANONICAL.get(str(key).lower(), str(key)): value for key, value in raw.items()}

    def authenticate(self, params: Mapping[str, Any]) -> None:
        if (_text(params.get("ApiKey")) != self.settings.api_key
                or _text(params.get("SecretKey")) != self.settings.secret_key):
            raise Reject(101, "Authorize Failed: wrong ApiKey or SecretKey (dlrmock accepts the "
                         "api_key / secret_key settings, by default 'dlrmock-api-key' / "
                         "'dlrmock-secret-key')")

    @staticmethod
    def check(schema: str, params: Mapping[str, Any]) -> None:
        problem = first_problem(schema, params)
        if problem is not None:
            raise Reject(99, f"Invalid request: {problem}")

    # -- what each family sends
    def plan(self, endpoint: EsmsEndpoint, params: Mapping[str, Any]) -> _Plan:
        sms_type = _text(params.get("SmsType"))
        if endpoint.family == "sms":
            if sms_type not in _SMS_TYPES:
                hint = " (advertising SMS goes through SendMultipleSMSBrandname_json)" \
                    if sms_type == "1" else ""
                raise Reject(118, f"unsupported message type: SmsType {sms_type!r}{hint}; "
                             "this API sends 2 (customer care), 8 (fixed number), 23 (Viber)")
            kind, type_id = _SMS_TYPES[sms_type]
            if sms_type != "8":
                self.check_brandname(params)
            return _Plan(kind, type_id, [self.phone(params.get("Phone"))],
                         content=_text(params.get("Content")))
        if endpoint.family in ("ads", "viber"):
            expected = "1" if endpoint.family == "ads" else "23"
            if sms_type not in ("", expected):
                raise Reject(118, f"unsupported message type: SmsType {sms_type!r}; "
                             f"{endpoint.name} sends SmsType {expected}")
            self.check_brandname(params)
            phones = self.phones(params.get("Phones"))
            content = _text(params.get("Content"))
            if endpoint.family == "viber":
                return _Plan("esms.viber.message", "23", phones, content=content)
            if len(phones) < self.settings.ads_min_phones:
                raise Reject(107, f"advertising SMS needs at least {self.settings.ads_min_phones}"
                             f" numbers, got {len(phones)} (the ads_min_phones setting)")
            return _Plan("esms.sms.ads", "1", phones, campaign=True,
                         fields={"receivers": len(phones)}, content=content)
        return self.plan_zns(params)

    def plan_zns(self, params: Mapping[str, Any]) -> _Plan:
        oaid, tempid = _text(params.get("OAID")), _text(params.get("TempID"))
        if not oaid or not tempid:
            raise Reject(791, "missing OAID or TempID")
        oas = self.settings.zalo_oas
        if oas:
            if oaid not in oas:
                raise Reject(204, f"OAID not found: {oaid!r} (configured OAs: "
                             f"{', '.join(sorted(oas))})")
            if oas[oaid] and tempid not in oas[oaid]:
                raise Reject(789, f"template {tempid!r} is not configured for OA {oaid!r} "
                             f"(its templates: {', '.join(oas[oaid])})")
        phone = self.phone(params.get("Phone"))
        fields = {"oaid": oaid, "tempid": tempid}
        data = params.get("Params", params.get("TempData"))
        if isinstance(data, Mapping):
            content = " ".join(_text(v) for v in data.values())
        elif isinstance(data, list):
            content = " ".join(_text(v) for v in data)
        else:
            content = _text(data)
        if _flag(params.get("IsJourney")):
            kind, type_id = "esms.zns.journey", "27"
        elif _text(params.get("SendingMode")) in ("", "1"):
            kind, type_id = "esms.zns.normal", "25"
        else:
            kind, type_id = "esms.zns.priority", "24"
        return _Plan(kind, type_id, [phone], fields=fields, content=content, template=tempid)

    def check_brandname(self, params: Mapping[str, Any]) -> None:
        brandnames = self.settings.brandnames
        brand = _text(params.get("Brandname"))
        if brandnames and brand not in brandnames:
            raise Reject(104, f"Brand name code is not exist: {brand!r} (registered: "
                         f"{', '.join(brandnames)})")

    @staticmethod
    def phone(value: Any) -> str:
        phone = local_phone(value)
        if phone is None:
            raise Reject(108, f"bad phone number format: {value!r}; use 0xxxxxxxxx or 84xxxxxxxxx")
        return phone

    def phones(self, value: Any) -> list[str]:
        values = value.split(",") if isinstance(value, str) else list(value)
        if len(values) > MAX_PHONES:
            raise Reject(99, f"Invalid request: {len(values)} numbers in Phones, at most "
                         f"{MAX_PHONES} per request")
        return [self.phone(v.strip() if isinstance(v, str) else v) for v in values]

    # -- the send APIs
    def send(self, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
        params = self.params(endpoint, exchange)
        self.authenticate(params)
        self.check(endpoint.schema, params)
        try:
            choice = choose(request.headers.get(SCENARIO_HEADER), PROVIDER)
        except ValueError as exc:
            raise Reject(99, f"Invalid request: {exc}") from None
        plan = self.plan(endpoint, params)
        request_id = _text(params.get("RequestId"))
        if request_id and not self.state.claim_request_id(request_id):
            raise Reject(124, f"Request exist 1: RequestId {request_id!r} was used less than "
                         f"{self.settings.request_id_ttl:g} s ago")
        try:
            return self.accept(endpoint, params, plan, request_id, choice)
        except BaseException:
            if request_id:
                self.state.release_request_id(request_id)
            raise

    def accept(self, endpoint: EsmsEndpoint, params: Mapping[str, Any], plan: _Plan,
               request_id: str, choice: ScenarioChoice | None) -> Answer:
        smsid = secrets.token_hex(16) + str(secrets.randbelow(900) + 100)
        sandbox = _flag(params.get("Sandbox")) or _flag(params.get("IsSandBox"))
        callback = _text(params.get("CallbackUrl")) or self.settings.webhook_for("esms")
        sent = SentMessage(smsid, PROVIDER, endpoint.name, sandbox, plan.type_id,
                           fields={"RequestId": request_id})
        price = 0.0 if sandbox else float(self.settings.esms_unit_prices.get(plan.type_id, 0))
        run_ids: list[str] = []
        explain: list[str] = []
        targets = [plan.phones[0]] if plan.campaign else plan.phones
        try:
            for phone in targets:
                decision = decide(self.settings, PROVIDER, choice, {
                    "api": endpoint.name, "phone": phone, "content": plan.content,
                    "template": plan.template, "request_id": request_id,
                }, self.state.rng)
                message: dict[str, Any] = {"SMSID": smsid, "RequestId": request_id,
                                           "unit_price": price}
                if not plan.campaign:
                    message["phonenumber"] = phone
                    message["telcoid"] = carrier_of(phone) or UNKNOWN_CARRIER
                message.update(plan.fields)
                part = Part("" if plan.campaign else phone,
                            len(plan.phones) if plan.campaign else 1)
                sent.parts.append(part)
                starter = self._starter(sent, plan, message, callback, decision.delay)
                explain.append(f"{phone}: {decision.outcome or decision.scenario} "
                               f"({decision.because})")
                if decision.outcome == "hold":
                    part.state, part.outcome, part.final_hint = "held", "hold", "pending"
                    part.start = starter
                    continue
                run_id = starter(part, decision.outcome, decision.scenario)
                if run_id is not None:
                    run_ids.append(run_id)
        except (DlrmockError, ValueError) as exc:
            for run_id in run_ids:
                self.hooks.cancel(run_id)
            raise Reject(99, f"Invalid request: cannot play the callbacks: {exc}") from None
        self.state.messages.add(sent)
        return Answer({"CodeResult": "100", "CountRegenerate": 0, "SMSID": smsid},
                      message_ids=[smsid], run_ids=run_ids, explain="; ".join(explain))

    def _starter(self, sent: SentMessage, plan: _Plan, message: dict[str, Any],
                 callback: str | None, delay: float) -> Any:
        """How one part of ``sent`` starts playing, now or when released."""
        def start(part: Part, outcome: str | None, named: str | None) -> str | None:
            fields = dict(message)
            if named is None:
                outcome = outcome or self.settings.default_outcome
                # A named scenario's own message decides the outcome.
                fields["outcome"] = "failed" if outcome == "failed" else "delivered"
            scenario = named or esms_scenario(plan.kind, outcome or "delivered")
            part.outcome, part.scenario = outcome, named
            part.final_hint = final_state(None if named else outcome, named)
            if not callback or scenario is None:
                part.state = "final"
                return None
            return self.state.messages.play(self.hooks.deliver, sent, part, AcceptedMessage(
                PROVIDER, sent.id, callback, scenario, fields, sent.sandbox, delay=delay))
        return start

    # -- GET GetSendStatus
    def status(self, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
        params = self.params(endpoint, exchange)
        self.authenticate(params)
        self.check(endpoint.schema, params)
        smsid = _text(params["RefId"])
        sent = self.state.messages.find(smsid)
        if sent is None:
            raise Reject(99, f"no message with SMSID {smsid!r} (RefId is the SMSID a send "
                         "answered; dlrmock forgets them when restarted or reset)")
        with self.state.messages.lock:
            answer = status_of(sent)
        return Answer(answer, message_ids=[smsid])


def status_of(sent: SentMessage) -> dict[str, Any]:
    """``GetSendStatus``'s answer for ``sent``, as far as its callbacks have been played.

    Per part, its last callback tells (duplicates count once); a part still waiting for its
    first callback (held, or within its receipt delay) is waiting; a part that plays no
    callback at all ends as its outcome says (``no_receipt``: sent, waiting for the carrier
    report, forever). ``SendStatus`` is 5 when every part is final, 2 when all are waiting, 7
    otherwise.
    """
    parts = sent.parts
    success = failed = total = final = waiting = 0
    price = 0.0
    for part in parts:
        if part.played:
            last = part.played[-1]
            success += _int(last.get("SendSuccess"))
            failed += _int(last.get("SendFailed"))
            total += _int(last.get("TotalSent"))
            price += _float(last.get("TotalPrice", last.get("Totalprice")))
            final += _int(last.get("SendStatus")) == 5
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


def esms_blueprint(settings: SendSettings, hooks: SendHooks, state: SendState) -> Blueprint:
    """The eSMS routes: every API under both spellings of the base path, trailing slash optional,
    the API name matched case-insensitively."""
    api = _Esms(settings, hooks, state)
    blueprint = Blueprint("dlrmock_send_esms", __name__)

    def esms_api(name: str) -> Response:
        return api.serve(name)

    for number, base in enumerate(SERVICE_PATHS):
        blueprint.add_url_rule(f"{base}/<name>", endpoint=f"api_{number}", view_func=esms_api,
                               strict_slashes=False, methods=ALL_METHODS)
    return blueprint
