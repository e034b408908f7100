"""The dashboard at ``/_dlrmock/ui/``: server-rendered pages, a little plain JavaScript, live
updates through server-sent events. No build step, nothing loaded from another site.

It reads the history (:mod:`mock_server._history`) and listens to the event stream
(:mod:`mock_server._events`); its buttons call what the admin API calls
(:func:`mock_server.app.release_message`, the engine's ``play``, the registry's ``validate``).
With an admin token set, a browser signs in once with ``/_dlrmock/ui/?token=TOKEN`` (an
HTTP-only, same-site cookie); scripts may send ``Authorization: Bearer TOKEN`` as elsewhere.
"""

from __future__ import annotations

import hmac
import json
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from .._errors import DlrmockError
from .._events import Event
from .._history import _matches, _search_text

__all__ = ["PAGE_SIZE", "create_ui_blueprint"]

PAGE_SIZE = 100
"""Messages per inbox page (older ones are a link away: fast with any number of messages)."""
COOKIE = "dlrmock_admin"
STREAM_SECONDS = 300.0
"""An event stream closes after this long; the browser reconnects on its own."""
HEARTBEAT_SECONDS = 2.0
POLL_SECONDS = 0.25
"""How soon an event stream notices that the server stops."""
MAX_STREAMS = 8
"""Event streams open at once (each holds a server thread); more get a 503 and retry."""
POST_HEADER = "X-Dlrmock-UI"
"""Sent by the page's own requests: a form on another site cannot add it."""


def _state() -> Any:
    from ..app import get_state

    return get_state()


