"""eSMS wire formats: error_info in its four encodings, callback query strings, URL joining."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from mock_server import (
    DecodedErrorInfo,
    ErrorInfoEncoding,
    ErrorInfoError,
    PayloadError,
    decode_error_info,
    encode_error_info,
    encode_query,
    parse_callback,
)
from mock_server._wire import append_query

USER_INACTIVE = {
    "error": -114,
    "message": "User is inactive, or reject the message, or using an outdated Zalo version, "
    "or other internal errors",
}


def _send_result(message_id: str) -> dict[str, Any]:
    return {
        "data": {"message_id": message_id, "user_id": "31215806834323092"},
        "error": 0,
        "message": "Success",
    }


UID_DELIVERED = {
    "error": 0,
    "message": "Success",
    "data": {
        "delivery_time": None,
        "message": "The message was delivered to the user's phone",
        "status": 1,
    },
}
# GetCallback's documented ErrorInfo (vectors/esms/GetCallback-100.json), verbatim: Zalo's JSON
# with a .NET exception message glued on.
GET_CALLBACK_ERROR_INFO = (
    '{"error":-124,"message":"Access token is invalid"}'
    "Object reference not set to an instance of an object."
)
DOTNET_TRAILER = "Object reference not set to an instance of an object."

# seed file → (the documented object, its timestamp, the encoding the example uses)
SEEDS: dict[str, tuple[dict[str, Any], datetime | None, ErrorInfoEncoding]] = {
    "esms.zns.normal.url": (USER_INACTIVE, None, ErrorInfoEncoding.QUOTED_PERCENT),
    "esms.zalo.follower.consulting.url": (
        _send_result("e1a60e8890be9de4c4ab"),
        datetime(2024, 4, 24, 16, 58, 1),
        ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED,
    ),
    "esms.zalo.follower.transaction.url": (
        _send_result("f405841b5f2352790b36"),
        datetime(2024, 4, 24, 17, 7, 1),
        ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED,
    ),
    "esms.zalo.follower.user_info.url": (
        _send_result("f405841b5f2352790b36"),
        datetime(2024, 4, 24, 17, 7, 1),
        ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED,
    ),
    "esms.zns.journey.url": (
        _send_result("e1a60e8890be9de4c4ab"),
        datetime(2024, 4, 24, 16, 58, 1),
        ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED,
    ),
    "esms.zns.uid.url": (UID_DELIVERED, None, ErrorInfoEncoding.PERCENT_JSON),
}
seeds = pytest.mark.parametrize("seed_name", sorted(SEEDS))


def _seed_url(examples_dir: Path, name: str) -> str:
    return (examples_dir / name).read_text("utf-8").strip()


def _raw_param(url: str, name: str) -> str:
    """A parameter's value exactly as it stands on the wire (no decoding at all)."""
    for pair in url.partition("?")[2].split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    raise KeyError(name)


def test_every_seed_with_error_info_is_covered(examples_dir: Path) -> None:
    with_error_info = {p.name for p in examples_dir.glob("*.url") if "error_info=" in p.read_text()}
    assert with_error_info == set(SEEDS)


def test_encodings_are_numbered_as_in_the_spec() -> None:
    assert [(e.name, e.value) for e in ErrorInfoEncoding] == [
        ("QUOTED_RAW", 1),
        ("QUOTED_PERCENT", 2),
        ("DOUBLE_PERCENT_TIMESTAMPED", 3),
        ("PERCENT_JSON", 4),
    ]


# ---------------------------------------------------------------------------- seed values
@seeds
def test_seed_error_info_decodes_from_the_framework_value(
    examples_dir: Path, seed_name: str
) -> None:
    expected, stamp, _ = SEEDS[seed_name]
    value = parse_callback(_seed_url(examples_dir, seed_name))["error_info"]
    decoded = decode_error_info(value)
    assert decoded.data == expected
    assert decoded.timestamp == stamp
    assert decoded.trailer == (stamp.strftime("%d/%m/%Y %H:%M:%S") if stamp else None)


