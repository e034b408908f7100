"""The NXCloud send APIs beyond Zalo, declared as a table, and what their handlers share.

Each family module (``nxcloud_sms``, ``nxcloud_viber``, ``nxcloud_whatsapp``,
``nxcloud_journey``) lists its :class:`Endpoint` rows; :func:`families_blueprint` serves them and
answers every other NXCloud path (``/v1/…``, ``/api/…``, ``/saas/…``) with NXCloud's error
document naming the emulated ones, captured like any send.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, request

from .._errors import DlrmockError
from ._exchange import (
    ALL_METHODS,
    JSON,
    Answer,
    ErrorShape,
    Exchange,
    Reject,
    first_problem,
    serve,
)
from ._messages import Part, SentMessage, Starter, StarterFactory
from ._model import AcceptedMessage, SendHooks
from ._outcomes import SCENARIO_HEADER, choose, decide
from ._settings import SendSettings
from ._state import SendState
from .nxcloud_signed import Signing, nxcloud_error

__all__ = [
    "Context",
    "Endpoint",
    "Recipient",
    "accept",
    "families_blueprint",
    "json_object",
    "play_receipts",
]

PROVIDER = "nxcloud"


@dataclass(frozen=True)
class Context:
    """What a handler works with: the settings, the engine's hooks, the shared memory."""

    settings: SendSettings
    hooks: SendHooks
    state: SendState


Handler = Callable[[Context, Exchange], Answer]


@dataclass(frozen=True)
class Endpoint:
    """One emulated API: where it is, what it is called, how it fails, who handles it."""

    method: str
    path: str
    name: str
    """The captured send's ``endpoint`` (``nxcloud.sms.mtsend``)."""
    family: str
    request_schema: str | None
    error_shape: ErrorShape
    bad_request_code: int | str
    too_large_code: int | str
    handler: Handler
    body: str = "json"
    """The request body: ``json``, ``form`` (x-www-form-urlencoded) or ``query`` (the URL's
    query, a form body also read); read by ``openapi``."""
    answer: str | None = None
    """The answer's schema (success and error documents alike, inside HTTP 200)."""
    signing: Signing | None = None
    """The signed-API headers it requires (its handler authenticates with this), or ``None``."""
    media: str = JSON
    """The answer's media type; ``text/plain`` answers the payload (and errors) as text."""
    also: tuple[str, ...] = ()
    """Other methods it takes (the same handler), beyond the documented ``method``."""


def json_object(exchange: Exchange, schema: str, *, code: int | str = 9000,
                body_code: int | str = 1002) -> dict[str, Any]:
    """The body as a JSON object valid against ``schema``; :class:`Reject` naming the problem."""
    if not exchange.body:
        raise Reject(body_code, "empty body: a JSON object is required")
    try:
        document = json.loads(exchange.body)
    except (ValueError, RecursionError) as exc:
        raise Reject(body_code, f"body is not valid JSON: {str(exc)[:200]}") from None
    exchange.json = document
    if not isinstance(document, dict):
        raise Reject(body_code,
                     f"body must be a JSON object, got a JSON {type(document).__name__}")
    problem = first_problem(schema, document)
    if problem is not None:
        raise Reject(code, f"request parameter error: {problem}")
    return document


@dataclass(frozen=True)
class Recipient:
    """One recipient of a send: its number, the id its receipts carry, their shared fields."""

    phone: str
    message_id: str
    fields: dict[str, Any]


def accept(
    context: Context,
    *,
    family: str,
    api: str,
    sent_id: str,
    recipients: Sequence[Recipient],
    callback: str | None,
    scenarios: Mapping[str, str | None],
    values: Mapping[str, str],
    reject_code: int | str,
    sent_fields: Mapping[str, Any] | None = None,
) -> tuple[list[str], str]:
    """Record one accepted send of ``family`` as a :class:`SentMessage` and start (or hold) the
    receipts of each recipient; (the run ids started, the explanation of what they play).

    Each recipient's fate is :func:`decide`'s (the ``X-Dlrmock-Scenario`` header, ``send.rules``
    with ``api`` and ``values``, the number); ``scenarios`` maps an outcome to this family's
    built-in scenario (``None``: no receipt at all). A scenario of another family is refused.
    ``sent_fields`` become the message's :attr:`~SentMessage.fields`.
    """
    try:
        choice = choose(request.headers.get(SCENARIO_HEADER), PROVIDER)
    except ValueError as exc:
        raise Reject(reject_code, str(exc)) from None
    decisions = []
    for recipient in recipients:
        decision = decide(context.settings, PROVIDER, choice,
                          {"api": api, "phone": recipient.phone, **values}, context.state.rng,
                          family=family)
        if decision.scenario is not None and not decision.scenario.startswith(f"{family}."):
            raise Reject(  # only the header can get here: rules of other families are skipped
                reject_code,
                f"{decision.because}: {decision.scenario!r} is not a {family} scenario; name one "
                f"of {', '.join(sorted({s for s in scenarios.values() if s}))} or an outcome",
            )
        decisions.append(decision)
    sent = SentMessage(sent_id, PROVIDER, api, fields=dict(sent_fields or {}))
    run_ids: list[str] = []
    for recipient, decision in zip(recipients, decisions, strict=True):
        part = Part(recipient.phone)
        sent.parts.append(part)
        if decision.outcome == "hold":
            context.state.messages.hold(sent, part, HELD, {
                "phone": recipient.phone, "message_id": recipient.message_id,
                "fields": recipient.fields, "callback": callback, "scenarios": dict(scenarios),
                "delay": decision.delay, "reject_code": reject_code})
        else:
            run_id = _starter(context, sent, recipient, callback, scenarios, decision.delay,
                              reject_code)(part, decision.outcome, decision.scenario)
            if run_id is not None:
                run_ids.append(run_id)
    context.state.messages.add(sent)
    explain = "; ".join(dict.fromkeys(f"{d.outcome or d.scenario} ({d.because})"
                                      for d in decisions))
    return run_ids, explain


