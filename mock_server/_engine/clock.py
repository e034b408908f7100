"""Run clocks: real time scaled by ``time_scale``, or a manual clock the caller moves."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import deque

from .._errors import RunError


class ScaledClock:
    """Real time scaled by ``time_scale``: 0 means no waiting (order kept), 2 twice as slow.

    Real time is ``time.monotonic()``, not the event loop's clock: uvloop's counts whole
    milliseconds and rounds its timers to them, which would blur offsets and lateness and could
    fire a delivery up to a millisecond early.
    """

    kind = "scaled"
    __slots__ = ("_origin", "_virtual", "lateness", "time_scale")

    def __init__(self, time_scale: float = 1.0) -> None:
        if not math.isfinite(time_scale) or time_scale < 0:
            raise RunError(f"time_scale must be >= 0 (a finite number), got {time_scale!r}")
        self.time_scale = time_scale
        self._origin = 0.0
        self._virtual = 0.0
        self.lateness: deque[float] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._origin = time.monotonic()

    def now(self, ago: float = 0.0) -> float:
        """Seconds of scenario time since the run started (``ago`` real seconds ago; at time
        scale 0, time moves only as the run's deliveries fall due)."""
        if self.time_scale == 0:
            return self._virtual
        return (time.monotonic() - ago - self._origin) / self.time_scale

    async def sleep_until(self, due: float) -> None:
        if self.time_scale == 0:
            if due > self._virtual:
                self._virtual = due
                await asyncio.sleep(0)  # time passed: let other runs go first
            return
        target = self._origin + due * self.time_scale
        delay = target - time.monotonic()
        if delay > 0:
            while delay > 0:  # a timer the loop rounded down: never deliver early
                await asyncio.sleep(delay)
                delay = target - time.monotonic()
            if self.lateness is not None:
                self.lateness.append(-delay)

class ManualClock:
    """A clock the caller moves: nothing is delivered until ``step()`` or ``advance()``."""

    kind = "manual"
    __slots__ = ("_idle", "_lock", "_now", "_seq", "_timers")

    def __init__(self) -> None:
        self._now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        # Made here, not in start(): a caller may step the run before the loop has started it
        # (asyncio primitives bind to the loop that first uses them).
        self._idle: asyncio.Event | None = asyncio.Event()
        self._lock: asyncio.Lock | None = asyncio.Lock()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        pass

    def now(self, ago: float = 0.0) -> float:
        return self._now

    async def sleep_until(self, due: float) -> None:
        assert self._idle is not None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (due, next(self._seq), future))
        self._idle.set()
        await future

    def finished(self) -> None:
        """Called by the engine when the run has nothing left to do (done or cancelled)."""
        for _, _, future in self._timers:
            future.cancel()
        self._timers.clear()
        if self._idle is not None:
            self._idle.set()

    @property
    def pending(self) -> int:
        return len(self._timers)

    async def _fire_next(self) -> bool:
        assert self._idle is not None
        await self._idle.wait()
        while self._timers:
            due, _, future = heapq.heappop(self._timers)
            if future.done():  # the run was cancelled meanwhile
                continue
            self._now = max(self._now, due)
            self._idle.clear()
            future.set_result(None)
            await self._idle.wait()
            return True
        return False

    async def step(self) -> bool:
        """Fire the next scheduled delivery (whatever its delay) and wait until it is done."""
        assert self._lock is not None
        async with self._lock:  # one caller moves the clock at a time
            return await self._fire_next()

    async def advance(self, seconds: float) -> int:
        """Move time on by ``seconds``, firing every delivery that falls due, in order."""
        assert self._idle is not None and self._lock is not None
        async with self._lock:
            await self._idle.wait()
            target = self._now + seconds
            fired = 0
            while self._timers and self._timers[0][0] <= target:
                fired += await self._fire_next()
            self._now = max(self._now, target)
            return fired


Clock = ScaledClock | ManualClock
