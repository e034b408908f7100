"""``dlrmock openapi`` and ``dlrmock fuzz`` (registered on the ``dlrmock`` group in ``cli``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._errors import DlrmockError
from .providers import PROVIDERS

__all__ = ["openapi_command"]


class _UsageError(click.ClickException):
    exit_code = 2

    def show(self, file: object = None) -> None:
        click.echo(f"dlrmock: error: {self.format_message()}", err=True)


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
        raise _UsageError(str(exc)) from None
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, "utf-8")
    except OSError as exc:
        raise _UsageError(f"cannot write {output!r}: {exc.strerror or exc}") from None
