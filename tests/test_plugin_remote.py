"""``--dlrmock-url``: the fixtures drive a dlrmock server running elsewhere (the outer test's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from targets import refused_url
from test_plugin import NAIVE_RECEIVER, WEBHOOK_APP, receiver_project

from mock_server import MockProvider


@pytest.fixture
def provider() -> Iterator[MockProvider]:
    """The "remote" dlrmock server: started by the outer test, used by the inner session."""
    with MockProvider(time_scale=0) as provider:
        yield provider


def test_runs_of_the_inner_session_happen_on_the_remote_server(
    pytester: pytest.Pytester, provider: MockProvider, tmp_path: Path
) -> None:
    receiver_project(pytester, WEBHOOK_APP)
    record = tmp_path / "last_run.json"
    pytester.makepyfile(
        f"""
        import json
        import pathlib

        def test_manual_clock_steps_remotely(dlrmock, dlrmock_server, webhook, status):
            assert type(dlrmock_server).__name__ == "RemoteProvider"
            assert dlrmock.url == {provider.url!r}
            run = dlrmock.play("nxcloud.zalo.success_then_delivered",
                               to=f"{{webhook}}/webhooks/nxcloud", clock="manual")
            key = run.message["requestId"]
            assert status(key) is None

            assert [a.kind for a in run.step()] == ["nxcloud.zalo.success"]
            assert status(key) == "success"

            assert [a.kind for a in run.advance(3600)] == ["nxcloud.zalo.delivered"]
            assert status(key) == "delivered"
            run.wait(timeout=5).assert_acknowledged()

        def test_plays_through_the_remote_server(dlrmock, dlrmock_server, webhook, status):
            assert dlrmock.runs == []  # this test's view starts empty
            assert len(dlrmock_server.runs) == 1  # the shared server keeps the first test's run
            run = dlrmock.play("nxcloud.zalo.duplicate_delivered",
                               to=f"{{webhook}}/webhooks/nxcloud", ext="order-9")
            run.wait(timeout=5).assert_acknowledged()
            assert [a.status for a in run.attempts] == [200, 200, 200]
            assert status(run.message["requestId"]) == "delivered"
            pathlib.Path({str(record)!r}).write_text(
                json.dumps({{"id": run.id, "requestId": run.message["requestId"]}}))
        """
    )

    result = pytester.runpytest("--dlrmock-url", provider.url, "-p", "no:randomly")

    result.assert_outcomes(passed=2)
    last = json.loads(record.read_text())
    first, run = provider.runs
    assert first.scenario.name == "nxcloud.zalo.success_then_delivered"
    assert (run.id, run.scenario.name) == (last["id"], "nxcloud.zalo.duplicate_delivered")
    assert run.message["requestId"] == last["requestId"]
    assert [p["ext"] for p in run.payloads] == ["order-9"] * 3
    assert run.ok


def test_a_failure_shows_the_journal_fetched_from_the_remote_server(
    pytester: pytest.Pytester, provider: MockProvider
) -> None:
    receiver_project(pytester, NAIVE_RECEIVER)
    pytester.makepyfile(
        """
        def test_esms_callback_is_acknowledged(dlrmock, webhook):
            run = dlrmock.play("esms.sms.cskh.delivered", to=f"{webhook}/webhooks/esms")
            run.wait(timeout=5).assert_acknowledged()
        """
    )

    result = pytester.runpytest("--dlrmock-url", provider.url, "--dlrmock-seed", "77")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E   *AssertionError: the target did not handle the receipts as the provider requires:",
        "E   *- step 0 (esms.sms.cskh): not acknowledged after 1 attempt(s); last: HTTP 500*",
        "E   *journal of run run-*: esms.sms.cskh.delivered -> http://127.0.0.1:* (seed 77, done)",
        "E   *got:  500 *",
        "*- dlrmock journal -*",
        "seed: 77 (rerun with --dlrmock-seed 77)",
    ])
    [run] = provider.runs
    assert run.seed == 77


def test_an_unreachable_url_is_one_readable_error_naming_it(pytester: pytest.Pytester) -> None:
    url = refused_url().removesuffix("/hook")
    pytester.makepyfile(
        """
        def test_uses_dlrmock(dlrmock):
            pass

        def test_also_uses_dlrmock(dlrmock):
            pass

        def test_does_not_need_the_server():
            pass
        """
    )

    result = pytester.runpytest("--dlrmock-url", url)

    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines([
        "*_ ERROR at setup of test_uses_dlrmock _*",
        f"--dlrmock-url: cannot reach dlrmock at {url} (*Connection refused*); "
        "is `dlrmock serve` running there?",
        "*_ ERROR at setup of test_also_uses_dlrmock _*",
        f"--dlrmock-url: cannot reach dlrmock at {url} *",
    ])
    out = result.stdout.str()
    assert "Traceback" not in out
    assert "_remote.py" not in out
    assert "During handling" not in out


def test_a_url_that_is_not_dlrmock_is_named_with_its_answer(
    pytester: pytest.Pytester, provider: MockProvider
) -> None:
    pytester.makepyfile("def test_uses_dlrmock(dlrmock): pass")

    result = pytester.runpytest("--dlrmock-url", f"{provider.url}/not-here")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        f"--dlrmock-url: dlrmock at {provider.url}/not-here refused GET /health: *",
    ])
    assert "Traceback" not in result.stdout.str()


def test_a_token_protected_server_needs_the_token_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_dlrmock(dlrmock, dlrmock_server):
            assert dlrmock_server.runs == []
        """
    )

    with MockProvider(time_scale=0, admin_token="s3cret") as provider:
        url = provider.url
        refused = pytester.runpytest("--dlrmock-url", url)
        accepted = pytester.runpytest("--dlrmock-url", url, "--dlrmock-token", "s3cret")

    refused.assert_outcomes(errors=1)
    refused.stdout.fnmatch_lines([
        f"--dlrmock-url: dlrmock at {url} refused GET /health: this server needs "
        "'Authorization: Bearer <admin token>'",
    ])
    accepted.assert_outcomes(passed=1)


