"""The send APIs' hooks onto the delivery engine: accepted sends become runs, and the runs
report back to the sent messages they play."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from ._engine import Attempt, Delivery, Engine, Run
from .providers import get_provider
from .sendapi import AcceptedMessage, CapturedSend
from .sendapi._messages import MessageStore
from .sendapi._outcomes import JOURNEY_EXPIRY_SCENARIO

__all__ = ["EngineHooks"]


def _is_journey_expiry(scenario: str | Mapping[str, Any]) -> bool:
    return isinstance(scenario, Mapping) and scenario.get("name") == JOURNEY_EXPIRY_SCENARIO


class EngineHooks:
    """Implements :class:`mock_server.sendapi.SendHooks` with an :class:`Engine`."""

    def __init__(self, engine: Engine, capture: Callable[[CapturedSend], None],
                 messages: MessageStore, *, answer_margin: float = 0.0) -> None:
        self.engine = engine
        self.answer_margin = answer_margin
        """Real seconds between a send's answer and the start of its receipts' run."""
        self._capture = capture
        self.messages = messages
        engine.on_attempt.append(self._attempted)
        engine.on_finished.append(lambda run: messages.finished(run.id))

    def deliver(self, message: AcceptedMessage) -> str | None:
        """Plan the message's scenario at its callback URL, held until :meth:`release`."""
        if message.callback_url is None:
            return None
        clock = "scaled"
        if self.engine.time_scale == 0 and _is_journey_expiry(message.scenario):
            # At time scale 0 a 7-day token would expire at once, before the app could use it:
            # the expiry waits on a manual clock instead (advance it through the admin API).
            clock = "manual"
        # A real send happens now: its receipts carry today's times, not generated ones.
        zone = get_provider(message.provider).time_zone
        now = datetime.now(zone).replace(tzinfo=None)
        gate = message.gate
        run = self.engine.play(
            message.scenario,
            message.callback_url,
            message={"sent_at": now, "live": True, **message.message},
            clock=clock,
            start_after=message.delay,
            gate=(lambda _delivery: gate()) if gate is not None else None,
            live_zone=zone,
            hold=True,
            any_target=True,  # the provider accepts any callback URL; delivery tells
        )
        return run.id

    def release(self, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            run = self.engine.journal.get(run_id)
            if run is not None:
                self.engine.release(run, self.answer_margin)

    def cancel(self, run_id: str) -> None:
        self.engine.cancel(run_id)

    def capture(self, sent: CapturedSend) -> None:
        self._capture(sent)

    def _attempted(self, run: Run, attempt: Attempt) -> None:
        if attempt.attempt != 1:
            return
        delivery: Delivery | None = next(
            (d for d in run.deliveries if d.step == attempt.step and d.copy == attempt.copy), None
        )
        if delivery is not None:
            self.messages.sent(run.id, delivery.payload)
