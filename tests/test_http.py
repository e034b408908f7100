"""The delivery engine's HTTP client (aiohttp underneath) against loopback targets that misbehave
on purpose: what goes on the wire, what each failure is called, one attempt per request written."""

from __future__ import annotations

import asyncio
import json
import pickle
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
from targets import FlakyReceiver, Sink, Target, refused_url

from mock_server._http import Request, Response, TransportError, with_default_headers
from mock_server._http_client import HttpClient

T = TypeVar("T")

BODY = json.dumps({"msgid": "abc-123", "status": "DELIVRD", "phone": "84901234567"}).encode()
JSON = (("Content-Type", "application/json"),)


def post(url: str, body: bytes = BODY) -> Request:
    return Request("POST", url, JSON, body)


def run(make: Callable[[HttpClient], Awaitable[T]], **client_options: int) -> T:
    """Run ``make(client)`` on a fresh event loop with a fresh client, closing it after."""

    async def main() -> T:
        async with HttpClient(**client_options) as client:
            return await make(client)

    return asyncio.run(main())


def send_one(request: Request, timeout: float = 5.0, **client_options: int) -> Response:
    return run(lambda client: client.send(request, timeout), **client_options)


def failure(request: Request, timeout: float = 5.0) -> TransportError:
    with pytest.raises(TransportError) as info:
        send_one(request, timeout)
    return info.value


@pytest.fixture
def target() -> Iterator[Target]:
    with Target() as target:
        yield target
    target.check()


def test_post_sends_exactly_the_headers_the_journal_shows_and_returns_the_response(
    target: Target,
) -> None:
    request = post(target.url)
    shown = with_default_headers(request)  # what the engine journals

    response = send_one(request)

    assert (response.status, response.reason, response.body) == (200, "OK", b"success")
    assert response.header("content-length") == "7"
    [received] = target.wait_for(1)
    assert (received.method, received.path, received.body) == ("POST", "/hook", BODY)
    assert received.header("Content-Length") == str(len(BODY))
    assert received.header("Content-Type") == "application/json"
    assert received.header("Host") == f"127.0.0.1:{target.port}"
    assert received.header("User-Agent") == "dlrmock/0.1"
    assert received.header("Connection") == "keep-alive"
    head = "".join(f"{name}: {value}\r\n" for name, value in shown.headers)
    assert received.raw == f"POST /hook HTTP/1.1\r\n{head}\r\n".encode() + BODY


def test_get_sends_query_string_and_no_body(target: Target) -> None:
    url = target.url + "?SMSID=abc&TypeId=2&error_info=%7B%22a%22%3A1%7D"

    response = send_one(Request("GET", url, ()))

    assert response.status == 200
    [received] = target.wait_for(1)
    assert received.method == "GET"
    assert received.path == "/hook?SMSID=abc&TypeId=2&error_info=%7B%22a%22%3A1%7D"
    assert received.body == b""
    assert received.header("Content-Length") is None
    shown = with_default_headers(Request("GET", url, ()))
    head = "".join(f"{n}: {v}\r\n" for n, v in shown.headers)
    assert received.raw == f"GET {received.path} HTTP/1.1\r\n{head}\r\n".encode()


def test_post_without_body_still_sends_content_length_zero(target: Target) -> None:
    send_one(post(target.url, b""))

    assert target.wait_for(1)[0].header("Content-Length") == "0"


def test_given_headers_replace_the_defaults(target: Target) -> None:
    headers = (("User-Agent", "esms-callback/2"), ("Host", "hooks.example.com"))

    send_one(Request("POST", target.url, headers, BODY))

    [received] = target.wait_for(1)
    assert received.raw.count(b"User-Agent:") == 1
    assert received.header("User-Agent") == "esms-callback/2"
    assert received.header("Host") == "hooks.example.com"


