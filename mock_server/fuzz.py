"""Property-based receipts for a receiver: search for the one that crashes it.

Each case starts from a realistic receipt of the kind (the factories know ids, phones and
``error_info``'s encodings better than a schema does), then applies one variant:

- ``realistic``: as the provider sends it, ``error_info`` in any of its four encodings;
- ``schema``: some fields replaced by values their JSON Schema allows (hypothesis-jsonschema);
- ``missing_field``: one field left out;
- ``wrong_type``: one field with a value of another type (eSMS: text that is not a number);
- ``malformed``: the JSON body or the query string cut short;
- ``bad_error_info``: an ``error_info`` that decodes to nothing (eSMS Zalo kinds).

Each case is sent with the provider's transport (eSMS: GET query string; NXCloud: POST JSON).
An answer 5xx, a timeout or a broken connection is a finding; Hypothesis shrinks it to a minimal
receipt, reported with a ``curl`` command that replays it.
"""

from __future__ import annotations

import http.client
import json
import shlex
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import FlakyFailure, HypothesisException
from hypothesis_jsonschema import from_schema

from ._errors import DlrmockError
from ._factory import receipt, wire
from ._http import Request, certificate_failure, tls_context
from ._registry import schema
from ._wire import ErrorInfoEncoding
from .openapi import COMPONENTS, _Components, _properties
from .providers import KINDS, get_kind

__all__ = ["VARIANTS", "Finding", "FuzzError", "FuzzReport", "fuzz"]

VARIANTS = ("realistic", "schema", "missing_field", "wrong_type", "malformed", "bad_error_info")
_WRONG_TEXT = ("", "abc", "-1", "1.5", "1e309", "%", "null", "x" * 300)
_WRONG_JSON: tuple[Any, ...] = (None, "", "abc", -1, 1.5, True, [], {}, "x" * 300)
SHRINK_SECONDS = 30.0
"""Time spent shrinking one kind's finding before settling on the smallest failure so far."""
_BAD_ERROR_INFO = ("", "{", "%7B%22error", "not json", "%22%7B%5C%22error%5C%22%3A%22", "null")


class FuzzError(DlrmockError):
    """``fuzz`` cannot run: a bad URL or kind, or nothing answers at the URL."""


@dataclass(frozen=True)
class Finding:
    """One receipt the receiver failed on, shrunk to a minimal one."""

    kind: str
    variant: str
    detail: str
    """What the variant changed (``requestId left out``); empty for ``realistic``."""
    outcome: str
    """``HTTP 500``, ``timeout after 5 s``, ``connection reset``…"""
    request: Request

    def replay(self) -> str:
        """A ``curl`` command that sends the same request again."""
        words = ["curl", "-i"]
        if self.request.method != "GET":
            words += ["-X", self.request.method]
        for name, value in self.request.headers:
            words += ["-H", f"{name}: {value}"]
        if self.request.body:
            words += ["--data-binary", self.request.body.decode("utf-8", "backslashreplace")]
        words.append(self.request.url)
        return " ".join(shlex.quote(word) for word in words)

    def describe(self) -> str:
        """What was sent and what happened, with the replay command."""
        shown = self.request.body.decode("utf-8", "backslashreplace") or self.request.url
        variant = f"{self.variant}: {self.detail}" if self.detail else self.variant
        return (
            f"{self.kind} ({variant}): {self.outcome}\n"
            f"  sent: {self.request.method} {shown}\n"
            f"  replay: {self.replay()}"
        )


@dataclass
class FuzzReport:
    """What ``fuzz`` sent and found."""

    target: str
    kinds: list[str]
    sent: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def describe(self) -> str:
        lines = [f"sent {self.sent} receipts of {len(self.kinds)} kinds to {self.target}: "
                 + (f"{len(self.findings)} finding(s)" if self.findings else "no findings")]
        lines += [finding.describe() for finding in self.findings]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Case:
    variant: str
    detail: str
    request: Request


class _Found(Exception):
    def __init__(self, case: _Case, outcome: str) -> None:
        super().__init__(outcome)
        self.case = case
        self.outcome = outcome


