"""What the delivery engine sends and gets back: requests, responses, one-word failure outcomes.

The sending itself is :class:`mock_server._http_client.HttpClient` (on aiohttp); this module has
no third-party imports, so ``import mock_server`` does not pay for an HTTP client it may not use.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass

from ._errors import DlrmockError
from ._targets import parse as parse_target

__all__ = [
    "OUTCOMES",
    "TLS_HINT",
    "USER_AGENT",
    "Request",
    "Response",
    "TlsConfigError",
    "TransportError",
    "tls_context",
    "with_default_headers",
]

USER_AGENT = "dlrmock/0.1"
OUTCOMES = (
    "timeout",
    "connect_timeout",
    "pool_timeout",
    "refused",
    "unresolved",
    "reset",
    "closed",
    "invalid_response",
    "tls_error",
)
"""Every value :attr:`TransportError.outcome` takes."""
TLS_HINT = (
    "trust its CA with --cacert FILE (config: cacert; pytest: --dlrmock-cacert) "
    "or skip verification with --insecure"
)
"""What to do about a certificate dlrmock cannot verify (appended to ``tls_error`` reasons)."""
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request to send: method, absolute ``http(s)://`` URL, extra headers, body."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP response; ``body`` holds at most the client's ``max_body`` bytes."""

    status: int
    reason: str
    raw_headers: tuple[tuple[bytes, bytes], ...]
    """The header lines as received; :attr:`headers` decodes them when asked (the engine reads
    only the status and the body)."""
    body: bytes

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """(name, value) pairs, decoded as Latin-1 (HTTP's own header encoding)."""
        return tuple((name.decode("latin-1"), value.decode("latin-1"))
                     for name, value in self.raw_headers)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


class TransportError(DlrmockError):
    """A request that got no usable HTTP response; ``outcome`` names why in one word."""

    def __init__(self, outcome: str, detail: str) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown transport outcome {outcome!r}; expected one of {OUTCOMES}")
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome
        self.detail = detail

    def __reduce__(self) -> tuple[type[TransportError], tuple[str, str]]:
        return (type(self), (self.outcome, self.detail))


class TlsConfigError(DlrmockError, ValueError):
    """TLS settings that cannot be used (an unreadable CA file, contradicting options)."""


def _split_url(url: str) -> tuple[str, int, str, str]:
    """(host, port, request target, Host header value) of an absolute http(s):// URL.

    The URL is read by :func:`mock_server._targets.parse`, the parser the allow-list checks with,
    so the client connects to exactly the host and port that were checked.
    """
    target = parse_target(url)
    return target.host, target.port, target.path, target.host_header


def with_default_headers(request: Request) -> Request:
    """``request`` with every header the client sends spelled out: what the journal shows.

    The client sends exactly these headers, in this order, and adds none of its own.
    """
    try:
        host_header = parse_target(request.url).host_header
    except ValueError:  # never sent (the run is journaled 'blocked'); show the URL's authority
        host_header = request.url.partition("://")[2].split("/", 1)[0].split("?", 1)[0]
    given = {name.lower() for name, _ in request.headers}
    first: list[tuple[str, str]] = [] if "host" in given else [("Host", host_header)]
    last: list[tuple[str, str]] = []
    if "user-agent" not in given:
        last.append(("User-Agent", USER_AGENT))
    if "connection" not in given:
        last.append(("Connection", "keep-alive"))
    if "content-length" not in given and (request.body or request.method in _METHODS_WITH_BODY):
        last.append(("Content-Length", str(len(request.body))))
    if not first and not last:
        return request
    return Request(request.method, request.url, (*first, *request.headers, *last), request.body)


def tls_context(
    cacert: str | os.PathLike[str] | None = None, *, insecure: bool = False
) -> ssl.SSLContext:
    """How ``https://`` webhooks are verified: the system's trust store, or only the CA
    certificate(s) in the PEM file ``cacert`` (as curl's ``--cacert``), or not at all
    (``insecure``, as curl's ``--insecure``). :class:`TlsConfigError` says what is wrong."""
    if insecure and cacert is not None:
        raise TlsConfigError(
            "cacert and insecure together: insecure verifies no certificate, so the CA file "
            "would be ignored; give one of them"
        )
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif cacert is None:
        context = ssl.create_default_context()
    else:
        context = _trusting(os.fspath(cacert))
    context.set_alpn_protocols(["http/1.1"])
    return context


def _trusting(path: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=path)
    except OSError as exc:  # ssl.SSLError is an OSError too: tell them apart
        if isinstance(exc, ssl.SSLError):
            why = f"it holds no PEM CA certificate ({exc.reason or exc})"
        else:
            why = f"cannot read it ({exc.strerror or exc})"
        raise TlsConfigError(
            f"{path!r}: {why}; give the PEM file of the CA certificate that signed the "
            "webhook's certificate"
        ) from None
