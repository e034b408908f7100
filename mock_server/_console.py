"""The live console of ``dlrmock serve``: one line per send and one per delivery attempt.

A view of the event stream (:mod:`mock_server._events`). Text lines are coloured only when the
stream is a terminal (and ``NO_COLOR`` is unset); ``json`` prints one JSON object per line for
machines; ``quiet`` keeps errors only (rejected sends, unacknowledged attempts and runs).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, TextIO

from ._events import ATTEMPT, RUN, SEND, Event

__all__ = ["LOG_FORMATS", "ConsolePrinter"]

LOG_FORMATS = ("text", "json")

_GREEN, _RED, _YELLOW, _DIM, _RESET = "\033[32m", "\033[31m", "\033[33m", "\033[2m", "\033[0m"


def _clip(text: str, limit: int = 160) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class ConsolePrinter:
    """Prints events to ``stream`` as they are published (subscribe it to an ``EventBus``)."""

    def __init__(self, stream: TextIO, *, log_format: str = "text", quiet: bool = False,
                 color: bool | None = None) -> None:
        if log_format not in LOG_FORMATS:
            raise ValueError(f"unknown log format {log_format!r}; use one of {LOG_FORMATS}")
        self.stream = stream
        self.log_format = log_format
        self.quiet = quiet
        if color is None:
            isatty = getattr(stream, "isatty", None)
            color = bool(isatty and isatty()) and not os.environ.get("NO_COLOR")
        self.color = color and log_format == "text"
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line: dict[str, Any] | None
        if event.kind == SEND:
            line = self._send(event)
        elif event.kind == ATTEMPT:
            line = self._attempt(event)
        elif event.kind == RUN:
            line = self._run(event)
        else:
            return
        if line is None or (self.quiet and not line["error"]):
            return
        text = json.dumps(line["json"], default=str) if self.log_format == "json" \
            else self._paint(line["text"], line["colour"])
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _paint(self, text: str, colour: str) -> str:
        stamp = time.strftime("%H:%M:%S")
        if not self.color:
            return f"{stamp} {text}"
        return f"{_DIM}{stamp}{_RESET} {colour}{text}{_RESET}"

    def _send(self, event: Event) -> dict[str, Any]:
        send, summary = event.data["send"], event.data["summary"]
        rejected = bool(event.data["rejected"])
        outcome = "rejected" if rejected else "accepted"
        ids = send.get("message_ids") or []
        answer = f"error {send.get('error')}" if rejected else ("id " + ", ".join(ids) if ids
                                                                 else "no id")
        why = send.get("explain") or (_error_text(send.get("response")) if rejected else "")
        phone = summary.get("phone") or "-"
        text = (f"send    {send['provider']:<7} {send['endpoint']:<36} {phone:<14} "
                f"{outcome:<8} {answer}" + (f"  ({_clip(why)})" if why else ""))
        record = {"event": "send", "at": event.at, "provider": send["provider"],
                  "api": send["endpoint"], "phone": summary.get("phone"), "outcome": outcome,
                  "status": send.get("status"), "message_ids": ids, "error": send.get("error"),
                  "reason": why or None, "reference": summary.get("reference")}
        return {"text": text, "json": record, "error": rejected,
                "colour": _RED if rejected else _GREEN}

    def _attempt(self, event: Event) -> dict[str, Any]:
        attempt = event.data["attempt"]
        acknowledged = bool(event.data["acknowledged"])
        request = attempt["request"]
        status = "-" if attempt["status"] is None else str(attempt["status"])
        reason = None
        if not acknowledged:
            body = (attempt.get("response") or {}).get("body") or ""
            reason = attempt.get("error") or (f"answered {status} {_clip(body, 80)}".strip())
        retry = f" try {attempt['attempt']}" if attempt["attempt"] > 1 else ""
        text = (f"  → {request['method']:<4} {_clip(request['url'], 90)}  {status:>3}  "
                f"{attempt['latency_ms']:7.1f}ms  {attempt['outcome']}{retry}  "
                f"[{attempt['kind']} {event.data['run_id']}]"
                + (f"  ({_clip(reason)})" if reason else ""))
        record = {"event": "attempt", "at": event.at, "run_id": event.data["run_id"],
                  "message_id": event.data.get("message_id"), "kind": attempt["kind"],
                  "method": request["method"], "url": request["url"],
                  "status": attempt["status"], "latency_ms": attempt["latency_ms"],
                  "outcome": attempt["outcome"], "attempt": attempt["attempt"],
                  "acknowledged": acknowledged, "reason": reason}
        colour = _GREEN if acknowledged else (_YELLOW if attempt["outcome"] == "lost_ack"
                                              else _RED)
        return {"text": text, "json": record, "error": not acknowledged, "colour": colour}

    def _run(self, event: Event) -> dict[str, Any] | None:
        if not event.data.get("unacknowledged"):
            return None  # its attempts said it all (or it was cancelled on purpose)
        failures = event.data.get("failures") or []
        text = (f"  ✗ run {event.data['run_id']} ({event.data['scenario']}) {event.data['state']}"
                + (f": {_clip(failures[0])}" if failures else ""))
        record = {"event": "run", "at": event.at, "run_id": event.data["run_id"],
                  "message_id": event.data.get("message_id"),
                  "scenario": event.data["scenario"], "state": event.data["state"],
                  "ok": False, "failures": failures}
        return {"text": text, "json": record, "error": True, "colour": _RED}


def _error_text(response: Any) -> str:
    """The provider's own error message in an answer document, if it has one."""
    if isinstance(response, dict):
        for key in ("ErrorMessage", "message", "msg"):
            if response.get(key):
                return str(response[key])
    return ""
