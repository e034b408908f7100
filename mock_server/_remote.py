"""A client of a running ``dlrmock serve``'s admin API, shaped like :class:`MockProvider`.

Used by the pytest plugin's ``--dlrmock-url`` mode (dlrmock in another container), and by
scripts: ``RemoteProvider("http://127.0.0.1:8765").play(...)`` works as ``MockProvider`` does.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from . import _errors
from ._engine import Attempt, assert_handled
from ._errors import DlrmockError, OverrideError, RunError, ServerError, UnknownNameError
from ._message_view import Message
from ._scenarios import Scenario
from ._server import merge_fields
from .app import ADMIN_PREFIX
from .sendapi import CapturedSend

__all__ = ["RemoteProvider", "RemoteRun"]


def _remote_error(code: str, message: str) -> DlrmockError:
    """The exception the local API raises for the mistake the server reported as ``code``."""
    cls = getattr(_errors, code, None)
    if not (isinstance(cls, type) and issubclass(cls, DlrmockError)) or cls is DlrmockError:
        return RunError(message)
    error: DlrmockError = cls.__new__(cls)
    Exception.__init__(error, message)  # the server already wrote the whole message
    if isinstance(error, UnknownNameError):
        error.name, error.candidates = "", []
    return error


class RemoteProvider:
    """Drives a dlrmock server at ``url`` over its admin API; the API of ``MockProvider``."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: Any = None, timeout: float | None = None
    ) -> tuple[int, Any]:
        """One admin API call; returns (status, JSON).

        A 4xx answer raises the error the local API raises for the same mistake
        (:class:`~mock_server.UnknownScenarioError`, :class:`~mock_server.RunError` …).
        """
        data = json.dumps(body, allow_nan=False).encode() if body is not None else None
        req = urllib.request.Request(self.url + ADMIN_PREFIX + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            code, message = "", str(exc.reason)
            try:
                answer = json.loads(exc.read())
                code, message = str(answer.get("error", "")), str(answer.get("message", message))
            except (ValueError, AttributeError):
                pass
            if code and hasattr(_errors, code):
                raise _remote_error(code, message) from None
            raise RunError(f"dlrmock at {self.url} refused {method} {path}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerError(
                f"cannot reach dlrmock at {self.url} ({exc}); is `dlrmock serve` running there?"
            ) from None

    def start(self) -> RemoteProvider:
        self.request("GET", "/health")
        return self

    def stop(self) -> None:
        """Nothing to stop: the server belongs to someone else."""

    def __enter__(self) -> RemoteProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def play(
        self,
        scenario: str | Scenario | Mapping[str, Any],
        to: str,
        *,
        fields: Mapping[str, Any] | None = None,
        shared: Mapping[str, Any] | None = None,
        seed: int | None = None,
        time_scale: float | None = None,
        clock: str = "scaled",
        policy: Mapping[str, Any] | None = None,
        error_info_encoding: int | None = None,
        allow_invalid: bool = False,
        **more_fields: Any,
    ) -> RemoteRun:
        """As :meth:`mock_server.MockProvider.play`, on the remote server."""
        options = {
            "fields": merge_fields(fields, more_fields),
            "message": dict(shared) if shared else None,
            "seed": seed,
            "time_scale": time_scale,
            "clock": clock,
            "policy": dict(policy) if policy else None,
            "error_info_encoding": error_info_encoding,
            "allow_invalid": allow_invalid or None,
        }
        body: dict[str, Any] = {
            "scenario": scenario.as_dict() if isinstance(scenario, Scenario) else scenario,
            "to": to,
        }
        body.update({k: v for k, v in options.items() if v is not None})
        try:
            _, data = self.request("POST", "/runs", body)
        except ValueError as exc:  # NaN, infinity: not JSON, never sent
            raise OverrideError(
                f"cannot send these fields: {exc}; NaN and infinities are never sent, give a "
                "finite number"
            ) from None
        return RemoteRun(self, data)

    @property
    def runs(self) -> list[RemoteRun]:
        """Every run, oldest first (as the local provider lists them), page by page."""
        runs: list[RemoteRun] = []
        path: str | None = "/runs?order=oldest&limit=1000"
        while path is not None:
            _, data = self.request("GET", path)
            runs.extend(RemoteRun(self, item) for item in data["runs"])
            following = data.get("next")
            path = following.removeprefix(ADMIN_PREFIX) if following else None
        return runs

    def run(self, run_id: str) -> RemoteRun:
        """The run ``run_id`` (:class:`~mock_server.RunNotFoundError` when unknown)."""
        _, data = self.request("GET", f"/runs/{run_id}")
        return RemoteRun(self, data)

    def wait_for_runs(
        self, run_ids: Iterable[str], timeout: float | None = 30.0
    ) -> list[RemoteRun]:
        """Wait until every run of ``run_ids`` has finished; the runs, in that order."""
        deadline = None if timeout is None else time.monotonic() + timeout
        runs = [RemoteRun(self, {"id": run_id}) for run_id in run_ids]
        for run in runs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            run.wait(left)
        return runs

    @property
    def sent(self) -> list[CapturedSend]:
        """Every send request the system made to the remote server, with its answer."""
        _, data = self.request("GET", "/sent")
        return [CapturedSend(**item).bound(self) for item in data["sent"]]

    def health(self) -> dict[str, Any]:
        """``GET /_dlrmock/health``: version, the server's clock, counters, errors."""
        _, data = self.request("GET", "/health")
        return dict(data)

    def now(self) -> float:
        """The server's clock, what ``created_at`` and ``at`` are read on."""
        return float(self.health()["time"])

    def error_count(self) -> int:
        """How many errors were raised inside the server since its last reset."""
        return int(self.health().get("errors", 0))

    @property
    def messages(self) -> list[Message]:
        """Messages sent through the remote server's send APIs, oldest first."""
        _, data = self.request("GET", "/messages")
        return [self._view(item) for item in reversed(data["messages"])]

    def message(self, message_id: str) -> Message:
        return self._view(self._fetch(message_id))

    def release(self, message_id: str, outcome: str | None = None, *,
                scenario: str | None = None) -> Message:
        return self._view(self._release(message_id, outcome, scenario))

    def _fetch(self, message_id: str) -> dict[str, Any]:
        _, data = self.request("GET", f"/messages/{quote(message_id, safe='')}")
        return dict(data)

    def _release(self, message_id: str, outcome: str | None,
                 scenario: str | None) -> dict[str, Any]:
        body = {"outcome": outcome} if scenario is None else {"scenario": scenario}
        _, data = self.request(
            "POST", f"/messages/{quote(message_id, safe='')}/release", body)
        return dict(data)

    def _view(self, data: Mapping[str, Any]) -> Message:
        return Message(data, self._fetch, self._release)

    def reset(self) -> None:
        """Forget everything on the server: every client's runs and captured sends."""
        self.request("POST", "/reset")

    def check(self, baseline: int = 0) -> None:
        """Raise :class:`ServerError` if the server counts more errors than ``baseline``
        (what it counted before; a shared server keeps its count until reset)."""
        count = self.error_count()
        if count > baseline:
            raise ServerError(
                f"{count - baseline} error(s) inside the dlrmock server at {self.url}; "
                "see its log"
            )


class RemoteRun:
    """A run on a remote server; the same reading API as :class:`~mock_server.Run`.

    ``finished``, ``ok`` and ``state`` ask the server while the run is going; once it has
    finished, what was read last is kept.
    """

    def __init__(self, provider: RemoteProvider, data: Mapping[str, Any]) -> None:
        self.provider = provider
        self.data: dict[str, Any] = dict(data)
        self.id: str = data["id"]

    def refresh(self) -> RemoteRun:
        _, self.data = self.provider.request("GET", f"/runs/{self.id}")
        return self

    def _live(self) -> dict[str, Any]:
        if self.data.get("finished_at") is None:
            self.refresh()
        return self.data

    @property
    def finished(self) -> bool:
        return self._live().get("finished_at") is not None

    @property
    def state(self) -> str:
        return str(self._live().get("state"))

    @property
    def ok(self) -> bool:
        return bool(self._live().get("ok"))

    @property
    def seed(self) -> int:
        return int(self._live()["seed"])

    @property
    def message_id(self) -> str | None:
        return self._live().get("message_id")

    @property
    def message(self) -> dict[str, Any]:
        if "message" not in self.data:
            self.refresh()
        return dict(self.data.get("message", {}))

    @property
    def payloads(self) -> list[dict[str, Any]]:
        if "payloads" not in self.data:
            self.refresh()
        return list(self.data.get("payloads", []))

    @property
    def attempts(self) -> list[Attempt]:
        if "attempts" not in self.data or self.data.get("finished_at") is None:
            self.refresh()
        return [Attempt.from_dict(item) for item in self.data["attempts"]]

    def failures(self) -> list[str]:
        return list(self._live().get("failures", []))

    def journal_text(self) -> str:
        if "journal" not in self.data or self.data.get("finished_at") is None:
            self.refresh()
        return str(self.data.get("journal", ""))

    def wait(self, timeout: float | None = 30.0) -> RemoteRun:
        """Block until the run has finished (``None``: no limit), long-polling the server."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 300.0 if deadline is None else max(0.0, deadline - time.monotonic())
            chunk = min(left, 300.0)  # the server's longest long-poll
            status, self.data = self.provider.request(
                "GET", f"/runs/{self.id}/wait?timeout={chunk}", timeout=chunk + 10
            )
            if status == 200 or (deadline is not None and time.monotonic() >= deadline):
                break
            if self.data.get("clock", {}).get("kind") == "manual" and deadline is None:
                break
        seconds = timeout
        if status != 200:
            if self.data.get("clock", {}).get("kind") == "manual":
                raise RunError(
                    f"run {self.id} is waiting on its manual clock: call run.step() or "
                    "run.advance(seconds)"
                )
            raise RunError(f"run {self.id} still running after {seconds} s on {self.provider.url}")
        return self

    def step(self, timeout: float = 30.0) -> list[Attempt]:
        _, data = self.provider.request("POST", f"/runs/{self.id}/step", timeout=timeout)
        self.refresh()
        return [Attempt.from_dict(item) for item in data["attempts"]]

    def advance(self, seconds: float, timeout: float = 30.0) -> list[Attempt]:
        _, data = self.provider.request(
            "POST", f"/runs/{self.id}/advance", {"seconds": seconds}, timeout=timeout
        )
        self.refresh()
        return [Attempt.from_dict(item) for item in data["attempts"]]

    def assert_acknowledged(self, timeout: float = 30.0) -> None:
        """Raise ``AssertionError`` with the journal unless every receipt was acknowledged
        (a run cancelled or still going after ``timeout`` seconds fails too)."""
        __tracebackhide__ = True
        assert_handled(self, timeout)
