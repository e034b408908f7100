"""Receipt families as data (providers/_base.py): acknowledgement rules, transports, binding,
and a toy family registered in a test and played end to end over a loopback socket."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from faker import Faker

from mock_server import Engine
from mock_server.providers import (
    FAMILIES,
    KINDS,
    PROVIDERS,
    DeliveryPolicy,
    Family,
    Payload,
    Provider,
    ReceiptKind,
    Transport,
    WireRequest,
)
from mock_server.providers._base import POST_JSON, random_hex
from tests.targets import Target

MakeTarget = Callable[..., Target]


# ------------------------------------------------------- what the shipped families declare
@pytest.mark.parametrize(
    ("family", "rule", "transport", "retried_on_http_error"),
    [
        ("nxcloud.zalo", "2xx", "POST JSON", False),
        ("nxcloud.sms", "success", "POST form", False),
        ("nxcloud.nxcc", "200", "POST JSON with token", False),
        ("nxcloud.number_check", "200", "POST JSON", True),
        ("esms.zns", "2xx", "GET query", False),
        ("esms.voice", "200", "GET query", True),
    ],
)
def test_each_family_declares_its_rule_and_transport(
    family: str, rule: str, transport: str, retried_on_http_error: bool
) -> None:
    declared = FAMILIES[family]
    assert declared.policy is not None and declared.transport is not None
    assert declared.policy.acknowledge == rule
    assert declared.transport.name == transport
    assert ("http_error" in declared.policy.retry_on) is retried_on_http_error


def test_every_kind_is_bound_to_the_provider_and_family_that_list_it() -> None:
    for provider in PROVIDERS.values():
        for name, kind in provider.kinds.items():
            assert kind.provider is provider
            assert kind.family is FAMILIES[kind.family_name]
            assert name.startswith(kind.family_name + ".")
            assert kind.message_key and kind.discriminator and kind.typed_field


def test_values_are_text_exactly_when_the_transport_says_so() -> None:
    assert KINDS["esms.sms.cskh"].transport.text_values
    assert KINDS["nxcloud.sms.delivered"].transport.text_values
    assert not KINDS["nxcloud.zalo.success"].transport.text_values


def test_two_kinds_of_one_family_with_different_policies_are_refused() -> None:
    def build(fake: Faker, message: dict[str, Any]) -> Payload:
        return {}

    one = Family("toy.ping", DeliveryPolicy(retries=1))
    other = Family("toy.ping", DeliveryPolicy(retries=2))
    refused = re.escape("'toy.ping.b' declares a different family 'toy.ping'")
    with pytest.raises(ValueError, match=refused):
        _toy_provider({
            "toy.ping.a": ReceiptKind("toy.ping.a", "a", build, family=one),
            "toy.ping.b": ReceiptKind("toy.ping.b", "b", build, family=other),
        })


# ------------------------------------------------------------------------- a toy family
def _plain_text(
    kind: ReceiptKind, payload: Payload, url: str, encoding: object = None
) -> WireRequest:
    body = "".join(f"{name}: {value}\n" for name, value in payload.items()).encode()
    headers = (("Content-Type", "text/plain; charset=utf-8"), *kind.transport.headers)
    return WireRequest("POST", url, headers, body)


PLAIN_TEXT = Transport(
    "POST text", "POST", "text", text_values=True, encode=_plain_text,
    route_hint="posts {family} receipts as plain text", headers=(("X-Toy", "1"),),
)
TOY_POLICY = DeliveryPolicy(
    timeout=2.0, retries=2, retry_interval=0.0, retry_on=frozenset({"http_error"}),
    acknowledge="200",
)


def _toy_message(fake: Faker) -> dict[str, Any]:
    return {"pingId": "ping-" + random_hex(fake, 8), "count": 3}


def _toy_build(state: str) -> Callable[[Faker, dict[str, Any]], Payload]:
    def build(fake: Faker, message: dict[str, Any]) -> Payload:
        return {"pingId": message["pingId"], "state": state, "count": message["count"]}

    return build


def _toy_provider(kinds: dict[str, ReceiptKind]) -> Provider:
    return Provider(
        name="toy",
        title="Toy",
        description="a provider that exists only in this test",
        kinds=kinds,
        policy=DeliveryPolicy(),
        transport=POST_JSON,
        message_key="pingId",
        new_message=_toy_message,
        detect=lambda payload: None,
        discriminator="state",
        typed_field="count",
    )


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    """The toy provider's family registered for this test only."""
    family = Family("toy.ping", TOY_POLICY, PLAIN_TEXT)
    provider = _toy_provider({
        f"toy.ping.{state}": ReceiptKind(f"toy.ping.{state}", state, _toy_build(state),
                                         family=family)
        for state in ("sent", "read")
    })
    monkeypatch.setitem(PROVIDERS, provider.name, provider)
    for name, kind in provider.kinds.items():
        monkeypatch.setitem(KINDS, name, kind)
    for name, bound in provider.families.items():
        monkeypatch.setitem(FAMILIES, name, bound)
    yield provider


TOY_SCENARIO = {
    "name": "toy.ping.read",
    "steps": [{"kind": "toy.ping.sent"}, {"kind": "toy.ping.read", "after": 1}],
}


def test_a_toy_family_plays_end_to_end_with_its_own_transport(
    toy: Provider, engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target(status=200, body=b"")
    run = engine.play(TOY_SCENARIO, target.url).wait(10)

    assert run.ok, run.journal_text()
    assert run.provider == "toy" and run.message_id == run.message["pingId"]
    requests = target.wait_for(2)
    assert [r.header("X-Toy") for r in requests] == ["1", "1"]
    assert requests[0].header("Content-Type") == "text/plain; charset=utf-8"
    assert [r.body.decode() for r in requests] == [
        f"pingId: {run.message['pingId']}\nstate: {state}\ncount: 3\n" for state in ("sent", "read")
    ]


def test_a_toy_family_is_retried_and_refused_by_its_own_rule(
    toy: Provider, engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target(status=201, body=b"ok")
    run = engine.play({"steps": [{"kind": "toy.ping.sent"}]}, target.url).wait(10)

    assert [a.outcome for a in run.attempts] == ["http_error"] * 3  # 1 + 2 retries
    assert target.count() == 3
    [failure] = run.failures()
    assert "the provider wants exactly HTTP 200; it answered HTTP 201 'ok'" in failure


def test_a_toy_family_gets_malformed_steps_and_hints_from_its_data(
    toy: Provider, engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target(status=404, body=b"")
    run = engine.play(
        {"steps": [{"kind": "toy.ping.sent", "malformed": "missing_field"}]}, target.url
    ).wait(10)
    assert target.wait_for(1)[0].body == b"count: 3\n"  # pingId and state dropped

    run = engine.play({"steps": [{"kind": "toy.ping.sent"}]}, target.url).wait(10)
    [failure] = run.failures()
    assert ("hint: Toy posts toy.ping receipts as plain text; does your route accept POST at "
            "this path?") in failure


def test_a_scenario_of_a_third_provider_is_refused_by_a_send_api_naming_it(toy: Provider) -> None:
    from mock_server.sendapi._outcomes import choose

    refused = re.escape("'toy.ping.read' is a scenario of toy; this is the esms API")
    with pytest.raises(ValueError, match=refused):
        choose("toy.ping.read", "esms")
