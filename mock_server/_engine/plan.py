"""Planning a run: its message, each receipt with its overrides, the exact request to send."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._errors import OverrideError, RunError, close_matches
from .._factory import (
    RawValue,
    ReceiptFactory,
    apply_overrides,
    delivery_request,
    override_paths,
    path_known,
    typed,
)
from .._registry import validate
from .._scenarios import Scenario
from ..providers import DeliveryPolicy, Payload, ReceiptKind
from .records import Delivery, is_receipt_json

INVALID_OVERRIDE = "invalid_override"
"""How the journal marks a receipt made invalid by a field override the caller allowed."""

def _message_value(value: Any, generated: Any) -> Any:
    """A shared message field from a caller's value (text from the CLI takes the generated
    value's type: ``--set receivers=40`` is the number 40)."""
    if isinstance(value, RawValue):
        if isinstance(generated, str):
            return str(value)
        try:
            return json.loads(value)
        except ValueError:
            return str(value)
    return value

def _planned_payloads(
    factory: ReceiptFactory,
    spec: Scenario,
    message: dict[str, Any],
    fields: Mapping[str, Any],
    allow_invalid: bool,
) -> tuple[list[Payload], dict[int, str]]:
    """Each step's receipt with the overrides applied: the scenario's ``set``, the step's, then
    the caller's ``fields`` (which win); a caller's path must exist in some receipt, and a
    receipt it makes invalid is refused unless ``allow_invalid`` (then marked malformed)."""
    payloads: list[Payload] = []
    changed: list[tuple[int, ReceiptKind, dict[str, Any]]] = []
    known: set[str] = set()
    bases: list[Payload] = []
    for index, step in enumerate(spec.steps):
        base = factory.receipt(step.spec, message)
        bases.append(base)
        here = {k: v for k, v in fields.items() if str(k).split(".", 1)[0] in base}
        known.update(k for k in here if path_known(step.spec, base, str(k)))
        mine = {k: typed(step.spec, str(k), v) for k, v in here.items()}
        every = {k: v for k, v in spec.set.items() if str(k).split(".", 1)[0] in base}
        overrides = {**every, **step.set, **mine}
        payloads.append(apply_overrides(step.spec, base, overrides) if overrides else base)
        if mine:
            changed.append((index, step.spec, mine))
    unknown = [k for k in fields if k not in known and k not in message]
    if unknown:
        name = str(unknown[0])
        suggestions = {path for base in bases for path in override_paths(base)}
        close = close_matches(name, suggestions)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise RunError(
            f"field {name!r} is in none of the receipts of {spec.name} "
            f"({', '.join(dict.fromkeys(spec.kinds))}); {hint}check its spelling, or set it in "
            "a step's 'set' of your own scenario to add it"
        )
    invalid: dict[int, str] = {}
    for index, kind, mine in changed:
        problems = validate(payloads[index], kind=kind)
        if problems and not allow_invalid:
            given = ", ".join(f"{k}={v!r}" for k, v in mine.items())
            raise OverrideError(
                f"{given} makes the {kind.name} receipt of step {index} invalid: {problems[0]}; "
                "fix the value, or send it anyway with --allow-invalid (allow_invalid=True in "
                "Python and the admin API), marked malformed"
            )
        if problems:
            invalid[index] = INVALID_OVERRIDE
    return payloads, invalid

def plan_run(
    factory: ReceiptFactory,
    spec: Scenario,
    url: str,
    fields: Mapping[str, Any],
    message_fields: Mapping[str, Any],
    encoding: int | None,
    allow_invalid: bool = False,
    *,
    policy: DeliveryPolicy | None = None,
) -> tuple[dict[str, Any], list[Delivery]]:
    """The message and the deliveries of one run of ``spec`` at ``url``, in sending order.

    Receipts come from ``factory`` (seed it first for reproducible data); ``fields`` override
    receipt fields wherever they appear, ``message_fields`` set shared message fields; each
    delivery carries the exact request to send (the engine and the Locust user both send these).
    """
    message = factory.message(spec.first_kind.provider)
    shared = {k: _message_value(v, message[k]) for k, v in fields.items() if k in message}
    message.update(spec.message)
    message.update(message_fields)
    message.update(shared)
    payloads, invalid = _planned_payloads(
        factory, spec, message, fields, allow_invalid
    )
    order = list(range(len(spec.steps)))
    for index, step in enumerate(spec.steps):
        if step.reorder:
            order[index], order[index + 1] = order[index + 1], order[index]
    deliveries: list[Delivery] = []
    for position, source in enumerate(order):
        timing = spec.steps[position]
        step = spec.steps[source]
        request, sent = delivery_request(  # the policy may put a form in the URL
            step.spec, payloads[source], url, encoding, step.malformed,
            policy.parameters if policy is not None else "body",
        )
        malformed = step.malformed or invalid.get(source)
        first = Delivery(
            step=source,
            copy=0,
            kind=step.kind,
            after=timing.after,
            # A JSON body is the receipt, kept once (read back as a dict): a run waiting to be
            # sent holds bytes, not a tree of dicts the garbage collector walks.
            payload=request.body if is_receipt_json(request.body, request.headers,
                                                    malformed) else sent,
            request=request,
            lost_ack=step.lost_ack,
            malformed=malformed,
        )
        deliveries.append(first)
        deliveries += (first.replace(copy=copy, after=0.0) for copy in range(1, step.duplicate + 1))
    return message, deliveries
