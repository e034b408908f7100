"""Outcome → scenario: every scenario the send APIs name exists, every inline one is valid."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mock_server._registry import validator_for
from mock_server._scenarios import builtin_scenarios, resolve
from mock_server.sendapi import (
    ESMS_KINDS,
    JOURNEY_LIFETIME_DAYS,
    NXCLOUD_SCENARIOS,
    PLAYABLE_OUTCOMES,
    esms_scenario,
    nxcloud_journey_scenario,
)
from mock_server.sendapi._outcomes import (
    choose,
    final_state,
    journey_expiry_scenario,
    plays_journey_acknowledged,
)

SEND_SCHEMAS = [
    "nxcloud.zalo.mt.request", "nxcloud.zalo.mt.response",
    "nxcloud.zalo.journey_token.request", "nxcloud.zalo.journey_token.response",
    "esms.send.common", "esms.send.sms.request", "esms.send.ads.request",
    "esms.send.viber.request", "esms.send.zns_v4.request", "esms.send.zns_v5.request",
    "esms.send.zns_v6.request", "esms.send.status.request", "esms.send.response",
    "esms.send.status.response",
]


def _kinds(scenario: str | dict[str, Any]) -> list[str]:
    return resolve(scenario).kinds


@pytest.mark.parametrize("outcome", PLAYABLE_OUTCOMES)
def test_every_nxcloud_outcome_names_a_built_in_scenario(outcome: str) -> None:
    assert NXCLOUD_SCENARIOS[outcome] in builtin_scenarios()


@pytest.mark.parametrize("outcome", PLAYABLE_OUTCOMES)
@pytest.mark.parametrize("kind", ESMS_KINDS)
def test_every_esms_kind_and_outcome_gives_a_playable_scenario_of_that_kind(
        kind: str, outcome: str) -> None:
    scenario = esms_scenario(kind, outcome)
    if outcome == "no_receipt":
        assert scenario is None
        return
    assert scenario is not None
    if isinstance(scenario, str):
        assert scenario in builtin_scenarios()
    assert set(_kinds(scenario)) == {kind}


@pytest.mark.parametrize("outcome", PLAYABLE_OUTCOMES)
def test_every_journey_outcome_gives_a_playable_scenario(outcome: str) -> None:
    kinds = _kinds(nxcloud_journey_scenario(outcome))
    acknowledged = "nxcloud.zalo.journey_acknowledged" in kinds
    assert acknowledged == (outcome not in ("failed", "no_receipt"))
    assert plays_journey_acknowledged(nxcloud_journey_scenario(outcome)) == acknowledged


@pytest.mark.parametrize("token_type", sorted(JOURNEY_LIFETIME_DAYS))
def test_journey_expiry_is_one_time_out_at_the_token_lifetime(token_type: str) -> None:
    spec = resolve(journey_expiry_scenario(token_type))
    [step] = spec.steps
    assert step.kind == "nxcloud.zalo.journey_time_out"
    assert step.after == JOURNEY_LIFETIME_DAYS[token_type] * 86_400


def test_the_journey_lifetimes_cover_every_documented_token_type() -> None:
    schema = validator_for("nxcloud.zalo.journey_token.request").schema
    assert isinstance(schema, Mapping)
    assert set(JOURNEY_LIFETIME_DAYS) == set(schema["properties"]["tokenType"]["enum"])


def test_the_built_in_journey_scenario_counts_as_acknowledging() -> None:
    assert plays_journey_acknowledged("nxcloud.zalo.journey_acknowledged_then_time_out")
    assert not plays_journey_acknowledged("nxcloud.zalo.success_then_delivered")


@pytest.mark.parametrize(("header", "outcome", "scenario"), [
    ("failed", "failed", None),
    (" nxcloud.zalo.duplicate_delivered ", None, "nxcloud.zalo.duplicate_delivered"),
])
def test_the_scenario_header_names_an_outcome_or_a_scenario(
        header: str, outcome: str | None, scenario: str | None) -> None:
    choice = choose(header, "nxcloud")
    assert choice is not None
    assert (choice.outcome, choice.scenario) == (outcome, scenario)


def test_no_header_no_choice() -> None:
    assert choose(None, "esms") is None and choose("  ", "esms") is None


@pytest.mark.parametrize(("outcome", "scenario", "final"), [
    ("delivered", None, "delivered"), ("failed", None, "failed"),
    ("no_receipt", None, "pending"), ("duplicate", None, "delivered"),
    (None, "esms.zns.normal.failed_user_inactive", "failed"),
    (None, "esms.sms.cskh.delivered", "delivered"),
])
def test_final_state_follows_the_outcome_or_the_scenario_name(
        outcome: str | None, scenario: str | None, final: str) -> None:
    assert final_state(outcome, scenario) == final


@pytest.mark.parametrize("name", SEND_SCHEMAS)
def test_every_send_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    validator = validator_for(name)
    schema = validator.schema
    assert isinstance(schema, Mapping)
    type(validator).check_schema(schema)
    assert schema["$id"] == f"https://dlrmock.dev/schemas/{name}.json"
