"""`dlrmock validate` and `dlrmock example`: exit codes, messages, and their round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mock_server import KINDS, decode_error_info, load_payload, validate
from mock_server.cli import cli, main


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def assert_usage_error(result: Result) -> str:
    """Exit 2 with exactly one line on stderr, no traceback; that line is returned."""
    assert result.exit_code == 2, (result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output and lines[0].startswith("dlrmock: error: ")
    return lines[0]


def _payload_text(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)


# ------------------------------------------------------------------------------ validate
def test_seed_example_file_passes(example_path: Path, example_kind: str) -> None:
    result = run("validate", str(example_path))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"valid {example_kind}"


def test_seed_example_passes_strictly_with_its_kind_given(
    example_path: Path, example_kind: str
) -> None:
    result = run("validate", "--strict", "--kind", example_kind, str(example_path))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"valid {example_kind} (strict)"


@pytest.mark.parametrize(
    ("example", "mutate", "field"),
    [
        ("nxcloud.zalo.success.json", lambda p: p.update(code="0"), "$.code"),
        (
            "nxcloud.zalo.failed.json",
            lambda p: p["zaloRes"].update(error="-118"),
            "$.zaloRes.error",
        ),
        ("nxcloud.zalo.journey_time_out.json", lambda p: p.pop("timestamp"), "$.timestamp"),
    ],
)
def test_a_mutated_seed_file_fails_naming_the_field(
    examples_dir: Path, tmp_path: Path, example: str, mutate: Any, field: str
) -> None:
    payload = json.loads((examples_dir / example).read_text("utf-8"))
    mutate(payload)
    path = tmp_path / example
    path.write_text(json.dumps(payload, indent=1), "utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"invalid nxcloud.zalo.{payload['status']}: {field}: ")


def test_a_mutated_seed_url_fails_naming_the_field(examples_dir: Path, tmp_path: Path) -> None:
    url = (examples_dir / "esms.zns.normal.url").read_text("utf-8")
    path = tmp_path / "mutated.url"
    path.write_text(url.replace("telcoid=2&", "telcoid=two&"), "utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("invalid esms.zns.normal: $.telcoid: ")


def test_every_invalid_vector_fails_with_its_field_first(
    invalid_vector: Path, tmp_path: Path
) -> None:
    vector = json.loads(invalid_vector.read_text("utf-8"))
    path = tmp_path / "payload.txt"
    path.write_text(_payload_text(vector["payload"]), "utf-8")
    result = run("validate", "--kind", invalid_vector.parent.name, str(path))
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[0].startswith(
        f"invalid {invalid_vector.parent.name}: {vector['expect_path']}: "
    )


def test_json_output_lists_every_problem_with_its_path() -> None:
    payload = {"status": "delivered", "code": "17003", "sendTime": "now", "ext": 5}
    result = run("validate", "--json", json.dumps(payload))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["kind"] == "nxcloud.zalo.delivered"
    assert report["valid"] is False and report["strict"] is False
    assert report["problems"] == [p.as_dict() for p in validate(payload)]
    paths = {p["path"] for p in report["problems"]}
    assert paths == {"$.requestId", "$.message", "$.code", "$.sendTime", "$.ext"}
    assert all(p["message"] and p["validator"] for p in report["problems"])


def test_json_output_of_a_valid_payload(examples_dir: Path) -> None:
    result = run("validate", "--json", "--strict", str(examples_dir / "esms.sms.ads.url"))
    assert result.exit_code == 0
    assert json.loads(result.output) == {
        "kind": "esms.sms.ads",
        "valid": True,
        "strict": True,
        "problems": [],
    }


def test_human_output_lists_the_other_problems_after_the_first() -> None:
    result = run("validate", '{"status": "delivered", "code": "17003"}')
    assert result.exit_code == 1
    first, *rest = result.output.splitlines()
    assert first.startswith("invalid nxcloud.zalo.delivered: $.")
    assert rest and all(line.startswith("  also $.") for line in rest)


def test_strict_reports_an_undocumented_field(examples_dir: Path) -> None:
    url = (examples_dir / "esms.viber.message.url").read_text("utf-8").strip() + "&extra=1"
    assert run("validate", url).exit_code == 0
    result = run("validate", "--strict", url)
    assert result.exit_code == 1
    assert result.output.startswith("invalid esms.viber.message: $.extra: undocumented field")


def test_source_from_stdin(examples_dir: Path) -> None:
    body = (examples_dir / "nxcloud.zalo.journey_acknowledged.json").read_text("utf-8")
    result = run("validate", "-", stdin=body)
    assert (result.exit_code, result.output.strip()) == (
        0,
        "valid nxcloud.zalo.journey_acknowledged",
    )
    bad = run("validate", "-", stdin=body.replace('"timestamp": "', '"timestamp": "x'))
    assert bad.exit_code == 1 and "$.timestamp" in bad.output.splitlines()[0]


@pytest.mark.parametrize("form", ["url", "query", "question_mark_query", "json", "json_map"])
def test_inline_sources(examples_dir: Path, form: str) -> None:
    url = (examples_dir / "esms.zalo.follower.consulting.url").read_text("utf-8").strip()
    source = {
        "url": url,
        "query": url.partition("?")[2],
        "question_mark_query": "?" + url.partition("?")[2],
        "json": (examples_dir / "nxcloud.zalo.success.json").read_text("utf-8"),
        "json_map": json.dumps(load_payload(url)),
    }[form]
    result = run("validate", source)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid ")


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("nonsense", "'nonsense'"),
        ("no-such-file.json", "'no-such-file.json'"),
        ("{bad json", "does not parse"),
        ("[1, 2]", "JSON list"),
        ('{"foo": 1}', "cannot tell the receipt kind"),
        ('{"status": "sent"}', "'sent'"),
        ("SMSID=a&TypeId=99", "'99'"),
        ("https://app.example/cb", "no query string"),
    ],
)
def test_unusable_input_exits_2_with_one_line(source: str, named: str) -> None:
    assert named in assert_usage_error(run("validate", source))


def test_unusable_files_exit_2_with_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("", "utf-8")
    binary = tmp_path / "binary.dat"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    for path in (empty, binary, tmp_path):
        assert_usage_error(run("validate", str(path)))
    assert_usage_error(run("validate", "-", stdin=""))


def test_unknown_kind_exits_2_listing_the_kinds_closest_first() -> None:
    line = assert_usage_error(run("validate", "--kind", "esms.zns.normla", "{}"))
    assert "did you mean 'esms.zns.normal'?" in line
    listed = line.split("known kinds: ", 1)[1].split(", ")
    assert listed[0] == "esms.zns.normal"
    assert sorted(listed) == sorted(KINDS)


def test_an_explicit_kind_overrides_detection(examples_dir: Path) -> None:
    result = run(
        "validate",
        "--kind",
        "nxcloud.zalo.success",
        str(examples_dir / "nxcloud.zalo.delivered.json"),
    )
    assert result.exit_code == 1
    assert result.output.startswith("invalid nxcloud.zalo.success: $.")


# ------------------------------------------------------------------------------- example
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_example_wire_output_piped_into_validate_passes(kind: str) -> None:
    for seed in ("1", "2", "3"):
        produced = run("example", kind, "--seed", seed, "--wire")
        assert produced.exit_code == 0, produced.output
        wire_text = produced.output
        if KINDS[kind].provider.name == "esms":
            first = next(iter(json.loads(run("example", kind, "--seed", seed).output)))
            assert wire_text.startswith(f"{first}=") and "\n" not in wire_text.strip()
        result = run("validate", "--strict", "-", stdin=wire_text)
        assert (result.exit_code, result.output.strip()) == (0, f"valid {kind} (strict)")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_example_json_output_is_a_valid_payload_and_seeded(kind: str) -> None:
    one = run("example", kind, "--seed", "5")
    assert one.exit_code == 0
    assert one.output == run("example", kind, "--seed", "5").output
    assert one.output != run("example", kind, "--seed", "6").output
    assert validate(json.loads(one.output), kind=kind) == []
    assert run("validate", "--kind", kind, "-", stdin=one.output).exit_code == 0


def test_set_overrides_fields_with_their_declared_types() -> None:
    result = run(
        "example", "nxcloud.zalo.success", "--seed", "1",
        "--set", "ext=42", "--set", "cost.originalPrice=1.5", "--set", "zaloRes.error=-1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ext"] == "42"
    assert payload["cost"]["originalPrice"] == 1.5
    assert payload["zaloRes"]["error"] == -1


def test_set_on_esms_fields_and_error_info() -> None:
    result = run(
        "example", "esms.zns.normal", "--seed", "1", "--wire",
        "--set", "telcoid=3", "--set", "error_info.error=-118", "--set", "RequestId=order-1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    params = load_payload(result.output)
    assert params["telcoid"] == "3" and params["RequestId"] == "order-1"
    assert validate(params) == []
    assert "%5C%22error%5C%22%3A-118" in result.output


def test_set_making_an_invalid_payload_is_refused_unless_allowed() -> None:
    refused = run("example", "nxcloud.zalo.delivered", "--set", "sendTime=yesterday")
    produced = run("example", "nxcloud.zalo.delivered", "--set", "sendTime=yesterday",
                   "--allow-invalid")

    line = assert_usage_error(refused)
    assert "--set makes the nxcloud.zalo.delivered receipt invalid: $.sendTime" in line
    assert "--allow-invalid" in line
    assert produced.exit_code == 0
    result = run("validate", "-", stdin=produced.output)
    assert result.exit_code == 1 and "$.sendTime" in result.output.splitlines()[0]


def test_set_of_a_misspelt_field_suggests_it_whatever_nested_object_comes_after_it() -> None:
    # nxcloud.zalo.failed: requestId first, the zaloRes object last.
    line = assert_usage_error(run("example", "nxcloud.zalo.failed", "--set", "requestid=r-1"))
    assert "nxcloud.zalo.failed has no field 'requestid'; did you mean 'requestId'? " in line


def test_set_of_a_nested_field_that_does_not_exist_is_refused() -> None:
    line = assert_usage_error(run("example", "nxcloud.zalo.failed", "--set", "zaloRes.eror=3"))
    assert "nxcloud.zalo.failed has no field 'zaloRes.eror'; did you mean 'zaloRes.error'? " in line


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("esms.zns.normal", "error_info.eror"),      # inside the decoded error_info
        ("esms.zalo.follower", "error_info.data.nope"),
        ("esms.zns.normal", "TypeIdd"),              # beside it, on a kind that has one
    ],
)
def test_set_of_a_field_the_kind_does_not_have_is_refused_at_any_depth(
    kind: str, path: str
) -> None:
    line = assert_usage_error(run("example", kind, "--set", f"{path}=1"))
    assert f"{kind} has no field {path!r}; " in line


def test_set_reaches_an_error_info_field_the_schema_declares_but_the_receipt_left_out() -> None:
    # The follower's decoded error_info declares data.delivery_time; a generated success has
    # only message_id and user_id in data.
    result = run("example", "esms.zalo.follower", "--seed", "1",
                 "--set", "error_info.data.delivery_time=1712978617000")

    assert result.exit_code == 0, result.output
    decoded = decode_error_info(json.loads(result.output)["error_info"])
    assert decoded.data["data"]["delivery_time"] == "1712978617000"  # string or integer: as typed


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--set", "novalue"], "FIELD=VALUE"),
        (["--set", "=5"], "FIELD=VALUE"),
        (["--set", "code=abc"], "code='abc'"),
        (["--set", "code.inner=1"], "no field 'code.inner'"),
    ],
)
def test_a_bad_set_exits_2_with_one_line(args: list[str], named: str) -> None:
    assert named in assert_usage_error(run("example", "nxcloud.zalo.success", *args))


def test_example_of_an_unknown_kind_lists_the_kinds_closest_first() -> None:
    line = assert_usage_error(run("example", "nxcloud.zalo.sucess"))
    assert line.split("known kinds: ", 1)[1].startswith("nxcloud.zalo.success, ")


# ------------------------------------------------------------------------- entry points
def test_main_returns_the_exit_code(examples_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(examples_dir / "esms.sms.cskh.url")]) == 0
    assert main(["validate", '{"status": "delivered"}']) == 1
    assert main(["validate", "nonsense"]) == 2
    captured = capsys.readouterr()
    assert "valid esms.sms.cskh" in captured.out
    assert "dlrmock: error:" in captured.err


def test_the_installed_command_validates_a_piped_example(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("dlrmock")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mock_server.cli"]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    produced = subprocess.run(
        [*command, "example", "esms.zalo.follower", "--seed", "9", "--wire"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    result = subprocess.run(
        [*command, "validate", "-"],
        input=produced.stdout, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert (result.returncode, result.stdout.strip()) == (0, "valid esms.zalo.follower")
    bad = subprocess.run(
        [*command, "validate", "{oops"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1


def test_strict_on_a_whole_url_ignores_the_receivers_own_parameters() -> None:
    query = run("example", "esms.sms.cskh", "--seed", "2", "--wire").output.strip()
    url = f"http://127.0.0.1:5000/esms?token=abc&tenant=7&{query}"

    whole = run("validate", "--strict", "--json", url)
    bare = run("validate", "--strict", f"token=abc&{query}")
    extra = run("validate", "--strict", f"{url}&future=1")

    assert whole.exit_code == 0, whole.output
    assert json.loads(whole.output)["ignored_parameters"] == ["token", "tenant"]
    # Without the URL, nothing tells the receiver's parameters from the provider's.
    assert bare.exit_code == 1 and "$.token: undocumented field 'token'" in bare.output
    # After SMSID everything is the provider's: an undocumented one is still reported.
    assert extra.exit_code == 1 and "$.future: undocumented field 'future'" in extra.output


# ----------------------------------------------------------------- hostile input: one line, exit 2
@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested more than 64 levels"),
        ('{"a": ' * 5_000 + "1" + "}" * 5_000, "nested more than 64 levels"),
        ("http://[::1", "does not parse"),
        ("http://[::1]/cb?SMSID=1&TypeId=2", None),
    ],
)
def test_hostile_sources_exit_2_with_one_line(
    tmp_path: Path, source: str, message: str | None
) -> None:
    file = tmp_path / "payload.json"
    file.write_text(source)
    result = run("validate", str(file) if len(source) > 1000 else source)
    assert result.exit_code in (1, 2) if message is None else result.exit_code == 2
    if message is not None:
        assert message in result.stderr and result.stderr.count("\n") == 1
