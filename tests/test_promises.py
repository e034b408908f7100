"""Documented promises (the README and the docs site), each stated in a test's name and
checked where it can break.

These guard behaviour that one-line mutations once changed without any test failing: the
acknowledgement rule over a real socket, the lower-case ``sign``, the 2 KiB response excerpt,
the journal's eviction counters on multi-attempt runs, the provider's time zone on receipts of
real sends, a step never sent, errors surfacing at fixture teardown and forgotten by reset(), and
``play``'s progress note. Every webhook here is a loopback ``Target`` on 127.0.0.1, port 0.

Documented promises already stated by a test elsewhere (not repeated here):
- Delivery rules: ``test_nxcloud_families.py``
  ``::test_an_sms_report_is_acknowledged_only_by_the_text_success``,
  ``::test_number_check_and_pns_want_exactly_200_and_retry_every_minute``,
  ``::test_an_nxcc_call_log_carries_the_token_header_and_wants_exactly_200``;
  ``test_esms_receipts.py::test_a_voice_receiver_answering_anything_but_200_gets_five_retries``;
  ``test_cli_play.py::test_play_retried_after_lost_ack_gives_six_attempts`` (eSMS: 6 attempts);
  ``test_wire.py::test_append_query_uses_an_ampersand_after_an_existing_query``.
- Journal: ``test_reliability.py::test_journal_never_evicts_runs_in_progress``;
  ``test_http.py::test_stale_keep_alive_connection_is_retried_transparently``;
  ``test_targets.py::test_an_ambiguous_url_is_journaled_blocked_even_on_loopback``.
- Journey tokens: ``test_lifecycle.py::test_a_used_journey_token_never_times_out``,
  ``::test_a_journey_token_used_while_its_expiry_is_in_flight_is_refused``;
  ``test_sendapi_nxcloud.py``
  ``::test_a_journey_token_dlrmock_did_not_give_out_is_played_as_a_fresh_journey``;
  ``test_sendapi_e2e.py::test_nxcloud_journey_token_expiry_waits_on_a_manual_clock_at_time_scale_0``.
- Send settings: ``test_sendapi_settings.py::test_defaults_are_the_documented_test_credentials``,
  ``::test_the_default_magic_numbers_decide_the_outcome``; status while pending:
  ``test_sendapi_esms.py::test_status_is_waiting_until_the_callback_is_played_then_matches_it``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn

import pytest
import requests
import yaml
from click.testing import CliRunner
from live import send_nxcloud
from targets import Sink, Target

from mock_server import (
    Attempt,
    Config,
    Engine,
    MockProvider,
    OverrideError,
    PayloadError,
    Run,
    RunError,
    RunNotFoundError,
    decode_error_info,
    parse_callback,
    receipt,
)
from mock_server.cli import cli
from mock_server.sendapi import SendSettings, sign

MakeTarget = Callable[..., Target]
FAST = {"timeout": 2.0}
ESMS_API = "/MainService.svc/json"


class Boom(Exception):
    """What a deliberately broken listener raises: stands for a bug inside dlrmock."""


def explode(run: Run, attempt: Attempt) -> NoReturn:
    raise Boom(f"listener failed on {run.id} attempt {attempt.attempt}")


# ------------------------------------------------------------------- acknowledgement (README)
@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_acknowledges_an_nxcloud_receipt_over_a_real_socket(
    engine: Engine, make_target: MakeTarget, status: int
) -> None:
    target = make_target(status=status, body=b"")
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, policy=FAST).wait(5)

    assert [(a.status, a.outcome) for a in run.attempts] == [(status, "acknowledged")] * 2
    assert all(a.acknowledged for a in run.attempts)
    assert run.ok, run.journal_text()


@pytest.mark.parametrize("status", [201, 204])
def test_any_2xx_acknowledges_an_esms_callback_so_it_is_not_retried(
    engine: Engine, make_target: MakeTarget, status: int
) -> None:
    target = make_target(status=status, body=b"")
    run = engine.play("esms.sms.cskh.delivered", target.url, policy=FAST).wait(5)

    assert [a.outcome for a in run.attempts] == ["acknowledged"]
    assert run.ok, run.journal_text()


@pytest.mark.parametrize("status", [300, 301, 302, 304, 307])
def test_a_3xx_never_acknowledges_a_receipt_over_a_real_socket(
    engine: Engine, make_target: MakeTarget, status: int
) -> None:
    target = make_target(status=status, body=b"")
    run = engine.play("nxcloud.zalo.failed", target.url, policy=FAST).wait(5)

    [attempt] = run.attempts
    assert (attempt.status, attempt.outcome) == (status, "http_error")
    assert not attempt.acknowledged
    assert not run.ok
    assert run.failures() == [
        f"step 0 (nxcloud.zalo.failed): not acknowledged after 1 attempt(s); "
        f"last: HTTP {status} (http_error)"
    ]


def test_a_3xx_to_an_esms_callback_is_a_failure_and_not_retried(
    engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target(status=302, body=b"")
    run = engine.play("esms.zns.normal.delivered", target.url, policy=FAST).wait(5)

    assert [a.outcome for a in run.attempts] == ["http_error"]  # only timeouts are retried
    assert not run.attempts[0].acknowledged and not run.ok


# --------------------------------------------------------------------- journal (README)
def test_the_journal_keeps_a_2_kib_excerpt_of_the_response_body(
    engine: Engine, make_target: MakeTarget
) -> None:
    body = bytes(ord("a") + i % 26 for i in range(5000))
    run = engine.play("nxcloud.zalo.failed", make_target(body=body).url).wait(5)

    [attempt] = run.attempts
    assert attempt.response_body == body[:2048].decode()
    assert attempt.as_dict()["response"]["body"] == body[:2048].decode()


def test_the_journal_keeps_a_short_response_body_whole(
    engine: Engine, make_target: MakeTarget
) -> None:
    body = b"x" * 2047 + b"!"
    run = engine.play("nxcloud.zalo.failed", make_target(body=body).url).wait(5)

    assert run.attempts[0].response_body == body.decode()


def test_eviction_counts_every_attempt_of_a_multi_attempt_run(counting_sink: Sink) -> None:
    # Two attempts per run: counting runs instead of attempts (or one attempt per evicted
    # run) shows up here, where one-attempt runs would hide it.
    with Engine(time_scale=0, journal_limit=9) as engine:
        for _ in range(15):
            engine.play("nxcloud.zalo.success_then_delivered", counting_sink.url).wait(5)
        stats = engine.journal.stats()
        kept = engine.runs()

    assert stats["total_attempts"] == 30
    assert stats["evicted_runs"] == 15 - len(kept) > 0
    assert stats["evicted_attempts"] == 2 * stats["evicted_runs"]
    assert stats["attempts"] == sum(len(run.attempts) for run in kept) == 2 * len(kept)
    assert stats["attempts"] <= 9
    assert stats["attempts"] + stats["evicted_attempts"] == stats["total_attempts"]


# ------------------------------------------------------------------------- failures of a run
def test_a_step_never_sent_is_reported_as_a_failure(target: Target) -> None:
    with Engine(time_scale=0, seed=5) as engine:
        engine.on_attempt.append(explode)  # the run stops inside dlrmock after its first attempt
        run = engine.play("nxcloud.zalo.success_then_delivered", target.url).wait(5)

    assert run.state == "error" and len(run.attempts) == 1
    assert "step 1 (nxcloud.zalo.delivered): never sent" in run.failures()
    assert not run.ok


def _cancelled_after_its_first_receipt(engine: Engine, target: Target) -> Run:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, clock="manual")
    run.step()
    engine.cancel(run.id)
    return run.wait(5)


def test_a_cancelled_run_does_not_blame_the_target_for_steps_never_sent(
    engine: Engine, target: Target
) -> None:
    run = _cancelled_after_its_first_receipt(engine, target)

    assert run.state == "cancelled"
    assert run.failures() == []


# ----------------------------------------------------------- errors inside dlrmock and reset()
def test_engine_reset_forgets_the_errors_raised_inside_the_engine(target: Target) -> None:
    with Engine(time_scale=0) as engine:
        engine.on_attempt.append(explode)
        engine.play("nxcloud.zalo.failed", target.url).wait(5)
        assert [type(e) for e in engine.errors] == [Boom]

        engine.reset()

        assert list(engine.errors) == []


def test_provider_reset_forgets_errors_of_the_engine_and_of_the_app(target: Target) -> None:
    with MockProvider(time_scale=0) as provider:

        def broken_route() -> NoReturn:
            raise Boom("a route failed")

        provider.app.add_url_rule("/broken", view_func=broken_route)
        assert provider.app.test_client().get("/broken").status_code == 500
        provider.state.engine.on_attempt.append(explode)
        provider.play("nxcloud.zalo.failed", target.url).wait(5)
        provider.state.engine.on_attempt.clear()
        assert provider.state.errors and provider.state.engine.errors

        provider.reset()

        provider.check()  # nothing left to re-raise
        assert list(provider.state.errors) == [] and list(provider.state.engine.errors) == []


def test_the_dlrmock_fixture_fails_the_test_on_an_error_inside_the_server(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        '''
        import socket


        def refused_url():
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                return f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


        def test_a_bug_inside_dlrmock(dlrmock, dlrmock_server):
            def explode(run, attempt):
                raise RuntimeError("listener bug")

            dlrmock_server.state.engine.on_attempt.append(explode)
            try:
                dlrmock.play("nxcloud.zalo.failed", to=refused_url()).wait(5)
            finally:
                dlrmock_server.state.engine.on_attempt.remove(explode)
        '''
    )
    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_a_bug_inside_dlrmock*",
         "*ServerError: 1 error(s) inside the dlrmock server; first: RuntimeError: listener bug*"]
    )


# ---------------------------------------------------------- send APIs: sign and time zones
@pytest.fixture
def send_url() -> Iterator[str]:
    """The fake provider on a loopback port, its real engine playing at once."""
    provider = MockProvider(time_scale=0, seed=11, send={"receipt_delay": 0}).start()
    try:
        yield provider.url
    finally:
        provider.stop()
    provider.check()


def _mt(base: str, webhook: str, *, upper_sign: bool = False) -> dict[str, Any]:
    body = json.dumps({
        "appkey": "app-1",
        "phone": "84912345678",
        "functionType": "template",
        "messageData": {"templateId": "100200", "templateData": {"name": "Lan"}},
        "drWebhook": webhook,
    }).encode()
    headers = {"accessKey": "dlrmock-access-key", "ts": str(int(time.time() * 1000)),
               "bizType": "9", "action": "mt"}
    signature = sign(headers, body, "dlrmock-secret")
    headers["sign"] = signature.upper() if upper_sign else signature
    response = requests.post(f"{base}/v1/zalo/mt", data=body, timeout=10,
                             headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def test_nxcloud_requires_the_sign_in_lower_case_hex(send_url: str, target: Target) -> None:
    refused = _mt(send_url, target.url, upper_sign=True)
    accepted = _mt(send_url, target.url)

    assert refused["code"] == 1003
    assert "must be lower-case hex" in refused["message"]
    assert accepted["code"] == 0
    target.wait_for(2)  # the accepted send's receipts, before the provider stops


def _close_to(stamp: datetime, zone: timezone) -> bool:
    now = datetime.now(zone).replace(tzinfo=None)
    return abs(stamp - now) < timedelta(minutes=3)


def test_receipts_of_a_real_nxcloud_send_carry_the_time_in_china(
    send_url: str, target: Target
) -> None:
    answer = _mt(send_url, target.url)
    assert answer["code"] == 0

    received = [json.loads(r.body) for r in target.wait_for(2)]
    success = next(r for r in received if r["status"] == "success")
    sent = datetime.strptime(success["sendTime"], "%Y-%m-%d %H:%M:%S")
    assert _close_to(sent, timezone(timedelta(hours=8))), success["sendTime"]


def test_receipts_of_a_real_esms_send_carry_the_time_in_vietnam(
    send_url: str, target: Target
) -> None:
    params = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key",
              "Phone": "0912345678", "OAID": "4097311281936189049", "TempID": "200607",
              "Params": ["Nguyen Van A"], "SendingMode": "1", "IsJourney": "1",
              "OrderId": "ORDER-1",
              "CallbackUrl": target.url}
    response = requests.post(f"{send_url}{ESMS_API}/SendZaloMessage_V4_post_json",
                             json=params, timeout=10)
    assert response.json()["CodeResult"] == "100", response.json()

    [callback] = target.wait_for(1)
    decoded = decode_error_info(parse_callback(callback.path)["error_info"])
    assert decoded.timestamp is not None, decoded
    assert _close_to(decoded.timestamp, timezone(timedelta(hours=7))), decoded.timestamp


# ------------------------------------------------------------------------ play's progress note
def test_play_prints_a_progress_note_while_it_waits_out_a_real_delay(target: Target) -> None:
    # success, then delivered 2 s later; at time scale 1.5 that is 3 s of real waiting,
    # past the 2 s after which play says it is still waiting.
    result = CliRunner().invoke(cli, ["play", "nxcloud.zalo.success_then_delivered",
                                      "--to", target.url, "--time-scale", "1.5"])

    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "waiting" in line]
    assert notes, result.stderr
    assert all(line.startswith("  ... waiting, ") for line in notes)
    assert notes[0].endswith(" s into the scenario")
    assert "waiting" not in result.stdout  # the table stays clean on stdout
    assert result.stdout.splitlines()[-1] == "ok: 2 attempt(s), every receipt acknowledged"


def test_play_prints_no_progress_note_at_time_scale_zero(target: Target) -> None:
    result = CliRunner().invoke(cli, ["play", "nxcloud.zalo.success_then_delivered",
                                      "--to", target.url, "--time-scale", "0"])

    assert result.exit_code == 0, result.output
    assert "waiting" not in result.stderr


def test_an_answer_that_is_not_utf8_is_journaled_not_fatal(
    engine: Engine, make_target: MakeTarget
) -> None:
    run = engine.play("nxcloud.zalo.failed", make_target(body=b"ok \xff\xfe").url).wait(5)

    [attempt] = run.attempts
    assert run.ok and attempt.run_id == run.id
    assert attempt.response_body == "ok \ufffd\ufffd"


def test_the_journal_keeps_exactly_journal_limit_attempts_before_evicting(
        counting_sink: Sink) -> None:
    with Engine(time_scale=0, journal_limit=4) as engine:
        for _ in range(2):
            engine.play("nxcloud.zalo.success_then_delivered", counting_sink.url).wait(5)
        stats = engine.journal.stats()

    assert (stats["attempts"], stats["evicted_runs"]) == (4, 0)


# ------------------------------------------ documented defaults (docs/provider.md, reference)
def _doc_section(page: Path, heading: str) -> str:
    """The page's text from ``heading`` to the next heading of any level."""
    text = page.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(r"^#{1,6} ", text[start:], re.MULTILINE)
    return text[start:start + following.start()] if following else text[start:]


