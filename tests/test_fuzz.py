"""``dlrmock fuzz``: generated receipts find, shrink and report what crashes a receiver."""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from targets import Target
from werkzeug.serving import WSGIRequestHandler, make_server

from mock_server import UnknownKindError
from mock_server._http import tls_context
from mock_server.cli import cli
from mock_server.fuzz import FuzzError, fuzz

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: object) -> None:
        pass


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"{name}_fuzzed", EXAMPLES / name / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.fixture
def serve() -> Iterator[Callable[[str], str]]:
    """Serve ``examples/<name>`` on a free loopback port; gives its base URL."""
    servers: list[Any] = []

    def start(name: str) -> str:
        app = _load(name).create_app()
        app.logger.disabled = True  # the naive receiver's 500s are the point, not noise
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join(10)
        server.server_close()


def _status(method: str, url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_finds_and_shrinks_the_naive_receivers_missing_request_id_crash(
    serve: Callable[[str], str],
) -> None:
    url = serve("naive_receiver") + "/webhooks/nxcloud"
    report = fuzz(url, "nxcloud.zalo.success", max_examples=60, seed=3)

    assert len(report.findings) == 1
    finding = report.findings[0]
    assert (finding.kind, finding.outcome) == ("nxcloud.zalo.success", "HTTP 500")
    # Shrunk: a realistic success receipt with exactly one thing wrong, requestId.
    assert finding.variant in ("missing_field", "wrong_type")
    body = json.loads(finding.request.body)
    assert body["status"] == "success" and body["code"] == 0
    if finding.variant == "missing_field":
        assert "requestId" not in body
        assert finding.detail == "requestId left out"
    else:
        assert not isinstance(body["requestId"], str)
        assert finding.detail.startswith("requestId=")
    assert f"nxcloud.zalo.success ({finding.variant}: {finding.detail}): HTTP 500" in (
        report.describe())
    assert finding.replay().startswith("curl -i -X POST -H 'Content-Type: application/json'")
    assert finding.replay().endswith(url)
    # The request reported is the one that crashes it.
    assert _status("POST", url, finding.request.body, dict(finding.request.headers)) == 500


def test_reports_each_kind_the_naive_receiver_fails_on(serve: Callable[[str], str]) -> None:
    base = serve("naive_receiver")
    journey = fuzz(base + "/webhooks/nxcloud", "nxcloud.zalo.journey_time_out",
                   max_examples=10, seed=1)
    esms = fuzz(base + "/webhooks/esms", ["esms.sms.cskh", "esms.zns.normal"], max_examples=10,
                seed=1)

    # Both fail on the receipt exactly as the provider sends it: nothing to shrink away.
    assert [(f.kind, f.variant) for f in journey.findings] == [
        ("nxcloud.zalo.journey_time_out", "realistic")]
    assert [(f.kind, f.variant, f.request.method) for f in esms.findings] == [
        ("esms.sms.cskh", "realistic", "GET"), ("esms.zns.normal", "realistic", "GET")]
    assert "SMSID=" in esms.findings[0].request.url
    assert not report_ok_text(esms.describe())


def report_ok_text(text: str) -> bool:
    return "no findings" in text


@pytest.mark.slow
def test_finds_nothing_in_the_example_webhook_app(serve: Callable[[str], str]) -> None:
    base = serve("webhook_app")
    nxcloud = fuzz(base + "/webhooks/nxcloud",
                   [k for k in _kinds() if k.startswith("nxcloud.")], max_examples=15, seed=5)
    esms = fuzz(base + "/webhooks/esms", [k for k in _kinds() if k.startswith("esms.")],
                max_examples=15, seed=5)

    assert nxcloud.findings == [] and esms.findings == []
    assert nxcloud.sent == 15 * len(nxcloud.kinds)
    assert esms.sent == 15 * len(esms.kinds)


def _kinds() -> list[str]:
    from mock_server import KINDS

    return list(KINDS)


def _raw_server(behaviour: Callable[[socket.socket], None]) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)
            behaviour(connection)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        listener.close()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """Accepts connections and never answers."""
    yield from _raw_server(lambda connection: None)