HELD = "nxcloud.family"
"""The recipe kind of a held NXCloud SMS / Viber / WhatsApp recipient (see
:meth:`~mock_server.sendapi._messages.MessageStore.hold`)."""


def _starter_factory(context: Context) -> StarterFactory:
    """The starter factory of these families: a recipe (what :func:`accept` holds) →
    :func:`_starter`."""
    def factory(sent: SentMessage, recipe: Mapping[str, Any]) -> Starter:
        recipient = Recipient(recipe["phone"], recipe["message_id"], dict(recipe["fields"]))
        return _starter(context, sent, recipient, recipe["callback"], recipe["scenarios"],
                        float(recipe["delay"]), recipe["reject_code"])
    return factory


def _starter(context: Context, sent: SentMessage, recipient: Recipient, callback: str | None,
             scenarios: Mapping[str, str | None], delay: float, reject_code: int | str
             ) -> Starter:
    """How a recipient's receipts start playing, now or when its message is released."""
    def start(part: Part, outcome: str | None, named: str | None) -> str | None:
        outcome = outcome or context.settings.default_outcome
        scenario = named or scenarios.get(outcome, scenarios["delivered"])
        part.outcome, part.scenario = outcome, named
        if scenario is None or not callback:
            part.state = "final"
            if scenario is None:
                part.final_hint = "pending"  # no receipt will ever tell
            return None
        return play_receipts(context, sent, part, AcceptedMessage(
            PROVIDER, recipient.message_id, callback, scenario, dict(recipient.fields),
            delay=delay), reject_code=reject_code)
    return start


def play_receipts(context: Context, sent: SentMessage, part: Part, message: AcceptedMessage,
                  *, reject_code: int | str) -> str | None:
    """Hand one part's receipts to the engine and bind its run to the part; the run id.

    The one place these send APIs trigger receipts. An unplayable scenario or webhook is a
    provider error (``reject_code``).
    """
    try:
        return context.state.messages.play(context.hooks.deliver, sent, part, message)
    except (DlrmockError, ValueError) as exc:
        raise Reject(reject_code, f"cannot play the receipts: {exc}") from None


def _unknown(emulated: Sequence[tuple[str, str]]) -> Handler:
    known = "; ".join(f"{method} {path}" for method, path in emulated)

    def handler(context: Context, exchange: Exchange) -> Answer:
        raise Reject(
            -1,
            f"unknown NXCloud API {request.method} {request.path}: dlrmock emulates {known}",
            status=404,
        )

    return handler


def _respond(context: Context, endpoint: Endpoint, methods: tuple[str, ...]) -> Response:
    return serve(
        Exchange(PROVIDER, endpoint.name),
        methods=methods,
        max_body=context.settings.max_body_bytes,
        error_shape=endpoint.error_shape,
        bad_request_code=endpoint.bad_request_code,
        too_large_code=endpoint.too_large_code,
        hooks=context.hooks,
        handler=lambda exchange: endpoint.handler(context, exchange),
        media=endpoint.media,
    )


UNKNOWN_PREFIXES = ("/v1", "/api", "/saas", "/didsms", "/otp")
"""Path prefixes NXCloud's APIs live under; any other path there is an unknown NXCloud API."""


def families_blueprint(
    context: Context, endpoints: Sequence[Endpoint], emulated: Sequence[tuple[str, str]]
) -> Blueprint:
    """Routes for ``endpoints`` (trailing slash optional) and the unknown-path answer.

    ``emulated`` lists every NXCloud (method, path) dlrmock serves, Zalo's included, for the
    unknown-path message.
    """
    blueprint = Blueprint("dlrmock_send_nxcloud_families", __name__)
    context.state.messages.starters[HELD] = _starter_factory(context)
    for endpoint in endpoints:
        def view(endpoint: Endpoint = endpoint) -> Response:
            return _respond(context, endpoint, (endpoint.method, *endpoint.also))

        # Every method reaches the view, so a wrong one is answered in the API's own shape.
        blueprint.add_url_rule(endpoint.path, endpoint.name.replace(".", "_"), view,
                               strict_slashes=False, methods=ALL_METHODS)
    unknown = Endpoint("POST", "", "nxcloud.unknown", "nxcloud", None, nxcloud_error, -1, 1002,
                       _unknown(emulated))

    def unknown_view(rest: str = "") -> Response:
        return _respond(context, unknown, ALL_METHODS)

    for prefix in UNKNOWN_PREFIXES:
        blueprint.add_url_rule(f"{prefix}/<path:rest>", f"unknown{prefix.replace('/', '_')}",
                               unknown_view, methods=ALL_METHODS)
    return blueprint
