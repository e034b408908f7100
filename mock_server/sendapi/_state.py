"""What the send APIs remember between requests: RequestIds, journey tokens, sent messages.

Everything is bounded (the oldest entries are forgotten first) and guarded by one lock, so one
:class:`SendState` can serve a threaded server. ``clear()`` empties it between tests.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ._messages import MessageStore
from ._settings import DEFAULT_BALANCE, SendSettings

PREVIEW_ID_START = 52352
"""[choice] eSMS ``ServicePreviewId`` s count up from the documented 52353."""

__all__ = ["Journey", "SendState"]


@dataclass
class Journey:
    """A journey token given out by ``initJourneyToken``."""

    token: str
    journey_id: str
    oa_id: str
    app_id: str
    phone: str
    token_type: str
    expiry_run_id: str | None
    state: str = "unused"
    """``unused`` → ``used`` (a send played journey_acknowledged) or ``expired``
    (journey_time_out was sent); never both."""
    created_at: float = field(default_factory=time.time)
    """When it was given out (``checkJourneyToken``'s ``createdAt``)."""

    @property
    def used(self) -> bool:
        return self.state == "used"


class _Bounded(OrderedDict[str, object]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: str, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class SendState:
    """Memory of one set of send blueprints; pass one to share or inspect it."""

    def __init__(self, settings: SendSettings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings or SendSettings()
        self.clock = clock
        self.lock = threading.Lock()
        self._request_ids = _Bounded(self.settings.request_id_limit)
        self._journeys = _Bounded(self.settings.messages_limit)
        self.messages = MessageStore(self.settings.messages_limit)
        self.rng = random.Random()
        """Draws receipt delays."""
        self._zns_sent = 0
        self._spent = 0.0
        self._codes = _Bounded(self.settings.messages_limit)
        self._registrations = _Bounded(self.settings.request_id_limit)
        self._preview_id = PREVIEW_ID_START
        self.on_journey: Callable[[Journey], None] | None = None
        """Told of each journey token given out and of each change of its state, outside the
        lock, with a copy (a ``--db`` history keeps them across a restart)."""

    def _tell(self, journey: Journey | None) -> None:
        if journey is not None and self.on_journey is not None:
            self.on_journey(journey)

    def clear(self) -> None:
        """Forget every RequestId, journey token, sent message and OTP code; the quota is full
        again and nothing is spent."""
        with self.lock:
            self._codes.clear()
            self._request_ids.clear()
            self._journeys.clear()
            self._zns_sent = 0
            self._spent = 0.0
            self._registrations.clear()
            self._preview_id = PREVIEW_ID_START
        self.messages.clear()

    def take_zns_quota(self) -> int:
        """Count one Zalo message against the daily quota; the quota remaining after it."""
        with self.lock:
            self._zns_sent += 1
            return max(0, self.settings.nxcloud_daily_quota - self._zns_sent)

    # -- eSMS OTP codes (SendMessageAutoGenCode_*, CheckCodeGen_V4_get)
    def add_code(self, phone: str, code: str, ttl: float) -> None:
        """``code`` is valid for ``phone`` during ``ttl`` seconds (a newer code replaces it)."""
        with self.lock:
            self._codes.put(phone, (code.upper(), self.clock() + ttl))

    def use_code(self, phone: str, code: str) -> bool:
        """Whether ``code`` is ``phone``'s live code; a code is good once."""
        with self.lock:
            found = self._codes.get(phone)
            if not isinstance(found, tuple) or found[0] != code.strip().upper() \
                    or self.clock() > found[1]:
                return False
            del self._codes[phone]
            return True

    # -- eSMS balance
    def balance(self) -> float:
        """What is left: the configured balance (or ``DEFAULT_BALANCE``) minus what was spent."""
        start = self.settings.balance
        with self.lock:
            return (DEFAULT_BALANCE if start is None else start) - self._spent

    def charge(self, amount: float) -> bool:
        """Spend ``amount``; ``False`` (nothing spent) if a configured balance cannot pay it."""
        with self.lock:
            limit = self.settings.balance
            if amount > 0 and limit is not None and limit - self._spent < amount:
                return False
            self._spent += amount
            return True

    def refund(self, amount: float) -> None:
        """Give back what :meth:`charge` took (the send failed after all)."""
        with self.lock:
            self._spent -= amount

    # -- eSMS RequestId (CodeResult 124 when reused within request_id_ttl)
    def claim_request_id(self, request_id: str) -> bool:
        """Take ``request_id``; ``False`` if it was taken less than ``request_id_ttl`` ago."""
        now = self.clock()
        with self.lock:
            taken = self._request_ids.get(request_id)
            if isinstance(taken, float) and now - taken < self.settings.request_id_ttl:
                return False
            self._request_ids.put(request_id, float(now))
            return True

    def release_request_id(self, request_id: str) -> None:
        """Give ``request_id`` back (its send failed after all)."""
        with self.lock:
            self._request_ids.pop(request_id, None)

    # -- eSMS registrations (SubServicePreviewJson, RegisZNSTemplateJson, RegisOAPackageJson)
    def register(self, fingerprint: str, busy_for: float) -> int | None:
        """A new ``ServicePreviewId`` for the request ``fingerprint``; ``None`` (199) if the
        same request was registered less than ``busy_for`` seconds ago (still being processed)."""
        now = self.clock()
        with self.lock:
            taken = self._registrations.get(fingerprint)
            if isinstance(taken, float) and now - taken < busy_for:
                return None
            self._registrations.put(fingerprint, float(now))
            self._preview_id += 1
            return self._preview_id

    # -- NXCloud journey tokens
    def add_journey(self, journey: Journey, *, tell: bool = True) -> None:
        """Remember ``journey`` (``tell=False``: one read back from a history)."""
        with self.lock:
            self._journeys.put(journey.token, journey)
            copy = replace(journey)
        if tell:
            self._tell(copy)

    def set_expiry_run(self, token: str, run_id: str | None) -> None:
        """The run that sends the token's journey_time_out is now ``run_id`` (resumed after a
        restart)."""
        with self.lock:
            found = self._journeys.get(token)
            if not isinstance(found, Journey):
                return
            found.expiry_run_id = run_id
            copy = replace(found)
        self._tell(copy)

    def journey(self, token: str) -> Journey | None:
        with self.lock:
            found = self._journeys.get(token)
            return found if isinstance(found, Journey) else None

    def claim_journey(self, token: str, use: bool) -> str:
        """The token's state before this send: ``unknown``, ``unused``, ``used`` or ``expired``.

        With ``use``, an unused token becomes used in the same step, so a journey expiry in
        flight (see :meth:`expire_journey`) can no longer fire.
        """
        changed = None
        with self.lock:
            found = self._journeys.get(token)
            if not isinstance(found, Journey):
                return "unknown"
            before = found.state
            if use and before == "unused":
                found.state = "used"
                changed = replace(found)
        self._tell(changed)
        return before

    def expire_journey(self, token: str) -> str | None:
        """Called by the expiry run just before it sends journey_time_out: ``None`` to send
        it (the token is now expired), else why not (it was used first)."""
        changed = None
        with self.lock:
            found = self._journeys.get(token)
            if isinstance(found, Journey) and found.state == "used":
                return f"journey {found.journey_id} was used before it expired"
            if isinstance(found, Journey) and found.state != "expired":
                found.state = "expired"
                changed = replace(found)
        self._tell(changed)
        return None

