"""``MockProvider``: the fake provider served from a thread, for scripts and tests."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.serving import (
    BaseWSGIServer,
    WSGIRequestHandler,
    make_server,
    select_address_family,
)

from ._engine import Engine, ManualClock, Run
from ._errors import ServerError
from ._message_view import Message
from ._scenarios import Scenario
from .app import Config, State, create_app, get_state, release_message
from .sendapi import CapturedSend

__all__ = ["MockProvider", "merge_fields"]


def merge_fields(
    fields: Mapping[str, Any] | None, more: Mapping[str, Any]
) -> dict[str, Any] | None:
    """``fields`` and keyword fields as one mapping (``None`` when both are empty)."""
    merged = {**(fields or {}), **more}
    return merged or None


def base_url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 host in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: tests read the journal instead."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _make_server(
    host: str, port: int, app: Flask, request_handler: type[WSGIRequestHandler] | None = None
) -> BaseWSGIServer:
    """A threaded WSGI server listening on ``host:port``; ``OSError`` if it cannot bind.

    The socket is bound here because werkzeug's own bind prints to stderr and calls
    ``sys.exit(1)`` when the port is taken.
    """
    listener = socket.create_server((host, port), family=select_address_family(host, port))
    try:
        return make_server(
            host,
            port,
            app,
            threaded=True,
            request_handler=request_handler,
            fd=listener.fileno(),
        )
    finally:
        listener.close()  # the server holds its own duplicate of the socket


class MockProvider:
    """The fake provider on ``127.0.0.1`` (port 0 by default), served from a daemon thread.

    >>> with MockProvider(time_scale=0) as provider:          # doctest: +SKIP
    ...     run = provider.play("nxcloud.zalo.success_then_delivered", to=webhook_url)
    ...     run.wait(5).assert_acknowledged()
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **settings: Any,
    ) -> None:
        if config is None:
            config = Config.from_mapping(settings)
        elif settings:
            base = config if isinstance(config, Config) else Config.from_mapping(config)
            config = Config.from_mapping({**base.__dict__, **settings})
        self.app = create_app(config)
        self.state: State = get_state(self.app)
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> MockProvider:
        """Bind and serve; the socket listens before this returns."""
        if self._server is not None:
            return self
        self.state.bind(self.host)
        self.state.engine.start()  # first: a failure here leaves no socket or thread behind
        try:
            self._server = _make_server(self.host, self.port, self.app, _QuietHandler)
        except OSError as exc:
            self.state.engine.close()
            raise ServerError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc} "
                "(use port 0 for a free one)"
            ) from None
        self.port = self._server.port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="dlrmock-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cancel pending runs (``check()`` re-raises the server's errors)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(10)
            self._server = self._thread = None
        self.state.close()

    def __enter__(self) -> MockProvider:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        if exc_type is None:
            self.check()

    @property
    def url(self) -> str:
        """The base URL: point your app's provider base URL here."""
        if self._server is None:
            raise ServerError("the provider is not running; call start() or use `with`")
        return base_url(self.host, self.port)

    # -- runs
    def play(
        self,
        scenario: str | Scenario | Mapping[str, Any],
        to: str,
        *,
        fields: Mapping[str, Any] | None = None,
        shared: Mapping[str, Any] | None = None,
        seed: int | None = None,
        time_scale: float | None = None,
        clock: str = "scaled",
        policy: Mapping[str, Any] | None = None,
        error_info_encoding: int | None = None,
        allow_invalid: bool = False,
        **more_fields: Any,
    ) -> Run:
        """Start playing ``scenario`` at ``to``; returns the run at once (``run.wait()``).

        Receipt fields are given as keywords (``ext="order-7"``, NXCloud's ``message=...``) or
        as ``fields`` (for names that are not identifiers, e.g. ``"zaloRes.error"``); they
        override that field in every receipt that has it. ``shared`` sets the message's shared
        fields only; ``clock="manual"`` waits for ``run.step()`` / ``run.advance(s)``;
        ``error_info_encoding`` (1-4) forces eSMS's ``error_info`` encoding; ``allow_invalid``
        sends receipts the fields make invalid (marked malformed) instead of refusing them.
        """
        return self.state.engine.play(
            scenario,
            to,
            fields=merge_fields(fields, more_fields),
            message=shared,
            seed=seed,
            time_scale=time_scale,
            clock=clock,
            policy=policy,
            error_info_encoding=error_info_encoding,
            allow_invalid=allow_invalid,
        )

    @property
    def runs(self) -> list[Run]:
        return self.state.engine.runs()

    def run(self, run_id: str) -> Run:
        """The run ``run_id`` (:class:`RunNotFoundError` when unknown, reset or evicted)."""
        return self.state.engine.get(run_id)

    def wait_for_runs(self, run_ids: Iterable[str], timeout: float | None = 30.0) -> list[Run]:
        """Wait until every run of ``run_ids`` has finished; the runs, in that order."""
        deadline = None if timeout is None else time.monotonic() + timeout
        runs = [self.run(run_id) for run_id in run_ids]
        for run in runs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            run.wait(left)
        return runs

    @property
    def sent(self) -> list[CapturedSend]:
        """Every send request the system under test made, with dlrmock's answer."""
        with self.state.lock:
            captured = list(self.state.sent)
        return [item.bound(self) for item in captured]

    def now(self) -> float:
        """The server's clock (``time.time()``), what ``created_at`` and ``at`` are read on."""
        return time.time()

    @property
    def messages(self) -> list[Message]:
        """Messages sent through the send APIs, oldest first (see :class:`Message`)."""
        return [self._view(m.as_dict()) for m in self.state.send_state.messages.all()]

    def message(self, message_id: str) -> Message:
        """The message a send answered with ``message_id`` (SMSID / requestId)."""
        return self._view(self._fetch(message_id))

    def release(self, message_id: str, outcome: str | None = None, *,
                scenario: str | None = None) -> Message:
        """Let a held message play ``outcome`` or ``scenario`` (see ``send.rules``)."""
        return self._view(self._release(message_id, outcome, scenario))

    def _fetch(self, message_id: str) -> dict[str, Any]:
        messages = self.state.send_state.messages
        found = messages.get(message_id)
        with messages.lock:
            return found.as_dict()

    def _release(self, message_id: str, outcome: str | None,
                 scenario: str | None) -> dict[str, Any]:
        found = release_message(self.state, message_id, outcome, scenario)
        with self.state.send_state.messages.lock:
            return found.as_dict()

    def _view(self, data: Mapping[str, Any]) -> Message:
        return Message(data, self._fetch, self._release)

    def reset(self) -> None:
        """Forget runs, captured sends and errors (between tests)."""
        self.state.reset()

    def check(self) -> None:
        """Re-raise, as :class:`ServerError`, the first error raised inside the server."""
        errors = self.state.errors.take() + self.state.engine.errors.take()
        if errors:
            first = errors[0]
            raise ServerError(
                f"{len(errors)} error(s) inside the dlrmock server; first: "
                f"{type(first).__name__}: {first}"
            ) from first


