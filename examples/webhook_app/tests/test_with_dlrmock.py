"""The example app tested the way a team would: dlrmock plays receipts at it."""

from __future__ import annotations

from typing import Any

from flask import Flask
from webhook_app import create_app, message_status

from pytest_plugin.conformance import conformance_suite
from pytest_plugin.handle import Dlrmock

APP = create_app(":memory:")


def probe(key: str) -> dict[str, Any] | None:
    """The app's view of a message: by requestId / SMSID, or by journeyId for journeys."""
    return message_status(APP, key) or message_status(APP, f"journey:{key}")


TestNXCloudConformance = conformance_suite(
    "nxcloud", app=APP, path="/webhooks/nxcloud", probe=probe
)
TestESMSConformance = conformance_suite("esms", app=APP, path="/webhooks/esms", probe=probe)


def test_zalo_message_ends_delivered(dlrmock: Dlrmock, live_url: str, app: Flask) -> None:
    run = dlrmock.play("nxcloud.zalo.success_then_delivered", to=f"{live_url}/webhooks/nxcloud",
                       ext="order-42")
    run.wait(timeout=5).assert_acknowledged()

    stored = message_status(app, run.message["requestId"])
    assert stored is not None
    assert stored["status"] == "delivered"
    assert stored["ext"] == "order-42"


def test_state_between_two_receipts(dlrmock: Dlrmock, live_url: str, app: Flask) -> None:
    run = dlrmock.play("nxcloud.zalo.success_then_delivered",
                       to=f"{live_url}/webhooks/nxcloud", clock="manual")
    request_id = run.message["requestId"]
    assert message_status(app, request_id) is None

    run.step()
    assert message_status(app, request_id)["status"] == "success"  # type: ignore[index]

    run.advance(2)
    assert message_status(app, request_id)["status"] == "delivered"  # type: ignore[index]
    run.wait(timeout=5).assert_acknowledged()


def test_esms_retries_are_processed_once(dlrmock: Dlrmock, live_url: str, app: Flask) -> None:
    run = dlrmock.play("esms.sms.cskh.retried_after_lost_ack", to=f"{live_url}/webhooks/esms")
    run.wait(timeout=5)

    assert len(run.attempts) == 6
    stored = message_status(app, run.message["SMSID"])
    assert stored is not None
    assert stored["receipts_processed"] == 1


def test_zns_failure_decodes_error_info(dlrmock: Dlrmock, live_url: str, app: Flask) -> None:
    run = dlrmock.play("esms.zns.normal.failed_user_inactive", to=f"{live_url}/webhooks/esms")
    run.wait(timeout=5).assert_acknowledged()

    stored = message_status(app, run.message["SMSID"])
    assert stored is not None
    assert (stored["status"], stored["error_code"]) == ("failed", -114)
