"""The delivery engine's HTTP client: aiohttp, with exactly one attempt per request written.

aiohttp does the HTTP (framing, parsing, keep-alive, TLS); this module decides what a request
may cost and what its failure is called:

- **No resends.** aiohttp 3.x sends an idempotent request (a GET: every eSMS callback) a second
  time when a reused keep-alive connection turns out closed (``retry_persistent_connection`` in
  ``ClientSession._request``; no public switch). A middleware sits around each write of such a
  method: it lets the handler run at most once per :meth:`HttpClient.send`, and re-raises every
  failure as an exception aiohttp does not retry (a POST, which aiohttp never resends, goes
  without it). A request that was written is one attempt, whatever happens.
  The one exception is a request that was never written: a pooled connection the server closed
  just before the write (aiohttp refuses the write: "Cannot write to closing transport") is
  replaced by a fresh one, since nothing reached the webhook.
- **Timeouts** bound the exchange; one that runs out before the request was written (connecting
  took too long) is ``connect_timeout``: nothing was sent.
- **Pools per origin** (scheme, host, port): at most ``max_connections_per_host`` requests are
  in flight per origin, so a webhook host gets at most that many connections, whatever its paths.
  Waiting for one has the request's timeout as its deadline (outcome ``pool_timeout``).
- **Outcomes** are :data:`mock_server._http.OUTCOMES`; programming mistakes in the request (a
  newline in a header value, a wrong Content-Length) raise :class:`ValueError`, sending nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import re
import ssl
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from functools import lru_cache
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy, istr
from yarl import URL

from ._http import Request, Response, TransportError, certificate_failure, with_default_headers
from ._targets import parse as parse_target

__all__ = ["HttpClient"]

log = logging.getLogger(__name__)
T = TypeVar("T")
A = TypeVar("A")
E = TypeVar("E", bound=BaseException)

_NO_CONTENT_TYPE = ("Content-Type",)
"""Skipped for a request without a Content-Type, where aiohttp would add its own."""
_UNWRITTEN = "Cannot write to closing transport"
"""aiohttp's message (``StreamWriter._write``) when a connection was closed before the write."""
_BODIES = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose request always has a body (Content-Length: 0 when empty)."""


def _has_body(request: Request) -> bool:
    return bool(request.body) or request.method in _BODIES
_LINE_BREAK = re.compile(r"[\r\n\x00]")
_MAX_UNWRITTEN = 4
"""Connections found closed at the write, at most, before a send gives up (``refused``)."""


class _Progress:
    """How far one try of a send got; aiohttp's hooks below fill it in."""

    __slots__ = ("connected", "handled", "written")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.handled = False
        """The request was handed to aiohttp's connect-and-write handler."""
        self.connected = False
        """A connection was ready: a request without a body is written in the same step."""
        self.written = False
        """The body's write began: the request (head and body, one write) is on the wire."""


_Waiter = asyncio.Future[bool] | Callable[[Any, bool], bool]
"""A send waiting for a connection slot: its future, or a callback (see ``take_slot``)."""

_progress = contextvars.ContextVar[_Progress]("dlrmock_http_progress")


class _Connector(aiohttp.TCPConnector):
    """aiohttp's connector, noting when a send has its connection."""

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[aiohttp.tracing.Trace],
        timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.connector.Connection:
        connection = await super().connect(req, traces, timeout)
        _progress.get().connected = True
        return connection


class _Request(aiohttp.ClientRequest):
    """aiohttp's request without aiohttp's default headers (Accept, Accept-Encoding): the
    request carries every header it sends, User-Agent included (the journal shows them, see
    :func:`~mock_server._http.with_default_headers`). Emptying the defaults rather than naming
    them in ``skip_auto_headers`` spares building a multidict of skipped names per request."""

    DEFAULT_HEADERS: dict[istr, str] = {}  # noqa: RUF012 (an attribute of aiohttp's class)


