"""Schemathesis plays the OpenAPI document dlrmock serves against the app (in-process, WSGI).

Every operation gets generated requests, valid and invalid ones; half of them carry the right
credentials (eSMS ``ApiKey``/``SecretKey``, a correctly signed NXCloud request for its family,
the legacy SMS form's app keys) so the checks reach past authentication. No answer may be a
5xx, and every answer must match its documented status codes, content type and schema.
Receipts are switched off (``no_receipt``, no magic numbers), so a generated ``CallbackUrl`` is
never called: the journal must stay empty.
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from mock_server import create_app
from mock_server.app import get_state
from mock_server.openapi import openapi_document
from mock_server.sendapi import SendSettings, sign

APP = create_app({
    "time_scale": 0,
    "send": {"default_outcome": "no_receipt", "magic_numbers": {},
             "sms_apps": {"app-1": "secret-1"}},
})
SCHEMA = schemathesis.openapi.from_wsgi("/_dlrmock/openapi.json", APP)
OPERATIONS = sum(len(item) for item in openapi_document()["paths"].values())
EXAMPLES = max(5, 250 // OPERATIONS)
"""Per operation: the whole run stays near 250 requests (~15 s) as APIs are added."""
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
DEFAULTS = SendSettings()
SIGNED = {
    path: {p["name"]: p["schema"]["enum"][0] for p in operation["parameters"]
           if p["in"] == "header" and "enum" in p["schema"]}
    for path, item in openapi_document("nxcloud")["paths"].items()
    for operation in item.values() if "security" in operation
}
"""The documented bizType and action of each signed NXCloud API, by path."""


def _credentials(case: Any) -> dict[str, Any]:
    """Keyword arguments for ``call_and_validate`` that make ``case`` authenticate."""
    if isinstance(case.body, dict):  # a valid number too, so some sends are accepted
        for name, phone in (("phone", "84912345678"), ("Phone", "0912345678"),
                            ("Phones", "0912345678,0987654321")):
            if name in case.body:
                case.body[name] = phone
    if case.path == "/api/sms/mtsend" and isinstance(case.body, dict):  # the legacy form API
        case.body.update(appkey="app-1", secretkey="secret-1")
        return {}
    signed = SIGNED.get(case.path)
    if signed is not None and isinstance(case.body, dict):
        if "appkey" in case.body:
            case.body["appkey"] = "app-1"
        body = json.dumps(case.body).encode()
        headers = {"accessKey": DEFAULTS.access_key, "ts": str(int(time.time() * 1000)),
                   **signed, "Content-Type": "application/json"}
        headers["sign"] = sign(headers, body, DEFAULTS.access_secret)
        return {"headers": headers, "data": body}
    keys = {"ApiKey": DEFAULTS.api_key, "SecretKey": DEFAULTS.secret_key}
    if isinstance(case.body, dict):
        case.body.update(keys)
    elif isinstance(case.query, dict) and "ApiKey" in case.query:
        case.query.update(keys)
    return {}


@pytest.fixture(autouse=True, scope="module")
def _nothing_delivered() -> Any:
    yield
    state = get_state(APP)
    assert list(state.errors) == []
    assert state.engine.journal.stats()["attempts"] == 0, "a generated callback was called"


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_dlrmock_answers_as_documented(case: Any) -> None:
    authenticate = zlib.crc32(repr((case.body, case.query)).encode()) % 2
    extra = _credentials(case) if authenticate else {}
    case.call_and_validate(checks=CHECKS, **extra)



