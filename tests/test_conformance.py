"""The conformance suite: generated per built-in scenario, run with ``pytester`` on the examples."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from mock_server import DlrmockError, builtin_scenarios
from pytest_plugin.conformance import RULES, conformance_suite

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK_APP = ROOT / "examples" / "webhook_app"
NAIVE_RECEIVER = ROOT / "examples" / "naive_receiver"

NXCLOUD = [name for name, s in builtin_scenarios().items() if s.provider == "nxcloud"]
ESMS = [name for name, s in builtin_scenarios().items() if s.provider == "esms"]

SUITES = '''
import sys

sys.path.insert(0, {directory!r})
from {module} import create_app, message_status  # noqa: E402

from pytest_plugin.conformance import conformance_suite  # noqa: E402

APP = create_app()


def probe(message):
    key = (message.get("requestId") or message.get("messageid") or message.get("wamid")
           or message["SMSID"])
    return message_status(APP, key) or message_status(APP, f"journey:{{message.get('journeyId')}}")


TestNXCloud = conformance_suite("nxcloud", app=APP, path="/webhooks/nxcloud", probe=probe)
TestESMS = conformance_suite("esms", app=APP, path="/webhooks/esms", probe=probe)
'''


def suites_for(pytester: pytest.Pytester, receiver: Path) -> None:
    """A conftest binding both providers' suites to ``receiver``'s app (as its README shows)."""
    pytester.makeconftest(SUITES.format(directory=str(receiver), module=receiver.name))


def test_suite_has_one_passing_test_per_builtin_scenario_for_the_example_app(
    pytester: pytest.Pytester,
) -> None:
    suites_for(pytester, WEBHOOK_APP)

    result = pytester.runpytest("-v", "conftest.py")

    result.assert_outcomes(passed=len(NXCLOUD) + len(ESMS))
    result.stdout.fnmatch_lines_random(
        [f"conftest.py::TestNXCloud::test_conformance[[]{name}[]] PASSED*" for name in NXCLOUD]
        + [f"conftest.py::TestESMS::test_conformance[[]{name}[]] PASSED*" for name in ESMS]
    )
    assert len(NXCLOUD) >= 7
    assert len(ESMS) >= 17


def test_suite_fails_the_naive_receiver_naming_each_broken_rule(
    pytester: pytest.Pytester,
) -> None:
    suites_for(pytester, NAIVE_RECEIVER)

    result = pytester.runpytest("conftest.py")

    # Only the in-order, duplicate-free Zalo (4) and Viber (6) scenarios survive last-write-wins;
    # every eSMS callback is a GET and every SMS report a form the naive receiver answers with a
    # 500; WhatsApp statuses carry no top-level requestId it could key them by. Of the other
    # callbacks, only the JSON ones with a requestId and no final state to check pass: the Super
    # Message reports (2) and the PNS error (1).
    result.assert_outcomes(passed=13, failed=len(NXCLOUD) - 13 + len(ESMS))
    result.stdout.fnmatch_lines([
        "*_ TestNXCloud.test_conformance[[]nxcloud.zalo.delivered_before_success[]] _*",
        "E   *ConformanceFailure: nxcloud.zalo.delivered_before_success: the delivered receipt "
        "overtakes success; a correct receiver stays delivered",
        f"*- [[]order[]] {RULES['order']}: expected 'delivered' for requestId 'zalomid.*', "
        "the system shows status 'success'",
        "*journal of run run-*: nxcloud.zalo.delivered_before_success -> http://127.0.0.1:*",
        "*- dlrmock journal -*",
        "seed: * (rerun with --dlrmock-seed *)",
    ])
    result.stdout.fnmatch_lines([
        "*_ TestNXCloud.test_conformance[[]nxcloud.zalo.duplicate_delivered[]] _*",
        f"*- [[]once[]] {RULES['once']}: 2 distinct receipt(s) were sent (3 deliveries), "
        "the system processed 3",
    ])
    result.stdout.fnmatch_lines([
        "*_ TestNXCloud.test_conformance[[]nxcloud.zalo.journey_acknowledged_then_time_out[]] _*",
        f"*- [[]acknowledge[]] {RULES['acknowledge']}: step 1 (nxcloud.zalo.journey_time_out)"
        ": not acknowledged after 1 attempt(s); last: HTTP 500*",
    ])
    result.stdout.fnmatch_lines([
        "*_ TestESMS.test_conformance[[]esms.sms.cskh.delivered[]] _*",
        f"*- [[]acknowledge[]] {RULES['acknowledge']}: step 0 (esms.sms.cskh): not acknowledged "
        "after 1 attempt(s); last: HTTP 500*",
        f"*- [[]final[]] {RULES['final']}: expected 'delivered' for SMSID '*', the system shows "
        "no record of it",
        "*sent: GET http://127.0.0.1:*/webhooks/esms?SMSID=*",
        "*got:  500 *",
    ])
    result.stdout.fnmatch_lines([
        "*_ TestESMS.test_conformance[[]esms.zns.normal.failed_user_inactive[]] _*",
        f"*- [[]error_info[]] {RULES['error_info']}: expected error -114, the system shows None",
    ])
    result.stdout.fnmatch_lines_random([
        f"FAILED conftest.py::TestESMS::test_conformance[[]{name}[]]*" for name in ESMS
    ])


def test_suite_catches_a_5xx_on_a_malformed_payload(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import json

        from flask import Flask, request

        from pytest_plugin.conformance import conformance_suite

        APP = Flask(__name__)
        STATUS = {}

        @APP.post("/hook")
        def hook():
            payload = json.loads(request.get_data())  # a truncated body raises: a 500
            STATUS[payload["requestId"]] = payload["status"]
            return "success"

        TestTrusting = conformance_suite(
            "nxcloud", app=APP, path="/hook", probe=lambda m: STATUS.get(m["requestId"]),
            scenarios=["nxcloud.zalo.malformed_then_delivered", "nxcloud.zalo.failed"],
        )
        """
    )

    result = pytester.runpytest("conftest.py")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        f"*- [[]malformed[]] {RULES['malformed']}: step 0 (nxcloud.zalo.success): a malformed "
        "payload must get a clean 4xx/2xx answer, got HTTP 500*",
    ])


