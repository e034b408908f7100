"""The conformance suite: one generated test per built-in scenario of a provider, and, with
``send=``, one per send outcome (the full loop: send → answer → receipts → state).

In a ``conftest.py`` or test module::

    from pytest_plugin.conformance import conformance_suite

    TestZaloWebhook = conformance_suite(
        "nxcloud", app=create_app(), path="/webhooks/nxcloud",
        probe=lambda message: lookup(message["requestId"]),
    )

The probe gets the message the receipts are about (a mapping of its identifiers and shared
fields: ``requestId``, ``ext``, ``journeyId``, ``SMSID``, ``RequestId`` …) and returns the
system's view of it: a status string, or a mapping with ``status`` and optionally
``receipts_processed`` (receipts applied) and ``error_code`` (the Zalo error).
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest
from werkzeug.serving import make_server

from mock_server._factory import ReceiptFactory
from mock_server._scenarios import Scenario, builtin_scenarios
from mock_server.providers import get_provider
from mock_server.sendapi import DEFAULT_MAGIC_NUMBERS, OUTCOMES, PLAYABLE_OUTCOMES, CapturedSend

from .handle import Dlrmock

__all__ = ["RULES", "SEND_EXPECTATIONS", "SEND_PHONES", "ConformanceFailure", "conformance_suite"]

Probe = Callable[[Mapping[str, Any]], Any]
Prepare = Callable[[Mapping[str, Any]], "Mapping[str, Any] | None"]
Send = Callable[..., Any]

RULES = {
    "acknowledge": "acknowledge every delivery as its provider requires (a 2xx; eSMS voice: "
                   "exactly 200; NXCloud SMS-style reports: the text success)",
    "malformed": "answer a malformed payload without a 5xx",
    "final": "end in the right final state",
    "order": "never regress delivered back to success when receipts arrive out of order",
    "once": "process a duplicate or a provider retry once",
    "error_info": "decode error_info and record its error code",
    "send": "send through the provider's API so that it accepts the message",
}

SEND_PHONES: Mapping[str, str] = {
    outcome: "8490123" + suffix.rjust(4, "0")
    for suffix, outcome in DEFAULT_MAGIC_NUMBERS.items()
    if len(suffix) == 4 and outcome in PLAYABLE_OUTCOMES  # a held message waits for a release
}
"""The number the suite sends to for each outcome (the default magic numbers, ``84…`` form)."""

SEND_EXPECTATIONS: Mapping[str, Mapping[str, str]] = {
    "nxcloud": {
        "delivered": "delivered",
        "failed": "failed",
        "no_receipt": "success",  # the success receipt comes, the delivered one never does
        "duplicate": "delivered",
        "out_of_order": "delivered",
        "lost_ack": "delivered",
    },
    "esms": {
        "delivered": "delivered",
        "failed": "failed",
        "no_receipt": "pending",  # no callback at all: still what the system stored at send
        "duplicate": "delivered",
        "out_of_order": "delivered",
        "lost_ack": "delivered",
    },
}
"""The status a correct system shows after sending to each outcome's number, per provider."""


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


def _named(status: str, statuses: Mapping[str, str]) -> str:
    """The system's name of dlrmock's ``status``, as the failure message shows it."""
    mine = statuses.get(status, status)
    return repr(mine) if mine == status else f"{mine!r} (dlrmock's {status!r})"


def _check_final(
    broken: list[str],
    rule: str,
    expected: str,
    view: Mapping[str, Any],
    label: str,
    statuses: Mapping[str, str],
) -> None:
    status = view.get("status")
    if status != statuses.get(expected, expected):
        shown = "no record of it" if not view else f"status {status!r}"
        broken.append(
            f"[{rule}] {RULES[rule]}: expected {_named(expected, statuses)} for {label}, "
            f"the system shows {shown}"
        )


def _check_once(broken: list[str], distinct: int, deliveries: int, view: Mapping[str, Any]) -> None:
    processed = view.get("receipts_processed", view.get("processed"))
    if processed is not None and int(processed) != distinct:
        broken.append(
            f"[once] {RULES['once']}: {distinct} distinct receipt(s) were sent "
            f"({deliveries} deliveries), the system processed {processed}"
        )


def _acknowledgements(run: Any) -> list[str]:
    broken: list[str] = []
    if run.finished and run.state == "cancelled":
        broken.append(f"[acknowledge] run {run.id} was cancelled before it finished")
    for problem in run.failures():
        rule = "malformed" if "malformed payload" in problem else "acknowledge"
        broken.append(f"[{rule}] {RULES[rule]}: {problem}")
    return broken


