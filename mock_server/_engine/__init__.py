"""The delivery engine: plays runs at targets from one asyncio loop in a background thread.

A run is one scenario played at one target URL. Its receipts are generated up front, then
delivered in order, each on its schedule (``after`` seconds, scaled by the run's clock), with the
provider's retry policy. Every attempt goes into the journal.

One concept per module: :mod:`.clock` (run clocks), :mod:`.outcomes` (what came of an attempt),
:mod:`.records` (a delivery to make, an attempt made), :mod:`.run` (a run and its verdict),
:mod:`.journal`, :mod:`.compact` (how a large journal keeps finished runs), :mod:`.policy` (a
run's delivery policy), :mod:`.plan` (a run's receipts and requests) and :mod:`.engine` (the
loop that plays runs).
"""

from __future__ import annotations

from ..providers import ACKNOWLEDGE_RULES
from .clock import Clock, ManualClock, ScaledClock
from .engine import Engine
from .journal import Journal
from .outcomes import ACKNOWLEDGED, BLOCKED, CANCELLED, HTTP_ERROR, LOST_ACK, OUTCOMES
from .plan import INVALID_OVERRIDE, plan_run
from .policy import MAX_SECONDS, POLICY_SETTINGS, check_policy, run_policy
from .records import Attempt, Delivery
from .run import Run, assert_handled

__all__ = [
    "ACKNOWLEDGED",
    "ACKNOWLEDGE_RULES",
    "BLOCKED",
    "CANCELLED",
    "HTTP_ERROR",
    "INVALID_OVERRIDE",
    "LOST_ACK",
    "MAX_SECONDS",
    "OUTCOMES",
    "POLICY_SETTINGS",
    "Attempt",
    "Clock",
    "Delivery",
    "Engine",
    "Journal",
    "ManualClock",
    "Run",
    "ScaledClock",
    "assert_handled",
    "check_policy",
    "plan_run",
    "run_policy",
]
