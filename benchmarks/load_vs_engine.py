"""Receipts/s through `dlrmock load` (Locust, 1 and 2 local workers) vs the engine alone.

    .venv/bin/python benchmarks/load_vs_engine.py [--users 32] [--run-time 5] [--runs 5000]
        [--rounds 2] [--scenario nxcloud.zalo.success_never_delivered] [--sink-thread]

engine:    ``--runs`` runs of a one-receipt scenario played at time scale 0 by an
           ``Engine(max_connections=--users)``, timed from the first ``play()`` until every run
           has finished (as in dispatch_vs_raw.py);
load (K):  ``dlrmock load --workers K --users --users --run-time --run-time`` with the same
           scenario, in a subprocess; its rate is Locust's own "Requests/s" of the aggregated
           row of its CSV statistics (requests over the time from the start of the test to its
           last request), checked against dlrmock's verdict (every receipt acknowledged, one
           request per receipt).

All send to one ``Sink`` (tests/targets.py), by default in a child process of its own. Each
round runs the three sides in a rotating order; each ratio is the median over rounds.

Each line also shows the CPU time per receipt: this process's for the engine, the worker
processes' for a load (dlrmock's verdict counts it from the test's start; the master's is left
out). Prints ``load_1_worker_vs_engine`` and last ``load_2_workers_vs_engine``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import add_sink_thread_option, play_all, require_ok, running_sink

from mock_server import Engine


def engine_round(engine: Engine, url: str, runs: int, scenario: str) -> tuple[float, float]:
    """Receipts per second of the engine alone for ``runs`` runs, and CPU µs per receipt."""
    cpu = time.process_time()
    started = time.perf_counter()
    played = play_all(engine, itertools.repeat(scenario, runs), url, 120)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    require_ok(played, "not acknowledged; first")
    sent = sum(len(run.attempts) for run in played)
    engine.reset()
    return sent / elapsed, cpu / sent * 1e6


def load_round(
    url: str, workers: int, users: int, run_time: int, scenario: str
) -> tuple[float, float]:
    """Receipts per second through ``dlrmock load --workers workers``, and the workers' CPU µs
    per receipt (from dlrmock's verdict)."""
    with tempfile.TemporaryDirectory(prefix="dlrmock-bench-") as folder:
        prefix = str(Path(folder) / "run")
        command = [
            sys.executable, "-m", "mock_server.cli", "load", "--to", url, "--scenario", scenario,
            "--users", str(users), "--workers", str(workers), "--run-time", f"{run_time}s",
            "--csv", prefix, "--json", "--seed", "1",
        ]  # fmt: skip
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=run_time + 120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"dlrmock load failed ({result.returncode}):\n{result.stderr}")
        out = result.stdout
        verdict = json.loads(out[out.index("{") : out.rindex("}") + 1])
        with open(prefix + "_stats.csv", newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    requests, rate = int(row["Request Count"]), float(row["Requests/s"])
    if not verdict["ok"] or verdict["requests"] != requests or verdict["receipts"] != requests:
        raise RuntimeError(f"unexpected verdict for {requests} request(s): {verdict}")
    return rate, verdict["cpu_seconds"] / requests * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=32, help="Locust users = engine connections")
    parser.add_argument("--run-time", type=int, default=5, help="seconds of each load run")
    parser.add_argument("--runs", type=int, default=5000, help="engine runs per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scenario", default="nxcloud.zalo.success_never_delivered")
    add_sink_thread_option(parser)
    args = parser.parse_args(argv)

    sides = ["engine", "1 worker", "2 workers"]
    rates: dict[str, list[float]] = {side: [] for side in sides}
    cpus: dict[str, list[float]] = {side: [] for side in sides}
    with running_sink(args.sink_thread) as sink:
        print(f"{args.scenario}: engine {args.runs} runs, concurrency {args.users}; dlrmock load "
              f"{args.users} users for {args.run_time} s; sink "
              f"{'in a thread' if args.sink_thread else 'in a child process'}")
        with Engine(time_scale=0, seed=1, max_connections=args.users,
                    journal_limit=10 * args.runs) as engine:
            engine_round(engine, sink.url, min(args.runs, 1000), args.scenario)  # warm-up
            for round_ in range(args.rounds):
                order = sides[round_ % 3 :] + sides[: round_ % 3]
                for side in order:
                    if side == "engine":
                        rate, cpu = engine_round(engine, sink.url, args.runs, args.scenario)
                    else:
                        workers = int(side.split()[0])
                        rate, cpu = load_round(sink.url, workers, args.users, args.run_time,
                                               args.scenario)
                    rates[side].append(rate)
                    cpus[side].append(cpu)
                print(f"round {round_ + 1}: " + "   ".join(
                    f"{side} {rates[side][-1]:5.0f} receipts/s ({cpus[side][-1]:3.0f} µs CPU each)"
                    for side in sides))
    engine_rate = statistics.median(rates["engine"])
    one = statistics.median(r / e for r, e in zip(rates["1 worker"], rates["engine"], strict=True))
    two = statistics.median(r / e for r, e in zip(rates["2 workers"], rates["engine"], strict=True))
    print(f"medians: engine {engine_rate:.0f}, dlrmock load 1 worker "
          f"{statistics.median(rates['1 worker']):.0f}, 2 workers "
          f"{statistics.median(rates['2 workers']):.0f} receipts/s")
    cpu_one = statistics.median(c / e for c, e in zip(cpus["1 worker"], cpus["engine"],
                                                      strict=True))
    cpu_two = statistics.median(c / e for c, e in zip(cpus["2 workers"], cpus["engine"],
                                                      strict=True))
    print(f"CPU per receipt, load / engine: 1 worker {cpu_one:.2f}, 2 workers {cpu_two:.2f}")
    print(f"load_1_worker_vs_engine: {one:.3f}")
    print(f"load_2_workers_vs_engine: {two:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
