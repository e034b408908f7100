"""A run's delivery policy: the family's, with overrides checked and applied in order."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import RunError
from .._scenarios import Scenario
from ..providers import ACKNOWLEDGE_RULES, DeliveryPolicy
from .outcomes import ACKNOWLEDGED, BLOCKED, CANCELLED, LOST_ACK, OUTCOMES

_RETRYABLE = frozenset(OUTCOMES) - {ACKNOWLEDGED, LOST_ACK, CANCELLED, BLOCKED}


POLICY_SETTINGS = ("timeout", "retries", "retry_interval", "retry_on", "acknowledge", "parameters")
"""What a run, a scenario or the server config may override of a provider's policy."""
MAX_SECONDS = 31_536_000.0

def check_policy(overrides: Mapping[str, Any]) -> None:
    """Reject override values of the wrong type or range, naming them (``ValueError``)."""

    unknown = sorted(set(overrides) - set(POLICY_SETTINGS))
    if unknown:
        raise ValueError(
            f"unknown delivery policy setting {unknown[0]!r}; known: {', '.join(POLICY_SETTINGS)}"
            " (the transport, POST or GET, is the provider's own)"
        )

    def number(name: str, minimum: float, inclusive: bool) -> None:
        value = overrides[name]
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if (
            not ok
            or not math.isfinite(value)
            or value > MAX_SECONDS
            or not (value >= minimum if inclusive else value > minimum)
        ):
            bound = ">=" if inclusive else ">"
            raise ValueError(
                f"policy {name!r} must be a number {bound} {minimum:g}, got {value!r} "
                f"(seconds, at most {MAX_SECONDS:g})"
            )

    if "timeout" in overrides:
        number("timeout", 0, inclusive=False)
    if "retry_interval" in overrides:
        number("retry_interval", 0, inclusive=True)
    if "retries" in overrides:
        value = overrides["retries"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise ValueError(f"policy 'retries' must be an integer from 0 to 100, got {value!r}")
    if "acknowledge" in overrides and overrides["acknowledge"] not in ACKNOWLEDGE_RULES:
        raise ValueError(
            f"policy 'acknowledge' must be one of {', '.join(ACKNOWLEDGE_RULES)}, "
            f"got {overrides['acknowledge']!r}"
        )
    if "parameters" in overrides and overrides["parameters"] not in ("body", "query"):
        raise ValueError(
            f"policy 'parameters' must be 'body' or 'query' (where a form-encoded receipt "
            f"carries its fields), got {overrides['parameters']!r}"
        )
    if "retry_on" in overrides:
        value = overrides["retry_on"]
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise ValueError(
                f"policy 'retry_on' must be a list of outcomes, got {value!r}; "
                f"choose from {', '.join(sorted(_RETRYABLE))}"
            )
        for item in value:
            if item not in _RETRYABLE:
                raise ValueError(
                    f"policy 'retry_on' has unknown outcome {item!r}; "
                    f"choose from {', '.join(sorted(_RETRYABLE))}"
                )

def run_policy(
    spec: Scenario,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> DeliveryPolicy:
    """The delivery policy of a run of ``spec``: its first kind's family policy (else its
    provider's), with ``defaults`` (e.g. the server's config), the scenario's own ``policy`` and
    the run's ``overrides`` applied in that order."""
    base = spec.first_kind.policy
    merged = {**(defaults or {}), **spec.policy, **(overrides or {})}
    try:
        check_policy(merged)
        return base.with_overrides(merged) if merged else base
    except (ValueError, TypeError) as exc:
        raise RunError(str(exc)) from None

