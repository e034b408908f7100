"""One request to a send API, from the bytes read to the answer captured.

Every endpoint is a handler ``(Exchange) -> Answer`` that raises :class:`Reject` for a provider
error; :func:`serve` reads the body (bounded), answers a wrong method or a too large body in the
provider's error shape, turns the answer into JSON and hands the exchange to ``hooks.capture``.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Response, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from .._registry import schema_problems
from ._model import CapturedSend, SendHooks

__all__ = [
    "BODY_KEPT",
    "EXPLAIN_HEADER",
    "JSON",
    "Answer",
    "BodyCutShort",
    "BodyTooLarge",
    "ErrorShape",
    "Exchange",
    "Reject",
    "first_problem",
    "read_body",
    "serve",
    "trace_id",
]

log = logging.getLogger(__name__)

BODY_KEPT = 64 * 1024
"""Bytes of a request body kept in :class:`CapturedSend` (and shown in the signed string)."""

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
"""Methods every send route accepts, so a wrong one is answered by the route in its own shape."""

_CHUNK = 64 * 1024


class Reject(Exception):
    """A provider error: the handler stops and the error is answered in the provider's shape."""

    def __init__(self, code: int | str, message: str, *, status: int = 200,
                 headers: Mapping[str, str] | None = None, explain: str | None = None,
                 body: Any | None = None) -> None:
        super().__init__(explain or message)
        self.code = code
        self.message = message
        self.status = status
        self.headers = dict(headers or {})
        self.explain = explain
        """dlrmock's own explanation: the ``X-Dlrmock-Explain`` header, never a provider field."""
        self.body = body
        """The whole error document when it is not ``error_shape(code, message)``."""


ErrorShape = Callable[[int | str, str], Any]
"""(code, message) → the provider's error document (a JSON value; text for a text API)."""


@dataclass
class Answer:
    """What a handler answers."""

    payload: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    message_ids: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    error: str | None = None
    explain: str | None = None
    """Why dlrmock answered so, in its own words (``X-Dlrmock-Explain``)."""


EXPLAIN_HEADER = "X-Dlrmock-Explain"
JSON = "application/json"
"""The media type of every answer but a plain-text API's."""


@dataclass
class Exchange:
    """The request being handled and what the handler learnt about it (for the capture)."""

    provider: str
    endpoint: str
    body: bytes = b""
    body_length: int = 0
    json: Any | None = None
    signed_string: str | None = None
    at: float = field(default_factory=time.time)


def trace_id() -> str:
    """A fresh 32-hex trace id, as NXCloud puts in its errors."""
    return secrets.token_hex(16)


def first_problem(schema: str, instance: Any) -> str | None:
    """The most relevant violation of schema ``schema`` as ``$.path: message``, or ``None``."""
    problems = schema_problems(schema, instance)
    if not problems:
        return None
    text = str(problems[0])
    return text if len(text) <= 300 else text[:297] + "..."


class BodyTooLarge(Exception):
    """The body is longer than the limit: ``length`` as declared, or as read so far."""

    def __init__(self, length: int, declared: bool) -> None:
        self.length = length
        self.declared = declared


class BodyCutShort(Exception):
    """The body ended before its Content-Length or its chunked encoding said it would."""

    def __init__(self, received: bytes, reason: str) -> None:
        self.received = received
        self.reason = reason


