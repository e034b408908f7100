"""The OpenAPI document: valid OpenAPI 3.1, generated from the code's tables, served, printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate as validate_spec

from mock_server import create_app, receipt, validate, wire
from mock_server.cli import cli
from mock_server.openapi import bundle, openapi_document
from mock_server.providers import KINDS
from mock_server.sendapi import NXCLOUD_ENDPOINTS
from mock_server.sendapi.esms import ENDPOINTS
from mock_server.sendapi.nxcloud import ZALO_ROUTES


@pytest.mark.parametrize("provider", [None, "nxcloud", "esms"])
def test_document_is_valid_openapi_3_1(provider: str | None) -> None:
    document = openapi_document(provider)
    assert document["openapi"] == "3.1.0"
    validate_spec(document)


def test_every_esms_endpoint_is_a_path_with_its_method() -> None:
    paths = openapi_document("esms")["paths"]
    for endpoint in ENDPOINTS:
        keys = tuple(getattr(endpoint, "path_keys", ()))
        base = "" if getattr(endpoint, "root", False) else "/MainService.svc/json"
        path = f"{base}/{endpoint.name}" + "".join(f"/{{{key}}}" for key in keys)
        operation = paths[path][endpoint.method.lower()]
        if endpoint.method == "GET":
            names = {p["name"] for p in operation["parameters"]}
            assert {"ApiKey", "SecretKey"} <= names, path
        else:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body == {"$ref": f"#/components/schemas/{endpoint.schema}"}
    assert len(paths) == len({(e.name, getattr(e, "root", False)) for e in ENDPOINTS})


def test_every_nxcloud_route_is_documented_and_served() -> None:
    paths = openapi_document("nxcloud")["paths"]
    served = {rule.rule for rule in create_app().url_map.iter_rules()
              if rule.rule.startswith(("/v1/", "/api/")) and "<" not in rule.rule}
    assert served == set(paths)
    for route in ZALO_ROUTES:
        operation = paths[route.path]["post"]
        assert {p["name"] for p in operation["parameters"] if p["in"] == "header"} >= {"sign", "ts"}
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer == {"$ref": f"#/components/schemas/{route.answer}"}
        assert "1003 bad signature" in operation["responses"]["200"]["description"]
    for endpoint in NXCLOUD_ENDPOINTS:
        body = paths[endpoint.path][endpoint.method.lower()]["requestBody"]["content"]
        media = "application/x-www-form-urlencoded" if endpoint.body == "form" \
            else "application/json"
        assert body == {media: {"schema": {
            "$ref": f"#/components/schemas/{endpoint.request_schema}"}}}


def test_webhooks_use_each_providers_transport() -> None:
    webhooks = openapi_document()["webhooks"]
    assert set(webhooks) == set(KINDS)
    for name in KINDS:
        request = wire(name, receipt(name, seed=1), "http://127.0.0.1/hook")
        operation = webhooks[name][request.method.lower()]
        if not request.body:  # eSMS (and form reports moved to the URL): query parameters
            names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
            assert set(receipt(name, seed=1)) <= names, name
        else:  # NXCloud: a JSON (or form) body
            media = dict(request.headers)["Content-Type"].split(";")[0]
            schema = operation["requestBody"]["content"][media]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{name}"}
    assert "get" in webhooks["esms.zns.normal"] and "post" in webhooks["nxcloud.zalo.success"]


def test_webhook_examples_are_the_providers_own_and_valid() -> None:
    webhooks = openapi_document()["webhooks"]
    body = webhooks["nxcloud.zalo.success"]["post"]["requestBody"]["content"]
    example = body["application/json"]["examples"]["provider"]["value"]
    assert validate(example, kind="nxcloud.zalo.success") == []
    parameters = webhooks["esms.zalo.follower"]["get"]["parameters"]
    type_id = next(p for p in parameters if p["name"] == "TypeId")
    assert set(type_id["examples"]) == {"consulting", "transaction", "user_info"}
    error_info = next(p for p in parameters if p["name"] == "error_info")
    assert error_info["x-dlrmock-decoded-schema"] == {
        "$ref": "#/components/schemas/esms.error_info.send_result"}


def test_components_refer_only_inside_the_document() -> None:
    text = json.dumps(openapi_document())
    assert "https://dlrmock.dev/schemas/common.json#" not in text
    document = json.loads(text)
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    components = document["components"]["schemas"]
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.split("/")[3] in components, ref


def test_bundle_is_self_contained() -> None:
    from jsonschema import Draft202012Validator

    schema = bundle("esms.zns.normal")
    assert "https://dlrmock.dev" not in json.dumps({k: v for k, v in schema.items()
                                                    if k != "$defs"})
    validator = Draft202012Validator(schema)
    from mock_server import receipt

    assert list(validator.iter_errors(receipt("esms.zns.normal", seed=1))) == []
    assert list(validator.iter_errors({"TypeId": "25"}))


def test_served_document_names_the_server() -> None:
    client = create_app().test_client()
    answer = client.get("/_dlrmock/openapi.json?provider=esms")
    assert answer.status_code == 200
    assert answer.json["servers"] == [{"url": "http://localhost"}]
    assert answer.json["paths"].keys() == openapi_document("esms")["paths"].keys()
    assert "/v1/zalo/mt" not in answer.json["paths"]
    wrong = client.get("/_dlrmock/openapi.json?provider=esmss")
    assert wrong.status_code == 400
    assert "unknown provider 'esmss'" in wrong.json["message"]


def test_cli_prints_and_writes_the_document(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["openapi", "--provider", "nxcloud"])
    assert printed.exit_code == 0
    assert json.loads(printed.output) == openapi_document("nxcloud")
    target = tmp_path / "dlrmock.json"
    written = runner.invoke(cli, ["openapi", "--output", str(target)])
    assert written.exit_code == 0 and written.output == ""
    assert json.loads(target.read_text("utf-8"))["webhooks"].keys() == KINDS.keys()


def test_cli_refuses_an_unwritable_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["openapi", "--output", str(tmp_path / "no" / "x.json")])
    assert result.exit_code == 2
    assert "cannot write" in result.output


def test_every_webhook_example_is_a_valid_receipt_of_its_kind() -> None:
    checked = 0
    for name, item in openapi_document()["webhooks"].items():
        (operation,) = item.values()
        examples: dict[str, dict[str, Any]] = {}
        for parameter in operation.get("parameters", ()):
            for label, example in parameter.get("examples", {}).items():
                examples.setdefault(label, {})[parameter["name"]] = example["value"]
        for content in operation.get("requestBody", {}).get("content", {}).values():
            for label, example in content.get("examples", {}).items():
                examples[label] = example["value"]
        for label, example in examples.items():
            assert validate(example, kind=name) == [], (name, label)
            checked += 1
    examples = (Path(__file__).parents[1] / "schemas" / "examples").iterdir()
    assert checked >= len([p for p in examples if not p.name.endswith(".template.url")])
