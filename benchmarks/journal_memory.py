"""Memory the journal holds per 100 000 attempts, measured with tracemalloc.

    .venv/bin/python benchmarks/journal_memory.py [--attempts 100000] [--scenario NAME]
        [--sink-thread]

Plays ``--attempts`` runs of a one-receipt scenario (default
``nxcloud.zalo.success_never_delivered``, one attempt each) at time scale 0 to a ``Sink``
(tests/targets.py, in a child process by default), with ``journal_limit`` above the count so
nothing is evicted, and tracemalloc tracing from before the first run. Once every run has
finished and the script has dropped its own references, the traced memory is what the journal
keeps alive (each run: its scenario reference, generated message, planned deliveries with their
payloads and exact requests, and the attempts with their response excerpts), plus noise;
``engine.reset()`` then empties the journal and the memory that goes away with it is the
measure. With ``--attempts`` below 100 000 the result is extrapolated linearly (the script says
so); the default measures 100 000 attempts directly and takes a minute or two under tracemalloc.

Prints the held memory, bytes per attempt, and last
``journal_memory_per_100k_attempts_mb: <MB>`` (MB = 10**6 bytes).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import sys
import time
import tracemalloc

from _common import add_sink_thread_option, play_all, require_no_engine_errors, running_sink

from mock_server import Engine

BATCH = 5000
"""Runs in flight at once (the script waits for each batch before starting the next)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--scenario", default="nxcloud.zalo.success_never_delivered")
    add_sink_thread_option(parser)
    args = parser.parse_args(argv)

    with (
        running_sink(args.sink_thread) as sink,
        # Room for the last batch overshooting (a run may make several attempts).
        Engine(time_scale=0, seed=1, journal_limit=2 * args.attempts + 10 * BATCH) as engine,
    ):
        engine.play(args.scenario, sink.url).wait(10)  # warm up: imports, caches, pool
        engine.reset()
        gc.collect()
        tracemalloc.start()
        started = time.perf_counter()
        left = args.attempts
        while left > 0:
            batch = itertools.repeat(args.scenario, min(BATCH, left))
            runs = play_all(engine, batch, sink.url, 120)
            left -= sum(len(run.attempts) for run in runs)
        del runs, batch
        elapsed = time.perf_counter() - started
        stats = engine.journal.stats()
        gc.collect()
        held_with_journal, peak = tracemalloc.get_traced_memory()
        engine.reset()
        gc.collect()
        held_without, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        errors = list(engine.errors)
    require_no_engine_errors(errors)
    attempts = stats["attempts"]
    if stats["evicted_attempts"]:
        raise RuntimeError(f"the journal evicted attempts: {stats}")
    held = held_with_journal - held_without
    per_attempt = held / attempts
    per_100k_mb = per_attempt * 100_000 / 1e6
    print(f"{stats['runs']} runs of {args.scenario}, {attempts} attempts journaled in "
          f"{elapsed:.1f} s (under tracemalloc)")
    print(f"traced: {held_with_journal / 1e6:.1f} MB with the journal full, "
          f"{held_without / 1e6:.1f} MB after engine.reset(); peak {peak / 1e6:.1f} MB")
    print(f"held by the journal: {held / 1e6:.1f} MB = {per_attempt:.0f} bytes per attempt")
    if attempts < 100_000:
        print(f"extrapolated linearly from {attempts} attempts to 100 000")
    else:
        print("measured directly (no extrapolation)")
    print(f"journal_memory_per_100k_attempts_mb: {per_100k_mb:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
