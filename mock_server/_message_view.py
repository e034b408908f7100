"""A sent message as tests see it, the same in local and remote mode."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import RunError

__all__ = ["Message"]


class Message:
    """One message the system under test sent through dlrmock (``dlrmock.messages``).

    ``state`` is ``held``, ``pending``, ``playing`` or ``final``; ``parts`` hold each
    recipient's receipts played and to come. Attributes are read live from the provider.
    """

    def __init__(self, data: Mapping[str, Any],
                 fetch: Callable[[str], Mapping[str, Any]],
                 release: Callable[[str, str | None, str | None], Mapping[str, Any]]) -> None:
        self._data = dict(data)
        self._fetch = fetch
        self._release = release

    def __repr__(self) -> str:
        return f"<Message {self.id} {self.provider} {self.state}>"

    def refresh(self) -> Message:
        self._data = dict(self._fetch(self.id))
        return self

    @property
    def id(self) -> str:
        return str(self._data["id"])

    @property
    def provider(self) -> str:
        return str(self._data["provider"])

    @property
    def api(self) -> str:
        return str(self._data["api"])

    @property
    def state(self) -> str:
        return str(self.refresh()._data["state"])

    @property
    def run_ids(self) -> list[str]:
        return list(self.refresh()._data["run_ids"])

    @property
    def parts(self) -> list[dict[str, Any]]:
        return list(self.refresh()._data["parts"])

    @property
    def played(self) -> list[dict[str, Any]]:
        """Every receipt payload sent for this message so far, part by part."""
        return [payload for part in self.parts for payload in part["played"]]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.refresh()._data)

    def release(self, outcome: str | None = None, *, scenario: str | None = None) -> Message:
        """Let a held message play ``outcome`` (``delivered``, ``failed``…) or ``scenario``."""
        self._data = dict(self._release(self.id, outcome, scenario))
        return self

    def wait(self, state: str = "final", timeout: float = 30.0) -> Message:
        """Block until the message is in ``state`` (default: every receipt played)."""
        deadline = time.monotonic() + timeout
        while self.state != state:
            if time.monotonic() > deadline:
                raise RunError(f"message {self.id} is still {self._data['state']} after "
                               f"{timeout} s (waited for {state!r})")
            time.sleep(0.01)
        return self
