"""NXCloud's legacy SMS side APIs, answered from the messages dlrmock's SMS sends accepted.

- ``GET /api/smsdr/conversion?messageid=&phone=&status=10``: the app reports that the recipient
  filled in the code an SMS carried (an OTP "fill-back"). No credentials. Answers the text
  ``success`` or ``fail``. The query and a form body are both read (NXCloud's Java SDK posts a
  form), so ``POST`` is taken too.
- ``POST /api/sms/get`` (form ``appkey, secretkey, date=yyyyMMdd, messageid``): one message's
  record, ``{"code": "0", "row": {…}}``, filled from the message and the receipt it played.
  Codes 1 params invalid, 2 keys invalid, 3 only the recent 31 days.
- ``POST /api/sms/getSmsCdr`` (form ``appkey, secretkey, date, page_size, page[, sort_type]``):
  one page of the records of every number the application's SMS went to on that day,
  ``{"code": "0", "info": {"total", "page", "pageSize", "rows": […]}}``. Codes 1 params invalid,
  2 keys invalid, 3 ``page_size`` and 4 ``page`` invalid [choice: the docs give both codes the
  same text].
- ``POST /api/common/getBalance`` (form ``appkey, secretkey``): the ``nxcloud_balance`` and
  ``nxcloud_credit_balance`` settings.

Errors of ``get`` and ``getBalance`` are ``{"code": "<n>"}`` [choice: the docs show no error
document]; dlrmock's reason is in ``X-Dlrmock-Explain`` and the captured send.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, TypeGuard

from flask import request

from ..providers.nxcloud import SEND_TIME_ZONE
from ..providers.nxcloud_sms import TIME_FORMAT
from ._esms_common import number
from ._exchange import Answer, Exchange, Reject, first_problem
from ._messages import Part, SentMessage
from ._nxcloud_family import Context, Endpoint
from .nxcloud_sms import check_app, checked_form, form_fields, segments

__all__ = ["ENDPOINTS", "find_sms"]

NO_RECEIPTS = ""
"""The receipt family of these APIs: none (they cause no receipt)."""
SMS_APIS = frozenset({"sms.mtsend", "sms.mtsend_v2", "sms.mt"})
"""The ``api`` of the messages NXCloud's SMS sends record."""
_BATCH_REPORT_ID = re.compile(r"^(?P<sent>.+)-[0-9]{10}$")
RECENT_DAYS = 31
"""``/api/sms/get`` answers about messages sent on the last 31 days (today included) only."""


def find_sms(context: Context, messageid: str) -> tuple[SentMessage, list[Part]] | None:
    """The SMS send ``messageid`` names and the recipients it names: a send's ``messageid``
    (all its recipients), or a batch report's ``<messageid>-<10 digits>`` (that one)."""
    messages = context.state.messages
    sent = messages.find(messageid)
    if _is_sms(sent):
        return sent, list(sent.parts)
    match = _BATCH_REPORT_ID.fullmatch(messageid)
    sent = messages.find(match["sent"]) if match else None
    if _is_sms(sent):
        report_ids = list(sent.fields.get("report_ids") or ())
        if messageid in report_ids and len(report_ids) == len(sent.parts):
            return sent, [sent.parts[report_ids.index(messageid)]]
    return None


def _is_sms(sent: SentMessage | None) -> TypeGuard[SentMessage]:
    return sent is not None and sent.provider == "nxcloud" and sent.api in SMS_APIS


def _not_sent(messageid: str) -> str:
    return (f"no SMS with messageid {messageid!r}: dlrmock knows the messageid its "
            "/api/sms/mtsend, /api/sms/mtsend_v2 and /v1/sms/mt answered (and a batch's "
            "<messageid>-<10 digits> report ids) since its last reset")


# -- GET /api/smsdr/conversion
FAIL = "fail"


