"""NXCloud's ``POST /v1/zalo/checkJourneyToken``: what a journey token given out is.

Signed JSON (``bizType`` 9, ``action`` ``mt``, as the docs write it); answers ``{"code": 0,
"message": "Success", "data": {"createdAt", "expiredAt", "appId", "tokenType", "oaId"}}`` with
ms-epoch strings, the same ``appId`` / ``oaId`` the journey's receipts carry. A token dlrmock did
not give out is ``{"code": -1, "message": "Failure", "traceId": "…"}``. No receipt is caused.
"""

from __future__ import annotations

from ._exchange import Answer, Exchange, Reject
from ._nxcloud_family import Context, Endpoint, json_object
from ._outcomes import JOURNEY_LIFETIME_DAYS
from .nxcloud_signed import ZALO_SIGNING, authenticate, nxcloud_error

__all__ = ["ENDPOINTS"]

_DAY_MS = 86_400_000


def check_journey_token(context: Context, exchange: Exchange) -> Answer:
    authenticate(exchange, context.settings, context.state.clock, ZALO_SIGNING)
    document = json_object(exchange, "nxcloud.zalo.check_journey_token.request")
    appkey = context.settings.appkey
    if appkey is not None and document["appkey"] != appkey:
        raise Reject(9003, f"app {document['appkey']!r} missing or unavailable "
                           "(dlrmock accepts the appkey setting)")
    journey = context.state.journey(document["journeyToken"])
    if journey is None:
        # The body is the docs' failure document; this reason goes in X-Dlrmock-Explain.
        raise Reject(-1, f"journeyToken {document['journeyToken'][:40]!r} was not given out "
                         "by this dlrmock (POST /v1/zalo/initJourneyToken gives tokens; a reset "
                         "forgets them)")
    created = int(journey.created_at * 1000)
    expired = created + JOURNEY_LIFETIME_DAYS[journey.token_type] * _DAY_MS
    data = {
        "createdAt": str(created),
        "expiredAt": str(expired),
        "appId": journey.app_id,
        "tokenType": journey.token_type,
        "oaId": journey.oa_id,
    }
    return Answer({"code": 0, "message": "Success", "data": data},
                  message_ids=[journey.journey_id])


def _error(code: int | str, message: str) -> dict[str, object]:
    return nxcloud_error(code, "Failure" if int(code) == -1 else message)


ENDPOINTS = (
    Endpoint("POST", "/v1/zalo/checkJourneyToken", "nxcloud.zalo.checkJourneyToken",
             "nxcloud.zalo", "nxcloud.zalo.check_journey_token.request",
             _error, 9000, 1002, check_journey_token,
             answer="nxcloud.zalo.check_journey_token.response", signing=ZALO_SIGNING),
)
