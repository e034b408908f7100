"""Scenarios: the built-in ones, files in YAML and JSON, and the errors bad files get."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from targets import Target

from mock_server import (
    KINDS,
    Engine,
    Scenario,
    ScenarioError,
    UnknownScenarioError,
    builtin_scenarios,
    decode_error_info,
    load_scenario,
)
from mock_server._registry import validator_for
from mock_server._scenarios import load_scenario_file, parse_scenario
from mock_server.cli import cli

FILES = Path(__file__).resolve().parent / "scenario_files"
GOOD = sorted((FILES / "good").iterdir())
BAD = sorted((FILES / "bad").iterdir())

REQUIRED_BUILTINS = [
    "nxcloud.zalo.success_then_delivered",
    "nxcloud.zalo.failed",
    "nxcloud.zalo.success_never_delivered",
    "nxcloud.zalo.journey_acknowledged_then_time_out",
    "nxcloud.zalo.delivered_before_success",
    "nxcloud.zalo.duplicate_delivered",
    "esms.sms.cskh.delivered",
    "esms.sms.cskh.failed",
    "esms.sms.ads.delivered",
    "esms.viber.message.delivered",
    "esms.zns.priority.delivered",
    "esms.zns.normal.delivered",
    "esms.zns.normal.failed_user_inactive",
    "esms.zalo.follower.delivered",
    "esms.zns.journey.delivered",
    "esms.sms.cskh.retried_after_lost_ack",
]

# What each file under scenario_files/bad must produce: (line, path inside the file, how the
# message starts). A file without an entry here fails, so every bad file is a test case.
EXPECTED: dict[str, tuple[int | None, str | None, str]] = {
    "unknown_kind.yaml": (
        4, "steps[1].kind",
        "unknown receipt kind 'nxcloud.zalo.deliverd'; did you mean 'nxcloud.zalo.delivered'?",
    ),
    "negative_delay.yaml": (
        3, "steps[0].after", "bad delay -1: 'after' is a number of seconds, 0 to 31536000",
    ),
    "delay_over_a_year.yaml": (
        3, "steps[0].after", "bad delay 31536001: 'after' is a number of seconds, 0 to 31536000",
    ),
    "delay_with_unit.yaml": (4, "steps[1].after", "bad delay '2s'"),
    "yaml_syntax_error.yaml": (3, None, "not valid YAML/JSON"),
    "json_syntax_error.json": (4, None, "not valid YAML/JSON: expected ',' or ']'"),
    "control_character.yaml": (
        3, None,
        "not valid YAML/JSON: unacceptable character #x0007: special characters are not allowed",
    ),
    "unknown_top_level_key.yaml": (
        2, "descripton",
        "Additional properties are not allowed ('descripton' was unexpected); did you mean "
        "'description'? (allowed: description, error_info_encoding, expect, message, name, "
        "policy, set, steps)",
    ),
    "unknown_step_key.yaml": (
        4, "steps[1].delay",
        "Additional properties are not allowed ('delay' was unexpected); check the spelling "
        "(allowed: after, duplicate, kind, lost_ack, malformed, reorder, set)",
    ),
    "two_unknown_step_keys.yaml": (
        4, "steps[1].delay",
        "Additional properties are not allowed ('delay', 'retries' were unexpected); check the "
        "spelling (allowed: after, duplicate, kind, lost_ack, malformed, reorder, set)",
    ),
    # A field merged in with YAML's `<<` has no line of its own: the step's line is given.
    "merged_step_field.yaml": (
        4, "steps[1].ext", "Additional properties are not allowed ('ext' was unexpected)",
    ),
    "empty_steps.yaml": (
        2, "steps",
        "'steps' is empty: list at least one receipt, e.g. '- kind: nxcloud.zalo.success'",
    ),
    "missing_steps.yaml": (1, "(top level)", "'steps' is required"),
    "duplicate_not_a_number.yaml": (
        3, "steps[0].duplicate", "'twice' is not of type 'integer'",
    ),
    "kind_not_a_string.json": (3, "steps[0].kind", "17003 is not of type 'string'"),
    "steps_not_a_list.yaml": (
        2, "steps", "{'kind': 'nxcloud.zalo.success'} is not of type 'array'",
    ),
    "not_a_mapping.yaml": (
        1, "(top level)",
        "a scenario is a mapping with a 'steps' list, got list; see `dlrmock scenarios --json` "
        "for examples",
    ),
    "mixed_providers.json": (
        2, "steps", "all steps must be receipts of one provider, got esms, nxcloud",
    ),
    # The problem nearest the top is the one reported.
    "two_problems.yaml": (
        1, "descripton", "Additional properties are not allowed ('descripton' was unexpected)",
    ),
    "reorder_last_step.yaml": (4, "steps[1].reorder", "the last step cannot be reordered"),
    "policy_retries_not_a_number.yaml": (
        3, "policy.retries", "'many' is not of type 'integer'",
    ),
    "unknown_malformed_mode.yaml": (
        3, "steps[0].malformed",
        "bad malformed mode 'truncated'; use true or one of missing_field, wrong_type, bad_json, "
        "bad_error_info",
    ),
    "malformed_without_error_info.yaml": (
        3, "steps[0].malformed",
        "malformed: bad_error_info needs a kind with error_info, and 'esms.sms.cskh' has none; "
        "use missing_field or wrong_type",
    ),
    "bad_json_without_a_body.yaml": (
        3, "steps[0].malformed",
        "malformed: bad_json needs a JSON body or an error_info, and 'esms.sms.cskh' has "
        "neither; use missing_field or wrong_type",
    ),
    "bad_lost_ack.yaml": (
        3, "steps[0].lost_ack",
        "bad lost_ack 'sometimes'; use true (every answer lost) or the number of answers lost, "
        "e.g. 2",
    ),
    "bad_error_info_encoding.yaml": (
        1, "error_info_encoding", "5 is not one of [1, 2, 3, 4]",
    ),
    "two_documents.yaml": (None, None, "expected one scenario in the file, found 2"),
    "empty_file.yaml": (None, None, "expected one scenario in the file, found 0"),
}


# ---------------------------------------------------------------------------------- built-ins
def test_every_required_builtin_scenario_exists() -> None:
    missing = sorted(set(REQUIRED_BUILTINS) - set(builtin_scenarios()))
    assert missing == []


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_builtin_scenario_is_described_and_round_trips(name: str) -> None:
    scenario = builtin_scenarios()[name]

    assert scenario.name == name and scenario.description
    assert name.split(".", 1)[0] == scenario.provider
    as_file = scenario.as_dict()
    assert list(validator_for("dlrmock.scenario").iter_errors(as_file)) == []
    again = parse_scenario(json.loads(json.dumps(as_file)), source=scenario.source)
    assert again == scenario


def test_builtin_failures_carry_the_documented_error_codes() -> None:
    nxcloud = builtin_scenarios()["nxcloud.zalo.failed"].steps[0].set
    esms = builtin_scenarios()["esms.zns.normal.failed_user_inactive"].steps[0].set

    assert nxcloud["zaloRes.error"] == -118
    assert esms["error_info.error"] == -114


def test_retried_after_lost_ack_loses_every_answer() -> None:
    (step,) = builtin_scenarios()["esms.sms.cskh.retried_after_lost_ack"].steps

    assert step.lost_ack == -1 and step.kind == "esms.sms.cskh"


# -------------------------------------------------------------------------------------- files
@pytest.mark.parametrize("path", GOOD, ids=[p.name for p in GOOD])
def test_good_scenario_file_plays(path: Path, target: Target, engine: Engine) -> None:
    scenario = load_scenario(path)

    run = engine.play(str(path), target.url).wait(5)

    assert run.scenario == scenario and scenario.source == str(path)
    assert run.ok, run.journal_text()
    assert target.count() == len(run.attempts)


@pytest.mark.parametrize("path", GOOD, ids=[p.name for p in GOOD])
def test_a_scenario_file_round_trips_through_the_file_format_it_is_listed_in(path: Path) -> None:
    # `dlrmock scenarios --json` shows a scenario in its file format, every setting included
    # (esms_zns_retried.json: error_info_encoding 4, lost_ack 1).
    scenario = load_scenario(path)

    as_file = json.loads(json.dumps(scenario.as_dict()))

    assert parse_scenario(as_file, source=scenario.source) == scenario


def test_a_scenario_file_keeps_its_description_message_policy_and_expectation() -> None:
    scenario = load_scenario_file(FILES / "good" / "order_shipped.yaml")

    assert scenario.description == "success, delivered twice, then a late success"
    assert scenario.message == {"ext": "order-42"}
    assert scenario.policy == {"timeout": 2, "retries": 0}
    assert scenario.expect == {"final": "delivered"}


def test_scenario_name_defaults_to_the_file_name() -> None:
    assert load_scenario_file(FILES / "good" / "esms_zns_retried.json").name == "esms_zns_retried"
    assert load_scenario_file(FILES / "good" / "order_shipped.yaml").name == "order-shipped"


def test_json_scenario_file_applies_its_settings(target: Target, engine: Engine) -> None:
    run = engine.play(str(FILES / "good" / "esms_zns_retried.json"), target.url).wait(5)

    assert [a.outcome for a in run.attempts] == ["lost_ack", "acknowledged"]
    path = target.requests[0].path
    assert "&RequestId=r-1&" in path
    assert "&error_info={%22error%22%3A0%2C" in path  # encoding 4: plain JSON, braces raw


def test_readme_scenario_file_plays_its_faults(target: Target, engine: Engine) -> None:
    run = engine.play(str(FILES / "good" / "order_shipped.yaml"), target.url).wait(5)

    bodies = [json.loads(r.body) for r in target.requests]
    assert [b["status"] for b in bodies] == ["success", "delivered", "delivered", "success"]
    assert {b["ext"] for b in bodies} == {"order-42"}
    assert bodies[3]["zaloRes"]["data"]["sending_mode"] == "2"
    assert [a.offset for a in run.attempts] == [0.0, 2.0, 2.0, 3.0]


def test_every_bad_file_has_an_expectation() -> None:
    assert sorted(p.name for p in BAD) == sorted(EXPECTED)


@pytest.mark.parametrize("path", BAD, ids=[p.name for p in BAD])
def test_bad_scenario_file_error_names_the_file_line_and_path(path: Path) -> None:
    line, where, message = EXPECTED[path.name]

    with pytest.raises(ScenarioError) as info:
        load_scenario(path)

    error = info.value
    assert (error.source, error.line, error.path) == (str(path), line, where)
    text = str(error)
    prefix = str(path) + (f":{line}" if line else "") + (f" at {where}" if where else "")
    assert text.startswith(prefix + ": " + message), text
    assert "\n" not in text


def test_unreadable_file_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"steps:\n  - kind: nxcloud.zalo.success\n    set: {ext: caf\xe9}\n")

    with pytest.raises(ScenarioError, match=r"latin1\.yaml: cannot read the file"):
        load_scenario(path)


def test_missing_file_and_unknown_name_say_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")
    with pytest.raises(UnknownScenarioError) as info:
        load_scenario("nxcloud.zalo.success_then_deliverd")
    assert "did you mean 'nxcloud.zalo.success_then_delivered'?" in str(info.value)


@pytest.mark.parametrize("name", ["nope.yaml", "nope.yml", "nope.json", "nope.YAML"])
def test_a_scenario_file_that_does_not_exist_is_refused_naming_the_file(
    tmp_path: Path, name: str
) -> None:
    missing = tmp_path / name

    with pytest.raises(ScenarioError) as info:
        load_scenario(missing)

    assert str(info.value) == (
        f"{missing}: no such file (a scenario name or a path to a .yaml/.json file)")
    assert info.value.source == str(missing)


def test_inline_mapping_is_parsed_like_a_file() -> None:
    scenario = load_scenario({"steps": [{"kind": "esms.sms.cskh", "lost_ack": 2}]})

    assert isinstance(scenario, Scenario)
    assert (scenario.name, scenario.source, scenario.steps[0].lost_ack) == ("inline", "<inline>", 2)
    assert (scenario.description, scenario.policy, scenario.error_info_encoding) == ("", {}, None)
    with pytest.raises(ScenarioError, match=r"^<inline> at steps\[0\]\.kind: unknown receipt"):
        load_scenario({"steps": [{"kind": "esms.sms.cshk"}]})


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_malformed_true_means_missing_field(kind: str) -> None:
    scenario = parse_scenario({"steps": [{"kind": kind, "malformed": True}]})

    assert scenario.steps[0].malformed == "missing_field"


# ------------------------------------------------------------------------------ dlrmock play
@pytest.mark.parametrize("name", ["unknown_kind.yaml", "yaml_syntax_error.yaml",
                                  "negative_delay.yaml", "json_syntax_error.json"])
def test_play_with_a_bad_file_exits_2_with_one_line(name: str, target: Target) -> None:
    path = FILES / "bad" / name
    line, _, message = EXPECTED[name]

    result = CliRunner().invoke(cli, ["play", str(path), "--to", target.url, "--time-scale", "0"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"dlrmock: error: {path}:{line}")
    assert message in result.stderr
    assert target.count() == 0


# ------------------------------------------------ descriptions and expectations vs. the payloads
CLAIM = re.compile(
    r"\b(?P<field>SendStatus|SendSuccess|SendFailed|TotalSent|zaloRes\.error|code"
    r"|error_info error)\s*(?P<op>>|<)?\s*(?P<value>-?\d+)\b"
)
SECONDS = re.compile(r"\b(?P<value>\d+(?:\.\d+)?) s\b")
ESMS_PENDING = {"1", "2", "7"}
NXCLOUD_RANKS = {"success": 1, "journey_acknowledged": 2, "delivered": 3, "failed": 3,
                 "journey_time_out": 3}


def _claimed(payload: dict[str, Any], field: str) -> Any:
    if field == "error_info error":
        raw = payload.get("error_info")
        return decode_error_info(raw).data.get("error") if raw else None
    node: Any = payload
    for part in field.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def esms_status(payload: dict[str, Any]) -> str:
    """The README's eSMS table: what one callback means."""
    if "ReferenceId" in payload:  # a voice call
        if payload["SendStatus"] in ESMS_PENDING:
            return "pending"
        return "delivered" if payload["SendStatus"] == "5" and payload["SentResult"] == "1" else (
            "failed")
    error = _claimed(payload, "error_info error")
    if payload["SendStatus"] in ESMS_PENDING:
        return "pending"
    if payload["SendStatus"] == "5" and int(payload["SendSuccess"]) > 0 and not error:
        return "delivered"
    return "failed"  # 4 rejected; 5 with nothing reached, or a Zalo error


