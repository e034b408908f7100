"""The app when exposed: never a 500, never a file a remote caller names, bounded memory.

Each test reproduces one finding of the reliability probe (issue 13) against ``create_app``
in-process; the last one is a property-based sweep of every route asserting no 5xx.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from esms_invalid_request import invalid_request
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sendapi_support import mt_body, nx_headers

from mock_server import Config, MockProvider, create_app
from mock_server.app import get_state

ADMIN = "/_dlrmock"
NOWHERE = "http://127.0.0.1:9/hook"
ESMS_SEND = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"


@pytest.fixture
def app() -> Iterator[Flask]:
    app = create_app(Config(time_scale=0, seed=3, max_pending_runs=5))
    yield app
    state = get_state(app)
    state.engine.close()
    assert list(state.errors) == [], state.errors


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _json(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = response.get_json()
    return data


# ------------------------------------------------------------------------- no 500, no traceback
def test_a_ts_header_of_4301_digits_is_code_1004(client: FlaskClient) -> None:
    raw = json.dumps(mt_body()).encode()
    response = client.post("/v1/zalo/mt", data=raw, headers=nx_headers(raw, ts="1" * 4301))
    assert response.status_code == 200 and _json(response)["code"] == 1004


@pytest.mark.parametrize("path", [f"{ADMIN}/runs", f"{ADMIN}/runs/run-1/advance"])
def test_a_100000_deep_json_array_is_a_400(client: FlaskClient, path: str) -> None:
    client.post(f"{ADMIN}/runs", json={"scenario": "nxcloud.zalo.failed", "to": NOWHERE,
                                       "clock": "manual"})
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post(path, data=deep, content_type="application/json")
    assert response.status_code == 400
    assert "nested more than 64 levels" in _json(response)["message"]


def test_a_time_scale_of_401_digits_is_a_400(client: FlaskClient) -> None:
    body = json.dumps({"scenario": "nxcloud.zalo.failed", "to": NOWHERE, "time_scale": 10**400})
    response = client.post(f"{ADMIN}/runs", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "'time_scale' must be a number" in _json(response)["message"]


def test_a_rejected_send_with_a_deep_body_leaves_sent_listable(client: FlaskClient) -> None:
    deep = "[" * 500 + "]" * 500
    answer = client.post(ESMS_SEND, data=deep, content_type="application/json")
    assert "nested more than 64 levels" in invalid_request(answer)
    for _ in range(2):
        listed = client.get(f"{ADMIN}/sent")
        assert listed.status_code == 200
        (sent,) = _json(listed)["sent"]
        assert sent["json"] is None and sent["body"].startswith("[[[")


def test_a_deep_object_that_parses_is_captured_without_its_json(app: Flask) -> None:
    # Below the JSON decoder's limit but deeper than the views recurse: kept as text only.
    deep = '{"a": ' * 200 + "1" + "}" * 200
    client = app.test_client()
    client.post(ESMS_SEND, data=deep, content_type="application/json")
    assert _json(client.get(f"{ADMIN}/sent"))["sent"][0]["json"] is None


def test_a_chunked_admin_body_is_read(client: FlaskClient) -> None:
    body = json.dumps({"scenario": "nxcloud.zalo.failed", "to": NOWHERE}).encode()

    # What a server hands over for a chunked request: no Content-Length, a terminated stream.
    response = client.post(
        f"{ADMIN}/runs",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 201, _json(response)


# ------------------------------------------------------------------- no files a caller names
def test_there_is_no_static_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "notes.txt").write_text("secret")
    monkeypatch.chdir(tmp_path)
    app = create_app()
    assert not [rule for rule in app.url_map.iter_rules() if rule.endpoint == "static"]
    assert app.test_client().get("/static/notes.txt").status_code == 404


@pytest.mark.parametrize(
    "value",
    ["esms.probe.yaml", "esms.d/../sub/other.yaml", "esms.missing.yaml", "esms./etc/passwd"],
)
def test_the_scenario_header_never_reads_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    (tmp_path / "esms.probe.yaml").write_text(
        "name: esms.probe\nsteps:\n  - kind: esms.sms.cskh\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.yaml").write_text("name: other\nsteps:\n  - kind: esms.sms.cskh\n")
    monkeypatch.chdir(tmp_path)
    app = create_app(Config(time_scale=0))
    try:
        body = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key",
                "Phone": "0912345678", "Content": "hi", "SmsType": "2", "Brandname": "Baotrixemay",
                "CallbackUrl": NOWHERE}
        message = invalid_request(app.test_client().post(
            ESMS_SEND, json=body, headers={"X-Dlrmock-Scenario": value}))
        assert "is not a built-in esms scenario" in message
        assert "file" not in message  # the same answer whether such a file exists or not
        assert get_state(app).engine.runs() == []
    finally:
        get_state(app).engine.close()


# ---------------------------------------------------------------------------- bounded resources
def test_pending_runs_are_capped_with_a_clear_error_and_counted(client: FlaskClient) -> None:
    body = {"scenario": "nxcloud.zalo.failed", "to": NOWHERE, "clock": "manual"}
    for _ in range(5):
        assert client.post(f"{ADMIN}/runs", json=body).status_code == 201
    refused = client.post(f"{ADMIN}/runs", json=body)
    assert refused.status_code == 503
    assert "max_pending_runs 5" in _json(refused)["message"]
    health = _json(client.get(f"{ADMIN}/health"))["runs"]
    assert health == {"pending": 5, "max_pending": 5, "rejected": 1}
    client.post(f"{ADMIN}/reset")
    deadline = time.monotonic() + 5
    while _json(client.get(f"{ADMIN}/health"))["runs"]["pending"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.post(f"{ADMIN}/runs", json=body).status_code == 201


def test_a_send_beyond_the_pending_cap_is_a_provider_error(client: FlaskClient) -> None:
    body = {"scenario": "nxcloud.zalo.failed", "to": NOWHERE, "clock": "manual"}
    for _ in range(5):
        client.post(f"{ADMIN}/runs", json=body)
    raw = json.dumps(mt_body()).encode()
    answer = _json(client.post("/v1/zalo/mt", data=raw, headers=nx_headers(raw)))
    assert answer["code"] == 9000 and "max_pending_runs" in answer["message"]


def test_the_admin_body_is_capped(client: FlaskClient) -> None:
    big = b'{"scenario": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post(f"{ADMIN}/runs", data=big, content_type="application/json")
    assert response.status_code == 413 and "admin_max_body_bytes" in _json(response)["message"]


def test_runs_are_listed_newest_first_a_page_at_a_time() -> None:
    app = create_app(Config(time_scale=0))
    client = app.test_client()
    try:
        for _ in range(5):
            client.post(f"{ADMIN}/runs", json={"scenario": "nxcloud.zalo.failed", "to": NOWHERE})
        page = _json(client.get(f"{ADMIN}/runs?limit=2"))
        assert [r["id"] for r in page["runs"]] == ["run-5", "run-4"]
        page = _json(client.get(page["next"]))
        assert [r["id"] for r in page["runs"]] == ["run-3", "run-2"]
        last = _json(client.get(page["next"]))
        assert [r["id"] for r in last["runs"]] == ["run-1"] and "next" not in last
        oldest = _json(client.get(f"{ADMIN}/runs?order=oldest&limit=1"))
        assert [r["id"] for r in oldest["runs"]] == ["run-1"]
        for bad in ("limit=0", "limit=abc", "limit=1001", "order=up", "after=run-99"):
            assert client.get(f"{ADMIN}/runs?{bad}").status_code == 400, bad
    finally:
        get_state(app).engine.close()


# --------------------------------------------------------------------- every route, any input
def _routes(app: Flask) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<name>", "SendMultipleMessage_V4_post_json")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


_ROUTES = _routes(create_app())  # the engine starts with the first run: no thread here
_FILE_LIKE = st.sampled_from(
    ["../../etc/passwd", "esms.probe.yaml", "nxcloud.d/../x.json", "/static/x", "%2e%2e/", "C:\\x"]
)
_TEXT = st.one_of(st.text(max_size=40), _FILE_LIKE, st.sampled_from(["NaN", "1" * 5000, "-1"]))
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT,
              st.sampled_from([10**401, -(2**70), 1e308])),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=12,
)
_ESMS_FIELDS = ["Phone", "Phones", "Content", "SmsType", "Brandname", "CallbackUrl", "OAID",
                "TempID", "Params", "TempData", "RequestId", "Sandbox", "campaignid", "IsUnicode",
                "SendDate", "SenderName", "UserId"]
_NX_FIELDS = ["phone", "appkey", "ext", "drWebhook", "messageData", "functionType",
              "journeyToken", "tokenType", "sendTime"]
_FIELDS = ["scenario", "to", "time_scale", "clock", "seed", "fields", "message", "policy",
           "seconds", "Phone", "ApiKey", "phone", "appkey", "CallbackUrl"]


@st.composite
def _requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes, str]:
    method, path = draw(st.sampled_from(_ROUTES))
    headers = {name: draw(_TEXT.filter(lambda v: "\n" not in v and "\r" not in v))
               for name in draw(st.lists(st.sampled_from(
                   ["X-Dlrmock-Scenario", "ts", "accessKey", "sign", "bizType", "action",
                    "Authorization"]), max_size=3, unique=True))}
    headers = {k: v.encode("utf-8", "replace").decode("latin-1") for k, v in headers.items()}
    kind = draw(st.sampled_from(["object", "json", "raw", "deep", "esms", "nxcloud"]))
    if kind == "esms":  # authenticated, so the checks past the credentials are reached
        fields = draw(st.dictionaries(st.sampled_from(_ESMS_FIELDS), _JSON, max_size=6))
        body = json.dumps({"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key",
                           **fields})
        path = draw(st.sampled_from([p for _, p in _ROUTES if "MainService" in p]))
    elif kind == "nxcloud":  # signed, so the checks past the signature are reached
        fields = draw(st.dictionaries(st.sampled_from(_NX_FIELDS), _JSON, max_size=4))
        raw = json.dumps({**mt_body(), **fields}).encode()
        scenario = {k: v for k, v in headers.items() if k == "X-Dlrmock-Scenario"}
        headers = {**nx_headers(raw), **scenario}
        method, path = "POST", draw(st.sampled_from(["/v1/zalo/mt", "/v1/zalo/initJourneyToken"]))
        return method, path, headers, raw, kind
    elif kind == "deep":
        depth = draw(st.sampled_from([200, 5_000, 100_000]))
        body = "[" * depth + "]" * depth
    elif kind == "object":
        body = json.dumps(draw(st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=5)))
    elif kind == "json":
        body = json.dumps(draw(_JSON))
    else:
        body = draw(st.text(max_size=60))
    query = draw(st.sampled_from(["", "?limit=2", "?timeout=0", "?after=" + draw(_TEXT)]))
    return method, path + query, headers, body.encode("utf-8", "replace"), kind


@pytest.fixture(scope="module")
def fuzz_app() -> Iterator[Flask]:
    app = create_app(Config(time_scale=0, max_pending_runs=50))
    yield app
    get_state(app).engine.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_requests())
def test_no_route_answers_5xx_to_any_input(
    fuzz_app: Flask, request: tuple[str, str, dict[str, str], bytes, str]
) -> None:
    method, path, headers, body, _ = request
    state = get_state(fuzz_app)
    if "<run_id>" in path:  # act on a real run, on a clock nobody else moves
        runs = state.engine.runs()
        if not runs or len(runs) > 20:
            state.reset()
            runs = [state.engine.play("nxcloud.zalo.failed", NOWHERE, clock="manual")]
        path = path.replace("<run_id>", runs[-1].id)
        if "/wait" in path:
            path = path.split("?")[0] + "?timeout=0"
    if "<message_id>" in path:  # a held message (number ending 6666) to look at or release
        messages = state.send_state.messages.all()
        if not messages:
            raw = json.dumps(mt_body(phone="84912346666")).encode()
            fuzz_app.test_client().post("/v1/zalo/mt", data=raw, headers=nx_headers(raw)).close()
            messages = state.send_state.messages.all()
        path = path.replace("<message_id>", messages[-1].id if messages else "none")
    response = fuzz_app.test_client().open(
        path, method=method, data=body, headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code < 500, (method, path, headers, body[:200], response.get_data())
    assert list(state.errors) == [] and list(state.engine.errors) == []


def _cut_short(provider: MockProvider, framing: bytes, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to the admin API with ``framing``, then stop sending (half-closed)."""
    port = int(provider.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as app:
        app.sendall(f"POST {ADMIN}/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + framing
                    + b"Content-Type: application/json\r\n\r\n" + body)
        app.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(app)
        response.begin()
        return response.status, json.loads(response.read())


@pytest.mark.parametrize(("framing", "body"), [
    (b"Content-Length: 200\r\n", b'{"scenario": "nxcloud.zalo.failed"'),
    (b"Transfer-Encoding: chunked\r\n", b'40\r\n{"scenario": "nxcloud.zalo.failed"'),
    (b"Transfer-Encoding: chunked\r\n", b"5\r\n{\"a\":\r\nzz\r\n"),
], ids=["short-of-its-length", "chunk-gone", "bad-chunk-size"])
def test_an_admin_body_cut_short_is_a_400_naming_it_not_a_500(framing: bytes, body: bytes) -> None:
    with MockProvider(time_scale=0) as provider:
        status, answer = _cut_short(provider, framing, body)
        assert status == 400, answer
        assert "request body cut short" in answer["message"], answer
        assert provider.runs == []
        provider.check()  # nothing went wrong inside dlrmock
