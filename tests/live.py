"""Helpers of the live-view tests: sending through the fake provider as an app does."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import requests

from mock_server.sendapi import sign

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


NXCLOUD_ACCESS_KEY, NXCLOUD_SECRET = "dlrmock-access-key", "dlrmock-secret"
"""The test account dlrmock accepts out of the box."""


def send_nxcloud(provider_url: str, path: str, body: Mapping[str, Any], *,
                 biz_type: str = "9", action: str = "mt") -> Any:
    """POST ``body`` to an NXCloud API signed as the docs say; the answer's JSON."""
    raw = json.dumps(body).encode()
    headers = {"accessKey": NXCLOUD_ACCESS_KEY, "ts": str(int(time.time() * 1000)),
               "bizType": biz_type, "action": action, "Content-Type": "application/json"}
    headers["sign"] = sign(headers, raw, NXCLOUD_SECRET)
    return requests.post(provider_url + path, data=raw, headers=headers, timeout=10).json()
