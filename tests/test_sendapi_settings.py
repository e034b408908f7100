"""SendSettings: defaults that just work, and config-file mappings checked key by key."""

from __future__ import annotations

import json

import pytest

from mock_server.sendapi import DEFAULT_MAGIC_NUMBERS, OUTCOMES, SendSettings, outcome_for


def test_defaults_are_the_documented_test_credentials() -> None:
    settings = SendSettings()
    assert (settings.access_key, settings.access_secret) == ("dlrmock-access-key", "dlrmock-secret")
    assert (settings.api_key, settings.secret_key) == ("dlrmock-api-key", "dlrmock-secret-key")
    assert settings.appkey is None and settings.brandnames == () and settings.zalo_oas == {}
    assert settings.default_webhook is None
    assert settings.magic_numbers == DEFAULT_MAGIC_NUMBERS
    assert settings.default_outcome == "delivered"
    assert settings.max_skew_ms == 60_000
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.request_id_ttl == 86_400


def test_from_mapping_reads_a_config_file_mapping() -> None:
    settings = SendSettings.from_mapping({
        "brandnames": ["ACME", "SHOP"],
        "zalo_oas": {"4097311281936189049": ["267247", 267248], "123": None},
        "magic_numbers": {"9999": "failed"},
        "default_webhook": "http://127.0.0.1:8000/hook",
        "appkey": "app-1",
    })
    assert settings.brandnames == ("ACME", "SHOP")
    assert settings.zalo_oas == {"4097311281936189049": ("267247", "267248"), "123": ()}
    assert settings.magic_numbers == {"9999": "failed"}
    assert settings.appkey == "app-1"


def test_from_mapping_names_an_unknown_key_and_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown send setting 'brandname'; did you mean "
                       r"'brandnames'\? known: .*access_key.*zalo_oas"):
        SendSettings.from_mapping({"brandname": ["ACME"]})


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("api_key", 123, "'api_key' must be a string"),
    ("brandnames", {"a": 1}, "'brandnames' must be a list of strings"),
    ("zalo_oas", ["x"], "'zalo_oas' must map OA ids"),
    ("max_body_bytes", "big", "'max_body_bytes' must be a number"),
    ("default_outcome", "deliverd", "unknown outcome 'deliverd'; did you mean 'delivered'"),
    ("magic_numbers", {"12ab": "failed"}, "suffix '12ab' must be a string of digits"),
    ("magic_numbers", {"1234": "lost"}, r"unknown outcome 'lost'; did you mean 'lost_ack'"),
    ("default_webhook", "ftp://x", "default_webhook must be an http:// or https:// URL"),
    ("request_id_ttl", 0, "request_id_ttl must be a positive number"),
    ("channel_magic_numbers", {"viber": {"1": "failed"}}, "unknown channel 'viber'"),
    ("channel_magic_numbers", {"zalo": {"7777": "fail"}}, r"\['zalo'\]\['7777'\]"),
    ("channel_magic_numbers", {"zalo": "7777"}, "must map channels to"),
    ("sms_templates", {"ACME": "{P1,6} code"}, r"sms_templates\['ACME'\] must be a list"),
    ("sms_templates", {"ACME": ["{P1,6} code", 5]}, r"sms_templates\['ACME'\] must be a list"),
    ("sms_templates", {"ACME": 5}, r"sms_templates\['ACME'\] must be a list"),
    ("esms_unit_prices", {"2": -1}, r"esms_unit_prices\['2'\] must be a number >= 0"),
    ("balance", "lots", "'balance' must be a number or null"),
])
def test_from_mapping_rejects_a_bad_value_naming_the_key(key: str, value: object,
                                                         expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        SendSettings.from_mapping({key: value})


def test_as_dict_round_trips_through_from_mapping() -> None:
    settings = SendSettings(brandnames=("ACME",), zalo_oas={"1": ("2",)}, appkey="k",
                            sms_templates={"ACME": ("{P1,6} code",)}, balance=12.5,
                            channel_magic_numbers={"sms": {"77": "failed"}},
                            voice_templates=("12",))
    assert SendSettings.from_mapping(settings.as_dict()) == settings


@pytest.mark.parametrize(("phone", "outcome"), [
    ("0912340000", "delivered"),
    ("84912341111", "failed"),
    ("0912342222", "no_receipt"),
    ("0912343333", "duplicate"),
    ("0912344444", "out_of_order"),
    ("0912345555", "lost_ack"),
    ("0912345678", "delivered"),
])
def test_the_default_magic_numbers_decide_the_outcome(phone: str, outcome: str) -> None:
    assert outcome_for(phone, SendSettings()) == outcome


def test_the_longest_matching_suffix_wins_and_the_default_applies_otherwise() -> None:
    settings = SendSettings(magic_numbers={"1": "failed", "21": "duplicate"},
                            default_outcome="no_receipt")
    assert outcome_for("0900000021", settings) == "duplicate"
    assert outcome_for("0900000031", settings) == "failed"
    assert outcome_for("0900000030", settings) == "no_receipt"


def test_every_default_magic_number_maps_to_a_known_outcome() -> None:
    assert set(DEFAULT_MAGIC_NUMBERS.values()) == set(OUTCOMES)


def test_as_dict_is_plain_json_that_reads_back_as_the_same_settings_rules_included() -> None:
    settings = SendSettings.from_mapping({
        "brandnames": ["ACME"], "zalo_oas": {"1": ["2", "3"]},
        "sms_templates": {"ACME": ["{P1,6} code"]}, "receipt_delay": [1, 2],
        "rules": [{"match": {"phone": "7$", "api": "zalo"}, "outcome": "hold",
                   "receipt_delay": [0, 5]},
                  {"match": {"content": "x"}, "scenario": "esms.sms.cskh.failed"}]})
    plain = settings.as_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert plain["rules"] == [
        {"match": {"phone": "7$", "api": "zalo"}, "outcome": "hold", "receipt_delay": [0, 5]},
        {"match": {"content": "x"}, "scenario": "esms.sms.cskh.failed"}]
    assert (plain["zalo_oas"], plain["brandnames"]) == ({"1": ["2", "3"]}, ["ACME"])
    assert SendSettings.from_mapping(plain) == settings
