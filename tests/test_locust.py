"""`dlrmock load` and `mock_server.locust.ReceiptUser`, run through Locust in subprocesses.

Locust monkey-patches the standard library with gevent when imported, so it never runs inside
the pytest process: every load here is a real `dlrmock load` subprocess against a loopback
`Target` served from this process.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from targets import Target

from mock_server import DlrmockError, validate
from mock_server._load import (
    INSTALL_HINT,
    LOCUSTFILE,
    LoadOptions,
    LoadTally,
    Verdict,
    free_port,
    locust_command,
    locust_installed,
    mix_argument,
    parse_mix,
    parse_run_time,
    split_weight,
)
from mock_server.cli import cli

pytestmark = pytest.mark.skipif(
    not locust_installed(), reason='the load extra is not installed: pip install "dlrmock[load]"'
)

MakeTarget = Callable[..., Target]
DLRMOCK = [sys.executable, "-m", "mock_server.cli"]


def load(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DLRMOCK, "load", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def locust_counts(stats_csv: Path) -> dict[str, int]:
    """Locust's own request counts by name, from its CSV statistics ('Aggregated': all)."""
    with stats_csv.open(newline="") as handle:
        return {row["Name"]: int(row["Request Count"]) for row in csv.DictReader(handle)}


def run_locustfile(folder: Path, user_class: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Plain ``locust`` (headless, one user, 1 s) on a locustfile holding ``user_class``, the
    body of a ReceiptUser subclass, in ``folder``."""
    (folder / "locustfile.py").write_text(
        "from mock_server.locust import ReceiptUser\n\n"
        "class Mine(ReceiptUser):\n" + user_class, "utf-8"
    )
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless", "-u", "1", "-r", "1",
         "--dlrmock-run-time", "1", "--stop-timeout", "5", *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=folder,
    )  # fmt: skip


def is_valid_receipt(method: str, path: str, body: bytes) -> bool:
    payload = path.partition("?")[2] if method == "GET" else body
    try:
        return not validate(payload)
    except DlrmockError:  # not even readable as a receipt (a malformed step's truncated JSON)
        return False


@pytest.mark.slow
def test_distributed_load_sends_exactly_what_locust_counts_all_valid_but_the_malformed(
    make_target: MakeTarget, tmp_path: Path
) -> None:
    target = make_target("ok")
    result = load(
        "--to", target.url,
        "--scenario", "esms.sms.cskh.retried_after_lost_ack",
        "--scenario", "esms.zns.normal.delivered=2",
        "--scenario", "nxcloud.zalo.success_then_delivered",
        "--scenario", "nxcloud.zalo.malformed_then_delivered",
        "--users", "4", "--workers", "2", "--run-time", "2s", "--seed", "5",
        "--time-scale", "0.01",
        "--csv", str(tmp_path / "run"), "--html", str(tmp_path / "report.html"),
        "--loglevel", "INFO", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 workers connected" in result.stderr  # Locust's own distributed mode
    verdict = json.loads(result.stdout[result.stdout.index("{") : result.stdout.rindex("}") + 1])
    received = list(target.requests)
    counts = locust_counts(tmp_path / "run_stats.csv")
    assert counts["Aggregated"] > 0
    assert len(received) == counts["Aggregated"] == verdict["requests"]
    assert verdict["ok"] and verdict["acknowledged"] == verdict["receipts"]
    assert verdict["retries"] > 0  # the lost acknowledgements made eSMS retry
    assert {request.method for request in received} == {"GET", "POST"}
    invalid = [r for r in received if not is_valid_receipt(r.method, r.path, r.body)]
    malformed = sum(n for name, n in counts.items() if "[malformed: " in name)
    assert malformed > 0
    assert len(invalid) == malformed  # every other receipt is valid as its kind
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_unacknowledged_receipts_fail_the_load_with_their_reasons(
    make_target: MakeTarget, tmp_path: Path
) -> None:
    hanging = make_target("never")
    scenario = tmp_path / "short-timeout.yaml"
    scenario.write_text(
        "name: short-timeout\n"
        "policy: {timeout: 0.2, retries: 2, retry_interval: 30}\n"
        "steps:\n  - kind: esms.sms.cskh\n",
        "utf-8",
    )
    result = load(
        "--to", hanging.url, "--scenario", str(scenario), "--users", "1", "--run-time", "1s",
        "--stop-timeout", "5",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dlrmock verdict: FAILED" in result.stdout
    assert "timeout: no answer within 0.2 s" in result.stdout
    runs = len(hanging.requests) // 3
    assert runs >= 1 and len(hanging.requests) == 3 * runs  # 1 + 2 retries, no interval waited
    assert f"retries: {2 * runs}" in result.stdout
    assert "GET esms.sms.cskh: timeout: no answer within 0.2 s" in result.stderr  # Locust's errors


def test_a_receipt_user_in_your_own_locustfile_follows_its_policy(
    make_target: MakeTarget, tmp_path: Path
) -> None:
    target = make_target("ok", status=201, body=b"created")
    result = run_locustfile(
        tmp_path,
        f"    host = {target.url!r}\n"
        "    scenarios = {'nxcloud.zalo.failed': 1}\n"
        "    policy = {'acknowledge': '200'}\n",
    )
    assert result.returncode == 1, result.stderr
    assert "dlrmock verdict: FAILED" in result.stderr
    assert "HTTP 201: not acknowledged (the provider wants exactly 200)" in result.stderr
    assert len(target.requests) > 0
    assert all(r.method == "POST" and r.header("Content-Type") == "application/json"
               for r in target.requests)  # fmt: skip


# ------------------------------------------------------------------------ without running Locust
def cli_load(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["load", *args])
    return result.exit_code, result.output


def test_load_without_locust_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mock_server._load.locust_installed", lambda: False)
    code, output = cli_load("--to", "http://127.0.0.1:9/hook", "--scenario", "nxcloud.zalo.failed")
    assert code == 2
    assert INSTALL_HINT in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nxcloud.zalo.failed"], "--to URL is required"),
        (["--to", "http://127.0.0.1:9/h"], "at least one --scenario"),
        (["--to", "http://127.0.0.1:9/h", "--scenario", "nxcloud.zalo.faild"], "did you mean"),
        (["--to", "http://127.0.0.1:9/h", "--scenario", "nxcloud.zalo.failed=0"], "bad weight"),
        (["--to", "ftp://x/h", "--scenario", "nxcloud.zalo.failed"], "unsupported URL scheme"),
        (["--to", "http://127.0.0.1:9/h", "--scenario", "nxcloud.zalo.failed", "--run-time",
          "soon"], "bad --run-time"),
        (["--worker", "--workers", "2"], "cannot be combined"),
        (["--to", "http://127.0.0.1:9/h", "--scenario", "nxcloud.zalo.failed", "--master",
          "--workers", "2"], "use one of them"),
    ],
)  # fmt: skip
def test_load_rejects_bad_options_with_the_reason(args: list[str], message: str) -> None:
    code, output = cli_load(*args)
    assert code == 2
    assert message in output


def test_local_workers_run_under_a_loopback_master_on_a_free_port() -> None:
    options = LoadOptions(target="http://127.0.0.1:9/h", scenarios=("nxcloud.zalo.failed",),
                          workers=2, run_time="5s")  # fmt: skip
    command = locust_command(options, "/tmp/verdict.json")
    assert command[command.index("--processes") + 1] == "2"
    assert command[command.index("--master-bind-host") + 1] == "127.0.0.1"
    port = command[command.index("--master-bind-port") + 1]
    assert command[command.index("--master-port") + 1] == port != "5557"
    assert command[command.index("--dlrmock-run-time") + 1] == "5s"
    assert "--run-time" not in command  # dlrmock stops the run itself, waiting for last reports


def test_worker_joins_the_master_it_is_given() -> None:
    options = LoadOptions(worker=True, master_host="10.0.0.5", master_port=6000)
    command = locust_command(options, None)
    assert command[command.index("--master-host") + 1] == "10.0.0.5"
    assert command[command.index("--master-port") + 1] == "6000"
    assert "--headless" not in command


def test_scenario_files_travel_inline_so_remote_workers_need_no_copy(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nsteps:\n  - kind: nxcloud.zalo.delivered\n", "utf-8")
    entries = json.loads(mix_argument([f"{path}=3", "nxcloud.zalo.failed"]))
    assert entries[0]["weight"] == 3 and entries[0]["scenario"]["name"] == "mine"
    assert entries[1] == {"scenario": "nxcloud.zalo.failed", "weight": 1.0}
    mix = parse_mix(json.dumps(entries))
    assert [s.name for s in mix.scenarios] == ["mine", "nxcloud.zalo.failed"]
    assert mix.weights == (3.0, 1.0)


def test_a_mix_is_a_name_a_list_or_a_mapping_of_weights() -> None:
    assert parse_mix("nxcloud.zalo.failed").weights == (1.0,)
    assert parse_mix(["nxcloud.zalo.failed", "esms.sms.cskh.delivered"]).weights == (1.0, 1.0)
    assert parse_mix({"nxcloud.zalo.failed": 9, "esms.sms.cskh.delivered": 1}).weights == (9, 1)
    assert split_weight("esms.sms.cskh.delivered=2.5") == ("esms.sms.cskh.delivered", 2.5)
    assert split_weight("odd=name.yaml") == ("odd=name.yaml", 1.0)
    assert parse_run_time("1m30s") == 90 and parse_run_time("45") == 45


def test_verdict_fails_without_receipts_or_with_one_unacknowledged() -> None:
    tally = LoadTally()
    tally.add({"runs": 2, "receipts": 3, "handled": 2, "attempts": 4, "retries": 1,
               "failures": {"HTTP 500: no": 2}, "unhandled": {"HTTP 500: no": 1}})  # fmt: skip
    data = {**tally.as_dict(), "acknowledged": tally.handled, "requests": 4,
            "unacknowledged": dict(tally.unhandled)}  # fmt: skip
    verdict = Verdict.from_dict(data)
    assert not verdict.ok and "FAILED" in verdict.text() and "HTTP 500: no" in verdict.text()
    assert verdict.acknowledged_percent == pytest.approx(200 / 3)
    nothing = {**LoadTally().as_dict(), "acknowledged": 0, "requests": 0, "unacknowledged": {}}
    empty = Verdict.from_dict(nothing)
    assert not empty.ok and "nothing shows the receiver coped" in empty.text()


def test_importing_mock_server_does_not_import_locust_or_gevent() -> None:
    code = (
        "import sys, mock_server, mock_server.cli, mock_server._load; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------ https webhooks
HINT = ("trust its CA with --cacert FILE (config: cacert; pytest: --dlrmock-cacert) or skip "
        "verification with --insecure")


def test_load_of_an_https_webhook_of_an_unknown_ca_fails_saying_to_pass_cacert(
    tls_target: Target,
) -> None:
    result = load("--to", tls_target.url, "--scenario", "nxcloud.zalo.failed", "--users", "1",
                  "--run-time", "1s")

    assert result.returncode == 1, result.stdout + result.stderr
    reason = (f"tls_error: TLS handshake with 127.0.0.1:{tls_target.port} failed: certificate "
              f"verify failed: unable to get local issuer certificate; {HINT}")
    assert "dlrmock verdict: FAILED" in result.stdout
    assert f"  {reason}\n" in result.stdout  # by reason, in the verdict
    assert f"POST nxcloud.zalo.failed: {reason}" in result.stderr  # Locust's error report
    assert tls_target.count() == 0


def test_load_insecure_reaches_its_local_worker_processes(
    tls_target: Target, tmp_path: Path
) -> None:
    result = load("--to", tls_target.url, "--scenario", "esms.sms.cskh.delivered", "--users", "2",
                  "--workers", "1", "--run-time", "2s", "--insecure", "--loglevel", "INFO",
                  "--csv", str(tmp_path / "run"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 workers connected" in result.stderr  # the users ran in a worker process
    count = locust_counts(tmp_path / "run_stats.csv")["Aggregated"]
    assert count > 0 and tls_target.count() == count


def test_a_remote_worker_verifies_with_the_certificates_its_master_sends(
    tls_target: Target, ca_file: Path
) -> None:
    port = str(free_port())
    master = subprocess.Popen(
        [*DLRMOCK, "load", "--to", tls_target.url, "--scenario", "nxcloud.zalo.failed",
         "--users", "1", "--run-time", "1s", "--master", "--master-port", port,
         "--cacert", str(ca_file), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    worker = subprocess.Popen(  # its own command line has no --cacert
        [*DLRMOCK, "load", "--worker", "--master-port", port],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, err = master.communicate(timeout=60)
        worker.wait(30)
    finally:
        for process in (master, worker):
            if process.poll() is None:
                process.kill()
                process.communicate()

    assert master.returncode == 0, out + err
    verdict = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert verdict["ok"] and verdict["requests"] == tls_target.count() > 0


def test_a_receipt_user_trusts_its_cacert_class_attribute(
    tls_target: Target, ca_file: Path, tmp_path: Path
) -> None:
    result = run_locustfile(
        tmp_path,
        f"    host = {tls_target.url!r}\n"
        "    scenarios = 'nxcloud.zalo.failed'\n"
        f"    cacert = {str(ca_file)!r}\n",
    )

    assert result.returncode == 0, result.stderr
    assert "dlrmock verdict: OK" in result.stderr and tls_target.count() > 0


def test_a_receipt_user_with_an_unreadable_cacert_stops_before_any_user_starts(
    tmp_path: Path,
) -> None:
    result = run_locustfile(
        tmp_path,
        "    host = 'https://127.0.0.1:9/hook'\n"
        "    scenarios = 'nxcloud.zalo.failed'\n"
        "    cacert = 'missing.pem'\n",
    )

    assert result.returncode == 1
    assert ("\ndlrmock: error: Mine.cacert/insecure: 'missing.pem': cannot read it (No such "
            "file or directory)") in result.stderr  # after Locust's "Starting Locust" line
    assert "Traceback" not in result.stderr


def test_locust_refuses_a_dlrmock_cacert_that_is_no_certificate(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")

    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
         "--dlrmock-cacert", str(tmp_path / "ca.pem")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 2
    assert f"argument --dlrmock-cacert: {str(tmp_path / 'ca.pem')!r}: it holds no PEM CA " \
        "certificate" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--worker", "--cacert", "ca.pem"],
         "--cacert and --insecure go to the master, which sends them to every worker"),
        (["--worker", "--insecure"], "--cacert and --insecure go to the master"),
    ],
    ids=["cacert", "insecure"],
)  # fmt: skip
def test_a_worker_refuses_tls_options_its_master_gives(args: list[str], message: str) -> None:
    code, output = cli_load(*args)

    assert code == 2
    assert output.startswith(f"dlrmock: error: {message}")


def test_the_master_passes_the_tls_options_to_locust_and_a_worker_none() -> None:
    master = locust_command(LoadOptions(target="https://127.0.0.1:9/h",
                                        scenarios=("nxcloud.zalo.failed",), workers=1,
                                        cacert="ca.pem"), None)  # fmt: skip
    insecure = locust_command(LoadOptions(target="https://127.0.0.1:9/h",
                                          scenarios=("nxcloud.zalo.failed",), insecure=True),
                              None)  # fmt: skip
    worker = locust_command(LoadOptions(worker=True), None)

    assert master[master.index("--dlrmock-cacert") + 1] == "ca.pem"
    assert "--dlrmock-insecure" not in master
    assert "--dlrmock-insecure" in insecure and "--dlrmock-cacert" not in insecure
    assert not {"--dlrmock-cacert", "--dlrmock-insecure"} & set(worker)
