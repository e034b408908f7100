"""What came of an attempt: the outcome names the journal records."""

from __future__ import annotations

from .._http import OUTCOMES as TRANSPORT_OUTCOMES

ACKNOWLEDGED = "acknowledged"
HTTP_ERROR = "http_error"
LOST_ACK = "lost_ack"
"""The target answered 2xx but the scenario drops the answer: the provider sees a timeout."""
CANCELLED = "cancelled"
"""The run was cancelled (or the engine closed) while this request waited for its answer."""
BLOCKED = "blocked"
"""Never sent: the target URL cannot be delivered to, is ambiguous, or is outside the
allow-list (the reason is in ``error``)."""
OUTCOMES = (
    ACKNOWLEDGED,
    HTTP_ERROR,
    LOST_ACK,
    *TRANSPORT_OUTCOMES,
    CANCELLED,
    BLOCKED,
)
SEEN_AS_TIMEOUT = frozenset({LOST_ACK, "connect_timeout", "pool_timeout"})
"""Outcomes the provider's retry rule treats as a timeout: no answer arrived in time (the last
two never reached the webhook: no connection came within the timeout)."""
