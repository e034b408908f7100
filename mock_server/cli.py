"""The ``dlrmock`` command line: validate, example, scenarios, play, serve, load, openapi, fuzz.

Exit codes: 0 ok, 1 the check failed, 2 usage or input error (one line saying why).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ._cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, tls_flags, tls_options
from ._errors import DlrmockError
from .providers import get_kind


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dlrmock")
def cli() -> None:
    """A fake NXCloud / eSMS.vn provider for contract-testing delivery-receipt webhooks."""


def _read_source(source: str) -> str:
    """SOURCE as text: ``-`` is stdin; an existing file is read; anything else is the payload."""
    if source == "-":
        return sys.stdin.read()
    stripped = source.strip()
    looks_inline = stripped.startswith(("{", "[", "?", "http://", "https://")) or "=" in stripped
    path = Path(source)
    if not looks_inline:
        if path.is_file():
            try:
                return path.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"cannot read {source!r}: {exc}")
        fail(
            f"{source!r} is not a file, '-', a JSON object, a query string or a callback URL; "
            "pass the payload itself or the path of a file holding it"
        )
    return source


FIRST_ESMS_PARAMETERS = ("SMSID", "ReferenceId", "sender")
"""What eSMS puts first: message callbacks, the voice callback, the short-code MO push."""
"""eSMS appends its parameters to the callback URL, SMSID first (in every documented example)."""


def _without_receivers_own(text: str, payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A whole callback URL's parameters without the receiver's own (those before eSMS's first
    one, e.g. ``?token=abc&SMSID=…`` or ``?token=abc&ReferenceId=…``), and the names dropped."""
    from urllib.parse import parse_qsl, urlsplit

    stripped = text.strip()
    if "://" not in stripped and not stripped.startswith("/"):
        return payload, []
    names = [name for name, _ in parse_qsl(urlsplit(stripped).query, keep_blank_values=True)]
    found = [names.index(name) for name in FIRST_ESMS_PARAMETERS if name in names]
    if not found:
        return payload, []
    first = min(found)
    own = [name for name in names[:first] if name not in names[first:]]
    return {k: v for k, v in payload.items() if k not in own}, own


def _kind_option_check(kind: str | None) -> None:
    if kind is not None:
        try:
            get_kind(kind)
        except DlrmockError as exc:
            fail(str(exc))


@cli.command()
@click.option("--kind", "kind", metavar="KIND", help="Receipt kind; detected when omitted.")
@click.option("--strict", is_flag=True, help="Report undocumented fields and values too.")
@click.option("--json", "as_json", is_flag=True, help="Print every problem as JSON.")
@click.argument("source")
def validate(kind: str | None, strict: bool, as_json: bool, source: str) -> None:
    """Check a captured receipt against its schema.

    SOURCE is a file, '-' for stdin, a JSON text, an eSMS query string or a whole callback URL.
    """
    from ._registry import detect_kind, load_payload
    from ._registry import validate as run_validate

    _kind_option_check(kind)
    text = _read_source(source)
    ignored: list[str] = []
    try:
        payload = load_payload(text)
        if strict:
            payload, ignored = _without_receivers_own(text, payload)
        detected = kind or detect_kind(payload)
        problems = run_validate(payload, kind=detected, strict=strict)
    except DlrmockError as exc:
        fail(str(exc))
    trailer = _error_info_trailer(detected, payload)
    if as_json:
        report: dict[str, Any] = {"kind": detected, "valid": not problems, "strict": strict}
        if ignored:
            report["ignored_parameters"] = ignored
        report["problems"] = [p.as_dict() for p in problems]
        if trailer is not None:
            report["error_info_trailer"] = trailer
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    elif problems:
        click.echo(f"invalid {detected}: {problems[0]}")
        for problem in problems[1:]:
            click.echo(f"  also {problem}")
    else:
        click.echo(f"valid {detected}" + (" (strict)" if strict else ""))
    if trailer is not None and not as_json:
        click.echo(f"  note: error_info has text after its JSON, kept as the trailer: {trailer!r}")
    sys.exit(EXIT_FAILED if problems else EXIT_OK)


def _error_info_trailer(kind: str, payload: dict[str, Any]) -> str | None:
    """Text that trails the JSON in ``error_info`` (not a ``____`` timestamp), if any."""
    from ._errors import ErrorInfoError
    from ._wire import decode_error_info

    value = payload.get("error_info")
    if get_kind(kind).error_info_schema is None or not isinstance(value, str):
        return None
    try:
        decoded = decode_error_info(value)
    except ErrorInfoError:
        return None  # already reported as a problem
    if decoded.timestamp is not None or not (decoded.trailer or "").strip():
        return None
    return decoded.trailer


