"""The history behind one interface: in memory by default, SQLite with --db, the same
behaviour; with --db it is there again after a restart and pending receipts resume."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from live import HELD_PHONE, send_esms, send_nxcloud
from targets import Target

from mock_server import MockProvider, _history
from mock_server._errors import DlrmockError
from mock_server._history import MemoryHistory, SqliteHistory
from mock_server.cli import cli

Start = Callable[..., MockProvider]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start providers (stopped at the end of the test)."""
    started: list[MockProvider] = []

    def make(**config: object) -> MockProvider:
        config.setdefault("time_scale", 0)
        provider = MockProvider(**config).start()
        started.append(provider)
        return provider

    yield make
    for provider in started:
        provider.stop()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    """Config of each history store."""
    return {} if request.param == "memory" else {"db": str(tmp_path / "history.sqlite")}


def test_each_store_lists_newest_first_with_search_and_provider_filter(
        start: Start, store: dict[str, object], target: Target) -> None:
    provider = start(**store)
    first = send_esms(provider.url, "0912345678", target.url, RequestId="order-1")
    second = send_esms(provider.url, "0987654321", target.url, Content="Hello Lan")
    provider.message(first["SMSID"]).wait("final", 10)
    provider.message(second["SMSID"]).wait("final", 10)
    history = provider.state.history
    rows, total = history.page()
    assert total == 2 and [r["id"] for r in rows] == [second["SMSID"], first["SMSID"]]
    assert [r["id"] for r in history.page(query="ORDER-1")[0]] == [first["SMSID"]]
    assert [r["id"] for r in history.page(query="hello lan")[0]] == [second["SMSID"]]
    assert history.page(provider="nxcloud") == ([], 0)
    assert history.page(provider="esms", state="final")[1] == 2
    record = history.get(first["SMSID"])
    assert record is not None and record["summary"]["reference"] == "order-1"
    assert record["send"]["response"]["SMSID"] == first["SMSID"]
    kinds = [entry["type"] for entry in history.timeline(first["SMSID"])]
    assert kinds == ["scheduled", "released", "attempt", "run"]


def test_keep_prunes_the_oldest_messages(start: Start, store: dict[str, object]) -> None:
    provider = start(keep=2, **store)
    ids = [send_esms(provider.url, "0912345678", None)["SMSID"] for _ in range(4)]
    rows, total = provider.state.history.page()
    assert total == 2 and [r["id"] for r in rows] == ids[:1:-1]
    assert provider.state.history.get(ids[0]) is None


def test_reset_empties_the_history(start: Start, store: dict[str, object]) -> None:
    provider = start(**store)
    send_esms(provider.url, "0912345678", None)
    requests.post(provider.url + "/_dlrmock/reset", timeout=5)
    assert provider.state.history.page() == ([], 0)


def test_the_history_and_pending_receipts_survive_a_restart(
        start: Start, tmp_path: Path, target: Target) -> None:
    db = str(tmp_path / "dlrmock.sqlite")
    delay = 2.5
    first = start(db=db, time_scale=1, send={"receipt_delay": delay, "answer_margin": 0})
    done = send_esms(first.url, "0912345678", target.url, SmsType="2")
    first.message(done["SMSID"]).wait("final", 10)
    pending = send_esms(first.url, "0987654321", target.url)
    sent = time.monotonic()
    assert first.message(pending["SMSID"]).state == "pending"
    first.stop()
    received_before = len(target.requests)
    # Down for a second: a receipt planned afresh at the restart would come a whole delay later.
    time.sleep(max(0.0, sent + 1.0 - time.monotonic()))

    second = start(db=db, time_scale=1)
    assert second.state.restored == {"messages": 2, "resumed": 1}
    assert second.message(done["SMSID"]).state == "final"
    assert len(second.message(done["SMSID"]).played) == 1
    assert [s.message_ids for s in second.sent] == [[done["SMSID"]], [pending["SMSID"]]]
    resumed = second.message(pending["SMSID"]).wait("final", 10)
    # Due `delay` after the send: it comes on schedule, not a whole delay after the restart.
    assert time.monotonic() - sent < delay + 0.9
    assert len(target.requests) == received_before + 1
    assert pending["SMSID"] in target.requests[-1].path
    new_run = resumed.run_ids[0]
    assert new_run not in first.state.engine.journal.runs  # run ids stay unique
    rows, total = second.state.history.page()
    assert total == 2 and rows[0]["state"] == "final"


