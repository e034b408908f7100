"""The history of sent messages: what the dashboard lists and what survives a restart.

A view of the event stream (:mod:`mock_server._events`) behind one interface, :class:`History`:
:class:`MemoryHistory` by default, :class:`SqliteHistory` with ``--db FILE`` (the standard
library's ``sqlite3``). Both keep, per message, the send request and dlrmock's answer, the
message as the send APIs see it (state, parts, receipts played and to come) and its timeline
(receipts scheduled, every delivery attempt with its request and response, runs ended), plus
every attempt of runs started through the admin API, and the receipts still scheduled so that
:func:`restore` can resume them after a restart. ``keep`` prunes to the newest N messages.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import DlrmockError
from ._events import ATTEMPT, JOURNEY, RELEASED, RESET, RUN, SCHEDULED, SEND, Event

if TYPE_CHECKING:
    from .app import State

__all__ = ["History", "HistoryError", "MemoryHistory", "SqliteHistory", "restore"]

log = logging.getLogger(__name__)

_RUN_NUMBER = re.compile(r"run-(\d+)\Z")


class HistoryError(DlrmockError):
    """The history database cannot be opened or read (the path is in the message)."""


def _search_text(record: Mapping[str, Any]) -> str:
    summary = record.get("summary") or {}
    parts = [record["id"], record["provider"], record["api"],
             *(json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
               for v in summary.values() if v is not None)]
    return " ".join(parts).lower()


class History:
    """What every store does with the event stream; subclasses keep the data."""

    keep: int | None

    def __call__(self, event: Event) -> None:
        data = event.data
        run_id = data.get("run_id")
        if isinstance(run_id, str):
            found = _RUN_NUMBER.match(run_id)
            if found:
                self._saw_run(int(found.group(1)))
        if event.kind == SEND:
            for message in data.get("messages") or []:
                record = {"id": message["id"], "provider": message["provider"],
                          "api": message["api"], "created_at": message["created_at"],
                          "state": message["state"], "summary": data["summary"],
                          "message": message, "send": data["send"]}
                self._add(record, _search_text(record))
        elif event.kind == SCHEDULED:
            self._schedule(str(run_id), {**data, "created": event.at, "released_at": None,
                                         "sent_steps": [], "done": False})
            self._entry(data.get("message_id"), event, {
                "run_id": run_id, "scenario": _scenario_name(data.get("scenario")),
                "target": data.get("target"), "kinds": data.get("kinds"),
                "delay": data.get("delay")})
        elif event.kind == RELEASED:
            self._update_schedule(str(run_id), released_at=event.at)
            self._entry(data.get("message_id"), event, {"run_id": run_id})
        elif event.kind == ATTEMPT:
            attempt = data["attempt"]
            if attempt["attempt"] == 1 and attempt["copy"] == 0:
                self._update_schedule(str(run_id), sent_step=attempt["step"])
            self._entry(data.get("message_id"), event, {**attempt,
                                                        "scenario": data.get("scenario")})
        elif event.kind == RUN:
            self._update_schedule(str(run_id), done=True)
            self._entry(data.get("message_id"), event, {
                k: data.get(k) for k in ("run_id", "scenario", "target", "state", "ok",
                                         "failures", "attempts")})
        elif event.kind == RESET:
            self.clear()
            return
        elif event.kind == JOURNEY:
            self._journey(dict(data["journey"]))
            return
        message = data.get("message")
        if isinstance(message, Mapping):
            self._set_message(message)

    def _entry(self, message_id: Any, event: Event, data: Mapping[str, Any]) -> None:
        self._append(None if message_id is None else str(message_id),
                     {"type": event.kind, "at": event.at, "data": dict(data)})

    # -- what a store implements
    def _saw_run(self, number: int) -> None:
        raise NotImplementedError

    def _add(self, record: dict[str, Any], search: str) -> None:
        raise NotImplementedError

    def _set_message(self, message: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _append(self, message_id: str | None, entry: dict[str, Any]) -> None:
        raise NotImplementedError

    def _schedule(self, run_id: str, schedule: dict[str, Any]) -> None:
        raise NotImplementedError

    def _update_schedule(self, run_id: str, *, released_at: float | None = None,
                         sent_step: int | None = None, done: bool = False) -> None:
        raise NotImplementedError

    def _journey(self, journey: dict[str, Any]) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Forget everything (``POST /_dlrmock/reset``)."""
        raise NotImplementedError

    def page(self, *, query: str = "", provider: str = "", state: str = "",
             limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Messages newest first matching ``query`` (case-insensitive text) and filters; the
        page and how many match in all."""
        raise NotImplementedError

    def get(self, message_id: str) -> dict[str, Any] | None:
        """One message's record (``summary``, ``message``, ``send``), or ``None``."""
        raise NotImplementedError

    def timeline(self, message_id: str) -> list[dict[str, Any]]:
        """A message's entries, oldest first: scheduled, released, attempt, run."""
        raise NotImplementedError

    def records(self) -> list[dict[str, Any]]:
        """Every message record, oldest first (what :func:`restore` rebuilds)."""
        raise NotImplementedError

    def unfinished(self) -> list[dict[str, Any]]:
        """Schedules whose run had not ended, oldest first."""
        raise NotImplementedError

    def journeys(self) -> list[dict[str, Any]]:
        """The NXCloud journey tokens given out (as :class:`~mock_server.sendapi._state.Journey`
        fields), oldest first."""
        raise NotImplementedError

    def last_run_number(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        """Release the storage (the SQLite file); the history keeps what it wrote."""


def _scenario_name(scenario: Any) -> str:
    if isinstance(scenario, Mapping):
        return str(scenario.get("name", "inline scenario"))
    return str(scenario)


def _matches(record: Mapping[str, Any], search: str, query: str, provider: str,
             state: str) -> bool:
    return ((not provider or record["provider"] == provider)
            and (not state or record["state"] == state)
            and (not query or query in search))


class MemoryHistory(History):
    """The history in memory (the default): gone when the process ends."""

    def __init__(self, keep: int | None = 100_000) -> None:
        self.keep = keep
        self._lock = threading.RLock()
        self._records: OrderedDict[str, tuple[dict[str, Any], str]] = OrderedDict()
        self._timelines: dict[str | None, list[dict[str, Any]]] = {}
        self._schedules: dict[str, dict[str, Any]] = {}
        self._orphans: OrderedDict[str | None, list[dict[str, Any]]] = OrderedDict()
        self._journeys: dict[str, dict[str, Any]] = {}
        self._last_run = 0

    def _saw_run(self, number: int) -> None:
        self._last_run = max(self._last_run, number)

    def _add(self, record: dict[str, Any], search: str) -> None:
        with self._lock:
            self._records[record["id"]] = (record, search)
            self._records.move_to_end(record["id"])
            early = self._orphans.pop(record["id"], None)
            if early:
                self._timelines.setdefault(record["id"], [])[:0] = early
            while self.keep is not None and len(self._records) > self.keep:
                old, _ = self._records.popitem(last=False)
                self._timelines.pop(old, None)
                for run_id in [r for r, s in self._schedules.items()
                               if s.get("message_id") == old]:
                    del self._schedules[run_id]
                for token in [t for t, j in self._journeys.items() if j["journey_id"] == old]:
                    del self._journeys[token]

    def _set_message(self, message: Mapping[str, Any]) -> None:
        with self._lock:
            found = self._records.get(str(message["id"]))
            if found is not None:
                found[0]["message"] = dict(message)
                found[0]["state"] = message["state"]

    def _append(self, message_id: str | None, entry: dict[str, Any]) -> None:
        with self._lock:
            if message_id in self._records:
                self._timelines.setdefault(message_id, []).append(entry)
                return
            # Receipts planned before the send's answer (kept until the send arrives), or
            # attempts of a run started through the admin API: bounded like the journal.
            self._orphans.setdefault(message_id, []).append(entry)
            self._orphans.move_to_end(message_id)
            while len(self._orphans) > 10_000:
                self._orphans.popitem(last=False)

    def _schedule(self, run_id: str, schedule: dict[str, Any]) -> None:
        with self._lock:
            self._schedules[run_id] = schedule

    def _update_schedule(self, run_id: str, *, released_at: float | None = None,
                         sent_step: int | None = None, done: bool = False) -> None:
        with self._lock:
            found = self._schedules.get(run_id)
            if found is None:
                return
            if released_at is not None:
                found["released_at"] = released_at
            if sent_step is not None and sent_step not in found["sent_steps"]:
                found["sent_steps"].append(sent_step)
            if done:
                del self._schedules[run_id]

    def _journey(self, journey: dict[str, Any]) -> None:
        with self._lock:
            self._journeys[journey["token"]] = journey

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._timelines.clear()
            self._schedules.clear()
            self._orphans.clear()
            self._journeys.clear()

    def page(self, *, query: str = "", provider: str = "", state: str = "",
             limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        query = query.strip().lower()
        with self._lock:
            rows = [record for record, search in reversed(self._records.values())
                    if _matches(record, search, query, provider, state)]
        return rows[offset: offset + limit], len(rows)

    def get(self, message_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._records.get(message_id)
            return None if found is None else found[0]

    def timeline(self, message_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._timelines.get(message_id, []))

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record for record, _ in self._records.values()]

    def unfinished(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s, run_id=r) for r, s in self._schedules.items()]

    def journeys(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(j) for j in self._journeys.values()]

    def last_run_number(self) -> int:
        return self._last_run


_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL,
    state TEXT NOT NULL,
    search TEXT NOT NULL,
    record TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS timeline (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timeline_message ON timeline (message_id);
CREATE TABLE IF NOT EXISTS schedules (
    run_id TEXT PRIMARY KEY,
    message_id TEXT,
    schedule TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journeys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL UNIQUE,
    journey_id TEXT NOT NULL,
    journey TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_FORMAT = "2"
SYNC_SECONDS = 5.0
"""How long a read waits for the events published before it to be written."""
LOCK_WAIT_SECONDS = 30.0
"""How long a server started on a history file another dlrmock holds waits for it to stop (it
may be finishing its runs during its ``--grace`` period)."""


class SqliteHistory(History):
    """The history in one SQLite file: it is there again after a restart.

    Events are queued and written by one thread, a batch per transaction, so neither the
    delivery engine's loop nor a send's request waits for the disk; a read first waits (at most
    :data:`SYNC_SECONDS`) until what was published before it is written.
    """

    def __init__(self, path: str | Path, keep: int | None = None) -> None:
        self.path = Path(path)
        self.keep = keep
        self._adds = 0
        self._lock = threading.RLock()
        try:
            # One connection shared by the server's threads, every use under the lock.
            self._db = sqlite3.connect(self.path, check_same_thread=False,
                                       isolation_level=None, timeout=0)
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot open {str(self.path)!r} as the history database: {exc} "
                               "(point --db at a file in a directory you can write)") from None
        try:
            self._take(self._db)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('format', ?)", (_FORMAT,))
            elif found[0] != _FORMAT:
                raise HistoryError(f"{str(self.path)!r} holds dlrmock history format "
                                   f"{found[0]!r}, this dlrmock reads {_FORMAT!r}; "
                                   "point --db at a new file")
            row = self._db.execute("SELECT value FROM meta WHERE key='last_run'").fetchone()
        except HistoryError:
            self._db.close()
            raise
        except sqlite3.Error as exc:
            self._db.close()
            raise HistoryError(f"cannot use {str(self.path)!r} as the history database: {exc} "
                               "(point --db at a new file or an earlier dlrmock database)"
                               ) from None
        self._last_run = int(row[0]) if row else 0
        self._queue: list[Event] = []
        self._queued = self._written = 0
        self._closing = False
        self._changed = threading.Condition()
        self._writer = threading.Thread(target=self._write_batches, name="dlrmock-history",
                                        daemon=True)
        self._writer.start()

    def _take(self, db: sqlite3.Connection) -> None:
        """Hold the file for this server alone until :meth:`close`: a second dlrmock started on
        it (while the first still finishes its runs during its grace period) waits up to
        :data:`LOCK_WAIT_SECONDS` for it, so both never play the same scheduled receipts."""
        db.execute("PRAGMA locking_mode=EXCLUSIVE")  # the lock, once taken, is kept
        try:
            db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            log.warning("%s is in use by another dlrmock; waiting up to %g s for it to stop",
                        self.path, LOCK_WAIT_SECONDS)
            db.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT_SECONDS * 1000)}")
            try:
                db.execute("BEGIN EXCLUSIVE")
            except sqlite3.OperationalError as again:
                if "locked" not in str(again):
                    raise
                raise HistoryError(
                    f"{str(self.path)!r} is in use by another dlrmock (still running, or still "
                    f"stopping after {LOCK_WAIT_SECONDS:g} s); stop it, or point --db at "
                    "another file") from None
        db.execute("COMMIT")

    def __call__(self, event: Event) -> None:
        with self._changed:
            if self._closing:
                return
            self._queue.append(event)
            self._queued += 1
            self._changed.notify_all()

    def _write_batches(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._queue) or self._closing)
                batch, self._queue = self._queue, []
                if not batch:
                    return  # closing, and everything is written
            with self._lock:
                try:
                    self._db.execute("BEGIN")
                    for event in batch:
                        try:
                            History.__call__(self, event)
                        except (sqlite3.Error, KeyError, TypeError, ValueError):
                            log.exception("history: cannot record a %s event", event.kind)
                    self._db.execute("COMMIT")
                except sqlite3.Error:
                    log.exception("history: cannot write to %s", self.path)
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
            with self._changed:
                self._written += len(batch)
                self._changed.notify_all()

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until every event published so far is written; whether it is."""
        with self._changed:
            target = self._queued
            return self._changed.wait_for(
                lambda: self._written >= target or not self._writer.is_alive(),
                SYNC_SECONDS if timeout is None else timeout) and self._written >= target

    def _write(self, sql: str, args: Iterable[Any] = ()) -> None:
        with self._lock:
            self._db.execute(sql, tuple(args))

    def _saw_run(self, number: int) -> None:
        if number > self._last_run:
            self._last_run = number
            self._write("INSERT OR REPLACE INTO meta VALUES ('last_run', ?)", (str(number),))

    def _add(self, record: dict[str, Any], search: str) -> None:
        with self._lock:
            rest = {k: v for k, v in record.items() if k != "message"}
            self._db.execute(
                "INSERT OR REPLACE INTO messages (id, provider, state, search, record, message) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (record["id"], record["provider"], record["state"], search,
                 json.dumps(rest, default=str), json.dumps(record["message"], default=str)))
            if self.keep is not None:
                self._prune(self.keep)

    def _prune(self, keep: int) -> None:
        self._adds += 1
        if self._adds % 500 == 0:
            # Attempts of runs that belong to no message (started through the admin API) and
            # older than every kept message's go too.
            self._db.execute(
                "DELETE FROM timeline WHERE seq < (SELECT min(t.seq) FROM timeline t JOIN "
                "messages m ON t.message_id = m.id) AND (message_id IS NULL OR message_id NOT "
                "IN (SELECT id FROM messages))")
        cutoff = self._db.execute(
            "SELECT seq FROM messages ORDER BY seq DESC LIMIT 1 OFFSET ?", (keep,)).fetchone()
        if cutoff is None:
            return
        old = "(SELECT id FROM messages WHERE seq <= ?)"
        self._db.execute(f"DELETE FROM timeline WHERE message_id IN {old}", cutoff)
        self._db.execute(f"DELETE FROM schedules WHERE message_id IN {old}", cutoff)
        self._db.execute(f"DELETE FROM journeys WHERE journey_id IN {old}", cutoff)
        self._db.execute("DELETE FROM messages WHERE seq <= ?", cutoff)

    def _set_message(self, message: Mapping[str, Any]) -> None:
        # The message apart from the send's record: an update writes only what changed.
        self._write("UPDATE messages SET state = ?, message = ? WHERE id = ?",
                    (message["state"], json.dumps(message, default=str), str(message["id"])))

    def _append(self, message_id: str | None, entry: dict[str, Any]) -> None:
        self._write("INSERT INTO timeline (message_id, entry) VALUES (?, ?)",
                    (message_id, json.dumps(entry, default=str)))

    def _schedule(self, run_id: str, schedule: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO schedules VALUES (?, ?, ?)",
                    (run_id, schedule.get("message_id"), json.dumps(schedule, default=str)))

    def _update_schedule(self, run_id: str, *, released_at: float | None = None,
                         sent_step: int | None = None, done: bool = False) -> None:
        with self._lock:
            if done:
                self._db.execute("DELETE FROM schedules WHERE run_id = ?", (run_id,))
                return
            found = self._db.execute("SELECT schedule FROM schedules WHERE run_id = ?",
                                     (run_id,)).fetchone()
            if found is None:
                return
            schedule = json.loads(found[0])
            if released_at is not None:
                schedule["released_at"] = released_at
            if sent_step is not None and sent_step not in schedule["sent_steps"]:
                schedule["sent_steps"].append(sent_step)
            self._db.execute("UPDATE schedules SET schedule = ? WHERE run_id = ?",
                             (json.dumps(schedule, default=str), run_id))

    def _journey(self, journey: dict[str, Any]) -> None:
        with self._lock:
            updated = self._db.execute(
                "UPDATE journeys SET journey = ? WHERE token = ?",
                (json.dumps(journey, default=str), journey["token"])).rowcount
            if not updated:
                self._db.execute(
                    "INSERT INTO journeys (token, journey_id, journey) VALUES (?, ?, ?)",
                    (journey["token"], journey["journey_id"], json.dumps(journey, default=str)))

    def clear(self) -> None:
        with self._lock:  # inside the writer's transaction (a reset event)
            for table in ("messages", "timeline", "schedules", "journeys"):
                self._db.execute(f"DELETE FROM {table}")

    def page(self, *, query: str = "", provider: str = "", state: str = "",
             limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        where, args = ["1"], []
        if provider:
            where.append("provider = ?")
            args.append(provider)
        if state:
            where.append("state = ?")
            args.append(state)
        if query.strip():
            where.append("instr(search, ?) > 0")
            args.append(query.strip().lower())
        condition = " AND ".join(where)
        self.sync()
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM messages WHERE {condition}",
                                     args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT record, message, state FROM messages WHERE {condition} "
                "ORDER BY seq DESC LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        return [_joined(*row) for row in rows], int(total)

    def get(self, message_id: str) -> dict[str, Any] | None:
        self.sync()
        with self._lock:
            found = self._db.execute("SELECT record, message, state FROM messages WHERE id = ?",
                                     (message_id,)).fetchone()
        return None if found is None else _joined(*found)

    def timeline(self, message_id: str) -> list[dict[str, Any]]:
        self.sync()
        with self._lock:
            rows = self._db.execute("SELECT entry FROM timeline WHERE message_id = ? "
                                    "ORDER BY seq", (message_id,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def records(self) -> list[dict[str, Any]]:
        self.sync()
        with self._lock:
            rows = self._db.execute(
                "SELECT record, message, state FROM messages ORDER BY seq").fetchall()
        return [_joined(*row) for row in rows]

    def unfinished(self) -> list[dict[str, Any]]:
        self.sync()
        with self._lock:
            rows = self._db.execute("SELECT run_id, schedule FROM schedules").fetchall()
        return [dict(json.loads(row[1]), run_id=row[0]) for row in rows]

    def journeys(self) -> list[dict[str, Any]]:
        self.sync()
        with self._lock:
            rows = self._db.execute("SELECT journey FROM journeys ORDER BY seq").fetchall()
        return [json.loads(row[0]) for row in rows]

    def last_run_number(self) -> int:
        return self._last_run

    def close(self) -> None:
        """Write what is queued, then close the file."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._writer.join(30)
        with self._lock:
            self._db.close()