@cli.command()
@click.argument("kind")
@click.option("--seed", type=int, default=None, help="Seed for reproducible values.")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override a field (dotted paths for nested fields); repeatable.",
)
@click.option("--wire", is_flag=True, help="Print exactly what goes on the wire.")
@click.option(
    "--error-info-encoding",
    type=click.IntRange(1, 4),
    default=None,
    help="eSMS, with --wire: one of the four error_info encodings.",
)
@click.option(
    "--allow-invalid", is_flag=True, help="Print a receipt that --set made invalid anyway."
)
def example(
    kind: str,
    seed: int | None,
    assignments: Sequence[str],
    wire: bool,
    error_info_encoding: int | None,
    allow_invalid: bool,
) -> None:
    """Print a valid receipt of KIND (e.g. nxcloud.zalo.success, esms.zns.normal).

    An unknown KIND lists every kind.
    """
    from ._errors import close_matches
    from ._factory import RawValue, override_paths, parse_assignment, path_known, receipt, typed
    from ._factory import wire as to_wire
    from ._registry import validate as run_validate

    _kind_option_check(kind)
    try:
        base = receipt(kind, seed=seed)
        overrides: dict[str, Any] = {}
        for text in assignments:
            name, raw = parse_assignment(text)
            if not path_known(kind, base, name):
                close = close_matches(name, override_paths(base))
                hint = f"did you mean {close[0]!r}? " if close else ""
                fail(
                    f"{kind} has no field {name!r}; {hint}"
                    f"`dlrmock example {kind}` shows its fields"
                )
            overrides[name] = typed(kind, name, RawValue(raw))
        payload = receipt(kind, seed=seed, overrides=overrides)
        problems = run_validate(payload, kind=kind) if overrides else []
        if problems and not allow_invalid:
            fail(
                f"--set makes the {kind} receipt invalid: {problems[0]}; fix the value, or "
                "print it anyway with --allow-invalid"
            )
        request = to_wire(kind, payload, error_info_encoding=error_info_encoding) if wire else None
    except DlrmockError as exc:
        fail(str(exc))
    if request is None:
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    elif request.method == "GET":
        click.echo(request.url.partition("?")[2])
    else:
        click.echo(request.body.decode())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dlrmock`` console script."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None, prog_name="dlrmock", standalone_mode=True
        )
    except SystemExit as exc:
        code = exc.code
    return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)


# ------------------------------------------------------------------------------ scenarios, play
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the scenarios in their file format.")
def scenarios(as_json: bool) -> None:
    """List the built-in scenarios with one-line descriptions."""
    from ._scenarios import builtin_scenarios

    found = builtin_scenarios()
    if as_json:
        click.echo(
            json.dumps(
                {"scenarios": [s.as_dict() for s in found.values()]}, indent=2, ensure_ascii=False
            )
        )
        return
    width = max(len(name) for name in found)
    for name, scenario in found.items():
        click.echo(f"{name:<{width}}  {scenario.description}")


def _parse_time_scale(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        fail(
            f"--time-scale must be >= 0, got {value!r} "
            "(a finite number: 0 = no waiting, 1 = real time)"
        )
    return value


@cli.command()
@click.argument("scenario", metavar="SCENARIO|FILE")
@click.option("--to", "target", required=True, metavar="URL", help="The webhook to play at.")
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Scenario seconds → real seconds; 0 plays at once, order kept.",
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    metavar="S",
    help="Seconds the provider waits for each answer (default: the provider's).",
)
@click.option("--seed", type=int, default=None, help="Seed for reproducible payloads.")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="K=V",
    help="Override a field in every receipt that has it; repeatable.",
)
@click.option(
    "--allow-invalid",
    is_flag=True,
    help="Send receipts that --set made invalid (marked malformed) instead of refusing.",
)
@click.option(
    "--error-info-encoding",
    type=click.IntRange(1, 4),
    default=None,
    help="eSMS: force one of the four error_info encodings.",
)
@tls_flags
@click.option("--json", "as_json", is_flag=True,
              help='Print {"run": {...}, "attempts": [...]} as JSON.')
