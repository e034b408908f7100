"""The providers' send APIs: an app points its NXCloud / eSMS base URL at dlrmock and sends.

``create_send_blueprints(settings, hooks)`` gives Flask blueprints that answer like the
providers and hand each accepted message to ``hooks.deliver`` (the delivery engine, or a test
double); every request and its answer goes to ``hooks.capture``. See docs/send-apis.md.
"""

from __future__ import annotations

from flask import Blueprint

from . import nxcloud_journey, nxcloud_sms, nxcloud_sms_lookup, nxcloud_viber, nxcloud_whatsapp
from ._exchange import EXPLAIN_HEADER
from ._messages import MessageNotFoundError, MessageNotHeldError, MessageStore, Part, SentMessage
from ._model import AcceptedMessage, CapturedSend, SendHooks
from ._nxcloud_family import Context, families_blueprint
from ._outcomes import (
    ESMS_KINDS,
    JOURNEY_LIFETIME_DAYS,
    NXCLOUD_SCENARIOS,
    SCENARIO_HEADER,
    esms_scenario,
    nxcloud_journey_scenario,
    outcome_for,
)
from ._settings import DEFAULT_MAGIC_NUMBERS, OUTCOMES, PLAYABLE_OUTCOMES, Rule, SendSettings
from ._state import SendState
from .esms import ENDPOINTS as ESMS_ENDPOINTS
from .esms import esms_blueprint
from .nxcloud import EXPECTED_SIGN_HEADER, SIGNED_STRING_HEADER, ZALO_ROUTES, nxcloud_blueprint
from .signature import masked_string_to_sign, sign, string_to_sign

NXCLOUD_ENDPOINTS = (
    *nxcloud_sms.ENDPOINTS,
    *nxcloud_sms_lookup.ENDPOINTS,
    *nxcloud_viber.ENDPOINTS,
    *nxcloud_whatsapp.ENDPOINTS,
    *nxcloud_journey.ENDPOINTS,
)
"""The NXCloud send APIs beyond ``/v1/zalo/mt`` and ``initJourneyToken``, one row each."""
_ZALO_PATHS = tuple(("POST", route.path) for route in ZALO_ROUTES)

__all__ = [
    "DEFAULT_MAGIC_NUMBERS",
    "ESMS_ENDPOINTS",
    "ESMS_KINDS",
    "EXPECTED_SIGN_HEADER",
    "EXPLAIN_HEADER",
    "JOURNEY_LIFETIME_DAYS",
    "NXCLOUD_ENDPOINTS",
    "NXCLOUD_SCENARIOS",
    "OUTCOMES",
    "PLAYABLE_OUTCOMES",
    "SCENARIO_HEADER",
    "SIGNED_STRING_HEADER",
    "AcceptedMessage",
    "CapturedSend",
    "MessageNotFoundError",
    "MessageNotHeldError",
    "MessageStore",
    "Part",
    "Rule",
    "SendHooks",
    "SendSettings",
    "SendState",
    "SentMessage",
    "create_send_blueprints",
    "esms_scenario",
    "masked_string_to_sign",
    "nxcloud_journey_scenario",
    "outcome_for",
    "sign",
    "string_to_sign",
]


def create_send_blueprints(
    settings: SendSettings, hooks: SendHooks, *, state: SendState | None = None
) -> list[Blueprint]:
    """The NXCloud and eSMS send-API blueprints, sharing one :class:`SendState`.

    Pass ``state`` to keep a handle on what they remember (RequestIds, journey tokens, sent
    batches) and ``clear()`` it between tests; by default each call gets a fresh one.
    """
    if state is None:
        state = SendState(settings)
    emulated = [*_ZALO_PATHS, *((e.method, e.path) for e in NXCLOUD_ENDPOINTS)]
    return [
        nxcloud_blueprint(settings, hooks, state),
        families_blueprint(Context(settings, hooks, state), NXCLOUD_ENDPOINTS, emulated),
        esms_blueprint(settings, hooks, state),
    ]
