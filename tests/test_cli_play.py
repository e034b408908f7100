"""`dlrmock play`, `dlrmock scenarios` and `dlrmock serve`."""

from __future__ import annotations

import contextlib
import json
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result
from targets import Target, refused_url

from mock_server import builtin_scenarios
from mock_server._load import locust_installed
from mock_server.cli import cli

MakeTarget = Callable[..., Target]


def dlrmock(*args: str) -> Result:
    return CliRunner(env={"DLRMOCK_ADMIN_TOKEN": None}).invoke(cli, list(args))


def play(*args: str) -> Result:
    return dlrmock("play", *args, "--time-scale", "0")


def play_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = play(*args, "--json")
    data: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, data


# ------------------------------------------------------------------------------------- play
def test_play_prints_a_table_and_exits_0(target: Target) -> None:
    result = play("nxcloud.zalo.success_then_delivered", "--to", target.url, "--seed", "4")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"playing nxcloud.zalo.success_then_delivered at {target.url} (seed 4, time scale 0)"
    )
    assert lines[1].split() == ["time", "step", "kind", "try", "status", "latency", "outcome"]
    rows = [line.split() for line in lines[2:4]]
    assert [(r[1], r[2], r[3], r[4], r[6]) for r in rows] == [
        ("0", "nxcloud.zalo.success", "1", "200", "acknowledged"),
        ("1", "nxcloud.zalo.delivered", "1", "200", "acknowledged"),
    ]
    assert [r[0] for r in rows] == ["0.000", "2.000"]
    assert lines[4] == "ok: 2 attempt(s), every receipt acknowledged"
    statuses = [json.loads(r.body)["status"] for r in target.wait_for(2)]
    assert statuses == ["success", "delivered"]
    bodies = [json.loads(r.body) for r in target.requests]
    assert bodies[0]["requestId"] == bodies[1]["requestId"]


def test_play_exits_1_when_the_connection_is_refused() -> None:
    result = play("nxcloud.zalo.failed", "--to", refused_url())

    assert result.exit_code == 1
    assert "refused (connection refused by 127.0.0.1:" in result.stdout
    assert "FAILED: the target did not acknowledge as the provider requires:" in result.stdout
    assert "not acknowledged after 1 attempt(s)" in result.stdout


def test_play_exits_1_when_the_target_answers_500(make_target: MakeTarget) -> None:
    failing = make_target("error")

    result = play("esms.sms.cskh.delivered", "--to", failing.url)

    assert result.exit_code == 1
    assert re.search(r"esms\.sms\.cskh\s+1\s+500\s+[\d.]+ms\s+http_error", result.stdout)
    assert "HTTP 500 (http_error)" in result.stdout


def test_play_json_lists_every_attempt(target: Target) -> None:
    code, data = play_json("nxcloud.zalo.duplicate_delivered", "--to", target.url)

    assert code == 0
    attempts = data["attempts"]
    assert [(a["step"], a["copy"], a["attempt"]) for a in attempts] == [
        (0, 0, 1), (1, 0, 1), (1, 1, 1)
    ]
    assert [a["kind"] for a in attempts] == [
        "nxcloud.zalo.success", "nxcloud.zalo.delivered", "nxcloud.zalo.delivered"
    ]
    assert {(a["outcome"], a["status"]) for a in attempts} == {("acknowledged", 200)}
    request = attempts[0]["request"]
    assert (request["method"], request["url"]) == ("POST", target.url)
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"].encode() == target.requests[0].body
    assert data["run"]["ok"] is True


def test_play_json_status_is_null_without_a_response() -> None:
    code, data = play_json("nxcloud.zalo.failed", "--to", refused_url())

    assert code == 1
    (attempt,) = data["attempts"]
    assert attempt["status"] is None and attempt["outcome"] == "refused"
    assert attempt["response"] is None and "connection refused" in attempt["error"]


