"""validate() and detect_kind(): the seed vectors pass, the invalid vectors fail at their field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mock_server import (
    KINDS,
    DetectionError,
    DlrmockError,
    PayloadError,
    Problem,
    UnknownKindError,
    detect_kind,
    load_payload,
    parse_callback,
    receipt,
    validate,
)
from mock_server._registry import validator_for


def _vector(path: Path) -> tuple[str, dict[str, Any]]:
    """(kind, the vector file's content); the kind is the directory name."""
    vector = json.loads(path.read_text("utf-8"))
    assert {"description", "expect_path", "payload"} <= set(vector), path.name
    return path.parent.name, vector


def _field(path: str) -> str:
    return path.rsplit(".", 1)[-1]


# ---------------------------------------------------------------------------- seed examples
def test_seed_example_validates_as_its_kind(example_path: Path, example_kind: str) -> None:
    text = example_path.read_text("utf-8")
    assert validate(text, kind=example_kind) == []


def test_seed_example_validates_strictly(example_path: Path, example_kind: str) -> None:
    assert validate(example_path.read_text("utf-8"), kind=example_kind, strict=True) == []


def test_seed_example_kind_is_detected(example_path: Path, example_kind: str) -> None:
    text = example_path.read_text("utf-8")
    assert detect_kind(text) == example_kind
    assert validate(text) == []


def test_every_kind_the_docs_show_has_a_seed_example(seed_examples: dict[Path, str]) -> None:
    # The docs show no TypeId 24 callback and only the delivered SMS report; the Viber seen /
    # expired and WhatsApp read examples are not in the shared vectors. Their invalid vectors
    # start from generated receipts.
    # The short-code MO push is documented only as a parameter template.
    # The template registration callback is not documented at all (a [choice] shape).
    without = {"esms.zns.priority", "esms.mo.shortcode", "esms.template.registration",
               "nxcloud.viber.seen",
               "nxcloud.viber.expired", "nxcloud.whatsapp.read"}
    without |= {f"nxcloud.sms.{s}" for s in ("undelivered", "rejected", "expired", "deleted",
                                             "dnd", "invalid_number", "invalid_sender", "unknown")}
    # The other callbacks' docs show one example each: a DID report, a Super Message delivered
    # report and an OTA success.
    without |= {"nxcloud.did_sms.undelivered", "nxcloud.did_sms.mo"}
    without |= {f"nxcloud.super_message.{s}" for s in ("failed", "undelivered", "expired")}
    without |= {f"nxcloud.ota.{s}" for s in ("pending", "mismatch", "failure", "unknown")}
    assert set(KINDS) - set(seed_examples.values()) == without


# ------------------------------------------------------------- documented parameter templates
def _filled(template: str, kind: str) -> dict[str, str]:
    """The template's parameters, in its order, valued from a generated receipt of ``kind``."""
    generated = receipt(kind, seed=9)
    return {name: generated[name] for name in parse_callback(template)}


def test_every_template_is_detected_as_its_kind_and_invalid_as_it_stands(
    template_path: Path, template_kind: str
) -> None:
    text = template_path.read_text("utf-8")
    assert detect_kind(text) == template_kind
    problems = validate(text, kind=template_kind)
    assert problems, "a template's blanks and {{placeholders}} are no receipt"


def test_every_template_names_the_kinds_parameters_in_the_generated_order(
    template_path: Path, template_kind: str
) -> None:
    names = list(parse_callback(template_path.read_text("utf-8")))
    assert names == list(receipt(template_kind, seed=9))


def test_every_template_filled_with_generated_values_validates_strictly(
    template_path: Path, template_kind: str
) -> None:
    payload = _filled(template_path.read_text("utf-8"), template_kind)
    assert validate(payload, kind=template_kind, strict=True) == []
    assert detect_kind(payload) == template_kind


def test_templates_cover_exactly_the_voice_and_mo_callbacks(examples_dir: Path) -> None:
    assert sorted(p.name for p in examples_dir.glob("*.template.url")) == [
        "esms.mo.shortcode.template.url",
        "esms.voice.call.template.url",
    ]


# -------------------------------------------------------------------------- invalid vectors
def test_invalid_vectors_cover_every_kind_three_times(project_root: Path) -> None:
    root = project_root / "tests" / "vectors" / "invalid"
    counts = {kind: len(list((root / kind).glob("*.json"))) for kind in KINDS}
    assert all(count >= 3 for count in counts.values()), counts
    assert {p.name for p in root.iterdir()} == set(KINDS)


def test_invalid_vector_fails_first_at_its_field(invalid_vector: Path) -> None:
    kind, vector = _vector(invalid_vector)
    problems = validate(vector["payload"], kind=kind)
    assert problems, f"{invalid_vector.name} ({vector['description']}) was accepted"
    first = problems[0]
    assert isinstance(first, Problem)
    assert first.path == vector["expect_path"], [str(p) for p in problems]
    assert _field(first.path) in str(first), "the message a person reads names the field"
    assert first.message and first.validator


def test_invalid_vector_fails_the_same_way_with_the_kind_detected(invalid_vector: Path) -> None:
    kind, vector = _vector(invalid_vector)
    assert detect_kind(vector["payload"]) == kind
    assert validate(vector["payload"])[:1] == validate(vector["payload"], kind=kind)[:1]


def test_invalid_vector_fails_in_strict_mode_too(invalid_vector: Path) -> None:
    kind, vector = _vector(invalid_vector)
    problems = validate(vector["payload"], kind=kind, strict=True)
    assert vector["expect_path"] in [p.path for p in problems], [str(p) for p in problems]


# ------------------------------------------------------------------------------ strict mode
def _example(examples_dir: Path, name: str) -> dict[str, Any]:
    return load_payload((examples_dir / name).read_text("utf-8"))


@pytest.mark.parametrize(
    "name", ["nxcloud.zalo.delivered.json", "esms.zns.normal.url", "esms.sms.ads.url"]
)
def test_undocumented_field_is_reported_only_in_strict_mode(examples_dir: Path, name: str) -> None:
    payload = {**_example(examples_dir, name), "foo": "bar"}
    assert validate(payload) == []
    problems = validate(payload, strict=True)
    assert [p.path for p in problems] == ["$.foo"]
    assert "undocumented" in problems[0].message


def test_strict_names_only_the_undocumented_field_when_another_is_invalid(
    examples_dir: Path,
) -> None:
    payload = {**_example(examples_dir, "nxcloud.zalo.success.json"), "sendTime": "yesterday"}
    payload["extra"] = 1
    assert sorted(p.path for p in validate(payload, strict=True)) == ["$.extra", "$.sendTime"]


def test_ext_on_journey_time_out_is_undocumented(examples_dir: Path) -> None:
    payload = {**_example(examples_dir, "nxcloud.zalo.journey_time_out.json"), "ext": "ext info"}
    assert validate(payload) == []
    assert [p.path for p in validate(payload, strict=True)] == ["$.ext"]


def test_telcoid_outside_1_to_7_is_reported_only_in_strict_mode(examples_dir: Path) -> None:
    payload = {**_example(examples_dir, "esms.sms.cskh.url"), "telcoid": "9"}
    assert validate(payload) == []
    problems = validate(payload, strict=True)
    assert [p.path for p in problems] == ["$.telcoid"]
    assert "'9'" in problems[0].message


def test_undocumented_nxcloud_code_is_reported_only_in_strict_mode(examples_dir: Path) -> None:
    payload = {**_example(examples_dir, "nxcloud.zalo.delivered.json"), "code": 17008}
    assert validate(payload) == []
    assert [p.path for p in validate(payload, strict=True)] == ["$.code"]


def test_both_price_spellings_are_accepted_leniently(examples_dir: Path) -> None:
    payload = _example(examples_dir, "esms.zns.normal.url")
    payload["Totalprice"] = payload["TotalPrice"]
    assert validate(payload) == []
    problems = validate(payload, strict=True)
    assert problems and "TotalPrice" in problems[0].message and "Totalprice" in problems[0].message
    assert len(problems[0].message) < 100, "names the two fields, not the whole payload"


def test_the_table_spelling_totalprice_alone_is_accepted(examples_dir: Path) -> None:
    payload = _example(examples_dir, "esms.sms.ads.url")
    payload["Totalprice"] = payload.pop("TotalPrice")
    assert validate(payload) == []
    assert validate(payload, strict=True) == []


def test_an_extra_non_string_esms_value_is_a_problem(examples_dir: Path) -> None:
    payload = {**_example(examples_dir, "esms.viber.message.url"), "extra": 3}
    assert [p.path for p in validate(payload)] == ["$.extra"]


# ---------------------------------------------------------------------------- input shapes
def test_validate_accepts_json_text_query_string_url_and_bytes(examples_dir: Path) -> None:
    url = (examples_dir / "esms.viber.message.url").read_text("utf-8").strip()
    query = url.partition("?")[2]
    body = (examples_dir / "nxcloud.zalo.failed.json").read_text("utf-8")
    assert validate(url) == []
    assert validate(query) == []
    assert validate("?" + query) == []
    assert validate(body) == []
    assert validate(body.encode()) == []
    assert validate(json.dumps(parse_callback(url))) == []


def test_validate_does_not_modify_the_payload(examples_dir: Path) -> None:
    payload = _example(examples_dir, "esms.zns.journey.url")
    before = dict(payload)
    validate(payload, strict=True)
    assert payload == before


def test_every_problem_is_reported_once_in_a_stable_order() -> None:
    payload = {"status": "delivered", "code": "17003", "sendTime": "now", "ext": 5}
    problems = validate(payload)
    paths = [p.path for p in problems]
    assert sorted(paths) == ["$.code", "$.ext", "$.message", "$.requestId", "$.sendTime"]
    assert validate(payload) == problems


def test_unknown_kind_lists_the_closest_kinds_first() -> None:
    with pytest.raises(UnknownKindError) as caught:
        validate({"status": "delivered"}, kind="nxcloud.zalo.deliverd")
    error = caught.value
    assert error.kind == "nxcloud.zalo.deliverd"
    assert error.candidates[0] == "nxcloud.zalo.delivered"
    assert sorted(error.candidates) == sorted(KINDS)
    assert "did you mean 'nxcloud.zalo.delivered'" in str(error)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"code": 0, "message": "no status"}, "status"),
        ({"status": "sent"}, "'sent'"),
        ({"TypeId": "99", "SMSID": "x"}, "'99'"),
        ("SMSID=abc&SendStatus=5", "TypeId"),
    ],
)
def test_undetectable_payload_raises_detection_error(payload: Any, named: str) -> None:
    with pytest.raises(DetectionError, match=named):
        validate(payload)
    with pytest.raises(DetectionError):
        detect_kind(payload)


