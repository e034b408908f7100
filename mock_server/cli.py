"""The ``dlrmock`` command line: validate, example, scenarios, play, serve.

Exit codes: 0 ok, 1 the check failed, 2 usage or input error (one line saying why).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from ._errors import DlrmockError
from .providers import KINDS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class InputError(click.ClickException):
    """Unusable input: printed as one line, exit code 2."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"dlrmock: error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise InputError(message)


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


def _kind_option_check(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        from ._errors import UnknownKindError

        fail(str(UnknownKindError(kind, KINDS)))


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
    try:
        payload = load_payload(text)
        detected = kind or detect_kind(payload)
        problems = run_validate(payload, kind=detected, strict=strict)
    except DlrmockError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps({
            "kind": detected,
            "valid": not problems,
            "strict": strict,
            "problems": [p.as_dict() for p in problems],
        }, indent=2))
    elif problems:
        click.echo(f"invalid {detected}: {problems[0]}")
        for problem in problems[1:]:
            click.echo(f"  also {problem}")
    else:
        click.echo(f"valid {detected}" + (" (strict)" if strict else ""))
    sys.exit(EXIT_FAILED if problems else EXIT_OK)


@cli.command()
@click.argument("kind")
@click.option("--seed", type=int, default=None, help="Seed for reproducible values.")
@click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE",
              help="Override a field (dotted paths for nested fields); repeatable.")
@click.option("--wire", is_flag=True, help="Print exactly what goes on the wire.")
def example(kind: str, seed: int | None, assignments: Sequence[str], wire: bool) -> None:
    """Print a valid receipt of KIND (see `dlrmock scenarios` for the kinds in use)."""
    from ._factory import coerce_value, parse_assignment, receipt
    from ._factory import wire as to_wire

    _kind_option_check(kind)
    try:
        overrides: dict[str, Any] = {}
        for text in assignments:
            name, raw = parse_assignment(text)
            overrides[name] = coerce_value(kind, name, raw)
        payload = receipt(kind, seed=seed, overrides=overrides)
        request = to_wire(kind, payload) if wire else None
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
        cli.main(args=list(argv) if argv is not None else None, prog_name="dlrmock",
                 standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
