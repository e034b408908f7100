"""``dlrmock load``: Locust runs dlrmock's ``ReceiptUser`` against a webhook, in subprocesses.

This module never imports Locust (which monkey-patches the standard library with gevent); it
builds the Locust command lines, runs them, and reads back the verdict the Locust master wrote.
The counters and the verdict live here so both sides share them.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ._errors import ScenarioError
from ._http import _split_url
from ._scenarios import Scenario, builtin_scenarios, resolve

__all__ = [
    "INSTALL_HINT",
    "LoadOptions",
    "LoadTally",
    "ScenarioMix",
    "ScenarioSpec",
    "Verdict",
    "locust_command",
    "locust_installed",
    "mix_argument",
    "options_from",
    "parse_mix",
    "parse_run_time",
    "run_load",
    "split_weight",
]

ScenarioSpec = str | Path | Mapping[str, Any] | Scenario
"""A built-in scenario name, a ``.yaml``/``.json`` file, an inline mapping, or a Scenario."""

INSTALL_HINT = 'dlrmock load needs Locust: pip install "dlrmock[load]"'
LOCUSTFILE = Path(__file__).with_name("_locustfile.py")

# ------------------------------------------------------------------------------ scenario mixes
@dataclass(frozen=True)
class ScenarioMix:
    """Scenarios with weights: each run picks one with probability weight / total."""

    scenarios: tuple[Scenario, ...]
    weights: tuple[float, ...]

    def pick(self, rng: random.Random) -> Scenario:
        if len(self.scenarios) == 1:
            return self.scenarios[0]
        return rng.choices(self.scenarios, self.weights)[0]


def split_weight(text: str) -> tuple[str, float]:
    """``NAME=WEIGHT`` → (NAME, WEIGHT); text without a numeric ``=WEIGHT`` suffix weighs 1."""
    name, sep, weight = text.rpartition("=")
    if sep and name:
        try:
            value = float(weight)
        except ValueError:
            return text, 1.0
        if not math.isfinite(value) or value <= 0:
            raise ScenarioError(
                f"bad weight {weight!r} for scenario {name!r}: give a number > 0, e.g. {name}=3"
            )
        return name, value
    return text, 1.0


def parse_mix(scenarios: ScenarioSpec | Sequence[Any] | Mapping[str, float]) -> ScenarioMix:
    """A :class:`ScenarioMix` from what ``ReceiptUser.scenarios`` may hold.

    One scenario; a sequence of scenarios (equal weights) or of ``(scenario, weight)`` pairs; a
    mapping of scenario names or paths to weights; or a JSON text (what ``dlrmock load`` passes
    to Locust): a list of ``{"scenario": name-or-mapping, "weight": w}``.
    """
    pairs: list[tuple[ScenarioSpec, float]] = []
    if isinstance(scenarios, str) and scenarios.lstrip().startswith("["):
        for entry in json.loads(scenarios):
            pairs.append((entry["scenario"], float(entry.get("weight", 1))))
    elif isinstance(scenarios, Scenario | str | Path) or (
        isinstance(scenarios, Mapping) and "steps" in scenarios
    ):
        pairs.append((scenarios, 1.0))
    elif isinstance(scenarios, Mapping):
        pairs.extend((name, float(weight)) for name, weight in scenarios.items())
    else:
        for item in scenarios:
            if isinstance(item, tuple):
                pairs.append((item[0], float(item[1])))
            else:
                pairs.append((item, 1.0))
    if not pairs:
        raise ScenarioError(
            "no scenario to play: set ReceiptUser.scenarios or pass --scenario "
            "(dlrmock scenarios lists the built-in ones)"
        )
    for spec, weight in pairs:
        if not math.isfinite(weight) or weight <= 0:
            raise ScenarioError(f"bad weight {weight!r} for scenario {spec!r}: give a number > 0")
    return ScenarioMix(tuple(resolve(spec) for spec, _ in pairs), tuple(w for _, w in pairs))


# ---------------------------------------------------------------------------- counters, verdict
@dataclass
class LoadTally:
    """What dlrmock counts beside Locust's statistics, per process; workers send theirs to the
    master with each stats report."""

    runs: int = 0
    receipts: int = 0
    """Deliveries played to their end (a duplicate copy is a receipt of its own)."""
    handled: int = 0
    """Receipts acknowledged as the provider requires (a malformed one: answered cleanly)."""
    attempts: int = 0
    retries: int = 0
    cpu_seconds: float = 0.0
    """CPU time of the processes running users, from the test's start."""
    failures: Counter[str] = field(default_factory=Counter)
    """Failed attempts by reason (the same text as Locust's failure)."""
    unhandled: Counter[str] = field(default_factory=Counter)
    """Receipts never handled, by the reason of their last attempt."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "receipts": self.receipts,
            "handled": self.handled,
            "attempts": self.attempts,
            "retries": self.retries,
            "cpu_seconds": self.cpu_seconds,
            "failures": dict(self.failures),
            "unhandled": dict(self.unhandled),
        }

    def add(self, data: Mapping[str, Any]) -> None:
        """Add counts from :meth:`as_dict` (another process's report)."""
        for name in ("runs", "receipts", "handled", "attempts", "retries"):
            setattr(self, name, getattr(self, name) + int(data.get(name, 0)))
        self.cpu_seconds += float(data.get("cpu_seconds", 0.0))
        self.failures.update(data.get("failures", {}))
        self.unhandled.update(data.get("unhandled", {}))

    def drain(self) -> dict[str, Any]:
        """The counts so far as a dict, and zero them (a worker reports increments)."""
        data = self.as_dict()
        self.runs = self.receipts = self.handled = self.attempts = self.retries = 0
        self.cpu_seconds = 0.0
        self.failures.clear()
        self.unhandled.clear()
        return data


@dataclass(frozen=True)
class Verdict:
    """dlrmock's verdict on a load run: did the receiver acknowledge what the provider needs?"""

    runs: int
    receipts: int
    acknowledged: int
    requests: int
    retries: int
    failures: dict[str, int]
    unacknowledged: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    cpu_seconds: float = 0.0
    """CPU time the processes running users spent (the master's not included)."""

    @property
    def ok(self) -> bool:
        """Receipts were sent and every one was acknowledged as the provider requires."""
        return self.receipts > 0 and self.acknowledged == self.receipts

    @property
    def acknowledged_percent(self) -> float:
        return 100.0 * self.acknowledged / self.receipts if self.receipts else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "runs": self.runs,
            "receipts": self.receipts,
            "acknowledged": self.acknowledged,
            "acknowledged_percent": round(self.acknowledged_percent, 3),
            "requests": self.requests,
            "retries": self.retries,
            "failures": self.failures,
            "unacknowledged": self.unacknowledged,
            "latency_ms": {"p50": self.p50_ms, "p95": self.p95_ms, "p99": self.p99_ms},
            "cpu_seconds": round(self.cpu_seconds, 3),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        latency = data.get("latency_ms") or {}
        return cls(
            runs=data["runs"],
            receipts=data["receipts"],
            acknowledged=data["acknowledged"],
            requests=data["requests"],
            retries=data["retries"],
            failures=dict(data["failures"]),
            unacknowledged=dict(data["unacknowledged"]),
            p50_ms=latency.get("p50"),
            p95_ms=latency.get("p95"),
            p99_ms=latency.get("p99"),
            cpu_seconds=float(data.get("cpu_seconds", 0.0)),
        )

    def text(self) -> str:
        """The verdict as a few readable lines."""

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:g} ms"

        lines = [
            "dlrmock verdict: " + ("OK" if self.ok else "FAILED"),
            f"  receipts sent: {self.receipts} in {self.runs} run(s), {self.requests} request(s)",
            f"  acknowledged: {self.acknowledged} ({self.acknowledged_percent:.2f}%)",
            f"  retries: {self.retries}",
            f"  latency: p50 {ms(self.p50_ms)}, p95 {ms(self.p95_ms)}, p99 {ms(self.p99_ms)}",
        ]
        if self.requests and self.cpu_seconds:
            lines.append(
                f"  CPU of the load processes: {self.cpu_seconds:.2f} s, "
                f"{self.cpu_seconds / self.requests * 1e6:.0f} µs per request"
            )
        if self.failures:
            lines.append("  failed attempts by reason:")
            for reason, count in sorted(self.failures.items(), key=lambda kv: -kv[1]):
                lines.append(f"    {count:>8}  {reason}")
        if self.unacknowledged:
            lines.append("  receipts never acknowledged, by last reason:")
            for reason, count in sorted(self.unacknowledged.items(), key=lambda kv: -kv[1]):
                lines.append(f"    {count:>8}  {reason}")
        if self.receipts == 0:
            lines.append("  no receipt was played to its end: nothing shows the receiver coped")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ running Locust
