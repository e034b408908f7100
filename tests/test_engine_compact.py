"""What a large journal keeps of a finished run is compacted (the whole run as one blob,
compressed against a dictionary per scenario); everything it shows comes back exactly."""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from targets import Target

from mock_server import Engine
from mock_server._engine import Journal
from mock_server._engine.compact import compress, decompress, pack, unpack


def test_a_finished_run_shows_exactly_what_its_webhook_received(
    engine: Engine, target: Target
) -> None:
    runs = [engine.play(name, target.url, seed=5).wait(5) for name in
            ("nxcloud.zalo.success_then_delivered", "esms.sms.cskh.delivered")]
    for run in runs:
        run.compact()

    received = target.requests
    assert [a.request.body for r in runs for a in r.attempts] == [q.body for q in received]
    assert json.loads(received[0].body) == runs[0].payloads[0]
    assert runs[1].attempts[0].request.url.endswith(received[2].path)
    assert isinstance(runs[0].message["sent_at"], datetime)
    headers = dict(runs[0].attempts[0].request.headers)
    assert headers["Content-Length"] == str(len(received[0].body))
    assert headers["User-Agent"] == received[0].header("User-Agent")


def test_the_json_form_of_a_run_is_the_same_before_and_after_it_is_packed(
    engine: Engine, target: Target
) -> None:
    run = engine.play("esms.zns.normal.delivered", target.url, clock="manual")
    run.step()
    before = run.as_dict()  # still running: nothing packed yet
    run.step()
    run.wait(5).compact()

    after = run.as_dict()
    assert after["message"] == before["message"] and after["payloads"] == before["payloads"]
    assert after["attempts"][0] == before["attempts"][0]


def test_receipts_sent_in_the_url_keep_their_own_payloads_once_packed(
    engine: Engine, target: Target
) -> None:
    # Both OTA reports go in the query string: two empty bodies, the same bytes object.
    run = engine.play("nxcloud.ota.pending_then_mismatch", target.url).wait(5)
    run.compact()

    received = [parse_qs(urlsplit(r.path).query)["status"] for r in target.requests]
    assert received == [["PENDING"], ["MISMATCH"]]
    assert [[p["status"]] for p in run.payloads] == received
    assert [a.request.url for a in run.attempts] == [
        target.url.rsplit("/", 1)[0] + r.path for r in target.requests]


def test_the_journal_compacts_finished_runs_once_it_is_large(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Journal, "COMPACT_AFTER", 3)
    with Engine(time_scale=0) as engine:
        small = [engine.play("nxcloud.zalo.failed", target.url).wait(5) for _ in range(2)]
        assert all(isinstance(run.packed_message, dict) for run in small)
        payloads = [run.payloads for run in small]

        more = [engine.play("nxcloud.zalo.failed", target.url).wait(5) for _ in range(2)]

        for run in small + more:
            assert isinstance(run.packed_message, bytes), run.id
            assert run.attempts[0].request.body not in run.packed_message  # compressed, whole
        assert [run.payloads for run in small] == payloads
        engine.reset()
        assert not engine.journal.compacting


def test_pack_keeps_datetimes_and_shares_an_identical_body() -> None:
    body = b'{"a":1,"b":"\xc3\xa9"}'
    assert pack({"a": 1, "b": "é"}, body) is body
    message = {"sent_at": datetime(2024, 3, 22, 1, 58, 39), "id": "x"}
    assert unpack(pack(message)) == message
    odd = {"when": {1, 2}}  # not JSON: kept as it is
    assert unpack(pack(odd)) == odd


def test_compress_gives_back_the_exact_bytes_and_saves_room_on_similar_bodies() -> None:
    first = json.dumps({"status": "success", "requestId": "a" * 32, "text": "x" * 200}).encode()
    second = first.replace(b"a" * 32, b"b" * 32)
    compress(first, "test.kind")
    small = compress(second, "test.kind")
    assert small is not None and decompress(small) == second and len(small) < len(second) / 4
    assert compress(b"short", "test.kind") is None  # not worth it: kept as it is


@pytest.mark.parametrize("name", ["nxcloud.sms.duplicate_delivered",
                                  "esms.sms.cskh.retried_after_lost_ack",
                                  "esms.voice.call.retried_after_lost_ack",
                                  "nxcloud.zalo.malformed_then_delivered"])
def test_a_packed_run_reads_back_every_field_of_its_deliveries_and_attempts(
    engine: Engine, target: Target, name: str
) -> None:
    run = engine.play(name, target.url, seed=3, time_scale=0).wait(5)
    before = run.as_dict()
    deliveries, attempts = list(run.deliveries), list(run.attempts)
    run.compact()

    assert isinstance(run.packed_message, bytes)
    assert run.as_dict() == before
    assert run.journal_text() == before["journal"]
    assert run.deliveries == deliveries and run.attempts == attempts
    assert run.attempt_count == len(attempts) == len(target.requests)
    assert [d.payload for d in run.deliveries] == [d.payload for d in deliveries]


# ------------------------------------------------- found by mutation testing (benchmarks/README.md)
def test_a_compacted_run_keeps_the_error_of_each_attempt(
    engine: Engine, make_target: Callable[..., Target]
) -> None:
    # "A compacted run shows exactly the same journal": an attempt without an answer keeps why.
    closing = make_target("close")
    run = engine.play("nxcloud.zalo.failed", closing.url).wait(5)
    before = run.attempts
    assert before[0].error, before  # the webhook closed without answering

    run.compact()

    assert isinstance(run.packed_message, bytes)
    assert run.attempts == before
    assert run.journal_text().count(f"error: {before[0].error}") == 1


def test_a_compacted_run_larger_than_its_dictionary_window_comes_back_whole(
    engine: Engine, make_target: Callable[..., Target]
) -> None:
    # 21 answers of 2 KiB each that do not compress: the packed run is larger than 32 KiB.
    noisy = make_target("ok", status=500, body=os.urandom(1500).hex().encode()[:2048])
    policy = {"retries": 20, "retry_interval": 0, "retry_on": ["http_error"]}
    run = engine.play("nxcloud.zalo.failed", noisy.url, policy=policy).wait(5)
    before = run.attempts
    assert len(before) == 21 and sum(len(a.response_body) for a in before) > 40_000

    run.compact()

    assert isinstance(run.packed_message, bytes)
    assert run.attempts == before


def test_receipts_of_one_kind_compress_against_the_first_one_to_a_fraction_of_their_size() -> None:
    # The module's promise ("shrinks to a fifth"): the first body of a family is the preset
    # dictionary of the others, so what they share costs next to nothing.
    def receipt(n: int) -> bytes:
        return json.dumps({"status": "delivered", "requestId": os.urandom(16).hex(),
                           "phone": f"8491234{n:04d}", "templateId": "template-778899",
                           "appkey": "app-key-for-the-mutation-test", "code": 0,
                           "message": "the message was delivered to the handset",
                           "timestamp": 1700000000000 + n}).encode()
    family = f"test.dictionary.{os.urandom(4).hex()}"  # a family no other test has used
    compress(receipt(0), family)
    later = receipt(1)
    alone = zlib.compressobj(9, zlib.DEFLATED, -15)
    on_its_own = len(alone.compress(later) + alone.flush())

    squeezed = compress(later, family)

    assert squeezed is not None and decompress(squeezed) == later
    assert len(squeezed) < on_its_own / 2, (len(squeezed), on_its_own, len(later))