def test_play_retried_after_lost_ack_gives_six_attempts(target: Target) -> None:
    code, data = play_json("esms.sms.cskh.retried_after_lost_ack", "--to", target.url)

    assert code == 0
    assert [a["attempt"] for a in data["attempts"]] == [1, 2, 3, 4, 5, 6]
    assert {a["outcome"] for a in data["attempts"]} == {"lost_ack"}
    assert target.count() == 6


def test_play_against_a_target_that_never_answers_gives_six_attempts(
    make_target: MakeTarget,
) -> None:
    never = make_target("never")

    code, data = play_json("esms.sms.cskh.delivered", "--to", never.url, "--timeout", "0.2")

    assert code == 1
    assert [(a["attempt"], a["outcome"], a["status"]) for a in data["attempts"]] == [
        (n, "timeout", None) for n in range(1, 7)
    ]
    assert never.count() == 6


def test_play_set_overrides_fields(target: Target) -> None:
    result = play("nxcloud.zalo.success_then_delivered", "--to", target.url,
                  "--set", "ext=order-9", "--set", "code=0")

    assert result.exit_code == 0, result.output
    bodies = [json.loads(r.body) for r in target.wait_for(2)]
    assert [b["ext"] for b in bodies] == ["order-9", "order-9"]
    assert [b["code"] for b in bodies] == [0, 0]  # typed as the schema says: a number


def test_play_set_on_esms_lands_in_the_query(target: Target) -> None:
    result = play("esms.sms.cskh.delivered", "--to", target.url + "?k=v", "--set", "RequestId=r-1")

    assert result.exit_code == 0, result.output
    (request,) = target.wait_for(1)
    assert request.path.startswith("/hook?k=v&SMSID=") and "&RequestId=r-1&" in request.path


def test_play_seed_repeats_the_payloads(target: Target) -> None:
    first = play_json("nxcloud.zalo.success_then_delivered", "--to", target.url, "--seed", "9")
    second = play_json("nxcloud.zalo.success_then_delivered", "--to", target.url, "--seed", "9")

    bodies = [[a["request"]["body"] for a in data["attempts"]] for _, data in (first, second)]
    assert bodies[0] == bodies[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nxcloud.zalo.succes_then_delivered"],
         "unknown scenario 'nxcloud.zalo.succes_then_delivered'; did you mean"),
        (["nxcloud.zalo.failed", "--time-scale", "-1"], "--time-scale must be >= 0, got -1.0"),
        (["nxcloud.zalo.failed", "--timeout", "0"], "--timeout must be a positive number"),
        (["nxcloud.zalo.failed", "--set", "ext"], "ext"),
        (["nxcloud.zalo.failed", "--set", "code=zero"], "zero"),
        (["missing.yaml"], "missing.yaml: no such file"),
    ],
)
def test_play_bad_input_exits_2_with_one_line(
    target: Target, args: list[str], message: str
) -> None:
    result = dlrmock("play", *args, "--to", target.url)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("dlrmock: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert target.count() == 0


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/hook", "http://", "127.0.0.1:80/hook"])
def test_play_bad_target_url_exits_2(url: str) -> None:
    result = dlrmock("play", "nxcloud.zalo.failed", "--to", url, "--time-scale", "0")

    assert result.exit_code == 2
    assert result.stderr.startswith("dlrmock: error: ") and result.stderr.count("\n") == 1


# -------------------------------------------------------------------------------- scenarios
def test_scenarios_lists_every_builtin_with_its_description() -> None:
    result = dlrmock("scenarios")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(builtin_scenarios())
    for line, (name, scenario) in zip(lines, builtin_scenarios().items(), strict=True):
        assert line.split()[0] == name and line.endswith(scenario.description)


def test_scenarios_json_gives_them_in_file_format() -> None:
    result = dlrmock("scenarios", "--json")

    assert result.exit_code == 0
    scenarios = json.loads(result.stdout)["scenarios"]
    assert [s["name"] for s in scenarios] == list(builtin_scenarios())
    by_name = {s["name"]: s for s in scenarios}
    assert by_name["esms.sms.cskh.retried_after_lost_ack"]["steps"] == [
        {"kind": "esms.sms.cskh", "after": 0.0, "lost_ack": True}
    ]


# ------------------------------------------------------------------------------------ serve
def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"`dlrmock serve` printed nothing within {timeout} s")
    return proc.stdout.readline()


