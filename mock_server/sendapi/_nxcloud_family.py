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

from flask import Blueprint, Response, g, request

from .._errors import DlrmockError
from ._exchange import ALL_METHODS, Answer, ErrorShape, Exchange, Reject, first_problem, serve
from ._model import AcceptedMessage, SendHooks
from ._outcomes import SCENARIO_HEADER, choose, outcome_for
from ._settings import SendSettings
from ._state import SendState
from .nxcloud_signed import EXPLAIN_HEADER, nxcloud_error
from .signature import header_safe

__all__ = [
    "Context",
    "Endpoint",
    "families_blueprint",
    "json_object",
    "play_receipts",
    "scenario_for",
    "with_explanation",
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


def with_explanation(shape: Callable[[int | str, str], dict[str, Any]]) -> ErrorShape:
    """An error shape that also puts dlrmock's explanation in the ``X-Dlrmock-Explain`` header
    (for answers whose text must stay the provider's)."""

    def error(code: int | str, message: str) -> dict[str, Any]:
        g.dlrmock_explain = message
        return shape(code, message)

    return error


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


def scenario_for(
    family: str, outcomes: Mapping[str, str | None], phone: str, settings: SendSettings,
    *, reject_code: int | str,
) -> str | None:
    """The scenario a send of ``family`` plays: the ``X-Dlrmock-Scenario`` header's outcome or
    scenario, else the outcome of the recipient's number; ``None``: no receipt at all."""
    try:
        choice = choose(request.headers.get(SCENARIO_HEADER), PROVIDER)
    except ValueError as exc:
        raise Reject(reject_code, str(exc)) from None
    if choice is not None and choice.scenario is not None:
        if not choice.scenario.startswith(f"{family}."):
            raise Reject(
                reject_code,
                f"{SCENARIO_HEADER}: {choice.scenario!r} is not a {family} scenario; name one "
                f"of {', '.join(sorted({s for s in outcomes.values() if s}))} or an outcome",
            )
        return choice.scenario
    outcome = choice.outcome if choice is not None and choice.outcome else None
    return outcomes[outcome or outcome_for(phone, settings)]


def play_receipts(
    hooks: SendHooks,
    message_id: str,
    callback: str | None,
    scenario: str | None,
    message: dict[str, Any],
    *,
    reject_code: int | str,
) -> list[str]:
    """Hand one accepted message of a non-Zalo family to the engine; the run ids started.

    The one place these send APIs trigger receipts (as the Zalo send does: ``hooks.deliver``
    with an :class:`AcceptedMessage`). An unplayable scenario or webhook is a provider error.
    """
    if not callback or scenario is None:
        return []
    try:
        run_id = hooks.deliver(AcceptedMessage(PROVIDER, message_id, callback, scenario, message))
    except (DlrmockError, ValueError) as exc:
        raise Reject(reject_code, f"cannot play the receipts: {exc}") from None
    return [run_id] if run_id is not None else []


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
    response = serve(
        Exchange(PROVIDER, endpoint.name),
        methods=methods,
        max_body=context.settings.max_body_bytes,
        error_shape=endpoint.error_shape,
        bad_request_code=endpoint.bad_request_code,
        too_large_code=endpoint.too_large_code,
        hooks=context.hooks,
        handler=lambda exchange: endpoint.handler(context, exchange),
    )
    explanation = g.pop("dlrmock_explain", None)
    if explanation is not None:
        response.headers[EXPLAIN_HEADER] = header_safe(explanation)
    return response


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
    for endpoint in endpoints:
        def view(endpoint: Endpoint = endpoint) -> Response:
            return _respond(context, endpoint, (endpoint.method,))

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
