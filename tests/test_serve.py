"""`dlrmock serve` as a server you can leave running: waitress, signals, exposure.

Each test runs `dlrmock serve --port 0` as a subprocess on loopback (one binds 0.0.0.0 to check
what it allows, and sends nothing beyond loopback).
"""

from __future__ import annotations

import json
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from live import send_esms
from targets import Target

STARTUP = 30.0


class Served:
    """A `dlrmock serve` subprocess and its URL."""

    def __init__(self, *args: str) -> None:
        # Unbuffered bytes: select() then sees every line (a text wrapper would read ahead).
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
        )

    def read_banner(self) -> None:
        self.banner = [self._line(), self._line(), self._line()]
        match = re.search(r"at (http://[^ ]+)$", self.banner[0].strip())
        assert match, f"no URL in {self.banner!r}"
        self.url = match.group(1)
        self.port = int(self.url.rsplit(":", 1)[1])

    def _line(self) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], STARTUP)
        if not ready:
            raise AssertionError(f"`dlrmock serve` printed nothing within {STARTUP} s")
        return self.proc.stdout.readline().decode()

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20) -> tuple[int, float, str]:
        """Signal the server; (exit code, seconds it took, what it printed after the banner)."""
        started = time.monotonic()
        self.proc.send_signal(signum)
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, time.monotonic() - started, out.decode()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def threads(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        served = Served(*args)
        started.append(served)
        served.read_banner()
        return served

    yield start
    for served in started:
        served.close()


def _play(url: str, to: str, **body: Any) -> dict[str, Any]:
    response = requests.post(
        url + "/_dlrmock/runs", json={"scenario": "nxcloud.zalo.success_then_delivered",
                                      "to": to, **body}, timeout=10,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_pending_runs_exits_0_within_the_grace_and_says_what_was_dropped(
    serve: Callable[..., Served], target: Target, signum: int
) -> None:
    served = serve("--time-scale", "1", "--grace", "1")
    _play(served.url, target.url, time_scale=100)  # 'delivered' is due in minutes

    code, took, out = served.stop(signum)

    assert code == 0
    assert took < 5
    name = signal.Signals(signum).name
    assert f"stopping ({name})" in out
    assert "left undone: 1 run(s), 1 receipt(s) never sent, 0 retry(ies) pending" in out


def test_runs_that_finish_within_the_grace_are_not_dropped(
    serve: Callable[..., Served], make_target: Callable[..., Target]
) -> None:
    slow = make_target("slow", delay=0.5)
    served = serve("--time-scale", "0", "--grace", "10")
    _play(served.url, slow.url)
    slow.wait_for(1)  # the first receipt is in flight

    code, took, out = served.stop()

    assert code == 0 and took < 8
    assert "nothing left undone" in out
    assert len(slow.wait_for(2)) == 2


def test_stalled_uploads_hold_no_threads(serve: Callable[..., Served]) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("counts threads through /proc")
    served = serve("--threads", "4")
    before = served.threads()
    stalled = []
    try:
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
            sock.sendall(b"POST /_dlrmock/runs HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            stalled.append(sock)
        health = requests.get(served.url + "/_dlrmock/health", timeout=5)
        assert health.status_code == 200
        assert served.threads() <= before + 2  # the werkzeug server held one per upload
    finally:
        for sock in stalled:
            sock.close()


def test_a_chunked_admin_body_is_read_over_a_socket(
    serve: Callable[..., Served], target: Target
) -> None:
    served = serve("--time-scale", "0")
    body = json.dumps({"scenario": "nxcloud.zalo.failed", "to": target.url}).encode()

    def chunks() -> Iterator[bytes]:
        yield body[:7]
        yield body[7:]

    response = requests.post(served.url + "/_dlrmock/runs", data=chunks(),
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 201, response.text


def test_exposed_it_delivers_only_to_loopback_and_allowed_targets(
    serve: Callable[..., Served], target: Target
) -> None:
    served = serve("--host", "0.0.0.0", "--admin-token", "T", "--time-scale", "0",
                   "--allow-target", "10.0.0.0/8")
    assert "receipts may go to: loopback and 10.0.0.0/8" in served.banner[2]
    url = f"http://127.0.0.1:{served.port}"
    auth = {"Authorization": "Bearer T"}

    def play(to: str) -> dict[str, Any]:
        created = requests.post(url + "/_dlrmock/runs", headers=auth, timeout=10,
                                json={"scenario": "nxcloud.zalo.failed", "to": to}).json()
        done: dict[str, Any] = requests.get(
            f"{url}/_dlrmock/runs/{created['id']}/wait", params={"timeout": 10}, headers=auth,
            timeout=15,
        ).json()
        return done

    assert play(target.url)["ok"] is True
    blocked = play("http://169.254.169.254/latest/meta-data")
    assert [a["outcome"] for a in blocked["attempts"]] == ["blocked"]
    assert "--allow-target" in blocked["attempts"][0]["error"]
    health = requests.get(url + "/_dlrmock/health", headers=auth, timeout=5).json()
    assert health["blocked_attempts"] == 1


def test_the_banner_names_the_default_webhooks_receipts_go_to(
    serve: Callable[..., Served],
) -> None:
    served = serve("--time-scale", "0", "--default-webhook", "http://127.0.0.1:5000/webhooks")
    assert "receipts may go to: any target" in served.banner[2]
    assert served._line().strip() == ("default webhooks: NXCloud http://127.0.0.1:5000/webhooks, "
                                      "eSMS http://127.0.0.1:5000/webhooks")


def test_a_signal_right_after_the_banner_still_stops_cleanly(serve: Callable[..., Served]) -> None:
    served = serve()
    code, _, out = served.stop()
    assert code == 0 and "stopping (SIGTERM)" in out and "nothing left undone" in out


def test_serve_on_ipv6_loopback(serve: Callable[..., Served]) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        served = serve("--host", "::1")
    except AssertionError as exc:  # the host has IPv6 support compiled in but not configured
        pytest.skip(f"cannot serve on ::1: {exc}")
    assert served.url.startswith("http://[::1]:")
    assert requests.get(served.url + "/_dlrmock/health", timeout=5).status_code == 200


def test_dashboard_events_leave_waitress_as_they_happen(serve: Callable[..., Served]) -> None:
    """Each server-sent event is flushed by the thread that writes it (waitress's send_bytes
    is 1 since 3.0; a larger one left small events waiting for the next main-loop pass, or
    for 18 000 bytes)."""
    served = serve("--time-scale", "0")
    lags = []
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as stream:
        stream.sendall(b"GET /_dlrmock/ui/events HTTP/1.1\r\nHost: dlrmock\r\n\r\n")
        received = b""
        while b"retry:" not in received:
            received += stream.recv(65536)
        for n in range(5):
            answer = send_esms(served.url, f"09123{n:05d}", None)
            answered = time.monotonic()
            while answer["SMSID"].encode() not in received:
                received += stream.recv(65536)  # times out after 5 s
            lags.append(time.monotonic() - answered)
    assert sorted(lags)[2] < 0.2, lags