@contextlib.contextmanager
def serving(*options: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`dlrmock serve --port 0 ...` in a process of its own, and its URL once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = _first_line(proc, 20)
        match = re.search(r"at (http://127\.0\.0\.1:(\d+))$", line.strip())
        assert match, f"no URL in {line!r}"
        assert int(match.group(2)) != 0
        yield proc, match.group(1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str]]:
    with serving("--time-scale", "0", "--seed", "3") as started:
        yield started


def test_serve_prints_its_url_and_plays_runs_over_the_admin_api(
    served: tuple[subprocess.Popen[str], str], target: Target
) -> None:
    proc, url = served

    health = requests.get(url + "/_dlrmock/health", timeout=5)
    created = requests.post(
        url + "/_dlrmock/runs",
        json={"scenario": "nxcloud.zalo.success_then_delivered", "to": target.url},
        timeout=5,
    )
    run_id = created.json()["id"]
    done = requests.get(f"{url}/_dlrmock/runs/{run_id}/wait", params={"timeout": 10}, timeout=15)

    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert created.status_code == 201
    assert done.status_code == 200 and done.json()["ok"] is True
    assert done.json()["seed"] is not None
    assert [json.loads(r.body)["status"] for r in target.wait_for(2)] == ["success", "delivered"]

    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0


def test_serve_on_all_interfaces_needs_a_token() -> None:
    result = dlrmock("serve", "--host", "0.0.0.0", "--port", "0")

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "binding '0.0.0.0' exposes the admin API" in result.stderr
    assert "--admin-token" in result.stderr


def test_serve_on_a_busy_port_exits_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        started = time.monotonic()
        result = dlrmock("serve", "--port", str(port))

    assert result.exit_code == 2 and time.monotonic() - started < 10
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [("time_scael: 0\n", "unknown config key 'time_scael'"),
     ("[1, 2]\n", "must hold a mapping of settings"),
     ("a: [\n", "is not valid YAML/JSON")],
)
def test_serve_with_a_bad_config_exits_2(
    tmp_path: Any, content: str, message: str
) -> None:
    config = tmp_path / "dlrmock.yaml"
    config.write_text(content)

    result = dlrmock("serve", "--port", "0", "--config", str(config))

    assert result.exit_code == 2
    assert message in result.stderr


# --------------------------------------------------------------------------- failures and --set
def test_a_failure_shows_the_request_the_answer_and_a_hint(make_target: MakeTarget) -> None:
    post_only = make_target("ok", status=405, body=b'{"error": "method not allowed"}')

    result = play("esms.sms.cskh.delivered", "--to", post_only.url)

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    failed = lines.index("FAILED: the target did not acknowledge as the provider requires:")
    assert lines[failed + 1].startswith(
        "  - step 0 (esms.sms.cskh): not acknowledged after 1 attempt(s); last: HTTP 405 "
        "(http_error); hint: eSMS calls back with GET (the values in the query string); does "
        "your route accept GET at this path?"
    )
    assert lines[failed + 2].startswith(f"      sent: GET {post_only.url}?SMSID=")
    assert lines[failed + 3] == '      got:  405 {"error": "method not allowed"}'


def test_a_400_on_an_empty_request_id_says_how_to_set_it(make_target: MakeTarget) -> None:
    strict = make_target("ok", status=400, body=b"unknown RequestId")

    result = play("esms.zns.normal.delivered", "--to", strict.url)

    assert result.exit_code == 1
    assert "hint: the callback's RequestId is empty, as in every eSMS example; " in result.stdout
    assert "`--set RequestId=ID` (dlrmock play)" in result.stdout


