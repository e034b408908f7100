"""The published schemas, loaded from package data into one ``referencing`` registry.

Every ``$ref`` resolves locally; nothing is fetched from the network. Validators are built once
per (schema, strictness) and reused.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match, relevance
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from ._errors import ErrorInfoError, PayloadError, UnknownKindError
from ._limits import loads_json
from ._wire import parse_callback
from .providers import KINDS, PackedField, ReceiptKind, detect_provider_kind, get_kind

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = [
    "SCHEMA_BASE",
    "Problem",
    "detect_kind",
    "load_payload",
    "schema",
    "schema_names",
    "validate",
    "validator_for",
]

SCHEMA_BASE = "https://dlrmock.dev/schemas/"


def schema_dir() -> Traversable:
    """Where the schemas are: package data when installed, ``schemas/`` in a source checkout."""
    packaged = files("mock_server") / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "schemas"


@functools.cache
def _load() -> tuple[Registry[Any], dict[str, dict[str, Any]]]:
    contents: dict[str, dict[str, Any]] = {}
    for entry in schema_dir().iterdir():
        if entry.name.endswith(".json") and entry.is_file():
            contents[entry.name.removesuffix(".json")] = json.loads(entry.read_text("utf-8"))
    if not contents:
        raise RuntimeError(f"no schemas found in {schema_dir()}; the installation is incomplete")
    registry: Registry[Any] = Registry().with_resources(
        (document["$id"], Resource.from_contents(document, default_specification=DRAFT202012))
        for document in contents.values()
    )
    return registry.crawl(), contents


def schema_names() -> list[str]:
    """The names of every shipped schema (file names without ``.json``)."""
    return sorted(_load()[1])


def schema(name: str) -> dict[str, Any]:
    """The schema document called ``name`` (e.g. ``nxcloud.zalo.success``)."""
    try:
        return _load()[1][name]
    except KeyError:
        raise UnknownKindError(name, _load()[1]) from None


@functools.cache
def validator_for(name: str, strict: bool = False) -> Draft202012Validator:
    """The validator of schema ``name``, built once.

    ``strict`` adds what the provider documents beyond the lenient shape: no undocumented
    fields, values inside the documented sets.
    """
    registry, _ = _load()
    document = schema(name)
    if strict:
        uri = document["$id"]
        # Closed in the schema itself, not in a wrapper: the lenient additionalProperties (eSMS:
        # any extra string) would count every extra as evaluated, and a wrapper's
        # unevaluatedProperties would call every field undocumented once any of them is invalid.
        closed = {k: v for k, v in document.items() if k != "additionalProperties"}
        closed["unevaluatedProperties"] = False
        document = {
            "$schema": document["$schema"],
            "allOf": [closed, {"$ref": uri + "#/$defs/documented"}]
            if "documented" in document.get("$defs", {})
            else [closed],
        }
    return Draft202012Validator(document, registry=registry)


@dataclass(frozen=True)
class Problem:
    """One way a payload breaks its schema."""

    path: str
    """JSON path of the offending field, e.g. ``$.zaloRes.error``."""
    message: str
    validator: str = ""
    """The JSON Schema keyword that failed (``type``, ``required``…), or ``error_info``."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "validator": self.validator}


def _json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


_EVALUATING = frozenset({
    "properties", "patternProperties", "additionalProperties", "unevaluatedProperties",
    "dependentSchemas", "allOf", "anyOf", "oneOf", "if", "then", "else",
})
"""The keywords that decide which fields ``unevaluatedProperties`` counts as evaluated (plus
``$ref`` and the other ``$`` keywords, kept for references to resolve)."""


