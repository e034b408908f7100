"""NXCloud's request signature, checked against the documented vectors byte for byte."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import unquote

import pytest

from mock_server.sendapi.signature import (
    diagnose,
    header_safe,
    masked_string_to_sign,
    sign,
    string_to_sign,
)

# providers.md §1.2: accessKey fme2na3kdi3ki, action send, bizType 1, ts 1655710885431,
# secret abciiiko2k3. Copied verbatim: whitespace and key order are the point.
VECTOR_HEADERS = {
    "accessKey": "fme2na3kdi3ki",
    "action": "send",
    "bizType": "1",
    "ts": "1655710885431",
}
VECTOR_SECRET = "abciiiko2k3"
VECTORS = [
    ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354"),
    ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34"),
    ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2"),
]


@pytest.mark.parametrize(("body", "expected"), VECTORS)
def test_documented_vectors_sign_to_the_documented_signature(body: str, expected: str) -> None:
    assert sign(VECTOR_HEADERS, body.encode("utf-8"), VECTOR_SECRET) == expected


def test_header_names_are_matched_case_insensitively_and_sorted() -> None:
    shuffled = {"TS": "1655710885431", "bizType": "1", "ACTION": "send",
                "accesskey": "fme2na3kdi3ki"}
    body, expected = VECTORS[0]
    assert sign(shuffled, body.encode(), VECTOR_SECRET) == expected


def test_string_to_sign_is_the_sorted_headers_the_raw_body_and_the_secret() -> None:
    body = b'{"id": 1}'
    assert string_to_sign(VECTOR_HEADERS, body, "s3") == (
        b'accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431&body={"id": 1}'
        b"&accessSecret=s3"
    )


def test_an_empty_body_leaves_out_the_body_part() -> None:
    expected_string = (b"accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431"
                       b"&accessSecret=x")
    assert string_to_sign(VECTOR_HEADERS, b"", "x") == expected_string
    assert sign(VECTOR_HEADERS, b"", "x") == hashlib.md5(expected_string).hexdigest()


def test_the_masked_string_hides_the_secret_and_keeps_the_body() -> None:
    shown = masked_string_to_sign(VECTOR_HEADERS, VECTORS[0][0].encode())
    assert shown.endswith("&accessSecret=******")
    assert VECTOR_SECRET not in shown
    assert '&body={"name":"牛小信","id":10001}' in shown


def test_the_masked_string_truncates_a_long_body_and_says_how_much() -> None:
    body = json.dumps({"text": "x" * 10_000}).encode()
    shown = masked_string_to_sign(VECTOR_HEADERS, body, max_body=100)
    assert f"…[+{len(body) - 100} bytes]&accessSecret=******" in shown
    assert len(shown) < 300


def test_truncation_never_splits_a_character() -> None:
    body = ("牛" * 100).encode()  # 3 bytes each: 100 bytes ends inside a character
    shown = masked_string_to_sign(VECTOR_HEADERS, body, max_body=100)
    assert "\ufffd" not in shown
    assert "牛" * 33 + "…[+200 bytes]" in shown


def test_header_safe_text_is_ascii_and_decodes_back() -> None:
    text = masked_string_to_sign(VECTOR_HEADERS, '{"name":"牛小信 100%"}\r\n'.encode())
    encoded = header_safe(text)
    assert encoded.isascii()
    assert all(32 <= ord(c) < 127 for c in encoded)
    assert unquote(encoded) == text
    assert "accessKey=fme2na3kdi3ki&action=send" in encoded  # ASCII stays readable


def test_diagnose_recognises_a_signature_over_a_reserialised_body() -> None:
    sent = VECTORS[2][0].encode()  # with spaces
    compact_sign = VECTORS[1][1]  # what a client gets by signing the compact form
    reason = diagnose(VECTOR_HEADERS, sent, VECTOR_SECRET, compact_sign)
    assert reason is not None and "compact JSON" in reason


def test_diagnose_recognises_upper_case_hex() -> None:
    body, expected = VECTORS[0]
    reason = diagnose(VECTOR_HEADERS, body.encode(), VECTOR_SECRET, expected.upper())
    assert reason == "the signature is right but must be lower-case hex"


def test_diagnose_recognises_a_missing_body_part() -> None:
    body = VECTORS[0][0].encode()
    without = hashlib.md5(string_to_sign(VECTOR_HEADERS, b"", VECTOR_SECRET)).hexdigest()
    reason = diagnose(VECTOR_HEADERS, body, VECTOR_SECRET, without)
    assert reason is not None and "'&body='" in reason


def test_diagnose_says_nothing_for_an_unrelated_signature() -> None:
    assert diagnose(VECTOR_HEADERS, VECTORS[0][0].encode(), VECTOR_SECRET, "0" * 32) is None
