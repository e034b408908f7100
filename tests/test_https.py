"""https:// webhooks: verified against the system's trust store, a CA file (``cacert``), or not at
all (``insecure``), as the config, ``MockProvider`` and the pytest plugin set them; and the
engine's connection pools, one per origin. (The CLI's options: test_cli_play.py.)"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from targets import Target

from mock_server import Config, DlrmockError, Engine, MockProvider
from mock_server._http import Request, Response, TransportError, tls_context
from mock_server._http_client import HttpClient

NXCLOUD = "nxcloud.zalo.success_never_delivered"
ESMS = "esms.sms.cskh.delivered"
ESMS_KIND = "esms.sms.cskh"
MakeTarget = Callable[..., Target]


@pytest.mark.parametrize("scenario", [NXCLOUD, ESMS])
def test_the_config_cacert_lets_the_server_deliver_to_an_https_webhook(
    tls_target: Target, ca_file: Path, scenario: str
) -> None:
    with MockProvider({"time_scale": 0, "cacert": str(ca_file)}) as provider:
        run = provider.play(scenario, tls_target.url).wait(10)

    assert run.ok, run.journal_text()
    assert tls_target.count() == 1


def test_the_config_insecure_delivers_without_verifying(tls_target: Target) -> None:
    with MockProvider({"time_scale": 0, "insecure": True}) as provider:
        assert provider.play(NXCLOUD, tls_target.url).wait(10).ok


def test_by_default_an_unknown_ca_is_a_tls_error_with_the_reason_in_the_journal(
    tls_target: Target,
) -> None:
    with MockProvider({"time_scale": 0}) as provider:
        run = provider.play(NXCLOUD, tls_target.url).wait(10)

    (attempt,) = run.attempts
    assert attempt.outcome == "tls_error"
    assert attempt.error is not None
    assert attempt.error.startswith(
        f"TLS handshake with 127.0.0.1:{tls_target.port} failed: certificate verify failed: "
        "unable to get local issuer certificate; trust its CA with --cacert FILE")
    assert "tls_error" in run.journal_text()
    assert tls_target.count() == 0


def test_a_certificate_for_another_name_is_a_tls_error_even_with_its_ca(
    ca_file: Path, make_tls_target: MakeTarget
) -> None:
    elsewhere = make_tls_target("hooks.example")
    with MockProvider({"time_scale": 0, "cacert": str(ca_file)}) as provider:
        (attempt,) = provider.play(NXCLOUD, elsewhere.url).wait(10).attempts

    assert attempt.outcome == "tls_error"
    assert attempt.error == (
        f"TLS handshake with 127.0.0.1:{elsewhere.port} failed: certificate verify failed: "
        "IP address mismatch, certificate is not valid for '127.0.0.1'; "
        "--insecure skips verification")
    assert elsewhere.count() == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"cacert": "/no/such/ca.pem"}, "config 'cacert': '/no/such/ca.pem': cannot read it"),
     ({"cacert": 7}, "config 'cacert' must be a file path, got 7"),
     ({"insecure": "yes"}, "config 'insecure' must be true or false, got 'yes'"),
     ({"cacert": "ca.pem", "insecure": True}, "config 'cacert' and 'insecure' together")],
)
def test_bad_tls_settings_are_named(settings: dict[str, object], message: str) -> None:
    with pytest.raises(DlrmockError, match="^" + message.replace("(", r"\(")):
        Config.from_mapping(settings)


# -------------------------------------------------------------------------------- the plugin
PLUGIN_TEST = """
def test_receipt_is_acknowledged(dlrmock):
    dlrmock.play("{scenario}", to="{url}").wait().assert_acknowledged()
