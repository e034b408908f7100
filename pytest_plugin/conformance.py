"""The conformance suite: one generated test per built-in scenario of a provider.

In a ``conftest.py`` or test module::

    from pytest_plugin.conformance import conformance_suite

    TestZaloWebhook = conformance_suite(
        "nxcloud", app=create_app(), path="/webhooks/nxcloud", probe=lambda key: lookup(key)
    )

The probe returns the system's view of a message by its key (``requestId``, ``SMSID``, or the
field a scenario names in ``expect.key``): a status string, or a mapping with ``status`` and
optionally ``receipts_processed`` (receipts applied) and ``error_code`` (the Zalo error).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest
from werkzeug.serving import make_server

from mock_server._scenarios import Scenario, builtin_scenarios
from mock_server.providers import get_provider

from .handle import Dlrmock

__all__ = ["RULES", "conformance_suite"]

Probe = Callable[[str], Any]

RULES = {
    "acknowledge": "acknowledge every delivery with a 2xx",
    "malformed": "answer a malformed payload without a 5xx",
    "final": "end in the right final state",
    "order": "never regress delivered back to success when receipts arrive out of order",
    "once": "process a duplicate or a provider retry once",
    "error_info": "decode error_info and record its error code",
}


class ConformanceFailure(AssertionError):
    """A broken conformance rule, with the run's journal."""


def _view(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"status": value}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(
        f"the probe returned {type(value).__name__}; return a status string or a "
        "mapping with a 'status' key"
    )


def check_run(scenario: Scenario, run: Any, probe: Probe) -> None:
    """Assert every conformance rule that applies to ``scenario`` on a finished ``run``."""
    __tracebackhide__ = True
    broken: list[str] = []
    for problem in run.failures():
        rule = "malformed" if "malformed payload" in problem else "acknowledge"
        broken.append(f"[{rule}] {RULES[rule]}: {problem}")
    expect = scenario.expect
    key_field = str(expect.get("key") or get_provider(scenario.provider).message_key)
    key = run.message.get(key_field) if hasattr(run, "message") else None
    view = _view(probe(str(key))) if key is not None else {}
    if "final" in expect:
        rule = "order" if any(step.reorder for step in scenario.steps) else "final"
        status = view.get("status")
        if status != expect["final"]:
            shown = "no record of it" if not view else f"status {status!r}"
            broken.append(
                f"[{rule}] {RULES[rule]}: expected {expect['final']!r} for "
                f"{key_field} {key!r}, the system shows {shown}"
            )
    repeats = any(step.duplicate or step.lost_ack for step in scenario.steps)
    processed = view.get("receipts_processed", view.get("processed"))
    if repeats and processed is not None:
        distinct = sum(1 for step in scenario.steps if not step.malformed)
        if int(processed) != distinct:
            broken.append(
                f"[once] {RULES['once']}: {distinct} distinct receipt(s) were sent "
                f"({len(run.attempts)} deliveries), the system processed {processed}"
            )
    if "error" in expect:
        code = view.get("error_code", view.get("error"))
        if code is None or int(code) != int(expect["error"]):
            broken.append(
                f"[error_info] {RULES['error_info']}: expected error "
                f"{expect['error']}, the system shows {code!r}"
            )
    if broken:
        raise ConformanceFailure(
            f"{scenario.name}: {scenario.description}\n  - "
            + "\n  - ".join(broken)
            + "\n"
            + run.journal_text()
        )


def conformance_suite(
    provider: str,
    *,
    probe: Probe,
    url: str | None = None,
    app: Any = None,
    path: str = "/",
    scenarios: Iterable[str] | None = None,
    timeout: float = 30.0,
) -> type:
    """A test class with one test per built-in scenario of ``provider``.

    Give the webhook as ``url``, or as a WSGI ``app`` (served on 127.0.0.1, a free port) plus
    the webhook's ``path``. Bind the result to a name starting with ``Test``.
    """
    if (url is None) == (app is None):
        raise ValueError("give exactly one of url= (a running webhook) or app= (a WSGI app)")
    get_provider(provider)
    available = {n: s for n, s in builtin_scenarios().items() if s.provider == provider}
    names = list(scenarios) if scenarios is not None else list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"no built-in {provider} scenario {unknown[0]!r}; known: {', '.join(available)}"
        )

    class Conformance:
        """dlrmock conformance: what a correct webhook does with each scenario."""

        @pytest.fixture(scope="class")
        @classmethod
        def dlrmock_webhook(cls) -> Iterator[str]:
            if url is not None:
                yield url
                return
            from mock_server._server import _QuietHandler

            server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
            # a short poll: shutdown() waits up to one poll interval (0.5 s by default)
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            try:
                yield f"http://127.0.0.1:{server.server_port}/{path.lstrip('/')}"
            finally:
                server.shutdown()
                server.server_close()
                thread.join(10)

        @pytest.mark.parametrize("scenario", names)
        def test_conformance(self, scenario: str, dlrmock: Dlrmock, dlrmock_webhook: str) -> None:
            __tracebackhide__ = True
            spec = available[scenario]
            run = dlrmock.play(spec, to=dlrmock_webhook)
            run.wait(timeout)
            check_run(spec, run, probe)

    Conformance.__name__ = Conformance.__qualname__ = f"Conformance_{provider}"
    return Conformance
