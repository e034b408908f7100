"""NXCloud's legacy SMS look-ups match what the app sent, the way it sent it: the day on
NXCloud's clock (China time) whatever the machine's, a number given with its ``+``, a batch's
report ids, and each look-up captured with the messages it answered about.

Over real sockets, as the companion file ``test_nxcloud_sms_conversion_record_and_balance_apis``
(its helpers post forms the way NXCloud's Java SDK does): a :class:`MockProvider` at time scale 0
with two SMS applications and a DR receiver on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests
from test_nxcloud_sms_conversion_record_and_balance_apis import (
    APPS,
    CHINA,
    CONVERSION,
    DEADLINE,
    convert,
    explained,
    record,
    records,
    send,
    today,
)
from test_nxcloud_sms_sends_documented_codes_and_reports import (
    V1,
    V2,
    Receiver,
    messageid_of,
    signed,
)

from mock_server import MockProvider


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def nxcloud(receiver: Receiver) -> Iterator[MockProvider]:
    send_settings = {"nxcloud_default_webhook": receiver.url, "sms_apps": APPS}
    with MockProvider(time_scale=0, send=send_settings) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh(nxcloud: MockProvider) -> None:
    nxcloud.reset()


def test_today_is_the_day_on_china_time_while_utc_is_still_the_day_before(
        nxcloud: MockProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    messageid = send(nxcloud, scenario="no_receipt")
    day = today()
    # 01:00 China time of today is 17:00 UTC of the day before: NXCloud's clock says today.
    one_am = datetime.strptime(day, "%Y%m%d").replace(hour=1, tzinfo=CHINA).timestamp()
    monkeypatch.setattr(nxcloud.state.send_state, "clock", lambda: one_am)
    row = record(nxcloud, messageid, date=day).json()["row"]
    assert row["msgid"] == messageid
    info = records(nxcloud, date=day).json()["info"]
    assert [row["msgid"] for row in info["rows"]] == [messageid]


def test_a_number_sent_with_its_plus_converts_with_or_without_it_and_is_recorded_bare(
        nxcloud: MockProvider) -> None:
    messageid = send(nxcloud, phone="+84912340000", scenario="no_receipt")
    assert convert(nxcloud, messageid=messageid, phone="+84912340000").text == "success"
    assert convert(nxcloud, messageid=messageid, phone="84912340000").text == "success"
    assert record(nxcloud, messageid).json()["row"]["phone"] == "84912340000"
    [row] = records(nxcloud).json()["info"]["rows"]
    assert row["phone"] == "84912340000"


def test_an_sms_of_the_signed_apis_is_found_with_the_keys_of_its_app_key(
        nxcloud: MockProvider) -> None:
    # The signed APIs name the application appKey (capital K); the look-ups' forms appkey.
    sent = [messageid_of(signed(nxcloud, path, phone="84912340001", appKey="sms-app-2"))
            for path in (V2, V1)]
    other = {"appkey": "sms-app-2", "secretkey": "other-secret"}
    for messageid in sent:
        assert record(nxcloud, messageid, **other).json()["row"]["msgid"] == messageid
        response = record(nxcloud, messageid)
        assert response.json() == {"code": "1"}
        assert "was sent by the SMS application 'sms-app-2', not 'sms-app'" in \
            explained(response)
    rows = records(nxcloud, **other).json()["info"]["rows"]
    assert [row["msgid"] for row in rows] == sent


def test_a_made_up_report_id_of_a_real_send_is_an_unknown_messageid(
        nxcloud: MockProvider) -> None:
    made_up = send(nxcloud, scenario="no_receipt") + "-0000000000"
    response = convert(nxcloud, messageid=made_up)
    assert (response.status_code, response.text) == (200, "fail")
    assert f"no SMS with messageid {made_up!r}" in explained(response)
    response = record(nxcloud, made_up)
    assert (response.status_code, response.json()) == (200, {"code": "1"})
    assert f"no SMS with messageid {made_up!r}" in explained(response)


def test_a_batch_id_asked_for_one_record_is_refused_naming_each_report_id(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    messageid = send(nxcloud, phone="84912340001,84912340002")
    ids = {r["phone"]: r["messageid"] for r in receiver.wait(messageid, 2)}
    response = record(nxcloud, messageid)
    assert response.json() == {"code": "1"}
    assert explained(response).endswith("is a batch of 2 numbers: ask about one report's "
                                        f"messageid ({ids['84912340001']}, {ids['84912340002']})")


def test_each_look_up_is_captured_with_the_messages_it_answered_about(
        nxcloud: MockProvider, receiver: Receiver) -> None:
    batch = send(nxcloud, phone="84912340001,84912340002", scenario="no_receipt")
    single = send(nxcloud, phone="84912340003", scenario="no_receipt")
    time.sleep(0.01)  # created_at orders the records
    ids = [row["msgid"] for row in records(nxcloud, page_size="2").json()["info"]["rows"]]
    captured = nxcloud.sent[-1]
    assert (captured.endpoint, captured.message_ids) == ("nxcloud.sms.getSmsCdr", [batch])
    assert captured.explain == (f"3 record(s) of SMS application 'sms-app' sent on {today()} "
                                "(China time, UTC+8); 2 on page 1")
    assert len(ids) == 2 and all(i.startswith(batch + "-") for i in ids)
    records(nxcloud, page_size="2", page="2")
    assert nxcloud.sent[-1].message_ids == [single]
    record(nxcloud, ids[0])
    assert (nxcloud.sent[-1].endpoint, nxcloud.sent[-1].message_ids) == \
        ("nxcloud.sms.get", [batch])


def test_a_page_of_999_rows_is_the_largest_and_an_empty_sort_type_is_oldest_first(
        nxcloud: MockProvider) -> None:
    first = send(nxcloud, phone="84912340001", scenario="no_receipt")
    time.sleep(0.01)
    second = send(nxcloud, phone="84912340002", scenario="no_receipt")
    document = records(nxcloud, page_size="999", sort_type="").json()
    assert document["code"] == "0" and document["info"]["pageSize"] == 999
    assert [row["msgid"] for row in document["info"]["rows"]] == [first, second]


def test_a_json_conversion_is_fail_saying_it_takes_a_query_or_a_form(
        nxcloud: MockProvider) -> None:
    messageid = send(nxcloud, scenario="no_receipt")
    response = requests.post(nxcloud.url + CONVERSION, json={"messageid": messageid},
                             timeout=DEADLINE)
    assert (response.status_code, response.text) == (200, "fail")
    assert "this API takes an application/x-www-form-urlencoded body" in explained(response)
    assert nxcloud.sent[-1].error == "fail"

