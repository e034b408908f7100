"""What the ``dlrmock`` commands share: exit codes, one-line input errors, the TLS options."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, NoReturn

import click

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "InputError", "fail", "tls_flags",
           "tls_options"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class InputError(click.ClickException):
    """Unusable input: printed as one line, exit code 2."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"dlrmock: error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise InputError(message)


def tls_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--cacert FILE`` and ``--insecure`` (curl's names): how https:// webhooks are verified."""
    command = click.option(
        "--insecure", is_flag=True, help="Deliver to https:// webhooks without verifying them."
    )(command)
    return click.option(
        "--cacert",
        metavar="FILE",
        default=None,
        help="Verify https:// webhooks against the CA certificate(s) in this PEM file instead of "
        "the system's trust store.",
    )(command)


def tls_options(cacert: str | None, insecure: bool) -> ssl.SSLContext | None:
    """The TLS context ``--cacert`` / ``--insecure`` ask for (None: the system's trust store)."""
    from ._http import TlsConfigError, tls_context

    if cacert is not None and insecure:
        fail("--cacert and --insecure together: --insecure verifies no certificate, so the CA "
             "file would be ignored; pass one of them")
    if cacert is None and not insecure:
        return None
    try:
        return tls_context(cacert, insecure=insecure)
    except TlsConfigError as exc:
        fail(f"--cacert {exc}")
