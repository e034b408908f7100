"""How every send API reads a request and records it, as an app sees it over a real socket.

The body limit (``max_body_bytes``) is exact whether the app declares a Content-Length or streams
the body chunked; schema problems are cut to 300 characters in dlrmock's explanation; the
explanation header is one Latin-1 line; ``provider.sent`` records what was asked and answered.
A :class:`MockProvider` at time scale 0, ``requests`` posting to eSMS's
``SendMultipleMessage_V4_post_json``.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from esms_invalid_request import invalid_request

from mock_server import MockProvider, RunError
from mock_server.sendapi import CapturedSend

PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json"
LIMIT = 2000
EXPLAIN = "X-Dlrmock-Explain"
DEADLINE = 10.0
KEYS = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key"}


@pytest.fixture(scope="module")
def esms() -> Iterator[MockProvider]:
    with MockProvider(time_scale=0, send={"max_body_bytes": LIMIT}) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(esms: MockProvider) -> None:
    esms.reset()


def send_document(**fields: Any) -> bytes:
    document = {**KEYS, "Phone": "0912345678", "Content": "x", "SmsType": "2", **fields}
    return json.dumps(document).encode()


def padded(size: int) -> bytes:
    """A valid send of exactly ``size`` bytes (JSON whitespace after the object)."""
    body = send_document()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def post(provider: MockProvider, body: Any, query: str = "") -> requests.Response:
    return requests.post(provider.url + PATH + query, data=body, timeout=DEADLINE)


def test_a_body_of_exactly_the_limit_is_accepted_with_or_without_a_length(
        esms: MockProvider) -> None:
    declared = post(esms, padded(LIMIT))
    assert declared.json()["CodeResult"] == "100", declared.text
    body = padded(LIMIT)
    chunked = post(esms, iter([body[:300], body[300:]]))  # no Content-Length
    assert chunked.json()["CodeResult"] == "100", chunked.text
    assert esms.sent[-1].body_length == LIMIT


def test_a_declared_length_over_the_limit_is_413_naming_that_length(esms: MockProvider) -> None:
    response = post(esms, padded(LIMIT + 1))
    assert response.status_code == 413
    assert response.headers[EXPLAIN] == (
        f"request body too large: {LIMIT + 1} bytes, at most {LIMIT} (the max_body_bytes setting)")
    assert esms.sent[-1].body_length == LIMIT + 1 and esms.sent[-1].body == ""


def test_a_chunked_body_over_the_limit_is_413_without_claiming_its_length(
        esms: MockProvider) -> None:
    body = padded(LIMIT + 500)
    response = post(esms, iter([body[:300], body[300:]]))
    assert response.status_code == 413
    assert esms.sent[-1].body_length == LIMIT + 1  # read one byte past the limit, no more
    assert response.headers[EXPLAIN] == (
        f"request body too large: more than {LIMIT} bytes, at most {LIMIT} "
        "(the max_body_bytes setting)")


def cut_short(provider: MockProvider, path: str, framing: bytes, body: bytes,
              ) -> tuple[http.client.HTTPResponse, bytes]:
    """Send the head with ``framing`` and ``body``, then stop sending, as an app that went
    away mid-body does (half-closed, so the answer can still be read)."""
    with socket.create_connection(("127.0.0.1", int(provider.url.rsplit(":", 1)[1])),
                                  timeout=DEADLINE) as app:
        app.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + framing
                    + b"Content-Type: application/json\r\n\r\n" + body)
        app.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(app)
        response.begin()
        return response, response.read()


NXCLOUD_PATH = "/v1/sms/mt"
PART = send_document()[:45]


@pytest.mark.parametrize(("path", "code"), [(PATH, "99"), (NXCLOUD_PATH, "9000")])
def test_a_body_cut_short_of_its_length_is_400_and_recorded_with_the_bytes_received(
        esms: MockProvider, path: str, code: str) -> None:
    response, body = cut_short(esms, path, b"Content-Length: 200\r\n", PART)
    reason = ("request body cut short: 45 of the 200 bytes its Content-Length declares came "
              "before the client stopped sending")
    assert response.status == 400 and response.getheader(EXPLAIN) == reason
    answer = json.loads(body)
    assert answer == {"error": "Invalid request"} if code == "99" else \
        (answer["code"], answer["message"]) == (9000, reason)
    [sent] = esms.sent
    assert (sent.path, sent.status, sent.response, sent.error) == (path, 400, answer, code)
    assert (sent.body, sent.body_length, sent.explain) == (PART.decode(), 45, reason)
    esms.check()


def test_a_long_body_cut_short_is_recorded_with_the_length_that_came() -> None:
    # More than one 64 KiB read arrived: the record counts them all, and keeps the first 64 KiB.
    part = send_document(Content="x" * 70_000)[:70_000]
    with MockProvider(time_scale=0) as provider:
        response, _ = cut_short(provider, PATH, b"Content-Length: 100000\r\n", part)
        [sent] = provider.sent
    assert response.status == 400 and response.getheader(EXPLAIN, "").startswith(
        "request body cut short: 70000 of the 100000 bytes")
    assert (sent.body_length, sent.body) == (70_000, part[:64 * 1024].decode())  # 64 KiB kept


@pytest.mark.parametrize("rest", [b"", b"\r\nzz\r\n"], ids=["gone", "bad-chunk-size"])
def test_a_chunked_body_that_breaks_off_is_400_and_recorded_not_a_500(
        esms: MockProvider, rest: bytes) -> None:
    # 45 bytes of a 64-byte chunk, then nothing; or a whole chunk, then no valid chunk size.
    size = b"40" if rest == b"" else b"%x" % len(PART)
    response, body = cut_short(esms, PATH, b"Transfer-Encoding: chunked\r\n",
                               size + b"\r\n" + PART + rest)
    assert response.status == 400 and json.loads(body) == {"error": "Invalid request"}
    reason = response.getheader(EXPLAIN)  # werkzeug's reason in brackets
    assert reason is not None and reason.startswith(
        "request body cut short: its chunked encoding broke off (") and reason.endswith(")")
    [sent] = esms.sent
    assert (sent.status, sent.error, sent.explain) == (400, "99", reason)
    # werkzeug's chunked reader drops what the failing read had taken: no claim of 45 bytes
    assert sent.body_length == len(sent.body.encode()) < len(PART) + 1
    esms.check()


def problem_of(response: requests.Response) -> str:
    explain = invalid_request(response)
    assert explain.startswith("Invalid request: ")
    return explain[len("Invalid request: "):]


def test_a_schema_problem_is_cut_to_300_characters(esms: MockProvider) -> None:
    # The problem names the bad value, so its length follows the value's: measure one, then
    # ask for problems of exactly 300 and 301 characters.
    short = problem_of(post(esms, send_document(Content=["y" * 10])))
    assert not short.endswith("...")
    pad = 10 + 300 - len(short)
    whole = problem_of(post(esms, send_document(Content=["y" * pad])))
    assert len(whole) == 300 and not whole.endswith("...")
    cut = problem_of(post(esms, send_document(Content=["y" * (pad + 1)])))
    assert len(cut) == 300 and cut.endswith("...")


def test_the_explanation_header_replaces_what_latin_1_cannot_carry(esms: MockProvider) -> None:
    response = post(esms, send_document(SmsType="Ạ lại"))
    explain = esms.sent[-1].explain
    assert explain is not None and "'Ạ lại'" in explain  # the record keeps the value
    assert response.headers[EXPLAIN] == explain.replace("Ạ", "?").replace("ạ", "?")


def test_every_send_is_recorded_with_what_was_asked_and_answered(esms: MockProvider) -> None:
    body = padded(LIMIT)
    before = time.time()
    response = requests.post(esms.url + PATH + "?trace=1", data=body, timeout=DEADLINE,
                             headers={"X-App": "checkout"})
    after = time.time()
    [sent] = esms.sent
    assert (sent.provider, sent.endpoint, sent.method) == (
        "esms", "esms.SendMultipleMessage_V4_post_json", "POST")
    assert sent.path == PATH + "?trace=1"
    assert sent.headers["X-App"] == "checkout"
    assert sent.body == body.decode() and sent.body_length == LIMIT
    assert sent.json == json.loads(body)
    assert (sent.status, sent.response) == (200, response.json())
    assert sent.message_ids == [response.json()["SMSID"]] and sent.error is None
    assert sent.explain == response.headers[EXPLAIN]
    assert before <= sent.at <= after


def test_a_refused_send_is_recorded_with_its_code_and_reason(esms: MockProvider) -> None:
    response = post(esms, b"\xff" + send_document()[1:], query="")
    [sent] = esms.sent
    invalid_request(response)
    assert sent.response == {"error": "Invalid request"} == response.json()
    assert sent.error == "99" and sent.message_ids == [] and sent.run_ids == []
    assert sent.body.startswith("\ufffd") and sent.body_length == len(send_document())
    assert sent.path == PATH
    assert sent.explain == response.headers[EXPLAIN]


def test_a_wrong_method_is_405_naming_the_allowed_one(esms: MockProvider) -> None:
    response = requests.put(esms.url + PATH, timeout=DEADLINE)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers[EXPLAIN] == f"method PUT is not allowed on {PATH}; use POST"
    assert esms.sent[-1].method == "PUT" and esms.sent[-1].status == 405


def test_the_answer_keeps_the_documented_key_order(esms: MockProvider) -> None:
    response = post(esms, send_document())
    assert response.headers["Content-Type"] == "application/json"
    assert list(json.loads(response.text)) == ["CodeResult", "CountRegenerate", "SMSID"]


def test_a_recorded_send_waits_for_its_receipts_only_when_taken_from_the_provider(
        esms: MockProvider) -> None:
    post(esms, send_document(CallbackUrl="http://127.0.0.1:9/hook"))
    sent = esms.sent[-1]
    assert sent.run_ids
    runs = sent.wait(DEADLINE)
    assert [run.id for run in runs] == sent.run_ids
    detached = CapturedSend(**{name: getattr(sent, name) for name in (
        "provider", "endpoint", "method", "path", "headers", "body", "json", "status",
        "response")})
    with pytest.raises(RunError) as refused:
        detached.wait(0)
    assert str(refused.value) == (
        "this captured send is not attached to a provider; take it from provider.sent or "
        "dlrmock.sent to wait for its receipts")


def test_waiting_for_receipts_that_cannot_arrive_gives_up_after_the_timeout(
        esms: MockProvider) -> None:
    with socket.socket() as silent:  # a webhook that accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        post(esms, send_document(CallbackUrl=f"http://127.0.0.1:{silent.getsockname()[1]}/h"))
        started = time.monotonic()
        with pytest.raises(RunError):
            esms.sent[-1].wait(0.3)
        assert time.monotonic() - started < 5
        esms.reset()


def explained(provider: MockProvider, sms_type: str) -> tuple[str, str]:
    """(the header, the explanation recorded) of a send refused for its ``SmsType``."""
    response = post(provider, send_document(SmsType=sms_type))
    explain = provider.sent[-1].explain
    assert explain is not None and sms_type in explain
    return response.headers[EXPLAIN], explain


def test_a_long_explanation_header_is_cut_to_1000_characters(esms: MockProvider) -> None:
    # The explanation names the bad SmsType: measure one, then ask for 1000 and 1001 characters.
    _, short = explained(esms, "z")
    header, explain = explained(esms, "z" * (1000 - len(short) + 1))
    assert len(explain) == 1000 and header == explain
    header, explain = explained(esms, "z" * (1000 - len(short) + 2))
    assert len(explain) == 1001  # the record keeps it whole
    assert len(header) == 1000 and header == explain[:997] + "..."