@pytest.fixture
def slamming_url() -> Iterator[str]:
    """Accepts connections and resets them at once."""
    def reset(connection: socket.socket) -> None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00"
                              b"\x00\x00")
        connection.close()
    yield from _raw_server(reset)


def test_a_receiver_that_never_answers_is_a_timeout(silent_url: str) -> None:
    report = fuzz(silent_url, "esms.sms.ads", max_examples=2, seed=1, timeout=0.2)
    assert [f.outcome for f in report.findings] == ["timeout after 0.2 s"]


def test_a_receiver_that_drops_the_connection_is_a_broken_connection(slamming_url: str) -> None:
    report = fuzz(slamming_url, "nxcloud.zalo.delivered", max_examples=2, seed=1)
    assert len(report.findings) == 1
    assert report.findings[0].outcome.startswith("broken connection: ")


def test_nothing_listening_is_an_error_not_a_finding() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(FuzzError, match=re.escape("nothing answers at 'http://127.0.0.1:")):
        fuzz(f"http://127.0.0.1:{port}/hook", "esms.sms.ads", max_examples=1)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"to": "ftp://127.0.0.1/x"}, "must be an http:// or https:// URL"),
    ({"to": "http://127.0.0.1:9/x", "max_examples": 0}, "max_examples must be"),
    ({"to": "http://127.0.0.1:9/x", "timeout": 0}, "timeout must be"),
])
def test_bad_arguments_are_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(FuzzError, match=message):
        fuzz(**arguments)


def test_an_unknown_kind_names_the_closest() -> None:
    with pytest.raises(UnknownKindError, match=re.escape("did you mean 'nxcloud.zalo.delivered'")):
        fuzz("http://127.0.0.1:9/x", "nxcloud.zalo.deliverd")


def test_cli_exits_1_with_a_replay_command(serve: Callable[[str], str]) -> None:
    url = serve("naive_receiver") + "/webhooks/esms"
    result = CliRunner().invoke(cli, ["fuzz", "--to", url, "--kind", "esms.viber.message",
                                      "--max-examples", "5", "--seed", "2"])
    assert result.exit_code == 1, result.output
    assert "1 finding(s)" in result.output
    assert "esms.viber.message (realistic): HTTP 500" in result.output
    assert f"replay: curl -i '{url}?SMSID=" in result.output


def test_cli_exits_0_when_nothing_is_found(serve: Callable[[str], str]) -> None:
    url = serve("webhook_app") + "/webhooks/nxcloud"
    result = CliRunner().invoke(cli, ["fuzz", "--to", url, "--kind", "nxcloud.zalo.failed",
                                      "--max-examples", "10"])
    assert result.exit_code == 0, result.output
    assert "sent 10 receipts of 1 kinds" in result.output and "no findings" in result.output


def test_cli_refuses_bad_input_in_one_line() -> None:
    result = CliRunner().invoke(cli, ["fuzz", "--to", "nowhere", "--kind", "esms.sms.ads"])
    assert result.exit_code == 2
    assert result.output.startswith("dlrmock: error: target URL 'nowhere'")
    unknown = CliRunner().invoke(cli, ["fuzz", "--to", "http://127.0.0.1:9/", "--kind", "x.y"])
    assert unknown.exit_code == 2
    assert "unknown receipt kind 'x.y'" in unknown.output


def test_plugin_fails_the_test_with_the_minimal_receipt(
    dlrmock: Any, serve: Callable[[str], str],
) -> None:
    url = serve("naive_receiver") + "/webhooks/nxcloud"
    with pytest.raises(AssertionError) as failure:
        dlrmock.fuzz(url, kind="nxcloud.zalo.journey_time_out", max_examples=5)
    assert "nxcloud.zalo.journey_time_out (realistic): HTTP 500" in str(failure.value)
    assert "replay: curl -i -X POST" in str(failure.value)
    passed = dlrmock.fuzz(serve("webhook_app") + "/webhooks/nxcloud",
                          kind="nxcloud.zalo.delivered", max_examples=5)
    assert passed.ok and passed.sent == 5