# ------------------------------------------------------------------ dlrmock serve: production
class Stopped(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM / SIGINT to end :meth:`ProductionServer.run`.

    A ``KeyboardInterrupt`` so that waitress's loop re-raises it instead of logging it away.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signame = signal.Signals(signum).name


@dataclass(frozen=True)
class Undone:
    """What a stop left undone: unfinished runs, their receipts never sent, retries pending."""

    runs: int = 0
    receipts: int = 0
    retries: int = 0

    def __str__(self) -> str:
        if not self.runs:
            return "nothing left undone"
        return (
            f"left undone: {self.runs} run(s), {self.receipts} receipt(s) never sent, "
            f"{self.retries} retry(ies) pending"
        )


def undone(engine: Engine) -> Undone:
    """Count what the unfinished runs of ``engine`` still had to do."""
    runs = receipts = retries = 0
    for run in engine.runs():
        if run.finished:
            continue
        runs += 1
        attempts = list(run.attempts)
        for delivery in run.deliveries:
            tries = [a for a in attempts if (a.step, a.copy) == (delivery.step, delivery.copy)]
            if not tries:
                receipts += 1
            elif (
                not any(a.acknowledged for a in tries)
                and ("timeout" if tries[-1].outcome == "lost_ack" else tries[-1].outcome)
                in run.policy.retry_on
                and len(tries) <= run.policy.retries
            ):
                retries += 1
    return Undone(runs, receipts, retries)


def drain(engine: Engine, grace: float,
          before_close: Callable[[], None] | None = None) -> Undone:
    """Let runs finish for up to ``grace`` seconds, then cancel the rest; what was left undone.

    Runs on a manual clock or held are not waited for: nobody can step or release them once
    the server stops. ``before_close`` is called once the waiting is over, before the rest is
    cancelled (``--db`` keeps those runs scheduled for the next start).
    """
    manual = sum(
        1
        for run in engine.runs()
        if not run.finished and (run.held or isinstance(run.clock, ManualClock))
    )
    with engine.finished_runs:
        engine.finished_runs.wait_for(lambda: engine.pending_runs <= manual, grace)
    left = undone(engine)
    if before_close is not None:
        before_close()
    engine.close()
    return left


def _room_for_connections(wanted: int) -> int:
    """``wanted``, or fewer if the process may not open that many files (raising its soft
    limit up to the hard one first, as servers do)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + 64  # the engine's connections to webhooks, files, the interpreter's own
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, soft - 64))


class ProductionServer:
    """The fake provider on waitress: a bounded thread pool, bodies read before a thread is
    taken, idle connections closed, stopped cleanly by SIGTERM or SIGINT."""

    def __init__(
        self,
        app: Flask,
        host: str,
        port: int,
        *,
        threads: int = 32,
        channel_timeout: int = 30,
        connection_limit: int = 1000,
    ) -> None:
        import waitress.server

        connection_limit = _room_for_connections(connection_limit)

        state = get_state(app)
        caps = (state.send_settings.max_body_bytes, state.config.admin_max_body_bytes)
        # waitress buffers a body (to a temporary file past 512 KiB) before the app sees it;
        # up to 16 MiB the app answers an oversized one in the provider's error shape, beyond
        # that waitress refuses it with a plain 413 before buffering it.
        # Bound here, as for MockProvider: when the port is taken, waitress would already have
        # started its threads and left them and its sockets behind.
        listener = socket.create_server(
            (host, port), family=select_address_family(host, port), backlog=1024
        )
        try:
            self.server: Any = waitress.server.create_server(
                app,
                sockets=[listener],
                threads=threads,
            channel_timeout=channel_timeout,
                connection_limit=connection_limit,
                max_request_body_size=max(16 * 1024 * 1024, 2 * max(caps)),
                ident="dlrmock",
                clear_untrusted_proxy_headers=True,
            )
        except BaseException:
            listener.close()
            raise
        listen = getattr(self.server, "effective_listen", None)
        self.port: int = listen[0][1] if listen else self.server.effective_port
        self.on_stop: list[Callable[[], None]] = []
        """Called once when serving stops, before waitress waits for its threads (event
        streams end here instead of holding the stop up)."""

    def catch_signals(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        """Take over ``signals`` (from the main thread), before anything is announced: one that
        arrives before :meth:`run` makes it return at once; during :meth:`run` and after it, one
        raises :class:`Stopped` (so a second signal ends the grace period early)."""
        self._stopped_by: list[str] = []
        self._armed = False

        def stop(signum: int, frame: object) -> None:
            self._stopped_by.append(signal.Signals(signum).name)
            self._stopping()  # before waitress, which waits for its threads as it unwinds
            if self._armed:
                raise Stopped(signum)  # in run(), waitress catches it and finishes its requests

        self._previous = {signum: signal.signal(signum, stop) for signum in signals}

    def run(self) -> str:
        """Serve until SIGTERM or SIGINT; stop accepting, let requests in progress finish, and
        return the signal's name. Call from the main thread."""
        if not hasattr(self, "_previous"):
            self.catch_signals()
        self._armed = True
        try:
            if not self._stopped_by:  # a signal may have come before run()
                self.server.run()
        except Stopped:  # raised outside waitress's own try
            pass
        finally:
            self._stopping()
            self.server.close()
        return self._stopped_by[0] if self._stopped_by else "shutdown"

    def _stopping(self) -> None:
        hooks, self.on_stop = self.on_stop, []
        for hook in hooks:
            hook()

    def ignore_signals(self) -> None:
        """From now on a signal is only recorded (the stop is under way)."""
        self._armed = False

    def restore_signals(self) -> None:
        """Put back the signal handlers :meth:`catch_signals` replaced."""
        for signum, handler in getattr(self, "_previous", {}).items():
            signal.signal(signum, handler)
        self._previous = {}