def play(
    scenario: str,
    target: str,
    time_scale: float,
    timeout: float | None,
    seed: int | None,
    assignments: Sequence[str],
    allow_invalid: bool,
    error_info_encoding: int | None,
    cacert: str | None,
    insecure: bool,
    as_json: bool,
) -> None:
    """Play a scenario once at a webhook and print the journal.

    Exits 1 when the target did not acknowledge as the provider requires.
    """
    import time as _time

    from ._engine import Attempt, Engine
    from ._factory import RawValue, parse_assignment
    from ._scenarios import resolve

    _parse_time_scale(time_scale)
    if timeout is not None and timeout <= 0:
        fail(f"--timeout must be a positive number of seconds, got {timeout!r}")
    try:
        spec = resolve(scenario)
        fields: dict[str, Any] = {}
        for text in assignments:
            name, raw = parse_assignment(text)
            fields[name] = RawValue(raw)  # typed by each step's kind when the run is planned
    except DlrmockError as exc:
        fail(str(exc))
    policy = {"timeout": timeout} if timeout is not None else None
    tls = tls_options(cacert, insecure)
    with Engine(time_scale=time_scale, tls=tls) as engine:
        try:
            run = engine.play(
                spec,
                target,
                fields=fields,
                seed=seed,
                policy=policy,
                error_info_encoding=error_info_encoding,
                allow_invalid=allow_invalid,
            )
        except DlrmockError as exc:
            fail(str(exc))
        shown = 0
        if not as_json:
            click.echo(
                f"playing {spec.name} at {target} (seed {run.seed}, time scale {time_scale:g})"
            )
            click.echo(Attempt.HEADER)
        last_note = _time.monotonic()
        while not run.finished:
            run.wait_done(0.1)
            if as_json:
                continue
            shown = _print_rows(run, shown)
            if time_scale > 0 and _time.monotonic() - last_note > 2 and not run.finished:
                click.echo(f"  ... waiting, {run.clock.now():.1f} s into the scenario", err=True)
                last_note = _time.monotonic()
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "run": run.as_dict(attempts=False),
                        "attempts": [a.as_dict() for a in run.attempts],
                    },
                    indent=2,
                    ensure_ascii=False,
                )
            )
        else:
            _print_rows(run, shown)
            problems = run.failures()
            if problems:
                click.echo("FAILED: the target did not acknowledge as the provider requires:")
                for problem in problems:
                    click.echo(f"  - {problem}")
                    for line in _evidence(run, problem):
                        click.echo(f"      {line}")
            else:
                lost = sum(1 for a in run.attempts if a.outcome == "lost_ack")
                dropped = f" ({lost} answer(s) dropped by the scenario: lost_ack)" if lost else ""
                click.echo(
                    f"ok: {len(run.attempts)} attempt(s), every receipt acknowledged{dropped}"
                )
        sys.exit(EXIT_OK if run.ok else EXIT_FAILED)


def _evidence(run: Any, problem: str) -> list[str]:
    """The request and the answer behind one failure line, as the pytest journal shows them."""
    import re

    from ._hints import request_line

    found = re.match(r"step (\d+) \([^,)]*(?:, copy (\d+))?\)", problem)
    if found is None:
        return []
    step, copy = int(found.group(1)), int(found.group(2) or 0)
    tries = [a for a in run.attempts if a.step == step and a.copy == copy]
    if not tries:
        return []
    last = tries[-1]
    lines = [f"sent: {request_line(last)}"]
    if last.status is not None:
        body = " ".join(last.response_body.split())
        lines.append(f"got:  {last.status} {body[:200] + '...' if len(body) > 200 else body}")
    elif last.error:
        lines.append(f"error: {last.error}")
    return lines


def _print_rows(run: Any, shown: int) -> int:
    for attempt in run.attempts[shown:]:
        click.echo(attempt.row() + (f" ({attempt.error})" if attempt.error else ""))
    return len(run.attempts)


# ------------------------------------------------------------------------------------- serve
@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind; anything but loopback needs --admin-token.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--time-scale",
    type=float,
    default=None,
    help="Scenario seconds → real seconds for runs that don't say otherwise [default: 1, or "
    "the config file's time_scale].",
)
@click.option("--seed", type=int, default=None, help="Seed for reproducible data.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A YAML/JSON config file (keys: docs/reference/config.md).",
)
@click.option(
    "--admin-token",
    default=None,
    envvar="DLRMOCK_ADMIN_TOKEN",
    help="Require 'Authorization: Bearer TOKEN' on /_dlrmock/ (env DLRMOCK_ADMIN_TOKEN).",
)
@click.option(
    "--default-webhook",
    default=None,
    metavar="URL",
    help="Where receipts go when a send names no callback URL.",
)
@click.option(
    "--allow-target",
    "allow_targets",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Bound beyond loopback, receipts go only to loopback and these targets (names, "
    "addresses, CIDR ranges; '*' for any); repeatable, added to the config's allow_targets.",
)
@click.option(
    "--grace",
    type=float,
    default=5.0,
    show_default=True,
    metavar="S",
    help="On SIGTERM/SIGINT, seconds to let runs finish before cancelling what is left.",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=32,
    show_default=True,
    help="Requests served at once (bodies are read before a thread is taken).",
)
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Keep the history (messages, runs, journal, what is still scheduled) in this SQLite "
    "file; after a restart it is there and pending receipts resume [default: memory].",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Keep the newest N messages in the history, pruning older ones.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="The console: one line per send and per delivery attempt, or one JSON object each.",
)
@tls_flags
@click.option("--quiet", is_flag=True, help="Print errors only (rejected sends, receipts "
              "not acknowledged).")
