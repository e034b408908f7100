"""Validation messages and receipt overrides that mutation testing found unguarded.

Each test states what the README (or the function's docstring) promises and fails on the
mutant that broke it: the message a person reads for each kind of problem, the JSON types
``--set`` gives, and overrides that never touch the payload they were given.
"""

from __future__ import annotations

import copy

import pytest

from mock_server import decode_error_info, receipt, validate
from mock_server._errors import ErrorInfoError, OverrideError, PayloadError, UnknownKindError
from mock_server._factory import apply_overrides, coerce_value
from mock_server._registry import schema
from mock_server._wire import ErrorInfoEncoding, encode_error_info


# -------------------------------------------------------------------------------- validation
def test_strict_validation_names_both_price_fields_that_must_not_appear_together() -> None:
    payload = receipt("esms.sms.cskh", seed=1)
    payload.update(TotalPrice="1", Totalprice="1")

    problems = validate(payload, strict=True)
    assert [(p.path, p.message, p.validator) for p in problems] == [
        ("$", "fields 'TotalPrice' and 'Totalprice' must not appear together", "not")
    ]


def test_strict_validation_names_the_documented_value_of_a_constant() -> None:
    payload = receipt("nxcloud.zalo.success", seed=1)
    payload["status"] = "succes"

    problems = validate(payload, kind="nxcloud.zalo.success", strict=True)
    assert [(p.path, p.message, p.validator) for p in problems] == [
        ("$.status", "'succes' is not a documented value (expected 'success')", "const")
    ]


def test_strict_validation_lists_the_documented_values_of_an_enumeration() -> None:
    payload = receipt("esms.sms.cskh", seed=1)
    payload["telcoid"] = "9"

    [problem] = validate(payload, strict=True)
    assert (problem.path, problem.message, problem.validator) == (
        "$.telcoid",
        "'9' is not a documented value (expected one of '1', '2', '3', '4', '5', '6', '7')",
        "enum",
    )


def test_an_undocumented_field_is_reported_at_its_own_path() -> None:
    payload = receipt("nxcloud.zalo.success", seed=1)
    payload["Xtra"] = 1  # the path keeps the name whole, whatever letter it starts with

    [problem] = validate(payload, strict=True)
    assert problem.path == "$.Xtra"
    assert problem.validator == "unevaluatedProperties"


def test_several_undocumented_fields_are_one_problem_at_the_object() -> None:
    payload = receipt("nxcloud.zalo.success", seed=1)
    payload.update(extra=1, other=2)

    [problem] = validate(payload, strict=True)
    assert (problem.path, problem.message) == (
        "$", "undocumented field 'extra', 'other' (the provider does not document it)"
    )


def test_a_problem_found_inside_an_any_of_is_reported_once() -> None:
    payload = receipt("nxcloud.zalo.success", seed=1)
    payload["zaloRes"]["data"]["sent_time"] = 5

    problems = validate(payload)
    assert [(str(p), p.validator) for p in problems] == [
        ("$.zaloRes.data.sent_time: 5 is not of type 'string'", "type")
    ]


def test_every_problem_inside_an_any_of_names_its_field_not_only_the_first() -> None:
    # --json "lists every problem with its JSON path": the second one too, not the object
    # around it with the whole object quoted.
    payload = receipt("nxcloud.zalo.success", seed=1)
    payload["zaloRes"]["data"]["sent_time"] = 5
    payload["code"] = "0"

    problems = validate(payload)
    assert [(str(p), p.validator) for p in problems] == [
        ("$.code: '0' is not of type 'integer'", "type"),
        ("$.zaloRes.data.sent_time: 5 is not of type 'string'", "type"),
    ]


def test_an_undocumented_field_is_named_alone_when_the_whole_receipt_also_breaks_a_rule() -> None:
    # nxcloud.ota.success takes exactly one of drtime / drTime (a rule of the whole object).
    payload = receipt("nxcloud.ota.success", seed=1)
    del payload["drtime"]
    payload["Xtra"] = "1"

    problems = validate(payload, strict=True)
    assert ("$.Xtra", "undocumented field 'Xtra' (the provider does not document it)") in [
        (p.path, p.message) for p in problems
    ]
    assert [p.validator for p in problems] == ["unevaluatedProperties", "oneOf"]


def test_each_problem_names_the_schema_keyword_that_failed() -> None:
    payload = receipt("nxcloud.zalo.success", seed=1)
    del payload["requestId"]
    payload["code"] = "0"

    problems = validate(payload)
    assert [(p.path, p.validator) for p in problems] == [
        ("$.requestId", "required"), ("$.code", "type")
    ]
    assert problems[0].as_dict() == {
        "path": "$.requestId", "message": "required field 'requestId' is missing",
        "validator": "required",
    }


def test_after_the_most_relevant_problem_the_rest_come_in_document_order() -> None:
    payload = receipt("nxcloud.zalo.success", seed=1)
    payload.update(status=5, requestId=1, code="0")
    payload["zaloRes"]["error"] = "x"

    assert [p.path for p in validate(payload, kind="nxcloud.zalo.success")] == [
        "$.status", "$.code", "$.requestId", "$.zaloRes.error"
    ]