FIRST_SESSION = """
import json
import pathlib
import urllib.request

def test_sends_a_message_it_will_poll_later(dlrmock, webhook):
    body = {{"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key",
             "Phone": "0901232222", "Content": "Ma OTP 123456", "Brandname": "Baotrixemay",
             "SmsType": "2", "CallbackUrl": f"{{webhook}}/webhooks/esms"}}
    request = urllib.request.Request(
        f"{{dlrmock.url}}/MainService.svc/json/SendMultipleMessage_V4_post_json",
        data=json.dumps(body).encode(), headers={{"Content-Type": "application/json"}})
    with urllib.request.urlopen(request, timeout=5) as response:
        smsid = json.load(response)["SMSID"]
    pathlib.Path({record!r}).write_text(smsid)
"""

SECOND_SESSION = """
def test_plays_and_sees_only_its_own(dlrmock, webhook):
    assert dlrmock.sent == [] and dlrmock.runs == []
    run = dlrmock.play("esms.sms.cskh.delivered", to=f"{webhook}/webhooks/esms")
    run.wait(5).assert_acknowledged()
    assert dlrmock.runs == [run]
"""


def _send_status(provider: MockProvider, smsid: str) -> str:
    import urllib.request

    url = (f"{provider.url}/MainService.svc/json/GetSendStatus?RefId={smsid}"
           "&ApiKey=dlrmock-api-key&SecretKey=dlrmock-secret-key")
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(json.load(response)["CodeResponse"])


def test_two_sessions_against_one_server_do_not_disturb_each_other(
    pytester: pytest.Pytester, provider: MockProvider, tmp_path: Path
) -> None:
    receiver_project(pytester, WEBHOOK_APP)
    record = tmp_path / "smsid"
    first = pytester.makepyfile(test_first=FIRST_SESSION.format(record=str(record)))
    second = pytester.makepyfile(test_second=SECOND_SESSION)

    assert pytester.runpytest(first, "--dlrmock-url", provider.url).ret == 0
    smsid = record.read_text()
    assert _send_status(provider, smsid) == "100"  # the app may poll its message
    provider.state.errors.append(RuntimeError("raised for an earlier client"))

    # The earlier client's error is not this session's: its tests still pass.
    assert pytester.runpytest(second, "--dlrmock-url", provider.url).ret == 0

    assert _send_status(provider, smsid) == "100"  # still known after the other session
    assert [s.message_ids for s in provider.sent if s.endpoint != "esms.GetSendStatus"] == [
        [smsid]
    ]
    assert len(provider.runs) == 1  # the second session's run; no_receipt played none

    assert pytester.runpytest(second, "--dlrmock-url", provider.url, "--dlrmock-reset").ret == 0
    assert _send_status(provider, smsid) == "105"  # --dlrmock-reset: an unknown SMSID
    provider.state.errors.clear()


