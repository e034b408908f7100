"""How late the dashboard's live updates arrive: the time from a send's answer to its ``send``
event on ``/_dlrmock/ui/events``, through ``dlrmock serve`` (waitress) and through
``MockProvider`` (Werkzeug's server) in the same run.

A raw socket read by its own thread takes the event stream (no client-side buffering);
``--sends`` eSMS sends are made one at a time, ``--gap`` seconds apart, each waiting for its
event before the next.

    .venv/bin/python benchmarks/sse_lag.py [--sends 20] [--gap 0.3]

Prints the median and worst lag of each server, in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import threading
import time

import requests
from _common import ROOT

ESMS_SEND = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"


def _lags(url: str, sends: int, gap: float) -> list[float]:
    """Milliseconds from each send's answer to its ``send`` event (negative: the event came
    first), the stream read by its own thread."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    stream = socket.create_connection((host, int(port)), timeout=10)
    stream.sendall(b"GET /_dlrmock/ui/events HTTP/1.1\r\nHost: x\r\n"
                   b"Accept: text/event-stream\r\n\r\n")
    arrivals: list[tuple[float, bytes]] = []

    def read() -> None:
        with contextlib.suppress(OSError):
            while chunk := stream.recv(65536):
                arrivals.append((time.perf_counter(), chunk))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    session = requests.Session()
    lags = []
    for n in range(sends):
        time.sleep(gap)  # the stream idles between events, as while a developer clicks
        body = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key",
                "Phone": f"0912{n:06d}", "Content": "Your code is 4821",
                "Brandname": "Baotrixemay", "SmsType": "2"}
        answer = session.post(url + ESMS_SEND, json=body, timeout=10).json()
        answered = time.perf_counter()
        wanted = answer["SMSID"].encode()
        deadline = answered + 10
        while not (found := [at for at, chunk in list(arrivals) if wanted in chunk]):
            if time.perf_counter() > deadline:
                raise RuntimeError("no event within 10 s")
            time.sleep(0.0005)
        lags.append((found[0] - answered) * 1000)
    stream.close()
    reader.join(5)
    return lags


def _waitress(sends: int, gap: float) -> list[float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--time-scale", "0",
         "--quiet", "--log-format", "json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, cwd=ROOT)
    assert proc.stdout is not None
    try:
        return _lags(json.loads(proc.stdout.readline())["url"], sends, gap)
    finally:
        proc.terminate()
        proc.wait(15)


def _werkzeug(sends: int, gap: float) -> list[float]:
    from mock_server import MockProvider

    with MockProvider(time_scale=0) as provider:
        return _lags(provider.url, sends, gap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between sends")
    args = parser.parse_args()
    for name, measure in (("waitress", _waitress), ("werkzeug", _werkzeug)):
        lags = measure(args.sends, args.gap)
        print(f"{name}: send → event median {statistics.median(lags):.1f} ms, "
              f"worst {max(lags):.1f} ms")


if __name__ == "__main__":
    main()
