"""The Flask app of the fake provider: send APIs at the providers' paths, admin API under
``/_dlrmock/``."""

from __future__ import annotations

import hmac
import logging
import math
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ._engine import Engine, Run, check_policy
from ._errors import DlrmockError, ErrorLog, PendingLimitError, RunNotFoundError
from ._events import JOURNEY, RESET, Counters, EventBus
from ._history import History, MemoryHistory, SqliteHistory, restore
from ._hooks import EngineHooks
from ._http import TlsConfigError, tls_context
from ._limits import MAX_DEPTH, loads_json, nesting_depth
from ._scenarios import builtin_scenarios
from ._targets import AllowList, policy_for
from ._version import __version__
from .openapi import openapi_document
from .providers import FAMILIES, KINDS, PROVIDERS
from .sendapi import (
    PLAYABLE_OUTCOMES,
    CapturedSend,
    MessageNotFoundError,
    MessageNotHeldError,
    SendSettings,
    SendState,
    SentMessage,
    create_send_blueprints,
)
from .sendapi._exchange import BodyCutShort, BodyTooLarge, read_body
from .sendapi._state import Journey

__all__ = ["ADMIN_PREFIX", "Config", "State", "create_app", "get_state", "release_message"]

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_dlrmock"


@dataclass(frozen=True)
class Config:
    """Settings of one fake-provider server. Every field has a default that just works."""

    time_scale: float = 1.0
    """Scenario seconds → real seconds (0: deliver at once, order kept)."""
    seed: int | None = None
    """Seed of the generated data; None picks one per run (shown in the journal)."""
    journal_limit: int = 100_000
    """Attempts kept before the oldest finished runs are evicted (counted in /health)."""
    max_connections: int = 32
    """Open connections per webhook origin (scheme, host, port), whatever the paths; more
    requests wait their turn (up to their timeout: ``pool_timeout``)."""
    admin_token: str | None = None
    """When set, admin requests need ``Authorization: Bearer <token>``."""
    policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per-provider delivery policy overrides, e.g. ``{"esms": {"timeout": 5}}``."""
    send: Mapping[str, Any] = field(default_factory=dict)
    """Send-API settings (credentials, brandnames, OAs, default webhook, magic numbers)."""
    captured_limit: int = 10_000
    """Send requests kept for ``GET /_dlrmock/sent``."""
    allow_targets: Sequence[str] = ()
    """Delivery targets allowed besides loopback when bound beyond it (names, addresses, CIDR
    ranges, ``HOST:PORT``; ``*`` allows any). Bound to loopback, every target is allowed."""
    max_pending_runs: int = 10_000
    """Unfinished runs held at once (waiting on a clock or a journey expiry included); a send or
    ``POST /_dlrmock/runs`` beyond it gets a clear error, counted in /health."""
    admin_max_body_bytes: int = 1024 * 1024
    """Largest admin API request body; larger ones get a 413."""
    db: str | None = None
    """A SQLite file keeping the history (messages, runs, journal, what is still scheduled)
    across restarts; ``None`` keeps it in memory."""
    keep: int | None = None
    """Messages the history keeps (the oldest are pruned); ``None``: all (memory: 100 000)."""
    cacert: str | None = None
    """A PEM file of the CA certificate(s) that https:// webhooks are verified against, instead
    of the system's trust store (curl's ``--cacert``)."""
    insecure: bool = False
    """Deliver to https:// webhooks without verifying their certificates (curl's ``--insecure``)."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Config:
        """A config from a mapping (a config file); unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DlrmockError(
                f"unknown config key {unknown[0]!r}; known keys: {', '.join(sorted(known))}"
            )
        return replace(cls(), **dict(values))

    def __post_init__(self) -> None:
        def number(name: str, value: Any, minimum: float, integer: bool = False) -> None:
            kind = int if integer else (int, float)
            if (
                isinstance(value, bool)
                or not isinstance(value, kind)
                or not (_finite(value) and value >= minimum)
            ):
                what = "an integer" if integer else "a number"
                raise DlrmockError(f"config {name!r} must be {what} >= {minimum:g}, got {value!r}")

        number("time_scale", self.time_scale, 0)
        number("journal_limit", self.journal_limit, 1, integer=True)
        number("max_connections", self.max_connections, 1, integer=True)
        number("captured_limit", self.captured_limit, 1, integer=True)
        number("max_pending_runs", self.max_pending_runs, 1, integer=True)
        number("admin_max_body_bytes", self.admin_max_body_bytes, 1024, integer=True)
        if isinstance(self.allow_targets, str) or not isinstance(self.allow_targets, Sequence):
            raise DlrmockError(
                "config 'allow_targets' must be a list of HOST[:PORT] / CIDR entries, "
                f"got {self.allow_targets!r}"
            )
        try:
            AllowList(str(entry) for entry in self.allow_targets)
        except DlrmockError as exc:
            raise DlrmockError(f"config 'allow_targets': {exc}") from None
        if self.seed is not None:
            number("seed", self.seed, 0, integer=True)
        if self.keep is not None:
            number("keep", self.keep, 1, integer=True)
        if self.db is not None and (not isinstance(self.db, str) or not self.db.strip()):
            raise DlrmockError(f"config 'db' must be a file path, got {self.db!r}")
        if self.admin_token is not None and (
            not isinstance(self.admin_token, str) or not self.admin_token.strip()
        ):
            raise DlrmockError(
                f"config 'admin_token' must be a non-empty string, got {self.admin_token!r}"
            )
        if not isinstance(self.insecure, bool):
            raise DlrmockError(f"config 'insecure' must be true or false, got {self.insecure!r}")
        if self.cacert is not None and (not isinstance(self.cacert, str) or not self.cacert):
            raise DlrmockError(f"config 'cacert' must be a file path, got {self.cacert!r}")
        if self.cacert is not None and self.insecure:
            raise DlrmockError(
                "config 'cacert' and 'insecure' together: insecure verifies no certificate, so "
                "the CA file would be ignored; keep one of them"
            )
        try:
            self.tls()
        except TlsConfigError as exc:
            raise DlrmockError(f"config 'cacert': {exc}") from None
        for name in ("policies", "send"):
            if not isinstance(getattr(self, name), Mapping):
                raise DlrmockError(
                    f"config {name!r} must be a mapping, got {getattr(self, name)!r}"
                )
        families = sorted(FAMILIES)
        for provider, overrides in self.policies.items():
            if provider not in PROVIDERS and provider not in families:
                raise DlrmockError(
                    f"config 'policies': unknown provider or receipt family {provider!r}; "
                    f"known: {', '.join([*PROVIDERS, *families])}"
                )
            if not isinstance(overrides, Mapping):
                raise DlrmockError(
                    f"config 'policies.{provider}' must be a mapping, got {overrides!r}"
                )
            try:
                check_policy(overrides)
            except ValueError as exc:
                raise DlrmockError(f"config 'policies.{provider}': {exc}") from None


    def tls(self) -> ssl.SSLContext | None:
        """How https:// webhooks are verified; None: the system's trust store."""
        if self.cacert is None and not self.insecure:
            return None
        return tls_context(self.cacert, insecure=self.insecure)