"""


def test_the_plugin_takes_the_ca_file_from_the_command_line(
    pytester: pytest.Pytester, tls_target: Target, ca_file: Path
) -> None:
    pytester.makepyfile(PLUGIN_TEST.format(scenario=ESMS, url=tls_target.url))

    assert pytester.runpytest().ret == 1  # unknown CA: tls_error
    result = pytester.runpytest("--dlrmock-cacert", str(ca_file))

    result.assert_outcomes(passed=1)


def test_the_plugin_takes_the_ca_file_from_the_ini_file(
    pytester: pytest.Pytester, tls_target: Target, ca_file: Path
) -> None:
    (pytester.path / "certs").mkdir()
    (pytester.path / "certs" / "ca.pem").write_bytes(ca_file.read_bytes())
    pytester.makeini("[pytest]\ndlrmock_cacert = certs/ca.pem\n")
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url=tls_target.url))

    pytester.runpytest().assert_outcomes(passed=1)


def test_the_ini_file_s_ca_file_is_relative_to_the_ini_file_not_the_working_directory(
    pytester: pytest.Pytester, tls_target: Target, ca_file: Path
) -> None:
    project = pytester.path / "project"
    (project / "certs").mkdir(parents=True)
    (project / "certs" / "ca.pem").write_bytes(ca_file.read_bytes())
    (project / "pytest.ini").write_text("[pytest]\ndlrmock_cacert = certs/ca.pem\n")
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url=tls_target.url))

    pytester.runpytest("-c", "project/pytest.ini").assert_outcomes(passed=1)


def test_the_plugin_takes_insecure_from_the_ini_file(
    pytester: pytest.Pytester, tls_target: Target
) -> None:
    pytester.makeini("[pytest]\ndlrmock_insecure = true\n")
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url=tls_target.url))

    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("setting", ["cacert", "insecure"])
def test_a_tls_setting_of_dlrmock_config_wins_over_the_ini_file(
    pytester: pytest.Pytester, tls_target: Target, ca_file: Path, setting: str
) -> None:
    # The ini's CA file does not exist: the session would fail to start if it were read.
    pytester.makeini("[pytest]\ndlrmock_cacert = missing.pem\n")
    config = {"cacert": str(ca_file)} if setting == "cacert" else {"insecure": True}
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture(scope='session')\ndef dlrmock_config():\n"
        f"    return {{'time_scale': 0, **{config!r}}}\n"
    )
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url=tls_target.url))

    pytester.runpytest().assert_outcomes(passed=1)


def test_the_plugin_insecure_option_delivers_without_verifying(
    pytester: pytest.Pytester, tls_target: Target
) -> None:
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url=tls_target.url))

    pytester.runpytest("--dlrmock-insecure").assert_outcomes(passed=1)


def test_the_plugin_fuzzes_an_https_webhook_trusting_its_ca_file(
    pytester: pytest.Pytester, tls_target: Target, ca_file: Path
) -> None:
    pytester.makepyfile(f"""
def test_webhook_survives_fuzzing(dlrmock):
    assert dlrmock.fuzz("{tls_target.url}", kind="{ESMS_KIND}", max_examples=3).sent == 3
