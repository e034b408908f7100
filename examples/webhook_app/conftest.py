"""Fixtures for the webhook app's tests: the app, its test client, a live threaded server."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
# The example is a script directory, not a package: make `import webhook_app` work, and let it
# find dlrmock from a checkout that is not installed.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if importlib.util.find_spec("mock_server") is None:
    sys.path.insert(0, str(REPO_ROOT))

from webhook_app import create_app, get_store  # noqa: E402

SEED_EXAMPLES = REPO_ROOT / "schemas" / "examples"


@pytest.fixture
def app() -> Iterator[Flask]:
    """A fresh app on an in-memory database."""
    app = create_app(":memory:")
    yield app
    get_store(app).close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The app's in-process test client."""
    return app.test_client()


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    """The base URL of ``app`` served by a threaded Werkzeug server on a free port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="webhook-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        if thread.is_alive():
            raise RuntimeError("the webhook app's server thread did not stop within 10 s")