def _finite(value: float) -> bool:
    """``math.isfinite`` that says False, not ``OverflowError``, for an int of 400 digits."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class State:
    """What one server holds: its engine, the captured sends, errors raised in its threads."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.engine = Engine(
            time_scale=config.time_scale,
            seed=config.seed,
            journal_limit=config.journal_limit,
            max_connections=config.max_connections,
            policies=config.policies,
            max_pending_runs=config.max_pending_runs,
            tls=config.tls(),
        )
        self.sent: deque[CapturedSend] = deque(maxlen=config.captured_limit)
        self.errors = ErrorLog()
        self.rejected_sends = 0
        """Send requests answered with a provider error (unknown paths included)."""
        self.lock = threading.Lock()
        try:
            self.send_settings = SendSettings.from_mapping(config.send)
        except ValueError as exc:
            raise DlrmockError(f"config 'send': {exc}") from None
        self.send_state = SendState(self.send_settings)
        self.events = EventBus()
        """What happened, for the console, the dashboard, the counters and the history."""
        self.counters = Counters()
        self.events.subscribe(self.counters)
        self.history: History = (
            SqliteHistory(config.db, config.keep) if config.db is not None
            else MemoryHistory(config.keep or 100_000))
        self._unsubscribe_history = self.events.subscribe(self.history)
        self.send_state.on_journey = self._journey_changed
        self.hooks = EngineHooks(self.engine, self._capture, self.send_state.messages,
                                 answer_margin=self.send_settings.answer_margin,
                                 events=self.events)
        self._resumes: list[Callable[[], None]] = []
        self.restored = (restore(self, self.history, later=self._resumes)
                         if config.db is not None else None)
        """What ``--db`` brought back: messages and resumed schedules (started by
        :meth:`resume`)."""
        self.stopping = threading.Event()
        """Set when the server stops: the dashboard's event streams end."""

    def _journey_changed(self, journey: Journey) -> None:
        self.events.publish(JOURNEY, {"message_id": journey.journey_id, "journey": asdict(journey)})

    def resume(self) -> None:
        """Start the receipts a ``--db`` history planned again (once; ``create_app`` does it
        unless told not to, so that a console can listen first)."""
        starts, self._resumes = self._resumes, []
        for start in starts:
            start()

    def bind(self, host: str) -> None:
        """Apply the allow-list that binding ``host`` calls for (every target on loopback)."""
        self.engine.allow_targets = policy_for(host, self.config.allow_targets)

    def _capture(self, sent: CapturedSend) -> None:
        if nesting_depth(sent.json) > MAX_DEPTH:  # kept as text only: views recurse into .json
            sent = replace(sent, json=None)
        with self.lock:
            self.sent.append(sent)
            if sent.error is not None:
                self.rejected_sends += 1

    def reset(self) -> None:
        self.engine.reset()
        self.send_state.clear()
        self.errors.clear()
        with self.lock:
            self.sent.clear()
            self.rejected_sends = 0
        self.events.publish(RESET, {})

    def keep_schedules(self) -> None:
        """Stop recording into a ``--db`` history before the engine is closed: the runs the
        shutdown cancels did not end, and resume after a restart."""
        if isinstance(self.history, SqliteHistory):
            self._unsubscribe_history()

    def close(self) -> None:
        """Stop the engine; the history keeps what is still scheduled (``--db`` resumes it)."""
        self.stopping.set()
        self.keep_schedules()
        self.engine.close()
        self.history.close()


