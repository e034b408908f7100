"""The exception hierarchy: one base class, specific subclasses carrying the offending value."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Iterator


class DlrmockError(Exception):
    """Base class of every error dlrmock raises on purpose."""


def close_matches(value: str, candidates: Iterable[str]) -> list[str]:
    """The candidates that look like ``value``, closest first (maybe none)."""
    candidates = sorted(candidates)
    return difflib.get_close_matches(value, candidates, n=len(candidates), cutoff=0.6)


def closest_first(value: str, candidates: Iterable[str]) -> list[str]:
    """Candidates ordered so the closest matches to ``value`` come first."""
    candidates = sorted(candidates)
    close = close_matches(value, candidates)
    return close + [c for c in candidates if c not in close]


def _did_you_mean(value: str, candidates: Iterable[str]) -> str:
    close = close_matches(value, candidates)
    return f"did you mean {close[0]!r}? " if close else ""


class UnknownNameError(DlrmockError, LookupError):
    """A name that is not among the known ones; the message lists them, closest first."""

    what = "name"

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.candidates = closest_first(name, known)
        super().__init__(
            f"unknown {self.what} {name!r}; {_did_you_mean(name, self.candidates)}{self.listing()}"
        )

    def listing(self) -> str:
        return f"known: {', '.join(self.candidates)}"


class UnknownKindError(UnknownNameError):
    """A receipt kind name that no provider defines."""

    what = "receipt kind"

    @property
    def kind(self) -> str:
        return self.name

    def listing(self) -> str:
        return f"known kinds: {', '.join(self.candidates)}"


class UnknownProviderError(UnknownNameError, ValueError):
    """A provider name dlrmock does not fake."""

    what = "provider"


class UnknownScenarioError(UnknownNameError):
    """A scenario name that is neither built in nor a readable file."""

    what = "scenario"

    def listing(self) -> str:
        return (
            "`dlrmock scenarios` lists the built-in ones (the CLI also takes a path to a .yaml "
            "or .json file; the admin API takes an inline scenario object)"
        )


class PayloadError(DlrmockError, ValueError):
    """A payload source that cannot be read as a receipt at all (not JSON, not a query string)."""


class DetectionError(DlrmockError, ValueError):
    """A payload whose receipt kind cannot be told from its fields."""


class ErrorInfoError(DlrmockError, ValueError):
    """An eSMS ``error_info`` value that no known encoding decodes."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        shown = value if len(value) <= 80 else value[:77] + "..."
        super().__init__(f"cannot decode error_info {shown!r}: {reason}")


class OverrideError(DlrmockError, ValueError):
    """A field override (``--set FIELD=VALUE``) that cannot be applied."""


class ScenarioError(DlrmockError, ValueError):
    """A scenario definition that does not follow the scenario schema."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        self.source = source
        self.path = path
        self.line = line
        where = source or "<scenario>"
        if line is not None:
            where += f":{line}"
        if path:
            where += f" at {path}"
        super().__init__(f"{where}: {message}")


class RunError(DlrmockError):
    """A run that cannot be started, waited for, or stepped as asked."""


class RunNotFoundError(RunError, LookupError):
    """A run id the server does not know (never started, or evicted from the journal)."""


class EngineClosedError(RunError):
    """A run played (or the engine started) after the engine was closed: a closed engine,
    like a stopped :class:`MockProvider`, never plays again."""


class PendingLimitError(RunError):
    """A run refused because the engine already holds ``max_pending_runs`` unfinished runs."""


class ServerError(DlrmockError):
    """An error raised inside the fake provider's server thread, re-raised in the caller."""


class ErrorLog:
    """Errors raised inside dlrmock's own threads (a bug of dlrmock, not of the target), kept
    until the caller takes them to re-raise; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []

    def append(self, error: BaseException) -> None:
        with self._lock:
            self._errors.append(error)

    def take(self) -> list[BaseException]:
        """Every error kept so far, forgetting them in the same step (none can slip between)."""
        with self._lock:
            errors, self._errors = self._errors, []
        return errors

    def clear(self) -> None:
        self.take()

    def __len__(self) -> int:
        return len(self._errors)

    def __iter__(self) -> Iterator[BaseException]:
        with self._lock:
            return iter(list(self._errors))

    def __repr__(self) -> str:
        return f"ErrorLog({list(self)!r})"
