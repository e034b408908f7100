"""What the pytest plugin costs: 200 tests playing a two-receipt scenario vs plain ``requests``.

Two generated test files, each 200 tests against the same trivial Flask receiver (served once per
session on a free port):

* ``test_with_dlrmock.py``: ``dlrmock.play("nxcloud.zalo.success_then_delivered", time_scale=0)``
  then ``run.wait().assert_acknowledged()`` — the ``dlrmock`` fixture resets the server per test;
* ``test_plain_requests.py``: the same two receipts per test (built up front with
  ``mock_server.receipt`` / ``mock_server.wire``) POSTed with a keep-alive ``requests.Session``,
  each answer checked for a 200.

Each file runs as a real ``pytest -q -p no:cacheprovider`` subprocess (the dlrmock plugin is
installed, so it loads in both, as it would in a project that uses it); rounds are interleaved and
the median wall time of each is compared. Also shown: pytest's own "in N s" (the session without
interpreter start-up and plugin imports) and the cost per test.

    .venv/bin/python benchmarks/plugin_overhead.py [--tests 200] [--rounds 5] [--keep DIR]

Prints ``plugin_overhead: <with / without>`` last. Bar: ≤ 1.2.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mock_server import ReceiptFactory, receipt, wire

SCENARIO = "nxcloud.zalo.success_then_delivered"
KINDS = ("nxcloud.zalo.success", "nxcloud.zalo.delivered")

CONFTEST = '''
import threading

import pytest
from flask import Flask, request
from werkzeug.serving import WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args):
        pass


def create_receiver():
    """A trivial receipt webhook: remembers the last status per requestId, answers success."""
    app = Flask("receiver")
    app.config["STATUS"] = {}

    @app.post("/webhooks/nxcloud")
    def nxcloud():
        payload = request.get_json()
        app.config["STATUS"][payload["requestId"]] = payload["status"]
        return "success"

    return app


@pytest.fixture(scope="session")
def webhook():
    server = make_server("127.0.0.1", 0, create_receiver(), threaded=True,
                         request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/nxcloud"
    server.shutdown()
    thread.join(10)
    server.server_close()
'''

WITH_DLRMOCK = '''
import pytest


@pytest.mark.parametrize("n", range({tests}))
def test_receipts(n, dlrmock, webhook):
    run = dlrmock.play("{scenario}", to=webhook, time_scale=0)
    run.wait(timeout=10).assert_acknowledged()
'''

PLAIN_REQUESTS = '''
import json
from pathlib import Path

import pytest
import requests

REQUESTS = json.loads(Path(__file__).with_name("payloads.json").read_text())


@pytest.fixture(scope="session")
def http():
    with requests.Session() as session:
        yield session


@pytest.mark.parametrize("n", range({tests}))
def test_receipts(n, http, webhook):
    for sent in REQUESTS[n]:
        response = http.request(sent["method"], webhook, headers=sent["headers"],
                                data=sent["body"].encode())
        assert response.status_code == 200, response.text
'''


def payloads(tests: int) -> list[list[dict[str, object]]]:
    """Per test, the two requests the scenario sends, with the same shared message fields."""
    result = []
    for n in range(tests):
        message = ReceiptFactory(n).message("nxcloud")
        sent = []
        for kind in KINDS:
            request = wire(kind, receipt(kind, seed=n, message=message), "http://receiver/")
            sent.append({"method": request.method, "headers": dict(request.headers),
                         "body": request.body.decode()})
        result.append(sent)
    return result


def write_project(directory: Path, tests: int) -> None:
    (directory / "conftest.py").write_text(CONFTEST)
    (directory / "test_with_dlrmock.py").write_text(
        WITH_DLRMOCK.format(tests=tests, scenario=SCENARIO))
    (directory / "test_plain_requests.py").write_text(PLAIN_REQUESTS.format(tests=tests))
    (directory / "payloads.json").write_text(json.dumps(payloads(tests)))


def run_session(directory: Path, arguments: list[str], tests: int) -> tuple[float, float]:
    """(wall seconds, pytest's own session seconds) of one ``pytest`` run."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    summary = re.search(r"(\d+) passed in ([\d.]+)s", done.stdout)
    if done.returncode != 0 or summary is None or int(summary.group(1)) != tests:
        raise SystemExit(f"pytest {' '.join(arguments)} did not pass all {tests} tests:\n"
                         f"{done.stdout}{done.stderr}")
    return wall, float(summary.group(2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the generated project here (and keep it) instead of a temp dir")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="dlrmock-overhead-") as temp:
        directory = args.keep or Path(temp)
        directory.mkdir(parents=True, exist_ok=True)
        write_project(directory, args.tests)
        sessions = {
            "with dlrmock": ["test_with_dlrmock.py"],
            "plain requests": ["test_plain_requests.py"],
            # for information: what loading the plugin (and mock_server) costs at start-up
            "plain, no plugin": ["-p", "no:dlrmock", "test_plain_requests.py"],
        }
        run_session(directory, sessions["plain requests"], args.tests)  # warm the file cache
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in sessions}
        for _ in range(args.rounds):
            for name, arguments in sessions.items():
                times[name].append(run_session(directory, arguments, args.tests))

    walls = {name: statistics.median(w for w, _ in runs) for name, runs in times.items()}
    inner = {name: statistics.median(s for _, s in runs) for name, runs in times.items()}
    print(f"{args.tests} tests x {len(KINDS)} receipts, {args.rounds} interleaved rounds, median:")
    for name in times:
        print(f"  {name:<17} wall {walls[name]:6.2f} s   pytest session {inner[name]:6.2f} s")
    per_test = (inner["with dlrmock"] - inner["plain requests"]) / args.tests * 1000
    print(f"  extra per test (session time): {per_test:+.2f} ms")
    print(f"  with dlrmock / plain without the plugin loaded (wall): "
          f"{walls['with dlrmock'] / walls['plain, no plugin']:.3f}")
    print(f"session_overhead: {inner['with dlrmock'] / inner['plain requests']:.3f}")
    print(f"plugin_overhead: {walls['with dlrmock'] / walls['plain requests']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
