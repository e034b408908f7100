"""Hints for failures whose cause dlrmock can recognise from the request and the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from .providers import ReceiptKind

__all__ = ["hint_for", "request_line"]

_SET_REQUEST_ID = (
    "the callback's RequestId is empty, as in every eSMS example; a receiver keyed by the "
    "RequestId it sent needs it set: `--set RequestId=ID` (dlrmock play), "
    "`dlrmock.play(..., RequestId=ID)` (pytest), or return it from `prepare=` "
    "(conformance_suite)"
)


def request_line(attempt: Any, limit: int = 300) -> str:
    """``METHOD URL-or-body``, clipped: what the journal shows as ``sent:``."""
    request = attempt.request
    text = request.body.decode("utf-8", "replace") or request.url
    if request.method == "POST":
        text = f"{request.url} {text}"
    text = text.replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{request.method} {text}"


def hint_for(attempt: Any, kind: ReceiptKind) -> str | None:
    """A one-line hint when ``attempt`` (a receipt of ``kind``) failed in a known way, else
    ``None``; a wrong route is explained by the kind's transport."""
    method = attempt.request.method
    status = attempt.status
    if status in (404, 405):
        does = kind.transport.route_hint.format(family=kind.family_name)
        return f"{kind.provider.title} {does}; does your route accept {method} at this path?"
    if method == "GET" and status == 400:
        params = dict(parse_qsl(urlsplit(attempt.request.url).query, keep_blank_values=True))
        if params.get("RequestId") == "":
            return _SET_REQUEST_ID
    if attempt.outcome == "refused":
        return "nothing listens at that host and port; is your app running?"
    return None