def release_message(state: State, message_id: str, outcome: str | None = None,
                    scenario: str | None = None) -> SentMessage:
    """Release a held message with ``outcome`` or a built-in ``scenario`` of its provider.

    Raises :class:`DlrmockError` subclasses naming the problem: an unknown id, a message not
    held, neither or both of ``outcome`` / ``scenario``, an unknown outcome or scenario.
    """
    message = state.send_state.messages.get(message_id)
    if (outcome is None) == (scenario is None):
        raise BadRequest("give exactly one of 'outcome' "
                         f"({', '.join(PLAYABLE_OUTCOMES)}) or 'scenario' (a built-in name)")
    if outcome is not None and outcome not in PLAYABLE_OUTCOMES:
        raise BadRequest(f"unknown outcome {outcome!r}; release with one of "
                         f"{', '.join(PLAYABLE_OUTCOMES)}")
    if scenario is not None and (not isinstance(scenario, str)
                                 or scenario not in builtin_scenarios()
                                 or not scenario.startswith(f"{message.provider}.")):
        raise BadRequest(f"unknown scenario {scenario!r} for this {message.provider} message; "
                         f"name a built-in '{message.provider}.…' scenario "
                         "(`dlrmock scenarios` lists them)")
    try:
        state.send_state.messages.release(message_id, outcome, scenario)
    except DlrmockError:
        raise
    except Exception as exc:  # the provider refused, e.g. a journey token that has expired
        raise BadRequest(f"cannot release {message_id!r}: {exc}", 409) from None
    state.hooks.release(message.run_ids)
    return message


def get_state(app: Flask | None = None) -> State:
    """The :class:`State` of ``app`` (the current app by default)."""
    state: State = (app or current_app).extensions["dlrmock"]
    return state