def _plain(value: Any) -> Any:
    """Tuples as lists and mappings as dicts, recursively: how YAML spells a value."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def test_every_default_in_the_docs_config_file_example_is_the_servers_default(
    project_root: Path,
) -> None:
    section = _doc_section(project_root / "docs" / "provider.md",
                           "## Config file (`--config FILE`, YAML or JSON)")
    documented = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    defaults = Config()
    compared = [key for key in documented if key not in ("policies", "send")]

    assert {key: documented[key] for key in compared} == {
        key: _plain(getattr(defaults, key)) for key in compared
    }
    assert len(compared) >= 10, compared  # the example is the one found, not an empty block


def test_every_default_in_the_generated_send_settings_table_is_the_default() -> None:
    """The configuration reference (generated, docs/reference/config.md) shows each send key's
    real default, in the spelling a config file takes."""
    from mock_server._reference import render

    rows = [line.split(" | ") for line in render("config-send").splitlines()
            if line.startswith("| `")]
    defaults = SendSettings()
    checked = []
    for key_cell, default_cell, *_ in rows:
        key = key_cell.strip("| `")
        value = yaml.safe_load(default_cell.strip("`"))
        assert _plain(getattr(defaults, key)) == _plain(value), f"send.{key}"
        checked.append(key)

    assert {"messages_limit", "receipt_delay", "answer_margin", "nxcloud_journey_price",
            "esms_unit_prices", "voice_records", "magic_numbers"} <= set(checked)


# ------------------------------------------------------------ NaN and infinities (README, play)
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"zaloRes": {"error": float("nan")}}, "zaloRes.error=nan"),
        ({"zaloRes": {"data": {"quota": [1, float("-inf")]}}}, "zaloRes.data.quota[1]=-inf"),
    ],
)
def test_nan_and_infinities_are_refused_at_any_depth_and_never_sent(
    engine: Engine, target: Target, fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(OverrideError, match=re.escape(named) + ".*never sent; give a finite"):
        engine.play("nxcloud.zalo.failed", target.url, fields=fields)

    assert engine.runs() == [] and target.count() == 0


@pytest.mark.parametrize(("changes", "named"), [
    ({"code": float("nan")}, "code=nan"),
    ({"overrides": {"zaloRes.data": {"quota": float("inf")}}}, "zaloRes.data.quota=inf"),
])
def test_receipt_never_produces_nan_or_infinities(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(OverrideError, match=re.escape(named) + ": NaN and infinities are not JSON"):
        receipt("nxcloud.zalo.failed", **changes)


# ------------------------------------------------- assert_acknowledged on unfinished runs (README)
def test_assert_acknowledged_fails_on_a_run_still_going_after_its_timeout(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, clock="manual")
    started = time.monotonic()

    with pytest.raises(AssertionError, match="the run did not finish: ") as failure:
        run.assert_acknowledged(timeout=0.3)

    assert 0.3 <= time.monotonic() - started < 5  # it waited its timeout, not the default 30 s
    assert f"run {run.id} (nxcloud.zalo.success_then_delivered) is waiting on its manual clock" \
        in str(failure.value)
    engine.cancel(run.id)


def test_assert_acknowledged_fails_on_a_cancelled_run_saying_it_was_cancelled(
    engine: Engine, target: Target
) -> None:
    run = _cancelled_after_its_first_receipt(engine, target)

    with pytest.raises(AssertionError) as failure:
        run.assert_acknowledged(timeout=1)

    assert ("the run was cancelled before it finished (run.cancel(), a reset of the server, or "
            "the server stopping); receipts it had not sent were never delivered"
            in str(failure.value))


# ------------------------------------------------------------ --db: run ids go on (README)
def test_run_ids_go_on_from_where_they_stopped_after_a_restart(
    tmp_path: Path, target: Target
) -> None:
    db = str(tmp_path / "history.sqlite")
    with MockProvider(time_scale=0, db=db) as first:
        before = [first.play("nxcloud.zalo.failed", target.url).wait(5).id for _ in range(3)]
    with MockProvider(time_scale=0, db=db) as second:
        after = second.play("nxcloud.zalo.failed", target.url).wait(5).id

    numbers = [int(run_id.rsplit("-", 1)[1]) for run_id in [*before, after]]
    assert numbers == list(range(numbers[0], numbers[0] + 4)), [*before, after]


# ------------------------------------------------------------- manual clock: step() (README)
def test_step_on_a_held_run_waits_its_timeout_then_says_the_run_has_not_started(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, clock="manual",
                      hold=True)
    started = time.monotonic()

    with pytest.raises(RunError, match=re.escape(
            f"run {run.id} has not started (it waits for its send's answer, or for a release); "
            "step it once it runs")):
        run.step(timeout=0.3)

    assert time.monotonic() - started >= 0.3
    assert target.count() == 0
    engine.cancel(run.id)


def test_step_on_a_run_without_a_manual_clock_says_how_to_get_one(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url).wait(5)

    with pytest.raises(RunError, match="start it with clock='manual' to step it"):
        run.step()


def test_when_finished_on_a_finished_run_calls_back_at_once_with_the_run(
    engine: Engine, target: Target
) -> None:
    run = engine.play("nxcloud.zalo.failed", target.url).wait(5)
    called: list[Run] = []

    run.when_finished(called.append)

    assert called == [run]


# ---------------------------------------------------- times tell the truth: journey events (README)
def test_a_journey_time_out_carries_the_millisecond_it_leaves(target: Target) -> None:
    settings = {"nxcloud_default_webhook": target.url, "receipt_delay": 0}
    with MockProvider(time_scale=0, send=settings) as provider:
        answer = send_nxcloud(provider.url, "/v1/zalo/initJourneyToken",
                              {"appkey": "app-1", "phone": "84912340000",
                               "tokenType": "token_coach_bus_7"})
        assert answer["code"] == 0, answer
        (run_id,) = provider.sent[-1].run_ids
        time.sleep(1.5)  # the expiry was planned at the token's birth; it leaves later
        left = time.time() * 1000
        run = provider.run(run_id)
        [attempt] = run.advance(7 * 86400)

    [received] = target.requests
    expiry = json.loads(received.body)
    assert expiry["status"] == "journey_time_out"
    assert abs(int(expiry["timestamp"]) - left) < 1000, (expiry["timestamp"], left)
    # the journal shows what left: the stamped payload and the full request
    assert run.payloads == [expiry]
    assert attempt.request.body == received.body
    assert {"Host", "User-Agent"} <= {name for name, _ in attempt.request.headers}


def test_an_unknown_run_id_is_refused_saying_where_the_runs_are_listed(engine: Engine) -> None:
    with pytest.raises(RunNotFoundError, match=re.escape(
            "no run 'run-999' (never started, reset, or evicted from the journal); "
            "list runs with GET /_dlrmock/runs")):
        engine.get("run-999")


def test_an_empty_callback_is_refused_showing_what_a_callback_looks_like() -> None:
    with pytest.raises(PayloadError, match=re.escape(
            "empty callback: expected a URL or a query string such as 'SMSID=…&TypeId=2'")):
        parse_callback("  ")


def test_a_held_run_is_released_at_once_and_only_once(engine: Engine, target: Target) -> None:
    run = engine.play("nxcloud.zalo.success_then_delivered", target.url, hold=True)
    assert target.count() == 0

    engine.release(run)
    engine.release(run)  # a second release does nothing
    run.wait(0.8)  # at once: no delay unless one is asked for

    assert [a.kind for a in run.attempts] == ["nxcloud.zalo.success", "nxcloud.zalo.delivered"]
    time.sleep(0.2)
    assert target.count() == 2