@seeds
def test_seed_error_info_decodes_from_the_raw_wire_text(examples_dir: Path, seed_name: str) -> None:
    expected, stamp, _ = SEEDS[seed_name]
    decoded = decode_error_info(_raw_param(_seed_url(examples_dir, seed_name), "error_info"))
    assert decoded == DecodedErrorInfo(
        expected, stamp, stamp.strftime("%d/%m/%Y %H:%M:%S") if stamp else None
    )


def test_follower_consulting_timestamp_is_the_documented_one(examples_dir: Path) -> None:
    value = parse_callback(_seed_url(examples_dir, "esms.zalo.follower.consulting.url"))
    decoded = decode_error_info(value["error_info"])
    assert decoded.trailer == "24/04/2024 16:58:01"
    assert decoded.timestamp == datetime(2024, 4, 24, 16, 58, 1)


@seeds
def test_reencoding_a_seed_reproduces_its_wire_text_byte_for_byte(
    examples_dir: Path, seed_name: str
) -> None:
    expected, stamp, encoding = SEEDS[seed_name]
    url = _seed_url(examples_dir, seed_name)
    params = parse_callback(url)
    params["error_info"] = encode_error_info(expected, encoding, timestamp=stamp)
    assert encode_query(params, error_info_encoding=encoding) == url.partition("?")[2]


@pytest.mark.parametrize(
    "name", ["esms.sms.ads.url", "esms.sms.cskh.url", "esms.viber.message.url"]
)
def test_reencoding_a_plain_seed_reproduces_its_query(examples_dir: Path, name: str) -> None:
    url = _seed_url(examples_dir, name)
    assert encode_query(parse_callback(url)) == url.partition("?")[2]


# --------------------------------------------------------------------- round trips, seeded
_PIECES = [
    "a", "Z", "0", "7", " ", "_", "-", ".", "~", "%", "%41", "%2", "&", "=", "+", "#", "?", "/",
    ":", ",", ";", '"', "\\", "'", "{", "}", "[", "]", "<", ">", "\t", "\n", "é", "ệ", "đ",
    "Tiếng Việt", "日本", "😀", "null", "true", "____", "24/04/2024 16:58:01",
]  # fmt: skip


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 12)))


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 2 or roll < 0.35:
        return _text(rng)
    if roll < 0.5:
        return rng.randint(-(2**40), 2**40)
    if roll < 0.55:
        return rng.choice([None, True, False, 0.5, -1.25e-7, 1e21])
    if roll < 0.65:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return _object(rng, depth + 1)