def read_body(limit: int) -> bytes:
    """The request body, at most ``limit`` bytes; :class:`BodyTooLarge` beyond that,
    :class:`BodyCutShort` if the client stops sending before its end."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(declared, True)
    stream = request.stream
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = stream.read(min(_CHUNK, limit + 1 - size))
        except (ClientDisconnected, OSError) as exc:
            # werkzeug's server raises OSError for a broken chunked body, and loses the part of
            # it that the failed read had taken: only what earlier reads returned is kept.
            raise BodyCutShort(b"".join(parts), "request body cut short: " + (
                f"{size} of the {declared} bytes its Content-Length declares came before the "
                "client stopped sending" if declared is not None else
                f"its chunked encoding broke off ({exc})")) from None
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size, False)
    return b"".join(parts)


def _path() -> str:
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def _response(answer: Answer, media: str) -> Response:
    # Serialised here, not with the app's JSON provider: key order as the provider documents it.
    text = json.dumps(answer.payload) if media == JSON else str(answer.payload)
    response = Response(text, status=answer.status, mimetype=media)
    for name, value in answer.headers.items():
        response.headers[name] = value
    return response


def serve(
    exchange: Exchange,
    *,
    methods: tuple[str, ...],
    max_body: int,
    error_shape: ErrorShape,
    bad_request_code: int | str,
    too_large_code: int | str,
    hooks: SendHooks,
    handler: Callable[[Exchange], Answer],
    media: str = JSON,
) -> Response:
    """Handle the current request with ``handler``; never lets bad input become a 500.

    The answer is JSON, or with another ``media`` (``text/plain``) the payload as text."""
    try:
        if request.method not in methods:
            raise Reject(bad_request_code,
                         f"method {request.method} is not allowed on {request.path}; "
                         f"use {' or '.join(methods)}",
                         status=405, headers={"Allow": ", ".join(methods)})
        try:
            exchange.body = read_body(max_body)
        except BodyTooLarge as exc:
            exchange.body_length = exc.length
            size = f"{exc.length} bytes" if exc.declared else f"more than {max_body} bytes"
            raise Reject(too_large_code,
                         f"request body too large: {size}, at most {max_body} "
                         "(the max_body_bytes setting)", status=413) from None
        except BodyCutShort as exc:  # nobody may be left to read the answer: the record shows it
            exchange.body = exc.received
            exchange.body_length = len(exc.received)
            raise Reject(bad_request_code, exc.reason, status=400) from None
        exchange.body_length = len(exchange.body)
        answer = handler(exchange)
    except Reject as rejected:
        # The reason goes in X-Dlrmock-Explain and the captured send too, for error documents
        # whose text must stay the provider's (NXCloud's legacy SMS answers, eSMS's errors).
        body = rejected.body if rejected.body is not None \
            else error_shape(rejected.code, rejected.message)
        answer = Answer(body, rejected.status, rejected.headers, error=str(rejected.code),
                        explain=rejected.explain or rejected.message)
    except HTTPException as exc:
        # e.g. MAX_CONTENT_LENGTH set on an app embedding dlrmock's.
        status = exc.code or 400
        code = too_large_code if status == 413 else bad_request_code
        reason = exc.description or exc.name
        answer = Answer(error_shape(code, reason), status, error=str(code), explain=reason)
    except Exception:
        _capture(hooks, exchange, Answer({"error": "internal_error"}, 500, error="500"))
        raise
    _capture(hooks, exchange, answer)
    if answer.explain and EXPLAIN_HEADER not in answer.headers:
        answer.headers[EXPLAIN_HEADER] = _header_text(answer.explain)
    response = _response(answer, media)
    if answer.run_ids:
        # Answer first: the receipts are scheduled once the answer has been written (the WSGI
        # server closes the response after sending it), so a callback never overtakes it.
        run_ids = list(answer.run_ids)
        response.call_on_close(lambda: hooks.release(run_ids))
    return response


def _header_text(text: str) -> str:
    """``text`` as a header value: one line, Latin-1 safe, at most 1 000 characters."""
    flat = " ".join(text.split())
    safe = flat.encode("latin-1", "replace").decode("latin-1")
    return safe if len(safe) <= 1000 else safe[:997] + "..."


def _capture(hooks: SendHooks, exchange: Exchange, answer: Answer) -> None:
    kept = exchange.body[:BODY_KEPT]
    captured = CapturedSend(
        provider=exchange.provider,
        endpoint=exchange.endpoint,
        method=request.method,
        path=_path(),
        headers={name: value for name, value in request.headers.items()},
        body=kept.decode("utf-8", "replace"),
        json=exchange.json,
        status=answer.status,
        response=answer.payload,
        message_ids=list(answer.message_ids),
        run_ids=list(answer.run_ids),
        signed_string=exchange.signed_string,
        at=exchange.at,
        body_length=exchange.body_length,
        error=answer.error,
        explain=answer.explain,
    )
    hooks.capture(captured)
