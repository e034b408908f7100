"""Delivery targets: the one URL parser, the allow-list, and blocked deliveries in the journal.

Nothing here connects beyond loopback: the allow-list is tested as a decision (``check``), and
the blocked runs point at addresses that are never connected to.
"""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from targets import Target
from test_sendapi_support import mt_body, nx_headers

from mock_server import AllowList, Config, DlrmockError, Engine, create_app
from mock_server._http import _split_url
from mock_server._targets import (
    AmbiguousTargetError,
    TargetError,
    check,
    is_loopback_host,
    parse,
    policy_for,
)
from mock_server.app import get_state

EXPOSED = "0.0.0.0"


# ------------------------------------------------------------------------------------ the parser
def test_a_backslash_in_the_query_is_kept_as_it_is_not_ambiguous() -> None:
    # eSMS error_info encoding 1 puts a quoted JSON string, backslashes included, in the query.
    target = parse('http://127.0.0.1:8000/hook?error_info="{\\"error\\":0}"#x\\y')
    assert (target.host, target.port) == ("127.0.0.1", 8000)
    assert target.path == '/hook?error_info="{\\"error\\":0}"'


@pytest.mark.parametrize(
    ("url", "host", "port", "path"),
    [
        ("http://127.0.0.1:8000/hook?a=1", "127.0.0.1", 8000, "/hook?a=1"),
        ("http://LocalHost/", "localhost", 80, "/"),
        ("http://[::1]:9000", "::1", 9000, "/"),
        ("http://hooks.internal:81?x=1#frag", "hooks.internal", 81, "/?x=1"),
        ("https://example.test/cb", "example.test", 443, "/cb"),
    ],
)
def test_a_plain_url_parses_into_host_port_and_request_target(
    url: str, host: str, port: int, path: str
) -> None:
    target = parse(url)
    assert (target.host, target.port, target.path) == (host, port, path)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:18510\\@evil.example/", "backslash"),
        ("http://127.0.0.1:18510@evil.example/", "user info"),
        ("http://user:pw@127.0.0.1/", "user info"),
        ("http://2130706433/", "IPv4 address in a form"),
        ("http://0x7f000001/", "IPv4 address in a form"),
        ("http://127.1/", "IPv4 address in a form"),
        ("http://0177.0.0.1/", "IPv4 address in a form"),
        ("http://127.0.0.1:0/", "port '0'"),
        ("http://127.0.0.1:/", "port ''"),
    ],
)
def test_an_ambiguous_url_is_refused_saying_why(url: str, why: str) -> None:
    with pytest.raises(AmbiguousTargetError, match=why):
        parse(url)
    assert check(url, None) is not None  # blocked even where every target is allowed


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://", "no host"),
        ("http://[::1", "unclosed"),
        ("http://127.0.0.1:70000/", "out of range"),
        ("http://a..b/", "not a valid host name"),
        ("ftp://x/", "unsupported URL scheme 'ftp'"),
        ("127.0.0.1:8000/hook", "must start with http://"),
    ],
)
def test_an_unusable_url_is_an_error_naming_it(url: str, why: str) -> None:
    with pytest.raises(TargetError, match=why) as raised:
        parse(url)
    assert repr(url) in str(raised.value)
    assert not isinstance(raised.value, AmbiguousTargetError)


def test_the_client_connects_where_the_parser_says() -> None:
    assert _split_url("http://127.0.0.1:8000/hook?x=1") == (
        "127.0.0.1", 8000, "/hook?x=1", "127.0.0.1:8000"
    )
    with pytest.raises(ValueError, match="backslash"):
        _split_url("http://127.0.0.1:18510\\@evil.example/")


# -------------------------------------------------------------------------------- the allow-list
def test_bound_to_loopback_every_target_is_allowed() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback_host(host)
        assert policy_for(host, ["10.0.0.0/8"]) is None


def test_bound_beyond_loopback_only_loopback_and_listed_targets_are_allowed() -> None:
    allow = policy_for(EXPOSED, ["10.0.0.0/8", "hooks.internal:9000", "[fd00::7]:8080"])
    assert allow is not None
    for url in (
        "http://127.0.0.1:9/",
        "http://127.0.0.77:8000/hook",
        "http://[::1]:8000/",
        "http://localhost:8000/",
        "http://10.1.2.3/hook",
        "http://hooks.internal:9000/cb",
        "http://[fd00::7]:8080/",
    ):
        assert check(url, allow) is None, url
    for url, shown in (
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254:80"),
        ("http://[::ffff:169.254.169.254]/", "169.254.169.254:80"),
        ("http://192.168.1.10:8000/", "192.168.1.10:8000"),
        ("http://[fd00::7]:8081/", "[fd00::7]:8081"),
    ):
        reason = check(url, allow)
        assert reason is not None and shown in reason and "--allow-target" in reason, url


