"""Payload factories: realistic receipts for every kind, deterministic under a seed."""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Mapping
from typing import Any, Literal, cast

from faker import Factory, Faker

from ._errors import ErrorInfoError, OverrideError
from ._limits import loads_json
from ._registry import resolve_subschema
from ._wire import ErrorInfoEncoding
from .providers import (
    Message,
    PackedField,
    Payload,
    Provider,
    ReceiptKind,
    WireRequest,
    get_kind,
    get_provider,
)
from .providers._base import form_to_query

__all__ = [
    "RawValue",
    "ReceiptFactory",
    "apply_overrides",
    "coerce_value",
    "delivery_request",
    "parse_assignment",
    "receipt",
    "wire",
]

DEFAULT_LOCALE = "vi_VN"


class _Random(random.Random):
    """``random.Random`` drawing the integers of a receipt with fewer calls: ``randint`` and
    ``choice`` give exactly what Random's give from the same state (each draws
    ``getrandbits(width.bit_length())`` until the draw is below the width, as Random's private
    ``_randbelow`` does on every Python dlrmock supports), without going through ``randrange``
    and its argument checks for each of the dozen values a receipt draws."""

    def randint(self, a: int, b: int) -> int:
        if type(a) is not int or type(b) is not int or b < a:
            return super().randint(a, b)  # Random's own answer, or its error
        width = b - a + 1
        bits = width.bit_length()
        drawn = self.getrandbits(bits)
        while drawn >= width:
            drawn = self.getrandbits(bits)
        return a + drawn

    def choice(self, seq: Any) -> Any:
        width = len(seq)
        if not width:
            return super().choice(seq)  # Random's error for an empty sequence
        bits = width.bit_length()
        drawn = self.getrandbits(bits)
        while drawn >= width:
            drawn = self.getrandbits(bits)
        return seq[drawn]