def test_remote_mistakes_raise_the_local_error_types(provider: MockProvider) -> None:
    from mock_server import (
        OverrideError,
        RemoteProvider,
        RunError,
        RunNotFoundError,
        UnknownScenarioError,
    )

    remote = RemoteProvider(provider.url).start()
    for server in (provider, remote):
        with pytest.raises(UnknownScenarioError, match=r"unknown scenario 'nxcloud\.zalo\.nope'"):
            server.play("nxcloud.zalo.nope", to="http://127.0.0.1:9/hook")
        with pytest.raises(RunError, match="field 'nope' is in none of the receipts"):
            server.play("nxcloud.zalo.failed", to="http://127.0.0.1:9/hook", nope=1)
        with pytest.raises(RunNotFoundError):
            server.run("run-999")
        with pytest.raises(OverrideError, match=r"NaN and infinities are .*never sent"):
            server.play("nxcloud.zalo.failed", to="http://127.0.0.1:9/hook", code=float("nan"))
        with pytest.raises(OverrideError, match=r"makes the nxcloud\.zalo\.failed receipt"):
            server.play("nxcloud.zalo.failed", to="http://127.0.0.1:9/hook", code="zero")
        run = server.play("nxcloud.zalo.failed", to="http://127.0.0.1:9/hook", code="zero",
                          allow_invalid=True, clock="manual")
        assert run.payloads[0]["code"] == "zero"


def test_a_remote_run_reads_live_and_a_cancelled_run_fails_assert_acknowledged(
    provider: MockProvider,
) -> None:
    from mock_server import RemoteProvider

    remote = RemoteProvider(provider.url).start()
    run = remote.play("nxcloud.zalo.success_then_delivered", to="http://127.0.0.1:9/hook",
                      clock="manual", ext="x", message="a NXCloud field, not an option")
    assert not run.finished and run.state in ("pending", "running")
    assert run.payloads[0]["message"] == "a NXCloud field, not an option"

    provider.state.engine.cancel(run.id)
    provider.run(run.id).wait(5)

    assert (run.finished, run.state, run.ok) == (True, "cancelled", False)  # no refresh() needed
    with pytest.raises(AssertionError, match="the run was cancelled before it finished"):
        run.assert_acknowledged()
    with pytest.raises(AssertionError, match="the run was cancelled before it finished"):
        provider.run(run.id).assert_acknowledged()


@pytest.mark.parametrize("reset", [False, True], ids=["shared", "dlrmock-reset"])
def test_an_error_inside_the_remote_server_during_a_test_fails_it_at_teardown(
    pytester: pytest.Pytester, provider: MockProvider, reset: bool
) -> None:
    # An earlier client's error is not this test's (a shared server keeps its count, and
    # --dlrmock-reset forgets it); the one raised while this test plays is.
    pytester.makepyfile(
        f"""
        def test_plays_while_the_server_breaks(dlrmock):
            dlrmock.play("nxcloud.zalo.failed", to={refused_url()!r}).wait(5)
        """
    )
    provider.state.errors.append(RuntimeError("raised for an earlier client"))

    def explode(run: object, attempt: object) -> None:
        raise RuntimeError("a listener bug inside the server")

    provider.state.engine.on_attempt.append(explode)
    try:
        result = pytester.runpytest(
            "--dlrmock-url", provider.url, *(["--dlrmock-reset"] if reset else [])
        )
    finally:
        provider.state.engine.on_attempt.remove(explode)
        provider.reset()  # the outer server would re-raise them when it stops

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_plays_while_the_server_breaks*",
        f"*ServerError: 1 error(s) inside the dlrmock server at {provider.url}; see its log",
    ])
