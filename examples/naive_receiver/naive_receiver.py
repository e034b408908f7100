"""A deliberately naive receipt webhook: what dlrmock's conformance scenarios are meant to catch.

Do not copy this. Its bugs are on purpose, each one common in real receivers:

1. **Last write wins.** ``POST /webhooks/nxcloud`` stores whatever arrived last per
   ``requestId``, so a ``success`` arriving after ``delivered`` regresses the message.
2. **Not idempotent.** Every delivery is processed: the same receipt twice counts twice
   (``receipts_processed`` goes up, ``duplicates_ignored`` is always 0).
3. **Assumes a requestId.** ``journey_time_out`` receipts carry none: ``KeyError``, a ``500``.
4. **Trusts its input.** A body that is not a JSON object is a ``400`` at best, a ``500`` at worst.
5. **Expects JSON from eSMS.** eSMS calls back with an HTTP GET and a query string, but
   ``/webhooks/esms`` reads a JSON body, finds none and answers ``500``; it never looks at
   ``error_info`` either.

Compare ``examples/webhook_app``, which gets all of these right.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue

__all__ = ["create_app", "message_status"]

STORE_EXTENSION = "naive_receiver.store"


class NaiveStore:
    """An in-memory dict of messages, guarded by a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: dict[str, dict[str, Any]] = {}

    def save(self, key: str, provider: str, payload: dict[str, Any]) -> None:
        """Overwrite message ``key`` with ``payload`` and count one more receipt (bugs 1 and 2)."""
        with self.lock:
            processed = self.messages.get(key, {}).get("receipts_processed", 0) + 1
            self.messages[key] = {
                "key": key,
                "provider": provider,
                "status": payload.get("status"),
                "error_code": payload.get("code"),
                "error_message": payload.get("message"),
                "receipts_processed": processed,
                "duplicates_ignored": 0,
                "ext": payload.get("ext"),
                "last_payload": payload,
            }


def _store(app: Flask) -> NaiveStore:
    store: NaiveStore = app.extensions[STORE_EXTENSION]
    return store


def message_status(app: Flask, key: str) -> dict[str, Any] | None:
    """The probe: message ``key`` as stored, in the same shape as the realistic app's."""
    with _store(app).lock:
        view = _store(app).messages.get(key)
        return dict(view) if view is not None else None


def create_app() -> Flask:
    """The naive receiver, with an empty in-memory store."""
    app = Flask(__name__)
    app.extensions[STORE_EXTENSION] = NaiveStore()

    @app.post("/webhooks/nxcloud")
    def nxcloud_receipt() -> ResponseReturnValue:
        payload = request.get_json(force=True)
        _store(current_app).save(payload["requestId"], "nxcloud", payload)  # bug 3
        return "success"

    @app.route("/webhooks/esms", methods=["GET", "POST"])
    def esms_callback() -> ResponseReturnValue:
        payload: Any = request.get_json(force=True, silent=True)  # bug 5: None for a GET
        _store(current_app).save(payload["SMSID"], "esms", payload)  # TypeError → 500
        return "success"

    return app
