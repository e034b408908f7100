"""A realistic customer webhook for NXCloud receipts (Zalo, Viber, WhatsApp JSON; SMS form reports)
and eSMS.vn callbacks (Flask + SQLite).

What it gets right, and what dlrmock's scenarios check:

* **Acknowledge quickly.** Every well-formed receipt is answered ``200`` after one short SQLite
  transaction; nothing slow happens inside the request.
* **Idempotent.** Each receipt's fingerprint (sha256 of its canonical form) is stored in the
  ``receipts`` table; the same receipt again is answered ``200`` and counted as a duplicate, not
  processed twice.
* **Order-safe.** Every status has a rank; a receipt only changes a message when it ranks higher
  (``success`` < ``journey_acknowledged`` < final, eSMS ``pending`` < final). The first final status
  (``delivered``, ``failed``, ``journey_time_out``) wins: later or late-arriving receipts are
  recorded but never regress it. A ``journey_time_out`` after ``journey_acknowledged`` is
  stale: the journey was used and charged (NXCloud's 17007 is for an unused journey).
* **Strict about what it uses, lenient about the rest.** A body that is not a JSON object, a missing
  key field, or an ``error_info`` in none of eSMS's four encodings is answered ``400`` with a JSON
  error, never ``500``. Unknown extra fields are ignored; an unknown status is acknowledged and
  recorded without changing the message.

It also sends: :func:`send_sms` (eSMS customer-care SMS) and :func:`send_zns` (NXCloud Zalo ZNS)
post to the provider's send API at a configurable base URL (dlrmock's in tests), store the message
as ``pending`` under the id the provider answered, and let the receipts move it on.

Messages are keyed by NXCloud ``requestId`` (``journey:<journeyId>`` for journey receipts), SMS
``messageid``, WhatsApp ``statuses[0].id``, and by eSMS ``SMSID``. An NXCloud SMS report is
answered with the plain text ``success``, as NXCloud requires. Stored statuses: ``success``,
``delivered``, ``failed``, ``journey_acknowledged``, ``journey_time_out`` (NXCloud Zalo; Viber adds
``seen``, ``expired``; WhatsApp ``sent``, ``read``, ``deleted``, ``inbound``; SMS the report's
name, e.g. ``undelivered``), ``pending``, ``delivered``, ``failed`` (eSMS; voice calls keyed by
``ReferenceId``), ``received`` (an eSMS short-code MO, keyed by ``smsid``), and ``unknown`` for a
message whose only receipts carried a status this app does not know. NXCloud's other callbacks
(DID SMS, voice, OTA, number check, PNS, Super Message, NXCC, NXPhone, predictive outbound) are
stored under their own id with the status ``callback`` and acknowledged (the form ones with
``success``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from mock_server import decode_error_info

__all__ = [
    "EsmsAccount",
    "MalformedReceiptError",
    "NxcloudAccount",
    "Receipt",
    "ReceiptStore",
    "SendError",
    "create_app",
    "get_store",
    "message_status",
    "parse_esms_callback",
    "parse_esms_mo",
    "parse_esms_template_registration",
    "parse_esms_voice_callback",
    "parse_nxcloud_receipt",
    "send_sms",
    "send_zns",
]

log = logging.getLogger(__name__)

STORE_EXTENSION = "webhook_app.store"
JOURNEY_KEY_PREFIX = "journey:"

#: A rank at or above this is final: nothing replaces it.
FINAL_RANK = 100
#: A message this app sent, before any receipt about it.
SENT_STATUS, SENT_RANK = "pending", 1
UNKNOWN_STATUS = "unknown"
UNKNOWN_RANK = 0
NXCLOUD_RANKS: Mapping[str, int] = {
    "success": 10,
    "journey_acknowledged": 20,
    "delivered": FINAL_RANK,
    "failed": FINAL_RANK,
    "journey_time_out": FINAL_RANK,
}
#: Viber statuses beyond Zalo's: seen follows delivered; expired is final.
VIBER_RANKS: Mapping[str, int] = {**NXCLOUD_RANKS, "seen": FINAL_RANK + 10, "expired": FINAL_RANK}
#: WhatsApp statuses: read follows delivered, deleted follows everything.
WHATSAPP_RANKS: Mapping[str, int] = {
    "sent": 10, "delivered": FINAL_RANK, "failed": FINAL_RANK, "read": FINAL_RANK + 10,
    "deleted": FINAL_RANK + 20,
}
#: NXCloud SMS report status codes → stored status (every one final).
SMS_STATUSES: Mapping[str, str] = {
    "2": "delivered", "5": "undelivered", "6": "rejected", "7": "expired", "8": "deleted",
    "9": "dnd", "10": "invalid_number", "11": "invalid_sender", "12": "unknown",
}
#: eSMS SendStatus values that mean "not finished yet", in the order they happen.
ESMS_PENDING_RANKS: Mapping[int, int] = {1: 11, 2: 12, 7: 17}
ESMS_REJECTED = 4
ESMS_FINISHED = 5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    key                TEXT PRIMARY KEY,
    provider           TEXT NOT NULL,
    status             TEXT NOT NULL,
    rank               INTEGER NOT NULL,
    error_code         INTEGER,
    error_message      TEXT,
    ext                TEXT,
    receipts_processed INTEGER NOT NULL DEFAULT 0,
    duplicates_ignored INTEGER NOT NULL DEFAULT 0,
    last_payload       TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (
    fingerprint TEXT NOT NULL,
    message_key TEXT NOT NULL REFERENCES messages(key),
    provider    TEXT NOT NULL,
    status      TEXT NOT NULL,
    applied     INTEGER NOT NULL,
    payload     TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (fingerprint, message_key)
);
"""


