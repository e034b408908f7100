"""What the conformance suite hands a receiver's ``prepare`` and ``probe`` for a scenario, and
how a failure names the message (docs/pytest.md, "Conformance suite")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_plugin.conformance import RULES

RECORDING_RECEIVER = '''
import json
import pathlib

from flask import Flask, request

from pytest_plugin.conformance import conformance_suite

RECORD = pathlib.Path({record!r})
APP = Flask(__name__)
STATUS = {{}}


def record(what, value):
    with RECORD.open("a") as file:
        file.write(json.dumps([what, value]) + "\\n")  # a probe may send its message as JSON


@APP.get("/esms")
def esms_callback():
    record("callback", dict(request.args))
    STATUS[request.args["RequestId"]] = "delivered" if request.args["SendStatus"] == "5" else "?"
    return {{"result": "ok"}}


def prepare(message):
    record("prepare", message)
    return {{"RequestId": "otp-1", "TotalPrice": "1234.0000"}}  # the second: a receipt field


def probe(message):
    record("probe", message)
    return STATUS.get(message["RequestId"])


TestOtp = conformance_suite("esms", app=APP, path="/esms", prepare=prepare, probe=probe,
                            scenarios=["esms.sms.cskh.delivered"])
'''


def _recorded(path: Path) -> dict[str, Any]:
    return {what: value for what, value in map(json.loads, path.read_text().splitlines())}


def test_prepare_gets_the_fields_the_receipts_share_and_probe_them_with_the_overrides(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    first, again = tmp_path / "first.jsonl", tmp_path / "again.jsonl"
    for record in (first, again):
        pytester.makeconftest(RECORDING_RECEIVER.format(record=str(record)))
        pytester.runpytest("conftest.py", "-p", "no:randomly").assert_outcomes(passed=1)

    seen = _recorded(first)
    prepared, callback, probed = seen["prepare"], seen["callback"], seen["probe"]
    shared = (prepared.keys() & callback.keys()) - {"RequestId"}
    assert {"SMSID", "phonenumber"} <= shared and prepared["SMSID"]
    assert {key: str(prepared[key]) for key in shared} == {key: callback[key] for key in shared}
    assert (callback["RequestId"], callback["TotalPrice"]) == ("otp-1", "1234.0000")
    assert probed == {**prepared, "RequestId": "otp-1", "TotalPrice": "1234.0000"}
    # Generated from the test's id: the same test gets the same message in every session.
    assert _recorded(again) == seen


def test_a_failure_names_the_message_by_the_key_the_scenario_is_about(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        from flask import Flask

        from pytest_plugin.conformance import conformance_suite

        APP = Flask(__name__)
        APP.add_url_rule("/hook", "hook", lambda: "success", methods=["POST"])

        TestForgetful = conformance_suite("nxcloud", app=APP, path="/hook",
                                          probe=lambda message: None,
                                          scenarios=["nxcloud.zalo.journey_time_out"])
        """
    )

    result = pytester.runpytest("conftest.py")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"      - [[]final[]] {RULES['final']}: expected 'journey_time_out' for journeyId '*', "
        "the system shows no record of it",
    ])


def test_a_run_cancelled_before_it_finished_fails_the_scenario(pytester: pytest.Pytester) -> None:
    # Another client of a shared server resets it while this scenario plays.
    pytester.makeconftest(
        """
        import pytest
        import requests
        from flask import Flask, request

        from pytest_plugin.conformance import conformance_suite

        APP = Flask(__name__)
        STATUS = {}
        SERVER = []


        @pytest.fixture(autouse=True)
        def dlrmock_url(dlrmock):
            SERVER[:] = [dlrmock.url]


        @APP.post("/hook")
        def hook():
            payload = request.get_json(force=True)
            STATUS[payload["requestId"]] = payload["status"]
            requests.post(SERVER[0] + "/_dlrmock/reset", timeout=5)
            return "success"


        TestReset = conformance_suite("nxcloud", app=APP, path="/hook",
                                      probe=lambda message: STATUS.get(message["requestId"]),
                                      scenarios=["nxcloud.zalo.success_then_delivered"])
        """
    )

    result = pytester.runpytest("conftest.py")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "      - [[]acknowledge[]] run run-* was cancelled before it finished",
    ])