def check_run(
    scenario: Scenario,
    run: Any,
    probe: Probe,
    message: Mapping[str, Any] | None = None,
    statuses: Mapping[str, str] | None = None,
    keyed_by: str | None = None,
) -> None:
    """Assert every conformance rule that applies to ``scenario`` on a finished ``run``.

    ``message`` is what the probe gets (the run's message by default); ``statuses`` maps
    dlrmock's status names to the system's; ``keyed_by`` names the field failures show the
    message by (the scenario's key by default).
    """
    __tracebackhide__ = True
    statuses = statuses or {}
    if message is None:
        message = {k: v for k, v in run.message.items() if k != "sent_at"}
    broken = _acknowledgements(run)
    expect = scenario.expect
    key_field = keyed_by or str(expect.get("key") or get_provider(scenario.provider).message_key)
    label = f"{key_field} {message.get(key_field)!r}"
    view = _view(probe(message))
    if "final" in expect:
        rule = "order" if any(step.reorder for step in scenario.steps) else "final"
        _check_final(broken, rule, str(expect["final"]), view, label, statuses)
    if any(step.duplicate or step.lost_ack for step in scenario.steps):
        distinct = sum(1 for step in scenario.steps if not step.malformed)
        _check_once(broken, distinct, len(run.attempts), view)
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


def _field(data: Any, name: str) -> Any:
    """``name`` in a captured send's parsed body, in any letter case (eSMS accepts any)."""
    if not isinstance(data, Mapping):
        return None
    for key, value in data.items():
        if str(key).lower() == name.lower():
            return value
    return None


def _describe_send(item: CapturedSend) -> str:
    answer = json.dumps(item.response, ensure_ascii=False)
    answer = answer if len(answer) <= 200 else answer[:197] + "..."
    # The provider's answer may say no more than {"error": "Invalid request"} (eSMS): the why
    # is dlrmock's explanation.
    why = f" ({item.explain})" if item.explain and item.error is not None else ""
    return f"{item.method} {item.path} -> {item.status} {answer}{why}"


def check_send(
    provider: str,
    outcome: str,
    dlrmock: Dlrmock,
    send: Send,
    webhook: str,
    probe: Probe,
    statuses: Mapping[str, str],
    timeout: float,
) -> None:
    """Send to ``outcome``'s number through the system, wait for the receipts, probe."""
    __tracebackhide__ = True
    phone = SEND_PHONES[outcome]
    title = f"send:{outcome}: the system sends to {phone} through dlrmock"
    before = {(item.at, item.path, item.body) for item in dlrmock.sent}
    options = {"webhook_url": webhook} if _takes_webhook(send) else {}
    returned = send(phone, dlrmock.url, **options)
    made = [item for item in dlrmock.sent if (item.at, item.path, item.body) not in before]
    mine = [
        item
        for item in made
        if item.provider == provider
        and item.error is None
        and item.message_ids
        and phone[-9:] in item.body
    ]
    # On a shared server another client may send to the same number meanwhile: prefer the
    # sends that name this suite's webhook as their callback URL.
    mine = [item for item in mine if webhook in item.body] or mine
    if not mine:
        shown = "\n    ".join(_describe_send(item) for item in made) or "nothing"
        raise ConformanceFailure(
            f"{title}\n  - [send] {RULES['send']}: no accepted {provider} send to {phone} "
            f"reached dlrmock at {dlrmock.url}; it received:\n    {shown}"
        )
    runs: list[Any] = []
    for item in mine:
        runs += item.wait(timeout)
    key_field = get_provider(provider).message_key
    message: dict[str, Any] = {"phone": phone, "outcome": outcome,
                               key_field: mine[0].message_ids[0]}
    for name in ("RequestId", "ext"):
        value = _field(mine[0].json, name)
        if value is not None:
            message[name] = value
    if isinstance(returned, Mapping):
        message.update(returned)
    broken = [problem for run in runs for problem in _acknowledgements(run)]
    view = _view(probe(message))
    expected = SEND_EXPECTATIONS[provider][outcome]
    rule = "order" if outcome == "out_of_order" else "final"
    _check_final(broken, rule, expected, view, f"{key_field} {message[key_field]!r}", statuses)
    payloads = [p for run in runs for p in run.payloads]
    distinct = len({json.dumps(p, sort_keys=True, default=str) for p in payloads})
    deliveries = sum(len(run.attempts) for run in runs)
    if deliveries > distinct:
        _check_once(broken, distinct, deliveries, view)
    if broken:
        journals = "\n".join(run.journal_text() for run in runs) or "(no receipts were played)"
        raise ConformanceFailure(f"{title}\n  - " + "\n  - ".join(broken) + "\n" + journals)


