"""Bounds on untrusted input: how deep a JSON or YAML document may nest.

Python's JSON decoder, ``dataclasses.asdict``, jsonschema and PyYAML's composer all recurse, so a
document nested thousands of levels deep becomes a ``RecursionError`` somewhere far from where it
came in. Everything dlrmock parses from outside goes through :func:`loads_json` (or
:func:`nesting_depth` for YAML), which turns such a document into a ``ValueError`` naming the limit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "TooDeepError", "loads_json", "nesting_depth", "reject_constant"]

MAX_DEPTH = 64
"""Nesting levels a document may have: no receipt, scenario or send request needs a tenth."""


class TooDeepError(ValueError):
    """A document nested deeper than :data:`MAX_DEPTH` levels."""

    def __init__(self, what: str = "the JSON document") -> None:
        super().__init__(
            f"{what} is nested more than {MAX_DEPTH} levels deep; no payload needs that many, "
            "flatten it"
        )


def reject_constant(name: str) -> Any:
    """A ``parse_constant`` for :func:`json.loads`: ``NaN`` and ``Infinity`` are not JSON."""
    raise ValueError(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep ``value`` nests (a scalar is 0), counting no further than ``limit + 1``.

    Iterative, so it cannot itself overflow the stack, and it stops as soon as the limit is
    passed (a shared sub-document, as YAML aliases make, is not walked twice per level).
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen: set[tuple[int, int]] = set()
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        key = (id(node), depth)
        if key in seen:
            continue
        seen.add(key)
        depth += 1
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def loads_json(text: str | bytes, what: str = "the JSON document") -> Any:
    """``json.loads`` for untrusted text: ``ValueError`` (never ``RecursionError``) when it is
    not JSON, uses NaN/Infinity, or nests deeper than :data:`MAX_DEPTH`."""
    try:
        value = json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise TooDeepError(what) from None
    if nesting_depth(value) > MAX_DEPTH:
        raise TooDeepError(what)
    return value
