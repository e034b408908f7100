"""An OpenAPI 3.1 document of the emulated providers, generated from dlrmock's own tables.

``paths`` are the send APIs (eSMS's :data:`~mock_server.sendapi.esms.ENDPOINTS`, NXCloud's
:data:`~mock_server.sendapi.nxcloud.ZALO_ROUTES` and any further NXCloud endpoint table);
``webhooks`` are the receipt kinds (:data:`~mock_server.providers.KINDS`), each described with
the request its provider really sends: a sample receipt is encoded with the kind's own transport
and the method, content type and query-or-body are read off the result. Every schema is one of
``schemas/`` under ``components/schemas``, its ``$ref``s rewritten to point inside the document,
so tools never fetch anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from . import sendapi
from ._errors import DlrmockError
from ._factory import receipt, wire
from ._registry import SCHEMA_BASE, schema, schema_dir
from ._sendapi_examples import FOLDER, ILLUSTRATES, SendExample, send_examples
from ._version import __version__
from ._wire import parse_callback
from .providers import KINDS, PROVIDERS, ReceiptKind
from .sendapi import esms as esms_api
from .sendapi import nxcloud as nxcloud_api
from .sendapi.nxcloud_signed import EXPECTED_SIGN_HEADER, SIGNED_STRING_HEADER, Signing

__all__ = ["OPENAPI_VERSION", "bundle", "openapi_document"]

OPENAPI_VERSION = "3.1.0"
COMPONENTS = "#/components/schemas/"
_SAMPLE_TARGET = "http://receiver.invalid/hook"
"""The URL a sample receipt is encoded for, to read its transport off the request."""
_ERROR_CODE_FIELDS = ("CodeResult", "CodeResponse", "code")
_INVALID_REQUEST = {"esms": "esms.invalid_request"}
"""The answer schema of a request a provider refuses as invalid (404, 405, 413), when it is
not the API's own answer schema."""
EXAMPLES_BASE = f"{SCHEMA_BASE}{FOLDER}/"
"""Where a documented send-API example is published (the summary of its Example Object)."""