# ----------------------------------------------------------------------------- admin blueprint
admin = Blueprint("dlrmock_admin", __name__, url_prefix=ADMIN_PREFIX)


class BadRequest(DlrmockError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@admin.before_request
def _check_token() -> Any:
    token = get_state().config.admin_token
    if token is None:
        return None
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    # Bytes: compare_digest refuses str with non-ASCII characters (a 500 on a bad header).
    if not given or not hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")
    ):
        return _error(
            "unauthorized", "this server needs 'Authorization: Bearer <admin token>'", 401
        )
    return None


@admin.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> Any:
    return _error("bad_request", str(exc), exc.status)


@admin.errorhandler(DlrmockError)
def _dlrmock_error(exc: DlrmockError) -> Any:
    if isinstance(exc, PendingLimitError):
        return _error(type(exc).__name__, str(exc), 503)
    status = 404 if isinstance(exc, RunNotFoundError | MessageNotFoundError) else (
        409 if isinstance(exc, MessageNotHeldError) else 400)
    return _error(type(exc).__name__, str(exc), status)


def _error(code: str, message: str, status: int) -> Any:
    response = jsonify({"error": code, "message": message})
    response.status_code = status
    return response


def _body() -> dict[str, Any]:
    """The request body as a JSON object: capped in size and depth, chunked or not."""
    limit = get_state().config.admin_max_body_bytes
    try:
        raw = read_body(limit)  # a chunked body has no Content-Length but is read
    except BodyTooLarge as exc:
        size = f"{exc.length} bytes, at most {limit}" if exc.declared else \
            f"more than {limit} bytes"
        raise BadRequest(f"request body too large: {size} (the admin_max_body_bytes setting)",
                         413) from None
    except BodyCutShort as exc:
        raise BadRequest(exc.reason) from None
    if not raw.strip():
        return {}
    try:
        data = loads_json(raw, "the body")
    except ValueError as exc:
        raise BadRequest(
            f"the body must be a JSON object (Content-Type: application/json): {exc}"
        ) from None
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, got a JSON {type(data).__name__}")
    return data


