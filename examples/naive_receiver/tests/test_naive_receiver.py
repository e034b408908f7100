"""Smoke tests showing the naive receiver is as naive as its docstring says."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from naive_receiver import create_app, message_status

SEED_EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"
REQUEST_ID = "zalomid.a941ccf8dd374dafxxxxxxacbe7a6ea5"


@pytest.fixture
def client() -> FlaskClient:
    return create_app().test_client()


def post_seed(client: FlaskClient, name: str) -> int:
    response = client.post("/webhooks/nxcloud", data=(SEED_EXAMPLES / name).read_bytes(),
                           content_type="application/json")
    return response.status_code


def test_accepts_a_success_receipt(client: FlaskClient) -> None:
    assert post_seed(client, "nxcloud.zalo.success.json") == 200

    view = message_status(client.application, REQUEST_ID)
    assert view is not None
    assert (view["status"], view["receipts_processed"], view["ext"]) == ("success", 1, "ext info")


def test_answers_500_to_an_esms_get_callback(client: FlaskClient) -> None:
    url = (SEED_EXAMPLES / "esms.sms.cskh.url").read_text().strip()

    response = client.get("/webhooks/esms", query_string=urlsplit(url).query)

    assert response.status_code == 500
    assert message_status(client.application, "dc712784-9c5f-4c69-b9a8-ea69d56adc9a87") is None


def test_regresses_and_double_counts(client: FlaskClient) -> None:
    post_seed(client, "nxcloud.zalo.delivered.json")
    post_seed(client, "nxcloud.zalo.success.json")
    post_seed(client, "nxcloud.zalo.success.json")

    view = message_status(client.application, REQUEST_ID)
    assert view is not None
    assert (view["status"], view["receipts_processed"], view["duplicates_ignored"]) == (
        "success", 3, 0)


def test_has_the_same_view_shape_as_the_realistic_app(client: FlaskClient) -> None:
    client.post("/webhooks/nxcloud", data=json.dumps({"status": "success", "requestId": "r"}),
                content_type="application/json")

    assert set(message_status(client.application, "r") or {}) == {
        "key", "provider", "status", "error_code", "error_message", "receipts_processed",
        "duplicates_ignored", "ext", "last_payload"}