def _joined(record: str, message: str, state: str) -> dict[str, Any]:
    joined: dict[str, Any] = json.loads(record)
    joined["message"], joined["state"] = json.loads(message), state
    return joined


# ------------------------------------------------------------------------------------- restore
def restore(state: State, history: History,
            later: list[Callable[[], None]] | None = None) -> dict[str, int]:
    """Rebuild the sent messages, captured sends and journey tokens of ``history`` into
    ``state`` and plan again the receipts still scheduled (of sends, journey expiries and runs
    started through the admin API); counts of what was restored.

    The planned runs start at once, or, given ``later``, when its callables are called (after
    the console is listening: a receipt already due goes out the moment its run starts)."""
    from .sendapi import CapturedSend
    from .sendapi._messages import Part, SentMessage
    from .sendapi._state import Journey

    state.engine.continue_run_ids(history.last_run_number())
    send_state = state.send_state
    journey_fields = {f.name for f in fields(Journey)}
    journeys: dict[str, Journey] = {}
    for data in history.journeys():
        journey = Journey(**{k: v for k, v in data.items() if k in journey_fields})
        send_state.add_journey(journey, tell=False)
        journeys[journey.journey_id] = journey
    messages = send_state.messages
    by_run: dict[str, tuple[SentMessage, Part]] = {}
    restored = 0
    for record in history.records():
        snapshot = record["message"]
        message = SentMessage(snapshot["id"], snapshot["provider"], snapshot["api"],
                              bool(snapshot.get("sandbox")), str(snapshot.get("type_id", "")),
                              created_at=float(snapshot["created_at"]),
                              fields=dict(snapshot.get("fields") or {}))
        for data in snapshot["parts"]:
            part = Part(data["phone"], int(data.get("receivers", 1)), data["state"],
                        data.get("outcome"), data.get("scenario"), run_id=data.get("run_id"),
                        to_come=list(data.get("receipts_to_come") or []),
                        played=list(data.get("played") or []), recipe=data.get("recipe"))
            if part.state == "held":
                messages.rebuild(message, part)  # released by its send API's starter
            elif part.state != "final":
                part.state = "final"  # unless its schedule resumes below
                part.to_come = []
            if part.run_id is not None:
                by_run[part.run_id] = (message, part)
            message.parts.append(part)
        messages.add(message)
        if record.get("send"):
            known = {f.name for f in fields(CapturedSend)}
            with state.lock:
                state.sent.append(CapturedSend(**{k: v for k, v in record["send"].items()
                                                  if k in known}))
        restored += 1
    resumed = 0
    for schedule in history.unfinished():
        history._update_schedule(schedule["run_id"], done=True)  # replaced by the resumed run
        try:
            if schedule.get("origin") == "admin":
                start = _resume_admin(state, schedule)
            else:
                found = by_run.get(schedule["run_id"])
                if found is None:
                    continue  # its message was pruned
                start = _resume_send(state, schedule, *found, journeys)
        except Exception as exc:  # one schedule that cannot resume must not stop the start
            log.warning("cannot resume run %s (of %s): %s", schedule["run_id"],
                        schedule.get("message_id"), exc)
            continue
        if start is not None:
            resumed += 1
            if later is None:
                start()
            else:
                later.append(start)
    return {"messages": restored, "resumed": resumed}