def _object(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    return {_text(rng) or "k": _value(rng, depth) for _ in range(rng.randint(0, 4))}


def _error_info(rng: random.Random) -> dict[str, Any]:
    """Something shaped like a real error_info, plus arbitrary extra content."""
    obj: dict[str, Any] = {"error": rng.choice([0, -114, -118, -124]), "message": _text(rng)}
    if rng.random() < 0.5:
        obj["data"] = rng.choice(
            [None, {"message_id": _text(rng), "user_id": str(rng.getrandbits(56))}]
        )
    obj.update(_object(rng))
    return obj


def _stamp(rng: random.Random) -> datetime:
    return datetime(2020, 1, 1) + (datetime(2030, 1, 1) - datetime(2020, 1, 1)) * rng.random()


ROUND_TRIPS = 300
encodings = pytest.mark.parametrize("encoding", list(ErrorInfoEncoding), ids=lambda e: e.name)


@encodings
def test_every_encoding_round_trips_through_decode(encoding: ErrorInfoEncoding) -> None:
    rng = random.Random(f"decode-{encoding.value}")
    for _ in range(ROUND_TRIPS):
        obj, stamp = _error_info(rng), _stamp(rng).replace(microsecond=0)
        value = encode_error_info(obj, encoding, timestamp=stamp)
        decoded = decode_error_info(value)
        assert decoded.data == obj, value
        if encoding is ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED:
            assert decoded.timestamp == stamp
        else:
            assert decoded.timestamp is None and decoded.trailer is None


@encodings
def test_every_encoding_round_trips_through_the_query_string(encoding: ErrorInfoEncoding) -> None:
    rng = random.Random(f"query-{encoding.value}")
    for _ in range(ROUND_TRIPS):
        obj = _error_info(rng)
        params = {
            "SMSID": _text(rng),
            "RequestId": "",
            "TypeId": "26",
            "phonenumber": str(rng.getrandbits(50)),
            "error_info": encode_error_info(obj, encoding),
            "oaid": _text(rng),
        }
        query = encode_query(params, error_info_encoding=encoding)
        assert query.isascii() and not any(c in query for c in " \t\n#")
        parsed = parse_callback(query)
        assert parsed == params, query
        assert list(parsed) == list(params)
        assert decode_error_info(parsed["error_info"]).data == obj


@pytest.mark.parametrize(
    "encoding",
    [
        ErrorInfoEncoding.QUOTED_PERCENT,
        ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED,
        ErrorInfoEncoding.PERCENT_JSON,
    ],
    ids=lambda e: e.name,
)
def test_percent_encodings_decode_from_the_raw_wire_text(encoding: ErrorInfoEncoding) -> None:
    # Encoding 1 is left out: its raw text is a JSON string already, so a receiver must decode
    # the query once (as every framework does) before reading it.
    rng = random.Random(f"raw-{encoding.value}")
    for _ in range(ROUND_TRIPS):
        obj = _error_info(rng)
        if any("____" in piece for piece in _strings(obj)):
            continue  # undecidable on the raw wire: the separator inside a value
        query = encode_query(
            {"error_info": encode_error_info(obj, encoding)}, error_info_encoding=encoding
        )
        assert decode_error_info(_raw_param("?" + query, "error_info")).data == obj, query


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [k, *_strings(v)]]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def test_quoted_raw_puts_quotes_and_braces_on_the_wire_unescaped() -> None:
    value = encode_error_info({"error": 0, "message": "Success"}, ErrorInfoEncoding.QUOTED_RAW)
    assert value == '"{\\"error\\":0,\\"message\\":\\"Success\\"}"'
    query = encode_query({"error_info": value}, error_info_encoding=1)
    assert query == 'error_info="{\\"error\\":0,\\"message\\":\\"Success\\"}"'


def test_percent_json_leaves_braces_raw() -> None:
    query = encode_query(
        {"error_info": encode_error_info({"error": 0}, ErrorInfoEncoding.PERCENT_JSON)},
        error_info_encoding=4,
    )
    assert query == "error_info={%22error%22%3A0}"


def test_double_percent_defaults_to_the_documented_timestamp() -> None:
    decoded = decode_error_info(
        encode_error_info({"error": 0}, ErrorInfoEncoding.DOUBLE_PERCENT_TIMESTAMPED)
    )
    assert decoded.timestamp == datetime(2024, 4, 24, 16, 58, 1)


def test_a_trailer_that_is_not_a_timestamp_is_kept_as_text() -> None:
    decoded = decode_error_info('{"error":0}____not a date')
    assert decoded.data == {"error": 0}
    assert decoded.trailer == "not a date" and decoded.timestamp is None


# ------------------------------------------------------------- text trailing the JSON object
@pytest.mark.parametrize(
    "form",
    [
        GET_CALLBACK_ERROR_INFO,
        quote(GET_CALLBACK_ERROR_INFO, safe="{}"),
        quote(GET_CALLBACK_ERROR_INFO, safe=""),
        quote(quote(GET_CALLBACK_ERROR_INFO, safe=""), safe=""),
        json.dumps(GET_CALLBACK_ERROR_INFO),
    ],
    ids=["as_documented", "percent_braces_raw", "percent", "double_percent", "quoted"],
)
def test_text_after_the_json_is_kept_as_the_trailer(form: str) -> None:
    decoded = decode_error_info(form)
    assert decoded.data == {"error": -124, "message": "Access token is invalid"}
    assert decoded.trailer == DOTNET_TRAILER
    assert decoded.timestamp is None


