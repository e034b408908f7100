"""Hints for failures whose cause dlrmock can recognise from the request and the answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

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


def hint_for(attempt: Any) -> str | None:
    """A one-line hint when ``attempt``'s failure matches a known pattern, else ``None``."""
    method = attempt.request.method
    status = attempt.status
    if method == "GET" and status in (404, 405):
        return (
            "eSMS calls back with GET (the values in the query string); does your route "
            "accept GET at this path?"
        )
    if method == "POST" and status in (404, 405):
        headers = {name.lower(): value for name, value in attempt.request.headers}
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return ("NXCloud posts SMS reports as a form (application/x-www-form-urlencoded); "
                    "does your route accept POST at this path?")
        return "NXCloud posts JSON; does your route accept POST at this path?"
    if method == "GET" and status == 400:
        params = dict(parse_qsl(urlsplit(attempt.request.url).query, keep_blank_values=True))
        if params.get("RequestId") == "":
            return _SET_REQUEST_ID
    if attempt.outcome == "refused":
        return "nothing listens at that host and port; is your app running?"
    return None
