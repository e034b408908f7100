"""One event stream, many views.

The send APIs and the delivery engine (through :class:`~mock_server._hooks.EngineHooks`) publish
what happened: a send and dlrmock's answer, receipts scheduled, each delivery attempt and its
outcome, a run's end. The console printer, the dashboard's live updates, the ``/health``
counters and the history store subscribe to an :class:`EventBus`; none of them reads the engine.

Every event carries plain JSON-able data, and the message it concerns as a snapshot of the
:class:`~mock_server.sendapi.SentMessage` (what ``GET /_dlrmock/messages/<id>`` shows).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ATTEMPT",
    "EVENT_KINDS",
    "JOURNEY",
    "RELEASED",
    "RESET",
    "RUN",
    "SCHEDULED",
    "SEND",
    "Counters",
    "Event",
    "EventBus",
    "message_record",
    "send_summary",
]

log = logging.getLogger(__name__)

SEND = "send"
"""A request to a send API and dlrmock's answer (accepted or rejected)."""
SCHEDULED = "scheduled"
"""Receipts of a message planned: a run, its scenario, target and fields (not started yet)."""
RELEASED = "released"
"""A planned run started its clock: its receipts are on their way."""
ATTEMPT = "attempt"
"""One HTTP request of a receipt to the webhook and what came of it."""
RUN = "run"
"""A run ended (played out, cancelled, stopped), acknowledged or not."""
RESET = "reset"
"""Everything was forgotten (``POST /_dlrmock/reset``)."""
JOURNEY = "journey"
"""An NXCloud journey token given out, used or expired (what the history keeps of it)."""
EVENT_KINDS = (SEND, SCHEDULED, RELEASED, ATTEMPT, RUN, RESET, JOURNEY)


@dataclass(frozen=True)
class Event:
    """Something that happened, numbered in publishing order."""

    kind: str
    data: Mapping[str, Any]
    at: float = field(default_factory=time.time)
    seq: int = 0

    @property
    def message_id(self) -> str | None:
        value = self.data.get("message_id")
        return None if value is None else str(value)


Subscriber = Callable[[Event], None]


class EventBus:
    """Delivers each published event to every subscriber, in order, on the publishing thread.

    A subscriber's bug is logged and never reaches the publisher (the engine or a send API).
    """

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every event from now on; returns how to unsubscribe."""
        with self._lock:
            self._subscribers = [*self._subscribers, subscriber]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not subscriber]

        return unsubscribe

    @property
    def subscribed(self) -> bool:
        """Whether anyone listens (publishers may skip building an event nobody reads)."""
        return bool(self._subscribers)

    def publish(self, kind: str, data: Mapping[str, Any]) -> Event:
        with self._lock:
            event = Event(kind, data, seq=next(self._seq))
            subscribers = self._subscribers
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on a %s event", subscriber, kind)
        return event


def message_record(message: Any) -> dict[str, Any]:
    """A :class:`~mock_server.sendapi.SentMessage` as events carry it (and the store keeps it):
    its ``as_dict()`` plus what a restart needs to rebuild it."""
    record: dict[str, Any] = message.as_dict()
    record["type_id"] = message.type_id
    record["fields"] = dict(message.fields)
    for data, part in zip(record["parts"], message.parts, strict=True):
        if part.recipe is not None and part.state == "held":  # how to release it
            data["recipe"] = part.recipe
    return record


def _first(document: Any, *names: str) -> Any:
    """The first of ``names`` present in ``document`` (case-insensitive, as eSMS reads them)."""
    if not isinstance(document, Mapping):
        return None
    lowered = {str(k).lower(): v for k, v in document.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value not in (None, ""):
            return value
    return None


def send_summary(send: Mapping[str, Any]) -> dict[str, Any]:
    """What a person scans in a send request: phone(s), content or template and parameters,
    the caller's reference (eSMS ``RequestId``, NXCloud ``ext``)."""
    document = send.get("json")
    data = _first(document, "messageData")
    phone = _first(document, "Phone", "phone")
    phones = _first(document, "Phones")
    if phone is None and phones is not None:
        phone = ",".join(str(p) for p in phones) if isinstance(phones, list) else phones
    template = _first(document, "TempID", "templateId")
    if template is None:
        template = _first(data, "templateId")
    params = _first(document, "Params", "TempData")
    if params is None:
        params = _first(data, "templateData")
    reference = _first(document, "RequestId", "ext")
    if phone is None:
        phone = _first(document, "to")  # WhatsApp
    content = _first(document, "Content")
    if content is None:
        content = _first(data, "text")  # Viber
    if content is None:
        content = _first(document, "text")  # WhatsApp
    if isinstance(content, Mapping):  # WhatsApp's {"body": ...}
        content = content.get("body")
    return {  # whatever the caller sent (any JSON): texts to show, never an error
        "phone": None if phone is None else str(phone),
        "content": None if content is None else str(content),
        "template": None if template is None else str(template),
        "params": params,
        "reference": None if reference is None else str(reference),
    }


class Counters:
    """What ``/_dlrmock/health`` counts, fed by the event stream."""

    NAMES = ("sends", "sends_rejected", "attempts", "attempts_unacknowledged",
             "runs_finished", "runs_unacknowledged")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.NAMES, 0)

    def __call__(self, event: Event) -> None:
        with self._lock:
            if event.kind == SEND:
                self._counts["sends"] += 1
                if event.data.get("rejected"):
                    self._counts["sends_rejected"] += 1
            elif event.kind == ATTEMPT:
                self._counts["attempts"] += 1
                if not event.data.get("acknowledged"):
                    self._counts["attempts_unacknowledged"] += 1
            elif event.kind == RUN:
                self._counts["runs_finished"] += 1
                if event.data.get("unacknowledged"):
                    self._counts["runs_unacknowledged"] += 1
            elif event.kind == RESET:
                self._counts = dict.fromkeys(self.NAMES, 0)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