class MalformedReceiptError(ValueError):
    """A receipt this app cannot process; answered with ``400`` and a JSON error."""


def _canonical(payload: Mapping[str, Any]) -> str:
    # ASCII-only, sorted, compact: the same receipt always serialises to the same text.
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@dataclass(frozen=True)
class Receipt:
    """One receipt, normalised: which messages it is about and what it says about them."""

    provider: str
    keys: tuple[str, ...]
    status: str
    rank: int
    payload: Mapping[str, Any]
    error_code: int | None = None
    error_message: str | None = None
    ext: str | None = None
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(f"{self.provider}\n{_canonical(self.payload)}".encode())
        object.__setattr__(self, "fingerprint", digest.hexdigest())

    @property
    def is_final(self) -> bool:
        """Whether this receipt carries a final status."""
        return self.rank >= FINAL_RANK


# --- parsing -------------------------------------------------------------------------------------


def _optional(payload: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise MalformedReceiptError(
            f"field {name!r} must be a {names}, got {type(value).__name__} {value!r}"
        )
    return value


def _stored_int(name: str, value: int | None) -> int | None:
    """``value`` if SQLite can store it (a signed 64-bit INTEGER); a bigger one is malformed."""
    if value is not None and not -(2**63) <= value < 2**63:
        raise MalformedReceiptError(f"field {name!r} is out of range: {value}")
    return value


def _required_text(payload: Mapping[str, Any], name: str) -> str:
    value = _optional(payload, name, str)
    if not value:
        raise MalformedReceiptError(f"missing field {name!r}")
    return str(value)


def parse_nxcloud_receipt(body: bytes) -> Receipt:
    """Parse the body of an NXCloud Zalo ``dr_webhook`` POST.

    Raises :class:`MalformedReceiptError` when the body is not a JSON object, lacks ``status`` or
    the field it is keyed by, or has a wrong JSON type in a field this app uses.
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedReceiptError(f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MalformedReceiptError(f"body is a JSON {type(payload).__name__}, not an object")
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedReceiptError("body holds a string that is not valid Unicode") from None

    status = _required_text(payload, "status")
    request_id = _optional(payload, "requestId", str) or None
    journey_id = _optional(payload, "journeyId", str) or None
    code = _stored_int("code", _optional(payload, "code", int))
    message = _optional(payload, "message", str)
    ext = _optional(payload, "ext", str)

    if status == "journey_time_out":
        if journey_id is None:
            raise MalformedReceiptError(
                "missing field 'journeyId' (journey_time_out is keyed by it)"
            )
        keys: tuple[str, ...] = (JOURNEY_KEY_PREFIX + journey_id,)
    elif status == "journey_acknowledged":
        keys = tuple(
            key
            for key in (request_id, journey_id and JOURNEY_KEY_PREFIX + journey_id)
            if key is not None
        )
        if not keys:
            raise MalformedReceiptError("missing fields 'requestId' and 'journeyId'")
    elif request_id is not None:
        keys = (request_id,)
    elif status not in NXCLOUD_RANKS and journey_id is not None:
        keys = (JOURNEY_KEY_PREFIX + journey_id,)
    else:
        raise MalformedReceiptError(
            f"missing field 'requestId' (a {status!r} receipt is keyed by it)"
        )

    ranks = VIBER_RANKS if code is not None and 11000 <= code <= 11003 else NXCLOUD_RANKS
    rank = ranks.get(status)
    if rank is None:
        log.warning("NXCloud receipt for %s has unknown status %r; recorded, not applied",
                    keys, status)
        return Receipt("nxcloud", keys, UNKNOWN_STATUS, UNKNOWN_RANK, payload, ext=ext)
    failed = status == "failed"
    return Receipt(
        "nxcloud",
        keys,
        status,
        rank,
        payload,
        error_code=code if failed else None,
        error_message=message if failed else None,
        ext=ext,
    )


def parse_nxcloud_sms_report(params: Mapping[str, str]) -> Receipt:
    """Parse an NXCloud SMS delivery report (form body or query string, every value text)."""
    message_id = (params.get("messageid") or "").strip()
    if not message_id:
        raise MalformedReceiptError("missing parameter 'messageid'")
    code = (params.get("status") or "").strip()
    if not code.isdigit():
        raise MalformedReceiptError(f"parameter 'status' must be a number, got {code!r}")
    status = SMS_STATUSES.get(code)
    if status is None:
        log.warning("SMS report for %s has unknown status %r; recorded, not applied",
                    message_id, code)
        return Receipt("nxcloud", (message_id,), UNKNOWN_STATUS, UNKNOWN_RANK, dict(params))
    failed = status != "delivered"
    return Receipt("nxcloud", (message_id,), status, FINAL_RANK, dict(params),
                   error_code=int(code) if failed else None,
                   error_message=params.get("result") if failed else None,
                   ext=params.get("ext"))


def parse_whatsapp_statuses(payload: Mapping[str, Any]) -> Receipt:
    """Parse an NXCloud WhatsApp status webhook (the first entry of ``statuses``)."""
    statuses = payload.get("statuses")
    if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
        raise MalformedReceiptError("field 'statuses' must be a non-empty list of objects")
    item = statuses[0]
    message_id = _required_text(item, "id")
    status = _required_text(item, "status")
    rank = WHATSAPP_RANKS.get(status)
    if rank is None:
        return Receipt("nxcloud", (message_id,), UNKNOWN_STATUS, UNKNOWN_RANK, payload)
    errors = item.get("errors")
    error = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) \
        else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    title = error.get("title") if isinstance(error.get("title"), str) else None
    return Receipt("nxcloud", (message_id,), status, rank, payload,
                   error_code=code, error_message=title)


def parse_whatsapp_inbound(payload: Mapping[str, Any]) -> Receipt:
    """A WhatsApp message from a user: recorded under its own id, status ``inbound``."""
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        raise MalformedReceiptError("field 'messages' must be a non-empty list of objects")
    return Receipt("nxcloud", (_required_text(messages[0], "id"),), "inbound", UNKNOWN_RANK,
                   payload)


def parse_nxcloud_event(payload: Mapping[str, Any]) -> Receipt:
    """A Viber reply (keyed by the replied message's id) or a WhatsApp template / account event
    (keyed ``template:<id>`` / ``waba:<wabaId>``): recorded, never changing a message's status."""
    if "traceRequestId" in payload:
        return Receipt("nxcloud", (_required_text(payload, "traceRequestId"),), "reply",
                       UNKNOWN_RANK, payload)
    value = payload.get("value")
    if not isinstance(value, dict):
        raise MalformedReceiptError("field 'value' must be an object")
    template = _optional(value, "message_template_id", str)
    key = f"template:{template}" if template else f"waba:{_required_text(value, 'wabaId')}"
    event = _optional(value, "event", str) or _optional(value, "decision", str) or "event"
    return Receipt("nxcloud", (key,), event.lower(), UNKNOWN_RANK, payload)


CALLBACK_KEYS = ("messageId", "messageid", "requestId", "bindId", "callId", "sessionid", "callid")
"""The id fields of NXCloud's other callbacks (DID SMS, voice, OTA, number check, PNS, Super
Message, NXCC, NXPhone, predictive outbound), in the order this app keys them by."""


def is_nxcloud_callback(payload: Mapping[str, Any]) -> bool:
    """Whether ``payload`` is one of NXCloud's other callbacks rather than a message receipt."""
    return ("smsStatus" in payload or "voice_type" in payload or "batchNo" in payload
            or "bindId" in payload or "channel" in payload or "agentName" in payload
            or "sessionid" in payload or "callid" in payload
            or ("requestId" in payload and ("drtime" in payload or "drTime" in payload))
            or (isinstance(payload.get("data"), dict) and "requestParams" in payload["data"]))


def parse_nxcloud_callback(payload: Mapping[str, Any]) -> Receipt:
    """One of NXCloud's other callbacks: recorded under its id, never changing a status."""
    for name in CALLBACK_KEYS:
        value = payload.get(name)
        if isinstance(value, str) and value.strip():
            return Receipt("nxcloud", (value,), "callback", UNKNOWN_RANK, dict(payload))
    raise MalformedReceiptError(f"missing an id field (one of {', '.join(CALLBACK_KEYS)})")


def _int_param(params: Mapping[str, str], name: str) -> int:
    raw = params.get(name)
    if raw is None or not raw.strip():
        raise MalformedReceiptError(f"missing parameter {name!r}")
    try:
        return int(raw.strip())
    except ValueError:
        raise MalformedReceiptError(f"parameter {name!r} must be an integer, got {raw!r}") from None


def _zalo_result(raw: str) -> tuple[int | None, str | None]:
    """The ``error`` code and ``message`` inside an ``error_info`` value."""
    try:
        data = decode_error_info(raw).data
    except (ValueError, RecursionError) as exc:
        raise MalformedReceiptError(f"parameter 'error_info' is undecodable: {exc}") from None
    error = data.get("error")
    if isinstance(error, str):  # some doc versions quote numbers
        with suppress(ValueError):
            error = int(error)
    if error is not None and (not isinstance(error, int) or isinstance(error, bool)):
        raise MalformedReceiptError(f"error_info 'error' must be an integer, got {error!r}")
    _stored_int("error_info.error", error)
    message = data.get("message")
    return error, message if isinstance(message, str) else None


def parse_esms_callback(params: Mapping[str, str]) -> Receipt:
    """Parse the query parameters of an eSMS callback (each value a string, decoded once).

    ``SendStatus`` 5 is ``delivered`` when ``SendSuccess`` > 0, else ``failed``; 4 (rejected) is
    ``failed``; 1, 2 and 7 are ``pending``. A Zalo ``error_info`` whose ``error`` is not 0 makes the
    message ``failed`` with that code, whatever ``SendStatus`` says.
    """
    if not params:
        raise MalformedReceiptError(
            "no query parameters: an eSMS callback carries SMSID=…&SendStatus=…"
        )
    sms_id = (params.get("SMSID") or "").strip()
    if not sms_id:
        raise MalformedReceiptError("missing parameter 'SMSID'")
    send_status = _int_param(params, "SendStatus")

    error, zalo_message = (None, None)
    if (params.get("error_info") or "").strip():
        error, zalo_message = _zalo_result(params["error_info"])

    status: str
    error_message: str | None = None
    if error:
        status, rank, error_message = "failed", FINAL_RANK, zalo_message
    elif send_status == ESMS_FINISHED:
        success = _int_param(params, "SendSuccess")
        status, rank = ("delivered", FINAL_RANK) if success > 0 else ("failed", FINAL_RANK)
        if status == "failed":
            error_message = (
                f"finished with SendSuccess={success}, SendFailed={params.get('SendFailed', '?')}"
                f", TotalSent={params.get('TotalSent', '?')}"
            )
    elif send_status == ESMS_REJECTED:
        status, rank, error_message = "failed", FINAL_RANK, "rejected by eSMS (SendStatus=4)"
    elif send_status in ESMS_PENDING_RANKS:
        status, rank = "pending", ESMS_PENDING_RANKS[send_status]
    else:
        log.warning("eSMS callback for %s has unknown SendStatus %d; recorded, not applied",
                    sms_id, send_status)
        status, rank = UNKNOWN_STATUS, UNKNOWN_RANK
    return Receipt(
        "esms",
        (sms_id,),
        status,
        rank,
        dict(params),
        error_code=error if error else None,
        error_message=error_message,
    )


def parse_esms_voice_callback(params: Mapping[str, str]) -> Receipt:
    """Parse eSMS's voice-call callback, keyed by ``ReferenceId`` (the SMSID MakeCall answered).

    ``SendStatus`` 5 is ``delivered`` when ``SentResult`` is 1 (the call went through), else
    ``failed``; 2 and 7 are ``pending``. eSMS resends the callback until it gets exactly HTTP 200.
    """
    reference = (params.get("ReferenceId") or "").strip()
    if not reference:
        raise MalformedReceiptError("missing parameter 'ReferenceId'")
    send_status = _int_param(params, "SendStatus")
    error_message: str | None = None
    if send_status == ESMS_FINISHED:
        answered = (params.get("SentResult") or "").strip() == "1"
        status, rank = ("delivered" if answered else "failed"), FINAL_RANK
        if not answered:
            error_message = f"call not completed (CallStatus={params.get('CallStatus', '')!r})"
    elif send_status in ESMS_PENDING_RANKS:
        status, rank = "pending", ESMS_PENDING_RANKS[send_status]
    else:
        status, rank = UNKNOWN_STATUS, UNKNOWN_RANK
    return Receipt("esms", (reference,), status, rank, dict(params), error_message=error_message)


REGISTRATION_STATUSES = {"0": ("failed", FINAL_RANK), "2": ("delivered", FINAL_RANK)}
"""eSMS template registration ``Status``: 0 failed, 2 registered (final); 1 received."""


def parse_esms_template_registration(params: Mapping[str, str]) -> Receipt:
    """Parse a template registration result, keyed by its ``ServicePreviewId``: ``Status`` 1
    (received) is ``pending``, 2 (registered) ``delivered``, 0 ``failed``."""
    preview = (params.get("ServicePreviewId") or "").strip()
    if not preview:
        raise MalformedReceiptError("missing parameter 'ServicePreviewId'")
    value = (params.get("Status") or "").strip()
    status, rank = REGISTRATION_STATUSES.get(value, ("pending", 1) if value == "1" else (
        UNKNOWN_STATUS, UNKNOWN_RANK))
    error = "template registration failed" if status == "failed" else None
    return Receipt("esms", (preview,), status, rank, dict(params), error_message=error)


def parse_esms_mo(params: Mapping[str, str]) -> Receipt:
    """Parse a short-code MO push (an SMS a customer sent), keyed by its ``smsid``; stored as
    ``received``. (Checking ``sign`` needs the partner's private key, which this demo lacks.)"""
    smsid = (params.get("smsid") or "").strip()
    if not smsid or not (params.get("sender") or "").strip():
        raise MalformedReceiptError("an MO push needs 'smsid' and 'sender'")
    return Receipt("esms", (smsid,), "received", FINAL_RANK, dict(params))


# --- storage -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What recording one receipt did."""

    duplicate: bool
    statuses: Mapping[str, str]
    """The current status of every message the receipt is about, after recording it."""
    applied: Mapping[str, bool]
    """Per message: whether the receipt changed its state (False when stale or a duplicate)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ReceiptStore:
    """The SQLite store: one connection, one lock, one short transaction per receipt.

    The lock serialises this process's threads (the Werkzeug server is threaded); ``BEGIN
    IMMEDIATE`` and the busy timeout keep several processes sharing a database file safe too.
    """

    def __init__(self, database: str | os.PathLike[str] = ":memory:") -> None:
        self.database = os.fspath(database)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.database, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout = 5000")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def record(self, receipt: Receipt) -> Outcome:
        """Record ``receipt`` once, advancing each of its messages only if it ranks higher."""
        now = _now()
        # Stored as received (key order kept); only the fingerprint uses the canonical form.
        payload_text = json.dumps(receipt.payload, separators=(",", ":"), ensure_ascii=True)
        applied: dict[str, bool] = {}
        with self._transaction() as db:
            seen = db.execute(
                "SELECT 1 FROM receipts WHERE fingerprint = ? LIMIT 1", (receipt.fingerprint,)
            ).fetchone()
            if seen is not None:
                db.executemany(
                    "UPDATE messages SET duplicates_ignored = duplicates_ignored + 1 WHERE key = ?",
                    [(key,) for key in receipt.keys],
                )
                log.info("duplicate %s receipt for %s ignored", receipt.provider, receipt.keys)
                statuses = self._statuses(db, receipt.keys)
                return Outcome(True, statuses, dict.fromkeys(receipt.keys, False))
            for key in receipt.keys:
                applied[key] = self._advance(db, key, receipt, payload_text, now)
                db.execute(
                    "INSERT INTO receipts (fingerprint, message_key, provider, status, applied,"
                    " payload, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (receipt.fingerprint, key, receipt.provider, receipt.status, applied[key],
                     payload_text, now),
                )
            return Outcome(False, self._statuses(db, receipt.keys), applied)

    @staticmethod
    def _advance(db: sqlite3.Connection, key: str, receipt: Receipt, payload_text: str,
                 now: str) -> bool:
        row = db.execute("SELECT status, rank FROM messages WHERE key = ?", (key,)).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO messages (key, provider, status, rank, error_code, error_message, ext,"
                " receipts_processed, last_payload, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                (key, receipt.provider, receipt.status, receipt.rank, receipt.error_code,
                 receipt.error_message, receipt.ext, payload_text, now),
            )
            return True
        current = int(row["rank"])
        # A used journey is charged: a late expiry must not undo it (NXCloud's 17007 is for a
        # journey that "has never been used").
        charged = receipt.status == "journey_time_out" and row["status"] == "journey_acknowledged"
        if not charged and (
            receipt.rank > current or (receipt.rank == current and current < FINAL_RANK)
        ):
            db.execute(
                "UPDATE messages SET status = ?, rank = ?, error_code = ?, error_message = ?,"
                " ext = COALESCE(?, ext), receipts_processed = receipts_processed + 1,"
                " last_payload = ?, updated_at = ? WHERE key = ?",
                (receipt.status, receipt.rank, receipt.error_code, receipt.error_message,
                 receipt.ext, payload_text, now, key),
            )
            return True
        # Stale or conflicting: count it, keep what the earlier (higher-ranked) receipt said.
        if current >= FINAL_RANK and receipt.is_final and receipt.status != row["status"]:
            log.warning("%s: %r receipt arrived after final %r; kept %r",
                        key, receipt.status, row["status"], row["status"])
        db.execute(
            "UPDATE messages SET ext = COALESCE(ext, ?),"
            " receipts_processed = receipts_processed + 1, updated_at = ? WHERE key = ?",
            (receipt.ext, now, key),
        )
        return False

    @staticmethod
    def _statuses(db: sqlite3.Connection, keys: Sequence[str]) -> dict[str, str]:
        return {
            key: str(db.execute("SELECT status FROM messages WHERE key = ?", (key,)).fetchone()[0])
            for key in keys
        }

    def add_sent(self, key: str, provider: str, ext: str | None = None) -> None:
        """Record a message this app sent as ``pending`` (unless a receipt already named it)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO messages (key, provider, status, rank, ext,"
                " receipts_processed, last_payload, updated_at) VALUES (?, ?, ?, ?, ?, 0, '{}', ?)",
                (key, provider, SENT_STATUS, SENT_RANK, ext, _now()),
            )

    def message(self, key: str) -> dict[str, Any] | None:
        """The stored view of message ``key``, or ``None`` when no receipt named it."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM messages WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return {
            "key": row["key"],
            "provider": row["provider"],
            "status": row["status"],
            "error_code": row["error_code"],
            "error_message": row["error_message"],
            "receipts_processed": row["receipts_processed"],
            "duplicates_ignored": row["duplicates_ignored"],
            "ext": row["ext"],
            "last_payload": json.loads(row["last_payload"]),
        }


# --- sending -------------------------------------------------------------------------------------


class SendError(RuntimeError):
    """The provider refused a send (its error code and message), or could not be reached."""


@dataclass(frozen=True)
class EsmsAccount:
    """Where and as whom to send through eSMS (dlrmock's test credentials by default)."""

    base_url: str
    api_key: str = "dlrmock-api-key"
    secret_key: str = "dlrmock-secret-key"
    brandname: str = "Baotrixemay"


@dataclass(frozen=True)
class NxcloudAccount:
    """Where and as whom to send through NXCloud (dlrmock's test credentials by default)."""

    base_url: str
    access_key: str = "dlrmock-access-key"
    access_secret: str = "dlrmock-secret"
    appkey: str = "webhook-app"
    template_id: str = "200607"


def _post_json(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Any:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SendError(f"POST {url} failed: {exc}") from None


def send_sms(app: Flask, phone: str, content: str, *, account: EsmsAccount, callback_url: str,
             request_id: str | None = None, timeout: float = 10.0) -> str:
    """Send one customer-care SMS through eSMS; store it as ``pending``; return its SMSID.

    ``callback_url`` is this app's eSMS webhook (``…/webhooks/esms``); ``request_id``, when
    given, is eSMS's ``RequestId`` (echoed in the callbacks, refused when reused).
    """
    body: dict[str, Any] = {
        "ApiKey": account.api_key, "SecretKey": account.secret_key, "Phone": phone,
        "Content": content, "Brandname": account.brandname, "SmsType": "2",
        "IsUnicode": "0", "CallbackUrl": callback_url,
    }
    if request_id is not None:
        body["RequestId"] = request_id
    url = account.base_url.rstrip("/") + "/MainService.svc/json/SendMultipleMessage_V4_post_json"
    answer = _post_json(url, json.dumps(body).encode(), {}, timeout)
    if not isinstance(answer, dict) or answer.get("CodeResult") != "100":
        raise SendError(f"eSMS refused the SMS to {phone}: {answer!r}")
    smsid = str(answer["SMSID"])
    get_store(app).add_sent(smsid, "esms", ext=request_id)
    return smsid


def send_zns(app: Flask, phone: str, params: Mapping[str, str], *, account: NxcloudAccount,
             callback_url: str, ext: str | None = None, timeout: float = 10.0) -> str:
    """Send one Zalo ZNS template message through NXCloud; store it as ``pending``; return
    its ``requestId``. ``phone`` has its country code (``84…``)."""
    message: dict[str, Any] = {
        "appkey": account.appkey, "phone": phone, "functionType": "template",
        "messageData": {"templateId": account.template_id, "templateData": dict(params)},
        "drWebhook": callback_url,
    }
    if ext is not None:
        message["ext"] = ext
    raw = json.dumps(message).encode()
    headers = {"accessKey": account.access_key, "ts": str(int(time.time() * 1000)),
               "bizType": "9", "action": "mt"}
    signed = "&".join(f"{name}={headers[name]}" for name in sorted(headers))
    signed += "&body=" + raw.decode() + "&accessSecret=" + account.access_secret
    headers["sign"] = hashlib.md5(signed.encode()).hexdigest()
    answer = _post_json(account.base_url.rstrip("/") + "/v1/zalo/mt", raw, headers, timeout)
    if not isinstance(answer, dict) or answer.get("code") != 0:
        raise SendError(f"NXCloud refused the ZNS to {phone}: {answer!r}")
    request_id = str(answer["data"]["requestId"])
    get_store(app).add_sent(request_id, "nxcloud", ext=ext)
    return request_id


# --- the app -------------------------------------------------------------------------------------

webhooks = Blueprint("webhooks", __name__, url_prefix="/webhooks")
messages = Blueprint("messages", __name__)


def get_store(app: Flask) -> ReceiptStore:
    """The :class:`ReceiptStore` of an app made by :func:`create_app`."""
    store: ReceiptStore = app.extensions[STORE_EXTENSION]
    return store


def message_status(app: Flask, key: str) -> dict[str, Any] | None:
    """The probe: message ``key`` as stored in ``app``'s database, or ``None`` if unknown."""
    return get_store(app).message(key)


def _acknowledge(receipt: Receipt) -> ResponseReturnValue:
    outcome = get_store(current_app).record(receipt)
    return jsonify(
        result="success",
        duplicate=outcome.duplicate,
        messages=dict(outcome.statuses),
        applied=dict(outcome.applied),
    ), 200


@webhooks.post("/nxcloud")
def nxcloud_receipt() -> ResponseReturnValue:
    """NXCloud receipts POSTed to the webhook URL: Zalo / Viber / WhatsApp JSON, or an SMS
    report (form body, or the query string with an empty body) answered with ``success``."""
    form_body = request.mimetype == "application/x-www-form-urlencoded"
    params = request.form if form_body else request.args
    if (form_body or not request.content_length) and is_nxcloud_callback(params):
        # DID SMS, voice and OTA pushes are form fields (or URL parameters) wanting `success`.
        get_store(current_app).record(parse_nxcloud_callback(params.to_dict(flat=True)))
        return "success", 200, {"Content-Type": "text/plain"}
    if form_body or (not request.content_length and "messageid" in request.args):
        params = request.form if form_body else request.args
        get_store(current_app).record(parse_nxcloud_sms_report(params.to_dict(flat=True)))
        return "success", 200, {"Content-Type": "text/plain"}
    body = request.get_data(cache=False)
    with suppress(ValueError, RecursionError):
        payload = json.loads(body)
        if isinstance(payload, dict) and "statuses" in payload:
            return _acknowledge(parse_whatsapp_statuses(payload))
        if isinstance(payload, dict) and "messages" in payload and "contacts" in payload:
            return _acknowledge(parse_whatsapp_inbound(payload))
        if isinstance(payload, dict) and ("traceRequestId" in payload or "field" in payload):
            return _acknowledge(parse_nxcloud_event(payload))
        if isinstance(payload, dict) and "status" not in payload and is_nxcloud_callback(payload):
            return _acknowledge(parse_nxcloud_callback(payload))
    return _acknowledge(parse_nxcloud_receipt(body))


@webhooks.get("/esms")
def esms_callback() -> ResponseReturnValue:
    """eSMS callback: an HTTP GET with every value in the query string.

    The voice-call callback (``ReferenceId``…) and the short-code MO push (``sender``…) arrive
    here too when the app gives eSMS this URL for them.
    """
    params = request.args.to_dict(flat=True)
    if "SMSID" not in params and "ReferenceId" in params:
        return _acknowledge(parse_esms_voice_callback(params))
    if "SMSID" not in params and "ServicePreviewId" in params:
        return _acknowledge(parse_esms_template_registration(params))
    if "SMSID" not in params and "sender" in params:
        receipt = parse_esms_mo(params)
        get_store(current_app).record(receipt)
        return _client_response(receipt), 200, {"Content-Type": "text/xml; charset=utf-8"}
    return _acknowledge(parse_esms_callback(params))


def _client_response(mo: Receipt) -> str:
    """The reply eSMS expects to an MO: the SMS to send back, in a ``<ClientResponse>``."""
    return (
        "<ClientResponse><Message>Cam on quy khach</Message>"
        f"<Smsid>{xml_escape(mo.keys[0])}</Smsid>"
        f"<Receiver>{xml_escape(str(mo.payload.get('sender', '')))}</Receiver></ClientResponse>"
    )


@messages.get("/messages/<key>")
def show_message(key: str) -> ResponseReturnValue:
    """The stored state of one message, as JSON."""
    view = message_status(current_app, key)
    if view is None:
        return jsonify(error="not_found", message=f"no receipt has named message {key!r}"), 404
    return jsonify(view), 200


def _malformed(exc: MalformedReceiptError) -> ResponseReturnValue:
    log.info("rejected malformed receipt at %s: %s", request.path, exc)
    return jsonify(error="malformed_receipt", message=str(exc)), 400


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    return jsonify(error=(exc.name or "error").lower().replace(" ", "_"),
                   message=exc.description), exc.code or 500


def create_app(database: str | os.PathLike[str] = ":memory:") -> Flask:
    """The webhook app, storing receipts in the SQLite ``database`` (a path or ``:memory:``)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # receipts are small; refuse anything huge
    app.extensions[STORE_EXTENSION] = ReceiptStore(database)
    app.register_blueprint(webhooks)
    app.register_blueprint(messages)
    app.register_error_handler(MalformedReceiptError, _malformed)
    app.register_error_handler(HTTPException, _http_error)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the app with Werkzeug's threaded server (a demo, not a production setup)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", default="receipts.sqlite3",
                        help="SQLite file to keep receipts in (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    create_app(args.database).run(host=args.host, port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
