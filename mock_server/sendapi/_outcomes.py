"""Which scenario a sent message plays: by recipient number (magic suffix), header, or default.

An *outcome* is provider-neutral (``delivered``, ``failed``…); each provider and receipt kind
turns it into a built-in scenario name or, where no built-in fits, a small inline scenario.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import close_matches
from .._scenarios import builtin_scenarios
from ..providers import PROVIDERS
from ._settings import OUTCOMES, Delay, SendSettings

__all__ = [
    "ESMS_KINDS",
    "JOURNEY_LIFETIME_DAYS",
    "NXCLOUD_SCENARIOS",
    "SCENARIO_HEADER",
    "Decision",
    "ScenarioChoice",
    "choose",
    "decide",
    "delivery_kinds",
    "esms_scenario",
    "final_state",
    "journey_expiry_scenario",
    "magic_suffix",
    "nxcloud_journey_scenario",
    "outcome_for",
    "plays_journey_acknowledged",
]

SCENARIO_HEADER = "X-Dlrmock-Scenario"
"""Request header naming an outcome (``failed``) or a scenario (``nxcloud.zalo.failed``)."""

NXCLOUD_SCENARIOS: Mapping[str, str] = {
    "delivered": "nxcloud.zalo.success_then_delivered",
    "failed": "nxcloud.zalo.failed",
    "no_receipt": "nxcloud.zalo.success_never_delivered",
    "duplicate": "nxcloud.zalo.duplicate_delivered",
    "out_of_order": "nxcloud.zalo.delivered_before_success",
    # NXCloud pushes each receipt once: a lost acknowledgement changes nothing the app sees.
    "lost_ack": "nxcloud.zalo.success_then_delivered",
}
"""Outcome → built-in scenario for an NXCloud Zalo message."""

ESMS_KINDS = (
    "esms.sms.ads",
    "esms.sms.cskh",
    "esms.viber.message",
    "esms.zns.priority",
    "esms.zns.normal",
    "esms.zalo.follower",
    "esms.zns.journey",
)

JOURNEY_LIFETIME_DAYS: Mapping[str, int] = {
    "token_logistics_7": 7,
    "token_logistics_30": 30,
    "token_coach_bus_7": 7,
    "token_coach_bus_30": 30,
}
"""NXCloud journey token type → lifetime in days (the ``_7``/``_30`` suffix)."""

_DAY = 86_400.0
_ACK_DELAY = 2.0


def magic_suffix(phone: str, table: Mapping[str, str]) -> str:
    """The longest suffix of ``table`` that ``phone`` ends in, ``""`` when none does."""
    return max((suffix for suffix in table if phone.endswith(suffix)), key=len, default="")


def outcome_for(phone: str, settings: SendSettings) -> str:
    """The outcome the recipient's number asks for: the longest matching magic suffix wins."""
    best = magic_suffix(phone, settings.magic_numbers)
    return settings.magic_numbers[best] if best else settings.default_outcome


@dataclass(frozen=True)
class Decision:
    """What a message plays: an outcome or a scenario, after how long, and who said so."""

    outcome: str | None
    scenario: str | None
    delay: float
    because: str
    """``X-Dlrmock-Scenario header``, ``send.rules[N]``, ``number suffix 1111`` or ``default``."""


def draw(delay: Delay, rng: random.Random) -> float:
    """Seconds from a ``receipt_delay`` setting: the number, or uniform in ``[min, max]``."""
    if isinstance(delay, tuple):
        return rng.uniform(delay[0], delay[1])
    return float(delay)


def decide(settings: SendSettings, provider: str, choice: ScenarioChoice | None,
           values: Mapping[str, str], rng: random.Random, *, family: str | None = None
           ) -> Decision:
    """How one message ends. The scenario header wins, then the first matching ``send.rules``
    entry, then the longest matching magic number suffix, then ``default_outcome``.

    ``values`` are the rule fields (``provider``, ``api``, ``phone``, ``content``, ``template``,
    ``request_id``) of the message. With ``family`` (``nxcloud.sms``), a rule naming a scenario
    of another family is skipped, as one of another provider is.
    """
    if choice is not None:
        return Decision(choice.outcome, choice.scenario, draw(settings.receipt_delay, rng),
                        f"the {SCENARIO_HEADER} header")
    for index, rule in enumerate(settings.rules):
        if rule.scenario is not None and not rule.scenario.startswith(f"{family or provider}."):
            continue  # another provider's scenario: the rule is not about this API
        if rule.matches({"provider": provider, **values}):
            delay = rule.receipt_delay if rule.receipt_delay is not None \
                else settings.receipt_delay
            return Decision(rule.outcome, rule.scenario, draw(delay, rng), f"send.rules[{index}]")
    best = magic_suffix(values.get("phone", ""), settings.magic_numbers)
    delay = draw(settings.receipt_delay, rng)
    if best:
        return Decision(settings.magic_numbers[best], None, delay, f"number suffix {best}")
    return Decision(settings.default_outcome, None, delay, "default_outcome")


def delivery_kinds(scenario: Any) -> list[str]:
    """The kinds of the receipts a resolved scenario sends, in sending order (copies too)."""
    steps = list(scenario.steps)
    order = list(range(len(steps)))
    for index, step in enumerate(steps):
        if step.reorder:
            order[index], order[index + 1] = order[index + 1], order[index]
    return [steps[i].kind for i in order for _ in range(steps[i].duplicate + 1)]


class ScenarioChoice:
    """What the request asked for: an outcome, or (with the header) a scenario by name."""

    __slots__ = ("outcome", "scenario")

    def __init__(self, outcome: str | None = None, scenario: str | None = None) -> None:
        self.outcome = outcome
        self.scenario = scenario

    def __repr__(self) -> str:
        return f"ScenarioChoice(outcome={self.outcome!r}, scenario={self.scenario!r})"


