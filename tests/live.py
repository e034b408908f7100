"""Helpers of the live-view tests: sending through the fake provider as an app does."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from targets import Target

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


def post_nxcloud(url: str, raw: bytes, *, biz_type: str, action: str = "mt",
                 headers: Mapping[str, str] | None = None,
                 method: str = "POST") -> requests.Response:
    """``raw`` sent to ``url`` with NXCloud's auth headers, signed as the docs say; ``headers``
    are added (or replace them)."""
    sent = {"accessKey": NXCLOUD_ACCESS_KEY, "ts": str(int(time.time() * 1000)),
            "bizType": biz_type, "action": action, "Content-Type": "application/json"}
    sent["sign"] = sign(sent, raw, NXCLOUD_SECRET)
    return requests.request(method, url, data=raw, headers={**sent, **(headers or {})},
                            timeout=10)


def send_nxcloud(provider_url: str, path: str, body: Mapping[str, Any], *,
                 biz_type: str = "9", action: str = "mt") -> Any:
    """POST ``body`` to an NXCloud API signed as the docs say; the answer's JSON."""
    return post_nxcloud(provider_url + path, json.dumps(body).encode(), biz_type=biz_type,
                        action=action).json()


def json_bodies(target: Target, about: Callable[[dict[str, Any]], bool],
                count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The first ``count`` JSON bodies ``target`` received that are ``about`` something;
    AssertionError if fewer arrive within ``timeout``."""
    def mine() -> list[dict[str, Any]]:
        return [b for b in (json.loads(r.body) for r in list(target.requests)) if about(b)]

    deadline = time.monotonic() + timeout
    while len(mine()) < count:
        assert time.monotonic() < deadline, f"{count} JSON bodies expected; got {mine()}"
        time.sleep(0.01)
    return mine()[:count]