def unexpected_fields(error: ValidationError, validator: Any = None) -> list[str]:
    """The fields an ``additionalProperties`` / ``unevaluatedProperties`` error refuses, from
    its instance and schema (not its message), sorted as jsonschema lists them.

    ``unevaluatedProperties`` needs the ``validator`` that raised ``error``: a field is
    unexpected when the schema, with every other field of the instance declared, still
    refuses the object.
    """
    instance, schema = error.instance, error.schema
    if not isinstance(instance, Mapping) or not isinstance(schema, Mapping):
        return []
    declared = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    if error.validator == "additionalProperties":
        found = [k for k in instance
                 if k not in declared and not any(re.search(p, k) for p in patterns)]
        return sorted(found, key=str)
    if error.validator != "unevaluatedProperties" or validator is None:
        return []
    # Only what decides which fields count as evaluated; every declared field is evaluated
    # whatever its value, so its subschema need not be checked again.
    kept = {k: v for k, v in schema.items() if k in _EVALUATING or k.startswith("$")}
    found = []
    for key in instance:
        names = (set(declared) | set(instance)) - ({key} - set(declared))
        probe = {**kept, "properties": dict.fromkeys(names, True)}
        try:
            # descend() resolves the probe's references where the schema stands.
            errors = validator.descend(instance, probe)
            if any(e.validator == "unevaluatedProperties" and not e.path for e in errors):
                found.append(key)
        except Unresolvable:  # a reference the probe cannot reach: leave jsonschema's message
            return []
    return sorted(found, key=str)


def _missing_fields(errors: list[ValidationError]) -> dict[int, str]:
    """The field each ``required`` error is about, by ``id(error)``.

    jsonschema raises one error per missing field, in the order of the schema's list; errors
    of one ``required`` keyword (same instance, same schema path) are matched to the missing
    fields in that order.
    """
    fields: dict[int, str] = {}
    seen: dict[tuple[int, tuple[Any, ...]], int] = {}

    def visit(error: ValidationError) -> None:
        required: Any = error.validator_value
        if error.validator == "required" and isinstance(error.instance, Mapping):
            missing = [f for f in required if f not in error.instance]
            group = (id(error.instance), tuple(error.schema_path))
            index = seen[group] = seen.get(group, -1) + 1
            if index < len(missing):
                fields[id(error)] = missing[index]
        for child in error.context or ():
            visit(child)

    for error in errors:
        visit(error)
    return fields


def _problem(
    error: ValidationError,
    prefix: str = "$",
    missing: Mapping[int, str] | None = None,
    validator: Any = None,
) -> Problem:
    parts = list(error.absolute_path)
    message = error.message
    expected: Any = error.validator_value
    if error.validator == "required" and missing and id(error) in missing:
        field = missing[id(error)]
        parts.append(field)
        message = f"required field {field!r} is missing"
    elif error.validator in ("unevaluatedProperties", "additionalProperties"):
        names = unexpected_fields(error, validator)
        if names:
            message = (f"undocumented field {', '.join(map(repr, names))} "
                       "(the provider does not document it)")
            if len(names) == 1:
                parts.append(names[0])
    elif error.validator in ("const", "enum"):
        message = f"{error.instance!r} is not a documented value (expected " + (
            f"{expected!r})"
            if error.validator == "const"
            else f"one of {', '.join(map(repr, expected))})"
        )
    elif (
        error.validator == "not"
        and isinstance(expected, Mapping)
        and list(expected) == ["required"]
    ):
        # Without this the message repeats the whole payload.
        fields = " and ".join(map(repr, expected["required"]))
        message = f"fields {fields} must not appear together"
    path = _json_path(parts)
    if prefix != "$":
        path = prefix + path[1:]
    return Problem(path, message, str(error.validator))


def _problems(validator: Any, instance: Any, prefix: str = "$") -> list[Problem]:
    """Every way ``instance`` breaks ``validator``'s schema, the most relevant first."""
    errors = list(validator.iter_errors(instance))
    missing = _missing_fields(errors)
    return [_problem(e, prefix, missing, validator) for e in _ordered(errors)]


def _ordered(errors: list[ValidationError]) -> list[ValidationError]:
    """``best_match`` first (it may dig into an ``anyOf``), then the rest in document order,
    each dug into the same way (an ``anyOf``'s own message quotes the whole object)."""
    if not errors:
        return errors
    best = best_match(errors, key=relevance)
    assert best is not None
    rest = [
        best_match([e], key=relevance) or e
        for e in errors
        if e is not best and best not in _descendants(e)
    ]
    return [best, *sorted(rest, key=lambda e: [str(p) for p in e.absolute_path])]