class ReceiptFactory:
    """Builds messages and receipts from one seeded Faker; the same seed gives the same data."""

    def __init__(self, seed: int | None = None, *, locale: str = DEFAULT_LOCALE) -> None:
        # The generator a one-locale Faker proxies to, used directly: every ``fake.random``
        # through the proxy costs ~1.4 µs, and a receipt reads it dozens of times.
        generator = Factory.create(locale)
        generator.random = _Random()
        self.fake = cast(Faker, generator)
        if seed is not None:
            self.fake.seed_instance(seed)

    def reseed(self, seed: int) -> None:
        """Restart the sequence of generated values from ``seed``."""
        self.fake.seed_instance(seed)

    def message(
        self, provider: str | Provider, fields: Mapping[str, Any] | None = None
    ) -> Message:
        """The fields shared by every receipt about one message, with ``fields`` applied."""
        if not isinstance(provider, Provider):
            provider = get_provider(provider)
        message = provider.new_message(self.fake)
        if fields:
            message.update(fields)
        return message

    def receipt(
        self,
        kind: str | ReceiptKind,
        message: Message | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Payload:
        """A valid receipt of ``kind`` about ``message`` (a new one when ``None``)."""
        spec = get_kind(kind)
        if message is None:
            message = self.message(spec.provider)
        payload = spec.build(self.fake, message)
        return apply_overrides(spec, payload, overrides) if overrides else payload


def receipt(
    kind: str | ReceiptKind,
    *,
    seed: int | None = None,
    message: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Payload:
    """A valid receipt of ``kind``; keyword ``fields`` and dotted ``overrides`` replace values.

    ``receipt("nxcloud.zalo.success", seed=1, ext="order-7")``;
    ``receipt("esms.zns.normal", overrides={"error_info.error": -114})``.
    A value of ``None`` removes the field.
    """
    changes = {**fields, **(overrides or {})}
    for path, value in changes.items():
        _finite(value, path)  # NaN and infinities are not JSON: never produced
    factory = ReceiptFactory(seed)
    spec = get_kind(kind)
    msg = factory.message(spec.provider, message)
    return factory.receipt(spec, msg, changes)


def wire(
    kind: str | ReceiptKind,
    payload: Mapping[str, Any],
    url: str = "http://127.0.0.1/",
    error_info_encoding: ErrorInfoEncoding | int | None = None,
) -> WireRequest:
    """Exactly what the provider sends for ``payload`` to ``url``."""
    encoding = ErrorInfoEncoding(error_info_encoding) if error_info_encoding is not None else None
    return get_kind(kind).wire(dict(payload), url, encoding)


def delivery_request(
    kind: str | ReceiptKind,
    payload: Payload,
    url: str,
    encoding: ErrorInfoEncoding | int | None = None,
    malformed: str | None = None,
    parameters: Literal["body", "query"] = "body",
) -> tuple[WireRequest, Payload]:
    """The request that delivers ``payload`` to ``url`` and the payload it carries, broken
    the way a scenario step's ``malformed`` asks; ``parameters`` (the delivery policy's) puts
    a form in the URL.

    ``missing_field`` drops the message key and the discriminator, ``wrong_type`` gives the
    typed field a list, ``bad_error_info`` sends the packed field's broken value, and
    ``bad_json`` cuts the body in half (a transport without a body: a second, truncated packed
    field replaces the first).
    """
    spec = get_kind(kind)
    encoding_obj = ErrorInfoEncoding(encoding) if encoding is not None else None
    broken = dict(payload) if malformed else payload
    packed = spec.packed
    has_body = spec.transport.body != "none"
    if malformed == "missing_field":
        broken.pop(spec.key_field, None)
        broken.pop(spec.discriminator, None)
    elif malformed == "wrong_type":
        broken[spec.typed_field] = ["not", "a", "value"]
    elif malformed == "bad_error_info" and packed is not None:
        broken[packed.name] = packed.broken
    elif malformed == "bad_json" and not has_body and packed is not None:
        # Appended below; a second value after the valid one would be ignored by receivers
        # that read the first value of a repeated parameter.
        broken.pop(packed.name, None)
    request = spec.wire(broken, url, encoding_obj)
    if malformed == "bad_json":
        if has_body:
            request = WireRequest(request.method, request.url, request.headers,
                                  request.body[: max(1, len(request.body) // 2)])
        elif packed is not None:
            request = WireRequest(request.method, f"{request.url}&{packed.name}=%7B%22broken",
                                  request.headers, request.body)
            broken[packed.name] = '{"broken'
    if parameters == "query" and spec.transport.body == "form":
        request = form_to_query(request)
    return request, broken


def apply_overrides(
    kind: str | ReceiptKind, payload: Payload, overrides: Mapping[str, Any]
) -> Payload:
    """``payload`` with ``overrides`` applied; keys may be dotted paths into nested objects.

    A packed field (eSMS ``error_info``) takes an object, encoded the way the kind encodes
    it, and ``error_info.FIELD`` edits the decoded object in place.
    """
    result = copy.deepcopy(payload)
    packed = get_kind(kind).packed
    for key, value in overrides.items():
        head, _, rest = str(key).partition(".")
        if packed is not None and head == packed.name:
            _set_packed(result, packed, rest, value)
            continue
        _set_path(result, str(key), value)
    return result


def _set_packed(payload: Payload, packed: PackedField, subpath: str, value: Any) -> None:
    if not subpath and not isinstance(value, Mapping):
        _set_path(payload, packed.name, value)  # a raw string: sent as given
        return
    timestamp = None
    if subpath:
        current = payload.get(packed.name, "{}")
        try:
            decoded = packed.decode(current)
        except ErrorInfoError as exc:
            raise OverrideError(f"cannot set {packed.name}.{subpath}: {exc}") from None
        obj: dict[str, Any] = copy.deepcopy(decoded.data)
        timestamp = decoded.timestamp
        _set_path(obj, subpath, value)
    else:
        obj = dict(value)
    payload[packed.name] = packed.encode(obj, timestamp=timestamp)


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = target
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise OverrideError(
                f"cannot set {path!r}: {where!r} is a {type(child).__name__}, not an object"
            )
        node = child
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def parse_assignment(text: str) -> tuple[str, str]:
    """``FIELD=VALUE`` → (FIELD, VALUE); the value is kept as text."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise OverrideError(f"expected FIELD=VALUE, got {text!r} (e.g. --set ext=order-42)")
    return name.strip(), value


def coerce_value(kind: str | ReceiptKind, path: str, raw: str) -> Any:
    """``raw`` converted to the JSON type the kind's schema declares for ``path``.

    Fields declared as strings keep the text as typed (``--set code=0`` gives the number 0 for
    NXCloud, ``--set TypeId=25`` the string for eSMS). Undeclared fields take JSON when the text
    parses as JSON, else the text; a family whose transport carries text (a query string, a
    form) keeps every value as text, except inside a packed field (eSMS ``error_info``).
    """
    spec = get_kind(kind)
    parts = path.split(".")
    packed = spec.packed is not None and parts[0] == spec.packed.name
    if spec.packed is not None and packed:
        if len(parts) == 1:
            return _parse_json_object(path, raw) if raw.lstrip().startswith("{") else raw
        node = resolve_subschema(spec.packed.schema, parts[1:])
    else:
        node = resolve_subschema(spec.name, parts)
    declared = _declared_types(node)
    if spec.transport.text_values and not packed:
        return raw  # a query string or a form carries only text
    if declared is not None and "string" in declared:
        return raw
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except ValueError:
        if declared is None:
            return raw
        raise OverrideError(
            f"{path}={raw!r}: {spec.name} declares {path} as {' or '.join(sorted(declared))}; "
            'give a JSON value (e.g. 42, 4.5, true, null, {"a": 1})'
        ) from None
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json_object(path: str, raw: str) -> Any:
    try:
        return loads_json(raw, path)
    except ValueError as exc:
        raise OverrideError(f"{path}={raw!r} is not valid JSON: {exc}") from None


def _declared_types(node: Mapping[str, Any] | None) -> set[str] | None:
    if not node:
        return None
    declared = node.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    for keyword in ("const", "enum"):
        if keyword in node:
            values = node[keyword] if keyword == "enum" else [node[keyword]]
            return {"string" if isinstance(v, str) else "number" for v in values}
    for keyword in ("anyOf", "oneOf"):
        if keyword in node:
            types: set[str] = set()
            for branch in node[keyword]:
                types |= _declared_types(branch) or set()
            return types or None
    return None


class RawValue(str):
    """A value typed as text (``--set K=V``): each receipt kind types it by its own schema."""


def _finite(value: Any, path: str) -> None:
    """Refuse NaN and infinities anywhere in ``value``: they are not JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        raise OverrideError(
            f"{path}={value!r}: NaN and infinities are not JSON and are never sent; give a "
            "finite number"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            _finite(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _finite(item, f"{path}[{index}]")


def _present(node: Any, parts: list[str]) -> bool:
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def override_paths(payload: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every dotted path in ``payload`` (nested objects included), for suggestions."""
    paths: list[str] = []
    for key, value in payload.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(value, Mapping):
            paths += override_paths(value, path + ".")
    return paths


def path_known(kind: str | ReceiptKind, payload: Mapping[str, Any], path: str) -> bool:
    """Whether ``path`` names a field of ``kind``: in ``payload`` or declared by its schema
    (``error_info.FIELD``: in the decoded packed object or its schema)."""
    spec = get_kind(kind)
    parts = path.split(".")
    packed = spec.packed
    if packed is not None and parts[0] == packed.name and len(parts) > 1:
        try:
            decoded = packed.decode(str(payload.get(packed.name, "")))
        except ErrorInfoError:
            decoded = None
        if decoded is not None and _present(decoded.data, parts[1:]):
            return True
        return resolve_subschema(packed.schema, parts[1:]) is not None
    return _present(payload, parts) or resolve_subschema(spec.name, parts) is not None


def typed(kind: str | ReceiptKind, path: str, value: Any) -> Any:
    """``value`` for ``path`` of ``kind``: a :class:`RawValue` typed by the kind's schema."""
    if isinstance(value, RawValue):
        value = coerce_value(kind, path, str(value))
    _finite(value, path)
    return value