def locust_installed() -> bool:
    """Whether Locust can be imported (the ``load`` extra is installed)."""
    return importlib.util.find_spec("locust") is not None


def mix_argument(specs: Sequence[str]) -> str:
    """``--scenario`` values (``SPEC[=WEIGHT]``) as the JSON ``--dlrmock-scenario`` takes.

    Built-in scenarios go by name; files are read here and sent inline, so workers on other
    machines need no copy of them. Raises :class:`ScenarioError` naming a bad one.
    """
    builtins = builtin_scenarios()
    entries: list[dict[str, Any]] = []
    for text in specs:
        name, weight = split_weight(text)
        scenario = resolve(name)
        value: Any = name if name in builtins else scenario.as_dict()
        entries.append({"scenario": value, "weight": weight})
    parse_mix(json.dumps(entries))  # what every user will parse: fail here, not in the workers
    return json.dumps(entries, separators=(",", ":"))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at the moment (for the local master)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LoadOptions:
    """What ``dlrmock load`` was asked to do."""

    target: str | None = None
    scenarios: tuple[str, ...] = ()
    users: int = 10
    spawn_rate: float | None = None
    run_time: str = "10s"
    workers: int = 0
    master: bool = False
    expect_workers: int = 1
    worker: bool = False
    master_host: str = "127.0.0.1"
    master_port: int | None = None
    master_bind_host: str = "127.0.0.1"
    seed: int | None = None
    time_scale: float = 0.0
    stop_timeout: float = 30.0
    html: str | None = None
    csv: str | None = None
    loglevel: str = "WARNING"
    cacert: str | None = None
    """The PEM file of the CA that signed an https:// webhook's certificate (read by the master,
    which sends its certificates to every worker)."""
    insecure: bool = False