@pytest.mark.parametrize(
    "source",
    ["", "   ", "not a payload", "{not json", "[1, 2]", '"a string"', b"\xff\xfe"],
)
def test_unreadable_source_raises_payload_error(source: str | bytes) -> None:
    with pytest.raises(PayloadError):
        validate(source)


def test_a_json_payload_nested_more_than_64_levels_is_refused_naming_it_the_payload() -> None:
    deep = '{"a": ' * 65 + "1" + "}" * 65

    with pytest.raises(PayloadError) as info:
        validate(deep)

    assert str(info.value) == (
        "payload looks like JSON but does not parse: the payload is nested more than 64 levels "
        "deep; no payload needs that many, flatten it")


# ---------------------------------------------------------------------------------- caching
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_validators_are_built_once(kind: str) -> None:
    assert validator_for(kind) is validator_for(kind)
    assert validator_for(kind, True) is validator_for(kind, True)
    assert validator_for(kind) is not validator_for(kind, True)


# ----------------------------------------------------- problems from structured error fields
def _reworded(monkeypatch: pytest.MonkeyPatch) -> None:
    """jsonschema's messages replaced by other words: problems must not depend on them."""
    from jsonschema import exceptions

    original = exceptions._Error.__init__

    def init(self: Any, message: str, *args: Any, **kwargs: Any) -> None:
        original(self, "reworded by a later jsonschema", *args, **kwargs)

    monkeypatch.setattr(exceptions._Error, "__init__", init)


