"""The journal: every run and attempt, bounded, evictions counted."""

from __future__ import annotations

import threading

from .records import Attempt
from .run import Run


class Journal:
    """Every run and attempt, bounded: beyond ``limit`` attempts the oldest finished runs go.

    Evictions are counted, never silent; runs still in progress are never evicted.
    """

    COMPACT_AFTER = 1000
    """Held attempts beyond which finished runs are compacted (:meth:`Run.compact`): a small
    journal keeps them as they are and spends no time packing."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.compacting = False
        self.runs: dict[str, Run] = {}  # in the order the runs were added
        self.attempt_count = 0
        self.total_attempts = 0
        self.evicted_runs = 0
        self.evicted_attempts = 0
        self._lock = threading.Lock()

    def add_run(self, run: Run) -> None:
        with self._lock:
            self.runs[run.id] = run

    def record(self, run: Run, attempt: Attempt) -> None:
        run.attempts.append(attempt)
        with self._lock:
            self.total_attempts += 1
            if self.runs.get(run.id) is not run:
                return  # forgotten by clear() while in flight: not held, so not counted as held
            self.attempt_count += 1
            if self.attempt_count > self.limit:
                self._evict()

    def finished(self, run: Run) -> None:
        """``run`` has finished: compact it if the journal is large (the first time it is, the
        finished runs it already holds too)."""
        if self.compacting:
            run.compact()
            return
        if self.attempt_count < self.COMPACT_AFTER:
            return
        self.compacting = True
        for held in [run, *self.all()]:
            if held.finished or held is run:
                held.compact()

    def _evict(self) -> None:
        for run_id in list(self.runs):
            if self.attempt_count <= self.limit * 0.9:
                break
            run = self.runs[run_id]
            if run.finished:
                del self.runs[run_id]
                self.attempt_count -= run.attempt_count
                self.evicted_attempts += run.attempt_count
                self.evicted_runs += 1

    def get(self, run_id: str) -> Run | None:
        with self._lock:
            return self.runs.get(run_id)

    def all(self) -> list[Run]:
        with self._lock:
            return list(self.runs.values())

    def clear(self) -> list[Run]:
        with self._lock:
            runs = list(self.runs.values())
            self.runs.clear()
            self.attempt_count = 0
            self.compacting = False
            return runs

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "runs": len(self.runs),
                "attempts": self.attempt_count,
                "total_attempts": self.total_attempts,
                "evicted_runs": self.evicted_runs,
                "evicted_attempts": self.evicted_attempts,
                "limit": self.limit,
            }

