"""The example app tested the way a team would: dlrmock plays receipts at it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from webhook_app import (
    EsmsAccount,
    NxcloudAccount,
    create_app,
    message_status,
    send_sms,
    send_zns,
)

from pytest_plugin.conformance import conformance_suite
from pytest_plugin.handle import Dlrmock

APP = create_app(":memory:")


def probe(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The app's view of a message: by requestId / messageid (SMS) / wamid (WhatsApp) / SMSID,
    or by journeyId for journeys."""
    key = (message.get("requestId") or message.get("messageid") or message.get("wamid")
           or message.get("SMSID"))
    found = message_status(APP, str(key)) if key else None
    return found or message_status(APP, f"journey:{message.get('journeyId')}")


def send_otp_zns(phone: str, provider_url: str, webhook_url: str) -> None:
    """The app's own send path: a ZNS through NXCloud (dlrmock at ``provider_url``)."""
    send_zns(APP, phone, {"otp": "123456"}, account=NxcloudAccount(provider_url),
             callback_url=webhook_url, ext="order-42")


def send_otp_sms(phone: str, provider_url: str, webhook_url: str) -> None:
    """The app's own send path: a customer-care SMS through eSMS (dlrmock at ``provider_url``)."""
    send_sms(APP, phone, "Ma OTP cua ban la 123456", account=EsmsAccount(provider_url),
             callback_url=webhook_url)


TestNXCloudConformance = conformance_suite(
    "nxcloud", app=APP, path="/webhooks/nxcloud", probe=probe, send=send_otp_zns
)
TestESMSConformance = conformance_suite(
    "esms", app=APP, path="/webhooks/esms", probe=probe, send=send_otp_sms
)


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


def test_a_send_can_wait_for_its_receipts(dlrmock: Dlrmock, live_url: str, app: Flask) -> None:
    smsid = send_sms(app, "0901233333", "Ma OTP 123456", account=EsmsAccount(dlrmock.url),
                     callback_url=f"{live_url}/webhooks/esms")
    (sent,) = dlrmock.sent
    (run,) = sent.wait(timeout=5)  # 3333: the callback comes twice

    run.assert_acknowledged()
    stored = message_status(app, smsid)
    assert stored is not None
    assert (stored["status"], stored["duplicates_ignored"]) == ("delivered", 1)