def test_a_name_outside_the_list_is_allowed_only_if_it_resolves_to_allowed_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    answers = {"loop.test": "127.0.0.9", "inside.test": "10.0.0.5", "outside.test": "192.0.2.1"}

    def fake_getaddrinfo(host: str, port: int, *args: object, **kw: object) -> list[object]:
        if host not in answers:
            raise socket.gaierror(-2, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    allow = AllowList(["10.0.0.0/8"])
    assert check("http://loop.test:8000/", allow) is None
    assert check("http://inside.test/", allow) is None
    reason = check("http://outside.test/", allow)
    assert reason is not None and "resolves to 192.0.2.1" in reason
    reason = check("http://nowhere.test/", allow)
    assert reason is not None and "cannot resolve 'nowhere.test'" in reason  # not 'refused'


def test_a_star_allows_every_target() -> None:
    assert policy_for(EXPOSED, ["*"]) is None
    assert check("http://192.0.2.1/", AllowList(["*"])) is None


@pytest.mark.parametrize("entry", ["", "10.0.0.0/33", "host:0", "host:99999", "a..b", "[::1"])
def test_a_bad_allow_list_entry_is_an_error_naming_it(entry: str) -> None:
    with pytest.raises(DlrmockError, match="allow-target"):
        AllowList([entry])


def test_the_config_checks_allow_targets() -> None:
    with pytest.raises(DlrmockError, match="allow_targets"):
        Config(allow_targets="10.0.0.0/8")
    with pytest.raises(DlrmockError, match="allow_targets"):
        Config(allow_targets=["10.0.0.0/99"])


# ------------------------------------------------------------------------ blocked in the journal
def test_a_target_outside_the_list_is_journaled_blocked_and_never_connected(
    target: Target,
) -> None:
    with Engine(time_scale=0, allow_targets=AllowList()) as engine:
        run = engine.play("esms.sms.cskh.retried_after_lost_ack", "http://192.0.2.1:9/hook")
        run.wait(5)
        allowed = engine.play("nxcloud.zalo.failed", target.url).wait(5)
    assert [a.outcome for a in run.attempts] == ["blocked"]  # never retried
    assert run.attempts[0].error is not None and "192.0.2.1:9" in run.attempts[0].error
    assert not run.ok and "blocked" in run.failures()[0]
    assert engine.blocked_attempts == 1
    assert allowed.ok and target.count() == 1


def test_an_ambiguous_url_is_journaled_blocked_even_on_loopback(target: Target) -> None:
    tricky = target.url.replace("http://", "http://0x7f000001:1@")
    with Engine(time_scale=0) as engine:
        run = engine.play("nxcloud.zalo.failed", tricky).wait(5)
    assert [a.outcome for a in run.attempts] == ["blocked"]
    assert target.count() == 0


def _send(client: FlaskClient, webhook: str) -> dict[str, object]:
    raw = json.dumps(mt_body(drWebhook=webhook)).encode()
    response = client.post("/v1/zalo/mt", data=raw, headers=nx_headers(raw))
    answer: dict[str, object] = response.get_json()
    response.close()  # the receipts start once the answer has gone out
    return answer


def test_a_blocked_delivery_does_not_change_the_send_answer_and_is_counted() -> None:
    app = create_app(Config(time_scale=0))
    state = get_state(app)
    state.bind(EXPOSED)
    client = app.test_client()
    try:
        answer = _send(client, "http://169.254.169.254/latest/meta-data")
        assert answer["code"] == 0  # the provider would accept it too
        (run,) = state.engine.runs()
        run.wait(5)
        assert {a.outcome for a in run.attempts} == {"blocked"}
        health = client.get("/_dlrmock/health").get_json()
        assert health["blocked_attempts"] == len(run.attempts) >= 1
        assert health["allow_targets"] == "loopback only"
    finally:
        state.engine.close()


def test_mock_provider_bound_beyond_loopback_applies_the_allow_list() -> None:
    from mock_server import MockProvider

    provider = MockProvider(time_scale=0, allow_targets=["10.0.0.0/8"])
    provider.state.bind(EXPOSED)  # what start() does for host="0.0.0.0", without listening there
    allow = provider.state.engine.allow_targets
    assert allow is not None and allow.describe() == "loopback and 10.0.0.0/8"
    provider.state.bind("127.0.0.1")
    assert provider.state.engine.allow_targets is None


def test_a_name_allowed_by_its_address_is_delivered_to_that_address(
    monkeypatch: pytest.MonkeyPatch, target: Target
) -> None:
    import socket

    answers = {"pinned.test": "127.0.0.1"}
    real = socket.getaddrinfo

    def fake_getaddrinfo(host: str, port: int, *args: object, **kw: object) -> list[object]:
        if host == "pinned.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    url = target.url.replace("127.0.0.1", "pinned.test")
    with Engine(time_scale=0, allow_targets=AllowList()) as engine:
        run = engine.play("nxcloud.zalo.failed", url, clock="manual")
        answers["pinned.test"] = "192.0.2.1"  # DNS rebinding after the check
        run.step(5)
    assert [a.outcome for a in run.attempts] == ["acknowledged"]
    (received,) = target.wait_for(1)
    assert received.headers["Host"] == url.split("/")[2]  # the request still names the host