def test_a_post_without_content_type_goes_out_without_one(target: Target) -> None:
    request = Request("POST", target.url, (), BODY)

    send_one(request)

    [received] = target.wait_for(1)
    head = "".join(f"{n}: {v}\r\n" for n, v in with_default_headers(request).headers)
    assert received.header("Content-Type") is None  # no application/octet-stream of aiohttp's
    assert received.raw == f"POST /hook HTTP/1.1\r\n{head}\r\n".encode() + BODY


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("ftp://127.0.0.1:1/hook", ()),
        ("http://127.0.0.1:1/ho ok", ()),
        ("http://127.0.0.1:1/hook", (("X-Evil", "a\r\nInjected: yes"),)),
        ("http://127.0.0.1:1/hook", (("Content-Length", "1"),)),
    ],
)
def test_requests_that_cannot_be_sent_raise_value_error(
    url: str, headers: tuple[tuple[str, str], ...]
) -> None:
    with pytest.raises(ValueError):
        send_one(Request("POST", url, headers, BODY))


def test_sequential_sends_reuse_one_keep_alive_connection(target: Target) -> None:
    async def go(client: HttpClient) -> list[int]:
        return [(await client.send(post(target.url), 5.0)).status for _ in range(50)]

    assert run(go) == [200] * 50
    assert target.count() == 50
    assert target.connections == 1


def test_chunked_response_is_reassembled_and_the_connection_reused() -> None:
    with Target("chunked", body=b"chunked success body") as target:

        async def go(client: HttpClient) -> list[bytes]:
            return [(await client.send(post(target.url), 5.0)).body for _ in range(3)]

        assert run(go) == [b"chunked success body"] * 3
        assert target.connections == 1


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", b"until the end"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
         b"ok"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
    ],
    ids=["read-until-close", "http-1.0", "100-continue", "chunked-trailer", "204"],
)
def test_response_framings_are_read(raw: bytes, body: bytes) -> None:
    with Target("raw", body=raw) as target:
        assert send_one(post(target.url)).body == body


def test_body_beyond_max_body_is_read_and_dropped(target: Target) -> None:
    target.body = b"x" * 5000

    async def go(client: HttpClient) -> list[bytes]:
        return [(await client.send(post(target.url), 5.0)).body for _ in range(2)]

    assert run(go, max_body=10) == [b"x" * 10] * 2
    assert target.connections == 1


def test_chunked_body_beyond_max_body_is_dropped() -> None:
    with Target("chunked", body=b"0123456789" * 100) as target:
        assert send_one(post(target.url), max_body=15).body == b"012345678901234"


def test_error_status_is_a_response_not_a_failure() -> None:
    with Target("error") as target:
        response = send_one(post(target.url))
    assert response.status == 500


@pytest.mark.parametrize(
    ("mode", "timeout", "outcome"),
    [
        ("slow", 0.2, "timeout"),
        ("never", 0.2, "timeout"),
        ("reset", 5.0, "reset"),
        ("close", 5.0, "closed"),
        ("garbage", 5.0, "invalid_response"),
    ],
)
def test_fault_modes_map_to_their_outcome(mode: str, timeout: float, outcome: str) -> None:
    with Target(mode, delay=2.0) as target:
        error = failure(post(target.url), timeout)
        assert error.outcome == outcome
        assert target.count() == 1


def test_failure_details_say_what_happened() -> None:
    with Target("slow", delay=2.0) as target:
        assert failure(post(target.url), 0.2).detail == "no response within 0.2 s"
    with Target("close") as target:
        assert failure(post(target.url)).detail == "server closed the connection before answering"
    with Target("garbage") as target:
        detail = failure(post(target.url)).detail
        assert detail.startswith("not an HTTP response: Bad status line") and "garbage" in detail
        assert "\n" not in detail
    url = refused_url()
    error = failure(post(url))
    assert error.detail == f"connection refused by 127.0.0.1:{url.split(':')[2].split('/')[0]}"
    assert str(error) == f"refused: {error.detail}"
    assert pickle.loads(pickle.dumps(error)).outcome == "refused"


def test_nothing_listening_is_refused() -> None:
    assert failure(post(refused_url())).outcome == "refused"


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
    ],
    ids=["chunk-size", "content-length", "header-line", "version"],
)
def test_unparsable_responses_are_invalid(raw: bytes) -> None:
    with Target("raw", body=raw) as target:
        assert failure(post(target.url)).outcome == "invalid_response"


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Len",
    ],
    ids=["mid-body", "mid-head"],
)
def test_server_closing_mid_response_is_closed(raw: bytes) -> None:
    with Target("raw", body=raw) as target:
        assert failure(post(target.url)).outcome == "closed"