def locust_command(options: LoadOptions, verdict_file: str | None) -> list[str]:
    """The ``python -m locust`` command line for ``options``."""
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    command += ["--loglevel", options.loglevel]
    if options.worker:
        command += ["--worker", "--master-host", options.master_host]
        if options.master_port is not None:
            command += ["--master-port", str(options.master_port)]
        return command
    if options.target is None:
        raise ValueError("a target URL is required unless joining a master as a worker")
    command += [
        "--headless",
        "--only-summary",
        "--host",
        options.target,
        "--users",
        str(options.users),
        "--spawn-rate",
        f"{options.spawn_rate if options.spawn_rate is not None else options.users:g}",
        "--stop-timeout",
        f"{options.stop_timeout:g}",
        "--dlrmock-scenario",
        mix_argument(options.scenarios),
        "--dlrmock-run-time",
        options.run_time,
        "--dlrmock-time-scale",
        f"{options.time_scale:g}",
    ]
    if options.seed is not None:
        command += ["--dlrmock-seed", str(options.seed)]
    if options.cacert is not None:
        command += ["--dlrmock-cacert", options.cacert]
    if options.insecure:
        command.append("--dlrmock-insecure")
    if verdict_file is not None:
        command += ["--dlrmock-verdict", verdict_file]
    if options.html:
        command += ["--html", options.html]
    if options.csv:
        command += ["--csv", options.csv]
    if options.workers:
        port = options.master_port or free_port(options.master_bind_host)
        command += [
            "--processes",
            str(options.workers),
            "--master-bind-host",
            options.master_bind_host,
            "--master-bind-port",
            str(port),
            "--master-port",
            str(port),
        ]
    elif options.master:
        command += [
            "--master",
            "--expect-workers",
            str(options.expect_workers),
            "--master-bind-host",
            options.master_bind_host,
        ]
        if options.master_port is not None:
            command += ["--master-bind-port", str(options.master_port)]
    return command