def conversion(context: Context, exchange: Exchange) -> Answer:
    """``success`` for a messageid dlrmock gave out, with one of its recipients' phone (or
    none) and status ``10`` (or none); ``fail`` otherwise."""
    fields = {**request.args.to_dict(), **form_fields(exchange, FAIL)}
    exchange.json = fields
    problem = first_problem("nxcloud.sms.conversion.request", fields)
    if problem is not None:
        raise Reject(FAIL, f"parameter error: {problem} (give messageid, and phone and "
                           "status=10 if you like)")
    messageid, phone = fields["messageid"], fields.get("phone", "").strip().lstrip("+")
    status = fields.get("status", "").strip()
    if status not in ("", "10"):
        raise Reject(FAIL, f"status {status!r}: a conversion is status 10 (filled in), or no "
                           "status at all")
    found = find_sms(context, messageid)
    if found is None:
        raise Reject(FAIL, _not_sent(messageid))
    sent, parts = found
    phones = [part.phone.lstrip("+") for part in parts]
    if phone and phone not in phones:
        raise Reject(FAIL, f"phone {phone!r} is not a recipient of SMS {messageid!r} (it went "
                           f"to {', '.join(phones)})")
    to = phone or ", ".join(phones)
    return Answer("success", message_ids=[sent.id],
                  explain=f"conversion of SMS {messageid} to {to} accepted (status 10, filled "
                          "in); dlrmock keeps it only in this captured request")


# -- POST /api/sms/get
def _error(code: int | str, message: str) -> dict[str, Any]:
    return {"code": str(code)}


def get(context: Context, exchange: Exchange) -> Answer:
    """One SMS's record, from the message and the last receipt it played."""
    fields = checked_form(exchange, "nxcloud.sms.get.request", "1")
    check_app(context, fields["appkey"], fields["secretkey"], "2")
    messageid = fields["messageid"]
    day = _day(fields["date"], context)
    found = find_sms(context, messageid)
    if found is None:
        raise Reject("1", _not_sent(messageid))
    sent, parts = found
    if len(parts) != 1:
        ids = ", ".join(sent.fields.get("report_ids") or ())
        raise Reject("1", f"messageid {messageid!r} is a batch of {len(parts)} numbers: ask "
                          f"about one report's messageid ({ids})")
    app = str(sent.fields.get("appkey", ""))
    if app != fields["appkey"]:
        raise Reject("1", f"SMS {messageid!r} was sent by the SMS application {app!r}, not "
                          f"{fields['appkey']!r}: ask with its keys")
    sent_at = _sent_at(sent)
    if sent_at.date() != day:
        raise Reject("1", f"SMS {messageid!r} was sent on {sent_at:%Y%m%d} (China time, "
                          f"UTC+8), not on {fields['date']}: date must be its day")
    return Answer({"code": "0", "row": _row(sent, parts[0], messageid)},
                  message_ids=[sent.id])


def _sent_at(sent: SentMessage) -> datetime:
    """When ``sent`` was accepted, as a naive time on NXCloud's clock (China time)."""
    return datetime.fromtimestamp(sent.created_at, SEND_TIME_ZONE).replace(tzinfo=None)


def _day(text: str, context: Context, too_old: int | str = "3") -> date:
    try:
        day = datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise Reject("1", f"date {text!r} is not a day as yyyyMMdd, e.g. 20260131") from None
    today = datetime.fromtimestamp(context.state.clock(), SEND_TIME_ZONE).date()
    if day > today:
        raise Reject("1", f"date {text} is after today ({today:%Y%m%d}, China time, UTC+8)")
    if (today - day).days >= RECENT_DAYS:
        raise Reject(too_old, f"date {text} is more than {RECENT_DAYS - 1} days before today "
                          f"({today:%Y%m%d}, China time): only the recent {RECENT_DAYS} days "
                          "can be queried")
    return day


def _row(sent: SentMessage, part: Part, messageid: str) -> dict[str, Any]:
    """The ``row``, key order and types as the documented example. Vocabulary of the Chinese
    wiki: ``dr_status`` Success / Fail, ``billing_status`` Billed / UnBilled."""
    report = part.played[-1] if part.played else {}
    delivered = str(report.get("status")) == "2"
    content = str(sent.fields.get("content", ""))
    try:
        price = float(report.get("price", 0)) if delivered else 0.0
    except (TypeError, ValueError):  # a malformed receipt's price
        price = 0.0
    return {
        "billing_size": segments(content),
        "date": str(report.get("sendtime") or _sent_at(sent).strftime(TIME_FORMAT)),
        "senderid": str(sent.fields.get("sender", "")),
        "phone": part.phone.lstrip("+"),
        "dr_time": str(report.get("drtime", "")),
        "billing_price": price,
        "msgid": messageid,
        "billing_status": "Billed" if delivered else "UnBilled",
        "body": content,
        "dr_status": ("Success" if delivered else "Fail") if report else "",
        "dr": str(report.get("result", "")),
        "network": "",
    }