class _Body(aiohttp.BytesPayload):
    """A request body noting when its write begins (aiohttp writes it from a task of its own on
    Python < 3.12, a loop iteration after the connection is ready)."""

    def __init__(self, value: bytes, progress: _Progress) -> None:
        super().__init__(value)
        self.progress = progress

    async def write(self, writer: aiohttp.abc.AbstractStreamWriter) -> None:
        self.progress.written = True
        await super().write(writer)

    async def write_with_length(
        self, writer: aiohttp.abc.AbstractStreamWriter, content_length: int | None
    ) -> None:
        self.progress.written = True  # the write happens before the first suspension
        await super().write_with_length(writer, content_length)


class _Unwritten(Exception):
    """Nothing of the request was written: the pooled connection was closed before the write."""


class _Failed(Exception):
    """A failure of a request that was (or may have been) written; aiohttp never retries it."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _once(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """aiohttp middleware: connect and write the request once, never again for the same send."""
    progress = _progress.get()
    if progress.handled:
        # aiohttp wants to send it again (a retry rule this module does not know): refuse
        # before anything is written; the first failure is the attempt's outcome.
        raise _Failed(RuntimeError("aiohttp tried to send the request a second time"))
    progress.handled = True
    try:
        return await handler(request)
    except Exception as exc:
        if _never_written(exc):
            raise _Unwritten from exc
        raise _Failed(exc) from exc


_RESENT: frozenset[str] | None = getattr(aiohttp.client, "IDEMPOTENT_METHODS", None)
"""The methods aiohttp sends again when a reused connection turns out closed (None: unknown)."""


def _guarded(method: str) -> bool:
    """Whether a request needs the :func:`_once` middleware: aiohttp might resend it."""
    return _RESENT is None or method in _RESENT


def _never_written(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, aiohttp.ClientConnectionResetError) and str(seen) == _UNWRITTEN:
            return True
        seen = seen.__cause__
    return False


@lru_cache(maxsize=1024)
def _plan(url: str, connect_to: str | None) -> tuple[URL, tuple[str, str, int], str | None]:
    """(the URL aiohttp connects to, the origin, the TLS server name) for ``url``.

    ``connect_to`` (an IP address) replaces the URL's host for the connection only; the request
    still names the URL's host (its Host header) and TLS still verifies that name.
    """
    target = parse_target(url)
    host = connect_to or target.host
    literal = f"[{host}]" if ":" in host else host
    address = URL(f"{target.scheme}://{literal}:{target.port}{target.path}", encoded=True)
    server_name = target.host if connect_to and target.scheme == "https" else None
    return address, (target.scheme, target.host, target.port), server_name


@lru_cache(maxsize=1024)
def _wire_headers(
    method: str, url: str, headers: tuple[tuple[str, str], ...], length: int
) -> CIMultiDictProxy[str]:
    """The headers sent for a request of ``length`` body bytes (every one the client sends,
    checked; see :func:`_checked_headers`), built once per distinct request head: aiohttp takes
    a ready multidict as it is."""
    request = with_default_headers(Request(method, url, headers, b"\0" * length))
    return CIMultiDictProxy(CIMultiDict(_checked_headers(request)))


def _checked_headers(request: Request) -> tuple[tuple[str, str], ...]:
    """The headers to send; ValueError for a line break in one (it would end the header early:
    aiohttp would refuse it too, but only once connected) or framing that disagrees with the
    body."""
    for name, value in request.headers:
        if _LINE_BREAK.search(name) or _LINE_BREAK.search(value):
            raise ValueError(f"invalid header {name!r}: {value!r} (a line break or NUL in it)")
        lowered = name.lower()
        if lowered == "content-length" and value.strip() != str(len(request.body)):
            raise ValueError(
                f"Content-Length {value!r} does not match the {len(request.body)}-byte body; "
                "leave Content-Length out, the client adds it"
            )
        if lowered == "transfer-encoding":
            raise ValueError(
                "Transfer-Encoding is not supported; the body is sent with Content-Length"
            )
    return request.headers


async def _within(seconds: float, work: Awaitable[T]) -> T:
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await work
    return await asyncio.wait_for(work, seconds)


class _Slots:
    """One origin's connection slots: at most ``free`` more sends in flight; the others wait
    their turn in order, each until its own deadline.

    A send that finds a slot free takes it with no await and no timer. The waiting sends share
    one timer per origin, set for the earliest deadline, rather than a timeout each (a burst of
    runs to one webhook parks thousands of sends here). A waiter is the future of a send in
    progress, or a callback for a send not started yet (see :meth:`HttpClient.take_slot`).
    """

    __slots__ = ("_timer", "_timer_at", "_waiting", "free")

    def __init__(self, size: int) -> None:
        self.free = size
        """Slots nobody holds; never above 0 while a send is waiting."""
        self._waiting: deque[tuple[float, _Waiter, Any]] = deque()
        """(deadline, waiter, the callback's argument)"""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def wait(self, timeout: float) -> asyncio.Future[bool]:
        """Queue for a slot (none is free): the future is True once one is handed over, False
        if none came free within ``timeout`` s."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.queue(timeout, future, None)
        return future

    def queue(self, timeout: float, waiter: _Waiter, argument: Any) -> None:
        """Queue ``waiter`` for a slot (none is free), until ``timeout`` s from now."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiting.append((deadline, waiter, argument))
        if deadline < self._timer_at:
            self._arm(loop, deadline)

    def give(self) -> None:
        """A send is done with its slot: hand it to the first waiter still waiting, or free it."""
        waiting = self._waiting
        while waiting:
            _, waiter, argument = waiting.popleft()
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():  # else cancelled, or its deadline passed
                    waiter.set_result(True)
                    return
            elif waiter(argument, True):  # else declined: its send will not happen
                return
        self.free += 1

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = loop.call_at(when, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """The earliest deadline came: every waiter whose deadline has passed stops waiting."""
        now = max(loop.time(), self._timer_at)  # a timer may fire a hair early
        self._timer, self._timer_at = None, math.inf
        still: deque[tuple[float, _Waiter, Any]] = deque()
        soonest = math.inf
        for entry in self._waiting:
            deadline, waiter, argument = entry
            if isinstance(waiter, asyncio.Future) and waiter.done():
                continue
            if deadline > now:
                still.append(entry)
                soonest = min(soonest, deadline)
            elif isinstance(waiter, asyncio.Future):
                waiter.set_result(False)
            else:
                waiter(argument, False)
        self._waiting = still
        if still:
            self._arm(loop, soonest)


class HttpClient:
    """HTTP/1.1 to webhooks from one asyncio event loop: keep-alive pools per origin, one
    attempt per request written, failures as :class:`~mock_server._http.TransportError`."""

    def __init__(
        self,
        *,
        max_connections_per_host: int = 32,
        max_body: int = 65536,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections_per_host < 1:
            raise ValueError(
                f"max_connections_per_host must be >= 1, got {max_connections_per_host}"
            )
        if max_body < 0:
            raise ValueError(f"max_body must be >= 0, got {max_body}")
        self.max_connections_per_host = max_connections_per_host
        """Requests in flight at once per origin (scheme, host, port); more wait their turn."""
        self.max_body = max_body
        self.tls = tls
        """How https:// targets are verified (None: the system's trust store)."""
        self._slots: dict[tuple[str, str, int], _Slots] = {}
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection; a send after this raises RuntimeError."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open_session(self) -> aiohttp.ClientSession:
        connector = _Connector(
            limit=0,  # the per-origin slots below bound the connections
            limit_per_host=0,
            use_dns_cache=False,  # resolve as the allow-list does, at connect time
            ssl=self.tls if self.tls is not None else True,  # aiohttp's: the system's store
        )
        return aiohttp.ClientSession(
            connector=connector,
            middlewares=(_once,),
            timeout=aiohttp.ClientTimeout(total=None),  # send() keeps the deadlines
            auto_decompress=False,  # the journal keeps the body as it came
            cookie_jar=aiohttp.DummyCookieJar(),  # a provider keeps no cookies
            request_class=_Request,
            trust_env=False,  # no proxy from the environment between dlrmock and the webhook
        )

    def _slots_of(self, origin: tuple[str, str, int]) -> _Slots:
        slots = self._slots.get(origin)
        if slots is None:
            slots = self._slots[origin] = _Slots(self.max_connections_per_host)
        return slots

    def take_slot(
        self,
        url: str,
        connect_to: str | None,
        timeout: float,
        ready: Callable[[A, bool], bool],
        argument: A,
    ) -> bool:
        """Take one of ``url``'s origin's slots for a send that has not started yet: True if
        one was free (now held: pass ``slot=True`` to :meth:`send`, or :meth:`give_slot` it
        back). Otherwise ``ready`` waits in line with the sends waiting for one, with
        ``timeout`` as its deadline: ``ready(argument, True)`` hands it a slot (held as above;
        it returns False to decline it), ``ready(argument, False)`` says none came free in time
        (pass ``slot=False``).

        A burst of runs waits this way with no task or coroutine of its own.
        """
        slots = self._slots_of(_plan(url, connect_to)[1])
        if slots.free:
            slots.free -= 1
            return True
        slots.queue(timeout, ready, argument)
        return False

    def give_slot(self, url: str, connect_to: str | None) -> None:
        """Give back a slot :meth:`take_slot` handed out, for a send that will not happen."""
        self._slots_of(_plan(url, connect_to)[1]).give()

    async def send(
        self,
        request: Request,
        timeout: float,
        *,
        connect_to: str | None = None,
        slot: bool | None = None,
    ) -> Response:
        """Send ``request`` and read its response; raises :class:`TransportError`.

        ``connect_to`` (an IP address) replaces the URL's host for the connection only: the
        request still names the URL's host (the allow-list pins names it resolved this way).

        ``timeout`` bounds the exchange (connecting, writing, reading); waiting for one of the
        origin's ``max_connections_per_host`` slots has a deadline of its own, the same length.
        ``slot``: True, the send holds a slot :meth:`take_slot` handed out; False, its wait
        for one ran out (``pool_timeout``).
        """
        try:
            if self._closed:
                raise RuntimeError("HttpClient.send() after aclose()")
            address, origin, server_name = _plan(request.url, connect_to)
            headers = _wire_headers(request.method, request.url, request.headers,
                                    len(request.body))
        except BaseException:
            if slot:
                self.give_slot(request.url, connect_to)
            raise
        slots = self._slots_of(origin)
        if slot is False:
            raise self._pool_timeout(origin, timeout)
        if slot:
            pass  # held since take_slot()
        elif slots.free:  # the common case: no waiting, no timer
            slots.free -= 1
        else:
            waiting = slots.wait(timeout)
            try:
                handed = await waiting
            except asyncio.CancelledError:
                if waiting.done() and not waiting.cancelled() and waiting.result():
                    slots.give()  # handed a slot just as the send was cancelled: pass it on
                raise
            if not handed:
                raise self._pool_timeout(origin, timeout)
        progress = _Progress()
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(timeout):
                    return await self._exchange(request, headers, address, server_name,
                                                progress)
            return await _within(
                timeout, self._exchange(request, headers, address, server_name, progress)
            )
        except asyncio.TimeoutError:
            where = f"{address.host}:{address.port}"
            if progress.written or (progress.connected and not _has_body(request)):
                raise TransportError(
                    "timeout", f"no response within {float(timeout)} s"
                ) from None
            if progress.connected:
                raise TransportError(
                    "connect_timeout",
                    f"not sent: the {float(timeout)} s ran out as the request was about to be "
                    f"written to {where}",
                ) from None
            raise TransportError(
                "connect_timeout", f"not sent: no connection to {where} within {float(timeout)} s"
            ) from None
        finally:
            slots.give()

    def _pool_timeout(self, origin: tuple[str, str, int], timeout: float) -> TransportError:
        return TransportError(
            "pool_timeout",
            f"not sent: no connection to {origin[0]}://{origin[1]}:{origin[2]} came "
            f"free within {float(timeout)} s (all {self.max_connections_per_host} busy)",
        )

    async def _exchange(
        self,
        request: Request,
        headers: CIMultiDictProxy[str],
        address: URL,
        server_name: str | None,
        progress: _Progress,
    ) -> Response:
        session = self._session
        if session is None:
            session = self._session = self._open_session()
        token = _progress.set(progress)
        try:
            for _ in range(_MAX_UNWRITTEN):
                progress.reset()  # a fresh try
                body = _Body(request.body, progress) if _has_body(request) else None
                try:
                    async with session.request(
                        request.method,
                        address,
                        headers=headers,
                        data=body,
                        allow_redirects=False,
                        server_hostname=server_name,
                        skip_auto_headers=None if "Content-Type" in headers else _NO_CONTENT_TYPE,
                        # aiohttp resends only idempotent methods: a POST needs no guard
                        middlewares=None if _guarded(request.method) else (),
                    ) as response:
                        content = await self._read_body(response)
                        return Response(response.status, response.reason or "",
                                        response.raw_headers, content)
                except _Unwritten:
                    log.debug("a pooled connection to %s closed before the write; nothing sent",
                              address.host)
                except _Failed as failed:
                    raise _failure(failed.cause, address) from None
                except aiohttp.ClientError as exc:  # reading the body; any failure of a POST
                    if not _never_written(exc):
                        raise _failure(exc, address) from None
                    log.debug("a pooled connection to %s closed before the write; nothing sent",
                              address.host)
        finally:
            _progress.reset(token)
        raise TransportError(
            "refused",
            f"not sent: {_MAX_UNWRITTEN} connections to {address.host}:{address.port} in a row "
            "were closed by the server before the request could be written",
        )

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, cut at ``max_body``; the rest is read and dropped (the connection stays
        usable)."""
        length = response.content_length
        if length is not None and length <= self.max_body:
            return await response.read()
        parts: list[bytes] = []
        room = self.max_body
        while chunk := await response.content.readany():
            if room:
                parts.append(chunk[:room])
                room -= len(parts[-1])
        return b"".join(parts)


def _failure(exc: BaseException, address: URL) -> TransportError:
    """The outcome of a request that failed with ``exc`` (aiohttp's), with a one-line reason."""
    where = f"{address.host}:{address.port}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert = exc.certificate_error
        if isinstance(cert, ssl.SSLCertVerificationError):
            return TransportError("tls_error", certificate_failure(where, cert))
        return TransportError(
            "tls_error", f"TLS handshake with {where} failed: certificate verify failed: "
            f"{str(cert).rstrip('.')}; --insecure skips verification")
    tls = _find(exc, ssl.SSLError)
    if tls is not None:
        reason = (tls.reason or str(tls)).replace("_", " ").lower()
        return TransportError("tls_error", f"TLS with {where} failed: {reason}")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return TransportError(
            "unresolved", f"cannot resolve {address.host!r}: {exc.os_error.strerror or exc}"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return TransportError("refused", f"connection refused by {where}")
        return TransportError(
            "refused", f"cannot connect to {where}: {exc.os_error.strerror or exc.os_error}"
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        if isinstance(exc.message, str):  # nothing of a response had arrived
            return TransportError("closed", "server closed the connection before answering")
        return TransportError(
            "closed", "server closed the connection in the middle of the response head"
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        text = _one_line(str(exc.__cause__ or exc))
        if "not enough data" in text.lower():
            return TransportError("closed", f"server closed the connection mid-body: {text}")
        return TransportError("invalid_response", f"invalid response body: {text}")
    if isinstance(exc, aiohttp.ClientResponseError):  # the response head did not parse
        return TransportError("invalid_response", f"not an HTTP response: {_one_line(exc.message)}")
    if _find(exc, ConnectionResetError) is not None:
        return TransportError("reset", "connection reset by the server")
    if isinstance(exc, OSError | aiohttp.ClientConnectionError):
        return TransportError("reset", f"connection failed: {_one_line(str(exc))}")
    raise exc


def _find(exc: BaseException, kind: type[E]) -> E | None:
    """``exc`` or the first of its causes that is a ``kind``."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _one_line(text: str) -> str:
    """aiohttp's parser messages (several lines, a caret under the culprit) on one line."""
    return " ".join(
        line.strip() for line in text.splitlines() if line.strip() and line.strip() != "^"
    )
