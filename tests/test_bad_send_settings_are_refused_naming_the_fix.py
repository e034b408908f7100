"""Every send setting is checked when the server starts: a bad value is refused with one
message naming the setting, the value and what it must be (``send:`` in a config file,
``MockProvider(send=...)``, ``SendSettings.from_mapping``); the limits themselves are accepted.
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_server import DlrmockError, MockProvider
from mock_server.sendapi import SendSettings

OUTCOMES = "delivered, failed, no_receipt, duplicate, out_of_order, lost_ack, hold"


@pytest.mark.parametrize(("values", "message"), [
    pytest.param(
        ['x'],
        'send settings must be a mapping, got list',
        id='not a mapping'),
    pytest.param(
        {'rules': 'x'},
        "send setting 'rules' must be a list of rules, got 'x'",
        id='rules not a list'),
    pytest.param(
        {'rules': ['x']},
        "rules[0] must be a mapping with 'match' and an 'outcome' or 'scenario', "
        "got 'x'",
        id='rule not a mapping'),
    pytest.param(
        {'rules': [{'match': {}, 'outcome': 'failed', 'delay': 1}]},
        "rules[0]: unknown key 'delay'; a rule has match, outcome or scenario, and "
        'receipt_delay',
        id='rule unknown key'),
    pytest.param(
        {'rules': [{'match': 'x', 'outcome': 'failed'}]},
        "rules[0].match must map fields to regular expressions, got 'x'",
        id='rule match not a mapping'),
    pytest.param(
        {'rules': [{'match': {'contnt': '1'}, 'outcome': 'failed'}]},
        "rules[0].match: unknown field 'contnt'; did you mean 'content'? fields: "
        'provider, api, phone, content, template, request_id',
        id='rule match unknown field'),
    pytest.param(
        {'rules': [{'match': {'phone': True}, 'outcome': 'failed'}]},
        'rules[0].match.phone must be a regular expression (a string), got True',
        id='rule match not a string'),
    pytest.param(
        {'rules': [{'match': {'phone': ['1']}, 'outcome': 'failed'}]},
        "rules[0].match.phone must be a regular expression (a string), got ['1']",
        id='rule match list'),
    pytest.param(
        {'rules': [{'match': {'phone': '('}, 'outcome': 'failed'}]},
        "rules[0].match.phone: '(' is not a regular expression: missing ), "
        'unterminated subpattern at position 0',
        id='rule match bad regex'),
    pytest.param(
        {'rules': [{'match': {'phone': '1'}}]},
        f"rules[0] needs exactly one of 'outcome' ({OUTCOMES}) or 'scenario' (a built-in "
        'scenario name)',
        id='rule neither'),
    pytest.param(
        {'rules': [{'match': {'phone': '1'}, 'outcome': 'failed',
                    'scenario': 'esms.sms.cskh.failed'}]},
        f"rules[0] needs exactly one of 'outcome' ({OUTCOMES}) or 'scenario' (a built-in "
        'scenario name)',
        id='rule both'),
    pytest.param(
        {'rules': [{'match': {'phone': '1'}, 'outcome': 'faild'}]},
        "rules[0].outcome: unknown outcome 'faild'; did you mean 'failed'? "
        f'outcomes: {OUTCOMES}',
        id='rule unknown outcome'),
    pytest.param(
        {'rules': [{'match': {'phone': '1'}, 'scenario': 'esms.sms.cskh.faild'}]},
        "rules[0].scenario: unknown scenario 'esms.sms.cskh.faild'; did you mean "
        "'esms.sms.cskh.failed'? (`dlrmock scenarios` lists them)",
        id='rule unknown scenario'),
    pytest.param(
        {'rules': [{'match': {'phone': '1'}, 'outcome': 'failed', 'receipt_delay': [3, 1]}]},
        'rules[0].receipt_delay must be seconds (0 to 86400) or [min, max] with min '
        '<= max, got [3, 1]',
        id='rule bad delay'),
    pytest.param(
        {'rules': [{'match': {'phone': '1'}, 'outcome': 'failed'}, {'match': {}, 'outcome': 'x'}]},
        "rules[1].outcome: unknown outcome 'x'; did you mean 'delivered'? outcomes: "
        f'{OUTCOMES}',
        id='second rule'),
    pytest.param(
        {'receipt_delay': [3, 1]},
        'receipt_delay must be seconds (0 to 86400) or [min, max] with min <= max, '
        'got [3, 1]',
        id='receipt_delay reversed'),
    pytest.param(
        {'receipt_delay': -1},
        'receipt_delay must be seconds (0 to 86400) or [min, max] with min <= max, '
        'got -1',
        id='receipt_delay negative'),
    pytest.param(
        {'receipt_delay': 86401},
        'receipt_delay must be seconds (0 to 86400) or [min, max] with min <= max, '
        'got 86401',
        id='receipt_delay over a day'),
    pytest.param(
        {'receipt_delay': True},
        'receipt_delay must be seconds (0 to 86400) or [min, max] with min <= max, '
        'got True',
        id='receipt_delay bool'),
    pytest.param(
        {'receipt_delay': [1, 2, 3]},
        'receipt_delay must be seconds (0 to 86400) or [min, max] with min <= max, '
        'got [1, 2, 3]',
        id='receipt_delay three'),
    pytest.param(
        {'receipt_delay': '1'},
        'receipt_delay must be seconds (0 to 86400) or [min, max] with min <= max, '
        "got '1'",
        id='receipt_delay string'),
    pytest.param(
        {'esms_unit_prices': [1]},
        "send setting 'esms_unit_prices' must map TypeIds to prices, got [1]",
        id='esms_unit_prices not a mapping'),
    pytest.param(
        {'esms_unit_prices': {'2': -1}},
        "esms_unit_prices['2'] must be a number >= 0, got -1",
        id='esms_unit_prices negative'),
    pytest.param(
        {'esms_unit_prices': {'2': True}},
        "esms_unit_prices['2'] must be a number >= 0, got True",
        id='esms_unit_prices bool'),
    pytest.param(
        {'brandnames': 5},
        "send setting 'brandnames' must be a list of strings, got 5",
        id='brandnames number'),
    pytest.param(
        {'voice_templates': {'a': 1}},
        "send setting 'voice_templates' must be a list of strings, got {'a': 1}",
        id='voice_templates dict'),
    pytest.param(
        {'voice_records': [['a']]},
        "send setting 'voice_records' must be a list of strings, got [['a']]",
        id='voice_records list of lists'),
    pytest.param(
        {'zalo_oas': ['x']},
        "send setting 'zalo_oas' must map OA ids to template id lists, got ['x']",
        id='zalo_oas not mapping'),
    pytest.param(
        {'zalo_oas': {'1': 5}},
        'send setting "zalo_oas[\'1\']" must be a list of strings, got 5',
        id='zalo_oas templates number'),
    pytest.param(
        {'sms_apps': ['a']},
        "send setting 'sms_apps' must map SMS appkeys to secretkeys, got ['a']",
        id='sms_apps not mapping'),
    pytest.param(
        {'sms_apps': {'a': ['b']}},
        "send setting 'sms_apps' must map SMS appkeys to secretkeys, got {'a': "
        "['b']}",
        id='sms_apps value list'),
    pytest.param(
        {'sms_templates': ['a']},
        "send setting 'sms_templates' must map brandnames to template lists, got "
        "['a']",
        id='sms_templates not mapping'),
    pytest.param(
        {'sms_templates': {'ACME': 'x'}},
        "send setting sms_templates['ACME'] must be a list of template texts such "
        "as ['{P1,20} la ma OTP cua ban'], got 'x'",
        id='sms_templates string'),
    pytest.param(
        {'channel_magic_numbers': ['a']},
        "send setting 'channel_magic_numbers' must map channels to {suffix: "
        "outcome}, got ['a']",
        id='channel_magic_numbers not mapping'),
    pytest.param(
        {'channel_magic_numbers': {'zalo': '7777'}},
        "send setting 'channel_magic_numbers' must map channels to {suffix: "
        "outcome}, got {'zalo': '7777'}",
        id='channel_magic_numbers value string'),
    pytest.param(
        {'channel_magic_numbers': {'viber': {'1': 'failed'}}},
        "channel_magic_numbers: unknown channel 'viber'; channels: zalo, sms",
        id='channel unknown'),
    pytest.param(
        {'channel_magic_numbers': {'zalo': {'7a': 'failed'}}},
        "channel_magic_numbers['zalo']: suffix '7a' must be a string of digits",
        id='channel suffix'),
    pytest.param(
        {'channel_magic_numbers': {'zalo': {'7777': 'fail'}}},
        "channel_magic_numbers['zalo']['7777']: unknown outcome 'fail'; did you "
        f"mean 'failed'? outcomes: {OUTCOMES}",
        id='channel outcome'),
    pytest.param(
        {'balance': 'lots'},
        "send setting 'balance' must be a number or null, got 'lots'",
        id='balance string'),
    pytest.param(
        {'balance': True},
        "send setting 'balance' must be a number or null, got True",
        id='balance bool'),
    pytest.param(
        {'magic_numbers': ['1']},
        "send setting 'magic_numbers' must map number suffixes to outcomes, got "
        "['1']",
        id='magic_numbers not mapping'),
    pytest.param(
        {'magic_numbers': {'12ab': 'failed'}},
        "magic_numbers: suffix '12ab' must be a string of digits",
        id='magic suffix letters'),
    pytest.param(
        {'magic_numbers': {'1234': 'lost'}},
        "magic_numbers['1234']: unknown outcome 'lost'; did you mean 'lost_ack'? "
        f'outcomes: {OUTCOMES}',
        id='magic outcome'),
    pytest.param(
        {'appkey': 5},
        "send setting 'appkey' must be a string or null, got 5",
        id='appkey number'),
    pytest.param(
        {'default_webhook': 5},
        "send setting 'default_webhook' must be a string or null, got 5",
        id='default_webhook number'),
    pytest.param(
        {'nxcloud_default_webhook': 'ftp://x'},
        "nxcloud_default_webhook must be an http:// or https:// URL, got 'ftp://x'",
        id='nxcloud_default_webhook ftp'),
    pytest.param(
        {'esms_default_webhook': 'ftp://x'},
        "esms_default_webhook must be an http:// or https:// URL, got 'ftp://x'",
        id='esms_default_webhook ftp'),
    pytest.param(
        {'api_key': 5},
        "send setting 'api_key' must be a string, got 5",
        id='api_key number'),
    pytest.param(
        {'nxcloud_currency': 5},
        "send setting 'nxcloud_currency' must be a string, got 5",
        id='nxcloud_currency number'),
    pytest.param(
        {'default_outcome': 'deliverd'},
        "default_outcome: unknown outcome 'deliverd'; did you mean 'delivered'? "
        f'outcomes: {OUTCOMES}',
        id='default_outcome'),
    pytest.param(
        {'max_skew_ms': 'big'},
        "send setting 'max_skew_ms' must be a number, got 'big'",
        id='max_skew_ms string'),
    pytest.param(
        {'max_skew_ms': True},
        "send setting 'max_skew_ms' must be a number, got True",
        id='max_skew_ms bool'),
    pytest.param(
        {'max_body_bytes': 0},
        'max_body_bytes must be a positive number, got 0',
        id='max_body_bytes zero'),
    pytest.param(
        {'messages_limit': -1},
        'messages_limit must be a positive number, got -1',
        id='messages_limit negative'),
    pytest.param(
        {'request_id_limit': 0},
        'request_id_limit must be a positive number, got 0',
        id='request_id_limit zero'),
    pytest.param(
        {'request_id_ttl': 0},
        'request_id_ttl must be a positive number, got 0',
        id='request_id_ttl zero'),
    pytest.param(
        {'ads_min_phones': 0},
        'ads_min_phones must be an integer >= 1, got 0',
        id='ads_min_phones zero'),
    pytest.param(
        {'ads_min_phones': 1.5},
        'ads_min_phones must be an integer >= 1, got 1.5',
        id='ads_min_phones float'),
    pytest.param(
        {'ads_min_phones': True},
        "send setting 'ads_min_phones' must be a number, got True",
        id='ads_min_phones bool'),
    pytest.param(
        {'answer_margin': 10.5},
        'answer_margin must be seconds from 0 to 10, got 10.5',
        id='answer_margin over 10'),
    pytest.param(
        {'answer_margin': -0.1},
        'answer_margin must be seconds from 0 to 10, got -0.1',
        id='answer_margin negative'),
    pytest.param(
        {'answer_margin': True},
        "send setting 'answer_margin' must be a number, got True",
        id='answer_margin bool'),
    pytest.param(
        {'nxcloud_zns_price': -1},
        'nxcloud_zns_price must be a number >= 0, got -1',
        id='nxcloud_zns_price negative'),
    pytest.param(
        {'nxcloud_journey_price': False},
        "send setting 'nxcloud_journey_price' must be a number, got False",
        id='nxcloud_journey_price bool'),
    pytest.param(
        {'nxcloud_daily_quota': -1},
        'nxcloud_daily_quota must be a number >= 0, got -1',
        id='nxcloud_daily_quota negative'),
    pytest.param(
        {'user_id': 'x'},
        "send setting 'user_id' must be a number, got 'x'",
        id='user_id string'),
    pytest.param(
        {'max_skew_ms': 0, 'default_outcome': 'x'},
        "default_outcome: unknown outcome 'x'; did you mean 'delivered'? outcomes: "
        f'{OUTCOMES}; max_skew_ms must be a positive number, got 0',
        id='two problems'),
])
def test_a_bad_send_setting_is_refused_naming_the_setting_the_value_and_the_fix(
    values: Any, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        SendSettings.from_mapping(values)
    assert str(refused.value) == message


@pytest.mark.parametrize(("values", "message"), [
    pytest.param({"balance": "lots"}, "balance must be a number or null, got 'lots'",
                 id="balance string"),
    pytest.param({"balance": True}, "balance must be a number or null, got True",
                 id="balance bool"),
    pytest.param({"ads_min_phones": True}, "ads_min_phones must be an integer >= 1, got True",
                 id="ads_min_phones bool"),
    pytest.param({"answer_margin": True}, "answer_margin must be seconds from 0 to 10, got True",
                 id="answer_margin bool"),
    pytest.param({"max_skew_ms": True}, "max_skew_ms must be a positive number, got True",
                 id="max_skew_ms bool"),
    pytest.param({"request_id_ttl": "1"}, "request_id_ttl must be a positive number, got '1'",
                 id="request_id_ttl string"),
    pytest.param({"nxcloud_zns_price": True}, "nxcloud_zns_price must be a number >= 0, got True",
                 id="nxcloud_zns_price bool"),
    pytest.param({"nxcloud_daily_quota": "9"}, "nxcloud_daily_quota must be a number >= 0, got '9'",
                 id="nxcloud_daily_quota string"),
    pytest.param({"esms_unit_prices": {"2": "9"}},
                 "esms_unit_prices['2'] must be a number >= 0, got '9'", id="price string"),
    pytest.param({"magic_numbers": {1234: "failed"}},
                 "magic_numbers: suffix 1234 must be a string of digits", id="magic suffix int"),
    pytest.param({"channel_magic_numbers": {"zalo": {7777: "failed"}}},
                 "channel_magic_numbers['zalo']: suffix 7777 must be a string of digits",
                 id="channel suffix int"),
    pytest.param({"default_webhook": "file:///tmp/x"},
                 "default_webhook must be an http:// or https:// URL, got 'file:///tmp/x'",
                 id="default_webhook file"),
])
def test_settings_built_in_python_are_checked_as_a_config_file_is(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        SendSettings(**values)
    assert str(refused.value) == message


def test_every_problem_of_the_settings_is_named_at_once() -> None:
    with pytest.raises(ValueError) as refused:
        SendSettings(max_skew_ms=0, default_outcome="x", answer_margin=11)
    assert str(refused.value) == (
        f"default_outcome: unknown outcome 'x'; did you mean 'delivered'? outcomes: {OUTCOMES}; "
        "max_skew_ms must be a positive number, got 0; "
        "answer_margin must be seconds from 0 to 10, got 11")


def test_a_provider_with_a_bad_send_setting_does_not_start_and_says_why() -> None:
    with pytest.raises(DlrmockError) as refused:
        MockProvider(send={"receipt_delay": [3, 1]})
    assert str(refused.value) == ("config 'send': receipt_delay must be seconds (0 to 86400) or "
                                  "[min, max] with min <= max, got [3, 1]")


@pytest.mark.parametrize("values", [
    pytest.param({"receipt_delay": 0}, id="no receipt delay"),
    pytest.param({"receipt_delay": 86_400}, id="a day of receipt delay"),
    pytest.param({"receipt_delay": [0, 86_400]}, id="receipt delay range of a day"),
    pytest.param({"receipt_delay": [2, 2]}, id="receipt delay range of one value"),
    pytest.param({"rules": [{"match": {"phone": "1"}, "outcome": "failed",
                             "receipt_delay": [0, 86_400]}]}, id="rule delay range of a day"),
    pytest.param({"answer_margin": 0}, id="no answer margin"),
    pytest.param({"answer_margin": 10}, id="an answer margin of 10 s"),
    pytest.param({"ads_min_phones": 1}, id="one phone per campaign"),
    pytest.param({"nxcloud_zns_price": 0, "nxcloud_journey_price": 0,
                  "nxcloud_daily_quota": 0, "esms_unit_prices": {"2": 0}}, id="free and no quota"),
    pytest.param({"balance": 0}, id="an empty balance"),
    pytest.param({"max_skew_ms": 1, "max_body_bytes": 1, "request_id_ttl": 0.5,
                  "request_id_limit": 1, "messages_limit": 1}, id="the smallest limits"),
    pytest.param({"esms_default_webhook": "https://example.test/cb"}, id="an https webhook"),
])
def test_the_limits_of_each_setting_are_accepted(values: dict[str, Any]) -> None:
    settings = SendSettings.from_mapping(values)
    for key, value in values.items():
        got = getattr(settings, key)
        if key == "esms_unit_prices":
            assert got["2"] == 0 and got["1"] == 250  # merged with the default prices
        elif key == "rules":
            assert got[0].receipt_delay == (0, 86_400)
        else:
            assert (list(got) if isinstance(got, tuple) else got) == value


def test_each_provider_has_its_own_default_webhook_falling_back_to_the_shared_one() -> None:
    shared = "http://127.0.0.1:8000/all"
    settings = SendSettings(default_webhook=shared, esms_default_webhook="http://127.0.0.1:8000/e")
    assert settings.webhook_for("esms") == "http://127.0.0.1:8000/e"
    assert settings.webhook_for("nxcloud") == shared
    assert SendSettings().webhook_for("nxcloud") is None


def test_sms_apps_and_prices_of_a_config_file_are_read_as_text_keys() -> None:
    settings = SendSettings.from_mapping({"sms_apps": {"app-1": 123, 7: "s"},
                                          "esms_unit_prices": {2: 700}})
    assert settings.sms_apps == {"app-1": "123", "7": "s"}
    assert settings.esms_unit_prices["2"] == 700 and settings.esms_unit_prices["voice"] == 880


def test_an_unknown_setting_is_refused_with_the_closest_and_every_known_one() -> None:
    with pytest.raises(ValueError) as refused:
        SendSettings.from_mapping({"brandname": ["ACME"]})
    known = ", ".join(sorted(f for f in SendSettings().as_dict()))
    assert str(refused.value) == (
        f"unknown send setting 'brandname'; did you mean 'brandnames'? known: {known}")
    assert known.startswith("access_key, access_secret, ads_min_phones, ")