def fuzz(
    to: str,
    kind: str | Iterable[str] | None = None,
    *,
    max_examples: int = 100,
    seed: int | None = None,
    timeout: float = 5.0,
    tls: ssl.SSLContext | None = None,
) -> FuzzReport:
    """Send generated receipts of ``kind`` (a name, names, or every kind) to the webhook ``to``.

    ``to`` gets ``max_examples`` cases per kind (fewer when one crashes it and shrinking
    starts). An ``https://`` webhook is verified as ``tls`` says
    (:func:`mock_server._http.tls_context`: a CA file, or ``insecure``); by default against the
    system's trust store. Returns a :class:`FuzzReport` with at most one finding per kind.
    """
    parts = urlsplit(to)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FuzzError(f"target URL {to!r} must be an http:// or https:// URL, "
                        "e.g. http://127.0.0.1:5000/webhooks/esms")
    try:
        parts.port  # noqa: B018  (a bad port raises here, not in the middle of the search)
    except ValueError as exc:
        raise FuzzError(f"target URL {to!r} has a bad port: {exc}") from None
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1:
        raise FuzzError(f"max_examples must be a whole number >= 1, got {max_examples!r}")
    if not timeout > 0:
        raise FuzzError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    names = list(KINDS) if kind is None else [kind] if isinstance(kind, str) else list(kind)
    if not names:
        names = list(KINDS)
    for name in names:
        get_kind(name)  # an unknown kind fails here, with the closest names
    report = FuzzReport(to, names)
    sender = _Sender(timeout, tls)
    for name in names:
        finding = _fuzz_kind(name, to, report, max_examples, seed, sender)
        if finding is not None:
            report.findings.append(finding)
    return report


def _fuzz_kind(kind: str, to: str, report: FuzzReport, max_examples: int, seed: int | None,
               sender: _Sender) -> Finding | None:
    last: list[_Found] = []
    failed: dict[tuple[str, str, bytes], str] = {}
    started: list[float] = []

    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              phases=(Phase.explicit, Phase.generate, Phase.shrink), report_multiple_bugs=False)
    @given(_cases(kind, to))
    def run(case: _Case) -> None:
        key = (case.request.method, case.request.url, case.request.body)
        outcome: str | None
        if started and time.monotonic() - started[0] > SHRINK_SECONDS:
            # Out of shrinking time (a receiver that hangs makes every try cost `timeout`):
            # only requests known to fail still fail, so Hypothesis settles on the smallest.
            outcome = failed.get(key)
        else:
            outcome = sender.send(case.request)
            report.sent += 1
        if outcome is not None:
            started[:] = started or [time.monotonic()]
            failed[key] = outcome
            found = _Found(case, outcome)
            last.append(found)
            raise found  # one raise statement: Hypothesis tells failures apart by their line

    if seed is not None:
        run = hypothesis_seed(seed)(run)
    try:
        run()
    except _Found as found:
        case = found.case
        return Finding(kind, case.variant, case.detail, found.outcome, case.request)
    except (FlakyFailure, HypothesisException):
        # The receiver failed once but not when asked again (state, timing): report what failed.
        if last:
            case = last[-1].case
            return Finding(kind, case.variant, case.detail,
                           last[-1].outcome + " (not reproducible)", case.request)
        raise
    return None


# ------------------------------------------------------------------------------- strategies
def _field_strategies(kind: str) -> dict[str, st.SearchStrategy[Any]]:
    """One strategy per field of ``kind``'s schema (fields of a shape it cannot generate are
    left out: they keep the factory's value)."""
    components = _Components()
    found, _ = _properties(kind, schema(kind))
    fields: dict[str, Any] = {
        name: components.rewrite(node, base) for name, (node, base) in found.items()
    }
    definitions = components.schemas()
    text = json.dumps({"fields": fields, "defs": definitions})
    resolved = json.loads(text.replace(f'"{COMPONENTS}', '"#/$defs/dlrmock/'))
    strategies = {}
    for name, node in resolved["fields"].items():
        strategy = _strategy(node, resolved["defs"])
        if strategy is not None:
            strategies[name] = strategy
    return strategies


def _deref(node: Any, defs: dict[str, Any]) -> Any:
    for _ in range(10):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        pointer = node["$ref"].removeprefix("#/$defs/dlrmock/").split("/")
        target: Any = defs
        for part in pointer:
            target = target[part]
        node = {**{k: v for k, v in node.items() if k != "$ref"}, **target}
    return node


def _typed(node: Any) -> bool:
    """Whether ``node`` says what type its values have (``{}`` allows objects too)."""
    if not isinstance(node, dict):
        return False
    if "type" in node or "const" in node or "enum" in node:
        return True
    branches = node.get("anyOf") or node.get("oneOf") or []
    return bool(branches) and all(_typed(branch) for branch in branches)