def _resume_send(state: State, schedule: Mapping[str, Any], message: Any, part: Any,
                 journeys: Mapping[str, Any]) -> Callable[[], None] | None:
    """Plan the receipts of a send's ``schedule`` not sent yet, each at the time it was due
    (a journey token's expiry only while the token is unused, its gate rebuilt); what starts
    them, or ``None`` when nothing is left to play."""
    from ._scenarios import resolve
    from .sendapi import AcceptedMessage
    from .sendapi._outcomes import JOURNEY_EXPIRY_SCENARIO, delivery_kinds

    spec = resolve(schedule["scenario"])
    gate = None
    journey = None
    if spec.name == JOURNEY_EXPIRY_SCENARIO:
        journey = journeys.get(str(schedule["message_id"]))
        if journey is None or journey.state != "unused":
            return None  # used (its expiry was cancelled) or expired already, or forgotten
        token = journey.token
        gate = lambda: state.send_state.expire_journey(token)  # noqa: E731
    sent = len(schedule.get("sent_steps") or [])
    every = spec.as_dict()["steps"]
    steps = every[sent:]
    if not steps:
        return None
    delay = float(schedule.get("delay") or 0) if not sent else 0.0
    if schedule.get("clock") != "manual":  # a manual clock keeps waiting for the caller
        scale = float(schedule.get("time_scale") or 0)
        started = schedule.get("released_at") or schedule.get("created") or time.time()
        offset = float(schedule.get("delay") or 0) + sum(
            float(s.get("after", 0)) for s in every[: sent + 1])
        wait_real = max(0.0, started + offset * scale - time.time())
        steps[0]["after"] = 0
        delay = wait_real / scale if scale else 0.0
    scenario = {**spec.as_dict(), "steps": steps}
    run_id = state.hooks.deliver(AcceptedMessage(
        schedule["provider"], str(schedule["message_id"]), schedule["target"], scenario,
        dict(schedule.get("fields") or {}), delay=delay, gate=gate))
    if run_id is None:
        return None
    state.send_state.messages.bind(run_id, message, part, delivery_kinds(resolve(scenario)))
    if journey is not None:
        state.send_state.set_expiry_run(journey.token, run_id)
    return lambda: state.hooks.release([run_id])