def test_a_trailer_inside_a_callback_url_survives_parsing() -> None:
    url = "https://app.example/cb?TypeId=25&error_info=" + quote(GET_CALLBACK_ERROR_INFO, safe="")
    decoded = decode_error_info(parse_callback(url)["error_info"])
    assert decoded.trailer == DOTNET_TRAILER


@pytest.mark.parametrize("value", ['{"error":1}', '{"error":1}  ', '{"error":1}____'])
def test_a_bare_object_has_no_text_trailer(value: str) -> None:
    assert decode_error_info(value).trailer in (None, "")


# -------------------------------------------------------------------- URLs and query strings
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://app.example/cb", "https://app.example/cb?A=1&B="),
        ("https://app.example/cb?token=t0k", "https://app.example/cb?token=t0k&A=1&B="),
        ("https://app.example/cb?", "https://app.example/cb?A=1&B="),
        ("https://app.example/cb?token=t&", "https://app.example/cb?token=t&A=1&B="),
        ("https://app.example/cb?token=t#top", "https://app.example/cb?token=t&A=1&B=#top"),
        ("https://app.example/cb#top", "https://app.example/cb?A=1&B=#top"),
    ],
)
def test_append_query_uses_an_ampersand_after_an_existing_query(url: str, expected: str) -> None:
    assert append_query(url, "A=1&B=") == expected


def test_a_receivers_own_parameters_survive_next_to_the_callback() -> None:
    url = append_query("https://app.example/cb?token=t0k", encode_query({"TypeId": "2"}))
    assert parse_callback(url) == {"token": "t0k", "TypeId": "2"}


def test_parse_callback_keeps_blank_values_and_order(examples_dir: Path) -> None:
    params = parse_callback(_seed_url(examples_dir, "esms.sms.cskh.url"))
    assert params["RequestId"] == "" and params["switchsmsid"] == ""
    assert list(params) == [
        "SMSID", "SendFailed", "SendStatus", "SendSuccess", "TotalPrice", "TotalReceiver",
        "TotalSent", "RequestId", "TypeId", "telcoid", "phonenumber", "switchsmsid",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "source",
    [
        "SMSID=a&TypeId=2",
        "?SMSID=a&TypeId=2",
        "https://app.example/cb?SMSID=a&TypeId=2",
        "/cb?SMSID=a&TypeId=2",
        "  https://app.example/cb?SMSID=a&TypeId=2\n",
    ],
)
def test_parse_callback_takes_a_url_or_a_query_string(source: str) -> None:
    assert parse_callback(source) == {"SMSID": "a", "TypeId": "2"}


def test_parse_callback_decodes_plus_and_percent_once() -> None:
    assert parse_callback("a=1+2&b=%2541") == {"a": "1 2", "b": "%41"}


def test_a_repeated_parameter_keeps_its_first_value() -> None:
    assert parse_callback("TypeId=2&TypeId=25") == {"TypeId": "2"}


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("https://app.example/cb", "https://app.example/cb"),
        ("https://app.example/cb?", "https://app.example/cb?"),
        ("just words", "just words"),
    ],
)
def test_parse_callback_rejects_what_is_no_query(source: str, named: str) -> None:
    with pytest.raises(PayloadError, match=named.replace("?", r"\?")):
        parse_callback(source)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "%7Bnot json%7D",
        '"just a string"',
        "[1, 2]",
        "42",
        '"{\\"error\\": 0"',
        "%257B%2522error%2522",
    ],
)
def test_undecodable_error_info_raises_naming_the_value(value: str) -> None:
    with pytest.raises(ErrorInfoError) as caught:
        decode_error_info(value)
    assert caught.value.value == value
    assert repr(value)[:40] in str(caught.value) or not value


def test_non_string_error_info_raises() -> None:
    with pytest.raises(ErrorInfoError, match="expected a string"):
        decode_error_info(42)  # type: ignore[arg-type]


def test_a_long_undecodable_value_is_shortened_in_the_message() -> None:
    value = "x" * 500
    with pytest.raises(ErrorInfoError) as caught:
        decode_error_info(value)
    assert caught.value.value == value
    assert len(str(caught.value)) < 200
