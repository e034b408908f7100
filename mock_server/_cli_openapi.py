"""``dlrmock openapi`` and ``dlrmock fuzz`` (registered on the ``dlrmock`` group in ``cli``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._cli_common import InputError, tls_flags, tls_options
from ._errors import DlrmockError
from .providers import PROVIDERS

__all__ = ["fuzz_command", "openapi_command"]


@click.command("openapi")
@click.option(
    "--provider",
    type=click.Choice(sorted(PROVIDERS)),
    default=None,
    help="Only this provider's APIs and receipts (default: both).",
)
@click.option(
    "--output", "-o", metavar="FILE", default=None, help="Write the document here, not stdout."
)
def openapi_command(provider: str | None, output: str | None) -> None:
    """Print the OpenAPI 3.1 document of the emulated send APIs and the receipt webhooks."""
    from .openapi import openapi_document

    try:
        text = json.dumps(openapi_document(provider), indent=2, ensure_ascii=False) + "\n"
    except DlrmockError as exc:
        raise InputError(str(exc)) from None
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, "utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {output!r}: {exc.strerror or exc}") from None


@click.command("fuzz")
@click.option("--to", "target", required=True, metavar="URL", help="The webhook to fuzz.")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              help="Only this receipt kind (repeatable; default: every kind).")
@click.option("--max-examples", type=click.IntRange(min=1), default=100, show_default=True,
              help="Receipts per kind (before shrinking a finding).")
@click.option("--seed", type=int, default=None, help="Seed for a reproducible search.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=5.0,
              show_default=True, help="Seconds to wait for each answer.")
@tls_flags
def fuzz_command(target: str, kinds: tuple[str, ...], max_examples: int, seed: int | None,
                 timeout: float, cacert: str | None, insecure: bool) -> None:
    """Send generated receipts to a webhook; report each one it answered 5xx, timed out or
    broke the connection on, shrunk, with a curl command to replay it (exit 1)."""
    from .fuzz import fuzz

    tls = tls_options(cacert, insecure)
    try:
        report = fuzz(target, list(kinds) or None, max_examples=max_examples, seed=seed,
                      timeout=timeout, tls=tls)
    except DlrmockError as exc:
        raise InputError(str(exc)) from None
    click.echo(report.describe())
    if not report.ok:
        raise SystemExit(1)