@pytest.fixture
def served_example_app() -> Iterator[str]:
    """``examples/webhook_app`` on a free port, as a system running elsewhere would be."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "webhook_app_served", WEBHOOK_APP / "webhook_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", 0, module.create_app(), threaded=True,
                         request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def test_suite_runs_against_a_webhook_url_with_an_http_probe(
    pytester: pytest.Pytester, served_example_app: str
) -> None:
    pytester.makepyfile(
        test_remote_system=f"""
        import json
        import urllib.error
        import urllib.request

        from pytest_plugin.conformance import conformance_suite

        BASE = {served_example_app!r}


        def probe(message):
            key = message.get("requestId") or message["SMSID"]
            try:
                with urllib.request.urlopen(f"{{BASE}}/messages/{{key}}", timeout=5) as response:
                    return json.load(response)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                raise


        TestZalo = conformance_suite(
            "nxcloud", url=f"{{BASE}}/webhooks/nxcloud", probe=probe,
            scenarios=["nxcloud.zalo.delivered_before_success",
                       "nxcloud.zalo.duplicate_delivered"],
        )
        TestSMS = conformance_suite(
            "esms", url=f"{{BASE}}/webhooks/esms", probe=probe,
            scenarios=["esms.sms.cskh.retried_after_lost_ack",
                       "esms.zns.normal.failed_user_inactive"],
        )
        """
    )

    result = pytester.runpytest("-v")

    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines_random([
        "*::TestZalo::test_conformance[[]nxcloud.zalo.delivered_before_success[]] PASSED*",
        "*::TestSMS::test_conformance[[]esms.zns.normal.failed_user_inactive[]] PASSED*",
    ])


def test_probe_returning_something_else_is_named_in_the_failure(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        from flask import Flask

        from pytest_plugin.conformance import conformance_suite

        APP = Flask(__name__)
        APP.add_url_rule("/hook", "hook", lambda: "success", methods=["POST"])

        TestOddProbe = conformance_suite("nxcloud", app=APP, path="/hook", probe=lambda message: 42,
                                         scenarios=["nxcloud.zalo.failed"])
        """
    )

    result = pytester.runpytest("conftest.py")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*TypeError: the probe returned int; return a status string or a mapping with a "
        "'status' key",
    ])