def serve(
    host: str,
    port: int,
    time_scale: float,
    seed: int | None,
    config_file: str | None,
    admin_token: str | None,
    default_webhook: str | None,
    allow_targets: Sequence[str],
    grace: float,
    threads: int,
    db: str | None,
    keep: int | None,
    log_format: str,
    cacert: str | None,
    insecure: bool,
    quiet: bool,
) -> None:
    """Run the fake provider: send APIs at the providers' paths, admin API at /_dlrmock/,
    the dashboard at /_dlrmock/ui/.

    Served by waitress. SIGTERM or SIGINT (Ctrl-C) stops accepting, lets runs finish for
    --grace seconds, prints what was left undone and exits 0.
    """
    import time as _time

    from ._console import ConsolePrinter
    from ._server import ProductionServer, base_url, drain
    from ._targets import is_loopback_host
    from .app import Config, create_app, get_state

    _parse_time_scale(time_scale)
    values: dict[str, Any] = {}
    if config_file is not None:
        values = _read_config(config_file)
    if time_scale is not None:
        values["time_scale"] = time_scale
    if seed is not None:
        values["seed"] = seed
    if admin_token:
        values["admin_token"] = admin_token
    if default_webhook:
        values["send"] = {**values.get("send", {}), "default_webhook": default_webhook}
    if allow_targets:
        listed = values.get("allow_targets") or []
        if not isinstance(listed, list):
            fail(f"config 'allow_targets' must be a list, got {listed!r}")
        values["allow_targets"] = [*listed, *allow_targets]
    if db is not None:
        values["db"] = db
    if keep is not None:
        values["keep"] = keep
    if cacert is not None or insecure:
        tls_options(cacert, insecure)  # named as the options, not as config keys
        values.pop("cacert" if insecure else "insecure", None)  # the command line wins
        values.update({"cacert": cacert} if cacert is not None else {"insecure": True})
    if not (math.isfinite(grace) and 0 <= grace <= 3600):
        fail(f"--grace must be a number of seconds from 0 to 3600, got {grace!r}")
    if not is_loopback_host(host) and not values.get("admin_token"):
        fail(
            f"binding {host!r} exposes the admin API beyond this machine; "
            "pass --admin-token TOKEN (or bind 127.0.0.1)"
        )
    try:
        app = create_app(Config.from_mapping(values), resume=False)
        state = get_state(app)
        state.bind(host)
        server = ProductionServer(app, host, port, threads=threads)
    except DlrmockError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (try --port 0 or another port)"
        )
    server.catch_signals()  # before the banner: whoever reads it may signal at once
    server.on_stop.append(state.stopping.set)  # the dashboard's event streams end at once
    url = base_url(host, server.port)
    allow = state.engine.allow_targets
    if log_format == "text":
        click.echo(f"dlrmock {_version()} serving the fake NXCloud and eSMS APIs at {url}")
        click.echo(f"  admin API: {url}/_dlrmock/health   dashboard: {url}/_dlrmock/ui/   "
                   "(Ctrl-C stops)")
        click.echo(f"  receipts may go to: {allow.describe() if allow else 'any target'}")
        webhooks = {name: state.send_settings.webhook_for(provider)
                    for name, provider in (("NXCloud", "nxcloud"), ("eSMS", "esms"))}
        if any(webhooks.values()):
            click.echo("  default webhooks: " + ", ".join(
                f"{name} {url or '(none: each send names its own)'}"
                for name, url in webhooks.items()))
        if state.restored is not None:
            click.echo(f"  history: {state.config.db} ({state.restored['messages']} message(s), "
                       f"{state.restored['resumed']} with receipts resumed)")
    else:
        click.echo(json.dumps({"event": "serving", "version": _version(), "url": url,
                               "dashboard": f"{url}/_dlrmock/ui/", "db": state.config.db,
                               "restored": state.restored}))
    sys.stdout.flush()
    state.events.subscribe(ConsolePrinter(sys.stdout, log_format=log_format, quiet=quiet))
    state.resume()  # receipts a --db history planned again: the console sees them leave
    try:
        how = server.run()
        started = _time.monotonic()
        try:
            click.echo(f"stopping ({how}): no new requests; up to {grace:g} s for runs to finish")
            sys.stdout.flush()
            left = drain(state.engine, grace, before_close=state.keep_schedules)
        except KeyboardInterrupt:  # a second signal: stop now
            server.ignore_signals()
            left = drain(state.engine, 0, before_close=state.keep_schedules)
        server.ignore_signals()
        click.echo(f"stopped after {_time.monotonic() - started:.1f} s: {left}")
    finally:
        server.restore_signals()
        state.close()