def _wait_for(what: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def test_messages_held_before_a_restart_are_listed_and_released_after_it(
        start: Start, tmp_path: Path, target: Target) -> None:
    db = str(tmp_path / "dlrmock.sqlite")
    config = {"db": db, "send": {"nxcloud_default_webhook": target.url, "answer_margin": 0}}
    first = start(**config)
    esms = send_esms(first.url, HELD_PHONE, target.url)["SMSID"]
    sms = send_nxcloud(first.url, "/v1/sms/mt", {"appKey": "a", "phone": "84912346666",
                                                  "content": "hi"},
                       biz_type="3", action="mtsend")["data"]["messageid"]
    zalo = send_nxcloud(first.url, "/v1/zalo/mt", {
        "appkey": "a", "phone": "84912346666", "functionType": "template",
        "messageData": {"templateId": "1", "templateData": {"otp": "4821"}},
        "drWebhook": target.url})["data"]["requestId"]
    first.stop()
    assert target.requests == []

    second = start(**config)
    listed = requests.get(second.url + "/_dlrmock/messages", params={"state": "held"},
                          timeout=5).json()["messages"]
    assert {m["id"] for m in listed} == {esms, sms, zalo}
    # The admin API, the plugin's (and MockProvider's) release, the dashboard's button route.
    answer = requests.post(f"{second.url}/_dlrmock/messages/{esms}/release",
                           json={"outcome": "failed"}, timeout=5)
    assert answer.status_code == 200, answer.text
    second.release(sms, "delivered")
    answer = requests.post(f"{second.url}/_dlrmock/ui/messages/{zalo}/release",
                           json={"outcome": "delivered"}, headers={"X-Dlrmock-UI": "1"},
                           timeout=5)
    assert answer.status_code == 200, answer.text
    for message_id in (esms, sms, zalo):
        assert second.message(message_id).wait("final", 10).state == "final"
    assert second.message(esms).parts[0]["outcome"] == "failed"
    got = [r.path + r.body.decode() for r in target.requests]
    assert any(esms in g and "SendFailed=1" in g for g in got), got
    assert any(sms in g for g in got) and any(zalo in g for g in got), got
    again = requests.post(f"{second.url}/_dlrmock/messages/{esms}/release",
                          json={"outcome": "delivered"}, timeout=5)
    assert again.status_code == 409  # released once


def test_a_message_held_by_an_older_dlrmock_says_why_it_cannot_be_released(
        start: Start, tmp_path: Path, target: Target) -> None:
    db = str(tmp_path / "dlrmock.sqlite")
    first = start(db=db)
    held = send_esms(first.url, HELD_PHONE, target.url)
    first.stop()
    connection = sqlite3.connect(db)  # as an earlier dlrmock wrote it: no recipe
    with connection:
        connection.execute("UPDATE messages SET message = replace(message, '\"recipe\"', "
                           "'\"was\"')")
    connection.close()
    second = start(db=db)
    assert second.message(held["SMSID"]).state == "held"
    answer = requests.post(f"{second.url}/_dlrmock/messages/{held['SMSID']}/release",
                           json={"outcome": "delivered"}, timeout=5)
    assert answer.status_code == 400 and "send it again" in answer.json()["message"]
    assert second.message(held["SMSID"]).state == "held"


def _journey_statuses(target: Target, journey_id: str) -> list[str]:
    bodies = [json.loads(r.body) for r in target.requests if r.body.startswith(b"{")]
    return [b["status"] for b in bodies if b.get("journeyId") == journey_id]


def _use_token(url: str, token: str, hook: str) -> Any:
    return send_nxcloud(url, "/v1/zalo/mt", {
        "appkey": "a", "phone": "84912345678", "functionType": "template",
        "messageData": {"templateId": "1", "templateData": {}, "journeyToken": token},
        "drWebhook": hook})


def test_an_unused_journey_token_is_usable_exactly_once_after_a_restart(
        start: Start, tmp_path: Path, target: Target) -> None:
    config = {"db": str(tmp_path / "dlrmock.sqlite"),
              "send": {"nxcloud_default_webhook": target.url, "answer_margin": 0}}
    first = start(**config)  # time scale 0: the expiry waits on a manual clock
    token = send_nxcloud(first.url, "/v1/zalo/initJourneyToken", {
        "appkey": "a", "phone": "84912345678", "tokenType": "token_logistics_7"})["data"]
    first.stop()
    for _ in range(2):  # its expiry is planned again at each restart
        between = start(**config)
        assert between.state.restored == {"messages": 1, "resumed": 1}
        between.stop()

    second = start(**config)
    assert second.state.restored == {"messages": 1, "resumed": 1}  # the token's expiry
    check = send_nxcloud(second.url, "/v1/zalo/checkJourneyToken",
                         {"appkey": "a", "journeyToken": token["token"]})
    assert check["code"] == 0 and check["data"]["tokenType"] == "token_logistics_7"
    [expiry] = second.message(token["journeyId"]).run_ids
    used = _use_token(second.url, token["token"], target.url)["data"]["requestId"]
    second.message(used).wait("final", 10)
    assert second.state.engine.get(expiry).wait(5).state == "cancelled"
    assert _journey_statuses(target, token["journeyId"]) == ["journey_acknowledged"]
    again = _use_token(second.url, token["token"], target.url)["data"]["requestId"]
    second.message(again).wait("final", 10)
    assert _journey_statuses(target, token["journeyId"]).count("journey_acknowledged") == 1
    second.stop()

    third = start(**config)  # used stays used, and its expiry is not resumed
    assert third.state.restored == {"messages": 3, "resumed": 0}
    once_more = _use_token(third.url, token["token"], target.url)["data"]["requestId"]
    third.message(once_more).wait("final", 10)
    assert _journey_statuses(target, token["journeyId"]).count("journey_acknowledged") == 1
    assert "journey_time_out" not in _journey_statuses(target, token["journeyId"])


def test_a_journey_token_expires_on_its_original_schedule_across_a_restart(
        start: Start, tmp_path: Path, target: Target) -> None:
    scale = 3.0 / (7 * 86400)  # the 7-day token expires 3 s after it is given out
    config = {"db": str(tmp_path / "dlrmock.sqlite"), "time_scale": scale,
              "send": {"nxcloud_default_webhook": target.url, "answer_margin": 0}}
    first = start(**config)
    given = time.monotonic()
    token = send_nxcloud(first.url, "/v1/zalo/initJourneyToken", {
        "appkey": "a", "phone": "84912345678", "tokenType": "token_logistics_7"})["data"]
    first.stop()
    time.sleep(1.5)  # down for a while: a new 3 s from the restart would end at 4.5 s or later

    second = start(**config)
    _wait_for(lambda: _journey_statuses(target, token["journeyId"]))
    assert time.monotonic() - given < 4.2
    assert _journey_statuses(target, token["journeyId"]) == ["journey_time_out"]
    refused = _use_token(second.url, token["token"], target.url)
    assert refused["code"] == 9000 and "expired" in refused["message"]
    second.stop()

    third = start(**config)  # expired stays expired, and journey_time_out is not sent again
    assert third.state.restored["resumed"] == 0
    refused = _use_token(third.url, token["token"], target.url)
    assert refused["code"] == 9000 and "expired" in refused["message"]
    assert _journey_statuses(target, token["journeyId"]) == ["journey_time_out"]


def test_a_run_started_through_the_admin_api_resumes_on_schedule_after_a_restart(
        start: Start, tmp_path: Path, target: Target) -> None:
    db = str(tmp_path / "dlrmock.sqlite")
    first = start(db=db, time_scale=1)
    started = time.monotonic()
    run = requests.post(first.url + "/_dlrmock/runs", json={
        "scenario": "nxcloud.zalo.success_then_delivered", "to": target.url,
        "fields": {"ext": "order-77"}}, timeout=5).json()
    _wait_for(lambda: target.requests)  # success at once; delivered is due 2 s later
    # ... and journaled as sent (on a loaded machine the answer can still be on its way: a run
    # stopped before then resends its first receipt, which this test is not about)
    _wait_for(lambda: requests.get(first.url + "/_dlrmock/runs", timeout=5).json()
              ["runs"][0]["attempt_count"])
    first.stop()
    time.sleep(0.5)

    second = start(db=db, time_scale=1)
    assert second.state.restored == {"messages": 0, "resumed": 1}
    _wait_for(lambda: len(target.requests) >= 2)
    assert 1.8 < time.monotonic() - started < 2.8  # when it was due, not 2 s after the restart
    time.sleep(0.3)
    bodies = [json.loads(r.body) for r in target.requests]
    assert [b["status"] for b in bodies] == ["success", "delivered"]
    assert bodies[1]["requestId"] == bodies[0]["requestId"]  # the same seed: the same message
    assert bodies[1]["ext"] == "order-77"
    runs = requests.get(second.url + "/_dlrmock/runs", timeout=5).json()["runs"]
    assert [r["id"] for r in runs] != [run["id"]] and runs[0]["state"] == "done"


def test_a_file_that_is_no_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not sqlite at all, just words " * 100, "utf-8")
    with pytest.raises(DlrmockError, match=r"notes\.txt"):
        SqliteHistory(bad)
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--db", str(bad)])
    assert result.exit_code == 2 and "notes.txt" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_serve_rejects_a_bad_keep(value: str) -> None:
    result = CliRunner().invoke(cli, ["serve", "--keep", value])
    assert result.exit_code == 2 and value in result.output


def test_memory_history_keeps_entries_that_arrive_before_their_send() -> None:
    history = MemoryHistory()
    from mock_server._events import Event

    history(Event("scheduled", {"run_id": "run-1", "message_id": "m1", "scenario": "s"}))
    history(Event("send", {"summary": {}, "send": {}, "messages": [
        {"id": "m1", "provider": "esms", "api": "a", "created_at": 0.0, "state": "pending"}]}))
    assert [e["type"] for e in history.timeline("m1")] == ["scheduled"]


def _serve(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--log-format", "json",
         *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    banner = json.loads(process.stdout.readline())
    return process, banner["url"]


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        if process.stdout is not None:
            process.stdout.close()


def _serve_args(tmp_path: Path, *, receipt_delay: float, grace: float) -> list[str]:
    """`dlrmock serve` arguments: a history in ``tmp_path``, receipts ``receipt_delay`` real
    seconds after their send's answer."""
    config = tmp_path / "dlrmock.yaml"
    config.write_text(f"send:\n  receipt_delay: {receipt_delay}\n  answer_margin: 0\n", "utf-8")
    return ["--db", str(tmp_path / "dlrmock.sqlite"), "--config", str(config), "--time-scale",
            "1", "--grace", str(grace)]


def test_dlrmock_serve_with_db_keeps_history_and_schedule_across_a_stop(
        tmp_path: Path, target: Target) -> None:
    args = _serve_args(tmp_path, receipt_delay=3, grace=0)
    first, url = _serve(args)
    try:
        answer = send_esms(url, "0912345678", target.url, RequestId="order-9")
    finally:
        _stop(first)  # the receipt is 3 s away: still scheduled when the server stops
    assert target.requests == []

    second, url = _serve(args)
    try:
        inbox = requests.get(url + "/_dlrmock/ui/", params={"q": "order-9"}, timeout=5).text
        assert answer["SMSID"][:20] in inbox
        deadline = time.monotonic() + 10
        while not target.requests:
            assert time.monotonic() < deadline, "the scheduled receipt was not resumed"
            time.sleep(0.05)
        assert answer["SMSID"] in target.requests[0].path
        while requests.get(f"{url}/_dlrmock/messages/{answer['SMSID']}",
                           timeout=5).json()["state"] != "final":
            assert time.monotonic() < deadline, "the resumed message never became final"
            time.sleep(0.05)
    finally:
        _stop(second)


def test_a_manual_clock_run_comes_back_waiting_for_its_next_step(
        start: Start, tmp_path: Path, target: Target) -> None:
    db = str(tmp_path / "dlrmock.sqlite")
    first = start(db=db)
    run = requests.post(first.url + "/_dlrmock/runs", json={
        "scenario": "nxcloud.zalo.success_then_delivered", "to": target.url,
        "clock": "manual"}, timeout=5).json()
    requests.post(f"{first.url}/_dlrmock/runs/{run['id']}/step", timeout=5)
    first.stop()

    second = start(db=db)
    [resumed] = requests.get(second.url + "/_dlrmock/runs", timeout=5).json()["runs"]
    time.sleep(0.2)
    assert resumed["state"] in ("pending", "running") and len(target.requests) == 1
    stepped = requests.post(f"{second.url}/_dlrmock/runs/{resumed['id']}/step",
                            timeout=5).json()
    assert [a["kind"] for a in stepped["attempts"]] == ["nxcloud.zalo.delivered"]
    bodies = [json.loads(r.body) for r in target.requests]
    assert [b["status"] for b in bodies] == ["success", "delivered"]
    assert bodies[1]["requestId"] == bodies[0]["requestId"]


def test_the_console_shows_a_receipt_that_was_due_while_the_server_was_down(
        tmp_path: Path, target: Target) -> None:
    args = _serve_args(tmp_path, receipt_delay=0.5, grace=0)
    first, url = _serve(args)
    try:
        answer = send_esms(url, "0912345678", target.url)
    finally:
        _stop(first)  # stopped before the receipt was due
    time.sleep(0.6)
    second, url = _serve(args)  # the receipt is overdue: it leaves as the server starts
    lines: list[dict[str, Any]] = []

    def read() -> None:
        assert second.stdout is not None
        for line in second.stdout:
            lines.append(json.loads(line))
            if lines[-1].get("event") == "attempt":
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        reader.join(10)
        assert lines and lines[-1]["event"] == "attempt", lines
        assert answer["SMSID"] in lines[-1]["url"] and lines[-1]["outcome"] == "acknowledged"
    finally:
        _stop(second)


def test_a_history_file_in_use_is_waited_for_then_refused_by_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "busy.sqlite"
    first = SqliteHistory(path)
    monkeypatch.setattr(_history, "LOCK_WAIT_SECONDS", 0.2)
    with pytest.raises(DlrmockError, match=r"busy\.sqlite.*in use by another dlrmock"):
        SqliteHistory(path)
    monkeypatch.setattr(_history, "LOCK_WAIT_SECONDS", 10)
    threading.Timer(0.3, first.close).start()
    SqliteHistory(path).close()  # waited for the first to close


def test_a_server_started_while_the_last_one_finishes_its_runs_waits_for_it(
        tmp_path: Path, target: Target) -> None:
    args = _serve_args(tmp_path, receipt_delay=3, grace=10)
    first, url = _serve(args)
    answer = send_esms(url, "0912345678", target.url)
    first.send_signal(signal.SIGTERM)  # it sends the receipt within its grace, then stops
    second, url = _serve(args)  # the port is free at once; the history when the first is done
    try:
        assert first.wait(10) == 0  # it stopped cleanly, its history released to the second
        time.sleep(0.5)
        assert [r.path for r in target.requests if answer["SMSID"] in r.path] != []
        assert len(target.requests) == 1  # sent once: not again by the second
        assert requests.get(f"{url}/_dlrmock/messages/{answer['SMSID']}",
                            timeout=5).json()["state"] == "final"
    finally:
        _stop(second)
        _stop(first)


def test_keep_also_prunes_old_attempts_of_runs_that_belong_to_no_message(
        tmp_path: Path) -> None:
    from mock_server._events import Event

    history = SqliteHistory(tmp_path / "h.sqlite", keep=10)
    for n in range(1000):
        history(Event("attempt", {"run_id": f"run-{n}", "message_id": f"admin-{n}",
                                  "attempt": {"attempt": 1, "copy": 0, "step": 0}}))
        history(Event("send", {"summary": {}, "send": {}, "messages": [
            {"id": f"m{n}", "provider": "esms", "api": "a", "created_at": float(n),
             "state": "final"}]}))
        history(Event("attempt", {"run_id": f"run-m{n}", "message_id": f"m{n}",
                                  "attempt": {"attempt": 1, "copy": 0, "step": 0}}))
    kept = history._db.execute("SELECT count(*) FROM timeline").fetchone()[0]
    assert history.page()[1] == 10
    assert kept < 1000, kept  # not the 2 000 written
    assert len(history.timeline("m999")) == 1
    assert history.last_run_number() == 999  # the next start numbers its runs after these
    history.close()


def test_cancelling_a_run_the_journal_does_not_know_is_a_no_op(start: Start) -> None:
    """A journey token's expiry run may be one a server before a restart planned."""
    provider = start()
    provider.state.hooks.cancel("run-404")
    assert provider.state.engine.runs() == []