# ------------------------------------------------------------------------------ argument errors
def probe(message: object) -> None:
    return None


def test_url_and_app_together_are_refused() -> None:
    with pytest.raises(ValueError, match=r"give exactly one of url= .* or app="):
        conformance_suite("nxcloud", probe=probe, url="http://127.0.0.1:9/hook", app=object())


def test_neither_url_nor_app_is_refused() -> None:
    with pytest.raises(ValueError, match=r"give exactly one of url="):
        conformance_suite("nxcloud", probe=probe)


def test_unknown_scenario_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        conformance_suite("nxcloud", probe=probe, url="http://127.0.0.1:9/hook",
                          scenarios=["nxcloud.zalo.delivred"])

    message = str(info.value)
    assert message.startswith("no built-in nxcloud scenario 'nxcloud.zalo.delivred'; known: ")
    assert all(name in message for name in NXCLOUD)


def test_a_scenario_of_the_other_provider_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no built-in esms scenario 'nxcloud\.zalo\.failed'"):
        conformance_suite("esms", probe=probe, url="http://127.0.0.1:9/hook",
                          scenarios=["nxcloud.zalo.failed"])


def test_unknown_provider_is_refused() -> None:
    with pytest.raises(DlrmockError, match=r"'nxcluod'; did you mean 'nxcloud'\?"):
        conformance_suite("nxcluod", probe=probe, url="http://127.0.0.1:9/hook")