def test_strict_validation_also_closes_the_decoded_error_info() -> None:
    payload = receipt("esms.zns.normal", seed=1)
    payload["error_info"] = encode_error_info(
        {"error": 0, "message": "Success", "extra": 1}, ErrorInfoEncoding.QUOTED_PERCENT
    )

    assert validate(payload) == []
    [problem] = validate(payload, strict=True)
    assert (problem.path, problem.validator) == ("$.error_info.extra", "unevaluatedProperties")


def test_an_undecodable_error_info_is_one_problem_that_says_why() -> None:
    payload = receipt("esms.zns.normal", seed=1)
    payload["error_info"] = "garbage"

    [problem] = validate(payload)
    assert (problem.path, problem.validator) == ("$.error_info", "error_info")
    assert problem.message == (
        "cannot decode error_info 'garbage': not JSON, a quoted JSON string, or a "
        "percent-encoded form of either"
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("  ", "it is empty"),
        ("%22%22", "it is empty"),
        ("[1, 2]", "it holds a JSON list, not an object"),
        ("nonsense", "not JSON, a quoted JSON string, or a percent-encoded form of either"),
        (7, "expected a string, got int"),
    ],
    ids=["blank", "empty-string", "list", "nonsense", "number"],
)
def test_an_error_info_that_cannot_be_decoded_says_why(value: object, reason: str) -> None:
    with pytest.raises(ErrorInfoError) as failure:
        decode_error_info(value)  # type: ignore[arg-type]
    assert str(failure.value) == f"cannot decode error_info {str(value)!r}: {reason}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('"x"', "payload is a JSON str; a receipt is a JSON object"),
        (b"\xff{}", "payload is not UTF-8 text: "),
    ],
    ids=["json-string", "not-utf8"],
)
def test_a_payload_that_is_no_receipt_at_all_is_refused_saying_what_it_is(
    source: str | bytes, message: str
) -> None:
    with pytest.raises(PayloadError) as failure:
        validate(source)
    assert str(failure.value).startswith(message)


@pytest.mark.parametrize("source", [[], None, 5, ["status", "success"]], ids=repr)
def test_a_python_value_that_is_no_mapping_or_text_is_refused_naming_its_type(
    source: object,
) -> None:
    with pytest.raises(PayloadError) as failure:
        validate(source)  # type: ignore[arg-type]
    assert str(failure.value) == (
        f"payload is a Python {type(source).__name__}; pass a dict, a JSON text, an eSMS query "
        "string or a whole callback URL"
    )


def test_an_unknown_schema_name_suggests_the_closest_kind() -> None:
    with pytest.raises(UnknownKindError) as failure:
        schema("nxcloud.zalo.deliverd")
    assert str(failure.value).startswith(
        "unknown receipt kind 'nxcloud.zalo.deliverd'; did you mean 'nxcloud.zalo.delivered'?"
    )


# -------------------------------------------------------------------------- --set and overrides
def test_set_keeps_text_for_a_field_documented_as_a_constant_string() -> None:
    # `status` is declared by its constant only ("const": "success"): a string field.
    assert coerce_value("nxcloud.zalo.success", "status", "17") == "17"


def test_set_takes_the_types_an_any_of_declares() -> None:
    # zaloRes.data is documented as an object or null.
    assert coerce_value("nxcloud.zalo.failed", "zaloRes.data", "null") is None
    assert coerce_value("nxcloud.zalo.failed", "zaloRes.data", '{"a": 1}') == {"a": 1}
    with pytest.raises(OverrideError, match=r"declares zaloRes\.data as null or object"):
        coerce_value("nxcloud.zalo.failed", "zaloRes.data", "oops")


def test_set_keeps_esms_values_as_text_even_when_they_look_like_json() -> None:
    assert coerce_value("esms.zns.normal", "RequestId", '{"a": 1}') == '{"a": 1}'
    assert coerce_value("esms.zns.normal", "TotalSent", "1") == "1"


def test_overrides_leave_the_given_payload_untouched() -> None:
    payload = receipt("nxcloud.zalo.failed", seed=2)
    before = copy.deepcopy(payload)

    changed = apply_overrides("nxcloud.zalo.failed", payload, {"zaloRes.error": -124})

    assert changed["zaloRes"]["error"] == -124
    assert payload == before


def test_removing_a_field_that_is_absent_is_harmless() -> None:
    payload = receipt("nxcloud.zalo.delivered", seed=3)
    payload.pop("ext", None)

    assert apply_overrides("nxcloud.zalo.delivered", payload, {"ext": None}) == payload


def test_setting_inside_a_value_that_is_not_an_object_names_that_value() -> None:
    payload = receipt("nxcloud.zalo.failed", seed=2)

    with pytest.raises(OverrideError) as failure:
        apply_overrides("nxcloud.zalo.failed", payload, {"zaloRes.error.code": 1})
    assert str(failure.value) == (
        "cannot set 'zaloRes.error.code': 'zaloRes.error' is a int, not an object"
    )
