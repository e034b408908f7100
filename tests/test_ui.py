"""The dashboard's pages and actions, in process (the browser test drives the live parts)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from live import HELD_PHONE, send_esms
from targets import Target

from mock_server import MockProvider, receipt

UI = "/_dlrmock/ui/"
POST = {"X-Dlrmock-UI": "1"}


@pytest.fixture
def provider() -> Iterator[MockProvider]:
    with MockProvider(time_scale=0, send={"answer_margin": 0}) as provider:
        yield provider


def test_the_inbox_lists_messages_newest_first_and_filters_them(
        provider: MockProvider, target: Target) -> None:
    first = send_esms(provider.url, "0912345678", target.url, RequestId="order-77")
    second = send_esms(provider.url, "0987654321", target.url, Content="Xin chào <b>Lan</b>")
    page = requests.get(provider.url + UI, timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert page.text.index(second["SMSID"][:20]) < page.text.index(first["SMSID"][:20])
    assert "Xin chào &lt;b&gt;Lan&lt;/b&gt;" in page.text  # escaped, never markup
    assert "order-77" in page.text and "2</span> message(s)" in page.text
    found = requests.get(provider.url + UI, params={"q": "order-77"}, timeout=5).text
    assert first["SMSID"][:20] in found and second["SMSID"][:20] not in found
    none = requests.get(provider.url + UI, params={"provider": "nxcloud"}, timeout=5).text
    assert "0</span> message(s)" in none


def test_a_row_fragment_is_empty_when_the_filters_leave_it_out(
        provider: MockProvider) -> None:
    answer = send_esms(provider.url, "0912345678", None)
    row = requests.get(f"{provider.url}{UI}rows/{answer['SMSID']}", timeout=5)
    assert row.status_code == 200 and row.text.lstrip().startswith("<tr")
    other = requests.get(f"{provider.url}{UI}rows/{answer['SMSID']}",
                         params={"provider": "nxcloud"}, timeout=5)
    assert other.status_code == 204


def test_a_message_page_shows_the_send_and_every_attempt_with_request_and_response(
        provider: MockProvider, target: Target) -> None:
    answer = send_esms(provider.url, "0912345678", target.url, RequestId="order-5")
    provider.message(answer["SMSID"]).wait("final", 10)
    page = requests.get(f"{provider.url}{UI}messages/{answer['SMSID']}", timeout=5).text
    assert "POST /MainService.svc/json/SendMultipleMessage_V4_post_json/" in page
    assert "&#34;CodeResult&#34;: &#34;100&#34;" in page or '"CodeResult": "100"' in page
    assert "receipt esms.sms.cskh" in page and "acknowledged" in page
    assert f"GET {target.url}?SMSID={answer['SMSID']}" in page
    assert "success" in page  # the webhook's answer body


def test_an_unknown_message_is_a_clear_404(provider: MockProvider) -> None:
    page = requests.get(f"{provider.url}{UI}messages/nope", timeout=5)
    assert page.status_code == 404 and "no message &#39;nope&#39;" in page.text


def test_release_from_the_page_plays_the_held_message(
        provider: MockProvider, target: Target) -> None:
    held = send_esms(provider.url, HELD_PHONE, target.url)
    page = requests.get(f"{provider.url}{UI}messages/{held['SMSID']}", timeout=5).text
    assert 'id="release"' in page
    url = f"{provider.url}{UI}messages/{held['SMSID']}/release"
    bad = requests.post(url, json={"outcome": "vanished"}, headers=POST, timeout=5)
    assert bad.status_code == 400 and "unknown outcome 'vanished'" in bad.json()["message"]
    done = requests.post(url, json={"outcome": "failed"}, headers=POST, timeout=5)
    assert done.status_code == 200 and done.json()["state"] in ("pending", "playing", "final")
    provider.message(held["SMSID"]).wait("final", 10)
    row = requests.get(f"{provider.url}{UI}rows/{held['SMSID']}", timeout=5).text
    assert ">final</span>" in row and 'class="plays" title="what its receipts say">failed<' in row
    again = requests.post(url, json={"outcome": "failed"}, headers=POST, timeout=5)
    assert again.status_code == 409 and "not held" in again.json()["message"]


def test_releasing_an_unknown_message_is_a_404(provider: MockProvider) -> None:
    answer = requests.post(f"{provider.url}{UI}messages/nope/release",
                           json={"outcome": "delivered"}, headers=POST, timeout=5)
    assert answer.status_code == 404 and "'nope'" in answer.json()["message"]


def test_actions_need_the_page_header(provider: MockProvider) -> None:
    answer = requests.post(f"{provider.url}{UI}validate", data={"payload": "{}"}, timeout=5)
    assert answer.status_code == 403 and "X-Dlrmock-UI" in answer.json()["message"]


def test_the_validate_box_answers_valid_invalid_and_unreadable(provider: MockProvider) -> None:
    url = f"{provider.url}{UI}validate"
    good = requests.post(url, json={"payload": json.dumps(receipt("nxcloud.zalo.delivered"))},
                         headers=POST, timeout=5).json()
    assert good == {"kind": "nxcloud.zalo.delivered", "valid": True, "problems": []}
    bad = requests.post(url, json={"payload": '{"status": "delivered"}'}, headers=POST,
                        timeout=5).json()
    assert bad["valid"] is False and bad["problems"]
    garbage = requests.post(url, json={"payload": "{not json"}, headers=POST, timeout=5)
    assert garbage.status_code == 400 and "does not parse" in garbage.json()["message"]


def test_the_play_form_starts_a_run_and_names_bad_input(
        provider: MockProvider, target: Target) -> None:
    url = f"{provider.url}{UI}play"
    started = requests.post(url, json={"scenario": "esms.sms.cskh.delivered", "to": target.url},
                            headers=POST, timeout=5)
    assert started.status_code == 200, started.text
    provider.run(started.json()["run_id"]).wait(10).assert_acknowledged()
    unknown = requests.post(url, json={"scenario": "esms.nope", "to": target.url},
                            headers=POST, timeout=5)
    assert unknown.status_code == 400 and "esms.nope" in unknown.json()["message"]
    no_url = requests.post(url, json={"scenario": "esms.sms.cskh.delivered", "to": "ftp://x"},
                           headers=POST, timeout=5)
    assert no_url.status_code == 400 and "ftp://x" in no_url.json()["message"]


def test_the_admin_token_guards_the_dashboard_and_a_link_signs_in() -> None:
    with MockProvider(time_scale=0, admin_token="s3cret") as provider:
        session = requests.Session()
        assert session.get(provider.url + UI, timeout=5).status_code == 401
        assert session.get(provider.url + UI, params={"token": "wrong"},
                           timeout=5).status_code == 401
        signed = session.get(provider.url + UI, params={"token": "s3cret", "q": "x"}, timeout=5)
        assert signed.status_code == 200 and signed.url.endswith(UI + "?q=x")
        assert session.get(f"{provider.url}{UI}static/dashboard.js", timeout=5).ok
        bearer = requests.get(provider.url + UI, headers={"Authorization": "Bearer s3cret"},
                              timeout=5)
        assert bearer.status_code == 200


def test_the_event_stream_sends_each_event_as_it_happens(
        provider: MockProvider, target: Target) -> None:
    with requests.get(f"{provider.url}{UI}events", stream=True, timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        assert next(lines) == "retry: 1000"
        # The stream subscribed before its headers were sent: nothing is missed from here on.
        answer = send_esms(provider.url, "12", None)
        assert answer["CodeResult"] == "108"
        seen = [line for line in (next(lines) for _ in range(4)) if line]
    assert seen == ["id: 1", "event: send", seen[2]]
    assert '"kind": "send"' in seen[2] and '"sends_rejected": 1' in seen[2]



def test_event_streams_are_capped_and_a_closed_one_frees_its_place(
        provider: MockProvider) -> None:
    from mock_server.ui import MAX_STREAMS

    url = f"{provider.url}{UI}events"
    opened = [requests.get(url, stream=True, timeout=10) for _ in range(MAX_STREAMS)]
    try:
        assert all(r.status_code == 200 for r in opened)
        refused = requests.get(url, stream=True, timeout=10)
        assert refused.status_code == 503 and "close a tab" in refused.json()["message"]
        opened.pop().close()
        deadline = time.monotonic() + 10
        while (again := requests.get(url, stream=True, timeout=10)).status_code == 503:
            again.close()
            assert time.monotonic() < deadline, "a closed stream never gave its place back"
            time.sleep(0.05)
        opened.append(again)
    finally:
        for response in opened:
            response.close()


def test_serve_stops_at_once_with_a_dashboard_open(target: Target) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            url = json.loads(process.stdout.readline())["url"]
            with requests.get(f"{url}{UI}events", stream=True, timeout=10) as stream:
                assert next(stream.iter_lines(decode_unicode=True)) == "retry: 1000"
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                assert process.wait(10) == 0
            assert time.monotonic() - started < 3  # waitress did not wait for the stream
        finally:
            if process.poll() is None:
                process.kill()