def test_argument_error_in_a_conftest_is_a_readable_collection_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        from pytest_plugin.conformance import conformance_suite

        TestBoth = conformance_suite("nxcloud", probe=dict().get, url="http://127.0.0.1:9/",
                                     app=object())
        """
    )
    pytester.makepyfile("def test_nothing(): pass")

    result = pytester.runpytest()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*ValueError: give exactly one of url= (a running webhook) or app= (a WSGI app)",
    ])


# ------------------------------------------------------------- receivers keyed by their own ids
REQUEST_ID_RECEIVER = '''
import uuid

from flask import Flask, jsonify, request

from mock_server import decode_error_info
from pytest_plugin.conformance import conformance_suite

APP = Flask(__name__)
CHALLENGES = {{}}  # RequestId -> what this system knows of the OTP it sent


def create_challenge(message):
    """The system sends an OTP first: the callbacks must carry the RequestId it used."""
    request_id = f"otp-{{uuid.uuid4().hex[:12]}}"
    CHALLENGES[request_id] = {{"status": "QUEUED", "receipts_processed": 0, "error_code": None,
                              "seen": set()}}
    return {{"RequestId": request_id}}


@APP.route("/esms", methods=[{methods}])
def esms_callback():
    record = CHALLENGES.get(request.args.get("RequestId", ""))
    if record is None:
        return jsonify(error="unknown RequestId"), 400
    if request.query_string in record["seen"]:
        return jsonify(result="duplicate")
    error = None
    if request.args.get("error_info"):
        try:
            error = decode_error_info(request.args["error_info"]).data.get("error")
        except ValueError:
            return jsonify(error="bad error_info"), 400
    if "SendStatus" not in request.args or "SendSuccess" not in request.args:
        return jsonify(error="not an eSMS callback"), 400
    record["seen"].add(request.query_string)
    record["receipts_processed"] += 1
    if record["status"] == "QUEUED" and request.args["SendStatus"] == "5":
        ok = int(request.args["SendSuccess"]) > 0 and not error
        record["status"] = "SENT" if ok else "FAILED"
        record["error_code"] = error or None
    return jsonify(result="ok")


TestOtp = conformance_suite(
    "esms", app=APP, path="/esms", prepare=create_challenge,
    probe=lambda message: CHALLENGES.get(message["RequestId"]),
    statuses={{"delivered": "SENT", "failed": "FAILED"}},
    {scenarios}
)
'''


def test_suite_passes_a_receiver_keyed_by_its_own_request_ids(pytester: pytest.Pytester) -> None:
    # Voice callbacks, MO pushes and template registrations carry no RequestId (and go to URLs
    # of their own).
    messages = [n for n in ESMS
                if not n.startswith(("esms.voice.", "esms.mo.", "esms.template."))]
    pytester.makeconftest(
        REQUEST_ID_RECEIVER.format(methods='"GET"', scenarios=f"scenarios={messages!r}")
    )

    result = pytester.runpytest("conftest.py")

    result.assert_outcomes(passed=len(messages))


def test_without_prepare_the_receiver_refuses_and_the_failure_says_how_to_set_request_id(
    pytester: pytest.Pytester,
) -> None:
    conftest = REQUEST_ID_RECEIVER.format(
        methods='"GET"', scenarios='scenarios=["esms.sms.cskh.delivered"]'
    ).replace("prepare=create_challenge,", "")
    pytester.makeconftest(conftest.replace('message["RequestId"]', 'message["RequestId"] or 0'))

    result = pytester.runpytest("conftest.py")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- [[]acknowledge[]] *step 0 (esms.sms.cskh): not acknowledged after 1 attempt(s); "
        "last: HTTP 400 (http_error); hint: the callback's RequestId is empty*"
        "return it from `prepare=` (conformance_suite)",
    ])


def test_a_receiver_registered_for_post_only_fails_with_a_one_read_message(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(REQUEST_ID_RECEIVER.format(
        methods='"POST"', scenarios='scenarios=["esms.zns.normal.delivered"]'))

    result = pytester.runpytest("conftest.py")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E   *ConformanceFailure: esms.zns.normal.delivered: *",
        "      - [[]acknowledge[]] acknowledge every delivery as its provider requires*: step 0 "
        "(esms.zns.normal): not acknowledged after 1 attempt(s); last: HTTP 405 (http_error); "
        "hint: eSMS calls back with GET (the values in the query string); does your route "
        "accept GET at this path?",
        "      - [[]final[]] end in the right final state: expected 'SENT' (dlrmock's "
        "'delivered') for RequestId 'otp-*', the system shows status 'QUEUED'",
        "*sent: GET http://127.0.0.1:*/esms?SMSID=*&RequestId=otp-*",
        "*got:  405 *",
    ])


# ------------------------------------------------------------------------------ send=: full loop
SENDING_SYSTEM = '''
import sys

sys.path.insert(0, {directory!r})
from webhook_app import (  # noqa: E402
    EsmsAccount, NxcloudAccount, create_app, message_status, send_sms, send_zns,
)

from pytest_plugin.conformance import conformance_suite  # noqa: E402

APP = create_app()


def probe(message):
    return message_status(APP, message.get("requestId") or message["SMSID"])


def send_otp_sms(phone, provider_url, webhook_url):
    send_sms(APP, phone, "Ma OTP cua ban la 123456", account=EsmsAccount({api_key}provider_url),
             callback_url=webhook_url)


def send_otp_zns(phone, provider_url, webhook_url):
    send_zns(APP, phone, {{"otp": "123456"}}, account=NxcloudAccount(provider_url),
             callback_url=webhook_url, ext="order-1")


TestSmsSends = conformance_suite("esms", app=APP, path="/webhooks/esms", probe=probe,
                                 send=send_otp_sms, scenarios=[])
TestZnsSends = conformance_suite("nxcloud", app=APP, path="/webhooks/nxcloud", probe=probe,
                                 send=send_otp_zns, scenarios=[])
'''
SEND_OUTCOMES = ["delivered", "failed", "no_receipt", "duplicate", "out_of_order", "lost_ack"]


def test_send_runs_the_full_loop_against_the_example_app_that_sends_through_dlrmock(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(SENDING_SYSTEM.format(directory=str(WEBHOOK_APP), api_key=""))

    result = pytester.runpytest("-v", "conftest.py")

    result.assert_outcomes(passed=2 * len(SEND_OUTCOMES))
    result.stdout.fnmatch_lines_random(
        [f"conftest.py::TestSmsSends::test_send[[]{o}[]] PASSED*" for o in SEND_OUTCOMES]
        + [f"conftest.py::TestZnsSends::test_send[[]{o}[]] PASSED*" for o in SEND_OUTCOMES]
    )


def test_send_that_the_provider_refuses_is_named_with_its_answer(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        SENDING_SYSTEM.format(directory=str(WEBHOOK_APP), api_key="api_key='wrong', base_url=")
        .replace("TestZnsSends =", "_Unused =")
    )
    pytester.makepyfile("")

    result = pytester.runpytest("conftest.py", "-k", "delivered")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*SendError: eSMS refused the SMS to 84901230000: *",
    ])


def test_send_fails_a_system_whose_status_is_not_the_expected_one(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        SENDING_SYSTEM.format(directory=str(WEBHOOK_APP), api_key="")
        .replace("send=send_otp_sms,", "send=send_otp_sms, statuses={'delivered': 'SENT'},")
        .replace("TestZnsSends =", "_Unused =")
    )

    result = pytester.runpytest("conftest.py", "-k", "test_send and delivered")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E   *ConformanceFailure: send:delivered: the system sends to 84901230000 through dlrmock",
        "      - [[]final[]] end in the right final state: expected 'SENT' (dlrmock's "
        "'delivered') for SMSID '*', the system shows status 'delivered'",
        "*journal of run run-*: esms.sms.cskh.delivered -> http://127.0.0.1:*/webhooks/esms *",
    ])


def test_send_that_reaches_no_accepted_send_fails_naming_dlrmocks_answer(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        SENDING_SYSTEM.format(directory=str(WEBHOOK_APP), api_key="api_key='wrong', base_url=")
        .replace("def send_otp_sms(phone, provider_url, webhook_url):\n",
                 "def send_otp_sms(phone, provider_url, webhook_url):\n  try:\n")
        .replace("             callback_url=webhook_url)\n",
                 "             callback_url=webhook_url)\n  except Exception:\n    pass\n", 1)
        .replace("TestZnsSends =", "_Unused =")
    )

    result = pytester.runpytest("conftest.py", "-k", "test_send and delivered")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E   *ConformanceFailure: send:delivered: the system sends to 84901230000 through dlrmock",
        "      - [[]send[]] send through the provider's API so that it accepts the message: no "
        "accepted esms send to 84901230000 reached dlrmock at http://127.0.0.1:*; it received:",
        "        POST /MainService.svc/json/SendMultipleMessage_V4_post_json -> 200 "
        '{"CodeResult": "101"*',
    ])


def test_send_refused_as_an_invalid_request_fails_naming_dlrmocks_reason(
    pytester: pytest.Pytester,
) -> None:
    # eSMS's answer says only {"error": "Invalid request"}: the failure adds dlrmock's reason.
    pytester.makeconftest(
        SENDING_SYSTEM.format(directory=str(WEBHOOK_APP), api_key="")
        .replace("def send_otp_sms(phone, provider_url, webhook_url):\n",
                 "def send_otp_sms(phone, provider_url, webhook_url):\n  try:\n")
        .replace("             callback_url=webhook_url)\n",
                 "             callback_url=webhook_url, request_id='r' * 60)\n"
                 "  except Exception:\n    pass\n", 1)
        .replace("TestZnsSends =", "_Unused =")
    )

    result = pytester.runpytest("conftest.py", "-k", "test_send and delivered")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*no accepted esms send to 84901230000 reached dlrmock at http://127.0.0.1:*; it "
        "received:",
        "        POST /MainService.svc/json/SendMultipleMessage_V4_post_json -> 200 "
        '{"error": "Invalid request"} (RequestId is 60 characters long; eSMS allows at most '
        "50)",
    ])


def test_prepare_returning_something_else_is_named(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(REQUEST_ID_RECEIVER.format(
        methods='"GET"', scenarios='scenarios=["esms.sms.cskh.delivered"]'
    ).replace("prepare=create_challenge,", "prepare=lambda message: 'otp-1',"))

    result = pytester.runpytest("conftest.py")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*TypeError: prepare returned str; return a mapping of field overrides "
        '(e.g. {"RequestId": "otp-42"}) or None',
    ])


def test_statuses_naming_no_dlrmock_status_is_refused() -> None:
    with pytest.raises(ValueError, match=r"statuses= maps 'deliverd', which is not one of"):
        conformance_suite("esms", probe=probe, url="http://127.0.0.1:9/hook",
                          statuses={"deliverd": "SENT"})


def test_send_of_a_non_callable_is_refused() -> None:
    with pytest.raises(ValueError, match=r"send= must be a callable, got 'http://x'"):
        conformance_suite("esms", probe=probe, url="http://127.0.0.1:9/hook", send="http://x")
