"""Delivery targets: the one URL parser, and the allow-list that decides where receipts may go.

Every webhook URL dlrmock delivers to goes through :func:`parse`: the engine checks the result
against the server's :class:`AllowList` and the HTTP client connects to the same host and port, so
what is checked is what is connected to. A URL that different parsers would read differently
(user info, a backslash, ``127.1`` or ``0x7f000001`` for an address, an empty or zero port) is
refused here rather than guessed at.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from ._errors import DlrmockError

__all__ = [
    "ANY",
    "AllowList",
    "AmbiguousTargetError",
    "Target",
    "TargetError",
    "check",
    "decide",
    "is_loopback_host",
    "parse",
    "policy_for",
]

ANY = "*"
"""The allow-list entry that allows every target, even when bound beyond loopback."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = {"http": 80, "https": 443}
# Anything outside visible ASCII in a URL would corrupt the request line (http.client agrees).
_BAD_URL_CHAR = re.compile(r"[^\x21-\x7e]")
_NAME = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


class TargetError(DlrmockError, ValueError):
    """A webhook URL dlrmock cannot connect to (the message says why and how to fix it)."""


class AmbiguousTargetError(TargetError):
    """A URL that URL parsers read differently: it is never connected to."""


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed webhook URL: where the connection goes and what the request line says."""

    scheme: str
    host: str
    """Lower-case name, dotted-quad IPv4, or IPv6 without brackets."""
    port: int
    path: str
    """The request target: path and query string (never empty)."""
    host_header: str
    """The ``Host`` header value, as the URL spells it."""

    @property
    def address(self) -> Address | None:
        """The host as an IP address, or ``None`` for a name."""
        return _address(self.host)


def _address(host: str) -> Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on the wire
    return address


@lru_cache(maxsize=4096)
def parse(url: str) -> Target:
    """``url`` as a :class:`Target`; :class:`TargetError` naming the problem and the fix."""
    if not isinstance(url, str):
        raise TargetError(f"a webhook URL must be a string, got {url!r}")
    bad = _BAD_URL_CHAR.search(url)
    if bad:
        raise TargetError(
            f"URL {url!r} contains {bad.group(0)!r}; percent-encode spaces, control and "
            "non-ASCII characters"
        )
    if "\\" in url.split("?", 1)[0].split("#", 1)[0]:  # the query is opaque to every parser
        raise AmbiguousTargetError(
            f"URL {url!r} contains a backslash, which parsers disagree about (a path "
            "separator or part of the host); write '/' or percent-encode it as %5C"
        )
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise TargetError(
            f"URL {url!r} must start with http:// or https://, e.g. http://127.0.0.1:8000/hook"
        )
    if scheme not in _SCHEMES:
        raise TargetError(
            f"unsupported URL scheme {scheme!r} in {url!r}; use an http:// or https:// URL"
        )
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0),
              default=len(rest))
    authority, path = rest[:end], rest[end:]
    path = path.partition("#")[0]
    if path.startswith("?"):
        path = "/" + path
    if "@" in authority:
        raise AmbiguousTargetError(
            f"URL {url!r} has user info before '@' ({authority!r}); a webhook URL carries no "
            "credentials and parsers disagree on which host such a URL names: remove it"
        )
    host, port = _split_authority(url, authority, _SCHEMES[scheme])
    return Target(scheme, host, port, path or "/", authority)


def _split_authority(url: str, authority: str, default_port: int) -> tuple[str, int]:
    if authority.startswith("["):
        inside, bracket, after = authority[1:].partition("]")
        if not bracket:
            raise TargetError(f"URL {url!r} has an unclosed '[' in its host")
        try:
            host = str(ipaddress.IPv6Address(inside))
        except ValueError:
            raise TargetError(
                f"URL {url!r}: {inside!r} between brackets is not an IPv6 address "
                "(zone ids such as %eth0 are not supported)"
            ) from None
        port_text = after
        if port_text and not port_text.startswith(":"):
            raise TargetError(f"URL {url!r} has {port_text!r} after its IPv6 address")
    else:
        host, colon, port_text = authority.partition(":")
        port_text = colon + port_text
        host = host.lower()
        if not host:
            raise TargetError(f"URL {url!r} has no host, e.g. http://127.0.0.1:8000/hook")
        _check_host(url, host)
    port = default_port
    if port_text:
        digits = port_text[1:]
        if digits in ("", "0") or digits.strip("0") == "":
            # http.client and urllib read these as the default port; a socket as "any port".
            raise AmbiguousTargetError(
                f"URL {url!r} has port {digits!r}; give a number from 1 to 65535, or leave "
                f"out ':' for the default port {default_port}"
            )
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 5) or not (
            0 < int(digits) <= 65535
        ):
            raise TargetError(
                f"URL {url!r}: port {digits!r} out of range; give a number from 1 to 65535"
            )
        port = int(digits)
    return host, port


def _check_host(url: str, host: str) -> None:
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # Ends in a number: an IPv4 address to URL parsers, which also take 127.1, 2130706433,
        # 0x7f000001 and 0177.0.0.1. Only the one spelling everyone agrees on is accepted.
        if not _IPV4.fullmatch(host):
            raise AmbiguousTargetError(
                f"URL {url!r} has host {host!r}, an IPv4 address in a form parsers read "
                "differently; write it as four decimal numbers without leading zeros, "
                "e.g. 127.0.0.1"
            )
        return
    for label in labels:
        if not _NAME.fullmatch(label):
            raise TargetError(
                f"URL {url!r} has host {host!r}, not a valid host name (letters, digits and "
                "'-' between dots, no empty label or trailing dot)"
            )


# ----------------------------------------------------------------------------------- allow-list
@dataclass(frozen=True, slots=True)
class _Rule:
    text: str
    name: str | None = None
    network: Network | None = None
    port: int | None = None

    def matches_port(self, port: int) -> bool:
        return self.port is None or self.port == port


def _rule(entry: str) -> _Rule:
    """One ``--allow-target`` entry: ``HOST[:PORT]``, ``[IPV6][:PORT]`` or a CIDR range."""
    text = entry.strip()
    if not text:
        raise DlrmockError("an empty --allow-target entry; give HOST[:PORT] or a CIDR range")
    port_text = ""
    if text.startswith("["):
        host, bracket, port_text = text[1:].partition("]")
        if not bracket or (port_text and not port_text.startswith(":")):
            raise DlrmockError(f"--allow-target {entry!r}: write an IPv6 entry as [::1]:8000")
        port_text = port_text[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text
    port: int | None = None
    if port_text:
        if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5) or not (
            0 < int(port_text) <= 65535
        ):
            raise DlrmockError(
                f"--allow-target {entry!r}: port {port_text!r} must be a number from 1 to 65535"
            )
        port = int(port_text)
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        network = None
    if network is not None:
        if isinstance(network, ipaddress.IPv6Network) and network.prefixlen == 128:
            mapped = network.network_address.ipv4_mapped
            if mapped is not None:
                network = ipaddress.IPv4Network(mapped)
        return _Rule(text, network=network, port=port)
    name = host.lower()
    if "/" in name or not all(_NAME.fullmatch(label) for label in name.split(".")) or (
        _NUMERIC_LABEL.fullmatch(name.split(".")[-1])
    ):
        raise DlrmockError(
            f"--allow-target {entry!r} is not a host name, an IP address or a CIDR range "
            "(e.g. hooks.internal, 10.0.0.7:8000, 10.0.0.0/8, [fd00::1]:8000, or * for any)"
        )
    return _Rule(text, name=name, port=port)


class AllowList:
    """Where receipts may go: loopback, plus the listed names, addresses and CIDR ranges.

    A name in the list allows that name; a name not in the list is allowed when every address it
    resolves to is loopback or listed (resolutions are cached for :attr:`ttl` seconds).
    """

    ttl = 30.0

    def __init__(self, entries: Iterable[str] = ()) -> None:
        entries = list(entries)
        self.any = ANY in (e.strip() for e in entries)
        self.rules = tuple(_rule(e) for e in entries if e.strip() != ANY)
        self._resolved: dict[tuple[str, int], tuple[float, tuple[Address, ...]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        listed = [r.text for r in self.rules] + ([ANY] if self.any else [])
        return f"AllowList({listed!r})"

    def describe(self) -> str:
        """One line for the server's banner."""
        if self.any:
            return "any target (--allow-target '*')"
        listed = ", ".join(r.text for r in self.rules)
        return "loopback" + (f" and {listed}" if listed else " only")

    def reason(self, target: Target) -> str | None:
        """``None`` when ``target`` is allowed, else why not (for the journal)."""
        return self.decide(target)[0]

    def decide(self, target: Target) -> tuple[str | None, str | None]:
        """(why ``target`` is not allowed or None, the address to connect to or None).

        A name allowed because of the addresses it resolves to is pinned to the first of them,
        so a second lookup at delivery time cannot lead elsewhere (DNS rebinding).
        """
        if self.any:
            return None, None
        address = target.address
        if address is None:
            if target.host == "localhost" or any(
                r.name == target.host and r.matches_port(target.port) for r in self.rules
            ):
                return None, None
            try:
                addresses = self._resolve(target.host, target.port)
            except OSError as exc:
                return (f"cannot resolve {target.host!r} ({exc}); list it with "
                        f"--allow-target {target.host}"), None
            refused = [a for a in addresses if not self._allows(a, target.port)]
            if not refused:
                return None, str(addresses[0])
            return (
                f"{target.host!r} resolves to {refused[0]}, which is outside the allowed "
                f"targets ({self.describe()}); add --allow-target {target.host}:{target.port}"
            ), None
        if self._allows(address, target.port):
            return None, None
        shown = f"[{address}]" if address.version == 6 else str(address)
        return (
            f"{shown}:{target.port} is outside the allowed targets ({self.describe()}); "
            f"add --allow-target {shown}:{target.port} (or a CIDR range) to deliver there"
        ), None

    def _allows(self, address: Address, port: int) -> bool:
        if address.is_loopback:
            return True
        return any(
            r.network is not None
            and address.version == r.network.version
            and address in r.network
            and r.matches_port(port)
            for r in self.rules
        )

    def _resolve(self, host: str, port: int) -> tuple[Address, ...]:
        now = time.monotonic()
        with self._lock:
            cached = self._resolved.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = tuple(
            a for a in (_address(str(info[4][0]).partition("%")[0]) for info in found)
            if a is not None
        )
        if not addresses:
            raise OSError(f"no address for {host!r}")
        with self._lock:
            if len(self._resolved) > 1024:
                self._resolved.clear()
            self._resolved[(host, port)] = (now + self.ttl, addresses)
        return addresses