def openapi_document(provider: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``provider`` (``nxcloud``, ``esms``), or of both."""
    if provider is not None and provider not in PROVIDERS:
        raise DlrmockError(
            f"unknown provider {provider!r}; use one of {', '.join(PROVIDERS)} (or none for both)"
        )
    names = [provider] if provider else list(PROVIDERS)
    components = _Components()
    paths: dict[str, Any] = {}
    if "nxcloud" in names:
        paths.update(_nxcloud_paths(components))
    if "esms" in names:
        paths.update(_esms_paths(components))
    webhooks = {
        kind.name: _webhook(kind, components)
        for kind in KINDS.values()
        if kind.provider.name in names
    }
    title = "dlrmock: " + " and ".join(_TITLES.get(name, name) for name in names)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": __version__,
            "description": (
                "The send APIs dlrmock emulates and the delivery receipts it plays, generated "
                "from its schemas (https://dlrmock.dev/schemas/). `paths` answer like the "
                "provider; `webhooks` are what the provider sends to your receiver."
            ),
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "tags": [{"name": name, "description": PROVIDERS[name].description} for name in names],
        "paths": paths,
        "webhooks": webhooks,
        "components": {
            "schemas": components.schemas(),
            **({"securitySchemes": dict(_SECURITY_SCHEMES)} if "nxcloud" in names else {}),
        },
    }


_TITLES = {"nxcloud": "NXCloud", "esms": "eSMS.vn"}


# ----------------------------------------------------------------------------------- schemas
class _Components:
    """The schemas a document uses, each rewritten to refer inside the document."""

    def __init__(self) -> None:
        self._wanted: list[str] = []

    def ref(self, name: str, pointer: str = "") -> dict[str, Any]:
        """A ``$ref`` to schema ``name`` (and a JSON pointer inside it), adding it."""
        if name not in self._wanted:
            schema(name)  # an unknown schema name fails here, naming the candidates
            self._wanted.append(name)
        return {"$ref": COMPONENTS + name + pointer}

    def rewrite(self, node: Any, base: str) -> Any:
        """``node`` of schema ``base`` with its references pointing inside the document."""
        if isinstance(node, list):
            return [self.rewrite(item, base) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name, pointer = _split_ref(value, base)
                out[key] = self.ref(name, pointer)["$ref"]
            elif key in ("$id", "$schema"):
                continue
            else:
                out[key] = self.rewrite(value, base)
        return out

    def schemas(self) -> dict[str, Any]:
        done: dict[str, Any] = {}
        while len(done) < len(self._wanted):  # rewriting may want more schemas
            for name in list(self._wanted):
                if name not in done:
                    document = self.rewrite(schema(name), name)
                    document["$comment"] = f"published as {SCHEMA_BASE}{name}.json"
                    done[name] = document
        return {name: done[name] for name in sorted(done)}


def _split_ref(ref: str, base: str) -> tuple[str, str]:
    target, _, pointer = ref.partition("#")
    if not target:
        return base, pointer
    target = target.removeprefix(SCHEMA_BASE)
    return target.removesuffix(".json"), pointer


def _resolve(name: str, pointer: str) -> Any:
    node: Any = schema(name)
    for part in filter(None, pointer.split("/")):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _properties(name: str, node: Mapping[str, Any]) -> tuple[dict[str, tuple[Any, str]], set[str]]:
    """Every property of an object schema (following ``allOf``), with the schema it is in."""
    found: dict[str, tuple[Any, str]] = {}
    required = set(node.get("required", ()))
    for part in node.get("allOf", ()):
        if "$ref" in part:
            target, pointer = _split_ref(part["$ref"], name)
            more, more_required = _properties(target, _resolve(target, pointer))
        else:
            more, more_required = _properties(name, part)
        found.update(more)
        required |= more_required
    for key, value in node.get("properties", {}).items():
        found[key] = (value, name)
    return found, required


def _parameters(
    components: _Components, name: str, where: str, skip: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Schema ``name``'s properties as OpenAPI parameters ``in: where``."""
    found, required = _properties(name, schema(name))
    skipped = set(skip)
    parameters = []
    for key, (node, base) in found.items():
        if key in skipped:
            continue
        parameter: dict[str, Any] = {
            "name": key,
            "in": where,
            "required": key in required,
            "schema": components.rewrite(node, base),
        }
        if isinstance(node, Mapping) and isinstance(node.get("description"), str):
            parameter["description"] = node["description"]
        parameters.append(parameter)
    return parameters


def _error_codes(name: str) -> str:
    """The documented error codes of answer schema ``name`` (the descriptions of its code)."""
    texts: list[str] = []
    seen: set[tuple[str, str]] = set()

    def walk(node: Any, base: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, base)
        elif isinstance(node, dict):
            for key, value in node.get("properties", {}).items():
                text = value.get("description") if isinstance(value, dict) else None
                if key in _ERROR_CODE_FIELDS and isinstance(text, str) and text not in texts:
                    texts.append(text)
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    target, pointer = _split_ref(value, base)
                    if (target, pointer) not in seen:
                        seen.add((target, pointer))
                        walk(_resolve(target, pointer), target)
                elif key != "properties":
                    walk(value, base)

    walk(schema(name), name)
    return "; ".join(texts)


def _json(components: _Components, name: str) -> dict[str, Any]:
    return {"application/json": {"schema": components.ref(name)}}


# -------------------------------------------------------------------------------- send APIs
def _answers(components: _Components, answer: str | None, provider: str,
             media: str = "application/json") -> dict[str, Any]:
    """The documented responses: the provider's answer in HTTP 200 (as ``media``), and its
    error document for an unknown path, a method the API does not take or a body too large."""
    if answer is None:
        return {"200": {"description": f"{_TITLES[provider]}'s answer"}}
    codes = _error_codes(answer)
    described = f"{_TITLES[provider]}'s answer: accepted, or an error document" + (
        f" (codes: {codes})" if codes else ""
    )
    # eSMS answers these as an invalid request, in the one document its docs print for it.
    refused = _INVALID_REQUEST.get(provider, answer)
    content = {media: {"schema": components.ref(answer)}}
    error = {"description": "", "content": content if refused == answer
             else _json(components, refused)}
    return {
        "200": {"description": described, "content": content},
        "404": {**error, "description": "an API dlrmock does not emulate"},
        "405": {**error, "description": "a method this API does not take"},
        "413": {**error, "description": "a body larger than the max_body_bytes setting"},
    }


def _example(example: SendExample, value: Any = None) -> dict[str, Any]:
    """An Example Object of a documented example (``value``: the part of it this place shows)."""
    shown: dict[str, Any] = {"summary": f"{EXAMPLES_BASE}{example.path}"}
    if example.problem is None:
        shown["value"] = example.value if value is None else value
    else:  # kept as the docs print it, described, never repaired
        shown["description"] = f"Documented, but {example.problem}; shown verbatim in " \
                               "x-dlrmock-verbatim."
        shown["x-dlrmock-verbatim"] = example.text
    return shown


def _attach_examples(operation: dict[str, Any], operation_id: str) -> None:
    """The providers' documented examples of ``operation_id``, on its request and 200 answer."""
    examples = send_examples()
    mine = [examples[path] for path, names in ILLUSTRATES.items() if operation_id in names]
    parameters = {parameter["name"].lower(): parameter
                  for parameter in operation.get("parameters", ())}
    keys = [p for p in operation.get("parameters", ()) if p["in"] == "path"]
    for example in mine:
        if not example.request:
            content = operation["responses"]["200"]["content"]["application/json"]
            content.setdefault("examples", {})[example.label] = _example(example)
        elif "requestBody" in operation:
            media = "application/json" if example.path.endswith(".json") \
                else "application/x-www-form-urlencoded"
            content = operation["requestBody"]["content"][media]
            content.setdefault("examples", {})[example.label] = _example(example)
        else:  # query parameters, and the keys eSMS takes as path segments
            fields = dict(example.value)
            if keys:
                fields.update(zip((p["name"] for p in keys), example.segments[-len(keys):],
                                  strict=True))
            for name, value in fields.items():
                parameter = parameters.get(name.lower())
                if parameter is None:
                    raise DlrmockError(f"example {example.path!r} of {operation_id} has the "
                                       f"parameter {name!r}, which its schema does not list")
                parameter.setdefault("examples", {})[example.label] = _example(example, value)


def _esms_paths(components: _Components) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    base = esms_api.SERVICE_PATHS[0]
    for endpoint in esms_api.ENDPOINTS:
        keys = endpoint.path_keys
        prefix = "" if endpoint.root else base
        path = f"{prefix}/{endpoint.name}" + "".join(f"/{{{key}}}" for key in keys)
        operation: dict[str, Any] = {
            "operationId": f"esms.{endpoint.name}",
            "tags": ["esms"],
            "summary": schema(endpoint.schema).get("title", endpoint.name),
            "parameters": [
                {"name": key, "in": "path", "required": True, "schema": {"type": "string"}}
                for key in keys
            ],
            "responses": _answers(components, endpoint.answer, "esms"),
        }
        if endpoint.body == "query":
            operation["parameters"] += _parameters(components, endpoint.schema, "query", keys)
        else:
            content = _json(components, endpoint.schema)
            if endpoint.body == "form":
                content["application/x-www-form-urlencoded"] = {
                    "schema": components.ref(endpoint.schema)
                }
            operation["requestBody"] = {"required": True, "content": content}
        _attach_examples(operation, operation["operationId"])
        if not operation["parameters"]:
            del operation["parameters"]
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return paths


_SECURITY_SCHEMES = {
    "nxcloudAccessKey": {
        "type": "apiKey",
        "in": "header",
        "name": "accessKey",
        "description": "The account's access key (dlrmock: the access_key setting, by default "
                       "`dlrmock-access-key`); an unknown one is answered with code 1005.",
    },
    "nxcloudSign": {
        "type": "apiKey",
        "in": "header",
        "name": "sign",
        "description": "Lower-case hex MD5 of `accessKey=<accessKey>&action=<action>&bizType="
                       "<bizType>&ts=<ts>&body=<the raw body, byte for byte>&accessSecret="
                       "<secret>` (the four headers sorted by name; `&body=…` left out when the "
                       "body is empty). dlrmock's secret is the access_secret setting. A wrong "
                       "one is answered with code 1003, and the string dlrmock signed (secret "
                       f"masked) in the {SIGNED_STRING_HEADER} response header.",
    },
}
"""NXCloud's signed-API credentials, for ``components/securitySchemes``."""
_SIGNED_ANSWER_HEADERS = {
    SIGNED_STRING_HEADER: {
        "description": "On a 1003 (bad signature) answer: the string dlrmock signed, the secret "
                       "masked, percent-encoded as UTF-8.",
        "schema": {"type": "string"},
    },
    EXPECTED_SIGN_HEADER: {
        "description": "On a 1003 (bad signature) answer: the sign dlrmock expected.",
        "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    },
}


def _signed(operation: dict[str, Any], signing: Signing) -> None:
    """Document NXCloud's signed-API headers on ``operation``."""
    operation["security"] = [{name: [] for name in _SECURITY_SCHEMES}]
    operation["parameters"] = [
        {"name": "ts", "in": "header", "required": True,
         "description": "Milliseconds since the epoch; more than the max_skew_ms setting (60 s) "
                        "away from dlrmock's clock is answered with code 1004.",
         "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"}},
        {"name": "bizType", "in": "header", "required": True,
         "description": "The API family; another value is answered with code 1002.",
         "schema": {"type": "string", "enum": [signing.biz_type]}},
        {"name": "action", "in": "header", "required": True,
         "description": "The API; another value is answered with code 1002.",
         "schema": {"type": "string", "enum": [signing.action]}},
    ]
    operation["responses"]["200"]["headers"] = dict(_SIGNED_ANSWER_HEADERS)
    operation["description"] = (
        f"Signed (bizType {signing.biz_type}, action {signing.action}): the headers accessKey, "
        "ts, bizType, action and sign are required (1001 when one is missing); see the "
        "nxcloudSign security scheme for the signature."
    )


def _nxcloud_paths(components: _Components) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    routes: list[tuple[str, str, str, str | None, str | None, str, Signing | None, str]] = [
        ("POST", route.path, route.name, route.request, route.answer, "json", route.signing,
         "application/json") for route in nxcloud_api.ZALO_ROUTES]
    routes += [(e.method, e.path, e.name, e.request_schema, e.answer, e.body, e.signing,
                e.media) for e in sendapi.NXCLOUD_ENDPOINTS]
    for method, path, name, request_schema, answer, body, signing, media in routes:
        operation: dict[str, Any] = {
            "operationId": name,
            "tags": ["nxcloud"],
            "summary": schema(request_schema).get("title", name) if request_schema else name,
            "responses": _answers(components, answer, "nxcloud", media),
        }
        if signing is not None:
            _signed(operation, signing)
        if request_schema and method != "GET":
            media = "application/x-www-form-urlencoded" if body == "form" else "application/json"
            operation["requestBody"] = {
                "required": True, "content": {media: {"schema": components.ref(request_schema)}}
            }
        elif request_schema:
            operation["parameters"] = _parameters(components, request_schema, "query")
        _attach_examples(operation, name)
        paths.setdefault(path, {})[method.lower()] = operation
    return paths


# --------------------------------------------------------------------------------- webhooks
def _webhook(kind: ReceiptKind, components: _Components) -> dict[str, Any]:
    provider, policy = kind.provider, kind.policy
    sample = wire(kind, receipt(kind, seed=0), _SAMPLE_TARGET)
    content_type = next(
        (value for name, value in sample.headers if name.lower() == "content-type"), None
    )
    media = (content_type or "").split(";")[0].strip().lower()
    acknowledged = policy.rule.wants
    retried = (
        f"retried {policy.retries} times ({', '.join(sorted(policy.retry_on))}) every "
        f"{policy.retry_interval:g} s" if policy.retries else "sent once"
    )
    operation: dict[str, Any] = {
        "operationId": f"receipt.{kind.name}",
        "tags": [provider.name],
        "summary": kind.description,
        "description": (
            f"{provider.description}. Acknowledged by {acknowledged}; the provider waits "
            f"{policy.timeout:g} s for the answer, {retried}. Schema: "
            f"{SCHEMA_BASE}{kind.name}.json"
        ),
        "responses": {
            "2XX" if policy.acknowledge != "200" else "200": {
                "description": f"acknowledged ({acknowledged})"
            },
            "default": {"description": "not acknowledged: " + retried},
        },
    }
    examples = _examples(kind.name)
    if not sample.body:  # the receipt travels in the query string
        parameters = _parameters(components, kind.name, "query")
        for parameter in parameters:
            values = {
                label: {"value": example[parameter["name"]]}
                for label, example in examples.items()
                if parameter["name"] in example
            }
            if values:
                parameter["examples"] = values
            if parameter["name"] == "error_info" and kind.error_info_schema:
                parameter["description"] = (
                    "JSON, encoded one of four ways (see docs/scenarios.md, scenario files); "
                    f"decoded it follows {SCHEMA_BASE}{kind.error_info_schema}.json"
                )
                parameter["x-dlrmock-decoded-schema"] = components.ref(kind.error_info_schema)
        operation["parameters"] = parameters
    else:
        body: dict[str, Any] = {"schema": components.ref(kind.name)}
        if examples:
            body["examples"] = {label: {"value": value} for label, value in examples.items()}
        operation["requestBody"] = {
            "required": True,
            "content": {media or "application/octet-stream": body},
        }
    return {sample.method.lower(): operation}


def _examples(kind: str) -> dict[str, dict[str, Any]]:
    """The provider's own examples of ``kind``: ``schemas/examples/<kind>[.label].<ext>``
    (``json`` a JSON body, ``url`` a callback URL, ``form`` a form body), each file going to
    the longest kind its name starts with; ``<kind>.template.url`` parameter templates left out."""
    found: dict[str, dict[str, Any]] = {}
    folder = schema_dir() / "examples"
    if not folder.is_dir():
        return found
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".template.url"):
            continue  # a parameter template (blank values) documents names, not a receipt
        stem, _, suffix = entry.name.rpartition(".")
        owners = [name for name in KINDS if stem == name or stem.startswith(name + ".")]
        if not owners or max(owners, key=len) != kind:
            continue
        label = stem[len(kind) + 1:] or "provider"
        text = entry.read_text("utf-8").strip()
        if suffix == "json":
            found[label] = json.loads(text)
        elif suffix == "url":
            found[label] = parse_callback(text)
        elif suffix == "form":
            found[label] = dict(parse_qsl(text, keep_blank_values=True))
    return found


def bundle(name: str) -> dict[str, Any]:
    """Schema ``name`` as one self-contained document: the schemas it refers to under
    ``$defs`` (for tools that only follow references inside a document)."""
    components = _Components()
    root = components.rewrite(schema(name), name)
    definitions = components.schemas()
    text = json.dumps({**root, "$defs": {**root.get("$defs", {}), "dlrmock": definitions}})
    text = text.replace(f'"{COMPONENTS}', '"#/$defs/dlrmock/')
    result: dict[str, Any] = json.loads(text)
    return result