def test_set_wins_over_a_steps_own_set(target: Target) -> None:
    result = play("nxcloud.zalo.failed", "--to", target.url, "--set", "zaloRes.error=-124")

    assert result.exit_code == 0, result.output
    (request,) = target.wait_for(1)
    assert json.loads(request.body)["zaloRes"]["error"] == -124  # the step's own set says -118


def test_set_is_typed_by_the_kind_of_each_step(target: Target, tmp_path: Any) -> None:
    scenario = tmp_path / "expiry_then_success.json"
    scenario.write_text(json.dumps({"steps": [
        {"kind": "nxcloud.zalo.journey_time_out"}, {"kind": "nxcloud.zalo.success"}]}))

    result = play(str(scenario), "--to", target.url, "--set", "ext=0")

    assert result.exit_code == 0, result.output
    expiry, success = (json.loads(r.body) for r in target.wait_for(2))
    assert "ext" not in expiry and success["ext"] == "0"  # a string, as the success schema says


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("zaloRes.eror=3", "field 'zaloRes.eror' is in none of the receipts of "
                           "nxcloud.zalo.failed (nxcloud.zalo.failed); did you mean "
                           "'zaloRes.error'?"),
        ("zaloRes.data.quota=1", "zaloRes.data.quota=1 makes the nxcloud.zalo.failed receipt "
                                 "of step 0 invalid: $.zaloRes.data"),
        # the fix comes with the refusal (mutation testing: the hint was never checked)
        ("code=NaN", "code='NaN': nxcloud.zalo.failed declares code as integer; give a JSON "
                     'value (e.g. 42, 4.5, true, null, {"a": 1})'),
        ("code=Infinity", "declares code as integer"),
    ],
)
def test_set_refuses_what_would_make_a_bad_receipt(
    target: Target, assignment: str, message: str
) -> None:
    result = play("nxcloud.zalo.failed", "--to", target.url, "--set", assignment)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("dlrmock: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert target.count() == 0


def test_set_of_a_too_long_request_id_is_refused_then_allowed_and_marked_malformed(
    make_target: MakeTarget,
) -> None:
    strict = make_target("ok", status=400, body=b"RequestId too long")
    long_id = "r" * 60

    refused = play("esms.sms.cskh.delivered", "--to", strict.url, "--set", f"RequestId={long_id}")
    allowed = play("esms.sms.cskh.delivered", "--to", strict.url, "--set", f"RequestId={long_id}",
                   "--allow-invalid")

    assert refused.exit_code == 2
    assert "makes the esms.sms.cskh receipt of step 0 invalid: $.RequestId" in refused.stderr
    assert "--allow-invalid" in refused.stderr
    assert allowed.exit_code == 0, allowed.output  # a 4xx to a malformed receipt is right
    assert "http_error [invalid_override]" in allowed.stdout
    (request,) = strict.wait_for(1)
    assert f"&RequestId={long_id}&" in request.path


def test_set_of_an_error_info_field_is_re_encoded_in_the_kinds_encoding(target: Target) -> None:
    from mock_server import decode_error_info, parse_callback

    result = play("esms.zalo.follower.failed", "--to", target.url,
                  "--set", "error_info.error=-201")

    assert result.exit_code == 0, result.output
    (request,) = target.wait_for(1)
    raw = parse_callback(request.path)["error_info"]
    decoded = decode_error_info(raw)
    assert decoded.data["error"] == -201
    assert "____" in raw and decoded.timestamp is not None  # JSON + ____ + time, as documented
    assert "{'" not in raw


def test_serve_refuses_a_config_file_of_yaml_aliases_quickly(tmp_path: Any) -> None:
    config = tmp_path / "dlrmock.yaml"
    config.write_text("\n".join(
        [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
        + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    ))
    started = time.monotonic()
    result = dlrmock("serve", "--port", "0", "--config", str(config))
    assert result.exit_code == 2 and time.monotonic() - started < 5
    assert "expands to more than 10000 values" in result.stderr


# ------------------------------------------------------------------------------ https webhooks
def test_play_delivers_to_an_https_webhook_trusting_the_ca_given_with_cacert(
    tls_target: Target, ca_file: Path
) -> None:
    result = play("nxcloud.zalo.success_then_delivered", "--to", tls_target.url,
                  "--cacert", str(ca_file))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "ok: 2 attempt(s), every receipt acknowledged"
    assert [json.loads(r.body)["status"] for r in tls_target.wait_for(2)] == [
        "success", "delivered"]


def test_play_to_an_https_webhook_of_an_unknown_ca_is_a_tls_error_saying_what_to_pass(
    tls_target: Target,
) -> None:
    code, data = play_json("nxcloud.zalo.success_never_delivered", "--to", tls_target.url)

    assert code == 1
    (attempt,) = data["attempts"]
    assert attempt["outcome"] == "tls_error" and attempt["status"] is None
    assert "certificate verify failed: unable to get local issuer certificate" in attempt["error"]
    assert "--cacert FILE" in attempt["error"] and "--insecure" in attempt["error"]
    assert tls_target.wait_handshake_failed() and tls_target.count() == 0


def test_play_insecure_delivers_without_verifying(tls_target: Target) -> None:
    result = play("esms.sms.cskh.delivered", "--to", tls_target.url + "?token=1", "--insecure")

    assert result.exit_code == 0, result.output
    assert tls_target.wait_for(1)[0].path.startswith("/hook?token=1&")


TLS_COMMANDS = [
    ["play", "nxcloud.zalo.failed", "--to", "https://127.0.0.1:1/hook"],
    ["serve", "--port", "0"],
    ["fuzz", "--to", "https://127.0.0.1:1/hook", "--kind", "esms.sms.ads"],
    *([["load", "--to", "https://127.0.0.1:1/hook", "--scenario", "nxcloud.zalo.failed"]]
      if locust_installed() else []),
]
"""Every command that delivers to webhooks: each takes --cacert / --insecure."""


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read it (No such file or directory)"),
     ("not a certificate\n", "it holds no PEM CA certificate")],
    ids=["missing", "not-pem"],
)
def test_a_bad_cacert_exits_2_with_one_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)

    for command in TLS_COMMANDS:
        result = dlrmock(*command, "--cacert", str(path))

        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"dlrmock: error: --cacert {str(path)!r}: {message}")
        assert result.stderr.endswith("give the PEM file of the CA certificate that signed the "
                                      "webhook's certificate\n")
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_cacert_and_insecure_together_exit_2() -> None:
    for command in TLS_COMMANDS:
        result = dlrmock(*command, "--cacert", "ca.pem", "--insecure")

        assert result.exit_code == 2
        assert result.stderr == (
            "dlrmock: error: --cacert and --insecure together: --insecure verifies no "
            "certificate, so the CA file would be ignored; pass one of them\n")