def test_connection_is_replaced_after_a_timeout() -> None:
    with Target("slow", delay=2.0) as target:

        async def go(client: HttpClient) -> int:
            with pytest.raises(TransportError):
                await client.send(post(target.url), 0.2)
            target.mode = "ok"
            return (await client.send(post(target.url), 5.0)).status

        assert run(go) == 200
        assert target.connections == 2


def test_connection_close_in_the_response_closes_the_connection(target: Target) -> None:
    request = Request("POST", target.url, (("Connection", "close"),), BODY)

    async def go(client: HttpClient) -> None:
        for _ in range(3):
            await client.send(request, 5.0)

    run(go)
    assert target.connections == 3


async def outcomes(client: HttpClient, request: Request, count: int) -> list[int | str]:
    """Send ``request`` ``count`` times in turn: each answer's status, or its failure's outcome."""
    seen: list[int | str] = []
    for _ in range(count):
        try:
            seen.append((await client.send(request, 5.0)).status)
        except TransportError as exc:
            seen.append(exc.outcome)
    return seen


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_reused_connection_closed_after_reading_the_request_is_one_attempt(
    method: str,
) -> None:
    # The webhook answers the first request on each connection, then reads the second and
    # closes. aiohttp on its own would send a GET again on a new connection, unseen.
    with Target("stale") as target:
        request = Request(method, target.url + "?SMSID=1", (), BODY if method == "POST" else b"")

        assert run(lambda client: outcomes(client, request, 6)) == [200, "closed"] * 3
        assert target.count() == 6  # every request it read was one attempt, no more
        assert target.connections == 3


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_connection_closed_right_after_its_answer_costs_no_unseen_request(method: str) -> None:
    # The close often lands between taking the pooled connection and writing on it: aiohttp
    # then refuses the write, nothing is sent, and a fresh connection carries the request.
    # When the write went first, the webhook read the request: one attempt, 'closed'.
    with FlakyReceiver(["answer_close"]) as receiver:
        request = Request(method, receiver.url, (), BODY if method == "POST" else b"")

        seen = run(lambda client: outcomes(client, request, 40))

        assert set(seen) <= {200, "closed"}
        assert receiver.wait_seen(len(seen)) == len(seen)


def test_idle_connection_dropped_by_the_server_is_replaced(target: Target) -> None:
    async def go(client: HttpClient) -> int:
        await client.send(post(target.url), 5.0)
        target.drop_connections()
        await asyncio.sleep(0.1)  # the client sees the close before it sends again
        return (await client.send(post(target.url), 5.0)).status

    assert run(go) == 200
    assert target.count() == 2
    assert target.connections == 2


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_reset_on_a_reused_connection_is_reported_not_resent(target: Target, method: str) -> None:
    request = Request(method, target.url, (), BODY if method == "POST" else b"")

    async def go(client: HttpClient) -> list[int | str]:
        first = await outcomes(client, request, 1)
        target.mode = "reset"
        return first + await outcomes(client, request, 1)

    assert run(go) == [200, "reset"]
    assert target.count() == 2  # the first send and the reused attempt: nothing sent again


def test_fresh_connection_closing_is_reported_not_retried() -> None:
    with Target("close") as target:
        assert failure(post(target.url)).outcome == "closed"
        assert target.count() == 1
        assert target.connections == 1


def test_max_connections_per_host_is_respected_under_concurrency() -> None:
    with Target("slow", delay=0.02) as target:

        async def go(client: HttpClient) -> list[Response]:
            return await asyncio.gather(*(client.send(post(target.url), 5.0) for _ in range(100)))

        responses = run(go, max_connections_per_host=8)

        assert [r.status for r in responses] == [200] * 100
        assert target.count() == 100
        assert 1 < target.connections <= 8
        assert target.max_open <= 8


def test_waiting_for_a_free_connection_does_not_count_against_the_timeout() -> None:
    with Target("slow", delay=0.3) as target:

        async def go(client: HttpClient) -> tuple[list[Response], float]:
            loop = asyncio.get_running_loop()
            first = asyncio.ensure_future(client.send(post(target.url), 5.0))
            await asyncio.sleep(0.05)
            started = loop.time()
            second = await client.send(post(target.url), 0.45)  # queued ~0.25 s, then 0.3 s
            return [await first, second], loop.time() - started

        responses, elapsed = run(go, max_connections_per_host=1)

        assert [r.status for r in responses] == [200, 200]
        assert elapsed > 0.45  # longer than its timeout in all, yet not a timeout
        assert target.count() == 2


