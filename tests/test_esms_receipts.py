"""eSMS receipts beyond the TypeId callbacks' basics: ZNS by Zalo user id, the voice callback
and its own delivery rule, the short-code MO push — played through real sockets."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask, request
from targets import Target, refused_url
from werkzeug.serving import make_server

from mock_server import (
    Engine,
    builtin_scenarios,
    decode_error_info,
    detect_kind,
    load_payload,
    receipt,
    validate,
)
from mock_server._server import _QuietHandler
from mock_server.cli import cli
from mock_server.providers import get_kind
from mock_server.providers.esms_mo import DEFAULT_PRIVATE_KEY, mo_sign

MakeTarget = Callable[..., Target]
NEW_SCENARIOS = sorted(
    name for name in builtin_scenarios()
    if name.startswith(("esms.zns.uid.", "esms.voice.", "esms.mo."))
)  # fmt: skip


@contextmanager
def flask_receiver(app: Flask) -> Iterator[str]:
    """``app`` served by Werkzeug on 127.0.0.1, a free port, as a real receiver runs."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _query(target: Target, index: int = 0) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(target.requests[index].path).query, keep_blank_values=True))


def _example(examples_dir: Path, name: str) -> str:
    return (examples_dir / name).read_text("utf-8")


# ------------------------------------------------------------------- ZNS by Zalo user id
def test_the_documented_uid_callback_is_its_own_kind_and_zns_stays_zns(examples_dir: Path) -> None:
    assert detect_kind(_example(examples_dir, "esms.zns.uid.url")) == "esms.zns.uid"
    assert detect_kind(_example(examples_dir, "esms.zns.normal.url")) == "esms.zns.normal"


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"telcoid": "2"}, "esms.zns.uid"),  # phonenumber is still a user id
        ({"phonenumber": "0901888484"}, "esms.zns.uid"),  # telcoid 9 alone tells
        ({"telcoid": "2", "phonenumber": "0901888484"}, "esms.zns.normal"),
        ({"telcoid": "2", "phonenumber": "84901888484"}, "esms.zns.normal"),
        ({"TypeId": "24"}, "esms.zns.priority"),  # only TypeId 25 has a by-user-id variant
    ],
)
def test_uid_detection_reads_telcoid_and_phonenumber(
    examples_dir: Path, changes: dict[str, str], kind: str
) -> None:
    payload = load_payload(_example(examples_dir, "esms.zns.uid.url"))
    assert detect_kind({**payload, **changes}) == kind


def test_the_uid_example_is_checked_against_the_uid_result_schema(examples_dir: Path) -> None:
    assert get_kind("esms.zns.uid").error_info_schema == "esms.error_info.uid_result"
    url = _example(examples_dir, "esms.zns.uid.url")
    decoded = decode_error_info(dict(parse_qsl(urlsplit(url).query))["error_info"])
    assert decoded.data["data"]["delivery_time"] is None
    broken = url.replace("%22delivery_time%22%3Anull", "%22delivery_time%22%3A%5B%5D")
    assert [p.path for p in validate(broken)] == ["$.error_info.data.delivery_time"]


