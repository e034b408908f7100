"""Sent messages: what one send created, and where it is in its life.

A message is accepted, then *pending* (its receipts wait for their delay), possibly *held*
(waiting for someone to release it), *playing* (some receipts sent, more to come) and finally
*final*. ``GetSendStatus``, the admin API's ``/messages`` and the plugin all read these objects;
none of them recomputes a message's state from the bounded journal.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import DlrmockError
from .._scenarios import resolve
from ._model import AcceptedMessage
from ._outcomes import delivery_kinds

__all__ = ["MessageNotFoundError", "MessageNotHeldError", "MessageStore", "Part", "SentMessage",
           "Starter", "StarterFactory"]

Starter = Callable[["Part", "str | None", "str | None"], "str | None"]
"""(part, outcome, scenario) → the id of the run that plays the part's receipts, or ``None``."""
StarterFactory = Callable[["SentMessage", Mapping[str, Any]], Starter]
"""(message, recipe) → the :data:`Starter` of a held part (a send API registers one)."""


class MessageNotFoundError(DlrmockError):
    """No sent message has that id (never sent, reset, or forgotten past ``messages_limit``)."""


@dataclass(eq=False)
class Part:
    """One recipient of a message (an advertising campaign is one part; a channel of a
    multichannel send is one part): its receipts, played and to come."""

    phone: str
    receivers: int = 1
    """Numbers this part's receipts report on (a campaign: all of them)."""
    state: str = "pending"
    """``held`` → ``pending`` → ``playing`` → ``final``."""
    outcome: str | None = None
    scenario: str | None = None
    """The outcome or scenario name it plays (``None`` while held)."""
    final_hint: str = "delivered"
    """``delivered``, ``failed`` or ``pending``: how it ends when no receipt is due."""
    run_id: str | None = None
    to_come: list[str] = field(default_factory=list)
    """Kinds of the receipts not sent yet, in order."""
    played: list[dict[str, Any]] = field(default_factory=list)
    """Receipt payloads sent (first attempt of each), oldest first."""
    start: Starter | None = field(default=None, repr=False)
    """How a held part is released (set by its send API)."""
    recipe: dict[str, Any] | None = field(default=None, repr=False)
    """:attr:`start` as plain JSON data (``{"kind": …}`` and what that kind's factory needs),
    so that a history database can rebuild it after a restart (see
    :meth:`MessageStore.hold`)."""
    channels: int = 1
    """Channels that call back about this part (eSMS multichannel: a fallback channel's run
    follows a failed one's, bound to the same part); it is final only after the last."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "phone": self.phone,
            "receivers": self.receivers,
            "state": self.state,
            "outcome": self.outcome,
            "scenario": self.scenario,
            "run_id": self.run_id,
            "receipts_played": len(self.played),
            "receipts_to_come": list(self.to_come),
            "played": list(self.played),
        }


@dataclass(eq=False)
class SentMessage:
    """One accepted send: the id it answered and its parts."""

    id: str
    """SMSID (eSMS), requestId (NXCloud), journeyId (a journey token's expiry)."""
    provider: str
    api: str
    sandbox: bool = False
    type_id: str = ""
    """eSMS: the TypeId of its callbacks."""
    parts: list[Part] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    fields: dict[str, Any] = field(default_factory=dict)
    """What the send said that a status API echoes (e.g. eSMS ``RequestId``)."""

    @property
    def state(self) -> str:
        states = {part.state for part in self.parts}
        if not states or states == {"final"}:
            return "final"
        if "held" in states:
            return "held"
        if states == {"pending"}:
            return "pending"
        return "playing"

    @property
    def run_ids(self) -> list[str]:
        return [part.run_id for part in self.parts if part.run_id is not None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "api": self.api,
            "state": self.state,
            "sandbox": self.sandbox,
            "created_at": self.created_at,
            "run_ids": self.run_ids,
            "receipts_played": sum(len(p.played) for p in self.parts),
            "receipts_to_come": sum(len(p.to_come) for p in self.parts),
            "parts": [part.as_dict() for part in self.parts],
        }


class MessageStore:
    """The sent messages, newest last, bounded (the oldest are forgotten first)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.lock = threading.RLock()
        self._messages: OrderedDict[str, SentMessage] = OrderedDict()
        self._by_run: dict[str, tuple[SentMessage, Part]] = {}
        self.starters: dict[str, StarterFactory] = {}
        """How each send API starts a held part, by recipe kind (registered by its blueprint)."""

    def hold(self, sent: SentMessage, part: Part, kind: str, recipe: Mapping[str, Any]) -> None:
        """Hold ``part`` until it is released; ``recipe`` (JSON data) is what the ``kind``
        starter factory needs to play it then, now or after a restart."""
        part.state, part.outcome = "held", "hold"
        part.recipe = {**recipe, "kind": kind}
        part.start = self.starters[kind](sent, recipe)

    def rebuild(self, sent: SentMessage, part: Part) -> None:
        """Give a held ``part`` read back from a history its starter again: its recipe, played
        by the starter factory of its kind when it is released."""
        recipe = part.recipe

        def start(held: Part, outcome: str | None, scenario: str | None) -> str | None:
            factory = self.starters.get(str((recipe or {}).get("kind")))
            if recipe is None or factory is None:
                raise DlrmockError(
                    f"message {sent.id!r} was held when an earlier dlrmock stopped, and how to "
                    "play it was not kept, so it cannot be released: send it again")
            return factory(sent, recipe)(held, outcome, scenario)

        part.start = start

    def add(self, message: SentMessage) -> None:
        with self.lock:
            self._messages[message.id] = message
            self._messages.move_to_end(message.id)
            while len(self._messages) > self.limit:
                _, old = self._messages.popitem(last=False)
                for part in old.parts:
                    self._by_run.pop(part.run_id or "", None)

    def get(self, message_id: str) -> SentMessage:
        with self.lock:
            found = self._messages.get(message_id)
        if found is None:
            raise MessageNotFoundError(
                f"no sent message {message_id!r} (the SMSID / requestId a send answered); "
                "list them with GET /_dlrmock/messages"
            )
        return found

    def find(self, message_id: str) -> SentMessage | None:
        with self.lock:
            return self._messages.get(message_id)

    def of_run(self, run_id: str) -> SentMessage | None:
        """The message whose receipts ``run_id`` plays (until the run ends)."""
        with self.lock:
            found = self._by_run.get(run_id)
            return None if found is None else found[0]

    def all(self) -> list[SentMessage]:
        with self.lock:
            return list(self._messages.values())

    def clear(self) -> None:
        with self.lock:
            self._messages.clear()
            self._by_run.clear()

    def play(self, deliver: Callable[[AcceptedMessage], str | None], sent: SentMessage,
             part: Part, message: AcceptedMessage) -> str | None:
        """Hand ``part``'s receipts to ``deliver`` (the hooks) and bind the run to it; the run
        id, or ``None`` (the part is then final: nothing will be played)."""
        run_id = deliver(message)
        if run_id is None:
            part.state = "final"
            return None
        self.bind(run_id, sent, part, delivery_kinds(resolve(message.scenario)))
        return run_id

    # -- fed by the delivery engine
    def bind(self, run_id: str, message: SentMessage, part: Part, kinds: list[str]) -> None:
        """``run_id`` plays ``part`` of ``message``; ``kinds`` are its receipts in order."""
        with self.lock:
            part.run_id = run_id
            part.to_come = list(kinds)
            part.state = "pending" if kinds else "final"
            self._by_run[run_id] = (message, part)

    def sent(self, run_id: str, payload: dict[str, Any]) -> None:
        """A receipt of ``run_id`` went on the wire for the first time."""
        with self.lock:
            found = self._by_run.get(run_id)
            if found is None:
                return
            part = found[1]
            part.played.append(payload)
            if part.to_come:
                part.to_come.pop(0)
            part.state = "playing"  # final once its run ends (retries may still follow)

    def finished(self, run_id: str) -> None:
        """``run_id`` ended (played out, cancelled or stopped): its part is final."""
        with self.lock:
            found = self._by_run.pop(run_id, None)
            if found is not None and found[1].run_id == run_id:  # not moved on to a fallback
                part = found[1]
                part.state = "final"
                part.to_come = []

    def release(self, message_id: str, outcome: str | None, scenario: str | None) -> SentMessage:
        """Start the held parts of a message with ``outcome`` or ``scenario``; the message."""
        message = self.get(message_id)
        with self.lock:
            held = [part for part in message.parts if part.state == "held"]
            if not held:
                raise MessageNotHeldError(
                    f"message {message_id!r} is {message.state}, not held; only a message "
                    "sent with the outcome 'hold' waits for a release"
                )
            for part in held:
                part.state = "pending"  # claimed: a second release finds nothing held
        for part in held:
            assert part.start is not None
            try:
                run_id = part.start(part, outcome, scenario)
            except BaseException:
                with self.lock:
                    part.state = "held"
                raise
            if run_id is None:
                with self.lock:
                    part.state = "final"
        return message


class MessageNotHeldError(DlrmockError):
    """A release asked of a message that is not held."""
