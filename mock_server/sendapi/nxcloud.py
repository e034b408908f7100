"""NXCloud's Zalo send APIs: ``POST /v1/zalo/mt`` and ``POST /v1/zalo/initJourneyToken``.

Both check the auth headers and the signature over the raw body, then the body against
``schemas/nxcloud.zalo.mt.request.json`` / ``nxcloud.zalo.journey_token.request.json``, and
answer in NXCloud's shape inside HTTP 200: ``{"code": 0, "message": "Success", "data": …}`` or
``{"code": n, "message": "…", "traceId": "<32 hex>"}``.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, request

from .._errors import DlrmockError
from .._limits import loads_json
from ._exchange import (
    ALL_METHODS,
    Answer,
    Exchange,
    Reject,
    first_problem,
    serve,
)
from ._messages import Part, SentMessage, Starter
from ._model import AcceptedMessage, SendHooks
from ._outcomes import (
    JOURNEY_EXPIRY_SCENARIO,
    JOURNEY_LIFETIME_DAYS,
    NXCLOUD_SCENARIOS,
    SCENARIO_HEADER,
    choose,
    decide,
    journey_expiry_scenario,
    nxcloud_journey_scenario,
    plays_journey_acknowledged,
)
from ._settings import SendSettings
from ._state import Journey, SendState
from .nxcloud_signed import (
    EXPECTED_SIGN_HEADER,
    SIGNED_STRING_HEADER,
    ZALO_SIGNING,
    Signing,
    authenticate,
    nxcloud_error,
)

__all__ = [
    "EXPECTED_SIGN_HEADER",
    "SIGNED_STRING_HEADER",
    "ZALO_ROUTES",
    "ZaloRoute",
    "nxcloud_blueprint",
    "nxcloud_error",
]

PROVIDER = "nxcloud"
_PHONE = re.compile(r"^\+?[1-9][0-9]{7,14}$")
_HEADER_BODY = 2048
"""Body bytes shown in the signed-string header and the 1003 message (the capture keeps 64 KiB)."""


def _digits(count: int) -> str:
    return str(secrets.randbelow(9 * 10 ** (count - 1)) + 10 ** (count - 1))


class _Nxcloud:
    def __init__(self, settings: SendSettings, hooks: SendHooks, state: SendState) -> None:
        self.settings = settings
        self.hooks = hooks
        self.state = state

    def serve(self, endpoint: str, handler: Any) -> Response:
        return serve(
            Exchange(PROVIDER, endpoint),
            methods=("POST",),
            max_body=self.settings.max_body_bytes,
            error_shape=nxcloud_error,
            bad_request_code=9000,
            too_large_code=1002,
            hooks=self.hooks,
            handler=handler,
        )

    # -- checks shared by both APIs
    def authenticate(self, exchange: Exchange) -> None:
        authenticate(exchange, self.settings, self.state.clock, ZALO_SIGNING)

    def document(self, exchange: Exchange, schema: str) -> dict[str, Any]:
        if not exchange.body:
            raise Reject(1002, "empty body: a JSON object is required")
        try:
            document = loads_json(exchange.body, "the body")
        except (ValueError, RecursionError) as exc:
            raise Reject(1002, f"body is not valid JSON: {str(exc)[:200]}") from None
        exchange.json = document
        if not isinstance(document, dict):
            raise Reject(1002, f"body must be a JSON object, got a JSON {type(document).__name__}")
        problem = first_problem(schema, document)
        if problem is not None:
            raise Reject(9000, f"request parameter error: {problem}")
        if not _PHONE.fullmatch(document["phone"]):
            raise Reject(
                9002,
                f"phone number error: {document['phone']!r}; digits with the "
                "country code, e.g. 84912345678",
            )
        if self.settings.appkey is not None and document["appkey"] != self.settings.appkey:
            raise Reject(
                9003,
                f"app {document['appkey']!r} missing or unavailable "
                "(dlrmock accepts the appkey setting)",
            )
        return document

    def deliver(self, message: AcceptedMessage) -> str | None:
        """Plan the receipts of ``message`` (the journey expiry); send errors as 9000."""
        try:
            return self.hooks.deliver(message)
        except (DlrmockError, ValueError) as exc:
            raise Reject(
                9000, f"request parameter error: cannot play the receipts: {exc}"
            ) from None

    # -- POST /v1/zalo/mt
    def mt(self, exchange: Exchange) -> Answer:
        self.authenticate(exchange)
        document = self.document(exchange, "nxcloud.zalo.mt.request")
        ext = document.get("ext")
        if ext is not None and len(ext.encode("utf-8", "replace")) > 65535:
            raise Reject(9000, "request parameter error: $.ext: longer than 65535 bytes")
        try:
            choice = choose(request.headers.get(SCENARIO_HEADER), PROVIDER)
        except ValueError as exc:
            raise Reject(9000, str(exc)) from None
        phone: str = document["phone"]
        data = document["messageData"]
        template_data = data.get("templateData")
        decision = decide(self.settings, PROVIDER, choice, {
            "api": "zalo.mt", "phone": phone, "template": str(data.get("templateId", "")),
            "content": " ".join(str(v) for v in template_data.values())
            if isinstance(template_data, dict) else "",
            "request_id": "" if ext is None else str(ext),
        }, self.state.rng, family="nxcloud.zalo")
        request_id = "zalomid." + secrets.token_hex(16)
        quota = self.state.take_zns_quota()
        message: dict[str, Any] = {
            "requestId": request_id, "ext": ext, "phone": phone,
            "currency": self.settings.nxcloud_currency,
            "price": self.settings.nxcloud_zns_price,
            "journey_price": self.settings.nxcloud_journey_price,
            "remaining_quota": quota,
            "daily_quota": self.settings.nxcloud_daily_quota,
        }
        token: str | None = data.get("journeyToken")
        if token is not None:
            journey = self.state.journey(token)
            if journey is None:  # a token dlrmock did not give out: accepted as a fresh journey
                message.update(journeyId=_digits(19), oaId=_digits(19), appId=_digits(19))
            else:
                message.update(
                    journeyId=journey.journey_id, oaId=journey.oa_id, appId=journey.app_id
                )
        callback = document.get("drWebhook") or self.settings.webhook_for("nxcloud")
        sent = SentMessage(request_id, PROVIDER, "zalo.mt")
        part = Part(phone)
        sent.parts.append(part)
        run_ids: list[str] = []
        if decision.outcome == "hold":
            self.state.messages.hold(sent, part, HELD_ZALO, {
                "message": message, "token": token, "callback": callback,
                "delay": decision.delay})
        else:
            run_id = self._starter(sent, message, token, callback, decision.delay)(
                part, decision.outcome, decision.scenario)
            if run_id is not None:
                run_ids.append(run_id)
        self.state.messages.add(sent)
        return Answer(
            {"code": 0, "message": "Success", "data": {"requestId": request_id}},
            message_ids=[request_id],
            run_ids=run_ids,
            explain=f"{decision.outcome or decision.scenario} ({decision.because})",
        )

    def _held_starter(self, sent: SentMessage, recipe: Mapping[str, Any]) -> Starter:
        """The starter of a held Zalo message from its recipe (see :meth:`mt`)."""
        return self._starter(sent, dict(recipe["message"]), recipe["token"], recipe["callback"],
                             float(recipe["delay"]))

    def _starter(self, sent: SentMessage, message: dict[str, Any], token: str | None,
                 callback: str | None, delay: float) -> Starter:
        """How the message starts playing, now or when released."""
        def start(part: Part, outcome: str | None, named: str | None) -> str | None:
            outcome = outcome or self.settings.default_outcome
            scenario: str | dict[str, Any] = named or NXCLOUD_SCENARIOS.get(
                outcome, NXCLOUD_SCENARIOS["delivered"])
            if token is not None and named is None:
                journey = nxcloud_journey_scenario(outcome)
                # One atomic step decides "used" against a journey expiry in flight.
                before = self.state.claim_journey(token, use=plays_journey_acknowledged(journey))
                if before == "expired":
                    raise Reject(9000, "request parameter error: journeyToken has expired "
                                 "(journey_time_out was sent)")
                if before != "used":
                    scenario = journey
                known = self.state.journey(token)
                if before == "unused" and plays_journey_acknowledged(journey) \
                        and known is not None and known.expiry_run_id is not None:
                    self.hooks.cancel(known.expiry_run_id)  # its gate would stop it anyway
            part.outcome, part.scenario = outcome, named
            if not callback:
                part.state = "final"
                return None
            try:
                return self.state.messages.play(self.hooks.deliver, sent, part, AcceptedMessage(
                    PROVIDER, sent.id, callback, scenario, message, delay=delay))
            except (DlrmockError, ValueError) as exc:
                raise Reject(9000, f"request parameter error: cannot play the receipts: {exc}") \
                    from None
        return start

    # -- POST /v1/zalo/initJourneyToken
    def init_journey_token(self, exchange: Exchange) -> Answer:
        self.authenticate(exchange)
        document = self.document(exchange, "nxcloud.zalo.journey_token.request")
        token_type: str = document["tokenType"]
        journey = Journey(
            token=base64.urlsafe_b64encode(secrets.token_bytes(150)).decode().rstrip("="),
            journey_id=_digits(19),
            oa_id=_digits(19),
            app_id=_digits(19),
            phone=document["phone"],
            token_type=token_type,
            expiry_run_id=None,
        )
        run_ids: list[str] = []
        webhook = self.settings.webhook_for("nxcloud")
        token = journey.token
        if webhook:
            # The request has no drWebhook: the expiry receipt goes to the account's default URL.
            journey.expiry_run_id = self.deliver(
                AcceptedMessage(
                    PROVIDER,
                    journey.journey_id,
                    webhook,
                    journey_expiry_scenario(token_type),
                    {
                        "journeyId": journey.journey_id,
                        "oaId": journey.oa_id,
                        "appId": journey.app_id,
                        "journey_days": JOURNEY_LIFETIME_DAYS[token_type],
                        "phone": journey.phone,
                        "ext": None,
                    },
                    gate=lambda: self.state.expire_journey(token),
                )
            )
        sent = SentMessage(journey.journey_id, PROVIDER, "zalo.initJourneyToken")
        part = Part(journey.phone, state="final")
        sent.parts.append(part)
        if journey.expiry_run_id is not None:
            run_ids.append(journey.expiry_run_id)
            part.scenario = JOURNEY_EXPIRY_SCENARIO
            self.state.messages.bind(journey.expiry_run_id, sent, part,
                                     ["nxcloud.zalo.journey_time_out"])
        self.state.add_journey(journey)
        self.state.messages.add(sent)
        return Answer(
            {
                "code": 0,
                "message": "Success",
                "data": {"journeyId": journey.journey_id, "token": journey.token},
            },
            message_ids=[journey.journey_id],
            run_ids=run_ids,
        )


HELD_ZALO = "nxcloud.zalo.mt"
"""The recipe kind of a held Zalo message (see
:meth:`~mock_server.sendapi._messages.MessageStore.hold`)."""


@dataclass(frozen=True)
class ZaloRoute:
    """One Zalo API the blueprint below serves (``POST``, signed: the auth headers required)."""

    path: str
    name: str
    """The captured send's ``endpoint``."""
    request: str
    """Request schema (``schemas/<request>.json``)."""
    answer: str
    """Response schema."""
    signing: Signing = ZALO_SIGNING
    """The signed-API headers it requires."""