# -- POST /api/sms/getSmsCdr
CDR_KEYS = ("senderid", "body", "phone", "msgid", "dr_status", "billing_size", "billing_price",
            "date", "dr_time", "billing_status", "network", "dr")
"""A ``getSmsCdr`` row's keys in the documented example's order (not ``get``'s)."""
MAX_PAGE_SIZE = 999
"""[doc] ``page_size`` "less than 1000"."""


def get_sms_cdr(context: Context, exchange: Exchange) -> Answer:
    """One page of the day's records of the application's SMS, a row per number, oldest first
    (``sort_type`` 1: newest first)."""
    fields = checked_form(exchange, "nxcloud.sms.get_sms_cdr.request", "1")
    check_app(context, fields["appkey"], fields["secretkey"], "2")
    size = _whole(fields["page_size"], "page_size", 1, MAX_PAGE_SIZE, "3")
    page = _whole(fields["page"], "page", 1, None, "4")
    sort_type = fields.get("sort_type", "0") or "0"
    if sort_type not in ("0", "1"):
        raise Reject("1", f"sort_type {sort_type!r} must be 0 (ascending) or 1 (descending)")
    day = _day(fields["date"], context, too_old="1")
    records: list[tuple[SentMessage, Part, str]] = []  # oldest first, a batch in send order
    for sent in context.state.messages.all():
        ids = list(sent.fields.get("report_ids") or ())
        if _is_sms(sent) and sent.fields.get("appkey") == fields["appkey"] \
                and _sent_at(sent).date() == day and len(ids) == len(sent.parts):
            records += zip([sent] * len(ids), sent.parts, ids, strict=True)
    records.sort(key=lambda record: record[0].created_at)  # stable: a batch keeps its order
    if sort_type == "1":
        records.reverse()
    shown = records[(page - 1) * size:page * size]
    rows = []
    for sent, part, messageid in shown:
        row = _row(sent, part, messageid)
        rows.append({key: row[key] for key in CDR_KEYS})
    return Answer({"code": "0", "info": {"total": len(records), "page": page, "pageSize": size,
                                         "rows": rows}},
                  message_ids=list(dict.fromkeys(sent.id for sent, _, _ in shown)),
                  explain=f"{len(records)} record(s) of SMS application {fields['appkey']!r} "
                          f"sent on {fields['date']} (China time, UTC+8); {len(rows)} on page "
                          f"{page}")


def _whole(text: str, name: str, low: int, high: int | None, code: str) -> int:
    digits = text.strip()
    value = int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 10 else None
    if value is None or value < low or (high is not None and value > high):
        limit = f"{low}-{high}" if high is not None else f"{low} or more"
        raise Reject(code, f"{name} {text!r} must be a whole number, {limit}")
    return value


# -- POST /api/common/getBalance
def get_balance(context: Context, exchange: Exchange) -> Answer:
    """The account's balance and credit line, from the settings."""
    fields = checked_form(exchange, "nxcloud.common.balance.request", "2")
    check_app(context, fields["appkey"], fields["secretkey"], "1")
    settings = context.settings
    return Answer({"code": "0", "balance": str(number(settings.nxcloud_balance)),
                   "credit_balance": str(number(settings.nxcloud_credit_balance))})


ENDPOINTS = (
    Endpoint("GET", "/api/smsdr/conversion", "nxcloud.sms.conversion", NO_RECEIPTS,
             "nxcloud.sms.conversion.request", lambda code, message: FAIL, FAIL, FAIL,
             conversion, body="query", answer="nxcloud.sms.conversion.response",
             media="text/plain", also=("POST",)),
    Endpoint("POST", "/api/sms/get", "nxcloud.sms.get", NO_RECEIPTS, "nxcloud.sms.get.request",
             _error, "1", "1", get, body="form", answer="nxcloud.sms.get.response"),
    Endpoint("POST", "/api/sms/getSmsCdr", "nxcloud.sms.getSmsCdr", NO_RECEIPTS,
             "nxcloud.sms.get_sms_cdr.request", _error, "1", "1", get_sms_cdr, body="form",
             answer="nxcloud.sms.get_sms_cdr.response"),
    Endpoint("POST", "/api/common/getBalance", "nxcloud.common.getBalance", NO_RECEIPTS,
             "nxcloud.common.balance.request", _error, "2", "2", get_balance, body="form",
             answer="nxcloud.common.balance.response"),
)
