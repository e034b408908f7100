"""How late scheduled deliveries fire with 1 000 runs pending at time scale 1.

    .venv/bin/python benchmarks/lateness.py [--runs 1000] [--min-after 1] [--max-after 3]
        [--rounds 3] [--sink-thread]

Each round plays ``--runs`` two-step NXCloud runs at once (``success`` at 0, then ``delivered``
``after`` seconds later, ``after`` spread uniformly over ``--min-after``..``--max-after``) at
time scale 1 to a ``Sink`` (tests/targets.py; in a child process by default, so it does not share
the GIL with the engine). All runs are pending together; the second receipts fall due at about
``runs / (max-after - min-after)`` per second while the first ones are still being answered.

Two measures of lateness, in milliseconds:

- timer:   ``engine.lateness``, the engine's own samples: how long after its due time a run's
           timer woke up (real time, recorded for every sleep that actually waited);
- journal: for every scheduled attempt, its ``offset`` (scenario seconds when the request was
           about to be sent) minus the time it was due: the timer's lateness plus whatever ran
           between waking up and sending.

Prints p50 / p99 / max of both, per round and pooled over rounds, and last
``lateness_p99_ms: <pooled p99 of the timer samples>``; the bar is <= 5.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys

from _common import (
    add_sink_thread_option,
    play_all,
    require_no_engine_errors,
    require_ok,
    running_sink,
)

from mock_server import Engine, Scenario
from mock_server._scenarios import parse_scenario


def scenarios(runs: int, low: float, high: float, seed: int) -> list[Scenario]:
    rng = random.Random(seed)
    return [
        parse_scenario({
            "name": "lateness",
            "steps": [
                {"kind": "nxcloud.zalo.success"},
                {"kind": "nxcloud.zalo.delivered", "after": round(rng.uniform(low, high), 6)},
            ],
        })
        for _ in range(runs)
    ]


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """(p50, p99, max) of ``samples`` in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000, max(samples) * 1000


def show(label: str, samples: list[float]) -> None:
    p50, p99, top = percentiles(samples)
    print(f"  {label:<8} {len(samples):6d} samples   p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   "
          f"max {top:7.3f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--min-after", type=float, default=1.0)
    parser.add_argument("--max-after", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    add_sink_thread_option(parser)
    args = parser.parse_args(argv)

    with running_sink(args.sink_thread) as sink:
        print(f"{args.runs} two-step runs pending at time scale 1, second receipt "
              f"{args.min_after:g}-{args.max_after:g} s after the first; sink "
              f"{'in a thread' if args.sink_thread else 'in a child process'}")
        timer_all: list[float] = []
        journal_all: list[float] = []
        round_p99s: list[float] = []
        with Engine(time_scale=1, seed=1) as engine:
            engine.play("nxcloud.zalo.failed", sink.url, time_scale=0).wait(10)  # warm up
            for round_ in range(1, args.rounds + 1):
                specs = scenarios(args.runs, args.min_after, args.max_after, seed=round_)
                engine.lateness.clear()
                runs = play_all(engine, specs, sink.url, args.max_after + 60)
                require_ok(runs, "failed")
                timer = list(engine.lateness)
                journal = [
                    run.attempts[1].offset - run.scenario.steps[1].after for run in runs
                ]
                print(f"round {round_}:")
                show("timer", timer)
                show("journal", journal)
                round_p99s.append(percentiles(timer)[1])
                timer_all += timer
                journal_all += journal
                engine.reset()
            errors = list(engine.errors)
    require_no_engine_errors(errors)
    print(f"pooled over {args.rounds} round(s) (median of the rounds' timer p99: "
          f"{statistics.median(round_p99s):.3f} ms):")
    show("timer", timer_all)
    show("journal", journal_all)
    print(f"lateness_p99_ms: {percentiles(timer_all)[1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
