"""A minimal asyncio HTTP/1.1 client for the delivery engine: keep-alive pools, one-word outcomes.

The engine sends many small requests (a JSON POST, or a GET with a query string) to loopback
webhooks from one event loop, so this client does only what that needs, with little overhead per
request: the request is built with one join and one encode, the response head is read with one
``readuntil``, and connections are kept alive in a pool per (host, port).

Every network problem surfaces as a :class:`TransportError` whose ``outcome`` is one of
:data:`OUTCOMES`; programming mistakes in the request (an https URL, a newline in a header value)
raise :class:`ValueError` before anything is sent.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import sys
from collections import deque
from dataclasses import dataclass
from types import TracebackType

from ._errors import DlrmockError
from ._targets import parse as parse_target

__all__ = ["OUTCOMES", "USER_AGENT", "HttpClient", "Request", "Response", "TransportError"]

logger = logging.getLogger(__name__)

USER_AGENT = "dlrmock/0.1"
OUTCOMES = ("timeout", "refused", "unresolved", "reset", "closed", "invalid_response", "tls_error")
"""Every value :attr:`TransportError.outcome` takes."""

_HEAD_END = b"\r\n\r\n"
_CRLF = b"\r\n"
_READ_SIZE = 65536
# Anything outside visible ASCII in a URL would corrupt the request line (http.client agrees).
_BAD_URL_CHAR = re.compile(r"[^\x21-\x7e]")
_BAD_HEADER_CHAR = re.compile(r"[\r\n\x00]")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request to send: method, absolute ``http://`` URL, extra headers, body."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP response; ``body`` holds at most the client's ``max_body`` bytes."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


class TransportError(DlrmockError):
    """A request that got no usable HTTP response; ``outcome`` names why in one word."""

    def __init__(self, outcome: str, detail: str) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown transport outcome {outcome!r}; expected one of {OUTCOMES}")
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome
        self.detail = detail

    def __reduce__(self) -> tuple[type[TransportError], tuple[str, str]]:
        return (type(self), (self.outcome, self.detail))


class _StaleConnection(Exception):
    """A reused keep-alive connection failed before any response byte arrived."""


def _split_url(url: str) -> tuple[str, int, str, str]:
    """(host, port, request target, Host header value) of an absolute http(s):// URL.

    The URL is read by :func:`mock_server._targets.parse`, the parser the allow-list checks with,
    so the client connects to exactly the host and port that were checked.
    """
    target = parse_target(url)
    return target.host, target.port, target.path, target.host_header


def _build_request(request: Request, target: str, host_header: str) -> bytes:
    """The exact bytes of ``request`` on the wire."""
    method = request.method
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"invalid HTTP method {method!r}")
    body = request.body
    parts = [method, " ", target, " HTTP/1.1\r\n"]
    given_host = given_agent = given_connection = False
    for name, value in request.headers:
        if not _TOKEN.fullmatch(name) or _BAD_HEADER_CHAR.search(value):
            raise ValueError(f"invalid header {name!r}: {value!r}")
        lowered = name.lower()
        if lowered == "host":
            given_host = True
        elif lowered == "user-agent":
            given_agent = True
        elif lowered == "connection":
            given_connection = True
        elif lowered == "content-length":
            # The client frames the body itself; a disagreeing length would desync the connection.
            if value.strip() != str(len(body)):
                raise ValueError(
                    f"Content-Length {value!r} does not match the {len(body)}-byte body; "
                    "leave Content-Length out, the client adds it"
                )
            continue
        elif lowered == "transfer-encoding":
            raise ValueError(
                "Transfer-Encoding is not supported; the body is sent with Content-Length"
            )
        parts += (name, ": ", value, "\r\n")
    if not given_host:
        parts += ("Host: ", host_header, "\r\n")
    if not given_agent:
        parts.append("User-Agent: " + USER_AGENT + "\r\n")
    if not given_connection:
        parts.append("Connection: keep-alive\r\n")
    if body or method in _METHODS_WITH_BODY:
        parts += ("Content-Length: ", str(len(body)), "\r\n")
    parts.append("\r\n")
    try:
        head = "".join(parts).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValueError(f"header text must be Latin-1: {exc}") from None
    return head + body if body else head


def with_default_headers(request: Request) -> Request:
    """``request`` with the headers the client would add spelled out: what the journal shows."""
    try:
        host_header = parse_target(request.url).host_header
    except ValueError:  # never sent (the run is journaled 'blocked'); show the URL's authority
        host_header = request.url.partition("://")[2].split("/", 1)[0].split("?", 1)[0]
    given = {name.lower() for name, _ in request.headers}
    first: list[tuple[str, str]] = [] if "host" in given else [("Host", host_header)]
    last: list[tuple[str, str]] = []
    if "user-agent" not in given:
        last.append(("User-Agent", USER_AGENT))
    if "connection" not in given:
        last.append(("Connection", "keep-alive"))
    if "content-length" not in given and (request.body or request.method in _METHODS_WITH_BODY):
        last.append(("Content-Length", str(len(request.body))))
    return Request(request.method, request.url, (*first, *request.headers, *last), request.body)


class _Connection:
    __slots__ = ("reader", "reused", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def usable(self) -> bool:
        """False once the server closed or reset this idle connection."""
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()


class _HostPool:
    __slots__ = ("idle", "slots")

    def __init__(self, limit: int) -> None:
        # A slot is held for a whole exchange; a connection is opened only when no idle one is
        # left, so open connections (busy + idle) never exceed ``limit``.
        self.slots = asyncio.Semaphore(limit)
        self.idle: deque[_Connection] = deque()

    def take_idle(self) -> _Connection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()  # LIFO: the most recently used connection is the least likely stale
            if conn.usable():
                return conn
            conn.close()
        return None


class HttpClient:
    """An HTTP/1.1 client with a keep-alive pool per webhook, for one asyncio event loop."""

    def __init__(self, *, max_connections_per_host: int = 32, max_body: int = 65536,
                 tls: ssl.SSLContext | None = None) -> None:
        if max_connections_per_host < 1:
            raise ValueError(
                f"max_connections_per_host must be >= 1, got {max_connections_per_host}"
            )
        if max_body < 0:
            raise ValueError(f"max_body must be >= 0, got {max_body}")
        self.max_connections_per_host = max_connections_per_host
        self.max_body = max_body
        self._pools: dict[tuple[bool, str, int, str], _HostPool] = {}
        self._closed = False
        self._tls = tls
        """Context for https:// targets (by default the system's trust store, verified)."""

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def request_bytes(self, request: Request) -> bytes:
        """The exact bytes :meth:`send` puts on the wire for ``request``."""
        _, _, target, host_header = _split_url(request.url)
        return _build_request(request, target, host_header)

    async def send(
        self, request: Request, timeout: float, *, connect_to: str | None = None
    ) -> Response:
        """Send ``request`` and read its response; raises :class:`TransportError`.

        ``connect_to`` (an IP address) replaces the URL's host for the connection only: the
        request still names the URL's host (the allow-list pins names it resolved this way).

        ``timeout`` covers connecting, writing and reading. Waiting for a free connection to the
        host (at most ``max_connections_per_host`` are open) does not count: a request that never
        left dlrmock is not a webhook timeout.
        """
        name, port, target, host_header = _split_url(request.url)
        host = connect_to or name  # TLS still verifies the certificate for the URL's name
        data = _build_request(request, target, host_header)
        if self._closed:
            raise RuntimeError("HttpClient.send() after aclose()")
        # One pool per webhook (host, port and path): a slow webhook fills its own connections
        # and never delays deliveries to another one, even on the same server.
        secure = request.url[:6].lower() == "https:"
        key = (secure, host, port, target.partition("?")[0])
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _HostPool(self.max_connections_per_host)
        await pool.slots.acquire()
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(timeout):
                    return await self._exchange(pool, host, port, data, secure, name)
            else:
                return await asyncio.wait_for(
                    self._exchange(pool, host, port, data, secure, name), timeout
                )
        except asyncio.TimeoutError:
            raise TransportError("timeout", f"no response within {float(timeout)} s") from None
        finally:
            pool.slots.release()

    async def aclose(self) -> None:
        """Close every idle connection; busy ones close when their exchange ends."""
        self._closed = True
        writers = []
        for pool in self._pools.values():
            while pool.idle:
                conn = pool.idle.pop()
                conn.close()
                writers.append(conn.writer)
        self._pools.clear()
        if writers:
            await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)

    async def _exchange(
        self, pool: _HostPool, host: str, port: int, data: bytes, secure: bool = False,
        name: str | None = None,
    ) -> Response:
        """One request on a pooled connection (the caller holds a slot of ``pool``)."""
        conn = pool.take_idle()
        if conn is not None:
            try:
                return await self._roundtrip(pool, conn, data)
            except _StaleConnection:
                logger.debug(
                    "idle connection to %s:%d was closed by the server; retrying", host, port
                )
        conn = await self._connect(host, port, secure, name)
        return await self._roundtrip(pool, conn, data)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def _connect(
        self, host: str, port: int, secure: bool = False, name: str | None = None
    ) -> _Connection:
        """A connection to ``host`` (``name``, the URL's host, is what TLS verifies)."""
        try:
            if secure:
                reader, writer = await asyncio.open_connection(
                    host, port, limit=_READ_SIZE, ssl=self._tls_context(),
                    server_hostname=name or host,
                )
            else:
                reader, writer = await asyncio.open_connection(host, port, limit=_READ_SIZE)
        except ssl.SSLError as exc:
            verify = getattr(exc, "verify_message", None)
            reason = (exc.reason or str(exc)).replace("_", " ").lower()
            if verify:
                reason = f"{reason}: {verify}"
            raise TransportError(
                "tls_error", f"TLS handshake with {host}:{port} failed: {reason}"
            ) from None
        except ConnectionRefusedError:
            raise TransportError("refused", f"connection refused by {host}:{port}") from None
        except socket.gaierror as exc:  # the name, not the host, is the problem
            raise TransportError("unresolved", f"cannot resolve {host!r}: {exc}") from None
        except OSError as exc:
            raise TransportError("refused", f"cannot connect to {host}:{port}: {exc}") from None
        return _Connection(reader, writer)

    async def _roundtrip(self, pool: _HostPool, conn: _Connection, data: bytes) -> Response:
        """Write ``data`` on ``conn`` and read the response; pools or closes ``conn`` after."""
        reader = conn.reader
        head = b""
        try:
            conn.writer.write(data)
            try:
                head = await reader.readuntil(_HEAD_END)
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    if conn.reused:
                        raise _StaleConnection from None
                    raise TransportError(
                        "closed", "server closed the connection before answering"
                    ) from None
                raise TransportError(
                    "closed",
                    f"server closed the connection after {len(exc.partial)} bytes of the "
                    f"response head: {exc.partial[:80]!r}",
                ) from None
            status, reason, headers, keep_alive, framing, length = _parse_head(head)
            while 100 <= status < 200 and status != 101:
                head = await reader.readuntil(_HEAD_END)  # skip 100 Continue and friends
                status, reason, headers, keep_alive, framing, length = _parse_head(head)
            if framing == _LENGTH:
                body = await self._read_length(reader, length)
            elif framing == _CHUNKED:
                body = await self._read_chunked(reader)
            elif framing == _NONE:
                body = b""
            else:
                body = await self._read_to_eof(reader)
                keep_alive = False
        except TransportError:
            conn.close()
            raise
        except (ConnectionResetError, BrokenPipeError) as exc:
            conn.close()
            if conn.reused and not head:
                raise _StaleConnection from None
            raise TransportError("reset", f"connection reset by the server ({exc})") from None
        except asyncio.IncompleteReadError as exc:
            conn.close()
            raise TransportError(
                "closed",
                f"server closed the connection mid-body (expected {exc.expected} more bytes)",
            ) from None
        except asyncio.LimitOverrunError:
            conn.close()
            raise TransportError(
                "invalid_response", f"a response line or head longer than {_READ_SIZE} bytes"
            ) from None
        except ValueError as exc:
            conn.close()
            raise TransportError("invalid_response", str(exc)) from None
        except OSError as exc:
            conn.close()
            raise TransportError("reset", f"connection failed: {exc}") from None
        except BaseException:  # cancelled (timeout): the connection's state is unknown
            conn.close()
            raise
        if keep_alive and not self._closed:
            conn.reused = True
            pool.idle.append(conn)
        else:
            conn.close()
        return Response(status, reason, headers, body)

    async def _read_length(self, reader: asyncio.StreamReader, length: int) -> bytes:
        if length <= self.max_body:
            return await reader.readexactly(length)
        body = await reader.readexactly(self.max_body)
        left = length - self.max_body
        while left:
            left -= len(await reader.readexactly(min(left, _READ_SIZE)))
        return body

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        room = self.max_body
        while True:
            line = await reader.readuntil(_CRLF)
            size_text = line[:-2].split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_text):
                raise ValueError(f"invalid chunk size line {line[:80]!r}")
            size = int(size_text, 16)
            if size == 0:
                break
            while size:
                piece = await reader.readexactly(min(size, _READ_SIZE))
                size -= len(piece)
                if room:
                    parts.append(piece[:room])
                    room -= len(parts[-1])
            if await reader.readexactly(2) != _CRLF:
                raise ValueError("chunk data not followed by CRLF")
        while await reader.readuntil(_CRLF) != _CRLF:  # trailer fields: read and ignore
            pass
        return b"".join(parts)

    async def _read_to_eof(self, reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        room = self.max_body
        while True:
            piece = await reader.read(_READ_SIZE)
            if not piece:
                return b"".join(parts)
            if room:
                parts.append(piece[:room])
                room -= len(parts[-1])


# How the response body is delimited.
_LENGTH, _CHUNKED, _NONE, _EOF = 0, 1, 2, 3


def _parse_head(
    head: bytes,
) -> tuple[int, str, tuple[tuple[str, str], ...], bool, int, int]:
    """(status, reason, headers, keep-alive, framing, content length) of a response head.

    Raises ValueError naming the offending line when the head is not HTTP/1.x.
    """
    lines = head[:-4].split(b"\r\n")
    status_line = lines[0]
    version, _, rest = status_line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise ValueError(f"invalid status line {status_line[:100]!r}")
    status = int(code)
    headers = []
    length = -1
    chunked = False
    has_transfer_encoding = False
    connection = b""
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name[-1:] in b" \t" or name[:1] in b" \t":
            raise ValueError(f"invalid header line {line[:100]!r}")
        value = value.strip(b" \t")
        lowered = name.lower()
        if lowered == b"content-length":
            for item in value.split(b","):
                item = item.strip()
                if not item.isdigit() or (length >= 0 and int(item) != length):
                    raise ValueError(f"invalid Content-Length {value[:100]!r}")
                length = int(item)
        elif lowered == b"transfer-encoding":
            has_transfer_encoding = True
            chunked = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
        elif lowered == b"connection":
            connection += b"," + value.lower()
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    tokens = {token.strip() for token in connection.split(b",")}
    keep_alive = b"close" not in tokens if version == b"HTTP/1.1" else b"keep-alive" in tokens
    if status < 200 or status in (204, 304):
        framing = _NONE
    elif has_transfer_encoding:
        framing = _CHUNKED if chunked else _EOF
    elif length >= 0:
        framing = _LENGTH
    else:
        framing = _EOF
    return status, reason.decode("latin-1"), tuple(headers), keep_alive, framing, length
