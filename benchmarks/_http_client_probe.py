"""Throwaway probe: dlrmock's asyncio HttpClient against bare http.client keep-alive threads.

Both send the same ~400-byte JSON POSTs at the same concurrency to the same loopback Sink.

    .venv/bin/python benchmarks/_http_client_probe.py [--requests 20000] [--concurrency 32]
        [--rounds 3] [--sink-process]

``--sink-process`` runs the Sink in a child process so it does not share the GIL with the
client being measured (the default runs it in a thread of this process, as the tests do).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from _common import post_keep_alive, running_sink

from mock_server._http import Request
from mock_server._http_client import HttpClient

BODY = json.dumps(
    {
        "messageId": "4f8c2a1e-9b7d-4c3a-8e6f-1a2b3c4d5e6f",
        "phone": "84901234567",
        "status": "DELIVRD",
        "statusDesc": "Delivered to handset",
        "submitTime": "2024-04-24 16:58:01",
        "doneTime": "2024-04-24 16:58:03",
        "templateId": "245331",
        "trackingId": "order-000123456",
        "price": 300,
        "currency": "VND",
        "channel": "zalo",
        "oaId": "1234567890123456789",
        "errorCode": 0,
        "errorMsg": "",
        "extra": {"campaign": "spring-sale", "segment": "returning", "attempt": 1},
    },
    separators=(",", ":"),
).encode()
HEADERS = {"Content-Type": "application/json", "User-Agent": "dlrmock/0.1"}

def bench_threads(port: int, total: int, concurrency: int) -> float:
    """Requests per second of ``concurrency`` threads, each with one keep-alive connection."""
    per_thread = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]
    elapsed, _ = post_keep_alive(port, [[BODY] * n for n in per_thread], HEADERS)
    return total / elapsed


def bench_client(url: str, total: int, concurrency: int) -> float:
    """Requests per second of ``concurrency`` coroutines sharing one HttpClient."""
    request = Request("POST", url, (("Content-Type", "application/json"),), BODY)

    async def main() -> float:
        async with HttpClient(max_connections_per_host=concurrency) as client:
            # Open the connections first, as the threads do before their clock starts.
            await asyncio.gather(*(client.send(request, 10.0) for _ in range(concurrency)))
            left = total

            async def worker() -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    response = await client.send(request, 10.0)
                    if response.status != 200:
                        raise RuntimeError(f"status {response.status}")

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return total / (time.perf_counter() - started)

    return asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sink-process", action="store_true")
    args = parser.parse_args()

    with running_sink(in_thread=not args.sink_process) as sink:
        print(f"body {len(BODY)} bytes, {args.requests} requests, concurrency {args.concurrency}, "
              f"sink {'in a child process' if args.sink_process else 'in-process thread'}")
        best_threads = best_client = 0.0
        for round_ in range(1, args.rounds + 1):
            threads_rate = bench_threads(sink.port, args.requests, args.concurrency)
            client_rate = bench_client(sink.url, args.requests, args.concurrency)
            best_threads = max(best_threads, threads_rate)
            best_client = max(best_client, client_rate)
            print(f"round {round_}: http.client threads {threads_rate:8.0f} req/s   "
                  f"HttpClient {client_rate:8.0f} req/s   ratio {client_rate / threads_rate:.2f}")
        print(f"best:    http.client threads {best_threads:8.0f} req/s   "
              f"HttpClient {best_client:8.0f} req/s   ratio {best_client / best_threads:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
