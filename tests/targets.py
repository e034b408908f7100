"""Loopback HTTP servers for tests and benchmarks: a fault-injecting webhook and a fast sink.

Both bind ``127.0.0.1`` port 0 in their constructor, so the socket listens before ``start()``
returns; both serve from daemon threads and stop with ``stop()`` (also as context managers).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import http
import random
import selectors
import socket
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO

HOST = "127.0.0.1"
STOP_TIMEOUT = 5.0
_MAX_LINE = 65536

MODES = {
    "ok": "answer `status` with `body`, keep-alive",
    "slow": "record, wait `delay` seconds (other connections go on), then answer as 'ok'",
    "error": "answer 500, keep-alive",
    "reset": "record, then close with SO_LINGER 0 so the client sees a reset",
    "close": "record, then close cleanly without answering",
    "garbage": "record, answer b'garbage\\r\\n\\r\\n', then close",
    "never": "record, then never answer (until stopped)",
    "gated": "record, wait (other connections go on) until `let_through()`, then answer as 'ok'",
    "chunked": "answer `status` with `body` in chunked transfer coding, keep-alive",
    "raw": "record, send `body` verbatim as the whole response, then close",
    "stale": "answer the first request on each connection as 'ok'; read and record the next "
    "one, then close the connection without answering it (an idle timeout racing the client)",
}
"""Every Target mode and what it does with each request."""


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as a Target received it."""

    method: str
    path: str
    """The request target: path and query string, as sent."""
    headers: dict[str, str]
    """Header names as sent; use :meth:`header` for a case-insensitive lookup."""
    body: bytes
    raw: bytes = b""
    """The exact bytes received: request line, headers, blank line and body."""

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


_HELD_PORTS: list[socket.socket] = []
atexit.register(lambda: [sock.close() for sock in _HELD_PORTS])
"""Bound, never listening: connections are refused, and no other process can take the port
(a port merely found free could be taken by another test run's server before it is used)."""