def _when(value: Any) -> str:
    try:
        return datetime.fromtimestamp(float(value)).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def _pretty(value: Any) -> str:
    """JSON pretty-printed; a text that holds JSON is parsed first."""
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            return text
    return str(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _clip(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_page(message: str, status: int) -> Response:
    response = make_response(render_template("error.html", message=message), status)
    return response


def _filters() -> dict[str, str]:
    return {name: request.args.get(name, "").strip()[:200]
            for name in ("q", "provider", "state")}


def _json_error(message: str, status: int = 400) -> Response:
    response = make_response({"error": "bad_request", "message": message}, status)
    return response


def create_ui_blueprint() -> Blueprint:
    """The dashboard's routes (the app mounts them at ``/_dlrmock/ui``)."""
    ui = Blueprint("dlrmock_ui", __name__, template_folder="templates",
                   static_folder="static", static_url_path="/static")
    streams = [0]
    streams_lock = threading.Lock()

    @ui.app_template_filter("when")
    def when_filter(value: Any) -> str:
        return _when(value)

    @ui.app_template_filter("pretty")
    def pretty_filter(value: Any) -> str:
        return _pretty(value)

    @ui.app_template_filter("clip")
    def clip_filter(value: Any, limit: int = 80) -> str:
        return _clip(value, limit)

    @ui.before_request
    def _check_token() -> Any:
        token = _state().config.admin_token
        if token is None:
            return None
        expected = token.encode("utf-8")

        def same(given: str | None) -> bool:
            return bool(given) and hmac.compare_digest(
                str(given).strip().encode("utf-8", "surrogateescape"), expected)

        offered = request.args.get("token")
        if offered is not None and request.method == "GET":
            if not same(offered):
                return _error_page("wrong admin token: open /_dlrmock/ui/?token=<the "
                                   "server's --admin-token>", 401)
            args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "token"}
            response = redirect(url_for(request.endpoint or "dlrmock_ui.inbox",
                                        **{**(request.view_args or {}), **args}))
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict",
                                path="/_dlrmock/ui")
            return response
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        if (scheme.lower() == "bearer" and same(bearer)) or same(request.cookies.get(COOKIE)):
            return None
        return _error_page("this server needs its admin token: open /_dlrmock/ui/?token=<the "
                           "server's --admin-token> once (a cookie keeps it)", 401)

    @ui.before_request
    def _check_origin() -> Any:
        if request.method == "POST" and request.headers.get(POST_HEADER) != "1":
            return _json_error(f"dashboard actions need the header '{POST_HEADER}: 1' "
                               "(the page sends it; use the admin API from scripts)", 403)
        return None

    @ui.get("/")
    def inbox() -> Any:
        state = _state()
        filters = _filters()
        try:
            offset = max(0, int(request.args.get("offset", "0")))
        except ValueError:
            offset = 0
        rows, total = state.history.page(query=filters["q"], provider=filters["provider"],
                                         state=filters["state"], limit=PAGE_SIZE,
                                         offset=offset)
        from .._scenarios import builtin_scenarios
        from ..providers import KINDS, PROVIDERS

        return render_template(
            "inbox.html", rows=rows, total=total, offset=offset, page_size=PAGE_SIZE,
            filters=filters, providers=list(PROVIDERS), counters=state.counters.as_dict(),
            scenarios=sorted(builtin_scenarios()), kinds=sorted(KINDS),
            states=("held", "pending", "playing", "final"),
            db=state.config.db)

    @ui.get("/rows/<message_id>")
    def row(message_id: str) -> Any:
        """One inbox row (live updates), or 204 when the filters leave it out."""
        record = _state().history.get(message_id)
        filters = _filters()
        if record is None or not _matches(record, _search_text(record),
                                          filters["q"].lower(), filters["provider"],
                                          filters["state"]):
            return Response(status=204)
        return render_template("_row.html", row=record)

    @ui.get("/messages/<message_id>")
    def message(message_id: str) -> Any:
        state = _state()
        record = state.history.get(message_id)
        if record is None:
            return _error_page(f"no message {message_id!r} in the history (never sent, reset "
                               "or pruned)", 404)
        from ..sendapi import PLAYABLE_OUTCOMES

        return render_template("message.html", row=record,
                               timeline=state.history.timeline(message_id),
                               outcomes=PLAYABLE_OUTCOMES, counters=state.counters.as_dict(),
                               db=state.config.db)

    @ui.get("/messages/<message_id>/timeline")
    def timeline(message_id: str) -> Any:
        state = _state()
        record = state.history.get(message_id)
        if record is None:
            return Response(status=404)
        from ..sendapi import PLAYABLE_OUTCOMES

        return render_template("_timeline.html", row=record,
                               timeline=state.history.timeline(message_id),
                               outcomes=PLAYABLE_OUTCOMES)

    @ui.post("/messages/<message_id>/release")
    def release(message_id: str) -> Any:
        from ..app import release_message
        from ..sendapi import MessageNotFoundError, MessageNotHeldError

        data = _form()
        outcome = data.get("outcome") or None
        scenario = data.get("scenario") or None
        try:
            found = release_message(_state(), message_id, outcome, scenario)
        except MessageNotFoundError as exc:
            return _json_error(str(exc), 404)
        except MessageNotHeldError as exc:
            return _json_error(str(exc), 409)
        except DlrmockError as exc:
            return _json_error(str(exc), getattr(exc, "status", 400))
        return {"id": found.id, "state": found.state}

    @ui.post("/play")
    def play() -> Any:
        data = _form()
        scenario, target = data.get("scenario", ""), data.get("to", "")
        from .._scenarios import builtin_scenarios

        if scenario not in builtin_scenarios():
            return _json_error(f"unknown scenario {scenario!r}; pick a built-in one "
                               "(`dlrmock scenarios` lists them)")
        if not target:
            return _json_error("give the webhook URL to play at, e.g. "
                               "http://127.0.0.1:8000/hook")
        try:
            run = _state().hooks.play(scenario, target)
        except DlrmockError as exc:
            return _json_error(str(exc))
        return {"run_id": run.id, "scenario": scenario, "to": target,
                "receipts": len(run.deliveries)}

    @ui.post("/validate")
    def validate() -> Any:
        from .._registry import detect_kind, load_payload
        from .._registry import validate as run_validate

        data = _form()
        text, kind = data.get("payload", ""), data.get("kind") or None
        if not text.strip():
            return _json_error("paste a receipt: a JSON object, an eSMS query string or a "
                               "whole callback URL")
        try:
            payload = load_payload(text)
            detected = kind or detect_kind(payload)
            problems = run_validate(payload, kind=detected, strict=bool(data.get("strict")))
        except DlrmockError as exc:
            return _json_error(str(exc))
        return {"kind": detected, "valid": not problems,
                "problems": [str(problem) for problem in problems]}

    @ui.get("/events")
    def events() -> Any:
        """Server-sent events: one per published event, with the message it concerns."""
        state = _state()
        with streams_lock:
            if streams[0] >= MAX_STREAMS:
                response = _json_error(f"{MAX_STREAMS} dashboard event streams are open already "
                                       "(each holds a server thread); close a tab", 503)
                response.headers["Retry-After"] = "5"
                return response
            streams[0] += 1
        inbox: queue.SimpleQueue[Event] = queue.SimpleQueue()
        unsubscribe = state.events.subscribe(inbox.put)

        finished = threading.Event()

        def done() -> None:  # once, however the response ends (even before it started)
            if finished.is_set():
                return
            finished.set()
            unsubscribe()
            with streams_lock:
                streams[0] -= 1

        def stream() -> Iterator[str]:
            try:
                yield "retry: 1000\n\n"
                closing = time.monotonic() + STREAM_SECONDS
                quiet_since = time.monotonic()
                while time.monotonic() < closing and not state.stopping.is_set():
                    try:
                        event = inbox.get(timeout=POLL_SECONDS)
                    except queue.Empty:
                        if time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                            quiet_since = time.monotonic()
                            yield ": still here\n\n"  # finds a browser that went away
                        continue
                    quiet_since = time.monotonic()
                    data = _sse_data(event, state.counters.as_dict())
                    yield f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n"
            finally:
                done()

        response = Response(stream_with_context(stream()), mimetype="text/event-stream")
        response.call_on_close(done)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"
        return response

    return ui


def _form() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if isinstance(data, dict):
        return {str(k): v if isinstance(v, str | bool) else str(v) for k, v in data.items()}
    return {k: v for k, v in request.form.items()}


def _sse_data(event: Event, counters: Mapping[str, int]) -> str:
    data = event.data
    attempt = data.get("attempt") if isinstance(data.get("attempt"), Mapping) else None
    summary: dict[str, Any] = {
        "seq": event.seq, "kind": event.kind, "message_id": data.get("message_id"),
        "run_id": data.get("run_id"), "counters": dict(counters)}
    if attempt is not None:
        summary.update(outcome=attempt["outcome"], status=attempt["status"],
                       receipt=attempt["kind"], attempt=attempt["attempt"],
                       url=attempt["request"]["url"])
    elif event.kind == "run":
        summary.update(state=data.get("state"), ok=data.get("ok"))
    return json.dumps(summary, default=str)
