"""The conformance suite's full loop (``send=``) as a system's test suite runs it (docs/pytest.md,
"The full loop"): what the probe is given, which send the suite follows, and the rules a
system that sends correctly but processes receipts naively breaks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_plugin.conformance import RULES

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK_APP = ROOT / "examples" / "webhook_app"

RECORDING_PROBE = '''
import json
import pathlib
import sys

sys.path.insert(0, {directory!r})
from webhook_app import (  # noqa: E402
    EsmsAccount, NxcloudAccount, create_app, message_status, send_sms, send_zns,
)

from pytest_plugin.conformance import conformance_suite  # noqa: E402

APP = create_app()


def probe(message):
    with pathlib.Path({record!r}).open("a") as file:
        file.write(json.dumps(message) + "\\n")
    return message_status(APP, message.get("requestId") or message["SMSID"])


def send_otp_sms(phone, provider_url, webhook_url):
    smsid = send_sms(APP, phone, "Ma OTP cua ban la 123456", account=EsmsAccount(provider_url),
                     callback_url=webhook_url, request_id=f"otp-{{phone}}")
    return {{"order": "order-7", "smsid_the_app_stored": smsid}}


def send_otp_zns(phone, provider_url, webhook_url):
    send_zns(APP, phone, {{"otp": "123456"}}, account=NxcloudAccount(provider_url),
             callback_url=webhook_url, ext="order-1")


TestSmsSends = conformance_suite("esms", app=APP, path="/webhooks/esms", probe=probe,
                                 send=send_otp_sms, scenarios=[])
TestZnsSends = conformance_suite("nxcloud", app=APP, path="/webhooks/nxcloud", probe=probe,
                                 send=send_otp_zns, scenarios=[])
'''


def test_the_probe_gets_the_number_outcome_message_id_fields_sent_and_what_send_returned(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    record = tmp_path / "probed.jsonl"
    pytester.makeconftest(RECORDING_PROBE.format(directory=str(WEBHOOK_APP), record=str(record)))

    result = pytester.runpytest("conftest.py", "-p", "no:randomly", "-k", "delivered")

    result.assert_outcomes(passed=2)
    sms, zns = (json.loads(line) for line in record.read_text().splitlines())
    assert sms == {"phone": "84901230000", "outcome": "delivered", "SMSID": sms["SMSID"],
                   "RequestId": "otp-84901230000", "order": "order-7",
                   "smsid_the_app_stored": sms["SMSID"]}
    assert zns == {"phone": "84901230000", "outcome": "delivered",
                   "requestId": zns["requestId"], "ext": "order-1"}
    assert sms["SMSID"] and zns["requestId"]


# The system serves its own webhook and knows its URL, so its send takes no webhook_url; it
# stores numbers in the local 0… form and sends a welcome SMS (with another callback) before the
# OTP: the suite follows the send to the number that names its webhook.
SELF_SERVED_SYSTEM = '''
import sys
import threading

import pytest
from werkzeug.serving import make_server

sys.path.insert(0, {directory!r})
from webhook_app import EsmsAccount, create_app, message_status, send_sms  # noqa: E402

from pytest_plugin.conformance import conformance_suite  # noqa: E402

APP = create_app()
SERVER = make_server("127.0.0.1", 0, APP, threaded=True)
THREAD = threading.Thread(target=SERVER.serve_forever, args=(0.05,), daemon=True)
THREAD.start()
BASE = f"http://127.0.0.1:{{SERVER.server_port}}"


def pytest_unconfigure(config):
    SERVER.shutdown()
    SERVER.server_close()
    THREAD.join(10)


def send_otp(phone, provider_url):
    local = "0" + phone[2:]
    account = EsmsAccount(provider_url)
    send_sms(APP, local, "Chao mung", account=account, callback_url=f"{{BASE}}/welcome")
    send_sms(APP, local, "Ma OTP 123456", account=account, callback_url=f"{{BASE}}/webhooks/esms")


TestOtp = conformance_suite("esms", url=f"{{BASE}}/webhooks/esms", send=send_otp,
                            probe=lambda message: message_status(APP, message["SMSID"]),
                            scenarios=[])
'''


def test_send_follows_the_message_to_the_number_that_names_the_suites_webhook(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(SELF_SERVED_SYSTEM.format(directory=str(WEBHOOK_APP)))

    result = pytester.runpytest("conftest.py", "-p", "no:randomly", "-k", "delivered")

    result.assert_outcomes(passed=1)


# Sends correctly (the example app's signed ZNS send), but its receiver keeps the last status it
# got and counts every delivery.
NAIVE_SYSTEM = '''
import sys

from flask import Flask, request

sys.path.insert(0, {directory!r})
from webhook_app import NxcloudAccount, create_app, send_zns  # noqa: E402

from pytest_plugin.conformance import conformance_suite  # noqa: E402

OUTBOX = create_app()  # the send helper's own bookkeeping; callbacks go to APP
APP = Flask(__name__)
STATUS, PROCESSED = {{}}, {{}}


@APP.post("/nxcloud")
def nxcloud_callback():
    payload = request.get_json(force=True)
    key = payload["requestId"]
    PROCESSED[key] = PROCESSED.get(key, 0) + 1
    STATUS[key] = payload["status"]
    return "success"


def send(phone, provider_url, webhook_url):
    send_zns(OUTBOX, phone, {{"otp": "123456"}}, account=NxcloudAccount(provider_url),
             callback_url=webhook_url)


def probe(message):
    key = message["requestId"]
    return {{"status": STATUS.get(key), "receipts_processed": PROCESSED.get(key, 0)}}


TestNaive = conformance_suite("nxcloud", app=APP, path="/nxcloud", probe=probe, send=send,
                              scenarios=[])
'''


def test_send_fails_a_system_that_regresses_or_processes_a_duplicate_twice_naming_the_rule(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(NAIVE_SYSTEM.format(directory=str(WEBHOOK_APP)))

    result = pytester.runpytest("conftest.py", "-p", "no:randomly")

    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines([
        "*_ TestNaive.test_send[[]duplicate[]] _*",
        f"      - [[]once[]] {RULES['once']}: 2 distinct receipt(s) were sent (3 deliveries), "
        "the system processed 3",
    ])
    result.stdout.fnmatch_lines([
        "*_ TestNaive.test_send[[]out_of_order[]] _*",
        f"      - [[]order[]] {RULES['order']}: expected 'delivered' for requestId 'zalomid.*', "
        "the system shows status 'success'",
    ])
