"""Rules of planning a run (``mock_server/_engine/plan.py``) that mutation testing found unguarded.

Each test states one rule in its name and plays a run the way a caller does (``Engine.play``);
every webhook is a loopback ``Target`` on 127.0.0.1, port 0.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from targets import Target

from mock_server import Engine, OverrideError, RunError
from mock_server.cli import cli

WAIT = 5.0


def test_a_run_field_in_no_receipt_and_like_none_is_refused_naming_the_kinds_and_the_fix(
    engine: Engine, target: Target
) -> None:
    expected = (
        "field 'zzzqqq' is in none of the receipts of nxcloud.zalo.success_then_delivered "
        "(nxcloud.zalo.success, nxcloud.zalo.delivered); check its spelling, or set it in a "
        "step's 'set' of your own scenario to add it"
    )
    with pytest.raises(RunError, match=f"^{re.escape(expected)}$"):
        engine.play("nxcloud.zalo.success_then_delivered", target.url, fields={"zzzqqq": "1"})
    assert engine.runs() == [] and target.count() == 0


def test_a_run_field_that_makes_a_receipt_invalid_is_refused_naming_every_value_and_the_fix(
    engine: Engine, target: Target
) -> None:
    expected = (
        "zaloRes.data.quota=1, code=5 makes the nxcloud.zalo.failed receipt of step 0 invalid: "
        "$.zaloRes.data.quota: 1 is not of type 'object'; fix the value, or send it anyway with "
        "--allow-invalid (allow_invalid=True in Python and the admin API), marked malformed"
    )
    with pytest.raises(OverrideError, match=f"^{re.escape(expected)}$"):
        engine.play("nxcloud.zalo.failed", target.url,
                    fields={"zaloRes.data.quota": 1, "code": 5})
    assert engine.runs() == [] and target.count() == 0


def test_a_reordered_first_step_swaps_with_the_second_and_leaves_the_third_in_place(
    engine: Engine, target: Target
) -> None:
    scenario = {"steps": [{"kind": "nxcloud.zalo.success", "reorder": True},
                          {"kind": "nxcloud.zalo.delivered", "after": 1},
                          {"kind": "nxcloud.zalo.failed", "after": 1}]}
    run = engine.play(scenario, target.url).wait(WAIT)

    assert [a.step for a in run.attempts] == [1, 0, 2]
    assert [a.offset for a in run.attempts] == [0.0, 1.0, 2.0]
    assert [json.loads(r.body)["status"] for r in target.wait_for(3)] == [
        "delivered", "success", "failed"]


def test_play_set_of_a_text_message_field_keeps_digits_as_text(target: Target) -> None:
    # SMSID is text: "--set SMSID=12345" is the text "12345", not the number (only a field
    # whose generated value is not text, like receivers, reads the CLI's text as JSON).
    result = CliRunner(env={"DLRMOCK_ADMIN_TOKEN": None}).invoke(cli, [
        "play", "esms.sms.ads.delivered", "--to", target.url, "--time-scale", "0", "--json",
        "--set", "SMSID=12345",
    ])

    assert result.exit_code == 0, result.output
    run: dict[str, Any] = json.loads(result.stdout)["run"]
    assert run["message_id"] == "12345" and run["message"]["SMSID"] == "12345"
    (request,) = target.wait_for(1)
    assert parse_qs(urlsplit(request.path).query)["SMSID"] == ["12345"]


def test_a_run_field_that_turns_a_receipt_into_another_kind_is_invalid_for_the_step_kind(
    engine: Engine, target: Target
) -> None:
    # status=delivered makes the failed receipt a valid delivered one; it is still step 0's
    # nxcloud.zalo.failed receipt, checked against that kind.
    with pytest.raises(OverrideError, match=r"^status='delivered' makes the nxcloud\.zalo\.failed "
                                            r"receipt of step 0 invalid: \$\.status: "):
        engine.play("nxcloud.zalo.failed", target.url, fields={"status": "delivered"})
    run = engine.play("nxcloud.zalo.failed", target.url, fields={"status": "delivered"},
                      allow_invalid=True).wait(WAIT)

    assert [a.malformed for a in run.attempts] == ["invalid_override"]
    assert json.loads(target.wait_for(1)[0].body)["status"] == "delivered"