SMS_STATUSES = {"2": "delivered", "5": "undelivered", "6": "rejected", "7": "expired",
                "8": "deleted", "9": "dnd", "10": "invalid_number", "11": "invalid_sender",
                "12": "unknown"}
FAMILY_RANKS = {  # the README's order: final 3; seen / read / deleted follow delivered
    "nxcloud.viber": {"success": 1, "delivered": 3, "failed": 3, "expired": 3, "seen": 4},
    "nxcloud.whatsapp": {"sent": 1, "delivered": 3, "failed": 3, "read": 4, "deleted": 5},
}


def _family_status(family: str, payload: dict[str, Any]) -> str:
    if family == "nxcloud.sms":
        return SMS_STATUSES[payload["status"]]
    if family == "nxcloud.whatsapp":
        return str(payload["statuses"][0]["status"])
    return str(payload["status"])


def final_status(scenario: Scenario, payloads: list[dict[str, Any]]) -> str | None:
    """What the README's tables say a correct receiver ends in after these payloads."""
    status: str | None = None
    family = ".".join(scenario.kinds[0].split(".")[:2])
    for payload in payloads:
        if family == "nxcloud.sms":  # every report is final: the first one wins
            status = status or _family_status(family, payload)
        elif family in FAMILY_RANKS:
            ranks, new = FAMILY_RANKS[family], _family_status(family, payload)
            if status is None or (ranks[new] > ranks[status] and
                                  (ranks[status] < 3 or ranks[new] > 3)):
                status = new
        elif scenario.provider == "esms":
            new = esms_status(payload)
            if status in (None, "pending"):
                status = new
        else:
            new = str(payload["status"])
            charged = status == "journey_acknowledged" and new == "journey_time_out"
            if not charged and (status is None or (
                    NXCLOUD_RANKS[new] > NXCLOUD_RANKS[status] and NXCLOUD_RANKS[status] < 3)):
                status = new
    return status