def test_each_missing_field_is_named_without_reading_jsonschemas_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = receipt("nxcloud.zalo.failed", seed=3)
    del payload["requestId"], payload["code"]
    _reworded(monkeypatch)

    missing = {p.path: p.message for p in validate(payload, kind="nxcloud.zalo.failed")
               if p.validator == "required"}

    assert missing == {"$.requestId": "required field 'requestId' is missing",
                       "$.code": "required field 'code' is missing"}


def test_missing_fields_are_listed_in_the_order_the_schema_requires_them() -> None:
    payload = receipt("nxcloud.zalo.failed", seed=3)
    del payload["requestId"], payload["code"]

    problems = validate(payload, kind="nxcloud.zalo.failed")

    assert [str(p) for p in problems] == ["$.requestId: required field 'requestId' is missing",
                                          "$.code: required field 'code' is missing"]


def test_missing_fields_of_the_receipt_and_of_a_nested_object_are_each_named() -> None:
    payload = receipt("nxcloud.number_check.basic", seed=1)
    del payload["phone"], payload["cost"]["currency"]

    assert {str(p) for p in validate(payload)} == {
        "$.phone: required field 'phone' is missing",
        "$.cost.currency: required field 'currency' is missing"}


@pytest.mark.parametrize("kind", ["nxcloud.zalo.success", "esms.zns.normal",
                                  "nxcloud.sms.delivered", "nxcloud.number_check.basic"])
def test_undocumented_fields_are_named_without_reading_jsonschemas_message(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    one = {**receipt(kind, seed=3), "zzz": "1"}
    two = {**one, "aaa": "2"}
    _reworded(monkeypatch)

    assert [str(p) for p in validate(one, kind=kind, strict=True)] == [
        "$.zzz: undocumented field 'zzz' (the provider does not document it)"]
    assert [str(p) for p in validate(two, kind=kind, strict=True)] == [
        "$: undocumented field 'aaa', 'zzz' (the provider does not document it)"]


def test_a_closed_object_names_its_extra_field_without_reading_jsonschemas_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mock_server._scenarios import parse_scenario

    _reworded(monkeypatch)
    with pytest.raises(DlrmockError, match=r"\('stpes' was unexpected\); did you mean 'steps'"):
        parse_scenario({"steps": [{"kind": "nxcloud.zalo.success"}], "stpes": []})
