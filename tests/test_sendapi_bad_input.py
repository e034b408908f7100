"""Bad input to every send API gets the provider's error shape or a JSON 4xx, never a 500."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from esms_invalid_request import invalid_request
from test_sendapi_support import API_KEY, SECRET_KEY, make_app, nx_headers

NXCLOUD = ["/v1/zalo/mt", "/v1/zalo/initJourneyToken"]
ESMS_POST = [
    "/MainService.svc/json/SendMultipleMessage_V4_post_json",
    "/MainService.svc/json/SendMultipleMessage_V4_post_json/",
    "/MainService.svc/json/SendMultipleSMSBrandname_json",
    "/MainService.svc/json/SendZaloMessage_V4_post_json",
    "/MainService.svc/json/SendZaloMessage_V5_post",
    "/MainService.svc/json/SendZaloMessage_V6",
    "/MainService.svc/json/Send_Multiple_Sms_OTT",
]
ESMS_GET = [
    "/MainService.svc/json/SendMultipleMessage_V4_get",
    "/MainService.svc/json/GetSendStatus",
]
POST_ENDPOINTS = NXCLOUD + ESMS_POST
EVERY_ENDPOINT = POST_ENDPOINTS + ESMS_GET

CREDENTIALS = {"ApiKey": API_KEY, "SecretKey": SECRET_KEY, "appkey": "app-1"}
BAD_BODIES: dict[str, bytes] = {
    "malformed-json": b'{"ApiKey": "dlrmock-api-key", ',
    "not-utf8": b"\xff\xfe{\x00}",
    "json-list": b"[]",
    "json-string": b'"hello"',
    "json-null": b"null",
    "json-number": b"12345",
    "empty": b"",
    "whitespace": b"  \r\n ",
    "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
    "huge-integer": b'{"Phone": ' + b"9" * 5000 + b"}",
    "missing-fields": json.dumps(CREDENTIALS).encode(),
    "wrong-types": json.dumps({
        **CREDENTIALS, "phone": 84912345678, "functionType": ["template"],
        "messageData": "x", "tokenType": 7, "drWebhook": 1, "ext": {"a": 1},
        "Phone": {"n": 1}, "Phones": 5, "Content": 12, "SmsType": [2], "Brandname": 1,
        "Params": "x", "TempData": 5, "OAID": [], "TempID": {}, "Sandbox": [],
        "RequestId": {}, "CallbackUrl": 5, "SendDate": 0, "IsJourney": {},
    }).encode(),
    "null-values": json.dumps({**CREDENTIALS, "phone": None, "messageData": None,
                               "Phone": None, "Phones": None, "Content": None,
                               "SmsType": None, "TempData": None}).encode(),
    "lone-surrogate": b'{"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key", '
                      b'"phone": "\\ud800", "Phone": "\\ud800", "Content": "\\udfff", '
                      b'"SmsType": "2", "Phones": ["\\ud800"]}',
    "nan": b'{"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key", "Phone": NaN, '
           b'"SmsType": Infinity, "phone": NaN}',
    "empty-strings": json.dumps({**CREDENTIALS, "phone": "", "appkey": "", "Phone": "",
                                 "Phones": [], "Content": "", "SmsType": "", "OAID": "",
                                 "TempID": "", "Params": [], "TempData": {}}).encode(),
}


def shape_ok(path: str, response: Any) -> dict[str, Any]:
    assert response.status_code < 500, response.data[:300]
    assert response.mimetype == "application/json"
    answer = response.get_json()
    assert isinstance(answer, dict)
    if path.startswith("/v1/"):
        assert isinstance(answer["code"], int) and len(answer["traceId"]) == 32
        assert isinstance(answer["message"], str)
    elif "CodeResult" not in answer and "CodeResponse" not in answer:
        invalid_request(response, response.status_code)  # byte for byte, and explained
    elif "GetSendStatus" in path:
        assert isinstance(answer["CodeResponse"], str)
    else:
        assert isinstance(answer["CodeResult"], str) and answer["CountRegenerate"] == 0
    return answer


def signed(path: str, body: bytes) -> dict[str, str]:
    return nx_headers(body) if path.startswith("/v1/") else {"Content-Type": "application/json"}


@pytest.mark.parametrize("kind", list(BAD_BODIES))
@pytest.mark.parametrize("path", POST_ENDPOINTS)
def test_a_bad_body_is_answered_in_the_provider_shape(path: str, kind: str) -> None:
    client, hooks, _ = make_app()
    body = BAD_BODIES[kind]
    answer = shape_ok(path, client.post(path, data=body, headers=signed(path, body)))
    assert answer.get("code", answer.get("CodeResult")) not in (0, "100"), answer
    assert hooks.delivered == []
    assert hooks.last.error is not None and hooks.last.status == 200


@pytest.mark.parametrize("query", [
    "", "ApiKey=x", f"ApiKey={API_KEY}&SecretKey={SECRET_KEY}",
    f"ApiKey={API_KEY}&SecretKey={SECRET_KEY}&Phone=%00%ff&SmsType=2&Content=%ff&RefId=%ff",
    "%ff%fe=%ff&&&==", f"ApiKey={API_KEY}&SecretKey={SECRET_KEY}&Phone=0912345678&SmsType=2"
    "&Content=x&CallbackUrl=javascript:alert(1)&SendDate=soon&RequestId=" + "x" * 200,
])
@pytest.mark.parametrize("path", ESMS_GET)
def test_a_bad_query_is_answered_in_the_provider_shape(path: str, query: str) -> None:
    client, _, _ = make_app()
    shape_ok(path, client.get(f"{path}?{query}"))


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
@pytest.mark.parametrize("path", POST_ENDPOINTS)
def test_a_wrong_method_on_a_post_api_is_405_in_the_provider_shape(path: str,
                                                                  method: str) -> None:
    client, hooks, _ = make_app()
    response = getattr(client, method)(path)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    shape_ok(path, response)
    assert hooks.last.status == 405


@pytest.mark.parametrize("method", ["post", "put", "delete"])
@pytest.mark.parametrize("path", ESMS_GET)
def test_a_wrong_method_on_a_get_api_is_405_in_the_provider_shape(path: str,
                                                                 method: str) -> None:
    client, _, _ = make_app()
    response = getattr(client, method)(path, json={"ApiKey": API_KEY})
    assert response.status_code == 405 and response.headers["Allow"] == "GET"
    shape_ok(path, response)


TEN_MB = b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}'


@pytest.mark.parametrize("path", EVERY_ENDPOINT)
def test_a_10_mb_body_is_413_in_the_provider_shape(path: str) -> None:
    client, hooks, _ = make_app()
    method: Callable[..., Any] = client.get if path in ESMS_GET else client.post
    response = method(path, data=TEN_MB, headers=signed(path, TEN_MB))
    assert response.status_code == 413
    answer = shape_ok(path, response)
    reason = answer["message"] if path.startswith("/v1/") else invalid_request(response, 413)
    assert "too large" in reason and hooks.last.explain == reason
    assert hooks.last.body_length == len(TEN_MB) and hooks.last.body == ""


@pytest.mark.parametrize("path", POST_ENDPOINTS)
def test_a_chunked_body_without_length_is_cut_off_at_the_limit(path: str) -> None:
    client, _, _ = make_app()
    response = client.post(path, input_stream=io.BytesIO(TEN_MB),
                           headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    shape_ok(path, response)


def test_the_body_limit_is_configurable() -> None:
    from mock_server.sendapi import SendSettings

    client, _, _ = make_app(SendSettings(max_body_bytes=100))
    body = json.dumps({"ApiKey": API_KEY, "Content": "x" * 200}).encode()
    response = client.post(ESMS_POST[0], data=body)
    assert "at most 100" in invalid_request(response, 413)


@pytest.mark.parametrize("path", [
    "/MainService.svc/json/SendSomething", "/mainservice.svc/json/" + "x" * 500,
])
def test_an_unknown_esms_api_is_a_json_404_naming_the_known_ones(path: str) -> None:
    client, hooks, _ = make_app()
    response = client.post(path, json={})
    assert "SendZaloMessage_V6" in invalid_request(response, 404)
    assert len(hooks.last.endpoint) < 120


# ------------------------------------------------- every other eSMS API, from the endpoint table
def _esms_paths() -> list[tuple[str, str]]:
    from mock_server.sendapi import ESMS_ENDPOINTS

    paths = []
    for endpoint in ESMS_ENDPOINTS:
        path = f"/{endpoint.name}" if endpoint.root else f"/MainService.svc/json/{endpoint.name}"
        if endpoint.path_keys:
            path += f"/{API_KEY}/{SECRET_KEY}"
        paths.append((endpoint.method, path))
    return paths


WEIRD_VALUES: list[Any] = [None, "", 0, -1, 1.5, True, [], {}, ["x"], [{}], {"a": [1]},
                           "x" * 300, "\ud800", "0901888484"]
FIELDS = ["Phone", "Channels", "Data", "SmsType", "OAID", "OAId", "TempID", "TempData",
          "Params", "ZaloUid", "HashPhone", "Payload", "User_id", "ListRefid", "SmsId",
          "RefId", "ReferenceId", "TemplateId", "Brandname", "Code", "TimeAlive", "message",
          "MultiChannelTempId", "TypeId", "RequestId", "SendingMode", "CallbackUrl", "Sandbox",
          "Speed", "Voice", "SendDate", "Content"]


@pytest.mark.parametrize(("method", "path"), _esms_paths())
def test_every_esms_api_answers_weird_values_without_a_500(method: str, path: str) -> None:
    client, _, _ = make_app()
    keys = {"ApiKey": API_KEY, "SecretKey": SECRET_KEY}
    # Every field with every value would be 14 000 requests: each value in every field at once,
    # then each field alone with the values in turn.
    documents = [{field: value for field in FIELDS} for value in WEIRD_VALUES]
    documents += [{field: WEIRD_VALUES[(n + shift) % len(WEIRD_VALUES)]}
                  for shift in (0, 5) for n, field in enumerate(FIELDS)]
    for document in documents:
        if method == "GET":
            query = {}
            for field, value in document.items():
                shown = value if isinstance(value, str) else json.dumps(value)
                query[field] = shown.encode("utf-8", "surrogatepass").decode("latin-1")
            response = client.get(path, query_string={**keys, **query})
        else:
            response = client.post(path, data=json.dumps({**keys, **document}).encode(),
                                   headers={"Content-Type": "application/json"})
        assert response.status_code < 500, (path, document, response.data[:300])
        assert isinstance(response.get_json(), dict), (path, document)
    if method == "POST":
        for value in WEIRD_VALUES:
            nested = {**keys, "Channels": ["zalo", "sms"], "Data": [value, value],
                      "ListRefid": [value], "Payload": {"recipient": value}}
            response = client.post(path, json=nested)
            assert response.status_code < 500, (path, value, response.data[:300])