ZALO_ROUTES = (
    ZaloRoute("/v1/zalo/mt", "nxcloud.zalo.mt", "nxcloud.zalo.mt.request",
              "nxcloud.zalo.mt.response"),
    ZaloRoute("/v1/zalo/initJourneyToken", "nxcloud.zalo.initJourneyToken",
              "nxcloud.zalo.journey_token.request", "nxcloud.zalo.journey_token.response"),
)
"""The Zalo routes below as data (``dlrmock openapi`` documents them from here)."""


def nxcloud_blueprint(settings: SendSettings, hooks: SendHooks, state: SendState) -> Blueprint:
    """The NXCloud routes (trailing slash optional)."""
    api = _Nxcloud(settings, hooks, state)
    state.messages.starters[HELD_ZALO] = api._held_starter
    blueprint = Blueprint("dlrmock_send_nxcloud", __name__)

    @blueprint.route("/v1/zalo/mt", strict_slashes=False, methods=ALL_METHODS)
    def zalo_mt() -> Response:
        return api.serve("nxcloud.zalo.mt", api.mt)

    @blueprint.route("/v1/zalo/initJourneyToken", strict_slashes=False, methods=ALL_METHODS)
    def zalo_init_journey_token() -> Response:
        return api.serve("nxcloud.zalo.initJourneyToken", api.init_journey_token)

    return blueprint
