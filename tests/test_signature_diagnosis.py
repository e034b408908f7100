"""A wrong NXCloud ``sign`` explains itself: every mistake the README lists, named exactly.

The README promises that a 1003 answer names the mistake when dlrmock recognises it (the body
re-serialised, upper-case hex, ``&body=`` left out…). Each case here signs a request the wrong
way and checks the exact reason; mutation testing showed the reasons were barely checked.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from mock_server.sendapi.signature import diagnose, masked_string_to_sign, sign, string_to_sign

HEADERS = {"accessKey": "key-1", "action": "mt", "bizType": "9", "ts": "1700000000000"}
SECRET = "s3cret"
PREFIX = b"accessKey=key-1&action=mt&bizType=9&ts=1700000000000"
# Unsorted keys, nesting and non-ASCII text: each way of re-serialising it gives other bytes.
DOCUMENT = {"phone": "84912345678", "messageData": {"templateData": {"name": "Nguyễn"},
                                                    "templateId": "7"}, "appkey": "a"}
SENT = json.dumps(DOCUMENT, indent=2, ensure_ascii=False).encode()
"""What the client really sent: a layout none of the re-serialisations produce."""


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def reason_for(given: str, body: bytes = SENT) -> str | None:
    assert given != sign(HEADERS, body, SECRET), "the test must give a wrong signature"
    return diagnose(HEADERS, body, SECRET, given)


# ------------------------------------------------------------------------ the signed string
def test_the_sign_is_lower_case_hex_md5_of_the_string_to_sign() -> None:
    expected = md5(PREFIX + b"&body=" + SENT + b"&accessSecret=" + SECRET.encode())
    assert sign(HEADERS, SENT, SECRET) == expected


def test_a_signed_header_that_is_absent_signs_as_an_empty_value() -> None:
    partial = {k: v for k, v in HEADERS.items() if k != "bizType"}
    assert string_to_sign(partial, b"", SECRET) == (
        b"accessKey=key-1&action=mt&bizType=&ts=1700000000000&accessSecret=s3cret"
    )


# -------------------------------------------------------------------------------- diagnoses
def test_a_right_signature_in_upper_case_is_named_as_such() -> None:
    given = sign(HEADERS, SENT, SECRET).upper()
    assert reason_for(given) == "the signature is right but must be lower-case hex"


def test_an_upper_case_signature_of_another_mistake_names_that_mistake() -> None:
    given = md5(PREFIX + b"&accessSecret=" + SECRET.encode()).upper()
    assert reason_for(given) == "the given sign was computed without the '&body=' part"


def test_a_signature_without_the_body_part_is_named() -> None:
    given = md5(PREFIX + b"&accessSecret=" + SECRET.encode())
    assert reason_for(given) == "the given sign was computed without the '&body=' part"


@pytest.mark.parametrize("body", [SENT, b""], ids=["body", "empty"])
def test_a_signature_without_the_secret_is_named(body: bytes) -> None:
    given = md5(PREFIX + (b"&body=" + body if body else b""))
    assert reason_for(given, body) == "the given sign was computed without '&accessSecret=<secret>'"


def test_an_empty_body_part_kept_for_an_empty_body_is_named() -> None:
    given = md5(PREFIX + b"&body=&accessSecret=" + SECRET.encode())
    assert reason_for(given, b"") == (
        "the given sign was computed with an empty '&body=' part "
        "(leave it out when the body is empty)"
    )


SERIALISATIONS: list[tuple[str, dict[str, Any]]] = [
    ("compact JSON", {"separators": (",", ":"), "ensure_ascii": False}),
    ("compact JSON with sorted keys",
     {"separators": (",", ":"), "ensure_ascii": False, "sort_keys": True}),
    ("JSON with spaces after ',' and ':'", {"ensure_ascii": False}),
    ("JSON with spaces after ',' and ':' with sorted keys",
     {"ensure_ascii": False, "sort_keys": True}),
    ("compact JSON with \\u escapes", {"separators": (",", ":")}),
    ("compact JSON with \\u escapes with sorted keys", {"separators": (",", ":"),
                                                        "sort_keys": True}),
    ("JSON with spaces and \\u escapes", {}),
    ("JSON with spaces and \\u escapes with sorted keys", {"sort_keys": True}),
]


SERIALISATION_IDS = [
    "compact", "compact-sorted", "spaces", "spaces-sorted",
    "compact-escaped", "compact-escaped-sorted", "spaces-escaped", "spaces-escaped-sorted",
]


@pytest.mark.parametrize(("name", "options"), SERIALISATIONS, ids=SERIALISATION_IDS)
def test_a_signature_over_a_reserialised_body_names_the_serialisation(
    name: str, options: dict[str, Any]
) -> None:
    signed_body = json.dumps(DOCUMENT, **options).encode()
    given = sign(HEADERS, signed_body, SECRET)
    assert reason_for(given) == (
        f"the given sign was computed over the body re-serialised as {name}, "
        "not over the bytes actually sent"
    )


def test_the_serialisation_equal_to_the_sent_bytes_is_skipped_not_the_ones_after_it() -> None:
    # Sent compact with its keys as they came: the client signed the same with sorted keys.
    sent = json.dumps(DOCUMENT, separators=(",", ":"), ensure_ascii=False).encode()
    signed = json.dumps(DOCUMENT, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    assert reason_for(sign(HEADERS, signed.encode(), SECRET), sent) == (
        "the given sign was computed over the body re-serialised as compact JSON with sorted "
        "keys, not over the bytes actually sent"
    )


def test_a_body_with_a_lone_surrogate_escape_is_diagnosed_without_failing() -> None:
    body = b'{"name": "\\ud800"}'  # valid JSON; its text cannot be encoded as UTF-8 strictly
    assert reason_for("0" * 32, body) is None


# -------------------------------------------------------------------- the string people read
def test_the_masked_string_of_a_short_body_is_the_string_to_sign_with_the_secret_hidden() -> None:
    assert masked_string_to_sign(HEADERS, b'{"a":1}') == (
        'accessKey=key-1&action=mt&bizType=9&ts=1700000000000&body={"a":1}&accessSecret=******'
    )


def test_the_masked_string_cuts_a_body_longer_than_4096_bytes_by_default() -> None:
    whole = masked_string_to_sign(HEADERS, b"x" * 4096)
    cut = masked_string_to_sign(HEADERS, b"x" * 4097)
    assert whole.endswith("&body=" + "x" * 4096 + "&accessSecret=******")
    assert cut.endswith("&body=" + "x" * 4096 + "…[+1 bytes]&accessSecret=******")


def test_the_masked_string_shows_bytes_that_are_not_utf8_as_replacement_characters() -> None:
    shown = masked_string_to_sign(HEADERS, b'{"a":"\xff"}')
    assert '&body={"a":"\ufffd"}&accessSecret' in shown