def _descendants(error: ValidationError) -> Iterator[ValidationError]:
    for child in error.context or ():
        yield child
        yield from _descendants(child)


def load_payload(source: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """A payload from a mapping, a JSON text, an eSMS query string or a whole callback URL."""
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"payload is not UTF-8 text: {exc}") from None
    if not isinstance(source, str):
        raise PayloadError(
            f"payload is a Python {type(source).__name__}; pass a dict, a JSON text, an eSMS "
            "query string or a whole callback URL"
        )
    text = source.strip()
    if text.startswith(("{", "[", '"')):
        try:
            value = loads_json(text, "the payload")
        except ValueError as exc:
            raise PayloadError(f"payload looks like JSON but does not parse: {exc}") from None
        if not isinstance(value, dict):
            raise PayloadError(
                f"payload is a JSON {type(value).__name__}; a receipt is a JSON object"
            )
        return value
    return parse_callback(text)


def detect_kind(payload: str | bytes | Mapping[str, Any]) -> str:
    """The receipt kind of ``payload`` (from NXCloud's ``status`` or eSMS's ``TypeId``)."""
    return detect_provider_kind(load_payload(payload))


def validate(
    payload: str | bytes | Mapping[str, Any],
    kind: str | ReceiptKind | None = None,
    strict: bool = False,
) -> list[Problem]:
    """The problems ``payload`` has as a receipt of ``kind`` (detected when ``None``).

    Empty when valid; the most relevant problem first. A packed field (eSMS ``error_info``) is
    decoded and checked against its own schema, with paths like ``$.error_info.error``.
    """
    data = payload if type(payload) is dict else load_payload(payload)
    receipt_kind = get_kind(kind) if kind is not None else KINDS[detect_provider_kind(data)]
    problems = _problems(validator_for(receipt_kind.name, strict), data)
    packed = receipt_kind.packed
    if packed is not None:
        value = data.get(packed.name)
        where = f"$.{packed.name}"
        if isinstance(value, str) and not any(p.path == where for p in problems):
            problems.extend(_packed_problems(value, packed, strict))
    return problems


def schema_problems(name: str, instance: Any, strict: bool = False) -> list[Problem]:
    """The problems of ``instance`` against any shipped schema ``name``, most relevant first."""
    return _problems(validator_for(name, strict), instance)


def _packed_problems(value: str, packed: PackedField, strict: bool) -> list[Problem]:
    where = f"$.{packed.name}"
    try:
        decoded = packed.decode(value)
    except ErrorInfoError as exc:
        return [Problem(where, str(exc), "error_info")]
    return _problems(validator_for(packed.schema, strict), decoded.data, where)


def resolve_subschema(name: str, path: list[str]) -> dict[str, Any] | None:
    """The schema that ``path`` (field names) leads to inside schema ``name``, refs followed."""
    registry, _ = _load()
    resolver = registry.resolver()
    node: Any = schema(name)
    base = node["$id"]
    for part in [*path, None]:
        for _ in range(10):
            ref = node.get("$ref") if isinstance(node, dict) else None
            if ref is None:
                break
            try:
                resolved = resolver.lookup(ref if "://" in ref else _join(base, ref))
            except Unresolvable:
                return None
            node = resolved.contents
            resolver = resolved.resolver
            base = _join(base, ref).split("#", 1)[0]
        if part is None:
            return node if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        else:
            branches = [
                b for b in node.get("anyOf", []) if "properties" in b and part in b["properties"]
            ]
            if not branches:
                return None
            node = branches[0]["properties"][part]
    return None


def _join(base: str, ref: str) -> str:
    if ref.startswith("#"):
        return base.split("#", 1)[0] + ref
    return base.rsplit("/", 1)[0] + "/" + ref
