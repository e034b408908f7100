"""The send APIs' hooks onto the delivery engine: accepted sends become runs, and the runs
report back to the sent messages they play."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from ._engine import Attempt, Delivery, Engine, Run
from ._errors import RunNotFoundError
from ._events import ATTEMPT, RELEASED, RUN, SCHEDULED, SEND, EventBus, message_record, send_summary
from .providers import get_provider
from .sendapi import AcceptedMessage, CapturedSend
from .sendapi._messages import MessageStore
from .sendapi._outcomes import JOURNEY_EXPIRY_SCENARIO

__all__ = ["EngineHooks"]

log = logging.getLogger(__name__)


def _is_journey_expiry(scenario: str | Mapping[str, Any]) -> bool:
    return isinstance(scenario, Mapping) and scenario.get("name") == JOURNEY_EXPIRY_SCENARIO


class EngineHooks:
    """Implements :class:`mock_server.sendapi.SendHooks` with an :class:`Engine`."""

    def __init__(self, engine: Engine, capture: Callable[[CapturedSend], None],
                 messages: MessageStore, *, answer_margin: float = 0.0,
                 events: EventBus | None = None) -> None:
        self.engine = engine
        self.answer_margin = answer_margin
        """Real seconds between a send's answer and the start of its receipts' run."""
        self._capture = capture
        self.messages = messages
        self.events = events or EventBus()
        """Where sends, scheduled receipts, attempts and run ends are published."""
        engine.on_attempt.append(self._attempted)
        engine.on_finished.append(self._finished)

    def deliver(self, message: AcceptedMessage) -> str | None:
        """Plan the message's scenario at its callback URL, held until :meth:`release`.

        ``message.then`` is called once the run has finished normally (not cancelled).
        """
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
        self.events.publish(SCHEDULED, {
            "run_id": run.id, "message_id": message.message_id, "provider": message.provider,
            "target": message.callback_url, "scenario": message.scenario,
            "fields": message.message, "delay": message.delay, "clock": clock,
            "time_scale": self.engine.time_scale, "kinds": [d.kind for d in run.deliveries],
        })
        then = message.then
        if then is not None:
            run.when_finished(lambda done: self._follow_up(then, done))
        return run.id

    def play(self, scenario: str | Mapping[str, Any], to: str, *,
             prepare: Callable[[Run], None] | None = None, hold: bool = False,
             resumed: Mapping[str, Any] | None = None, **options: Any) -> Run:
        """Start a run the way the admin API does (``options`` as :meth:`Engine.play`'s, JSON
        values only), published as scheduled so that a ``--db`` history can resume it after a
        restart; ``prepare`` may change the planned run before it starts (a resumed run skips
        what was sent), ``resumed`` says what it continues (see
        :func:`mock_server._history.restore`); with ``hold`` it waits for
        :meth:`Engine.release`."""
        run = self.engine.play(scenario, to, hold=True, **options)
        if prepare is not None:
            prepare(run)
        self.events.publish(SCHEDULED, {
            "run_id": run.id, "message_id": run.message_id, "provider": run.provider,
            "target": to, "scenario": scenario, "origin": "admin", "resumed": resumed,
            "options": {**options, "seed": run.seed}, "clock": run.clock.kind,
            "time_scale": getattr(run.clock, "time_scale", None), "start_after": run.start_after,
            "kinds": [d.kind for d in run.deliveries],
        })
        if not hold:
            self.engine.release(run)
        return run

    def release(self, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            run = self.engine.journal.get(run_id)
            if run is not None and run.held:
                # Published first: at time scale 0 the run's first attempt may follow at once.
                self.events.publish(RELEASED, {
                    "run_id": run.id, "message_id": run.message_id,
                    "message": self._snapshot_of(run),
                })
                self.engine.release(run, self.answer_margin)

    @staticmethod
    def _follow_up(then: Callable[[], str | None], run: Run) -> None:
        if run.state == "cancelled":
            return
        try:
            then()
        except Exception:  # e.g. a scenario that cannot be built: logged, never raised here
            log.warning("the follow-up of run %s could not be played", run.id, exc_info=True)

    def cancel(self, run_id: str) -> None:
        """Stop ``run_id``; one the journal no longer knows (evicted, or planned by a server
        before a restart) has nothing left to stop."""
        with contextlib.suppress(RunNotFoundError):
            self.engine.cancel(run_id)

    def capture(self, sent: CapturedSend) -> None:
        self._capture(sent)
        record = asdict(sent)
        self.events.publish(SEND, {
            "send": record,
            "summary": send_summary(record),
            "rejected": sent.error is not None or sent.status >= 400,
            "message_id": sent.message_ids[0] if sent.message_ids else None,
            "messages": [m for m in map(self._snapshot, sent.message_ids) if m is not None],
        })

    def _snapshot(self, message_id: str | None) -> dict[str, Any] | None:
        found = None if message_id is None else self.messages.find(message_id)
        if found is None:
            return None
        with self.messages.lock:
            return message_record(found)

    def _snapshot_of(self, run: Run) -> dict[str, Any] | None:
        """The message ``run`` plays the receipts of: the one it is bound to (a journey
        expiry's receipt carries another id than its message), else by its receipts' id."""
        found = self.messages.of_run(run.id)
        if found is None:
            return self._snapshot(run.message_id)
        with self.messages.lock:
            return message_record(found)

    def _attempted(self, run: Run, attempt: Attempt) -> None:
        if attempt.attempt == 1:
            delivery: Delivery | None = next(
                (d for d in run.deliveries
                 if d.step == attempt.step and d.copy == attempt.copy), None
            )
            if delivery is not None:
                self.messages.sent(run.id, delivery.payload)
        if not self.events.subscribed:
            return
        self.events.publish(ATTEMPT, {
            "attempt": attempt.as_dict(), "run_id": run.id, "message_id": run.message_id,
            "provider": run.provider, "scenario": run.scenario.name,
            "acknowledged": attempt.acknowledged,
            "message": self._snapshot_of(run),
        })

    def _finished(self, run: Run) -> None:
        bound = self.messages.of_run(run.id)
        self.messages.finished(run.id)
        if not self.events.subscribed:
            return
        if bound is not None:
            with self.messages.lock:
                snapshot: dict[str, Any] | None = message_record(bound)
        else:
            snapshot = self._snapshot(run.message_id)
        failures = run.failures()
        self.events.publish(RUN, {
            # A cancelled run (a journey token used in time, a reset) is no delivery failure.
            "unacknowledged": run.state in ("done", "error") and bool(failures),
            "run_id": run.id, "message_id": run.message_id, "provider": run.provider,
            "scenario": run.scenario.name, "target": run.target, "state": run.state,
            "ok": run.ok, "failures": failures, "attempts": len(run.attempts),
            "message": snapshot,
        })