def test_shrinking_stops_sending_when_out_of_time(silent_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mock_server.fuzz.SHRINK_SECONDS", 0.0)
    report = fuzz(silent_url, "nxcloud.zalo.failed", max_examples=5, seed=1, timeout=0.2)

    assert [f.outcome for f in report.findings] == ["timeout after 0.2 s"]
    assert report.sent == 1  # the failing receipt; no shrinking tries sent after it


def test_a_bad_port_is_an_error() -> None:
    with pytest.raises(FuzzError, match=re.escape("has a bad port")):
        fuzz("http://127.0.0.1:99999/hook", "esms.sms.ads", max_examples=1)


def test_a_host_that_does_not_resolve_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def unresolved(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unresolved)  # no DNS query leaves the machine
    with pytest.raises(FuzzError, match=re.escape(
            "cannot resolve the host of 'http://receiver.test/hook': Name or service not known")):
        fuzz("http://receiver.test/hook", "esms.sms.ads", max_examples=1)


# ------------------------------------------------------------------------------ https webhooks
def fuzz_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, ["fuzz", *args])


def test_fuzz_refuses_an_https_webhook_of_an_unknown_ca_saying_to_pass_cacert(
    tls_target: Target,
) -> None:
    result = fuzz_cli("--to", tls_target.url, "--kind", "nxcloud.zalo.failed",
                      "--max-examples", "3")

    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"dlrmock: error: TLS handshake with 127.0.0.1:{tls_target.port} failed: certificate "
        "verify failed: unable to get local issuer certificate; trust its CA with --cacert FILE "
        "(config: cacert; pytest: --dlrmock-cacert) or skip verification with --insecure\n")
    assert tls_target.wait_handshake_failed() and tls_target.count() == 0


@pytest.mark.parametrize("kind", ["nxcloud.zalo.failed", "esms.sms.cskh"])
def test_fuzz_trusts_the_ca_given_with_cacert(
    tls_target: Target, ca_file: Path, kind: str
) -> None:
    result = fuzz_cli("--to", tls_target.url, "--kind", kind, "--max-examples", "4",
                      "--cacert", str(ca_file))

    assert result.exit_code == 0, result.output
    assert "sent 4 receipts of 1 kinds" in result.stdout and "no findings" in result.stdout
    assert len(tls_target.wait_for(4)) == 4


def test_fuzz_insecure_sends_without_verifying(tls_target: Target) -> None:
    result = fuzz_cli("--to", tls_target.url, "--kind", "esms.zns.normal", "--max-examples", "3",
                      "--insecure")

    assert result.exit_code == 0, result.output
    assert len(tls_target.wait_for(3)) == 3


def test_fuzz_with_a_ca_for_another_name_says_insecure_skips_verification(
    ca_file: Path, make_tls_target: Callable[..., Target]
) -> None:
    elsewhere = make_tls_target("hooks.example")

    result = fuzz_cli("--to", elsewhere.url, "--kind", "nxcloud.zalo.failed", "--cacert",
                      str(ca_file))

    assert result.exit_code == 2
    assert result.stderr.endswith(
        "certificate verify failed: IP address mismatch, certificate is not valid for "
        "'127.0.0.1'; --insecure skips verification\n")


def test_fuzz_takes_a_tls_context_in_python(tls_target: Target, ca_file: Path) -> None:
    with pytest.raises(FuzzError, match="unable to get local issuer certificate"):
        fuzz(tls_target.url, "nxcloud.zalo.delivered", max_examples=2)

    report = fuzz(tls_target.url, "nxcloud.zalo.delivered", max_examples=2, seed=1,
                  tls=tls_context(ca_file))

    assert report.ok and report.sent == 2
