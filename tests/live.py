"""Helpers of the live-view tests: sending through the fake provider as an app does."""

from __future__ import annotations

from typing import Any

import requests

ESMS_SEND = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
HELD_PHONE = "0912346666"
"""A number whose suffix 6666 makes dlrmock hold the message until it is released."""


def send_esms(provider_url: str, phone: str, callback: str | None, **extra: Any) -> Any:
    """Send one eSMS customer-care SMS; the answer's JSON."""
    body = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key", "Phone": phone,
            "Content": "Your code is 4821", "Brandname": "Baotrixemay", "SmsType": "2", **extra}
    if callback is not None:
        body["CallbackUrl"] = callback
    return requests.post(provider_url + ESMS_SEND, json=body, timeout=10).json()