def is_loopback_host(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host.lower() in ("localhost", "localhost."):
        return True
    address = _address(host.strip("[]"))
    return address is not None and address.is_loopback


def policy_for(bind_host: str, entries: Iterable[str] = ()) -> AllowList | None:
    """The allow-list of a server bound to ``bind_host``: ``None`` (every target) on loopback,
    else loopback plus ``entries`` (``*`` in them allows every target)."""
    allow = AllowList(entries)  # checked even on loopback: a typo is an error either way
    if is_loopback_host(bind_host) or allow.any:
        return None
    return allow


def decide(url: str, allow: AllowList | None) -> tuple[str | None, str | None]:
    """(the reason ``url`` is blocked or None, the address to connect to or None).

    As :func:`check`, and when a host name was allowed by what it resolves to, the address it
    was checked at: deliveries connect there rather than look the name up again.
    """
    try:
        target = parse(url)
    except AmbiguousTargetError as exc:
        return str(exc), None
    return (None, None) if allow is None else allow.decide(target)


def check(url: str, allow: AllowList | None) -> str | None:
    """``None`` when dlrmock may deliver to ``url``, else the reason it is blocked.

    An ambiguous URL is always blocked; beyond that, ``allow`` decides (``None`` allows every
    target). A URL no client could use raises :class:`TargetError`.
    """
    return decide(url, allow)[0]
