"""The ``dlrmock`` fixture's helpers, called the way a user's test calls them (docs/pytest.md,
"Fixture reference"): this module's tests take the plugin's own fixtures, as any test suite
with dlrmock installed can.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest
import requests
from targets import Target

from mock_server import decode_error_info
from pytest_plugin.handle import Dlrmock

ZALO = "nxcloud.zalo.delivered"
ZNS = "esms.zns.normal"
SEND_SMS = "/MainService.svc/json/SendMultipleMessage_V4_post_json"


def test_receipt_carries_the_shared_message_fields_it_is_given(dlrmock: Dlrmock) -> None:
    shared = {"requestId": "zalomid.order-42", "ext": "order-42"}

    payload = dlrmock.receipt(ZALO, shared=shared)

    assert (payload["requestId"], payload["ext"]) == ("zalomid.order-42", "order-42")
    assert dlrmock.receipt(ZALO)["requestId"] != "zalomid.order-42"


def _error_info_on_the_wire(url: str) -> str:
    found = re.search(r"[?&]error_info=([^&]*)", url)
    assert found, url
    return found.group(1)


def test_wire_puts_error_info_in_the_encoding_asked_for(dlrmock: Dlrmock) -> None:
    payload = dlrmock.receipt(ZNS)
    hook = "http://127.0.0.1:9/hook"

    quoted = _error_info_on_the_wire(dlrmock.wire(ZNS, payload, hook, error_info_encoding=1).url)
    plain = _error_info_on_the_wire(dlrmock.wire(ZNS, payload, hook, error_info_encoding=4).url)

    # 1: the JSON object quoted as a JSON string, not percent-encoded; 4: the plain object,
    # percent-encoded once (docs/scenarios.md) — and both decode to the receipt's error_info.
    assert quoted.startswith('"{') and "%" not in quoted
    assert urllib.parse.unquote(plain).startswith("{") and "%" in plain
    expected = decode_error_info(payload["error_info"]).data
    assert decode_error_info(quoted).data == decode_error_info(plain).data == expected


def test_validate_checks_against_the_kind_it_is_given(dlrmock: Dlrmock) -> None:
    delivered = dlrmock.receipt(ZALO)
    dlrmock.validate(delivered, kind=ZALO)

    with pytest.raises(AssertionError, match=r"^not a valid nxcloud\.zalo\.failed:\n .*status"):
        dlrmock.validate(delivered, kind="nxcloud.zalo.failed")


def test_validate_names_the_kind_it_detected(dlrmock: Dlrmock) -> None:
    broken = {**dlrmock.receipt(ZALO), "code": "17003"}

    with pytest.raises(AssertionError, match=r"^not a valid nxcloud\.zalo\.delivered:\n .*code"):
        dlrmock.validate(broken)


def test_validate_strict_refuses_an_undocumented_field_that_lenient_allows(
    dlrmock: Dlrmock,
) -> None:
    extended = {**dlrmock.receipt(ZALO), "tenant": "shop-1"}
    dlrmock.validate(extended)

    with pytest.raises(AssertionError, match=r"undocumented field 'tenant'"):
        dlrmock.validate(extended, strict=True)


def test_fuzz_passes_a_webhook_that_acknowledges_every_receipt(
    dlrmock: Dlrmock, target: Target
) -> None:
    report = dlrmock.fuzz(target.url, ZALO, max_examples=3)

    assert report.ok and report.kinds == [ZALO]
    assert 1 <= report.sent <= 3 and len(target.requests) == report.sent


def test_fuzz_fails_the_test_at_its_own_call_with_what_broke_the_webhook(
    pytester: pytest.Pytester, make_target: Any
) -> None:
    broken = make_target("error")
    pytester.makepyfile(
        f"""
        def test_my_webhook_survives_fuzzing(dlrmock):
            dlrmock.fuzz({broken.url!r}, ["{ZALO}"], max_examples=2)
        """
    )

    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*dlrmock.fuzz(*",
        f"E   *AssertionError: sent * receipts of 1 kinds to {broken.url}: 1 finding(s)",
        f"E   *{ZALO} (*): HTTP 500*",
    ])
    assert "handle.py" not in result.stdout.str()  # __tracebackhide__: the user's line is shown


def test_fuzz_gives_up_on_a_webhook_slower_than_its_timeout(
    dlrmock: Dlrmock, make_target: Any
) -> None:
    slow = make_target("slow", delay=1.0)

    with pytest.raises(AssertionError, match=rf"{re.escape(ZALO)} \(.*\): timeout after 0.2 s"):
        dlrmock.fuzz(slow.url, ZALO, max_examples=1, timeout=0.2)


def test_fuzz_draws_its_receipts_from_the_test_seed(dlrmock: Dlrmock, make_target: Any) -> None:
    # --dlrmock-seed N reruns a fuzzing test with the same receipts; another seed, other ones.
    def receipts_sent(seed: int) -> list[bytes]:
        webhook = make_target()
        Dlrmock(dlrmock.provider, seed=seed).fuzz(webhook.url, ZALO, max_examples=3)
        return [request.body for request in webhook.requests]

    first = receipts_sent(dlrmock.seed)

    assert receipts_sent(dlrmock.seed) == first
    assert receipts_sent(dlrmock.seed + 1) != first


def _send_sms(dlrmock: Dlrmock, phone: str) -> str:
    answer = requests.post(dlrmock.url + SEND_SMS, timeout=10, json={
        "ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key", "Phone": phone,
        "Content": "Ma OTP 123456", "SmsType": "2", "Brandname": "Baotrixemay",
        "CallbackUrl": "http://127.0.0.1:9/never"}).json()
    smsid: str = answer["SMSID"]
    return smsid


def test_a_held_message_is_released_to_the_outcome_the_test_picks(dlrmock: Dlrmock) -> None:
    smsid = _send_sms(dlrmock, "0912346666")  # 6666: held until released
    assert [(m.id, m.state) for m in dlrmock.messages] == [(smsid, "held")]

    dlrmock.release(smsid, "failed")

    message = dlrmock.message(smsid).wait("final", 10)
    assert [part["outcome"] for part in message.parts] == ["failed"]


def test_a_held_message_is_released_to_the_scenario_the_test_picks(dlrmock: Dlrmock) -> None:
    smsid = _send_sms(dlrmock, "0912346666")

    dlrmock.release(smsid, scenario="esms.sms.cskh.retried_after_lost_ack")

    message = dlrmock.message(smsid).wait("final", 10)
    assert [part["scenario"] for part in message.parts] == ["esms.sms.cskh.retried_after_lost_ack"]


def test_the_runs_of_a_test_include_the_run_of_a_held_message_it_released(
    dlrmock: Dlrmock,
) -> None:
    # "runs: the runs this test played and the runs its system's sends caused": the journal a
    # failed test shows must include what a released message played.
    smsid = _send_sms(dlrmock, "0912346666")
    assert dlrmock.runs == []

    dlrmock.release(smsid, "delivered")

    message = dlrmock.message(smsid).wait("final", 10)
    assert [run.id for run in dlrmock.runs] == message.run_ids != []
    assert "esms.sms.cskh" in dlrmock.journals()


def test_runs_are_listed_in_the_order_they_started(
    pytester: pytest.Pytester, target: Target
) -> None:
    # A fresh session's server numbers runs from run-1: eleven of them pass run-9.
    pytester.makepyfile(
        f"""
        def test_eleven_runs(dlrmock):
            played = [dlrmock.play("nxcloud.zalo.failed", to={target.url!r}) for _ in range(11)]
            assert [run.id for run in dlrmock.runs] == [run.id for run in played]
            assert played[-1].id == "run-11"
        """
    )

    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)


def test_runs_play_at_time_scale_0_even_when_the_session_server_keeps_real_time(
    pytester: pytest.Pytester, target: Target
) -> None:
    # docs/pytest.md: "Runs default to time_scale=0 in tests", whatever dlrmock_config says.
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture(scope='session')\ndef dlrmock_config():\n"
        "    return {'time_scale': 1}\n"
    )
    pytester.makepyfile(
        f"""
        def test_an_hour_later(dlrmock):
            scenario = {{"steps": [{{"kind": "nxcloud.zalo.failed", "after": 3600}}]}}
            dlrmock.play(scenario, to={target.url!r}).wait(timeout=10).assert_acknowledged()
        """
    )

    pytester.runpytest().assert_outcomes(passed=1)
    assert target.count() == 1
