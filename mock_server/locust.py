"""Locust users that play dlrmock scenarios at a webhook the way the provider delivers them.

``ReceiptUser`` is a Locust user class: each user plays runs of its scenarios (built-in names,
files, inline mappings, or a weighted mix) at Locust's ``host``, with the provider's transport
and delivery policy (timeout, retries on timeout, acknowledgement rule), and reports every HTTP
attempt to Locust's statistics: request type the transport's method, name the receipt kind. An
answer that does not acknowledge the receipt as the provider requires is a failure with the
reason. Payloads come from :class:`~mock_server.ReceiptFactory`, seeded per user; nothing is
validated at run time.

Importing this module imports Locust, which monkey-patches the standard library with gevent:
import it only in a locustfile or a process that runs Locust (``dlrmock load`` runs Locust in
subprocesses). ``pip install "dlrmock[load]"`` installs Locust.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import logging
import math
import random
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import gevent
from geventhttpclient.response import HTTPConnectionClosed
from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpSession, FastHttpUser, ResponseContextManager
from locust.env import Environment
from locust.runners import STATE_STOPPED, MasterRunner, WorkerRunner
from locust.util.timespan import parse_timespan

from ._engine import ACKNOWLEDGED, HTTP_ERROR, LOST_ACK, Delivery, plan_run, run_policy
from ._errors import RunError
from ._factory import ReceiptFactory
from ._http import TlsConfigError, certificate_failure, read_cacert, tls_context
from ._load import LoadTally, ScenarioMix, ScenarioSpec, Verdict, parse_mix
from ._scenarios import Scenario
from .providers import DeliveryPolicy

__all__ = ["LoadTally", "ReceiptUser", "ScenarioMix", "Verdict", "parse_mix", "verdict"]

log = logging.getLogger(__name__)

_ACK_RULES = {"2xx": "any 2xx", "200": "exactly 200", "success": "a 2xx with the body 'success'"}
_STOP_MESSAGE = "dlrmock_stop"
_REPORT_GRACE = 10.0
"""Seconds (beyond the stop timeout and three report intervals) the master waits for the
workers' last reports after stopping them."""


@functools.lru_cache(maxsize=64)
def _mix_from_text(text: str) -> ScenarioMix:
    return parse_mix(text)


def verdict(environment: Environment) -> Verdict:
    """The verdict from this process's tally and Locust's statistics (on the master: every
    worker's reports so far)."""
    tally = _state(environment).tally
    total = environment.stats.total

    def percentile(p: float) -> float | None:
        return float(total.get_response_time_percentile(p)) if total.num_requests else None

    return Verdict(
        runs=tally.runs,
        receipts=tally.receipts,
        acknowledged=tally.handled,
        requests=total.num_requests,
        retries=tally.retries,
        failures=dict(tally.failures),
        unacknowledged=dict(tally.unhandled),
        p50_ms=percentile(0.5),
        p95_ms=percentile(0.95),
        p99_ms=percentile(0.99),
        cpu_seconds=tally.cpu_seconds,
    )


# ---------------------------------------------------------------------------- per-environment
@dataclass
class _LoadState:
    tally: LoadTally = field(default_factory=LoadTally)
    users: itertools.count[int] = field(default_factory=itertools.count)
    stopped_workers: dict[str, bool] = field(default_factory=dict)
    """Master: worker id → whether its last report came after its users had stopped."""
    stopper: gevent.Greenlet[Any, Any] | None = None
    cpu_mark: float | None = None
    """CPU time of this process when the test started, or at its last report."""

    def take_cpu(self) -> None:
        """Add the CPU time used since the last mark to the tally (from the test's start)."""
        if self.cpu_mark is not None:
            now = time.process_time()
            self.tally.cpu_seconds += now - self.cpu_mark
            self.cpu_mark = now


_STATES: WeakKeyDictionary[Environment, _LoadState] = WeakKeyDictionary()


def _state(environment: Environment) -> _LoadState:
    state = _STATES.get(environment)
    if state is None:
        state = _STATES[environment] = _LoadState()
    return state


def _option(environment: Environment, name: str) -> Any:
    options = environment.parsed_options
    return getattr(options, name, None) if options is not None else None