def test_waiting_for_a_connection_has_the_timeout_as_deadline() -> None:
    with Target("slow", delay=1.0) as target:

        async def go(client: HttpClient) -> tuple[TransportError, float, Response]:
            loop = asyncio.get_running_loop()
            first = asyncio.ensure_future(client.send(post(target.url), 5.0))
            await asyncio.sleep(0.05)
            started = loop.time()
            with pytest.raises(TransportError) as info:
                await client.send(post(target.url), 0.2)  # the one connection stays busy 1 s
            return info.value, loop.time() - started, await first

        error, waited, response = run(go, max_connections_per_host=1)

    assert error.outcome == "pool_timeout"
    assert error.detail == (
        f"not sent: no connection to http://127.0.0.1:{target.port} came free within 0.2 s "
        "(all 1 busy)"
    )
    assert 0.15 < waited < 0.9
    assert response.status == 200
    assert target.count() == 1  # the second request never reached the wire


def test_a_timeout_before_the_request_was_written_is_connect_timeout() -> None:
    # A listener whose accept queue is full drops new handshakes: the connection never comes.
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = listener.getsockname()[1]
        queued = [socket.socket() for _ in range(3)]
        for sock in queued:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
        try:
            error = failure(post(f"http://127.0.0.1:{port}/hook"), 0.3)
        finally:
            for sock in queued:
                sock.close()

    assert error.outcome == "connect_timeout"
    assert error.detail == f"not sent: no connection to 127.0.0.1:{port} within 0.3 s"


def test_two_hundred_paths_on_one_host_share_one_pool(target: Target) -> None:
    async def go(client: HttpClient) -> list[Response]:
        return await asyncio.gather(
            *(client.send(post(f"{target.url}/{n}?x={n}"), 10.0) for n in range(200))
        )

    responses = run(go, max_connections_per_host=4)

    assert [r.status for r in responses] == [200] * 200
    assert sorted(r.path for r in target.wait_for(200)) == sorted(
        f"/hook/{n}?x={n}" for n in range(200)
    )
    assert target.connections <= 4


def test_a_busy_origin_does_not_hold_up_another() -> None:
    with Target("never") as busy, Target() as free:

        async def go(client: HttpClient) -> tuple[int, float]:
            loop = asyncio.get_running_loop()
            stuck = asyncio.ensure_future(client.send(post(busy.url), 5.0))
            await asyncio.sleep(0.05)
            started = loop.time()
            status = (await client.send(post(free.url), 5.0)).status
            stuck.cancel()
            return status, loop.time() - started

        status, took = run(go, max_connections_per_host=1)

    assert status == 200 and took < 1.0


def test_thousand_concurrent_sends_all_arrive(target: Target) -> None:
    async def go(client: HttpClient) -> list[Response]:
        return await asyncio.gather(*(client.send(post(target.url), 10.0) for _ in range(1000)))

    responses = run(go)

    assert all(r.status == 200 for r in responses)
    assert len(target.wait_for(1000)) == 1000
    assert target.connections <= 32


def test_aclose_closes_idle_connections(target: Target) -> None:
    async def go() -> None:
        client = HttpClient()
        await client.send(post(target.url), 5.0)
        await client.aclose()
        with pytest.raises(RuntimeError):
            await client.send(post(target.url), 5.0)

    asyncio.run(go())
    target.wait_disconnected(2.0)
    assert target.connections == 1


def test_sink_answers_and_counts() -> None:
    with Sink() as sink:

        async def go(client: HttpClient) -> list[Response]:
            return await asyncio.gather(*(client.send(post(sink.url), 5.0) for _ in range(200)))

        responses = run(go, max_connections_per_host=4)

        assert {(r.status, r.body) for r in responses} == {(200, b"success")}
        assert sink.count() == 200


def test_a_name_that_does_not_resolve_is_unresolved_not_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    def no_such_name(host: str, *args: object, **kw: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)  # nothing leaves the machine
    error = failure(post("http://hooks.example.invalid:8000/hook"))
    assert error.outcome == "unresolved"
    assert "cannot resolve 'hooks.example.invalid'" in error.detail