def played_payloads(scenario: Scenario, seed: int) -> list[dict[str, Any]]:
    """The receipts of one run, in delivery order, malformed ones left out."""
    with Engine(time_scale=0) as engine:
        run = engine.play(scenario, "http://127.0.0.1:9/never", clock="manual", seed=seed)
        return [d.payload for d in run.deliveries if not d.malformed]


@pytest.mark.parametrize("name", list(builtin_scenarios()))
def test_builtin_description_and_expectation_hold_for_its_payloads(name: str) -> None:
    scenario = builtin_scenarios()[name]
    claims = list(CLAIM.finditer(scenario.description))
    for seed in range(5):
        payloads = played_payloads(scenario, seed)
        for claim in claims:
            field, op, value = claim["field"], claim["op"], int(claim["value"])
            having = [p for p in payloads if _claimed(p, field) is not None]
            assert having, f"{name}: the description claims {claim[0]!r}; no receipt has {field}"
            for payload in having:
                actual = int(_claimed(payload, field))
                holds = actual > value if op == ">" else actual < value if op else actual == value
                assert holds, f"{name}: the description says {claim[0]!r}, a receipt has {actual}"
        for found in SECONDS.finditer(scenario.description):
            assert float(found["value"]) in [s.after for s in scenario.steps], (
                f"{name}: the description says {found[0]!r}; no step waits that long"
            )
        if "final" in scenario.expect and scenario.kinds[0].split(".")[:2] in (
            ["nxcloud", "zalo"], ["esms", "sms"], ["esms", "zns"], ["esms", "viber"],
            ["esms", "zalo"], ["nxcloud", "sms"], ["nxcloud", "viber"], ["nxcloud", "whatsapp"],
            ["esms", "voice"],
        ):
            assert final_status(scenario, payloads) == scenario.expect["final"], name