def refused_url() -> str:
    """A loopback hook URL on a port where nothing listens, and nothing will."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    _HELD_PORTS.append(sock)
    return f"http://{HOST}:{sock.getsockname()[1]}/hook"


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _response(status: int, body: bytes, *, keep_alive: bool, chunked: bool = False) -> bytes:
    head = [f"HTTP/1.1 {status} {_reason(status)}", "Content-Type: text/plain; charset=utf-8"]
    if chunked:
        head.append("Transfer-Encoding: chunked")
        half = len(body) // 2
        pieces = [p for p in (body[:half], body[half:]) if p]
        payload = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    head.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload


class _BadRequest(Exception):
    """A request this minimal parser cannot read."""


def _read_request(reader: BinaryIO) -> ReceivedRequest | None:
    """The next request on a connection, or None at a clean end of the connection."""
    line = reader.readline(_MAX_LINE)
    if not line:
        return None
    raw = [line]
    try:
        method, path, version = line.rstrip(b"\r\n").decode("latin-1").split(" ")
    except ValueError:
        raise _BadRequest(f"invalid request line {line[:100]!r}") from None
    if not version.startswith("HTTP/1."):
        raise _BadRequest(f"invalid request line {line[:100]!r}")
    headers: dict[str, str] = {}
    while True:
        line = reader.readline(_MAX_LINE)
        if not line:
            raise _BadRequest("connection ended inside the request head")
        raw.append(line)
        if line in (b"\r\n", b"\n"):
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest(f"invalid header line {line[:100]!r}")
        headers[name.strip()] = value.strip()
    lowered = {k.lower(): v for k, v in headers.items()}
    if lowered.get("transfer-encoding", "").lower() == "chunked":
        body = _read_chunked_body(reader, raw)
    else:
        length = int(lowered.get("content-length", "0") or "0")
        body = reader.read(length) if length else b""
        if len(body) != length:
            raise _BadRequest(f"connection ended after {len(body)} of {length} body bytes")
        raw.append(body)
    return ReceivedRequest(method, path, headers, body, b"".join(raw))


def _read_chunked_body(reader: BinaryIO, raw: list[bytes]) -> bytes:
    parts = []
    while True:
        line = reader.readline(_MAX_LINE)
        raw.append(line)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            break
        chunk = reader.read(size + 2)
        raw.append(chunk)
        parts.append(chunk[:-2])
    while True:
        line = reader.readline(_MAX_LINE)
        raw.append(line)
        if line in (b"\r\n", b"\n", b""):
            return b"".join(parts)


def _wants_keep_alive(request: ReceivedRequest) -> bool:
    connection = (request.header("Connection") or "").lower()
    if request.raw.split(b"\r\n", 1)[0].endswith(b"HTTP/1.0"):
        return "keep-alive" in connection
    return "close" not in connection


class Target:
    """A loopback webhook that behaves per ``mode`` (see :data:`MODES`) and records requests.

    ``mode``, ``status``, ``body`` and ``delay`` may be changed while it runs; each request reads
    them when it arrives. ``connections`` counts accepted connections.
    """

    def __init__(
        self,
        mode: str = "ok",
        *,
        status: int = 200,
        body: bytes = b"success",
        delay: float = 0.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown Target mode {mode!r}; expected one of {', '.join(MODES)}")
        self.mode = mode
        self.status = status
        self.body = body
        self.delay = delay
        self.requests: list[ReceivedRequest] = []
        self.errors: list[str] = []
        """Problems met while serving (unreadable requests, handler crashes)."""
        self.connections = 0
        self.max_open = 0
        """The most connections open at once."""
        self.tls = tls
        """Serve HTTPS with this server context (``url`` is then https://)."""
        self.handshake_failures: list[str] = []
        """TLS handshakes that failed (the client rejected the certificate, say)."""
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._gate = threading.Event()
        self._open: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._listener = socket.create_server((HOST, 0), backlog=1024)
        self._listener.setblocking(False)
        self._wake_read, self._wake_write = socket.socketpair()
        self.port: int = self._listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://{HOST}:{self.port}/hook"
        self._acceptor: threading.Thread | None = None
        self._stopped = False

    def __repr__(self) -> str:
        return f"<Target {self.mode} {self.url} requests={self.count()}>"

    def __enter__(self) -> Target:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Target:
        """Serve from a daemon thread; returns self."""
        if self._stopped:
            raise RuntimeError(f"{self!r} was stopped; make a new Target")
        if self._acceptor is None:
            self._acceptor = threading.Thread(
                target=self._accept_loop, name=f"target-{self.port}", daemon=True
            )
            self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end every connection (answering none still waiting), and join."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._gate.set()
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")
        deadline = time.monotonic() + STOP_TIMEOUT
        if self._acceptor is not None:
            self._acceptor.join(STOP_TIMEOUT)
        self.drop_connections()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._listener.close()
        self._wake_read.close()
        self._wake_write.close()

    def let_through(self) -> None:
        """A "gated" Target answers the requests it holds, and every later one at once."""
        self._gate.set()

    def count(self) -> int:
        """How many requests were recorded so far."""
        with self._lock:
            return len(self.requests)

    def open_connections(self) -> int:
        """How many client connections are open right now."""
        with self._lock:
            return len(self._open)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """All requests received once at least ``n`` arrived; AssertionError after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= n, timeout):
                got = [f"{r.method} {r.path}" for r in self.requests[:5]]
                more = " ..." if len(self.requests) > 5 else ""
                raise AssertionError(
                    f"expected {n} request(s) at {self.url} within {timeout} s; "
                    f"{len(self.requests)} arrived: {got}{more}"
                )
            return list(self.requests)

    def wait_handshake_failed(self, timeout: float = 5.0) -> bool:
        """Whether a TLS handshake failed here within ``timeout`` s (the server notes it once
        the client has given up, which may be after the client's side has returned)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: bool(self.handshake_failures), timeout)

    def wait_disconnected(self, timeout: float = 5.0) -> None:
        """Return once no client connection is open; AssertionError after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: not self._open, timeout):
                raise AssertionError(
                    f"{len(self._open)} connection(s) to {self.url} still open after {timeout} s"
                )

    def drop_connections(self) -> None:
        """Close every open connection from the server side (as an idle timeout would)."""
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def check(self) -> None:
        """Raise AssertionError listing problems met while serving, if any."""
        with self._lock:
            errors = list(self.errors)
        if errors:
            raise AssertionError(f"{self!r} met {len(errors)} problem(s): {errors}")

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._wake_read:
                        return
                    try:
                        conn, _ = self._listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    conn.setblocking(True)
                    thread = threading.Thread(
                        target=self._serve_connection, args=(conn,), daemon=True,
                        name=f"target-{self.port}-conn",
                    )
                    with self._lock:
                        self.connections += 1
                        self._open.add(conn)
                        self.max_open = max(self.max_open, len(self._open))
                        self._threads.add(thread)
                    thread.start()

    def _record(self, request: ReceivedRequest) -> None:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()

    def _handshake(self, conn: socket.socket) -> socket.socket | None:
        """``conn`` wrapped in TLS (tracked in place of it), or None when the handshake failed."""
        assert self.tls is not None
        try:
            secure = self.tls.wrap_socket(conn, server_side=True)
        except OSError as exc:  # ssl.SSLError included
            with self._arrived:
                self.handshake_failures.append(str(exc))
                self._open.discard(conn)
                self._threads.discard(threading.current_thread())
                self._arrived.notify_all()
            conn.close()
            return None
        with self._lock:
            self._open.discard(conn)
            self._open.add(secure)
        return secure

    def _serve_connection(self, conn: socket.socket) -> None:
        if self.tls is not None:
            secure = self._handshake(conn)
            if secure is None:
                return
            conn = secure
        reader = conn.makefile("rb")
        served = 0
        try:
            while not self._stopping.is_set():
                try:
                    request = _read_request(reader)
                except _BadRequest as exc:
                    with self._lock:
                        self.errors.append(str(exc))
                    conn.sendall(_response(400, str(exc).encode(), keep_alive=False))
                    return
                if request is None:
                    return
                served += 1
                if not self._answer(conn, request, served):
                    return
        except OSError:
            pass  # the client went away, or stop() ended the connection
        except Exception as exc:  # a bug here must reach the test through check()
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            reader.close()
            conn.close()
            with self._arrived:
                self._open.discard(conn)
                self._threads.discard(threading.current_thread())
                self._arrived.notify_all()

    def _answer(self, conn: socket.socket, request: ReceivedRequest, served: int) -> bool:
        """Act on ``request`` per the current mode; True to keep the connection for another."""
        mode = self.mode
        self._record(request)  # complete before any answer, so wait_for() never races the reply
        if mode == "stale" and served > 1:
            return False
        keep_alive = _wants_keep_alive(request)
        if mode == "slow":
            if self._stopping.wait(self.delay):
                return False
        elif mode == "never":
            self._stopping.wait()
            return False
        elif mode == "gated":
            self._gate.wait()
            if self._stopping.is_set():
                return False
        elif mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        elif mode == "close":
            return False
        elif mode == "garbage":
            conn.sendall(b"garbage\r\n\r\n")
            return False
        elif mode == "raw":
            conn.sendall(self.body)
            return False
        if mode == "error":
            conn.sendall(_response(500, b"internal error", keep_alive=keep_alive))
        else:
            conn.sendall(
                _response(self.status, self.body, keep_alive=keep_alive, chunked=mode == "chunked")
            )
        return keep_alive


_SINK_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n"
    b"Connection: keep-alive\r\n\r\nsuccess"
)


class _SinkProtocol(asyncio.Protocol):
    __slots__ = ("buffer", "sink", "transport")

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sink._transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.sink._transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        start = 0
        answered = 0
        while True:
            end = buffer.find(b"\r\n\r\n", start)
            if end < 0:
                break
            at = buffer.find(b"\r\nContent-Length:", start, end)
            if at < 0:
                at = buffer.lower().find(b"\r\ncontent-length:", start, end)
            if at < 0:
                length = 0
            else:
                eol = buffer.find(b"\r\n", at + 17, end + 2)
                length = int(buffer[at + 17 : eol])
            total = end + 4 + length
            if total > len(buffer):
                break
            start = total
            answered += 1
        self.buffer = buffer[start:]
        if answered:
            assert self.transport is not None
            self.sink.received += answered  # counted first: a client may read the answer at once
            self.transport.write(_SINK_RESPONSE * answered)


class Sink:
    """The fastest loopback HTTP sink this process can run: answers 200 'success', keep-alive.

    An asyncio server in its own thread; counts requests in ``received``.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._sock = socket.create_server((HOST, 0), backlog=1024)
        self.port: int = self._sock.getsockname()[1]
        self.tls = tls
        """Serve HTTPS with this server context (``url`` is then https://)."""
        self.url = f"{'https' if tls else 'http'}://{HOST}:{self.port}/hook"
        self.received = 0
        self._transports: set[asyncio.Transport] = set()
        self._server = _LoopThread(f"sink-{self.port}")

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def count(self) -> int:
        """How many requests were answered so far."""
        return self.received

    def start(self) -> Sink:
        """Serve from a daemon thread; returns self once the server runs."""
        self._server.start(
            lambda loop: loop.create_server(
                lambda: _SinkProtocol(self), sock=self._sock, ssl=self.tls
            ),
            self._transports,
        )
        return self

    def stop(self) -> None:
        """Close every connection and the server, and join its thread."""
        if not self._server.started:
            self._sock.close()
            return
        self._server.stop()


class _LoopThread:
    """An asyncio server in a daemon thread of its own; ``start()`` returns once it listens."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = False
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start(
        self,
        make_server: Callable[[asyncio.AbstractEventLoop], Awaitable[asyncio.Server]],
        transports: set[asyncio.Transport],
    ) -> None:
        """Run ``make_server(loop)``; ``transports`` (kept by the protocols) close on stop."""
        if self._thread is not None:
            return
        self.started = True
        self._thread = threading.Thread(
            target=self._run, args=(make_server, transports), name=self.name, daemon=True
        )
        self._thread.start()
        if not self._ready.wait(STOP_TIMEOUT):
            raise RuntimeError(f"{self.name} did not start within {STOP_TIMEOUT} s")
        if self._failure is not None:
            raise RuntimeError(f"{self.name} failed to start") from self._failure

    def stop(self) -> None:
        """Close every connection and the server, and join the thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError(f"{self.name} did not stop within {STOP_TIMEOUT} s")

    def _run(
        self,
        make_server: Callable[[asyncio.AbstractEventLoop], Awaitable[asyncio.Server]],
        transports: set[asyncio.Transport],
    ) -> None:
        try:
            asyncio.run(self._serve(make_server, transports))
        except BaseException as exc:
            self._failure = exc
        finally:
            self._ready.set()

    async def _serve(
        self,
        make_server: Callable[[asyncio.AbstractEventLoop], Awaitable[asyncio.Server]],
        transports: set[asyncio.Transport],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await make_server(self._loop)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for transport in list(transports):
                transport.close()
            await server.wait_closed()
            for _ in range(3):  # let connection_lost callbacks close the sockets
                await asyncio.sleep(0)

FLAKY_ACTIONS = {
    "ok": "answer 200 'success', keep-alive",
    "error": "answer 500, keep-alive",
    "reset": "reset the connection (RST) without answering",
    "close": "close the connection without answering",
    "garbage": "answer b'garbage\\r\\n\\r\\n', then close",
    "slow": "answer 200 after `delay` seconds (make it longer than the client's timeout)",
    "answer_close": "answer 200 keep-alive, then close the connection for writing: a request the "
    "client writes on it before it notices is read and counted, never answered",
}
"""What a FlakyReceiver may do with each request it reads."""
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\nsuccess"
_ERROR = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 14\r\n\r\ninternal error"


@dataclass(frozen=True)
class SeenRequest:
    """One request as a FlakyReceiver read it: method, request target, body."""

    method: str
    target: str
    body: bytes


class _FlakyProtocol(asyncio.Protocol):
    def __init__(self, receiver: FlakyReceiver) -> None:
        self.receiver = receiver
        self.buffer = b""
        self.served = 0
        self.answering = True
        """False once the connection was closed for writing: requests are only counted."""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.receiver.connections += 1
        self.receiver._transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.receiver._transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, target, _ = head[0].split(" ", 2)
            self.served += 1
            self.receiver.seen.append(SeenRequest(method, target, body))
            if self.answering:
                self._act(self.receiver.choose(self.served))

    def _act(self, action: str) -> None:
        transport = self.transport
        assert transport is not None
        if action == "ok":
            transport.write(_OK)
        elif action == "error":
            transport.write(_ERROR)
        elif action == "reset":
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        elif action == "close":
            transport.close()
        elif action == "garbage":
            transport.write(b"garbage\r\n\r\n")
            transport.close()
        elif action == "slow":

            def answer() -> None:
                if not transport.is_closing():
                    transport.write(_OK)

            asyncio.get_running_loop().call_later(self.receiver.delay, answer)
        elif action == "answer_close":
            transport.write(_OK)
            transport.write_eof()
            self.answering = False
        else:
            raise ValueError(f"unknown FlakyReceiver action {action!r}")


class FlakyReceiver:
    """A loopback webhook over a raw asyncio socket that misbehaves per request and counts every
    request it reads, answered or not (``seen``), to check a client's accounting against.

    ``actions``: a list of :data:`FLAKY_ACTIONS` names to pick from at random (seeded), or a
    function of the request's number on its connection (1, 2, ...) returning one.
    """

    def __init__(
        self,
        actions: Sequence[str] | Callable[[int], str],
        *,
        seed: int = 0,
        delay: float = 1.0,
    ) -> None:
        if callable(actions):
            self.choose = actions
        else:
            unknown = set(actions) - set(FLAKY_ACTIONS)
            if unknown:
                raise ValueError(f"unknown FlakyReceiver action(s) {sorted(unknown)}")
            pick = random.Random(seed).choice
            choices = list(actions)
            self.choose = lambda _number: pick(choices)
        self.delay = delay
        self.seen: list[SeenRequest] = []
        self.connections = 0
        self._sock = socket.create_server((HOST, 0), backlog=1024)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}/hook"
        self._transports: set[asyncio.Transport] = set()
        self._server = _LoopThread(f"flaky-{self.port}")

    def __enter__(self) -> FlakyReceiver:
        self._server.start(
            lambda loop: loop.create_server(lambda: _FlakyProtocol(self), sock=self._sock),
            self._transports,
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()
        self._sock.close()

    def wait_seen(self, expected: int, timeout: float = 5.0) -> int:
        """How many requests were read, once at least ``expected`` were (or ``timeout`` ran
        out), and a moment later: a request arriving late would still be counted."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < expected and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)
        return len(self.seen)


class ThreadedWsgiApp:
    """A subclass's ``app`` (a WSGI callable) served by Werkzeug from a thread on 127.0.0.1,
    port 0; ``with`` starts and stops it. ``changed`` is for the subclass to notify on."""

    app: Any

    def __init__(self, path: str = "") -> None:
        from werkzeug.serving import make_server

        self.changed = threading.Condition()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()
