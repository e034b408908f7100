"""What the send APIs remember between requests: RequestIds, journey tokens, sent eSMS batches.

Everything is bounded (the oldest entries are forgotten first) and guarded by one lock, so one
:class:`SendState` can serve a threaded server. ``clear()`` empties it between tests.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from ._settings import SendSettings

__all__ = ["EsmsBatch", "EsmsRecipient", "Journey", "SendState"]


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
    used: bool = False


@dataclass
class EsmsRecipient:
    """One recipient of an eSMS send (one receipt; advertising: the whole campaign)."""

    phone: str
    """Local form (``0…``); empty for an advertising campaign."""
    receivers: int
    """Numbers this receipt reports on (advertising: all of them)."""
    final: str
    """``delivered``, ``failed`` or ``pending``: where it ends when no receipt tells."""
    run_id: str | None


@dataclass
class EsmsBatch:
    """One accepted eSMS send, as ``GetSendStatus`` reports on it."""

    smsid: str
    type_id: str
    sandbox: bool
    recipients: list[EsmsRecipient] = field(default_factory=list)


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
        self.journey_lock = threading.Lock()
        """Held while one send uses a journey token (see ``nxcloud.py``)."""
        self._request_ids = _Bounded(self.settings.request_id_limit)
        self._journeys = _Bounded(self.settings.messages_limit)
        self._batches = _Bounded(self.settings.messages_limit)

    def clear(self) -> None:
        """Forget every RequestId, journey token and sent batch."""
        with self.lock:
            self._request_ids.clear()
            self._journeys.clear()
            self._batches.clear()

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

    # -- NXCloud journey tokens
    def add_journey(self, journey: Journey) -> None:
        with self.lock:
            self._journeys.put(journey.token, journey)

    def journey(self, token: str) -> Journey | None:
        with self.lock:
            found = self._journeys.get(token)
            return found if isinstance(found, Journey) else None

    def use_journey(self, token: str) -> Journey | None:
        """Mark the token used; the journey if this was its first use, else ``None``."""
        with self.lock:
            found = self._journeys.get(token)
            if not isinstance(found, Journey) or found.used:
                return None
            found.used = True
            return found

    # -- eSMS batches (GetSendStatus)
    def add_batch(self, batch: EsmsBatch) -> None:
        with self.lock:
            self._batches.put(batch.smsid, batch)

    def batch(self, smsid: str) -> EsmsBatch | None:
        with self.lock:
            found = self._batches.get(smsid)
            return found if isinstance(found, EsmsBatch) else None
