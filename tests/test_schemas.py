"""The shipped JSON Schemas: well-formed, uniquely identified, locally connected, dispatching."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from jsonschema import Draft202012Validator
from referencing.exceptions import Unresolvable

from mock_server import PROVIDERS, load_payload
from mock_server._registry import SCHEMA_BASE, _load, schema_names, validator_for
from mock_server.providers import (
    esms,
    nxcloud,
    nxcloud_did_sms,
    nxcloud_ota,
    nxcloud_sms,
    nxcloud_super_message,
    nxcloud_viber,
    nxcloud_whatsapp,
)

UMBRELLAS = {provider.name: provider.umbrella_schema for provider in PROVIDERS.values()}


def umbrella_of(kind: str) -> str:
    """The umbrella schema of a kind's family (eSMS: one for the provider)."""
    if kind.startswith("esms."):
        return UMBRELLAS["esms"]
    return ".".join(kind.split(".")[:2]) + ".receipt"


def _document(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text("utf-8"))
    assert isinstance(document, dict), f"{path.name} holds no JSON object"
    return document


def _refs(node: Any, base: str) -> Iterator[tuple[str, str]]:
    """(the $ref as written, its absolute URI) for every $ref under ``node``."""
    if isinstance(node, dict):
        base = urljoin(base, node["$id"]) if isinstance(node.get("$id"), str) else base
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value, urljoin(base, value)
            elif key not in ("const", "enum", "examples", "default"):
                yield from _refs(value, base)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item, base)


def test_schema_passes_the_draft_2020_12_metaschema(schema_path: Path) -> None:
    document = _document(schema_path)
    assert document.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(document)


def test_schema_id_is_its_file_name_under_the_stable_base(schema_path: Path) -> None:
    assert _document(schema_path)["$id"] == SCHEMA_BASE + schema_path.name


def test_schema_ids_are_unique(project_root: Path) -> None:
    ids = [_document(p)["$id"] for p in sorted((project_root / "schemas").glob("*.json"))]
    assert ids
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_registry_holds_every_schema_file(project_root: Path) -> None:
    on_disk = {p.name.removesuffix(".json") for p in (project_root / "schemas").glob("*.json")}
    assert on_disk <= set(schema_names())


def test_every_ref_resolves_through_the_local_registry(schema_path: Path) -> None:
    # The registry has no retrieve hook: anything not shipped is Unresolvable, never fetched.
    document = _document(schema_path)
    resolver = _load()[0].resolver()
    for written, uri in _refs(document, document["$id"]):
        try:
            resolved = resolver.lookup(uri)
        except Unresolvable as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{schema_path.name}: $ref {written!r} ({uri}) does not resolve: {exc!r}")
        assert resolved.contents is not None, written


def test_the_registry_does_not_fetch_unknown_uris() -> None:
    with pytest.raises(Unresolvable):
        _load()[0].resolver().lookup("https://json-schema.org/draft/2019-09/schema")


# ------------------------------------------------------------------------- umbrella schemas
def test_each_provider_has_an_umbrella_schema() -> None:
    assert UMBRELLAS == {"nxcloud": "nxcloud.zalo.receipt", "esms": "esms.callback"}
    assert set(UMBRELLAS.values()) <= set(schema_names())


def test_umbrella_accepts_every_seed_example(example_path: Path, example_kind: str) -> None:
    payload = load_payload(example_path.read_text("utf-8"))
    umbrella = validator_for(umbrella_of(example_kind))
    assert list(umbrella.iter_errors(payload)) == []


def test_every_nxcloud_family_has_an_umbrella_schema() -> None:
    for family in nxcloud.FAMILIES:
        assert f"{family}.receipt" in schema_names()


def _discriminators(kind: str) -> tuple[str, dict[Any, str]]:
    family = ".".join(kind.split(".")[:2])
    if family == "nxcloud.zalo":
        return "status", {status: f"nxcloud.zalo.{status}" for status in nxcloud.STATUSES}
    if family == "nxcloud.viber":
        return "status", {status: f"nxcloud.viber.{status}" for status in nxcloud_viber.STATUSES}
    if family == "nxcloud.sms":
        return "status", {code: f"nxcloud.sms.{suffix}"
                          for code, (suffix, _, _) in nxcloud_sms.STATUS_CODES.items()}
    if family == "nxcloud.whatsapp":
        return "statuses.0.status", {status: f"nxcloud.whatsapp.{status}"
                                     for status in nxcloud_whatsapp.STATUSES}
    if family == "nxcloud.did_sms":
        return "smsStatus", {status: f"nxcloud.did_sms.{suffix}"
                             for status, (suffix, _) in nxcloud_did_sms.REPORTS.items()}
    if family == "nxcloud.super_message":
        return "code", {code: f"nxcloud.super_message.{suffix}"
                        for code, (suffix, _, _) in nxcloud_super_message.CODES.items()}
    if family == "nxcloud.ota":
        return "status", {status: f"nxcloud.ota.{status.lower()}"
                          for status in nxcloud_ota.STATUSES}
    return "TypeId", dict(esms.TYPE_IDS)