def test_campaign_counts_decide_the_status_as_the_readme_says() -> None:
    reached = {"SendStatus": "5", "SendSuccess": "131", "SendFailed": "40", "TotalSent": "174"}
    none = {**reached, "SendSuccess": "0", "SendFailed": "174"}

    assert esms_status(reached) == "delivered"
    assert esms_status(none) == "failed"
    assert esms_status({**reached, "SendStatus": "7"}) == "pending"
    assert esms_status({**reached, "SendStatus": "4"}) == "failed"


def test_a_voice_call_is_delivered_only_when_it_went_through() -> None:
    answered = {"ReferenceId": "r", "SendStatus": "5", "SentResult": "1", "CallStatus": "ANSWERED"}

    assert esms_status(answered) == "delivered"
    assert esms_status({**answered, "SentResult": "0", "CallStatus": ""}) == "failed"
    assert esms_status({**answered, "SendStatus": "7"}) == "pending"


# --------------------------------------------------------------------- hostile scenario files
LAUGHS = "\n".join(
    [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
)


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (LAUGHS, 5, "expands to more than 10000 values"),  # l4 is the first past 10 000
        ("a: &a [*a]\n", 1, "refers to a value that contains it"),
        ("steps:\n  - kind: esms.sms.cskh\n    set: &s {x: [*s]}\n", 3,
         "refers to a value that contains it"),
        ("a: " + "[" * 20_000 + "]" * 20_000 + "\n", 1, "nested too deeply"),
        ("a: " + "[" * 70 + "]" * 70 + "\n", 1, "nested too deeply"),
    ],
)
def test_a_hostile_scenario_file_is_refused_quickly_naming_the_file_and_line(
    tmp_path: Path, content: str, line: int, message: str
) -> None:
    import time

    path = tmp_path / "hostile.yaml"
    path.write_text(content)
    started = time.monotonic()
    with pytest.raises(ScenarioError, match=message) as info:
        load_scenario_file(path)
    assert time.monotonic() - started < 2
    assert (info.value.source, info.value.line) == (str(path), line)


