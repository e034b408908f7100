"""eSMS's documented answer to an invalid request, as the tests check it.

The expected bytes are the docs' example file itself (``error-99-invalid-request.json``, kept
verbatim); the checks work on a ``requests`` answer and on a Flask test client's alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTOR = (Path(__file__).resolve().parents[1] / "schemas" / "sendapi-examples" / "esms"
          / "error-99-invalid-request.json")
INVALID_REQUEST = json.dumps(json.loads(VECTOR.read_bytes())).encode()
"""The document eSMS's docs show for an invalid request, written as dlrmock writes every
answer (``json.dumps``: the docs print their examples indented)."""
EXPLAIN = "X-Dlrmock-Explain"


def invalid_request(response: Any, status: int = 200) -> str:
    """Assert ``response`` is eSMS's invalid request, byte for byte, in HTTP ``status``; return
    dlrmock's explanation (the ``X-Dlrmock-Explain`` header, which must say something)."""
    body = response.data if hasattr(response, "data") else response.content
    assert response.status_code == status, (response.status_code, body)
    assert body == INVALID_REQUEST, body
    assert response.headers["Content-Type"] == "application/json"
    explain: str = response.headers.get(EXPLAIN, "")
    assert explain.strip(), "no X-Dlrmock-Explain header"
    return explain