def _overrides(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(
        f"prepare returned {type(value).__name__}; return a mapping of field overrides "
        '(e.g. {"RequestId": "otp-42"}) or None'
    )


def _takes_webhook(send: Send) -> bool:
    try:
        parameters = inspect.signature(send).parameters
    except (TypeError, ValueError):
        return False
    return "webhook_url" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def shared_message(scenario: Scenario, seed: int) -> dict[str, Any]:
    """The identifiers and fields every receipt of ``scenario`` will share (seeded)."""
    message = ReceiptFactory(seed).message(scenario.provider, scenario.message)
    message.pop("sent_at", None)  # generated per run; not JSON
    return message


# The suite's fixture and tests hand their work to these plain functions, where mutmut's
# mutants reach (it does not mutate decorated functions).
def _webhook(url: str | None, app: Any, path: str) -> Iterator[str]:
    """``url``, or ``app`` served on 127.0.0.1 on a free port while the class runs."""
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


def check_scenario(
    spec: Scenario,
    dlrmock: Dlrmock,
    webhook: str,
    probe: Probe,
    prepare: Prepare | None,
    statuses: Mapping[str, str],
    timeout: float,
) -> None:
    """Play ``spec`` at ``webhook`` (after ``prepare``), wait for it, and check its rules."""
    __tracebackhide__ = True
    message = shared_message(spec, dlrmock.seed)
    overrides = _overrides(prepare(dict(message))) if prepare is not None else {}
    run = dlrmock.play(spec, to=webhook, shared=message, fields=overrides)
    run.wait(timeout)
    seen = {k: v for k, v in run.message.items() if k != "sent_at"}
    keyed_by = next(iter(overrides), None)  # the receiver's own id, if prepare gave one
    check_run(spec, run, probe, {**seen, **overrides}, statuses, keyed_by)


def conformance_suite(
    provider: str,
    *,
    probe: Probe,
    url: str | None = None,
    app: Any = None,
    path: str = "/",
    prepare: Prepare | None = None,
    send: Send | None = None,
    statuses: Mapping[str, str] | None = None,
    scenarios: Iterable[str] | None = None,
    timeout: float = 30.0,
) -> type:
    """A test class with one test per built-in scenario of ``provider`` (and per send outcome
    with ``send=``).

    Give the webhook as ``url``, or as a WSGI ``app`` (served on 127.0.0.1, a free port) plus
    the webhook's ``path``. ``prepare(message)`` runs before each scenario and may return field
    overrides (``{"RequestId": my_id}``); ``probe(message)`` returns the system's view;
    ``send(phone, provider_url)`` makes the system send one message through dlrmock;
    ``statuses`` maps dlrmock's status names to the system's. Bind the result to a name
    starting with ``Test``.
    """
    if (url is None) == (app is None):
        raise ValueError("give exactly one of url= (a running webhook) or app= (a WSGI app)")
    for name, given in (("probe", probe), ("prepare", prepare), ("send", send)):
        if given is not None and not callable(given):
            raise ValueError(f"{name}= must be a callable, got {given!r}")
    names_of: dict[str, str] = dict(statuses or {})
    unknown_status = sorted(set(names_of) - {s for m in SEND_EXPECTATIONS.values()
                                             for s in m.values()} - _scenario_statuses())
    if unknown_status:
        raise ValueError(
            f"statuses= maps {unknown_status[0]!r}, which is not one of dlrmock's statuses; "
            f"known: {', '.join(sorted(_scenario_statuses() | {'pending'}))}"
        )
    get_provider(provider)
    available = {n: s for n, s in builtin_scenarios().items() if s.provider == provider}
    names = list(scenarios) if scenarios is not None else list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"no built-in {provider} scenario {unknown[0]!r}; known: {', '.join(available)}"
        )
    outcomes = [o for o in OUTCOMES if o in SEND_PHONES] if send is not None else []

    class Conformance:
        """dlrmock conformance: what a correct webhook does with each scenario."""

        @pytest.fixture(scope="class")
        @classmethod
        def dlrmock_webhook(cls) -> Iterator[str]:
            yield from _webhook(url, app, path)

        if names:

            @pytest.mark.parametrize("scenario", names)
            def test_conformance(
                self, scenario: str, dlrmock: Dlrmock, dlrmock_webhook: str
            ) -> None:
                __tracebackhide__ = True
                check_scenario(available[scenario], dlrmock, dlrmock_webhook, probe, prepare,
                               names_of, timeout)

        if outcomes:

            @pytest.mark.parametrize("outcome", outcomes)
            def test_send(self, outcome: str, dlrmock: Dlrmock, dlrmock_webhook: str) -> None:
                __tracebackhide__ = True
                assert send is not None
                check_send(provider, outcome, dlrmock, send, dlrmock_webhook, probe,
                           names_of, timeout)

    Conformance.__name__ = Conformance.__qualname__ = f"Conformance_{provider}"
    return Conformance


def _scenario_statuses() -> set[str]:
    return {str(s.expect["final"]) for s in builtin_scenarios().values() if "final" in s.expect}