def test_an_empty_cacert_is_an_error_not_the_system_store() -> None:
    result = play("nxcloud.zalo.failed", "--to", "https://127.0.0.1:1/hook", "--cacert", "")

    assert result.exit_code == 2
    assert result.stderr.startswith("dlrmock: error: --cacert '': it is empty; give the PEM file")


def test_serve_delivers_to_an_https_webhook_with_cacert(
    tls_target: Target, ca_file: Path
) -> None:
    with serving("--time-scale", "0", "--cacert", str(ca_file)) as (_, url):
        created = requests.post(url + "/_dlrmock/runs", timeout=5, json={
            "scenario": "esms.sms.cskh.delivered", "to": tls_target.url})
        done = requests.get(f"{url}/_dlrmock/runs/{created.json()['id']}/wait",
                            params={"timeout": 10}, timeout=15).json()

    assert done["ok"] is True, done
    assert tls_target.count() == 1


def test_serve_names_a_bad_cacert_of_the_config_file(tmp_path: Path) -> None:
    config, missing = tmp_path / "dlrmock.yaml", tmp_path / "missing.pem"
    config.write_text(f"cacert: {missing}\n")

    result = dlrmock("serve", "--port", "0", "--config", str(config))

    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"dlrmock: error: config 'cacert': {str(missing)!r}: cannot read it")