def choose(header: str | None, provider: str) -> ScenarioChoice | None:
    """The choice the scenario header makes, ``None`` without the header.

    Raises ``ValueError`` (the message names the header and the fix) for a scenario of the
    other provider or a value that is neither an outcome nor a scenario name.
    """
    if header is None or not header.strip():
        return None
    value = header.strip()
    if value in OUTCOMES:
        return ScenarioChoice(outcome=value)
    if value.startswith(f"{provider}."):
        # Built-in names only: the value comes from a remote caller, and a name that is not
        # built in would be read as a file path by resolve() (and its error would tell whether
        # such a file exists).
        if value not in builtin_scenarios():
            close = close_matches(value[:100], builtin_scenarios())
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"{SCENARIO_HEADER}: {value[:100]!r} is not a built-in {provider} scenario; "
                f"{hint}name one that `dlrmock scenarios` lists, or an outcome "
                f"({', '.join(OUTCOMES)})"
            )
        return ScenarioChoice(scenario=value)
    other = value.split(".", 1)[0]
    if other != provider and other in PROVIDERS:
        raise ValueError(
            f"{SCENARIO_HEADER}: {value!r} is a scenario of {other}; this is the {provider} API "
            f"(name a '{provider}.…' scenario or an outcome: {', '.join(OUTCOMES)})"
        )
    raise ValueError(
        f"{SCENARIO_HEADER}: {value!r} is neither an outcome ({', '.join(OUTCOMES)}) nor a "
        f"{provider} scenario name ('{provider}.…'; `dlrmock scenarios` lists them)"
    )


def final_state(outcome: str | None, scenario: str | None = None) -> str:
    """``delivered``, ``failed`` or ``pending``: where a message ends (for ``GetSendStatus``)."""
    if scenario is not None:
        return "failed" if ".failed" in scenario else "delivered"
    if outcome == "failed":
        return "failed"
    if outcome in ("no_receipt", "hold"):
        return "pending"
    return "delivered"


def esms_scenario(kind: str, outcome: str) -> str | dict[str, Any] | None:
    """The scenario of an eSMS message of receipt ``kind``; ``None``: no callback at all.

    eSMS sends one callback per message, at its final status, so ``out_of_order`` has nothing
    to reorder and plays ``<kind>.delivered``; ``duplicate`` and ``lost_ack`` use inline
    scenarios where no built-in exists.
    """
    if outcome == "failed":
        return f"{kind}.failed"
    if kind == "esms.template.registration" and outcome not in ("no_receipt", "duplicate",
                                                               "lost_ack"):
        return f"{kind}.registered"
    if outcome == "no_receipt":
        return None
    if outcome == "duplicate":
        return {
            "name": f"{kind}.duplicate",
            "description": "the same callback twice; a correct receiver processes it once",
            "expect": {"final": "delivered"},
            "steps": [{"kind": kind, "duplicate": 1}],
        }
    if outcome == "lost_ack":
        if kind == "esms.sms.cskh":
            return "esms.sms.cskh.retried_after_lost_ack"
        return {
            "name": f"{kind}.retried_after_lost_ack",
            "description": "every answer is lost, so eSMS sends the same callback 1 + 5 times",
            "expect": {"final": "delivered"},
            "steps": [{"kind": kind, "lost_ack": True}],
        }
    return f"{kind}.delivered"


def nxcloud_journey_scenario(outcome: str) -> str | dict[str, Any]:
    """The scenario of a Zalo message sent with a ``journeyToken``.

    A journey that is used plays ``success`` then ``journey_acknowledged`` (charging begins);
    ``failed`` and ``no_receipt`` never acknowledge it, so the token stays unused.
    """
    if outcome == "failed":
        return NXCLOUD_SCENARIOS["failed"]
    if outcome == "no_receipt":
        return NXCLOUD_SCENARIOS["no_receipt"]
    success: dict[str, Any] = {"kind": "nxcloud.zalo.success"}
    acknowledged: dict[str, Any] = {"kind": "nxcloud.zalo.journey_acknowledged",
                                    "after": _ACK_DELAY}
    name, description = "nxcloud.zalo.journey_used", "journey message sent, then charged"
    if outcome == "duplicate":
        acknowledged["duplicate"] = 1
        name += ".duplicate"
        description += "; journey_acknowledged twice"
    elif outcome == "out_of_order":
        success["reorder"] = True
        name += ".out_of_order"
        description += "; journey_acknowledged overtakes success"
    return {
        "name": name,
        "description": description,
        "expect": {"final": "journey_acknowledged"},
        "steps": [success, acknowledged],
    }


JOURNEY_EXPIRY_SCENARIO = "nxcloud.zalo.journey_token_expiry"


def journey_expiry_scenario(token_type: str) -> dict[str, Any]:
    """The inline scenario of a journey token never used: ``journey_time_out`` at its lifetime."""
    days = JOURNEY_LIFETIME_DAYS[token_type]
    return {
        "name": JOURNEY_EXPIRY_SCENARIO,
        "description": f"{token_type} never used: journey_time_out after {days} days",
        "expect": {"final": "journey_time_out", "key": "journeyId"},
        "steps": [{"kind": "nxcloud.zalo.journey_time_out", "after": days * _DAY}],
    }


def plays_journey_acknowledged(scenario: str | Mapping[str, Any]) -> bool:
    """Whether ``scenario`` sends ``journey_acknowledged`` (so the journey token counts as used)."""
    if isinstance(scenario, str):
        return "journey_acknowledged" in scenario
    steps = scenario.get("steps", [])
    return any(isinstance(s, Mapping) and s.get("kind") == "nxcloud.zalo.journey_acknowledged"
               for s in steps)
