"""A client of a running ``dlrmock serve``'s admin API, shaped like :class:`MockProvider`.

Used by the pytest plugin's ``--dlrmock-url`` mode (dlrmock in another container).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ._engine import Attempt, assert_handled
from ._errors import RunError, ServerError
from ._message_view import Message
from ._scenarios import Scenario
from .app import ADMIN_PREFIX
from .sendapi import CapturedSend

__all__ = ["RemoteProvider", "RemoteRun"]


class RemoteProvider:
    """Drives a dlrmock server at ``url`` over its admin API."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: Any = None, timeout: float | None = None
    ) -> tuple[int, Any]:
        """One admin API call; returns (status, JSON). 4xx answers raise :class:`RunError`."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + ADMIN_PREFIX + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", exc.reason)
            except ValueError:
                message = exc.reason
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

    def play(
        self, scenario: str | Scenario | Mapping[str, Any], to: str, **options: Any
    ) -> RemoteRun:
        body = {
            "scenario": scenario.as_dict() if isinstance(scenario, Scenario) else scenario,
            "to": to,
        }
        body.update({k: v for k, v in options.items() if v is not None})
        _, data = self.request("POST", "/runs", body)
        return RemoteRun(self, data)

    @property
    def runs(self) -> list[RemoteRun]:
        _, data = self.request("GET", "/runs")
        return [RemoteRun(self, item) for item in data["runs"]]

    @property
    def sent(self) -> list[CapturedSend]:
        """Every send request the system made to the remote server, with its answer."""
        _, data = self.request("GET", "/sent")
        return [CapturedSend(**item) for item in data["sent"]]

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
        self.request("POST", "/reset")

    def check(self) -> None:
        _, data = self.request("GET", "/health")
        if data.get("errors"):
            raise ServerError(
                f"{data['errors']} error(s) inside the dlrmock server at {self.url}; see its log"
            )


class RemoteRun:
    """A run on a remote server; the same reading API as :class:`~mock_server.Run`."""

    def __init__(self, provider: RemoteProvider, data: Mapping[str, Any]) -> None:
        self.provider = provider
        self.data: dict[str, Any] = dict(data)
        self.id: str = data["id"]

    def refresh(self) -> RemoteRun:
        _, self.data = self.provider.request("GET", f"/runs/{self.id}")
        return self

    @property
    def finished(self) -> bool:
        return self.data.get("finished_at") is not None

    @property
    def ok(self) -> bool:
        return bool(self.data.get("ok"))

    @property
    def seed(self) -> int:
        return int(self.data["seed"])

    @property
    def message_id(self) -> str | None:
        return self.data.get("message_id")

    @property
    def message(self) -> dict[str, Any]:
        return dict(self.data.get("message", {}))

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return list(self.data.get("payloads", []))

    @property
    def attempts(self) -> list[Attempt]:
        if "attempts" not in self.data:
            self.refresh()
        return [Attempt.from_dict(item) for item in self.data["attempts"]]

    def failures(self) -> list[str]:
        return list(self.data.get("failures", []))

    def journal_text(self) -> str:
        if "journal" not in self.data:
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

    def assert_acknowledged(self) -> None:
        """Raise ``AssertionError`` with the journal unless :attr:`ok`."""
        __tracebackhide__ = True
        assert_handled(self)