SHAPED = {"nxcloud.whatsapp.inbound": "messages", "nxcloud.viber.reply": "message",
          "nxcloud.whatsapp.template_event": "value", "nxcloud.whatsapp.account_event": "value",
          "nxcloud.voice.report": "voice_type", "nxcloud.number_check.basic": "data",
          "nxcloud.number_check.hlr": "data", "nxcloud.number_check.call": "data",
          "nxcloud.number_check.failed": "code", "nxcloud.pns.call_result": "callId",
          "nxcloud.pns.error": "data", "nxcloud.nxcc.call_log": "direction",
          "nxcloud.nxphone.cdr": "hangup_cause", "nxcloud.nxphone.call_status": "state",
          **{f"nxcloud.predictive.{suffix}": "state"
             for suffix in ("agent_ready", "agent_answer", "agent_hungup", "call_calling",
                            "call_answer", "call_hungup")}}
"""Kinds with no status to relabel, and a field whose breaking the umbrella must notice."""


def _relabel(payload: dict[str, Any], field: str, label: str) -> dict[str, Any]:
    relabelled = copy.deepcopy(payload)
    *parents, last = field.split(".")
    node: Any = relabelled
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = label
    return relabelled


def test_umbrella_dispatches_exactly_like_the_kind_schemas(
    example_path: Path, example_kind: str
) -> None:
    """Relabel a seed example with every status / TypeId of its provider: the umbrella agrees
    with the kind schema that label selects (a superset shape may fit several kinds: lenient)."""
    field, kinds = _discriminators(example_kind)
    umbrella = validator_for(umbrella_of(example_kind))
    payload = load_payload(example_path.read_text("utf-8"))
    if example_kind in SHAPED:  # no status: told apart by shape
        field = SHAPED[example_kind]
        assert umbrella.is_valid(payload)
        assert not umbrella.is_valid({**payload, field: [{"not": "it"}]})
        return
    for label, kind in kinds.items():
        relabelled = _relabel(payload, field, label)
        expected = not list(validator_for(kind).iter_errors(relabelled))
        assert umbrella.is_valid(relabelled) is expected, (label, kind)


@pytest.mark.parametrize(
    ("example", "field", "label", "missing"),
    [
        ("nxcloud.zalo.success.json", "status", "journey_time_out", "journeyId"),
        ("nxcloud.zalo.delivered.json", "status", "journey_acknowledged", "timestamp"),
        ("nxcloud.zalo.journey_time_out.json", "status", "delivered", "requestId"),
        ("esms.sms.ads.url", "TypeId", "2", "telcoid"),
        ("esms.sms.cskh.url", "TypeId", "25", "error_info"),
        ("esms.sms.ads.url", "TypeId", "23", "phonenumber"),
        ("esms.viber.message.url", "TypeId", "27", "error_info"),
        ("esms.zalo.follower.consulting.url", "TypeId", "24", "tempid"),
    ],
)
def test_umbrella_rejects_a_shape_labelled_as_another_kind(
    examples_dir: Path, example: str, field: str, label: str, missing: str
) -> None:
    payload = load_payload((examples_dir / example).read_text("utf-8"))
    payload[field] = label
    umbrella = validator_for(UMBRELLAS["nxcloud" if field == "status" else "esms"])
    errors = [e for top in umbrella.iter_errors(payload) for e in [top, *(top.context or [])]]
    assert errors, f"{example} relabelled {field}={label!r} was accepted"
    assert any(missing in e.message for e in errors), [e.message for e in errors]


@pytest.mark.parametrize(
    ("umbrella", "payload"),
    [
        ("nxcloud.zalo.receipt", {"status": "sent", "code": 0, "message": "x"}),
        ("nxcloud.zalo.receipt", {"code": 0, "message": "no status"}),
        ("esms.callback", {"TypeId": "99", "SMSID": "x"}),
        ("esms.callback", {"TypeId": 25, "SMSID": "x"}),
        ("esms.callback", {"SMSID": "x", "SendStatus": "5"}),  # no TypeId, not voice nor MO
        ("esms.callback", {"ReferenceId": "x", "SentResult": "1"}),  # a voice callback in part
    ],
)
def test_umbrella_rejects_unknown_or_missing_discriminators(
    umbrella: str, payload: dict[str, Any]
) -> None:
    assert not validator_for(umbrella).is_valid(payload)
