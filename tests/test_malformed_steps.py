"""What a scenario step's ``malformed`` mode puts on the wire, over a real socket: each mode
breaks the receipt the way its name says (docs/scenarios.md, "Per-step faults"), and the run's
``payloads`` show the receipt as it was sent. (That every mode makes every kind invalid:
test_engine.py.)"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from targets import Target

from mock_server import Engine, ErrorInfoError, wire
from mock_server._wire import decode_error_info

NXCLOUD = "nxcloud.zalo.success"
ESMS_ZALO = "esms.zns.normal"


def _play(
    engine: Engine, target: Target, kind: str, mode: str
) -> tuple[bytes, str, dict[str, Any]]:
    run = engine.play({"steps": [{"kind": kind, "malformed": mode}]}, target.url).wait(5)
    (request,) = target.wait_for(1)
    assert [a.malformed for a in run.attempts] == [mode]
    return request.body, request.path, run.payloads[0]


def test_bad_json_sends_the_first_half_of_the_json_body(engine: Engine, target: Target) -> None:
    body, _, payload = _play(engine, target, NXCLOUD, "bad_json")

    whole = wire(NXCLOUD, payload, target.url).body
    assert body == whole[: len(whole) // 2]
    assert len(body) > 10  # a receiver gets a cut JSON text, not an empty body


def test_bad_json_of_a_receipt_without_a_body_replaces_error_info_by_a_cut_json_text(
    engine: Engine, target: Target
) -> None:
    body, path, payload = _play(engine, target, ESMS_ZALO, "bad_json")

    params = parse_qsl(urlsplit(path).query, keep_blank_values=True)
    assert body == b""
    assert path.endswith("&error_info=%7B%22broken")
    assert [value for name, value in params if name == "error_info"] == ['{"broken']
    assert payload["error_info"] == '{"broken'
    assert [name for name, _ in params if name != "error_info"] == [
        name for name in payload if name != "error_info"]


def test_bad_error_info_sends_an_error_info_that_does_not_decode_in_its_place(
    engine: Engine, target: Target
) -> None:
    _, path, payload = _play(engine, target, ESMS_ZALO, "bad_error_info")

    params = parse_qsl(urlsplit(path).query, keep_blank_values=True)
    assert [name for name, _ in params] == list(payload)  # every field, in its place
    (sent,) = [value for name, value in params if name == "error_info"]
    assert sent == payload["error_info"]
    with pytest.raises(ErrorInfoError):
        decode_error_info(sent)
