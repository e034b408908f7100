"""The send APIs' hooks onto the delivery engine: accepted sends become runs."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ._engine import Engine, Run
from .providers import get_provider
from .sendapi import AcceptedMessage, CapturedSend
from .sendapi._outcomes import JOURNEY_EXPIRY_SCENARIO

__all__ = ["EngineHooks"]


def _is_journey_expiry(scenario: str | Mapping[str, Any]) -> bool:
    return isinstance(scenario, Mapping) and scenario.get("name") == JOURNEY_EXPIRY_SCENARIO


class EngineHooks:
    """Implements :class:`mock_server.sendapi.SendHooks` with an :class:`Engine`."""

    def __init__(self, engine: Engine, capture: Callable[[CapturedSend], None],
                 *, remember: int = 100_000) -> None:
        self.engine = engine
        self._capture = capture
        self._remember = remember
        self._runs: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
        self._lock = threading.Lock()

    def deliver(self, message: AcceptedMessage) -> str | None:
        """Play the message's scenario at its callback URL; the run id."""
        if message.callback_url is None:
            return None
        clock = "scaled"
        if self.engine.time_scale == 0 and _is_journey_expiry(message.scenario):
            # At time scale 0 a 7-day token would expire at once, before the app could use it:
            # the expiry waits on a manual clock instead (advance it through the admin API).
            clock = "manual"
        # A real send happens now: its receipts carry today's times, not generated ones.
        zone = get_provider(message.provider).time_zone
        now = datetime.now(zone).replace(tzinfo=None, microsecond=0)
        run = self.engine.play(
            message.scenario,
            message.callback_url,
            message={"sent_at": now, **message.message},
            clock=clock,
        )
        with self._lock:
            self._runs.setdefault((message.provider, message.message_id), []).append(run.id)
            while len(self._runs) > self._remember:
                self._runs.popitem(last=False)
        return run.id

    def cancel(self, run_id: str) -> None:
        self.engine.cancel(run_id)

    def capture(self, sent: CapturedSend) -> None:
        self._capture(sent)

    def played(self, provider: str, message_id: str) -> list[dict[str, Any]]:
        """Payloads already sent (answered or not) for the message, oldest first."""
        with self._lock:
            run_ids = list(self._runs.get((provider, message_id), ()))
        payloads: list[dict[str, Any]] = []
        for run_id in run_ids:
            run: Run | None = self.engine.journal.get(run_id)
            if run is None:
                continue
            sent = {(a.step, a.copy) for a in list(run.attempts)}
            payloads.extend(d.payload for d in run.deliveries if (d.step, d.copy) in sent)
        return payloads

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