def _number(
    data: Mapping[str, Any], name: str, default: float | None, minimum: float = 0.0
) -> float | None:
    value = data.get(name, default)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not _finite(value)
        or value < minimum
    ):
        raise BadRequest(f"{name!r} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


@admin.get("/health")
def health() -> Any:
    state = get_state()
    engine = state.engine
    return jsonify(
        {
            "status": "ok",
            "version": __version__,
            "time": time.time(),
            "time_scale": state.config.time_scale,
            "journal": state.engine.journal.stats(),
            "runs": {
                "pending": engine.pending_runs,
                "max_pending": engine.max_pending_runs,
                "rejected": engine.rejected_runs,
            },
            "blocked_attempts": engine.blocked_attempts,
            "allow_targets": engine.allow_targets.describe() if engine.allow_targets else "any",
            "errors": len(state.errors) + len(engine.errors),
            "rejected_sends": state.rejected_sends,
            "counters": state.counters.as_dict(),
        }
    )


@admin.get("/scenarios")
def list_scenarios() -> Any:
    return jsonify({"scenarios": [s.as_dict() for s in builtin_scenarios().values()]})


@admin.get("/kinds")
def list_kinds() -> Any:
    return jsonify(
        {"kinds": [{"name": k.name, "description": k.description} for k in KINDS.values()]}
    )


@admin.post("/runs")
def start_run() -> Any:
    data = _body()
    allowed = {
        "scenario",
        "to",
        "fields",
        "message",
        "seed",
        "time_scale",
        "clock",
        "policy",
        "error_info_encoding",
        "allow_invalid",
    }
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    scenario = data.get("scenario")
    if not isinstance(scenario, str | dict):
        raise BadRequest(
            "'scenario' is required: a built-in name (GET /_dlrmock/scenarios) "
            "or an inline scenario object"
        )
    if isinstance(scenario, str) and scenario not in builtin_scenarios():
        # Never read files named by a remote caller: only built-in names or inline scenarios.
        from ._errors import UnknownScenarioError

        return _error(
            "UnknownScenarioError", str(UnknownScenarioError(scenario, builtin_scenarios())), 404
        )
    target = data.get("to")
    if not isinstance(target, str):
        raise BadRequest("'to' is required: the webhook URL, e.g. http://127.0.0.1:8000/hook")
    for name in ("fields", "message", "policy"):
        if not isinstance(data.get(name, {}), dict):
            raise BadRequest(f"{name!r} must be a JSON object, got {data[name]!r}")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadRequest(f"'seed' must be an integer, got {seed!r}")
    encoding = data.get("error_info_encoding")
    if encoding is not None and (isinstance(encoding, bool) or encoding not in (1, 2, 3, 4)):
        raise BadRequest(f"'error_info_encoding' must be 1, 2, 3 or 4, got {encoding!r}")
    allow_invalid = data.get("allow_invalid", False)
    if not isinstance(allow_invalid, bool):
        raise BadRequest(f"'allow_invalid' must be true or false, got {allow_invalid!r}")
    run = get_state().hooks.play(  # journaled: a --db history resumes it after a restart
        scenario,
        target,
        fields=data.get("fields"),
        message=data.get("message"),
        seed=seed,
        time_scale=_number(data, "time_scale", None),
        clock=str(data.get("clock", "scaled")),
        policy=data.get("policy"),
        error_info_encoding=encoding,
        allow_invalid=allow_invalid,
    )
    response = jsonify(run.as_dict(attempts=False))
    response.status_code = 201
    response.headers["Location"] = f"{ADMIN_PREFIX}/runs/{run.id}"
    return response


RUNS_PAGE = 100
"""Runs one ``GET /_dlrmock/runs`` answers by default (``?limit=``, at most 1000)."""
RUNS_PAGE_MAX = 1000


@admin.get("/runs")
def list_runs() -> Any:
    """A page of runs, newest first (``?order=oldest``), starting after run ``?after=``."""
    text = request.args.get("limit", str(RUNS_PAGE))
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or not (
        1 <= int(text) <= RUNS_PAGE_MAX
    ):
        raise BadRequest(f"'limit' must be a whole number from 1 to {RUNS_PAGE_MAX}, got {text!r}")
    limit = int(text)
    order = request.args.get("order", "newest")
    if order not in ("newest", "oldest"):
        raise BadRequest(f"'order' must be 'newest' or 'oldest', got {order!r}")
    runs = get_state().engine.runs()
    if order == "newest":
        runs.reverse()
    after = request.args.get("after")
    if after is not None:
        ids = [r.id for r in runs]
        if after not in ids:
            raise BadRequest(
                f"'after' names no run listed: {after!r} (it may have been evicted or reset); "
                "start again without 'after'"
            )
        runs = runs[ids.index(after) + 1 :]
    page = runs[:limit]
    body: dict[str, Any] = {"runs": [r.as_dict(attempts=False) for r in page]}
    if len(runs) > limit:
        query = urlencode({"limit": limit, "order": order, "after": page[-1].id})
        body["next"] = f"{ADMIN_PREFIX}/runs?{query}"
    return jsonify(body)


def _run(run_id: str) -> Run:
    return get_state().engine.get(run_id)


@admin.get("/runs/<run_id>")
def get_run(run_id: str) -> Any:
    return jsonify(_run(run_id).as_dict())


@admin.get("/runs/<run_id>/wait")
def wait_run(run_id: str) -> Any:
    """Long-poll: 200 when the run has finished, 202 if still running after ``timeout``."""
    run = _run(run_id)
    try:
        seconds = float(request.args.get("timeout", 30.0))
    except ValueError:
        raise BadRequest(
            f"'timeout' must be a number of seconds, got {request.args.get('timeout')!r}"
        ) from None
    if not 0 <= seconds <= 300:
        raise BadRequest(f"'timeout' must be between 0 and 300 seconds, got {seconds!r}")
    run.wait_done(seconds)
    response = jsonify(run.as_dict())
    response.status_code = 200 if run.finished else 202
    return response


@admin.post("/runs/<run_id>/step")
def step_run(run_id: str) -> Any:
    run = _run(run_id)
    made = run.step()
    return jsonify({"attempts": [a.as_dict() for a in made], "run": run.as_dict(attempts=False)})


@admin.post("/runs/<run_id>/advance")
def advance_run(run_id: str) -> Any:
    run = _run(run_id)
    seconds = _number(_body(), "seconds", None)
    if seconds is None:
        raise BadRequest("'seconds' is required, e.g. {\"seconds\": 2}")
    made = run.advance(seconds)
    return jsonify({"attempts": [a.as_dict() for a in made], "run": run.as_dict(attempts=False)})


@admin.post("/runs/<run_id>/cancel")
def cancel_run(run_id: str) -> Any:
    run = get_state().engine.cancel(run_id)
    return jsonify(run.as_dict(attempts=False))


@admin.post("/reset")
def reset() -> Any:
    get_state().reset()
    return jsonify({"status": "reset"})


@admin.get("/sent")
def list_sent() -> Any:
    state = get_state()
    with state.lock:
        sent = list(state.sent)
    return jsonify({"sent": [asdict(item) for item in sent]})


@admin.get("/messages")
def list_messages() -> Any:
    """Sent messages, newest first; ``?state=held`` (or pending, playing, final) filters."""
    state = get_state()
    wanted = request.args.get("state")
    with state.send_state.messages.lock:
        items = [m.as_dict() for m in reversed(state.send_state.messages.all())
                 if wanted is None or m.state == wanted]
    return jsonify({"messages": items})


@admin.get("/messages/<message_id>")
def get_message(message_id: str) -> Any:
    state = get_state()
    message = state.send_state.messages.get(message_id)
    with state.send_state.messages.lock:
        return jsonify(message.as_dict())


@admin.get("/openapi.json")
def openapi() -> Any:
    document = openapi_document(request.args.get("provider") or None)
    document["servers"] = [{"url": request.url_root.rstrip("/")}]
    return jsonify(document)


@admin.post("/messages/<message_id>/release")
def release(message_id: str) -> Any:
    data = _body()
    unknown = sorted(set(data) - {"outcome", "scenario"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; send {{\"outcome\": …}} or "
                         "{\"scenario\": …}")
    state = get_state()
    message = release_message(state, message_id, data.get("outcome"), data.get("scenario"))
    with state.send_state.messages.lock:
        return jsonify(message.as_dict())


# ---------------------------------------------------------------------------------- the factory
def create_app(config: Config | Mapping[str, Any] | None = None, *,
               resume: bool = True) -> Flask:
    """The fake provider as a WSGI app. Its engine thread starts with the first run.

    With ``resume=False`` the receipts a ``--db`` history planned again wait for
    ``get_state(app).resume()`` (``dlrmock serve`` subscribes its console first)."""
    if config is None:
        config = Config()
    elif not isinstance(config, Config):
        config = Config.from_mapping(config)
    # No static route (Flask would serve /static/<path> from the root path), and a root path
    # inside the package rather than the working directory: a remote caller names no files.
    app = Flask("dlrmock", static_folder=None, root_path=str(Path(__file__).parent))
    app.json.sort_keys = False  # type: ignore[attr-defined]
    state = State(config)
    app.extensions["dlrmock"] = state
    app.register_blueprint(admin)
    from .ui import create_ui_blueprint

    app.register_blueprint(create_ui_blueprint(), url_prefix=f"{ADMIN_PREFIX}/ui")
    _register_send_apis(app, state)
    if resume:
        state.resume()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        return _error(
            exc.name.lower().replace(" ", "_"), exc.description or exc.name, exc.code or 400
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        # A bug in dlrmock: keep it so MockProvider.check() re-raises it in the caller.
        log.exception("unexpected error in %s %s", request.method, request.path)
        state.errors.append(exc)
        return _error("internal_error", f"dlrmock failed on this request: {exc!r}", 500)

    return app


def _register_send_apis(app: Flask, state: State) -> None:
    """The providers' send APIs (``mock_server.sendapi``), their receipts played by the engine."""
    for blueprint in create_send_blueprints(
        state.send_settings, state.hooks, state=state.send_state
    ):
        app.register_blueprint(blueprint)
