"""Payload factories: valid, realistic, deterministic receipts, and their exact wire encoding."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server import (
    KINDS,
    ErrorInfoEncoding,
    OverrideError,
    ReceiptFactory,
    UnknownKindError,
    decode_error_info,
    detect_kind,
    parse_callback,
    receipt,
    validate,
    wire,
)
from mock_server._factory import coerce_value, parse_assignment
from mock_server._wire import encode_error_info
from mock_server.providers.esms import CARRIER_PREFIXES, carrier_of

PER_KIND = 500
SEEDS = 50  # PER_KIND payloads per kind: SEEDS factories x PER_KIND // SEEDS receipts each
NXCLOUD = sorted(k for k in KINDS if KINDS[k].family_name == "nxcloud.zalo")
"""The Zalo family (the other NXCloud families have tests of their own below)."""
ESMS = sorted(k for k in KINDS if KINDS[k].provider.name == "esms")
ZALO_ESMS = sorted(k for k in ESMS if KINDS[k].error_info_schema is not None)
MESSAGE_ESMS = sorted(k for k in ESMS if k not in ("esms.voice.call", "esms.mo.shortcode",
                                                   "esms.template.registration"))
"""The eSMS message callbacks (SMSID, counts, TypeId); voice and MO have shapes of their own."""
OUTCOMES = ("delivered", "failed")

REQUEST_ID = re.compile(r"^zalomid\.[0-9a-f]{32}$")
PRICE = re.compile(r"^[0-9]+\.[0-9]{4}$")
MS_TIMESTAMP = re.compile(r"^[0-9]{13}$")
DIGITS = re.compile(r"^[0-9]+$")


@cache
def generated(kind: str) -> tuple[dict[str, Any], ...]:
    """PER_KIND payloads of ``kind`` over SEEDS seeds; eSMS alternates the two outcomes."""
    provider = KINDS[kind].provider.name
    payloads = []
    for seed in range(SEEDS):
        factory = ReceiptFactory(seed)
        for n in range(PER_KIND // SEEDS):
            fields = {"outcome": OUTCOMES[n % 2]} if provider == "esms" else None
            payloads.append(factory.receipt(kind, factory.message(provider, fields)))
    return tuple(payloads)


def _failed(payload: dict[str, Any]) -> bool:
    return payload.get("SendSuccess") == "0" and payload.get("TotalReceiver") == "1"


# ------------------------------------------------------------------------------- validity
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_500_generated_payloads_validate_leniently_and_strictly(kind: str) -> None:
    payloads = generated(kind)
    assert len(payloads) >= PER_KIND
    for payload in payloads:
        assert validate(payload, kind=kind) == [], payload
        assert validate(payload, kind=kind, strict=True) == [], payload
        assert detect_kind(payload) == kind


@pytest.mark.parametrize("kind", MESSAGE_ESMS)
def test_generated_esms_payloads_cover_both_outcomes(kind: str) -> None:
    outcomes = {_failed(p) for p in generated(kind) if p["TotalReceiver"] == "1"}
    assert outcomes == ({True, False} if kind != "esms.sms.ads" else set())


@pytest.mark.parametrize("kind", ZALO_ESMS)
def test_failed_zalo_payloads_carry_zalos_error(kind: str) -> None:
    factory = ReceiptFactory(3)
    failed = factory.receipt(kind, factory.message("esms", {"outcome": "failed"}))
    delivered = factory.receipt(kind, factory.message("esms", {"outcome": "delivered"}))
    assert decode_error_info(failed["error_info"]).data["error"] == -114
    assert failed["partnerids"] == ""
    assert decode_error_info(delivered["error_info"]).data["error"] == 0
    assert (failed["SendSuccess"], failed["SendFailed"]) == ("0", "1")
    assert (delivered["SendSuccess"], delivered["SendFailed"]) == ("1", "0")


# -------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_same_seed_gives_the_same_payload(kind: str) -> None:
    assert receipt(kind, seed=7) == receipt(kind, seed=7)
    one, two = ReceiptFactory(7), ReceiptFactory(7)
    provider = KINDS[kind].provider.name
    for _ in range(5):
        assert one.receipt(kind, one.message(provider)) == two.receipt(kind, two.message(provider))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_different_seeds_give_different_payloads(kind: str) -> None:
    payloads = [json.dumps(receipt(kind, seed=seed), sort_keys=True) for seed in range(20)]
    assert len(set(payloads)) == len(payloads)


def test_a_seed_gives_the_same_payload_on_any_day_in_any_time_zone(tmp_path: Path) -> None:
    # Pinned values: times are drawn from a fixed window, not relative to today, and ms
    # timestamps read sendTime as China time, not as the machine's local time.
    success = receipt("nxcloud.zalo.success", seed=1)
    assert success["sendTime"] == "2024-02-22 04:21:55"
    assert success["zaloRes"]["data"]["sent_time"] == "1708546915003"
    assert receipt("nxcloud.zalo.journey_time_out", seed=1)["timestamp"] == "1709151715000"
    follower = decode_error_info(receipt("esms.zalo.follower", seed=1)["error_info"])
    assert follower.trailer == "13/04/2024 10:23:37"
    elsewhere = subprocess.run(
        [sys.executable, "-c", "import json, mock_server as m; "
         "print(json.dumps(m.receipt('nxcloud.zalo.success', seed=1)))"],
        capture_output=True, text=True, check=True, cwd=tmp_path, timeout=60,
        env={**os.environ, "TZ": "America/Los_Angeles"},
    )  # fmt: skip
    assert json.loads(elsewhere.stdout) == success


def test_reseeding_restarts_the_sequence() -> None:
    factory = ReceiptFactory(11)
    first = factory.receipt("nxcloud.zalo.success")
    factory.receipt("nxcloud.zalo.success")
    factory.reseed(11)
    assert factory.receipt("nxcloud.zalo.success") == first


def test_receipts_about_one_message_share_its_fields() -> None:
    factory = ReceiptFactory(5)
    message = factory.message("nxcloud")
    success = factory.receipt("nxcloud.zalo.success", message)
    delivered = factory.receipt("nxcloud.zalo.delivered", message)
    assert success["requestId"] == delivered["requestId"] == message["requestId"]
    assert success["ext"] == delivered["ext"]
    esms_message = factory.message("esms")
    zns = factory.receipt("esms.zns.normal", esms_message)
    assert zns["SMSID"] == esms_message["SMSID"]
    assert zns["phonenumber"] == esms_message["phonenumber"]


# ------------------------------------------------------------------------ realistic values
@pytest.mark.parametrize(
    "kind", ["esms.sms.cskh", "esms.viber.message", "esms.zns.normal", "esms.zns.priority"]
)
def test_telcoid_matches_the_phone_prefix(kind: str) -> None:
    for payload in generated(kind):
        phone = payload["phonenumber"]
        assert re.fullmatch(r"0[0-9]{9}", phone), phone
        assert phone.startswith(CARRIER_PREFIXES[payload["telcoid"]]), payload
        assert carrier_of(phone) == payload["telcoid"]


def test_every_carrier_is_generated() -> None:
    telcoids = {p["telcoid"] for p in generated("esms.sms.cskh")}
    assert telcoids == set(CARRIER_PREFIXES)


@pytest.mark.parametrize("kind", [k for k in NXCLOUD if k != "nxcloud.zalo.journey_time_out"])
def test_request_ids_are_zalomid_and_32_hex(kind: str) -> None:
    for payload in generated(kind):
        assert REQUEST_ID.match(payload["requestId"]), payload["requestId"]


def test_journey_time_out_carries_no_request_id_and_no_ext() -> None:
    for payload in generated("nxcloud.zalo.journey_time_out"):
        assert "requestId" not in payload and "ext" not in payload


@pytest.mark.parametrize("kind", NXCLOUD)
def test_nxcloud_times_and_timestamps(kind: str) -> None:
    for payload in generated(kind):
        if "sendTime" in payload:
            datetime.strptime(payload["sendTime"], "%Y-%m-%d %H:%M:%S")
        if "timestamp" in payload:
            assert MS_TIMESTAMP.match(payload["timestamp"]), payload["timestamp"]
        data = (payload.get("zaloRes") or {}).get("data")
        if data:
            assert MS_TIMESTAMP.match(data["sent_time"]), data
            assert DIGITS.match(data["quota"]["remainingQuota"])
            assert int(data["quota"]["remainingQuota"]) < int(data["quota"]["dailyQuota"])
        assert isinstance(payload["code"], int)


def test_success_sent_time_follows_send_time_in_china_time() -> None:
    # As in the documented example: sendTime 10:12:39 (UTC+8) ~ sent_time 02:12:39.833 UTC.
    for payload in generated("nxcloud.zalo.success"):
        sent = datetime.strptime(payload["sendTime"] + " +0800", "%Y-%m-%d %H:%M:%S %z")
        delay = int(payload["zaloRes"]["data"]["sent_time"]) - int(sent.timestamp() * 1000)
        assert 0 < delay < 1000


@pytest.mark.parametrize("kind", MESSAGE_ESMS)
def test_esms_values_are_strings_with_four_decimal_prices_and_consistent_counts(
    kind: str,
) -> None:
    for payload in generated(kind):
        assert all(isinstance(v, str) for v in payload.values()), payload
        assert PRICE.match(payload["TotalPrice"]), payload["TotalPrice"]
        success, failed = int(payload["SendSuccess"]), int(payload["SendFailed"])
        sent, receivers = int(payload["TotalSent"]), int(payload["TotalReceiver"])
        assert success + failed <= receivers
        assert success + failed <= sent, payload


@pytest.mark.parametrize("kind", ZALO_ESMS)
def test_zalo_error_info_is_encoded_as_the_kinds_example_encodes_it(kind: str) -> None:
    encoding = KINDS[kind].error_info_encoding
    for payload in generated(kind)[:50]:
        decoded = decode_error_info(payload["error_info"])
        if encoding is ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED:
            assert decoded.timestamp is not None
            assert payload["error_info"].startswith("%7B%22")
        elif encoding is ErrorInfoEncoding.PERCENT_JSON:
            assert payload["error_info"].startswith('{"error":')
            assert decoded.timestamp is None
        else:
            assert payload["error_info"].startswith('"{\\"')
            assert decoded.timestamp is None


# ----------------------------------------------------------------------------- the wire
@pytest.mark.parametrize("kind", ESMS)
def test_every_encoded_query_parses_back_to_the_same_values(kind: str) -> None:
    for payload in generated(kind):
        request = wire(kind, payload, url="https://app.example/esms?token=t0k")
        assert request.method == "GET" and request.body == b""
        first = next(iter(payload))
        assert request.url.startswith(f"https://app.example/esms?token=t0k&{first}=")
        parsed = parse_callback(request.url)
        assert parsed.pop("token") == "t0k"
        assert parsed == payload
        assert list(parsed) == list(payload)
        if "error_info" in payload:
            assert (
                decode_error_info(parsed["error_info"]).data
                == decode_error_info(payload["error_info"]).data
            )


@pytest.mark.parametrize("kind", ZALO_ESMS)
@pytest.mark.parametrize("encoding", list(ErrorInfoEncoding), ids=lambda e: e.name)
def test_error_info_in_any_encoding_decodes_back_to_the_same_object(
    kind: str, encoding: ErrorInfoEncoding
) -> None:
    for payload in generated(kind)[:100]:
        request = wire(kind, payload, error_info_encoding=encoding)
        parsed = parse_callback(request.url)
        original = decode_error_info(payload["error_info"])
        decoded = decode_error_info(parsed["error_info"])
        assert decoded.data == original.data
        if encoding is ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED:
            assert decoded.timestamp == (original.timestamp or decoded.timestamp)
        assert {k: v for k, v in parsed.items() if k != "error_info"} == {
            k: v for k, v in payload.items() if k != "error_info"
        }
        assert validate(parsed, kind=kind) == []


@pytest.mark.parametrize("kind", NXCLOUD)
def test_nxcloud_wire_is_the_json_body(kind: str) -> None:
    for payload in generated(kind)[:50]:
        request = wire(kind, payload, url="https://app.example/dr")
        assert (request.method, request.url) == ("POST", "https://app.example/dr")
        assert dict(request.headers)["Content-Type"] == "application/json"
        assert json.loads(request.body) == payload
        assert list(json.loads(request.body)) == list(payload)


def _example_for(kind: str, seed_examples: dict[Path, str]) -> Path:
    # TypeId 24 has no documented example; ZNS priority follows the ZNS normal one.
    # The MO push is documented only as a parameter template.
    wanted = "esms.zns.normal" if kind == "esms.zns.priority" else kind
    found = [path for path, k in seed_examples.items() if k == wanted]
    if not found:
        return next(iter(seed_examples)).parent / f"{kind}.template.url"
    return min(found)


# The template registration has no documented example or template (a [choice] shape).
@pytest.mark.parametrize("kind", [k for k in ESMS if k != "esms.template.registration"])
def test_esms_parameter_order_is_the_examples_order(
    kind: str, seed_examples: dict[Path, str]
) -> None:
    expected = list(parse_callback(_example_for(kind, seed_examples).read_text("utf-8")))
    for payload in generated(kind)[:20]:
        assert list(payload) == expected
        query = wire(kind, payload).url.partition("?")[2]
        assert [pair.split("=", 1)[0] for pair in query.split("&")] == expected


# ----------------------------------------------------------------------------- overrides
def test_keyword_fields_and_overrides_replace_values() -> None:
    payload = receipt("nxcloud.zalo.success", seed=1, ext="order-7", code=0)
    assert payload["ext"] == "order-7"
    nested = receipt(
        "nxcloud.zalo.success",
        seed=1,
        overrides={"cost.currency": "VND", "zaloRes.data.quota.dailyQuota": "10"},
    )
    assert nested["cost"]["currency"] == "VND"
    assert nested["zaloRes"]["data"]["quota"]["dailyQuota"] == "10"
    assert (
        nested["zaloRes"]["data"]["msg_id"]
        == receipt("nxcloud.zalo.success", seed=1)["zaloRes"]["data"]["msg_id"]
    )


def test_a_none_override_removes_the_field() -> None:
    payload = receipt("nxcloud.zalo.delivered", seed=2, ext=None)
    assert "ext" not in payload
    assert validate(payload) == []
    assert "tempid" not in receipt("esms.zns.normal", seed=2, overrides={"tempid": None})


def test_an_override_may_create_a_nested_object() -> None:
    payload = receipt("nxcloud.zalo.delivered", seed=2, overrides={"cost.currency": "USD"})
    assert payload["cost"] == {"currency": "USD"}


def test_an_override_through_a_non_object_fails_naming_the_path() -> None:
    with pytest.raises(OverrideError, match="'code'"):
        receipt("nxcloud.zalo.success", seed=1, overrides={"code.inner": 1})


@pytest.mark.parametrize("kind", ZALO_ESMS)
def test_error_info_field_overrides_edit_the_decoded_object(kind: str) -> None:
    plain = receipt(kind, seed=4)
    payload = receipt(kind, seed=4, overrides={"error_info.error": -118})
    before, after = decode_error_info(plain["error_info"]), decode_error_info(payload["error_info"])
    assert after.data == {**before.data, "error": -118}
    assert after.timestamp == before.timestamp
    assert validate(payload, kind=kind) == []
    removed = receipt(kind, seed=4, overrides={"error_info.message": None})
    assert [p.path for p in validate(removed, kind=kind)] == ["$.error_info.message"]


@pytest.mark.parametrize("kind", ZALO_ESMS)
def test_an_error_info_object_override_is_encoded_like_the_kind(kind: str) -> None:
    obj = {"error": -124, "message": "Quota exceeded"}
    payload = receipt(kind, seed=4, overrides={"error_info": obj})
    assert decode_error_info(payload["error_info"]).data == obj
    query = wire(kind, payload).url
    assert decode_error_info(parse_callback(query)["error_info"]).data == obj


def test_a_string_error_info_override_is_sent_as_given() -> None:
    payload = receipt("esms.zns.normal", seed=4, overrides={"error_info": "garbage"})
    assert payload["error_info"] == "garbage"
    assert [p.path for p in validate(payload)] == ["$.error_info"]


def test_an_error_info_field_override_on_an_undecodable_value_fails() -> None:
    with pytest.raises(OverrideError, match=r"error_info\.error"):
        receipt("esms.zns.normal", seed=4, overrides={"error_info": "x", "error_info.error": 1})


def test_message_fields_flow_into_every_receipt() -> None:
    payload = receipt(
        "esms.sms.cskh", seed=3, message={"phonenumber": "0961234567", "telcoid": "1"}
    )
    assert (payload["phonenumber"], payload["telcoid"]) == ("0961234567", "1")


def test_unknown_kind_raises_with_the_closest_first() -> None:
    with pytest.raises(UnknownKindError) as caught:
        receipt("esms.zns.normla")
    assert caught.value.candidates[0] == "esms.zns.normal"


# ------------------------------------------------------------------------ --set FIELD=VALUE
@pytest.mark.parametrize(
    ("kind", "path", "raw", "expected"),
    [
        ("nxcloud.zalo.success", "code", "0", 0),
        ("nxcloud.zalo.failed", "code", "17004", 17004),
        ("nxcloud.zalo.success", "ext", "42", "42"),
        ("nxcloud.zalo.success", "ext", "order-7", "order-7"),
        ("nxcloud.zalo.success", "requestId", "123", "123"),
        ("nxcloud.zalo.success", "status", "success", "success"),
        ("nxcloud.zalo.success", "cost.originalPrice", "4.5", 4.5),
        ("nxcloud.zalo.success", "zaloRes.error", "-118", -118),
        ("nxcloud.zalo.success", "zaloRes.data.sent_time", "1714529559833", "1714529559833"),
        ("nxcloud.zalo.failed", "zaloRes.data", "null", None),
        ("nxcloud.zalo.success", "undocumented", "7", 7),
        ("nxcloud.zalo.success", "undocumented", "free text", "free text"),
        ("esms.sms.cskh", "TypeId", "2", "2"),
        ("esms.sms.cskh", "SendFailed", "1", "1"),
        ("esms.sms.cskh", "TotalPrice", "470.0000", "470.0000"),
        ("esms.sms.cskh", "undocumented", "7", "7"),
        ("esms.zns.normal", "error_info.error", "-118", -118),
        ("esms.zns.normal", "error_info.message", "Quota", "Quota"),
        ("esms.zns.normal", "error_info", '{"error": 0, "message": "ok"}',
         {"error": 0, "message": "ok"}),
        ("esms.zns.normal", "error_info", "raw text", "raw text"),
        ("esms.zalo.follower", "error_info.data.user_id", "123", "123"),
        # A form carries text too: an undocumented value stays as typed.
        ("nxcloud.sms.delivered", "undocumented", "true", "true"),
        ("nxcloud.did_sms.delivered", "size", "2", "2"),
    ],
)  # fmt: skip
def test_coerce_value_gives_the_declared_json_type(
    kind: str, path: str, raw: str, expected: Any
) -> None:
    value = coerce_value(kind, path, raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("kind", "path", "raw"),
    [
        ("nxcloud.zalo.success", "code", "abc"),
        ("nxcloud.zalo.success", "cost.originalPrice", "cheap"),
        ("esms.zns.normal", "error_info", "{not json"),
    ],
)
def test_coerce_value_rejects_text_for_a_typed_field(kind: str, path: str, raw: str) -> None:
    with pytest.raises(OverrideError, match=re.escape(path)):
        coerce_value(kind, path, raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ext=order-42", ("ext", "order-42")), ("a.b=", ("a.b", "")), (" code =1=2", ("code", "1=2"))],
)
def test_parse_assignment_splits_at_the_first_equals(text: str, expected: tuple[str, str]) -> None:
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=5", " =5"])
def test_parse_assignment_rejects_a_missing_name_or_equals(text: str) -> None:
    with pytest.raises(OverrideError, match="FIELD=VALUE"):
        parse_assignment(text)


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_a_non_json_number_is_refused_for_a_number_field(raw: str) -> None:
    with pytest.raises(OverrideError, match="declares code as integer"):
        coerce_value("nxcloud.zalo.success", "code", raw)


def test_example_never_prints_nan() -> None:
    from click.testing import CliRunner

    from mock_server.cli import cli

    result = CliRunner().invoke(cli, ["example", "nxcloud.zalo.success", "--set", "code=NaN"])
    assert result.exit_code == 2 and "NaN" not in result.stdout


@pytest.mark.parametrize("encoding", [1, 2, 3, 4])
def test_wire_puts_error_info_in_the_encoding_it_is_given(encoding: int) -> None:
    # `mock_server.wire(kind, payload, url, error_info_encoding)`: what --error-info-encoding
    # does for --wire; esms.zns.normal's own encoding is 2.
    payload = receipt("esms.zns.normal", seed=1)
    data = decode_error_info(payload["error_info"]).data

    request = wire("esms.zns.normal", payload, "http://127.0.0.1/cb",
                   error_info_encoding=encoding)

    assert parse_callback(request.url)["error_info"] == encode_error_info(data, encoding)


@given(seed=st.integers(0, 2**31), low=st.integers(-10**20, 10**20), width=st.integers(1, 10**20),
       size=st.integers(1, 40))
def test_the_factorys_random_draws_exactly_what_pythons_random_draws_from_the_same_seed(
    seed: int, low: int, width: int, size: int
) -> None:
    # A seed gives the same receipts as before the factory drew its integers itself.
    ours = ReceiptFactory(seed).fake.random
    python = random.Random(seed)
    choices = list(range(size))
    for _ in range(3):
        assert ours.randint(low, low + width - 1) == python.randint(low, low + width - 1)
        assert ours.choice(choices) == python.choice(choices)
        assert ours.choice("35789") == python.choice("35789")
    assert ours.random() == python.random()  # and the two streams are still in step


def test_the_factorys_random_refuses_what_pythons_refuses() -> None:
    ours = ReceiptFactory(1).fake.random
    with pytest.raises(ValueError):
        ours.randint(5, 4)
    with pytest.raises(IndexError):
        ours.choice([])