def test_uid_scenarios_carry_the_user_id_and_zalos_result(
    engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target()
    user_id = "5308693166941955879"
    delivered = engine.play(
        "esms.zns.uid.delivered", target.url, message={"user_id": user_id}
    ).wait(5)
    failed = engine.play("esms.zns.uid.failed", target.url).wait(5)
    assert delivered.ok and failed.ok
    ok, bad = _query(target, 0), _query(target, 1)
    assert (ok["TypeId"], ok["telcoid"], ok["phonenumber"]) == ("25", "9", user_id)
    assert list(ok)[-1] == "partnerids"  # last, as in eSMS's example
    assert decode_error_info(ok["error_info"]).data["data"]["status"] == 1
    assert decode_error_info(bad["error_info"]).data == {
        "error": -114,
        "message": "User is inactive, or reject the message, or using an outdated Zalo version, "
        "or other internal errors",
        "data": None,
    }
    assert [detect_kind(q) for q in (ok, bad)] == ["esms.zns.uid", "esms.zns.uid"]


# ------------------------------------------------------------------------------ voice call
def _voice_app(status: int, *, methods: tuple[str, ...] = ("GET",)) -> Flask:
    app = Flask("voice_receiver")
    app.config["seen"] = []

    @app.route("/esms/voice", methods=list(methods))
    def voice() -> tuple[str, int]:
        app.config["seen"].append(request.args.to_dict())
        return "", status

    return app


def test_a_voice_receiver_answering_200_is_acknowledged_at_once(engine: Engine) -> None:
    app = _voice_app(200)
    with flask_receiver(app) as base:
        run = engine.play(
            "esms.voice.call.delivered", f"{base}/esms/voice", message={"SMSID": "call-1"}
        ).wait(5)
    assert run.ok, run.journal_text()
    assert [(a.attempt, a.status, a.outcome) for a in run.attempts] == [(1, 200, "acknowledged")]
    seen = app.config["seen"]
    assert [s["ReferenceId"] for s in seen] == ["call-1"]
    assert (seen[0]["CallStatus"], seen[0]["SentResult"], seen[0]["SendStatus"]) == (
        "ANSWERED", "1", "5"
    )


@pytest.mark.parametrize("status", [201, 204, 500])
def test_a_voice_receiver_answering_anything_but_200_gets_five_retries(
    engine: Engine, status: int
) -> None:
    app = _voice_app(status)
    with flask_receiver(app) as base:
        run = engine.play("esms.voice.call.failed", f"{base}/esms/voice").wait(5)
    assert [a.status for a in run.attempts] == [status] * 6
    assert {a.outcome for a in run.attempts} == {"http_error"}
    assert len(app.config["seen"]) == 6
    assert not run.ok and "not acknowledged after 6 attempt(s)" in run.failures()[0]
    assert f"the provider wants exactly HTTP 200; it answered HTTP {status}" in run.failures()[0]


def test_a_voice_route_registered_for_post_sees_gets_answered_405_and_retried(
    engine: Engine,
) -> None:
    # A common receiver bug: eSMS calls with GET, the route only accepts POST.
    app = _voice_app(200, methods=("POST",))
    with flask_receiver(app) as base:
        run = engine.play("esms.voice.call.delivered", f"{base}/esms/voice").wait(5)
    assert [a.status for a in run.attempts] == [405] * 6
    assert {a.request.method for a in run.attempts} == {"GET"}
    assert not run.ok


@pytest.mark.parametrize("fault", ["refused", "close", "never", "reset", "garbage"])
def test_voice_transport_failures_are_retried_five_times(
    engine: Engine, make_target: MakeTarget, fault: str
) -> None:
    url = refused_url() if fault == "refused" else make_target(fault).url
    # Only the silent target needs a short deadline; the others fail at once, and a short
    # deadline would turn a slow connect on a busy machine into a "timeout".
    timeout = 0.1 if fault == "never" else 5.0
    run = engine.play("esms.voice.call.delivered", url, policy={"timeout": timeout}).wait(30)
    expected = {"refused": "refused", "close": "closed", "never": "timeout", "reset": "reset",
                "garbage": "invalid_response"}[fault]
    assert [a.outcome for a in run.attempts] == [expected] * 6


def test_sms_callbacks_keep_their_own_rule_next_to_voice(
    engine: Engine, make_target: MakeTarget
) -> None:
    created, failing = make_target(status=201), make_target("error")
    sms_created = engine.play("esms.sms.cskh.delivered", created.url).wait(5)
    sms_failing = engine.play("esms.sms.cskh.delivered", failing.url).wait(5)
    voice_created = engine.play("esms.voice.call.delivered", created.url).wait(5)
    assert [a.outcome for a in sms_created.attempts] == ["acknowledged"]  # any 2xx
    assert [a.outcome for a in sms_failing.attempts] == ["http_error"]  # timeouts only
    assert len(voice_created.attempts) == 6


def test_a_run_policy_still_overrides_the_voice_rule(
    engine: Engine, make_target: MakeTarget
) -> None:
    failing = make_target("error")
    run = engine.play("esms.voice.call.failed", failing.url, policy={"retries": 1}).wait(5)
    assert len(run.attempts) == 2
    lenient = engine.play(
        "esms.voice.call.failed", make_target(status=201).url, policy={"acknowledge": "2xx"}
    ).wait(5)
    assert lenient.ok


def test_voice_scenarios_play_as_described(engine: Engine, make_target: MakeTarget) -> None:
    target = make_target()
    retried = engine.play("esms.voice.call.retried_after_lost_ack", target.url).wait(5)
    assert [a.outcome for a in retried.attempts] == ["lost_ack", "lost_ack", "acknowledged"]
    duplicate = engine.play("esms.voice.call.duplicate", target.url).wait(5)
    assert len(duplicate.attempts) == 2 and duplicate.ok
    assert duplicate.attempts[0].request.url == duplicate.attempts[1].request.url
    no_answer = engine.play("esms.voice.call.no_answer", target.url).wait(5)
    failed = engine.play("esms.voice.call.failed", target.url).wait(5)
    assert no_answer.payloads[0]["CallStatus"] == "NO ANSWER"
    assert (failed.payloads[0]["CallStatus"], failed.payloads[0]["SentResult"]) == ("", "0")
    assert failed.payloads[0]["Price"] == "0.0000"


def test_generated_voice_callbacks_follow_the_documented_example(examples_dir: Path) -> None:
    documented = list(dict(parse_qsl(urlsplit(
        _example(examples_dir, "esms.voice.call.url")).query, keep_blank_values=True)))
    failed = receipt("esms.voice.call", seed=1, message={"outcome": "failed"})
    assert list(failed) == documented
    assert {k: failed[k] for k in ("CallDuration", "CallStatus", "Ivr", "SentResult", "CID")} == {
        "CallDuration": "0", "CallStatus": "", "Ivr": "", "SentResult": "0", "CID": "02871002454"
    }  # fmt: skip


# --------------------------------------------------------------------------- short-code MO
def test_mo_sign_is_base64_of_the_raw_md5() -> None:
    # The doc's worked example string and the PHP sample's input, recomputed.
    assert mo_sign("abcdef", "1234", "xyz", "", "17417a0d20114d36a902e49cad0e97f3") == (
        "O85nc2XByOhTm8a8t2rYKA=="
    )
    assert mo_sign("qwerty", "", "", "", "uiop") == "buqbfvGReaBpVO3Q9sBc6w=="


def test_a_generated_mo_verifies_with_the_partners_key(
    engine: Engine, make_target: MakeTarget
) -> None:
    target = make_target()
    run = engine.play(
        "esms.mo.shortcode.received",
        target.url,
        message={"phonenumber": "0901888484", "private_key": "k-1"},
    ).wait(5)
    assert run.ok
    mo = _query(target)
    assert mo["sender"] == "84901888484" and mo["keyword"] == mo["content"].split()[0]
    assert mo["sign"] == mo_sign(mo["cpid"], mo["smsid"], mo["content"], mo["receiverTime"], "k-1")
    assert mo["sign"] != mo_sign(
        mo["cpid"], mo["smsid"], mo["content"], mo["receiverTime"], DEFAULT_PRIVATE_KEY
    )
    assert validate(mo, strict=True) == [] and detect_kind(mo) == "esms.mo.shortcode"


def test_a_receiver_answering_the_documented_client_response_acknowledges_the_mo(
    engine: Engine,
) -> None:
    app = Flask("mo_receiver")

    @app.get("/receive_mo")
    def receive_mo() -> tuple[str, int, dict[str, str]]:
        reply = (
            f"<ClientResponse><Message>Cam on</Message><Smsid>{request.args['smsid']}</Smsid>"
            f"<Receiver>{request.args['sender']}</Receiver></ClientResponse>"
        )
        return reply, 200, {"Content-Type": "text/xml"}

    with flask_receiver(app) as base:
        run = engine.play("esms.mo.shortcode.received", f"{base}/receive_mo").wait(5)
    assert run.ok, run.journal_text()
    assert run.attempts[0].response_body.startswith("<ClientResponse>")


# ------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("scenario", NEW_SCENARIOS)
def test_dlrmock_play_runs_every_new_scenario(scenario: str, target: Target) -> None:
    result = CliRunner(env={"DLRMOCK_ADMIN_TOKEN": None}).invoke(
        cli, ["play", scenario, "--to", target.url, "--time-scale", "0", "--json", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    attempts = json.loads(result.stdout)["attempts"]
    assert attempts and all(a["request"]["method"] == "GET" for a in attempts)
    kind = builtin_scenarios()[scenario].steps[0].kind
    assert validate(attempts[-1]["request"]["url"], kind=kind, strict=True) == []


def test_dlrmock_validate_shows_the_error_info_trailer(examples_dir: Path) -> None:
    url = _example(examples_dir, "esms.zns.uid.url").strip().replace(
        "}}&oaid", "}}Object%20reference%20not%20set%20to%20an%20instance%20of%20an%20object.&oaid"
    )
    runner = CliRunner()
    text = runner.invoke(cli, ["validate", "--strict", url])
    assert text.exit_code == 0, text.output
    assert text.output.splitlines() == [
        "valid esms.zns.uid (strict)",
        "  note: error_info has text after its JSON, kept as the trailer: "
        "'Object reference not set to an instance of an object.'",
    ]
    report = json.loads(runner.invoke(cli, ["validate", "--json", url]).output)
    assert report["error_info_trailer"] == "Object reference not set to an instance of an object."
    plain = json.loads(runner.invoke(cli, ["validate", "--json", url.replace(
        "Object%20reference%20not%20set%20to%20an%20instance%20of%20an%20object.", "")]).output)
    assert "error_info_trailer" not in plain


@pytest.mark.parametrize("example", ["esms.voice.call.url", "esms.zns.uid.url"])
def test_strict_validate_leaves_out_the_receivers_own_parameters(
    examples_dir: Path, example: str
) -> None:
    url = _example(examples_dir, example).strip().replace("?", "?token=abc&", 1)
    result = CliRunner().invoke(cli, ["validate", "--strict", "--json", url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ignored_parameters"] == ["token"]


def test_strict_validate_leaves_out_the_receivers_own_parameters_before_an_mo() -> None:
    mo = receipt("esms.mo.shortcode", seed=4)
    url = "https://partner.example/receive_mo?key=k&" + "&".join(
        f"{name}={quote(value, safe='')}" for name, value in mo.items()
    )
    result = CliRunner().invoke(cli, ["validate", "--strict", "--json", url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ignored_parameters"] == ["key"]
