"""The pytest plugin as a user meets it: user test files run with ``pytester``.

Each test writes a small test project (a ``conftest.py`` serving a receiver on a free port and a
test file) and runs pytest on it in-process; the receivers come from ``examples/``.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK_APP = ROOT / "examples" / "webhook_app"
NAIVE_RECEIVER = ROOT / "examples" / "naive_receiver"

RECEIVER_CONFTEST = '''
import sys
import threading

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

sys.path.insert(0, {directory!r})
from {module} import create_app, message_status  # noqa: E402


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args):
        pass


@pytest.fixture
def app():
    return create_app()


@pytest.fixture
def webhook(app):
    """The receiver's base URL: the app served on a free port."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{{server.server_port}}"
    server.shutdown()
    thread.join(10)
    server.server_close()


@pytest.fixture
def status(app):
    """The receiver's stored status of a message."""
    return lambda key: (message_status(app, key) or {{}}).get("status")
'''

# What the README's "Test your webhook" section shows, give or take the scenario.
USER_TESTS = '''
def test_zalo_message_ends_delivered(dlrmock, webhook, status):
    run = dlrmock.play("nxcloud.zalo.success_then_delivered", to=f"{webhook}/webhooks/nxcloud")
    run.wait(timeout=5).assert_acknowledged()
    assert status(run.message["requestId"]) == "delivered"


def test_out_of_order_receipts_end_delivered(dlrmock, webhook, status):
    run = dlrmock.play("nxcloud.zalo.delivered_before_success", to=f"{webhook}/webhooks/nxcloud")
    run.wait(timeout=5).assert_acknowledged()
    assert status(run.message["requestId"]) == "delivered"


def test_esms_callback_is_acknowledged(dlrmock, webhook, status):
    run = dlrmock.play("esms.sms.cskh.delivered", to=f"{webhook}/webhooks/esms")
    run.wait(timeout=5).assert_acknowledged()
    assert status(run.message["SMSID"]) == "delivered"
