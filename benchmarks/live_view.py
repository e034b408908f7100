"""What the live view costs: sends per second through ``dlrmock serve`` with ``--db`` against
without it, and the dashboard's inbox render time with 10 000 messages.

1. Two ``dlrmock serve --time-scale 0 --quiet`` processes, one with ``--db FILE``, both calling
   back a loopback sink in its own process. ``--threads`` keep-alive clients send eSMS
   customer-care SMS (each one accepted, its receipt played and acknowledged); rounds alternate
   which server goes first, and the median sends/s of each is compared.
2. An app per history store (memory, SQLite) holding ``--messages`` messages (real send records,
   ids and phones varied, published on the event stream as the send APIs do); the inbox page
   ``/_dlrmock/ui/`` (newest 100 of them), a search and a provider filter are rendered through
   Flask's test client, median of ``--renders``.

    .venv/bin/python benchmarks/live_view.py [--sends 400] [--threads 4] [--rounds 5]
        [--messages 10000] [--renders 20]

Prints ``sends_db_vs_memory: <db sends/s ÷ memory sends/s>`` last.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import ROOT, SinkProcess

ESMS_SEND = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"


def _serve(db: str | None) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--time-scale", "0",
            "--quiet", "--log-format", "json"]
    if db is not None:
        args += ["--db", db]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("dlrmock serve did not start")
    return proc, json.loads(line)["url"]


def _send_all(url: str, count: int, threads: int, callback: str) -> float:
    """Seconds to send ``count`` messages over ``threads`` keep-alive connections."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    failures: list[str] = []

    def worker(share: int, index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        for n in range(share):
            body = json.dumps({
                "ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key",
                "Phone": f"09{index:02d}{n:06d}"[:10], "Content": "Your code is 4821",
                "Brandname": "Baotrixemay", "SmsType": "2", "CallbackUrl": callback})
            conn.request("POST", ESMS_SEND, body, {"Content-Type": "application/json"})
            answer = conn.getresponse().read()
            if b'"CodeResult": "100"' not in answer:
                failures.append(answer.decode("utf-8", "replace"))
        conn.close()

    workers = [threading.Thread(target=worker, args=(count // threads, i))
               for i in range(threads)]
    started = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} send(s) not accepted; first: {failures[0]}")
    return elapsed


def sends(args: argparse.Namespace) -> float:
    sink = SinkProcess()
    with tempfile.TemporaryDirectory() as tmp:
        servers = {"memory": _serve(None), "db": _serve(str(Path(tmp) / "bench.sqlite"))}
        try:
            for _, url in servers.values():  # warm up: imports, connections, SQLite pages
                _send_all(url, args.threads * 10, args.threads, sink.url)
            rates: dict[str, list[float]] = {"memory": [], "db": []}
            order = ["memory", "db"]
            for _ in range(args.rounds):
                for name in order:
                    seconds = _send_all(servers[name][1], args.sends, args.threads, sink.url)
                    rates[name].append(args.sends / seconds)
                order.reverse()
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
            sink.stop()
    memory, db = statistics.median(rates["memory"]), statistics.median(rates["db"])
    print(f"sends/s without --db: {memory:8.0f}   with --db: {db:8.0f}   "
          f"({args.sends} sends x {args.rounds} rounds, {args.threads} clients)")
    return db / memory


def _filled_app(db: str | None, messages: int) -> Any:
    from mock_server import create_app
    from mock_server._events import SEND
    from mock_server.app import get_state

    app = create_app({"time_scale": 0, "db": db})
    state = get_state(app)
    client = app.test_client()
    client.post(ESMS_SEND, json={"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key",
                                 "Phone": "0912345678", "Content": "Your code is 4821",
                                 "Brandname": "Baotrixemay", "SmsType": "2", "RequestId": "r-0"})
    record = state.history.page()[0][0]
    for n in range(1, messages):
        message = dict(record["message"], id=f"{n:032x}{n % 900 + 100}",
                       created_at=record["created_at"] + n / 1000)
        send = dict(record["send"], message_ids=[message["id"]],
                    json=dict(record["send"]["json"], Phone=f"09{n:08d}", RequestId=f"r-{n}"))
        provider = "esms" if n % 2 else "nxcloud"
        message["provider"] = provider
        state.events.publish(SEND, {"send": send, "summary": dict(record["summary"],
                                                                  phone=f"09{n:08d}",
                                                                  reference=f"r-{n}"),
                                    "rejected": False, "message_id": message["id"],
                                    "messages": [message]})
    return app, client


def renders(args: argparse.Namespace) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for store, db in (("memory", None), ("sqlite", str(Path(tmp) / "ui.sqlite"))):
            app, client = _filled_app(db, args.messages)
            for label, query in (("inbox", ""), ("search", "?q=r-4242"),
                                 ("provider", "?provider=nxcloud")):
                times = []
                for _ in range(args.renders):
                    started = time.perf_counter()
                    page = client.get("/_dlrmock/ui/" + query)
                    times.append(time.perf_counter() - started)
                    if page.status_code != 200:
                        raise RuntimeError(f"{label}: {page.status_code}")
                results[f"{store}_{label}"] = statistics.median(times) * 1000
            from mock_server.app import get_state

            get_state(app).close()
    for name, ms in results.items():
        print(f"dashboard {name:<18} with {args.messages} messages: {ms:7.1f} ms")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sends", type=int, default=400)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--renders", type=int, default=20)
    args = parser.parse_args()
    rendered = renders(args)
    ratio = sends(args)
    print(f"ui_inbox_10k_ms: {max(rendered['memory_inbox'], rendered['sqlite_inbox']):.1f}")
    print(f"sends_db_vs_memory: {ratio:.3f}")


if __name__ == "__main__":
    main()
