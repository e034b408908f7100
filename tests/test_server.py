"""MockProvider: the fake provider served from a thread, for scripts and tests."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
import requests
from targets import Target

from mock_server import Attempt, DlrmockError, MockProvider, Run, ServerError

MakeTarget = Callable[..., Target]


def test_listens_on_loopback_before_start_returns() -> None:
    provider = MockProvider(time_scale=0).start()
    try:
        assert provider.host == "127.0.0.1" and provider.port > 0
        assert provider.url == f"http://127.0.0.1:{provider.port}"
        with socket.create_connection(("127.0.0.1", provider.port), timeout=2):
            pass
        assert requests.get(provider.url + "/_dlrmock/health", timeout=5).status_code == 200
    finally:
        provider.stop()
    provider.stop()  # idempotent
    with pytest.raises(ServerError, match="not running"):
        _ = provider.url


def test_play_wait_and_assert_acknowledged(target: Target) -> None:
    with MockProvider(time_scale=0, seed=1) as provider:
        run = provider.play("nxcloud.zalo.success_then_delivered", to=target.url)

        run.wait(5).assert_acknowledged()

        assert provider.runs == [run]
        assert [a.outcome for a in run.attempts] == ["acknowledged", "acknowledged"]
        provider.reset()
        assert provider.runs == [] and provider.sent == []


def test_assert_acknowledged_shows_the_journal(make_target: MakeTarget) -> None:
    failing = make_target("error")
    with MockProvider(time_scale=0) as provider:
        run = provider.play("nxcloud.zalo.failed", to=failing.url).wait(5)

        with pytest.raises(AssertionError) as info:
            run.assert_acknowledged()

    message = str(info.value)
    assert "step 0 (nxcloud.zalo.failed): not acknowledged after 1 attempt(s)" in message
    assert "HTTP 500 (http_error)" in message and f"journal of run {run.id}" in message


def test_settings_go_to_the_config() -> None:
    provider = MockProvider(time_scale=0, journal_limit=10)
    try:
        assert provider.state.config.journal_limit == 10
        assert provider.state.engine.journal.limit == 10
    finally:
        provider.stop()
    with pytest.raises(DlrmockError, match="unknown config key 'time_scael'"):
        MockProvider(time_scael=0)


def test_check_reraises_an_error_from_the_server_thread() -> None:
    provider = MockProvider(time_scale=0)
    provider.app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    with provider:
        response = requests.get(provider.url + "/boom", timeout=5)
        assert response.status_code == 500 and response.json()["error"] == "internal_error"

        with pytest.raises(ServerError, match=r"1 error.*ZeroDivisionError") as info:
            provider.check()

        assert isinstance(info.value.__cause__, ZeroDivisionError)
        provider.check()  # reported once


def test_leaving_the_block_reraises_server_errors() -> None:
    provider = MockProvider(time_scale=0)
    provider.app.add_url_rule("/boom", "boom", lambda: 1 / 0)

    with pytest.raises(ServerError, match="ZeroDivisionError"), provider:
        requests.get(provider.url + "/boom", timeout=5)


def test_an_error_in_the_block_is_not_masked_by_server_errors() -> None:
    provider = MockProvider(time_scale=0)
    provider.app.add_url_rule("/boom", "boom", lambda: 1 / 0)

    with pytest.raises(KeyError), provider:
        requests.get(provider.url + "/boom", timeout=5)
        raise KeyError("the test's own failure")


def test_check_reraises_an_error_inside_a_run(target: Target) -> None:
    def broken_listener(run: Run, attempt: Attempt) -> None:
        raise RuntimeError("listener bug")

    provider = MockProvider(time_scale=0).start()
    try:
        provider.state.engine.on_attempt.append(broken_listener)
        run = provider.play("nxcloud.zalo.failed", to=target.url).wait(5)

        assert run.state == "error" and "RuntimeError: listener bug" in (run.error or "")
        assert run.failures()[0] == "run failed inside dlrmock: RuntimeError: listener bug"
        with pytest.raises(ServerError, match="listener bug"):
            provider.check()
    finally:
        provider.stop()


def test_stop_cancels_pending_runs(target: Target) -> None:
    with MockProvider(time_scale=1) as provider:
        run = provider.play("nxcloud.zalo.success_then_delivered", to=target.url,
                            clock="manual")

    assert run.wait(2).state == "cancelled"


def test_busy_port_is_a_server_error_not_an_exit() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        provider = MockProvider(time_scale=0, port=port)

        with pytest.raises(ServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            provider.start()
    provider.stop()
