"""The admin API under /_dlrmock/: each endpoint's happy path, and bad input as JSON 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from targets import Target

from mock_server import KINDS, Config, MockProvider, builtin_scenarios, create_app
from mock_server.app import get_state

ADMIN = "/_dlrmock"


@pytest.fixture
def app() -> Iterator[Flask]:
    app = create_app(Config(time_scale=0, seed=5))
    yield app
    state = get_state(app)
    state.engine.close()
    assert list(state.errors) == [] and list(state.engine.errors) == []


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def start(client: FlaskClient, **body: Any) -> dict[str, Any]:
    response = client.post(f"{ADMIN}/runs", json=body)
    assert response.status_code == 201, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def wait(client: FlaskClient, run_id: str, timeout: float = 5) -> dict[str, Any]:
    response = client.get(f"{ADMIN}/runs/{run_id}/wait?timeout={timeout}")
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


# -------------------------------------------------------------------------------- happy paths
def test_health_reports_the_journal(client: FlaskClient) -> None:
    body = client.get(f"{ADMIN}/health").get_json()

    assert body["status"] == "ok" and body["errors"] == 0 and body["time_scale"] == 0
    assert body["journal"]["attempts"] == 0 and body["journal"]["limit"] == 100_000


def test_scenarios_and_kinds_are_listed(client: FlaskClient) -> None:
    scenarios = client.get(f"{ADMIN}/scenarios").get_json()["scenarios"]
    kinds = client.get(f"{ADMIN}/kinds").get_json()["kinds"]

    assert [s["name"] for s in scenarios] == list(builtin_scenarios())
    assert all(s["description"] and s["steps"] for s in scenarios)
    assert {k["name"] for k in kinds} == set(KINDS)


def test_start_a_run_then_get_and_list_it(client: FlaskClient, target: Target) -> None:
    response = client.post(
        f"{ADMIN}/runs",
        json={"scenario": "nxcloud.zalo.success_then_delivered", "to": target.url, "seed": 3,
              "fields": {"ext": "order-7"}},
    )

    assert response.status_code == 201
    run = response.get_json()
    assert response.headers["Location"] == f"{ADMIN}/runs/{run['id']}"
    assert (run["scenario"], run["target"], run["seed"]) == (
        "nxcloud.zalo.success_then_delivered", target.url, 3,
    )
    assert "attempts" not in run
    done = wait(client, run["id"])
    assert done["state"] == "done" and done["ok"] is True and done["failures"] == []
    assert [a["outcome"] for a in done["attempts"]] == ["acknowledged", "acknowledged"]
    assert [a["status"] for a in done["attempts"]] == [200, 200]
    assert [json.loads(a["request"]["body"])["ext"] for a in done["attempts"]] == ["order-7"] * 2
    assert "journal of run" in done["journal"]
    fetched = client.get(f"{ADMIN}/runs/{run['id']}").get_json()
    assert fetched["attempts"] == done["attempts"]
    listed = client.get(f"{ADMIN}/runs").get_json()["runs"]
    assert [r["id"] for r in listed] == [run["id"]] and listed[0]["attempt_count"] == 2


def test_inline_scenario_runs(client: FlaskClient, target: Target) -> None:
    scenario = {"name": "mine", "steps": [{"kind": "esms.zns.normal", "duplicate": 1}]}

    run = wait(client, start(client, scenario=scenario, to=target.url)["id"])

    assert run["scenario"] == "mine" and run["attempt_count"] == 2 and run["ok"]
    assert target.count() == 2


def test_long_poll_answers_202_while_running_then_200(
    client: FlaskClient, target: Target
) -> None:
    run = start(client, scenario="nxcloud.zalo.success_then_delivered", to=target.url,
                clock="manual")

    pending = client.get(f"{ADMIN}/runs/{run['id']}/wait?timeout=0.05")
    assert pending.status_code == 202 and pending.get_json()["state"] == "running"
    assert pending.get_json()["ok"] is None

    first = client.post(f"{ADMIN}/runs/{run['id']}/step")
    assert first.status_code == 200
    assert [a["kind"] for a in first.get_json()["attempts"]] == ["nxcloud.zalo.success"]
    assert client.get(f"{ADMIN}/runs/{run['id']}/wait?timeout=0").status_code == 202

    moved = client.post(f"{ADMIN}/runs/{run['id']}/advance", json={"seconds": 2})
    assert moved.status_code == 200
    assert [a["offset"] for a in moved.get_json()["attempts"]] == [2.0]
    assert moved.get_json()["run"]["clock"] == {"kind": "manual", "now": 2.0, "time_scale": None}
    assert wait(client, run["id"])["ok"] is True


def test_cancel_stops_a_run(client: FlaskClient, target: Target) -> None:
    run = start(client, scenario="nxcloud.zalo.success_then_delivered", to=target.url,
                clock="manual")

    response = client.post(f"{ADMIN}/runs/{run['id']}/cancel")

    assert response.status_code == 200
    assert wait(client, run["id"])["state"] == "cancelled"
    assert target.count() == 0


def test_reset_forgets_runs(client: FlaskClient, target: Target) -> None:
    run = start(client, scenario="nxcloud.zalo.failed", to=target.url)
    wait(client, run["id"])

    assert client.post(f"{ADMIN}/reset").get_json() == {"status": "reset"}

    assert client.get(f"{ADMIN}/runs").get_json() == {"runs": []}
    assert client.get(f"{ADMIN}/runs/{run['id']}").status_code == 404


def test_sent_starts_empty(client: FlaskClient) -> None:
    assert client.get(f"{ADMIN}/sent").get_json() == {"sent": []}


def test_run_options_reach_the_engine(client: FlaskClient, target: Target) -> None:
    run = start(client, scenario="esms.zns.normal.delivered", to=target.url + "?t=1",
                policy={"timeout": 2}, error_info_encoding=4, time_scale=0,
                message={"SMSID": "sms-1"})

    done = wait(client, run["id"])

    assert done["message_id"] == "sms-1"
    url = done["attempts"][0]["request"]["url"]
    assert url.startswith(target.url + "?t=1&SMSID=sms-1&") and "&error_info={" in url


# ---------------------------------------------------------------------------------- bad input
URL = "http://127.0.0.1:9/hook"
OK_RUN = {"scenario": "nxcloud.zalo.failed", "to": URL}

BAD_RUNS: list[tuple[dict[str, Any], int, str]] = [
    ({"to": URL}, 400, "'scenario' is required"),
    ({**OK_RUN, "scenario": 5}, 400, "'scenario' is required"),
    ({**OK_RUN, "scenario": "nxcloud.zalo.fialed"}, 404,
     "unknown scenario 'nxcloud.zalo.fialed'; did you mean 'nxcloud.zalo.failed'?"),
    ({**OK_RUN, "scenario": "/etc/passwd.yaml"}, 404, "unknown scenario '/etc/passwd.yaml'"),
    ({**OK_RUN, "scenario": {"steps": []}}, 400, "'steps' is empty"),
    ({**OK_RUN, "scenario": {"steps": [{"kind": "esms.sms.cskh", "after": -2}]}}, 400,
     "bad delay -2"),
    ({"scenario": "nxcloud.zalo.failed"}, 400, "'to' is required"),
    ({**OK_RUN, "to": 8000}, 400, "'to' is required"),
    ({**OK_RUN, "to": "ftp://x/y"}, 400, "'ftp://x/y' must be an http://"),
    ({**OK_RUN, "to": "http://"}, 400, "URL 'http://' has no host"),
    ({**OK_RUN, "to": "http://127.0.0.1:70000/"}, 400, "port '70000' out of range"),
    ({**OK_RUN, "fields": ["ext"]}, 400, "'fields' must be a JSON object, got ['ext']"),
    ({**OK_RUN, "message": "x"}, 400, "'message' must be a JSON object, got 'x'"),
    ({**OK_RUN, "policy": 3}, 400, "'policy' must be a JSON object, got 3"),
    ({**OK_RUN, "policy": {"timeout": "soon"}}, 400, "'timeout' must be a number > 0, got 'soon'"),
    ({**OK_RUN, "policy": {"retries": -1}}, 400, "'retries' must be an integer from 0 to 100"),
    ({**OK_RUN, "policy": {"retry_on": ["never"]}}, 400, "unknown outcome 'never'"),
    ({**OK_RUN, "policy": {"tries": 2}}, 400, "unknown delivery policy setting 'tries'"),
    ({**OK_RUN, "seed": "7"}, 400, "'seed' must be an integer, got '7'"),
    ({**OK_RUN, "seed": True}, 400, "'seed' must be an integer, got True"),
    ({**OK_RUN, "time_scale": -1}, 400, "'time_scale' must be a number >= 0, got -1"),
    ({**OK_RUN, "time_scale": "fast"}, 400, "'time_scale' must be a number >= 0, got 'fast'"),
    ({**OK_RUN, "clock": "wall"}, 400, "unknown clock 'wall'"),
    ({**OK_RUN, "error_info_encoding": 7}, 400, "must be 1, 2, 3 or 4, got 7"),
    ({**OK_RUN, "error_info_encoding": True}, 400, "must be 1, 2, 3 or 4, got True"),
    ({**OK_RUN, "scenaro": "x"}, 400, "unknown field 'scenaro'"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_RUNS,
                         ids=[m[:40] for _, _, m in BAD_RUNS])
def test_bad_run_request_is_a_json_4xx_naming_the_value(
    client: FlaskClient, body: dict[str, Any], status: int, message: str
) -> None:
    response = client.post(f"{ADMIN}/runs", json=body)

    assert response.status_code == status, response.get_json()
    assert response.is_json
    assert message in response.get_json()["message"]
    assert client.get(f"{ADMIN}/runs").get_json() == {"runs": []}


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        ("{not json", "application/json", "the body must be a JSON object"),
        ("scenario=x", "application/x-www-form-urlencoded", "the body must be a JSON object"),
        ("[1, 2]", "application/json", "got a JSON list"),
        ('"text"', "application/json", "got a JSON str"),
    ],
)
def test_non_object_body_is_a_400(
    client: FlaskClient, data: str, content_type: str, message: str
) -> None:
    response = client.post(f"{ADMIN}/runs", data=data, content_type=content_type)

    assert response.status_code == 400
    assert message in response.get_json()["message"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/wait?timeout=0"), ("POST", "/step"), ("POST", "/cancel")],
)
def test_unknown_run_is_a_404(client: FlaskClient, method: str, suffix: str) -> None:
    response = client.open(f"{ADMIN}/runs/run-999{suffix}", method=method)

    assert response.status_code == 404
    assert "no run 'run-999'" in response.get_json()["message"]


def test_advance_of_unknown_run_is_a_404(client: FlaskClient) -> None:
    response = client.post(f"{ADMIN}/runs/run-999/advance", json={"seconds": 1})

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("timeout", "message"),
    [("soon", "'timeout' must be a number of seconds, got 'soon'"),
     ("-1", "between 0 and 300 seconds, got -1.0"),
     ("301", "between 0 and 300 seconds, got 301.0"),
     ("nan", "between 0 and 300 seconds, got nan"),
     ("", "got ''")],
)
def test_bad_wait_timeout_is_a_400(
    client: FlaskClient, target: Target, timeout: str, message: str
) -> None:
    run = start(client, scenario="nxcloud.zalo.failed", to=target.url)

    response = client.get(f"{ADMIN}/runs/{run['id']}/wait?timeout={timeout}")

    assert response.status_code == 400
    assert message in response.get_json()["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [({}, "'seconds' is required"),
     ({"seconds": -1}, "'seconds' must be a number >= 0, got -1"),
     ({"seconds": "2"}, "got '2'"),
     ({"seconds": True}, "got True")],
)
def test_bad_advance_is_a_400(
    client: FlaskClient, target: Target, body: dict[str, Any], message: str
) -> None:
    run = start(client, scenario="nxcloud.zalo.failed", to=target.url, clock="manual")

    response = client.post(f"{ADMIN}/runs/{run['id']}/advance", json=body)

    assert response.status_code == 400
    assert message in response.get_json()["message"]
    client.post(f"{ADMIN}/runs/{run['id']}/cancel")


def test_stepping_a_scaled_run_is_a_400(client: FlaskClient, target: Target) -> None:
    run = start(client, scenario="nxcloud.zalo.failed", to=target.url)

    response = client.post(f"{ADMIN}/runs/{run['id']}/step")

    assert response.status_code == 400
    assert "start it with clock='manual'" in response.get_json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("POST", "/health", 405), ("DELETE", "/runs", 405)],
)
def test_unknown_routes_answer_json(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = client.open(ADMIN + path, method=method)

    assert response.status_code == status and response.is_json
    assert response.get_json()["message"]


# -------------------------------------------------------------------------------- admin token
@pytest.fixture
def guarded() -> Iterator[FlaskClient]:
    app = create_app(Config(time_scale=0, admin_token="s3cret"))
    yield app.test_client()
    get_state(app).engine.close()
    assert list(get_state(app).errors) == []


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "Bearer café",
     "Basic czNjcmV0", "s3cret", "Basic s3cret"],
)
def test_admin_token_is_enforced(guarded: FlaskClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    headers_latin1 = {k: v.encode("utf-8").decode("latin-1") for k, v in headers.items()}

    for path in ("/health", "/runs", "/scenarios"):
        response = guarded.get(ADMIN + path, headers=headers_latin1)
        assert response.status_code == 401, (path, authorization)
        assert "Authorization: Bearer" in response.get_json()["message"]
    assert guarded.post(f"{ADMIN}/reset", headers=headers_latin1).status_code == 401


def test_admin_token_lets_the_right_bearer_in(guarded: FlaskClient) -> None:
    headers = {"Authorization": "Bearer s3cret"}

    assert guarded.get(f"{ADMIN}/health", headers=headers).status_code == 200
    assert guarded.post(f"{ADMIN}/reset", headers=headers).status_code == 200


# ------------------------------------------------------------------------------- real sockets
def test_admin_api_over_a_real_socket(target: Target) -> None:
    with MockProvider(time_scale=0, seed=11) as provider:
        admin = provider.url + ADMIN
        created = requests.post(
            admin + "/runs",
            json={"scenario": "nxcloud.zalo.duplicate_delivered", "to": target.url},
            timeout=5,
        )
        assert created.status_code == 201
        run_id = created.json()["id"]
        done = requests.get(f"{admin}/runs/{run_id}/wait", params={"timeout": 5}, timeout=10)
        bad = requests.post(admin + "/runs", data="nope", timeout=5,
                            headers={"Content-Type": "application/json"})

        assert done.status_code == 200 and done.json()["ok"] is True
        assert [(a["step"], a["copy"]) for a in done.json()["attempts"]] == [
            (0, 0), (1, 0), (1, 1)
        ]
        assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/json"
        assert provider.runs[0].id == run_id
    assert target.count() == 3