""")

    unverified = pytester.runpytest()
    unverified.assert_outcomes(failed=1)
    unverified.stdout.fnmatch_lines(["*FuzzError: TLS handshake with 127.0.0.1:*certificate "
                                     "verify failed: unable to get local issuer certificate*"])
    assert tls_target.count() == 0
    pytester.runpytest("--dlrmock-cacert", str(ca_file)).assert_outcomes(passed=1)
    assert tls_target.count() == 3


def test_the_plugin_s_ca_file_replaces_the_trust_store_so_another_ca_s_webhook_fails(
    pytester: pytest.Pytester, tls_target: Target, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url=tls_target.url))

    result = pytester.runpytest("--dlrmock-cacert", str(other_ca))

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*tls_error*certificate verify failed*"])
    assert tls_target.count() == 0


@pytest.mark.parametrize("option", ["--dlrmock-cacert", "--dlrmock-insecure"])
def test_the_plugin_s_options_win_over_dlrmock_config(
    pytester: pytest.Pytester, tls_target: Target, ca_file: Path, option: str
) -> None:
    # dlrmock_config sets the other one: kept beside the option, the two would be refused.
    config = {"insecure": True} if option == "--dlrmock-cacert" else {"cacert": str(ca_file)}
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture(scope='session')\ndef dlrmock_config():\n"
        f"    return {{'time_scale': 0, **{config!r}}}\n"
    )
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url=tls_target.url))
    args = [option, str(ca_file)] if option == "--dlrmock-cacert" else [option]

    pytester.runpytest(*args).assert_outcomes(passed=1)


def test_the_plugin_refuses_a_ca_file_and_insecure_together(
    pytester: pytest.Pytester, ca_file: Path
) -> None:
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url="https://127.0.0.1:1/hook"))

    result = pytester.runpytest("--dlrmock-cacert", str(ca_file), "--dlrmock-insecure")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*dlrmock: a CA file (cacert) and insecure together: insecure verifies no certificate, "
        "so the CA file would be ignored; set one of them*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*pytest.fail(*")
    result.stdout.no_fnmatch_line("*ValueError*")


@pytest.mark.parametrize("options", [["--dlrmock-insecure"], ["--dlrmock-cacert", "ca.pem"]])
def test_the_plugin_s_tls_options_with_a_server_url_are_one_readable_error(
    pytester: pytest.Pytester, options: list[str]
) -> None:
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url="https://127.0.0.1:1/hook"))

    result = pytester.runpytest("--dlrmock-url", "http://127.0.0.1:1/", *options)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*--dlrmock-cacert/--dlrmock-insecure set how this session's own server verifies "
        "webhooks; the server at --dlrmock-url has its own settings "
        "(dlrmock serve --cacert FILE / --insecure)*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*pytest.fail(*")  # the message alone, not the plugin's code


def test_the_plugin_names_a_bad_ca_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url="https://127.0.0.1:1/hook"))

    result = pytester.runpytest("--dlrmock-cacert", "missing.pem")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--dlrmock-cacert 'missing.pem': cannot read it*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_the_plugin_names_a_bad_ca_file_of_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndlrmock_cacert = missing.pem\n")
    pytester.makepyfile(PLUGIN_TEST.format(scenario=NXCLOUD, url="https://127.0.0.1:1/hook"))

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*dlrmock_cacert (ini) '{pytester.path / 'missing.pem'}': "
                                 "cannot read it*"])
    result.stdout.no_fnmatch_line("*Traceback*")


# ---------------------------------------------------------------------- pools, one per origin
def test_two_hundred_callback_paths_on_one_host_share_its_connections(target: Target) -> None:
    with Engine(time_scale=0, max_connections=4) as engine:
        runs = [engine.play(NXCLOUD, f"{target.url}/{n}") for n in range(200)]
        assert all(run.wait(30).ok for run in runs)

    assert {r.path for r in target.wait_for(200)} == {f"/hook/{n}" for n in range(200)}
    assert target.connections <= 4 and target.max_open <= 4


def test_a_pinned_https_target_is_verified_against_its_url_host(
    ca_file: Path, make_tls_target: MakeTarget
) -> None:
    # The allow-list resolves a name once and connects to the address it checked: TLS must
    # still verify the URL's name, and the request still names it.
    webhook = make_tls_target("hooks.example")
    url = f"https://hooks.example:{webhook.port}/hook"

    async def send(tls: ssl.SSLContext) -> Response:
        async with HttpClient(tls=tls) as client:
            return await client.send(Request("GET", url), 5.0, connect_to="127.0.0.1")

    assert asyncio.run(send(tls_context(ca_file))).status == 200
    assert webhook.wait_for(1)[0].header("Host") == f"hooks.example:{webhook.port}"
    with pytest.raises(TransportError, match="certificate verify failed"):
        asyncio.run(send(ssl.create_default_context()))  # the system's store: unknown CA
