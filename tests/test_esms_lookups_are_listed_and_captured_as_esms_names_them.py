"""eSMS's look-up APIs keep eSMS's own names and spelling wherever dlrmock shows them: the endpoint
reference lists each at the method and path eSMS documents, marking the GET ones as query-string
APIs and nothing else; the captured send of a legacy GET names the API and its path segments
(``GetBalance/{ApiKey}/{SecretKey}``) as eSMS spells them, whatever letter case the app used.

The paths and methods are those of ``/work/shared/spec/esms-apis.md`` ("GetTemplate/", "Other
account APIs", the Zalo look-up table, the price estimates), typed here rather than read from the
code's table, so a table that drifts from the docs fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from test_sendapi_esms_apis import API_KEY, DEADLINE, SECRET_KEY

from mock_server import MockProvider
from mock_server._reference import render

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
LOOKUPS = [
    ("POST", "GetTemplate"),
    ("GET", "GetZnsTemplateInfo"),
    ("POST", "ZNS/GetListZOA"),
    ("POST", "ZNS/GetQuota"),
    ("POST", "ZNS/GetQuality"),
    ("POST", "ZNS/GetRating"),
    ("POST", "ZNS/GetFollowers"),
    ("POST", "QueryListUID"),
    ("POST", "GetBalance_json"),
    ("GET", "GetBalance/{ApiKey}/{SecretKey}"),
    ("GET", "GetListBrandname/{ApiKey}/{SecretKey}"),
    ("GET", "SummaryMultipleMessage_V4_get"),
    ("POST", "SummaryZaloMessage_V4_post_json"),
]
"""(method, path under ``/MainService.svc/json/``) of every look-up, as eSMS documents them."""


def _reference_rows() -> dict[tuple[str, str], tuple[str, str]]:
    """(method, path) → (request cell, answer cell) of the eSMS endpoint reference."""
    rows = {}
    for line in render("endpoints-esms").splitlines()[2:]:
        method, path, request, answer = (cell.strip().strip("`")
                                         for cell in line.strip("|").split("|")[:4])
        rows[(method, path)] = (request, answer)
    return rows


@pytest.mark.parametrize(("method", "path"), LOOKUPS)
def test_the_endpoint_reference_lists_each_look_up_at_its_documented_method_and_path(
        method: str, path: str) -> None:
    rows = _reference_rows()
    key = (method, f"/MainService.svc/json/{path}")
    assert key in rows, f"{method} {path} is not in the reference; it lists {sorted(rows)}"
    request, answer = rows[key]
    # Only a body other than JSON is named, and a GET look-up reads its query string.
    schema, _, body = request.partition(" ")
    assert body == ("(query)" if method == "GET" else ""), request
    for name in (schema, answer):
        assert (SCHEMAS / f"{name}.json").is_file(), f"{path}: no schema {name!r}"


@pytest.fixture(scope="module")
def esms() -> Iterator[MockProvider]:
    with MockProvider(time_scale=0, send={"brandnames": ["ACME"]}) as provider:
        yield provider


@pytest.mark.parametrize(("name", "path", "trailing"), [
    ("GetBalance", "/MainService.svc/json/GetBalance", ""),
    ("GetListBrandname", "/MainService.svc/json/GetListBrandname", "/"),
    ("GetBalance", "/mainservice.svc/json/getbalance", "/"),
    ("GetListBrandname", "/MainService.svc/json/GETLISTBRANDNAME", ""),
])
def test_a_legacy_get_is_captured_under_esms_names_for_the_api_and_its_path_segments(
        esms: MockProvider, name: str, path: str, trailing: str) -> None:
    url = f"{esms.url}{path}/{API_KEY}/{SECRET_KEY}{trailing}"
    response = requests.get(url, timeout=DEADLINE)
    assert response.status_code == 200
    assert response.json()["CodeResponse"] == "100"
    captured = esms.sent[-1]
    assert captured.endpoint == f"esms.{name}"
    assert captured.json == {"ApiKey": API_KEY, "SecretKey": SECRET_KEY}
