"""The live console: a line per send and per attempt, colours only on a terminal, JSON lines
for machines, errors only with --quiet; ``dlrmock serve`` prints it instead of access lines."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from live import send_esms
from targets import Target

from mock_server import MockProvider
from mock_server._console import ConsolePrinter
from mock_server.cli import cli


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def provider() -> Iterator[MockProvider]:
    with MockProvider(time_scale=0, send={"answer_margin": 0}) as provider:
        yield provider


def _run(provider: MockProvider, printer: ConsolePrinter, callback: str) -> None:
    provider.state.events.subscribe(printer)
    send_esms(provider.url, "12", None)  # rejected: 108 bad phone number
    answer = send_esms(provider.url, "0912345678", callback)
    provider.message(answer["SMSID"]).wait("final", 30)


def test_text_lines_name_the_send_and_the_attempt_without_colour_off_a_terminal(
        provider: MockProvider, target: Target) -> None:
    out = io.StringIO()
    _run(provider, ConsolePrinter(out), target.url)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert "\033[" not in out.getvalue()
    rejected, accepted, attempt = lines
    assert "esms" in rejected and "rejected" in rejected and "error 108" in rejected
    assert "bad phone number" in rejected
    assert "0912345678" in accepted and "accepted" in accepted and "id " in accepted
    assert f"→ GET  {target.url}" in attempt and " 200 " in attempt and "acknowledged" in attempt


def test_colours_only_on_a_terminal(provider: MockProvider, target: Target) -> None:
    out = Terminal()
    _run(provider, ConsolePrinter(out), target.url)
    assert "\033[31m" in out.getvalue() and "\033[32m" in out.getvalue()


def test_json_gives_one_object_per_line(provider: MockProvider, target: Target) -> None:
    out = Terminal()
    _run(provider, ConsolePrinter(out, log_format="json"), target.url)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records] == ["send", "send", "attempt"]
    assert records[0]["outcome"] == "rejected" and records[0]["error"] == "108"
    assert records[2]["status"] == 200 and records[2]["acknowledged"] is True


def test_quiet_keeps_errors_only(provider: MockProvider, make_target: object) -> None:
    failing = make_target("error")  # type: ignore[operator]
    out = io.StringIO()
    _run(provider, ConsolePrinter(out, log_format="json", quiet=True), failing.url)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["event"] == "send" and records[0]["outcome"] == "rejected"
    assert all(r["event"] != "send" or r["outcome"] == "rejected" for r in records)
    attempts = [r for r in records if r["event"] == "attempt"]
    assert attempts and all(not r["acknowledged"] and "500" in r["reason"] for r in attempts)
    assert records[-1]["event"] == "run" and records[-1]["failures"]


def test_serve_rejects_an_unknown_log_format() -> None:
    result = CliRunner().invoke(cli, ["serve", "--log-format", "xml"])
    assert result.exit_code == 2 and "xml" in result.output


def test_serve_prints_each_send_and_attempt_as_it_happens(tmp_path: Path, target: Target) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--time-scale", "0",
         "--log-format", "json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env) as process:
        # readline() has no timeout: a stuck server is killed, which ends the reads.
        watchdog = threading.Timer(120, process.kill)  # only a stuck server; a busy one is slow
        watchdog.start()
        try:
            assert process.stdout is not None
            ready = json.loads(process.stdout.readline())
            assert ready["event"] == "serving", ready
            url = ready["url"]
            assert url.startswith("http://127.0.0.1:"), ready
            send_esms(url, "0912345678", target.url)
            deadline = time.monotonic() + 20
            records: list[dict[str, object]] = []
            while time.monotonic() < deadline and not any(r.get("event") == "attempt"
                                                          for r in records):
                line = process.stdout.readline()
                if line.startswith("{"):
                    records.append(json.loads(line))
            assert [r["event"] for r in records] == ["send", "attempt"], records
            health = requests.get(url + "/_dlrmock/health", timeout=5).json()
            assert health["counters"]["sends"] == 1
        finally:
            watchdog.cancel()
            process.terminate()
            process.wait(10)


def test_no_color_turns_colours_off_even_on_a_terminal(
        provider: MockProvider, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = Terminal()
    _run(provider, ConsolePrinter(out), target.url)
    assert out.getvalue() and "\033[" not in out.getvalue()