# ------------------------------------------------------------------------------ the user class
class _Clock:
    """Scenario time for one run: real time scaled by ``scale``; 0 waits for nothing (order
    kept)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.start = time.monotonic()
        self.virtual = 0.0

    def now(self) -> float:
        if self.scale == 0:
            return self.virtual
        return (time.monotonic() - self.start) / self.scale

    def sleep_until(self, due: float) -> None:
        if self.scale == 0:
            self.virtual = max(self.virtual, due)
            return
        delay = self.start + due * self.scale - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)


class ReceiptUser(FastHttpUser):
    """Plays dlrmock scenarios at Locust's ``host`` (the webhook URL), one run per task.

    Subclass it in a locustfile and set :attr:`scenarios`; or run ``dlrmock load``, whose
    ``--scenario`` options reach every worker. Command-line options (``--dlrmock-scenario``,
    ``--dlrmock-seed``, ``--dlrmock-time-scale``; ``--dlrmock-cacert`` or ``--dlrmock-insecure``
    for :attr:`cacert` and :attr:`insecure` together) override the class attributes.
    """

    abstract = True
    wait_time = constant(0)
    insecure = False
    """An https:// webhook's certificate is verified (against the system's CAs), as a provider
    does; set True in a subclass to accept any certificate (curl's ``--insecure``)."""
    cacert: str | None = None
    """The PEM file of the CA certificate(s) an https:// webhook's certificate is verified
    against instead of the system's trust store (curl's ``--cacert``), e.g. mkcert's or
    trustme's CA. Every process running users reads it: with workers on other machines, pass
    ``--dlrmock-cacert`` to the master instead, which sends its certificates to the workers."""

    scenarios: ScenarioSpec | Sequence[Any] | Mapping[str, float] = ()
    """What to play: one scenario, a list (equal weights), ``{name: weight}``, or
    ``[(scenario, weight), ...]``."""
    time_scale: float = 0.0
    """Scenario delays and retry intervals are scaled by this; 0 sends at once (order kept)."""
    seed: int | None = None
    """Base seed: user N's receipts are reproducible from (seed, worker index, N)."""
    policy: Mapping[str, Any] = {}
    """Delivery policy overrides for every run (``timeout``, ``retries``, ``retry_interval``,
    ``retry_on``, ``acknowledge``), on top of the family's policy and the scenario's."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._mix = self._resolve_mix(environment)
        scale = _option(environment, "dlrmock_time_scale")
        self._time_scale = float(self.time_scale if scale is None else scale)
        if not math.isfinite(self._time_scale) or self._time_scale < 0:
            raise RunError(f"time scale must be a number >= 0, got {self._time_scale!r}")
        base = _option(environment, "dlrmock_seed")
        base = self.seed if base is None else base
        if base is None:
            base = random.SystemRandom().randrange(2**31)
        runner = environment.runner
        worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        number = next(_state(environment).users)
        self.user_seed = random.Random(f"{base}/{worker}/{number}").randrange(2**31)
        """The seed of this user's receipts and scenario picks."""
        self._factory = ReceiptFactory(self.user_seed)
        self._random = random.Random(self.user_seed)
        self._sessions: dict[float, FastHttpSession] = {}
        self._warm: dict[float, bool] = {}
        """Per session: whether its last answer left a connection open to reuse."""
        self._policies: dict[int, DeliveryPolicy] = {}
        self._tally = _state(environment).tally
        self._insecure, self._tls = _tls_settings(type(self), environment)

    def _resolve_mix(self, environment: Environment) -> ScenarioMix:
        given = _option(environment, "dlrmock_scenario")
        if given:
            return _mix_from_text(str(given))
        return _class_mix(type(self))

    @task
    def play_scenario(self) -> None:
        """One run of a scenario picked from the mix."""
        self.play(self._mix.pick(self._random))

    def play(self, scenario: Scenario) -> None:
        """Play one run of ``scenario`` at ``host``: every receipt, every attempt, in order."""
        policy = self._policy_for(scenario)
        _, deliveries = plan_run(
            self._factory, scenario, self.host or "", {}, {}, scenario.error_info_encoding,
            policy=policy,
        )
        clock = _Clock(self._time_scale)
        due = 0.0
        for delivery in deliveries:
            due += delivery.after
            clock.sleep_until(due)
            self._deliver(delivery, policy, clock)
        self._tally.runs += 1

    def _policy_for(self, scenario: Scenario) -> DeliveryPolicy:
        policy = self._policies.get(id(scenario))
        if policy is None:
            policy = self._policies[id(scenario)] = run_policy(scenario, None, self.policy)
        return policy

    def _session(self, timeout: float) -> FastHttpSession:
        """A client whose network timeouts are the policy's ``timeout`` (one per value)."""
        session = self._sessions.get(timeout)
        if session is None:
            session = FastHttpSession(
                base_url=self.host,
                request_event=self.environment.events.request,
                user=self,
                network_timeout=timeout,
                connection_timeout=timeout,
                max_redirects=0,
                max_retries=0,
                insecure=self._insecure,
                concurrency=self.concurrency,
                ssl_context_factory=self._tls or self.ssl_context_factory,
            )
            session.client.cookiejar = None  # a provider keeps no cookies
            self._sessions[timeout] = session
        return session

    def _deliver(self, delivery: Delivery, policy: DeliveryPolicy, clock: _Clock) -> None:
        """Send one receipt with the policy's retries; count it and each attempt."""
        session = self._session(policy.timeout)
        name = delivery.kind + (f" [malformed: {delivery.malformed}]" if delivery.malformed else "")
        dropping = delivery.lost_ack
        acknowledged = False
        reasons: list[str] = []
        number = 0
        while True:
            number += 1
            try:
                outcome, reason = self._attempt(session, delivery, policy, name, number)
            except _StaleConnection:  # never reached the receiver: sent again, once, uncounted
                outcome, reason = self._attempt(session, delivery, policy, name, number, False)
            if outcome == ACKNOWLEDGED and dropping != 0:
                dropping -= 1
                outcome = LOST_ACK  # the provider treats this answer as lost: a timeout
            self._tally.attempts += 1
            self._tally.retries += number > 1
            if reason is not None:
                self._tally.failures[reason] += 1
                reasons.append(reason)
            acknowledged = acknowledged or outcome in (ACKNOWLEDGED, LOST_ACK)
            seen_as = "timeout" if outcome == LOST_ACK else outcome
            if seen_as not in policy.retry_on or number > policy.retries:
                break
            clock.sleep_until(clock.now() + policy.retry_interval)
        # As Run.failures judges: a malformed receipt must never get a 5xx or no answer; any
        # other must be acknowledged by one of its attempts.
        handled = not reasons if delivery.malformed else acknowledged
        self._tally.receipts += 1
        if handled:
            self._tally.handled += 1
        else:
            self._tally.unhandled[reasons[-1] if reasons else "not acknowledged"] += 1

    def _attempt(
        self,
        session: FastHttpSession,
        delivery: Delivery,
        policy: DeliveryPolicy,
        name: str,
        number: int,
        resend_if_stale: bool = True,
    ) -> tuple[str, str | None]:
        """One HTTP request, reported to Locust; (engine outcome, failure reason or None).

        Raises :class:`_StaleConnection` instead of reporting when a kept-alive connection
        turned out closed before the request was answered (as the engine's client, it is sent
        again on a new connection).
        """
        request = delivery.request
        warm = self._warm.get(policy.timeout, False)
        with session.request(
            request.method,
            request.url,
            name=name,
            data=request.body or None,  # type: ignore[arg-type]  # bytes are sent as they are
            headers=_headers(request.headers),
            catch_response=True,
            allow_redirects=False,
            context={"step": delivery.step, "copy": delivery.copy, "attempt": number},
        ) as response:
            outcome, reason = _judge(response, policy, delivery.malformed is not None, request.url)
            closing = str((response.headers or {}).get("connection", "")).lower() == "close"
            self._warm[policy.timeout] = bool(response.status_code) and not closing
            if resend_if_stale and warm and outcome in ("closed", "reset"):
                raise _StaleConnection  # leaves the with block unreported (not a ResponseError)
            if reason is None:
                response.success()
            else:
                response.failure(reason)
        return outcome, reason


def _tls_settings(
    user_class: type[ReceiptUser], environment: Environment
) -> tuple[bool, Callable[..., ssl.SSLContext] | None]:
    """(insecure, SSL context factory) for ``user_class``'s users: ``--dlrmock-cacert`` /
    ``--dlrmock-insecure`` when either is given (on a worker: as its master sent them), else the
    class's :attr:`~ReceiptUser.cacert` / :attr:`~ReceiptUser.insecure`. No factory: Locust's
    own (the system's trust store, or none when insecure). Raises :class:`TlsConfigError`."""
    cadata: str | None = _option(environment, "dlrmock_cacert")  # the master read the file
    insecure = bool(_option(environment, "dlrmock_insecure"))
    cafile: str | None = None
    if cadata is None and not insecure:
        cafile, insecure = user_class.cacert, bool(user_class.insecure)
    if cadata is None and cafile is None:
        return insecure, None
    context = _tls_context(cafile, cadata, insecure)
    return insecure, lambda **_: context  # geventhttpclient passes its default cafile: ignored


@functools.lru_cache(maxsize=8)
def _tls_context(cafile: str | None, cadata: str | None, insecure: bool) -> ssl.SSLContext:
    """One context per setting and process (gevent's, since Locust patched ``ssl``)."""
    return tls_context(cafile, cadata=cadata, insecure=insecure)


class _StaleConnection(Exception):
    """A kept-alive connection was found closed by the receiver: resend the request."""


@functools.lru_cache(maxsize=64)
def _class_mix(user_class: type[ReceiptUser]) -> ScenarioMix:
    return parse_mix(user_class.scenarios)


_SKIPPED_HEADERS = frozenset({"host", "content-length", "connection"})


def _headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The request's headers for Locust's client (which writes Host, Content-Length and
    Connection itself); ``Accept-Encoding: identity`` keeps it from asking for compression,
    which no provider does."""
    result = {k: v for k, v in headers if k.lower() not in _SKIPPED_HEADERS}
    result.setdefault("Accept-Encoding", "identity")
    return result


def _judge(
    response: ResponseContextManager, policy: DeliveryPolicy, malformed: bool, url: str
) -> tuple[str, str | None]:
    """(engine outcome, failure reason or None) for one answer."""
    status = int(response.status_code or 0)
    if status:
        acknowledged = policy.acknowledges(status, bytes(response.content or b""))
        outcome = ACKNOWLEDGED if acknowledged else HTTP_ERROR
        if malformed:
            if status >= 500:
                return outcome, f"HTTP {status}: a malformed receipt needs a clean 2xx/4xx answer"
            return outcome, None
        if acknowledged:
            return outcome, None
        return outcome, (
            f"HTTP {status}: not acknowledged (the provider wants {_ACK_RULES[policy.acknowledge]})"
        )
    return _transport_failure(getattr(response, "error", None), policy.timeout, url)


def _transport_failure(error: BaseException | None, timeout: float, url: str
                       ) -> tuple[str, str]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:  # geventhttpclient wraps the cause
        seen.add(id(error))
        inner = getattr(error, "original", None)
        if not isinstance(inner, BaseException):
            break
        error = inner
    if isinstance(error, socket.timeout | TimeoutError | gevent.Timeout):
        return "timeout", f"timeout: no answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "refused", "refused: nothing listens at the webhook's address"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "reset", "reset: the receiver reset the connection"
    if isinstance(error, HTTPConnectionClosed | ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "closed", "closed: the receiver closed the connection before answering"
    if isinstance(error, ssl.SSLError):
        parts = urlsplit(url)
        where = f"{parts.hostname}:{parts.port or 443}"
        if isinstance(error, ssl.SSLCertVerificationError):
            return "tls_error", "tls_error: " + certificate_failure(where, error)
        reason = (error.reason or str(error)).replace("_", " ").lower()
        return "tls_error", f"tls_error: TLS with {where} failed: {reason}"
    name = type(error).__name__ if error is not None else "unknown error"
    if "Parse" in name:
        return "invalid_response", "invalid_response: the answer is not valid HTTP"
    return "closed", f"closed: {name}"


# ------------------------------------------------------------------- Locust events and options
@events.init_command_line_parser.add_listener
def _add_options(parser: argparse.ArgumentParser, **_: Any) -> None:
    group = parser.add_argument_group("dlrmock", "Options of mock_server.locust.ReceiptUser")
    group.add_argument(
        "--dlrmock-scenario",
        default=None,
        help="The scenario mix as JSON: [{'scenario': name-or-object, 'weight': w}, ...] "
        "(dlrmock load builds it from its --scenario options)",
    )
    group.add_argument("--dlrmock-seed", type=int, default=None, help="Base seed of the users.")
    group.add_argument(
        "--dlrmock-cacert",
        metavar="FILE",
        type=_ca_certificates,
        default=None,
        help="Verify https:// webhooks against the CA certificate(s) in this PEM file instead of "
        "the system's trust store (read here; a master sends them to its workers).",
    )
    group.add_argument(
        "--dlrmock-insecure",
        action="store_true",
        default=None,
        help="Deliver to https:// webhooks without verifying them.",
    )
    group.add_argument(
        "--dlrmock-time-scale",
        type=float,
        default=None,
        help="Scale of scenario delays and retry intervals; 0 (the default) waits for nothing.",
    )
    group.add_argument(
        "--dlrmock-run-time",
        default=None,
        help="Stop after this time (e.g. 30s, 2m) letting each user finish its run, and wait "
        "for every worker's last report before quitting (so no attempt goes uncounted).",
    )
    group.add_argument(
        "--dlrmock-verdict",
        default=None,
        help="Write dlrmock's verdict as JSON to this file instead of logging it.",
    )


def _ca_certificates(path: str) -> str:
    """``--dlrmock-cacert``'s value: the certificates of the file, as PEM text (what a master
    sends its workers, which need no copy of the file)."""
    try:
        return read_cacert(path)
    except TlsConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _check_tls(environment: Environment) -> None:
    """Refuse TLS settings no user could use, in one line, before any user starts."""
    given = _option(environment, "dlrmock_cacert") is not None or _option(
        environment, "dlrmock_insecure")
    for user_class in environment.user_classes:
        if isinstance(user_class, type) and issubclass(user_class, ReceiptUser):
            try:
                _tls_settings(user_class, environment)
            except TlsConfigError as exc:
                where = ("--dlrmock-cacert/--dlrmock-insecure" if given
                         else f"{user_class.__name__}.cacert/insecure")
                raise SystemExit(f"dlrmock: error: {where}: {exc}") from None


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    state = _state(environment)
    if isinstance(runner, WorkerRunner):

        def report(client_id: str, data: dict[str, Any]) -> None:
            state.take_cpu()
            data["dlrmock"] = {**state.tally.drain(), "stopped": runner.state == STATE_STOPPED}

        def stop(environment: Environment, msg: Any, **_: Any) -> None:
            runner.stop()  # each user finishes its run; the next report says "stopped"
            send_now = getattr(runner, "_send_stats", None)  # Locust's report, sent at once
            if callable(send_now):  # instead of at the next 3-second tick
                send_now()

        environment.events.report_to_master.add_listener(report)
        environment.events.test_start.add_listener(_mark_cpu)
        runner.register_message(_STOP_MESSAGE, stop, concurrent=True)
        return
    _check_tls(environment)  # not on a worker: its master's options replace its own
    if isinstance(runner, MasterRunner):

        def receive(client_id: str, data: dict[str, Any]) -> None:
            report = data.get("dlrmock")
            if report is not None:
                state.tally.add(report)
                state.stopped_workers[client_id] = bool(report.get("stopped"))

        environment.events.worker_report.add_listener(receive)
    else:
        environment.events.test_start.add_listener(_mark_cpu)
    environment.events.test_start.add_listener(_start_stopper)
    environment.events.quitting.add_listener(_give_verdict)


def _mark_cpu(environment: Environment, **_: Any) -> None:
    _state(environment).cpu_mark = time.process_time()


def _start_stopper(environment: Environment, **_: Any) -> None:
    run_time = _option(environment, "dlrmock_run_time")
    state = _state(environment)
    if not run_time or state.stopper is not None:
        return
    seconds = parse_timespan(str(run_time))
    state.stopper = gevent.spawn(_stop_after, environment, seconds)


def _stop_after(environment: Environment, seconds: float) -> None:
    """Stop the users after ``seconds`` (each finishes its run), wait for every worker's last
    report, then quit the runner."""
    gevent.sleep(seconds)
    runner = environment.runner
    assert runner is not None
    log.info("dlrmock: run time reached; stopping the users (each finishes its current run)")
    if isinstance(runner, MasterRunner):
        # Locust's own stop message makes each worker sleep out the stop timeout before it
        # handles anything else; this one only stops the users. The workers' next reports
        # (every 3 s) carry their last requests and say they have stopped.
        state = _state(environment)
        runner.send_message(_STOP_MESSAGE)
        deadline = time.monotonic() + environment.stop_timeout + 3 * 3.0 + _REPORT_GRACE

        def pending() -> list[str]:
            workers = set(state.stopped_workers) | set(runner.clients.keys())
            return [w for w in workers if not state.stopped_workers.get(w)]

        while pending() and time.monotonic() < deadline:
            gevent.sleep(0.1)
        if pending():
            log.warning("dlrmock: %d worker(s) sent no last report; counts may be short",
                        len(pending()))
    else:
        runner.stop()
    runner.quit()


def _give_verdict(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        _state(environment).take_cpu()  # a local run: its users ran in this process
    result = verdict(environment)
    path = _option(environment, "dlrmock_verdict")
    if path:
        Path(path).write_text(json.dumps(result.as_dict(), indent=2), "utf-8")
    else:
        log.info("%s", result.text())
    environment.process_exit_code = 0 if result.ok else 1