def test_play_on_a_deeply_nested_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 20_000 + "]" * 20_000 + "\n")
    result = CliRunner().invoke(cli, ["play", str(path), "--to", "http://127.0.0.1:9/"])
    assert result.exit_code == 2
    assert "nested too deeply" in result.stderr and result.stderr.count("\n") == 1


def test_small_aliases_still_load(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text(
        "name: aliased\nsteps:\n  - kind: esms.sms.cskh\n    set: &s {Telco: viettel}\n"
        "  - kind: esms.sms.cskh\n    set: *s\n"
    )
    assert [s.set for s in load_scenario_file(path).steps] == [{"Telco": "viettel"}] * 2


def _scenario_with_message(message_yaml: str) -> str:
    """A valid one-step scenario file whose ``message`` is ``message_yaml`` (indented below it)."""
    return f"message:\n{message_yaml}steps:\n  - kind: nxcloud.zalo.success\n"


def _nested_lists(levels: int) -> str:
    """``levels`` lists, the deepest branch after a shallower one (levels are counted back)."""
    return "  x: [[], " + "[" * (levels - 1) + "1" + "]" * (levels - 1) + "]\n"


def _aliased_lists(levels: int) -> str:
    """``levels`` lists nested through aliases, each written one level deep."""
    lines = ["  l1: &l1 [1]"] + [f"  l{i}: &l{i} [*l{i - 1}]" for i in range(2, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("nested", "line"), [(_nested_lists, 2), (_aliased_lists, 1)], ids=["written", "aliased"]
)
def test_a_scenario_file_nested_64_levels_loads_and_65_is_refused_naming_the_file(
    tmp_path: Path, nested: Any, line: int
) -> None:
    # The document, `message` and the lists: 2 + 62 levels (docs/security.md: "nested more
    # than 64 levels ... refused"); the number at the bottom is no level.
    path = tmp_path / "deep.yaml"
    path.write_text(_scenario_with_message(nested(62)))
    assert load_scenario_file(path).steps[0].kind == "nxcloud.zalo.success"

    path.write_text(_scenario_with_message(nested(63)))
    with pytest.raises(ScenarioError, match="64 levels") as info:
        load_scenario_file(path)
    assert (info.value.source, info.value.line) == (str(path), line)


def _aliased_values(extra: int) -> str:
    """A ``message`` of 9 913 + ``extra`` values once its 98 aliases of a 100-value list expand:
    every key and value counts, with the document, `steps`, the step, `kind` and its value."""
    hundred = ", ".join(["0"] * 99)
    aliases = ", ".join(["*a"] * 98)
    rest = ", ".join(["0"] * extra)
    return f"  a: &a [{hundred}]\n  l: [{aliases}]\n  r: [{rest}]\n"


def test_a_scenario_file_of_10000_values_loads_and_one_more_is_refused(tmp_path: Path) -> None:
    # docs/security.md: "scenario files whose YAML aliases expand past 10 000 values" are refused.
    path = tmp_path / "laughs.yaml"
    path.write_text(_scenario_with_message(_aliased_values(87)))
    assert len(load_scenario_file(path).message["l"]) == 98

    path.write_text(_scenario_with_message(_aliased_values(88)))
    with pytest.raises(ScenarioError, match="expands to more than 10000 values") as info:
        load_scenario_file(path)
    assert (info.value.source, info.value.line) == (str(path), 1)