def _wait(process: subprocess.Popen[bytes]) -> int:
    """Wait for Locust; a Ctrl-C reaches it too (same process group) and it winds down itself."""
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def run_load(options: LoadOptions, out: TextIO, err: TextIO, *, as_json: bool = False) -> int:
    """Run Locust as ``options`` say; print the verdict; the exit code (0 ok, 1 failed)."""
    if options.worker:
        return _wait(subprocess.Popen(locust_command(options, None)))
    with tempfile.TemporaryDirectory(prefix="dlrmock-load-") as folder:
        verdict_file = os.path.join(folder, "verdict.json")
        command = locust_command(options, verdict_file)
        code = _wait(subprocess.Popen(command))
        try:
            data = json.loads(Path(verdict_file).read_text("utf-8"))
        except (OSError, ValueError):
            err.write(
                f"dlrmock: error: Locust exited with code {code} before giving a verdict "
                "(its output above says why)\n"
            )
            return code or 1
    result = Verdict.from_dict(data)
    if as_json:
        out.write(json.dumps(result.as_dict(), indent=2) + "\n")
    else:
        out.write(result.text() + "\n")
    if options.html:
        out.write(f"HTML report: {options.html}\n")
    return 0 if result.ok else 1


_TIMESPAN = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_run_time(text: str) -> int:
    """Seconds in ``30``, ``30s``, ``2m``, ``1h30m`` (Locust's timespan format)."""
    value = text.strip().lower()
    if value.isdigit():
        seconds = int(value)
    else:
        match = _TIMESPAN.match(value)
        if not value or match is None:
            raise ValueError(f"bad --run-time {text!r}: give e.g. 30s, 2m, 1h30m or 45")
        hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise ValueError(f"bad --run-time {text!r}: it must be longer than 0 s")
    return seconds


def options_from(params: Mapping[str, Any]) -> LoadOptions:
    """:class:`LoadOptions` from ``dlrmock load``'s options; ``ValueError`` or
    :class:`ScenarioError` says what is wrong."""
    worker = bool(params.get("worker"))
    target = params.get("target")
    scenarios = tuple(params.get("scenarios") or ())
    workers = int(params.get("workers") or 0)
    master = bool(params.get("master"))
    if worker and (master or workers):
        raise ValueError("--worker joins a master: it cannot be combined with --master/--workers")
    if worker and (params.get("cacert") is not None or params.get("insecure")):
        raise ValueError("--cacert and --insecure go to the master, which sends them to every "
                         "worker (a worker takes them from its master): leave them out here")
    if master and workers:
        raise ValueError(
            "--master waits for workers from other machines and --workers starts local ones "
            "under a local master: use one of them"
        )
    run_time = str(params.get("run_time") or "10s")
    if not worker:
        if not target:
            raise ValueError("--to URL is required: the webhook to load, e.g. --to "
                             "http://127.0.0.1:5000/webhooks/esms")
        try:
            _split_url(str(target))  # what the receipts' requests will be built from
        except ValueError as exc:
            raise ValueError(f"--to: {exc}") from None
        if not scenarios:
            raise ValueError("give at least one --scenario NAME|FILE[=WEIGHT] "
                             "(dlrmock scenarios lists the built-in ones)")
        mix_argument(scenarios)  # a bad name, file or weight fails here with its reason
        parse_run_time(run_time)
    spawn_rate = params.get("spawn_rate")
    if spawn_rate is not None and not (math.isfinite(spawn_rate) and spawn_rate > 0):
        raise ValueError(f"--spawn-rate must be a number > 0, got {spawn_rate!r}")
    time_scale = float(params.get("time_scale") or 0.0)
    if not math.isfinite(time_scale) or time_scale < 0:
        raise ValueError(f"--time-scale must be >= 0 (0 = no waiting), got {time_scale!r}")
    stop_timeout = float(params.get("stop_timeout", 30.0))
    if not math.isfinite(stop_timeout) or stop_timeout < 0:
        raise ValueError(f"--stop-timeout must be a number of seconds >= 0, got {stop_timeout!r}")
    return LoadOptions(
        target=target,
        scenarios=scenarios,
        users=int(params.get("users") or 10),
        spawn_rate=spawn_rate,
        run_time=run_time,
        workers=workers,
        master=master,
        expect_workers=int(params.get("expect_workers") or 1),
        worker=worker,
        master_host=str(params.get("master_host") or "127.0.0.1"),
        master_port=params.get("master_port"),
        master_bind_host=str(params.get("master_bind_host") or "127.0.0.1"),
        seed=params.get("seed"),
        time_scale=time_scale,
        stop_timeout=stop_timeout,
        html=params.get("html"),
        csv=params.get("csv_prefix"),
        loglevel=str(params.get("loglevel") or "WARNING"),
        cacert=params.get("cacert"),
        insecure=bool(params.get("insecure")),
    )
