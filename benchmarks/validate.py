"""validate() against a pre-built jsonschema validator, on the same payloads in the same run.

    .venv/bin/python benchmarks/validate.py [--payloads 40] [--rounds 7] [--chunk 12] [--seed 0]

For every receipt kind it generates ``--payloads`` valid payloads (eSMS: both outcomes) and
times three ways of checking each of them:

- ours:     ``mock_server.validate(payload, kind=K)`` (for the eSMS Zalo kinds this also decodes
            ``error_info`` and checks it against its own schema, which the baseline does not);
- baseline: ``list(v.iter_errors(payload))`` with ``v = Draft202012Validator(schema, registry=…)``
            built once, before any timing, over the same ``referencing`` registry;
- detected: ``mock_server.validate(payload)``, the kind told from ``status`` / ``TypeId``.

A shared machine is noisy, so the sides are interleaved finely: each round walks the payloads
in chunks of ``--chunk`` and times every side on each chunk before moving on (rotating which side
goes first). A round's ratio is ours / baseline summed over its chunks; the result is the median
over the rounds. The last line is ``validate_vs_jsonschema: <ratio>``; the bar is <= 1.1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jsonschema import Draft202012Validator

from mock_server import KINDS, ReceiptFactory, validate
from mock_server._registry import _load

Case = tuple[str, dict[str, Any]]


def payloads(per_kind: int, seed: int) -> list[Case]:
    """``per_kind`` valid payloads of every kind, eSMS alternating delivered / failed."""
    cases: list[Case] = []
    for index, kind in enumerate(sorted(KINDS)):
        factory = ReceiptFactory(seed * 1000 + index)
        provider = KINDS[kind].provider
        for n in range(per_kind):
            fields = {"outcome": "failed" if n % 2 else "delivered"} if provider == "esms" else None
            cases.append((kind, factory.receipt(kind, factory.message(provider, fields))))
    return cases


def baseline_validators() -> dict[str, Draft202012Validator]:
    """One plain jsonschema validator per kind, built before any timing."""
    registry, contents = _load()
    return {kind: Draft202012Validator(contents[kind], registry=registry) for kind in KINDS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=40, help="payloads per kind")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (the median is kept)")
    parser.add_argument("--chunk", type=int, default=12, help="payloads per interleaved slice")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    cases = payloads(args.payloads, args.seed)
    validators = baseline_validators()

    # Sanity (and warm-up): every payload is valid on all sides, and validate() has built and
    # cached its validators before timing starts.
    for kind, payload in cases:
        assert validate(payload, kind=kind) == [], (kind, validate(payload, kind=kind))
        assert validate(payload) == []
        assert not list(validators[kind].iter_errors(payload)), kind

    def ours(case: Case) -> object:
        return validate(case[1], kind=case[0])

    def baseline(case: Case) -> object:
        return list(validators[case[0]].iter_errors(case[1]))

    def detected(case: Case) -> object:
        return validate(case[1])

    sides: dict[str, Callable[[Case], object]] = {
        "validate(kind=K)": ours,
        "jsonschema iter_errors": baseline,
        "validate() detected": detected,
    }
    names = list(sides)
    # Chunks never mix kinds, so the time of the kinds whose error_info validate() decodes and
    # checks on top (which the baseline skips) can be told apart.
    chunks: list[tuple[bool, list[Case]]] = []
    for kind in sorted(KINDS):
        of_kind = [case for case in cases if case[0] == kind]
        decodes = KINDS[kind].error_info_schema is not None
        chunks += [
            (decodes, of_kind[i : i + args.chunk]) for i in range(0, len(of_kind), args.chunk)
        ]
    rounds: list[dict[tuple[str, bool], float]] = []
    turn = 0
    for _ in range(args.rounds):
        totals = {(name, decodes): 0.0 for name in names for decodes in (False, True)}
        for decodes, chunk in chunks:
            turn += 1
            for name in names[turn % 3 :] + names[: turn % 3]:
                run = sides[name]
                start = time.perf_counter()
                for case in chunk:
                    run(case)
                totals[name, decodes] += time.perf_counter() - start
        rounds.append(totals)

    def total(r: dict[tuple[str, bool], float], name: str, groups: tuple[bool, ...]) -> float:
        return sum(r[name, g] for g in groups)

    def median_ratio(name: str, groups: tuple[bool, ...] = (False, True)) -> float:
        base = "jsonschema iter_errors"
        return statistics.median(total(r, name, groups) / total(r, base, groups) for r in rounds)

    print(
        f"{len(cases)} payloads over {len(KINDS)} kinds, {args.rounds} rounds, "
        f"interleaved every {args.chunk} payloads; median per payload:"
    )
    for name in names:
        micros = statistics.median(total(r, name, (False, True)) for r in rounds) / len(cases)
        print(f"  {name:<24} {micros * 1e6:8.1f} us")
    print(f"kinds without error_info: {median_ratio('validate(kind=K)', (False,)):.3f}")
    print(
        f"eSMS Zalo kinds (error_info decoded and checked too): "
        f"{median_ratio('validate(kind=K)', (True,)):.3f}"
    )
    print(f"detected_vs_jsonschema: {median_ratio('validate() detected'):.3f}")
    print(f"validate_vs_jsonschema: {median_ratio('validate(kind=K)'):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