'''


def receiver_project(pytester: pytest.Pytester, receiver: Path) -> None:
    """A test project whose ``webhook`` fixture serves ``receiver``'s app."""
    pytester.makeconftest(
        RECEIVER_CONFTEST.format(directory=str(receiver), module=receiver.name)
    )


def section(output: str, name: str) -> str:
    """The text of the report section headed ``name`` (up to the next heading)."""
    start = output.index(f" {name} ")
    rest = output[start:].split("\n", 1)[1]
    ends = [i for i in (rest.find("\n____"), rest.find("\n----"), rest.find("\n====")) if i >= 0]
    return rest[: min(ends)] if ends else rest


# ----------------------------------------------------------------------------- a user's test file
def test_user_test_file_passes_against_the_example_app(pytester: pytest.Pytester) -> None:
    receiver_project(pytester, WEBHOOK_APP)
    pytester.makepyfile(test_webhook=USER_TESTS)

    result = pytester.runpytest()

    result.assert_outcomes(passed=3)
    assert "dlrmock journal" not in result.stdout.str()


def test_user_test_file_fails_against_the_naive_receiver_with_the_journal(
    pytester: pytest.Pytester,
) -> None:
    receiver_project(pytester, NAIVE_RECEIVER)
    pytester.makepyfile(test_webhook=USER_TESTS)

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    # Out of order: every receipt acknowledged, but the naive receiver regressed to "success";
    # the report section shows the journal even though the assert was the test's own.
    result.stdout.fnmatch_lines([
        "*_ test_out_of_order_receipts_end_delivered _*",
        "E   *AssertionError: assert 'success' == 'delivered'*",
        "*- dlrmock journal -*",
        "seed: * (rerun with --dlrmock-seed *)",
        "journal of run run-*: nxcloud.zalo.delivered_before_success -> http://127.0.0.1:*"
        "/webhooks/nxcloud (seed *, done)",
        "*0.000  1 *nxcloud.zalo.delivered * 200 *acknowledged",
        "*sent: POST {\"status\":\"delivered\",\"requestId\":\"zalomid.*",
        "*got:  200 success",
        "*1.000  0 *nxcloud.zalo.success * 200 *acknowledged",
    ])
    # eSMS calls back with a GET the naive receiver cannot read: the assertion names the
    # unacknowledged receipt and carries the journal with the 500s.
    result.stdout.fnmatch_lines([
        "*_ test_esms_callback_is_acknowledged _*",
        "E   *AssertionError: the target did not handle the receipts as the provider requires:",
        "E   *- step 0 (esms.sms.cskh): not acknowledged after * attempt(s); last: *500*",
        "E   *journal of run run-*: esms.sms.cskh.delivered -> *",
        "E   *sent: GET http://127.0.0.1:*/webhooks/esms?SMSID=*",
        "E   *got:  500 *",
        "*- dlrmock journal -*",
        "seed: * (rerun with --dlrmock-seed *)",
    ])
    nodeid = "test_webhook.py::test_out_of_order_receipts_end_delivered"
    seed = zlib.crc32(nodeid.encode())
    assert f"seed: {seed} (rerun with --dlrmock-seed {seed})" in out
    assert "test_zalo_message_ends_delivered" not in section(out, "dlrmock journal")
    # The assertion already carries the eSMS run's journal: the section gives only the seed.
    esms_report = out[out.index("_ test_esms_callback_is_acknowledged _"):]
    esms_seed = zlib.crc32(b"test_webhook.py::test_esms_callback_is_acknowledged")
    assert section(esms_report, "dlrmock journal").strip() == (
        f"seed: {esms_seed} (rerun with --dlrmock-seed {esms_seed})")


def test_the_report_section_only_appears_for_failed_tests_that_used_dlrmock(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_fails_without_dlrmock():
            assert 1 == 2

        def test_passes_with_dlrmock(dlrmock):
            assert dlrmock.runs == []

        def test_fails_with_dlrmock_but_no_run(dlrmock):
            assert dlrmock.runs == ["something"]
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, failed=2)
    assert result.stdout.str().count("- dlrmock journal -") == 1
    result.stdout.fnmatch_lines([
        "*_ test_fails_with_dlrmock_but_no_run _*",
        "*- dlrmock journal -*",
        "seed: * (rerun with --dlrmock-seed *)",
    ])


# -------------------------------------------------------------------------------------- fixtures
def test_dlrmock_is_cleared_before_each_test_and_the_server_started_once(
    pytester: pytest.Pytester,
) -> None:
    receiver_project(pytester, WEBHOOK_APP)
    pytester.makepyfile(
        """
        SEEN = {}

        def test_first_plays_a_run(dlrmock, dlrmock_server, webhook):
            SEEN["url"] = dlrmock_server.url
            run = dlrmock.play("nxcloud.zalo.success_then_delivered",
                               to=f"{webhook}/webhooks/nxcloud")
            run.wait(timeout=5)
            pending = dlrmock.play("nxcloud.zalo.failed", to=f"{webhook}/webhooks/nxcloud",
                                   clock="manual")
            assert [r.id for r in dlrmock_server.runs] == [run.id, pending.id]
            assert dlrmock.runs == [run, pending]

        def test_second_sees_none_of_them(dlrmock, dlrmock_server):
            assert dlrmock_server.url == SEEN["url"] == dlrmock.url
            assert dlrmock_server.runs == []
            assert dlrmock.runs == []
            assert dlrmock.sent == []
        """
    )

    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=2)


def test_sent_shows_what_the_system_sent_through_the_fake_send_api(
    pytester: pytest.Pytester,
) -> None:
    receiver_project(pytester, WEBHOOK_APP)
    pytester.makepyfile(
        """
        import time

        import requests

        def test_app_sends_a_zns(dlrmock, webhook, status):
            answer = requests.post(
                f"{dlrmock.url}/MainService.svc/json/SendZaloMessage_V6/",
                json={"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key",
                      "Phone": "0901231111", "OAID": "4097311281936189049", "TempID": "2056446",
                      "TempData": {"code": "1234"}, "CallbackUrl": f"{webhook}/webhooks/esms"},
                timeout=5,
            ).json()
            assert answer["CodeResult"] == "100"

            (sent,) = dlrmock.sent
            assert sent.endpoint == "esms.SendZaloMessage_V6"
            assert sent.json["TempData"] == {"code": "1234"}
            assert sent.message_ids == [answer["SMSID"]]
            deadline = time.monotonic() + 10
            while status(answer["SMSID"]) != "failed" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert status(answer["SMSID"]) == "failed"  # the number ends in 1111
        """
    )

    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=1)


def test_run_exposes_attempts_payloads_and_answers(pytester: pytest.Pytester) -> None:
    receiver_project(pytester, WEBHOOK_APP)
    pytester.makepyfile(
        """
        def test_run(dlrmock, webhook):
            run = dlrmock.play("nxcloud.zalo.duplicate_delivered",
                               to=f"{webhook}/webhooks/nxcloud", ext="order-42")
            run.wait(timeout=5).assert_acknowledged()

            assert [p["status"] for p in run.payloads] == ["success", "delivered", "delivered"]
            assert {p["ext"] for p in run.payloads} == {"order-42"}
            assert [a.status for a in run.attempts] == [200, 200, 200]
            assert '"duplicate":true' in run.attempts[-1].response_body
            assert run.message["requestId"] == run.payloads[0]["requestId"]
            assert "journal of run" in dlrmock.journals()
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=1)


def test_manual_clock_shows_the_state_between_two_receipts(pytester: pytest.Pytester) -> None:
    receiver_project(pytester, WEBHOOK_APP)
    pytester.makepyfile(
        """
        def test_between_receipts(dlrmock, webhook, status):
            run = dlrmock.play("nxcloud.zalo.success_then_delivered",
                               to=f"{webhook}/webhooks/nxcloud", clock="manual")
            key = run.message["requestId"]
            assert status(key) is None

            assert [a.kind for a in run.step()] == ["nxcloud.zalo.success"]
            assert status(key) == "success"

            assert [a.kind for a in run.advance(3600)] == ["nxcloud.zalo.delivered"]
            assert status(key) == "delivered"
            run.wait(timeout=5).assert_acknowledged()
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=1)


def test_waiting_on_an_unstepped_manual_clock_says_what_to_do(pytester: pytest.Pytester) -> None:
    receiver_project(pytester, WEBHOOK_APP)
    pytester.makepyfile(
        """
        def test_forgets_to_step(dlrmock, webhook):
            run = dlrmock.play("nxcloud.zalo.success_then_delivered",
                               to=f"{webhook}/webhooks/nxcloud", clock="manual")
            run.wait(timeout=0.2)
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*RunError: run run-* (nxcloud.zalo.success_then_delivered) is waiting on its manual "
        "clock with 1 delivery(ies) pending: call run.step() or run.advance(seconds)",
    ])


RECEIPT_TESTS = """
import json

def show(dlrmock):
    data = {
        "seed": dlrmock.seed,
        "esms": dlrmock.receipt("esms.sms.cskh"),
        "zalo": dlrmock.receipt("nxcloud.zalo.delivered", ext="order-7"),
    }
    print("RECEIPTS", json.dumps(data, sort_keys=True))

def test_one(dlrmock):
    show(dlrmock)

def test_two(dlrmock):
    show(dlrmock)
    assert False, "fails on purpose"
"""


def receipts(result: pytest.RunResult) -> list[dict[str, object]]:
    """What each test of :data:`RECEIPT_TESTS` printed, in test order."""
    found = [json.loads(line.split("RECEIPTS ", 1)[1]) for line in result.outlines
             if "RECEIPTS " in line]
    assert len(found) == 2, result.stdout.str()
    return found


def comparable(data: dict[str, object]) -> dict[str, object]:
    """``data`` without NXCloud's ``sendTime``: Faker draws it relative to the wall clock."""
    zalo = dict(data["zalo"])  # type: ignore[call-overload]
    zalo.pop("sendTime")
    return {**data, "zalo": zalo}


def test_receipt_is_deterministic_per_test_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_receipts=RECEIPT_TESTS)

    first = receipts(pytester.runpytest("-s"))
    again = receipts(pytester.runpytest("-s"))

    assert [comparable(d) for d in first] == [comparable(d) for d in again]
    one, two = first
    assert one["seed"] == zlib.crc32(b"test_receipts.py::test_one")
    assert one["esms"] != two["esms"]
    assert one["zalo"]["ext"] == two["zalo"]["ext"] == "order-7"  # type: ignore[index]
    assert one["zalo"]["requestId"] != two["zalo"]["requestId"]  # type: ignore[index]


def test_seed_option_reproduces_the_data_of_a_failed_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_receipts=RECEIPT_TESTS)
    failed = pytester.runpytest("-s")
    failed.assert_outcomes(passed=1, failed=1)
    seed = zlib.crc32(b"test_receipts.py::test_two")
    failed.stdout.fnmatch_lines([f"seed: {seed} (rerun with --dlrmock-seed {seed})"])

    rerun = pytester.runpytest("-s", "--dlrmock-seed", str(seed))
    other = pytester.runpytest("-s", "--dlrmock-seed", str(seed + 1))

    _, original = receipts(failed)
    one, two = receipts(rerun)
    assert comparable(one) == comparable(two) == comparable(original)
    assert one["seed"] == seed
    assert receipts(other)[0]["esms"] != original["esms"]


def test_validate_fails_the_test_naming_each_problem(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_valid_receipt_passes(dlrmock):
            dlrmock.validate(dlrmock.receipt("nxcloud.zalo.delivered"))

        def test_broken_receipt_fails(dlrmock):
            payload = dlrmock.receipt("nxcloud.zalo.delivered", requestId=None, code="17003")
            dlrmock.validate(payload, kind="nxcloud.zalo.delivered")
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "E   *AssertionError: not a valid nxcloud.zalo.delivered:",
        "E   *$.requestId: required field *requestId* is missing",
        "E   *$.code: *17003* is not of type *integer*",
    ])
    # __tracebackhide__: the failure points at the test's call, not into dlrmock
    assert "handle.py" not in result.stdout.str()


def test_wire_shows_what_the_provider_would_send(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import json

        def test_wire(dlrmock):
            payload = dlrmock.receipt("nxcloud.zalo.success")
            request = dlrmock.wire("nxcloud.zalo.success", payload, "http://127.0.0.1:9/hook")
            assert request.method == "POST"
            assert json.loads(request.body) == payload

            callback = dlrmock.receipt("esms.sms.cskh")
            request = dlrmock.wire("esms.sms.cskh", callback, "http://127.0.0.1:9/hook")
            assert request.method == "GET"
            assert f"SMSID={callback['SMSID']}" in request.url
        """
    )

    pytester.runpytest().assert_outcomes(passed=1)


SEND_AND_WAIT = """
import json
import urllib.request

def test_app_sends_and_waits_for_the_receipts(dlrmock, webhook, status):
    body = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key",
            "Phone": "0901233333", "Content": "Ma OTP 123456", "Brandname": "Baotrixemay",
            "SmsType": "2", "CallbackUrl": f"{webhook}/webhooks/esms"}
    request = urllib.request.Request(
        f"{dlrmock.url}/MainService.svc/json/SendMultipleMessage_V4_post_json",
        data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = json.load(response)
    assert answer["CodeResult"] == "100"

    (sent,) = dlrmock.sent
    runs = sent.wait(timeout=5)  # every receipt this send caused has been played

    assert [run.id for run in runs] == sent.run_ids
    assert [run.id for run in dlrmock.runs] == sent.run_ids
    assert [a.status for a in runs[0].attempts] == [200, 200]  # 3333: the callback twice
    runs[0].assert_acknowledged()
    assert status(answer["SMSID"]) == "delivered"
"""


@pytest.mark.parametrize("where", ["local", "remote"])
def test_a_test_can_wait_for_the_receipts_its_app_caused_by_sending(
    pytester: pytest.Pytester, where: str
) -> None:
    from mock_server import MockProvider

    receiver_project(pytester, WEBHOOK_APP)
    pytester.makepyfile(SEND_AND_WAIT)

    if where == "local":
        result = pytester.runpytest()
    else:
        with MockProvider(time_scale=0) as provider:
            result = pytester.runpytest("--dlrmock-url", provider.url)

    result.assert_outcomes(passed=1)


def test_a_captured_send_not_taken_from_a_provider_says_how_to_wait() -> None:
    from mock_server import RunError
    from mock_server.sendapi import CapturedSend

    sent = CapturedSend("esms", "esms.X", "POST", "/", {}, "", None, 200, {}, run_ids=["run-1"])

    with pytest.raises(RunError, match=r"take it from provider\.sent or dlrmock\.sent"):
        sent.wait(1)


def test_dlrmock_config_configures_the_session_server(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def dlrmock_config():
            return {"time_scale": 0, "send": {"api_key": "project-key"}}
        """
    )
    pytester.makepyfile(
        """
        import json
        import urllib.request

        def post(url, body):
            request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)

        def test_the_configured_key_is_required(dlrmock):
            url = f"{dlrmock.url}/MainService.svc/json/SendMultipleMessage_V4_post_json"
            body = {"SecretKey": "dlrmock-secret-key", "Phone": "0901230000",
                    "Content": "x", "Brandname": "B", "SmsType": "2"}
            default = post(url, {**body, "ApiKey": "dlrmock-api-key"})
            mine = post(url, {**body, "ApiKey": "project-key"})
            assert default["CodeResult"] == "101"
            assert mine["CodeResult"] == "100"
        """
    )

    assert pytester.runpytest().ret == 0


def test_a_dlrmock_config_the_session_server_never_saw_fails_the_test_saying_so(
        pytester: pytest.Pytester) -> None:
    # The server starts once, with the first test's config; a module's own override would be
    # ignored without a word.
    pytester.makepyfile(
        test_a="def test_first(dlrmock): pass",
        test_b="""
        import pytest

        @pytest.fixture(scope="session")
        def dlrmock_config():
            return {"time_scale": 0, "send": {"api_key": "module-key"}}

        def test_with_its_own_key(dlrmock): pass

        def test_without_dlrmock(): pass
        """,
    )

    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines([
        "*dlrmock_config: this test's is {'time_scale': 0, 'send': {'api_key': 'module-key'}}, "
        "but the session's server started with {'time_scale': 0}*override dlrmock_config in a "
        "conftest.py*"])
    assert "Traceback" not in result.stdout.str() and "_check_same_config" not in \
        result.stdout.str()  # one readable line, not dlrmock's code


def test_an_equal_dlrmock_config_in_a_module_is_accepted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_a="def test_first(dlrmock): pass",
        test_b="""
        import pytest

        @pytest.fixture(scope="session")
        def dlrmock_config():
            return {"time_scale": 0}

        def test_same_settings(dlrmock): pass
        """,
    )

    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_a_bad_dlrmock_config_is_one_readable_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def dlrmock_config():
            return {"time_scael": 0}
        """
    )
    pytester.makepyfile("def test_uses_dlrmock(dlrmock): pass")

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["dlrmock_config: unknown config key 'time_scael'; known keys: *"])
    assert "Traceback" not in result.stdout.str()
