"""The OpenAPI document: valid OpenAPI 3.1, generated from the code's tables, served, printed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from openapi_spec_validator import validate as validate_spec

from mock_server import MockProvider, create_app, receipt, validate, wire
from mock_server._registry import schema, validator_for
from mock_server._sendapi_examples import ILLUSTRATES, send_examples
from mock_server.cli import cli
from mock_server.openapi import EXAMPLES_BASE, bundle, openapi_document
from mock_server.providers import KINDS
from mock_server.sendapi import (
    EXPECTED_SIGN_HEADER,
    NXCLOUD_ENDPOINTS,
    SIGNED_STRING_HEADER,
    SendSettings,
    sign,
)
from mock_server.sendapi.esms import ENDPOINTS, canonical
from mock_server.sendapi.nxcloud import ZALO_ROUTES

SENDAPI_EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "sendapi-examples"


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
        assert operation["security"] == [{"nxcloudAccessKey": [], "nxcloudSign": []}]
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer == {"$ref": f"#/components/schemas/{route.answer}"}
        assert "1003 bad signature" in operation["responses"]["200"]["description"]
    for endpoint in NXCLOUD_ENDPOINTS:
        operation = paths[endpoint.path][endpoint.method.lower()]
        if endpoint.method == "GET":  # the query's fields, one parameter each
            names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
            assert names == set(schema(str(endpoint.request_schema))["properties"])
        else:
            media = "application/x-www-form-urlencoded" if endpoint.body == "form" \
                else "application/json"
            body = operation["requestBody"]["content"]
            assert list(body) == [media]
            assert body[media]["schema"] == {
                "$ref": f"#/components/schemas/{endpoint.request_schema}"}
        answer = operation["responses"]["200"]["content"][endpoint.media]["schema"]
        assert answer == {"$ref": f"#/components/schemas/{endpoint.answer}"}
        assert ("security" in operation) == (endpoint.signing is not None), endpoint.name


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _schema_name(reference: dict[str, Any]) -> str:
    return str(reference["$ref"]).removeprefix("#/components/schemas/")


def test_every_emulated_endpoint_has_a_request_and_an_answer_schema() -> None:
    document = openapi_document()
    operations = {(method.upper(), path): operation
                  for path, method, operation in _operations(document)}
    # NXCloud: one route per API; eSMS: one route for its service path, its table behind it.
    emulated = [(e.method, e.path) for e in NXCLOUD_ENDPOINTS]
    emulated += [("POST", route.path) for route in ZALO_ROUTES]
    root = [(e.method, f"/{e.name}") for e in ENDPOINTS if e.root]
    served = {rule.rule for rule in create_app().url_map.iter_rules()
              if "<" not in rule.rule and not rule.rule.startswith("/_dlrmock")}
    assert served == {path for _, path in emulated + root}
    for endpoint in ENDPOINTS:
        path = "" if endpoint.root else "/MainService.svc/json"
        path += f"/{endpoint.name}" + "".join(f"/{{{key}}}" for key in endpoint.path_keys)
        emulated.append((endpoint.method, path))
    assert len(operations) == len(set(emulated))
    for key in emulated:
        operation = operations[key]
        answers = operation["responses"]
        assert {"200", "404", "405", "413"} <= set(answers), key
        for status in ("200", "404", "405", "413"):
            [content] = answers[status]["content"].values()  # JSON, or plain text (conversion)
            assert _schema_name(content["schema"]), key
        if "requestBody" in operation:
            for content in operation["requestBody"]["content"].values():
                assert _schema_name(content["schema"]), key
        else:
            assert operation["parameters"], key


def test_every_esms_endpoint_answers_in_the_documented_shape() -> None:
    client = create_app().test_client()
    document = openapi_document("esms")
    for path, method, operation in _operations(document):
        url = path.replace("{ApiKey}", "nope").replace("{SecretKey}", "nope")
        answer = client.open(url, method=method.upper(), json={} if method == "post" else None)
        assert answer.status_code == 200, (path, answer.status_code)  # not the unknown-API 404
        documented = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert validator_for(_schema_name(documented)).is_valid(answer.get_json()), path


def test_signed_operations_document_the_headers_dlrmock_checks() -> None:
    document = openapi_document("nxcloud")
    schemes = document["components"]["securitySchemes"]
    assert {(s["in"], s["name"]) for s in schemes.values()} == {("header", "accessKey"),
                                                                 ("header", "sign")}
    settings = SendSettings()
    signed = [(path, operation) for path, _, operation in _operations(document)
              if "security" in operation]
    assert len(signed) == len(ZALO_ROUTES) + sum(e.signing is not None for e in NXCLOUD_ENDPOINTS)
    with MockProvider(time_scale=0) as provider:
        for path, operation in signed:
            # Only what the document says: its enum headers, a fresh ts, the key and the sign.
            headers = {p["name"]: p["schema"]["enum"][0] for p in operation["parameters"]
                       if p["in"] == "header" and "enum" in p["schema"]}
            headers.update(accessKey=settings.access_key, ts=str(int(time.time() * 1000)))
            body = b"{}"
            headers["sign"] = sign(headers, body, settings.access_secret)
            passed = requests.post(provider.url + path, data=body, timeout=5,
                                   headers={**headers, "Content-Type": "application/json"})
            # Past authentication: the empty body is refused as a parameter error.
            assert int(passed.json()["code"]) not in range(1001, 1006), (path, passed.json())
            refused = requests.post(provider.url + path, data=body, timeout=5,
                                    headers={**headers, "sign": "0" * 32})
            assert int(refused.json()["code"]) == 1003, (path, refused.json())
            answer_headers = operation["responses"]["200"]["headers"]
            assert refused.headers[EXPECTED_SIGN_HEADER] == headers["sign"]
            assert {EXPECTED_SIGN_HEADER, SIGNED_STRING_HEADER} <= set(answer_headers)


# ------------------------------------------------------------------- the providers' examples
def _shown(document: dict[str, Any]) -> dict[str, list[tuple[str, str, str, dict[str, Any]]]]:
    """Every Example Object of the send APIs by summary: (operationId, where, label, example)."""
    shown: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = {}
    for _, _, operation in _operations(document):
        places = [(media, content) for media, content in
                  operation.get("requestBody", {}).get("content", {}).items()]
        places += [("200", content) for content in
                   operation["responses"]["200"]["content"].values()]
        places += [(f"parameter {p['name']}", p) for p in operation.get("parameters", ())]
        for where, place in places:
            for label, example in place.get("examples", {}).items():
                shown.setdefault(example["summary"], []).append(
                    (operation["operationId"], where, label, example))
    return shown


def test_every_documented_send_example_is_in_the_document_where_it_belongs() -> None:
    shown = _shown(openapi_document())
    examples = send_examples()
    on_disk = {f"{p.parent.name}/{p.name}" for p in SENDAPI_EXAMPLES.glob("*/*")}
    assert set(examples) == on_disk and len(on_disk) > 100
    for path, example in examples.items():
        places = shown.get(EXAMPLES_BASE + path, [])
        assert {operation for operation, *_ in places} == set(ILLUSTRATES[path]), path
        for _, where, _, shape in places:
            assert where.startswith("parameter") == (example.path.endswith(".url")), path
            if example.problem is not None:
                assert shape["x-dlrmock-verbatim"] == (SENDAPI_EXAMPLES / path).read_text("utf-8")
                with pytest.raises(ValueError):
                    json.loads(example.text)
    assert len(shown) == len(examples)


def _placeholder(error: Any) -> bool:
    """A documented example's ``{{placeholder}}`` (the docs' template, not a value)."""
    return isinstance(error.instance, str) and "{{" in error.instance


def test_documented_send_examples_are_valid_against_their_operation() -> None:
    document = openapi_document()
    schemas = {f"esms.{e.name}": e.schema for e in ENDPOINTS}
    checked = 0
    for _, _, operation in _operations(document):
        identifier = operation["operationId"]
        requests: dict[str, dict[str, Any]] = {}
        answers: list[tuple[str, Any]] = []
        [content] = operation["responses"]["200"]["content"].values()
        for example in content.get("examples", {}).values():
            if "value" in example:
                answers.append((_schema_name(content["schema"]), example["value"]))
        for content in operation.get("requestBody", {}).get("content", {}).values():
            for label, example in content.get("examples", {}).items():
                if "value" in example:
                    requests[label] = example["value"]
        for parameter in operation.get("parameters", ()):
            for label, example in parameter.get("examples", {}).items():
                requests.setdefault(label, {})[parameter["name"]] = example["value"]
        request_schema = schemas.get(identifier) or _schema_name(next(iter(
            operation["requestBody"]["content"].values()))["schema"]) if requests else ""
        for label, value in requests.items():
            # eSMS matches parameter names case-insensitively (``Apikey``), as dlrmock does.
            fields = canonical(value) if identifier.startswith("esms.") else value
            errors = [e for e in validator_for(request_schema).iter_errors(fields)
                      if not _placeholder(e)]
            assert errors == [], (identifier, label, errors[0].message if errors else "")
            checked += 1
        for name, value in answers:
            assert list(validator_for(name).iter_errors(value)) == [], (identifier, value)
            checked += 1
    assert checked >= sum(e.problem is None for e in send_examples().values())


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
