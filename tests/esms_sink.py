"""The webhook the eSMS send-API tests point callbacks at: it records each callback's path and
query parameters and answers 200 (the ``sink`` fixture of ``conftest.py``, one per module)."""

from __future__ import annotations

from targets import ThreadedWsgiApp
from werkzeug.wrappers import Request, Response

DEADLINE = 10.0
"""Seconds to wait for a callback (and, in the eSMS tests, for an answer)."""


class EsmsSink(ThreadedWsgiApp):
    """A webhook that records every callback (path and query parameters) and answers 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        super().__init__()

    @Request.application  # type: ignore[misc]
    def app(self, request: Request) -> Response:
        with self.changed:
            self.calls.append((request.path, dict(request.args)))
            self.changed.notify_all()
        return Response("ok")

    def wait(self, smsid: str, count: int) -> list[tuple[str, dict[str, str]]]:
        """The callbacks about ``smsid`` once there are ``count`` of them."""
        def mine() -> list[tuple[str, dict[str, str]]]:
            # A voice callback names its call by ReferenceId (the SMSID MakeCall answered).
            # A template registration's by ServicePreviewId.
            return [c for c in self.calls
                    if (c[1].get("SMSID") or c[1].get("ReferenceId")
                        or c[1].get("ServicePreviewId")) == smsid]

        with self.changed:
            if not self.changed.wait_for(lambda: len(mine()) >= count, DEADLINE):
                raise AssertionError(f"{count} callback(s) about {smsid} expected within "
                                     f"{DEADLINE:g} s; got {mine()}")
            return mine()