# -------------------------------------------------------------------------------------- load
@cli.command()
@click.option("--to", "target", metavar="URL", help="The webhook to load (Locust's host).")
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME|FILE[=WEIGHT]",
    help="A scenario to play; repeat for a mix, weighted by =WEIGHT (default 1).",
)
@click.option("--users", type=click.IntRange(1), default=10, show_default=True,
              help="Concurrent users, each playing one run after another.")
@click.option(
    "--spawn-rate", type=float, default=None, help="Users started per second [default: all]."
)
@click.option(
    "--run-time", default="10s", show_default=True, help="How long to load (30s, 2m, 1h)."
)
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Local worker processes under a local master (Locust's distributed mode).",
)
@click.option("--master", is_flag=True, help="Be a master for workers on other machines.")
@click.option(
    "--expect-workers", type=click.IntRange(1), default=1, show_default=True,
    help="With --master: start once this many workers have joined.",
)
@click.option("--worker", is_flag=True, help="Join a master (see --master-host) as a worker.")
@click.option("--master-host", default="127.0.0.1", show_default=True, metavar="HOST",
              help="With --worker: the master to join.")
@click.option("--master-port", type=click.IntRange(1, 65535), default=None, metavar="PORT",
              help="The master's port [default: Locust's 5557; a free one with --workers].")
@click.option("--master-bind-host", default="127.0.0.1", show_default=True, metavar="HOST",
              help="Where the master listens; 0.0.0.0 (or an interface) for remote workers.")
@click.option("--seed", type=int, default=None, help="Base seed of the users' receipts.")
@click.option(
    "--time-scale", type=float, default=0.0, show_default=True,
    help="Scenario delays and retry intervals, scaled; 0 sends at once (order kept).",
)
@click.option(
    "--stop-timeout", type=float, default=30.0, show_default=True, metavar="S",
    help="At the end, how long users may take to finish the run they are playing.",
)
@click.option("--html", metavar="FILE", help="Write Locust's HTML report (with charts).")
@click.option("--csv", "csv_prefix", metavar="PREFIX", help="Write Locust's CSV statistics.")
@click.option("--loglevel", default="WARNING", show_default=True, help="Locust's log level.")
@tls_flags
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def load(**params: Any) -> None:
    """Load a webhook with provider-faithful receipts through Locust.

    Runs Locust headless; prints Locust's summary and dlrmock's verdict. Exits 1 when the
    receiver failed to acknowledge what a provider requires.
    """
    from ._load import INSTALL_HINT, locust_installed, options_from, run_load

    if not locust_installed():
        fail(INSTALL_HINT)
    as_json = params.pop("as_json")
    try:
        options = options_from(params)
    except (DlrmockError, ValueError) as exc:
        fail(str(exc))
    tls_options(options.cacert, options.insecure)  # checked here, named as the options
    sys.exit(run_load(options, sys.stdout, sys.stderr, as_json=as_json))


def _read_config(path: str) -> dict[str, Any]:
    import yaml

    from ._scenarios import check_yaml_bounds

    try:
        text = Path(path).read_text("utf-8")
        check_yaml_bounds(text, path)  # depth and alias expansion, as for scenario files
        data = yaml.safe_load(text) if text.strip() else {}
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read config {path!r}: {exc}")
    except yaml.YAMLError as exc:
        fail(f"config {path!r} is not valid YAML/JSON: {exc}")
    except DlrmockError as exc:
        fail(f"config {exc}")
    if not isinstance(data, dict):
        fail(f"config {path!r} must hold a mapping of settings, got {type(data).__name__}")
    return data


def _version() -> str:
    from ._version import __version__

    return __version__


from ._cli_openapi import fuzz_command, openapi_command  # noqa: E402  (they need the group)

cli.add_command(openapi_command)
cli.add_command(fuzz_command)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
