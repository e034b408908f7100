"""What the delivery engine sends and gets back: requests, responses, one-word failure outcomes.

The sending itself is :class:`mock_server._http_client.HttpClient` (on aiohttp); this module has
no third-party imports, so ``import mock_server`` does not pay for an HTTP client it may not use.
"""

from __future__ import annotations

import os
import re
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
    "certificate_failure",
    "read_cacert",
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
UNKNOWN_ISSUER = frozenset({2, 18, 19, 20, 21})
"""OpenSSL's verify codes for a certificate no trusted CA signed (X509_V_ERR_...: unable to get
issuer cert, self-signed, self-signed in chain, unable to get issuer locally, unable to verify
leaf): trusting its CA (--cacert) is the fix."""
_PEM_BLOCK = re.compile(
    r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*?-----END CERTIFICATE-----"
)
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
    cacert: str | os.PathLike[str] | None = None,
    *,
    insecure: bool = False,
    cadata: str | None = None,
) -> ssl.SSLContext:
    """How ``https://`` webhooks are verified: the system's trust store, or only the CA
    certificate(s) in the PEM file ``cacert`` (as curl's ``--cacert``) or in the PEM text
    ``cadata`` (what :func:`read_cacert` read, sent to another process), or not at all
    (``insecure``, as curl's ``--insecure``). :class:`TlsConfigError` says what is wrong."""
    if insecure and (cacert is not None or cadata is not None):
        raise TlsConfigError(
            "cacert and insecure together: insecure verifies no certificate, so the CA file "
            "would be ignored; give one of them"
        )
    if cacert is not None and cadata is not None:
        raise TlsConfigError("cacert and cadata together: give the CA file or its text")
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif cacert is not None:
        context = _trusting(repr(os.fspath(cacert)), cafile=os.fspath(cacert))
    elif cadata is not None:
        context = _trusting("the CA certificate text", cadata=cadata)
    else:
        context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


def read_cacert(cacert: str | os.PathLike[str]) -> str:
    """The CA certificates of the PEM file ``cacert`` as PEM text, checked as :func:`tls_context`
    checks the file (a process sends them to others, which need no copy of the file)."""
    tls_context(cacert)
    try:
        with open(cacert, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as exc:
        raise TlsConfigError(f"{os.fspath(cacert)!r}: cannot read it ({exc.strerror or exc})"
                             ) from None
    # Only the certificate blocks: comments around them (certifi's bundle names each CA) need
    # not be ASCII, which ssl's ``cadata`` text must be.
    pem = "".join(match.group(0) + "\n" for match in _PEM_BLOCK.finditer(text))
    if not pem:
        raise TlsConfigError(
            f"{os.fspath(cacert)!r}: it holds no '-----BEGIN CERTIFICATE-----' block; give the "
            "PEM file of the CA certificate that signed the webhook's certificate"
        )
    tls_context(cadata=pem)  # what the other processes will load
    return pem


def certificate_failure(where: str, error: ssl.SSLCertVerificationError) -> str:
    """Why the certificate of ``where`` (``host:port``) failed verification, and the fix."""
    reason = (error.verify_message or str(error)).rstrip(".")
    unknown_ca = error.verify_code in UNKNOWN_ISSUER
    return (
        f"TLS handshake with {where} failed: certificate verify failed: {reason}; "
        + (TLS_HINT if unknown_ca else "--insecure skips verification")
    )


def _trusting(
    what: str, *, cafile: str | None = None, cadata: str | None = None
) -> ssl.SSLContext:
    if not (cafile or (cadata or "").strip()):  # ssl would quietly use the system's store
        raise TlsConfigError(f"{what}: it is empty; give the PEM file of the CA certificate "
                             "that signed the webhook's certificate")
    try:
        return ssl.create_default_context(cafile=cafile, cadata=cadata)
    except OSError as exc:  # ssl.SSLError is an OSError too: tell them apart
        if isinstance(exc, ssl.SSLError):
            why = f"it holds no PEM CA certificate ({exc.reason or exc})"
        else:
            why = f"cannot read it ({exc.strerror or exc})"
        raise TlsConfigError(
            f"{what}: {why}; give the PEM file of the CA certificate that signed the "
            "webhook's certificate"
        ) from None
