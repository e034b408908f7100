"""The delivery engine against a bare http.client keep-alive loop, to the same sink, same run.

    .venv/bin/python benchmarks/dispatch_vs_raw.py [--runs 5000] [--concurrency 32]
        [--rounds 5] [--sink-thread] [--https]

engine: ``--runs`` runs of a one-receipt NXCloud scenario (``nxcloud.zalo.success_never_delivered``)
        played at time scale 0 by an ``Engine(max_connections=--concurrency)``, timed from the
        first ``play()`` until every run has finished (so generating the receipts, scheduling,
        sending, reading the answer and journaling are all inside);
raw:    ``--concurrency`` threads, each with one persistent ``http.client.HTTPConnection``,
        POSTing the very bodies the engine sent in the previous round (same headers) until the
        same number of requests has been answered.

Both send to one ``Sink`` (tests/targets.py), which by default runs in a child process so it
does not share the GIL with the side being measured (``--sink-thread`` runs it in a thread of
this process instead). Rounds alternate which side goes first; each round's ratio is engine
receipts/s over raw requests/s, and the result is the median over rounds.

``--https``: both sides over TLS (keep-alive, so mostly record encryption, few handshakes) to
a sink whose certificate a throwaway CA signed (the engine trusts it through
``tls_context(cacert)``, http.client through an ``ssl`` context).

Prints ``dispatch_vs_raw: <ratio>`` (``dispatch_vs_raw_https`` with ``--https``) last; the bar is
>= 0.8.
"""

from __future__ import annotations

import argparse
import itertools
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    TlsFiles,
    add_sink_thread_option,
    play_all,
    post_keep_alive,
    require_no_engine_errors,
    require_ok,
    running_sink,
)

from mock_server import Engine
from mock_server._http import tls_context

SCENARIO = "nxcloud.zalo.success_never_delivered"


def engine_round(engine: Engine, url: str, runs: int) -> tuple[float, float, list[bytes]]:
    """Receipts per second and CPU µs per receipt for ``runs`` runs, and the bodies sent."""
    cpu = time.process_time()
    started = time.perf_counter()
    played = play_all(engine, itertools.repeat(SCENARIO, runs), url, 120)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    require_ok(played, "not acknowledged; first")
    sent = sum(len(run.attempts) for run in played)
    bodies = [run.attempts[0].request.body for run in played]
    engine.reset()
    return sent / elapsed, cpu / sent * 1e6, bodies


def raw_round(
    port: int, bodies: list[bytes], headers: dict[str, str], threads: int,
    tls: ssl.SSLContext | None = None,
) -> tuple[float, float]:
    """Requests/s and CPU µs per request: ``threads`` keep-alive connections sending ``bodies``."""
    shares = [bodies[i::threads] for i in range(threads)]
    elapsed, cpu = post_keep_alive(port, shares, headers, timeout=30, senders="raw sender(s)",
                                   tls=tls)
    return len(bodies) / elapsed, cpu / len(bodies) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000, help="runs (= receipts) per round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--https", action="store_true", help="both sides over TLS")
    add_sink_thread_option(parser)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        files = TlsFiles(Path(folder)) if args.https else None
        return measure(args, files)


def measure(args: argparse.Namespace, files: TlsFiles | None) -> int:
    client_tls = files.client_context() if files else None
    with running_sink(args.sink_thread, files) as sink:
        print(f"{args.runs} one-receipt runs per round, concurrency {args.concurrency}, sink "
              f"{'in a thread' if args.sink_thread else 'in a child process'}"
              f"{', HTTPS' if files else ''}")
        with Engine(time_scale=0, seed=1, max_connections=args.concurrency,
                    journal_limit=10 * args.runs,
                    tls=tls_context(files.ca) if files else None) as engine:
            # Warm-up: connections, imports, caches; and the bodies and headers raw will send.
            _, _, bodies = engine_round(engine, sink.url, min(args.runs, 1000))
            probe = engine.play(SCENARIO, sink.url).wait(10)
            headers = {k: v for k, v in probe.attempts[0].request.headers
                       if k.lower() != "content-length"}
            engine.reset()
            raw_round(sink.port, bodies, headers, args.concurrency, client_tls)
            ratios, cpu_ratios = [], []
            for round_ in range(1, args.rounds + 1):
                if round_ % 2:
                    engine_rate, engine_cpu, bodies = engine_round(engine, sink.url, args.runs)
                    raw_rate, raw_cpu = raw_round(sink.port, bodies, headers, args.concurrency,
                                                  client_tls)
                else:
                    raw_rate, raw_cpu = raw_round(
                        sink.port, bodies * (args.runs // len(bodies) or 1), headers,
                        args.concurrency, client_tls,
                    )
                    engine_rate, engine_cpu, bodies = engine_round(engine, sink.url, args.runs)
                ratios.append(engine_rate / raw_rate)
                cpu_ratios.append(engine_cpu / raw_cpu)
                print(f"round {round_}: engine {engine_rate:6.0f} receipts/s "
                      f"({engine_cpu:4.0f} µs CPU each)   http.client {raw_rate:6.0f} req/s "
                      f"({raw_cpu:4.0f} µs CPU each)   ratio {ratios[-1]:.2f}")
            errors = list(engine.errors)
    require_no_engine_errors(errors)
    print(f"median of {len(ratios)} rounds: ratio {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}); CPU per receipt, engine / "
          f"http.client: {statistics.median(cpu_ratios):.2f}")
    name = "dispatch_vs_raw_https" if files else "dispatch_vs_raw"
    print(f"{name}: {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