def _resume_admin(state: State, schedule: Mapping[str, Any]) -> Callable[[], None] | None:
    """Plan again a run started through the admin API, with the same seed (the same data),
    from its first receipt not sent yet, each at the time it was due; what starts it."""
    from ._scenarios import resolve

    first = schedule.get("resumed") or {}  # a run resumed before: what it continued
    sent = {*first.get("sent_steps", []), *(schedule.get("sent_steps") or [])}
    if not set(range(len(resolve(schedule["scenario"]).steps))) - sent:
        return None  # every receipt went out (retries of the last are not resumed)
    created = float(first.get("created", schedule["created"]))
    start_after = float(first.get("start_after", schedule.get("start_after") or 0))

    run = state.hooks.play(
        schedule["scenario"], schedule["target"], hold=True,
        prepare=lambda run: _skip_sent(run, sent, created, start_after),
        resumed={"from": schedule["run_id"], "created": created, "sent_steps": sorted(sent),
                 "start_after": start_after},
        **dict(schedule.get("options") or {}))
    return lambda: state.engine.release(run)


def _skip_sent(run: Any, sent: set[int], created: float, start_after: float) -> None:
    """Drop the deliveries of ``run`` whose step was sent before a restart; the first one left
    waits until it was due (a scaled clock counts from ``created``, a manual clock from the
    last receipt sent)."""
    deliveries = run.deliveries
    dues = list(itertools.accumulate(float(d.after) for d in deliveries))
    left = [i for i, d in enumerate(deliveries) if d.step not in sent]
    first = left[0]
    if run.clock.kind == "manual":
        before = [dues[i] for i, d in enumerate(deliveries) if d.step in sent]
        after = dues[first] - max(before) if before else deliveries[first].after
        run.start_after = 0.0 if before else start_after
    else:
        scale = float(run.clock.time_scale)
        wait = created + (start_after + dues[first]) * scale - time.time()
        after = 0.0
        run.start_after = max(0.0, wait / scale) if scale else 0.0
    run.deliveries[:] = [deliveries[first].replace(after=after),
                         *(deliveries[i] for i in left[1:])]