def _inline(node: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """``node`` with its references replaced by what they point at (to look into it)."""
    if depth > 8:
        return node
    if isinstance(node, list):
        return [_inline(item, defs, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    node = _deref(node, defs)
    return {key: _inline(value, defs, depth + 1) for key, value in node.items()}


def _strategy(node: Any, defs: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any] | None:
    """hypothesis-jsonschema for scalar schemas; objects built here, property by property
    (hypothesis-jsonschema's object generation does not run on current Hypothesis)."""
    node = _deref(node, defs)
    if not isinstance(node, dict):
        return None
    if "properties" in node and depth < 4:
        if any(key in node for key in ("oneOf", "anyOf", "allOf", "if", "patternProperties")):
            return None
        required: dict[str, st.SearchStrategy[Any]] = {}
        optional: dict[str, st.SearchStrategy[Any]] = {}
        for key, sub in node["properties"].items():
            strategy = _strategy(sub, defs, depth + 1)
            if strategy is None:
                return None
            (required if key in node.get("required", ()) else optional)[key] = strategy
        return st.fixed_dictionaries(required, optional=optional)
    inlined = _inline(node, defs)
    text = json.dumps(inlined)
    if '"object"' in text or '"properties"' in text or not _typed(inlined):
        return None
    return from_schema({**node, "$defs": {"dlrmock": defs}})


def _cases(kind: str, to: str) -> st.SearchStrategy[_Case]:
    spec = get_kind(kind)
    query = not wire(kind, receipt(kind, seed=0), to).body
    variants = [v for v in VARIANTS if v != "bad_error_info" or spec.error_info_schema]
    encodings: Sequence[ErrorInfoEncoding | None] = (
        [spec.error_info_encoding, *ErrorInfoEncoding] if spec.error_info_schema else [None]
    )
    fields = _field_strategies(kind)

    @st.composite
    def case(draw: st.DrawFn) -> _Case:
        payload = receipt(kind, seed=draw(st.integers(0, 2**16)))
        variant = draw(st.sampled_from(variants))
        encoding = draw(st.sampled_from(encodings))
        names = sorted(payload)
        changed: list[str] = []
        if variant == "schema":
            for name in sorted(fields):
                if draw(st.booleans()):
                    payload[name] = draw(fields[name])
                    changed.append(f"{name}={_short(payload[name])}")
        elif variant == "missing_field":
            name = draw(st.sampled_from(names))
            del payload[name]
            changed.append(f"{name} left out")
        elif variant == "wrong_type":
            name = draw(st.sampled_from(names))
            payload[name] = draw(st.sampled_from(_WRONG_TEXT if query else _WRONG_JSON))
            changed.append(f"{name}={_short(payload[name])}")
        elif variant == "bad_error_info":
            payload["error_info"] = draw(st.sampled_from(_BAD_ERROR_INFO))
            changed.append(f"error_info={_short(payload['error_info'])}")
        if encoding is not None and encoding != spec.error_info_encoding \
                and variant != "bad_error_info":
            changed.append(f"error_info encoding {int(encoding)}")
        if query:  # eSMS sends every value as text
            payload = {k: "" if v is None else v if isinstance(v, str) else json.dumps(v)
                       for k, v in payload.items()}
        request = wire(kind, payload, to, encoding)
        if variant == "malformed":
            if request.body:
                cut = draw(st.integers(0, len(request.body) - 1))
                changed.append(f"body cut to {cut} of {len(request.body)} bytes")
                request = Request(request.method, request.url, request.headers,
                                  request.body[:cut])
            else:
                start = request.url.find("?") + 1
                cut = draw(st.integers(start, len(request.url) - 1))
                changed.append(f"query cut after {request.url[start:cut]!r}"[:80])
                request = Request(request.method, request.url[:cut], request.headers, b"")
        return _Case(variant, ", ".join(changed), request)

    return case()


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------------------------------ sending
class _Sender:
    """Sends each request on a new connection; ``https://`` ones verified with one TLS
    context."""

    def __init__(self, timeout: float, tls: ssl.SSLContext | None) -> None:
        self.timeout = timeout
        self._tls = tls
        self._default_tls: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        if self._tls is not None:
            return self._tls
        if self._default_tls is None:  # the system's trust store, loaded once
            self._default_tls = tls_context()
        return self._default_tls

    def send(self, request: Request) -> str | None:
        """``None`` when the receiver answered below 500; otherwise what went wrong."""
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        timeout = self.timeout
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(host, parts.port, timeout=timeout,
                                                     context=self._context())
        else:
            connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            connection.request(request.method, target, body=request.body or None,
                               headers=dict(request.headers))
            answer = connection.getresponse()
            answer.read()
        except ConnectionRefusedError:
            raise FuzzError(f"nothing answers at {request.url.split('?')[0]!r} (connection "
                            "refused); start the receiver first") from None
        except socket.gaierror as exc:
            raise FuzzError(f"cannot resolve the host of {request.url.split('?')[0]!r}: "
                            f"{exc.strerror or exc}") from None
        except ssl.SSLCertVerificationError as exc:  # every receipt would fail the same way
            where = f"{host}:{parts.port or 443}"
            raise FuzzError(certificate_failure(where, exc)) from None
        except TimeoutError:
            return f"timeout after {timeout:g} s"
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            return f"broken connection: {type(exc).__name__}: {exc}"
        finally:
            connection.close()
        if answer.status >= 500:
            return f"HTTP {answer.status}"
        return None
