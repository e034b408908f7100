"""dlrmock's pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:

- ``dlrmock_config`` (session): the settings of the session's server (override it);
- ``dlrmock_server`` (session): the fake provider, started once per session (per xdist worker),
  or the one at ``--dlrmock-url``;
- ``dlrmock_seed`` (function): the seed of the test's generated data;
- ``dlrmock`` (function): a :class:`~pytest_plugin.handle.Dlrmock`; the session's own server is
  cleared first, a shared one (``--dlrmock-url``) only with ``--dlrmock-reset``.

Each fixture and the hook hand their work to a plain function (``_session_server``,
``_test_handle`` …): mutmut does not mutate decorated functions, so that is where its mutants
reach (docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

# mock_server (Flask, Faker, jsonschema) is imported by the fixtures, not here: sessions that
# never use dlrmock don't pay for it.
if TYPE_CHECKING:
    from mock_server import MockProvider, RemoteProvider

    from .handle import Dlrmock

__all__ = ["dlrmock", "dlrmock_config", "dlrmock_seed", "dlrmock_server"]

_HANDLE = pytest.StashKey["Dlrmock"]()
_STARTED_WITH = pytest.StashKey[Any]()
"""The ``dlrmock_config`` the session's own server started with."""
_JOURNAL_MARK = "journal of run "


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dlrmock", "dlrmock fake messaging provider")
    group.addoption(
        "--dlrmock-url",
        metavar="URL",
        default=None,
        help="use the dlrmock server at URL (e.g. `dlrmock serve` in another "
        "container) instead of starting one",
    )
    group.addoption(
        "--dlrmock-token",
        metavar="TOKEN",
        default=None,
        help="admin token of the server at --dlrmock-url",
    )
    group.addoption(
        "--dlrmock-reset",
        action="store_true",
        default=False,
        help="clear the server at --dlrmock-url before each test (it forgets every client's "
        "runs and sends); by default each test sees what happened since it started",
    )
    group.addoption(
        "--dlrmock-cacert",
        metavar="FILE",
        default=None,
        help="verify https:// webhooks against the CA certificate(s) in this PEM file instead "
        "of the system's trust store (ini: dlrmock_cacert)",
    )
    group.addoption(
        "--dlrmock-insecure",
        action="store_true",
        default=None,
        help="deliver to https:// webhooks without verifying them (ini: dlrmock_insecure)",
    )
    parser.addini("dlrmock_cacert", "PEM file of the CA that https:// webhooks are verified "
                  "against (relative to the ini file)", default=None)
    parser.addini("dlrmock_insecure", "deliver to https:// webhooks without verifying them",
                  type="bool", default=False)
    group.addoption(
        "--dlrmock-seed",
        metavar="N",
        type=int,
        default=None,
        help="seed of the generated data (default: derived from each test's id)",
    )


@pytest.fixture(scope="session")
def dlrmock_config() -> dict[str, Any]:
    """Settings of the session's server (the keys of ``dlrmock serve``'s config file).

    Override it in a ``conftest.py`` (session scope), e.g. to set send credentials or magic
    numbers. Not used with ``--dlrmock-url``: that server has its own configuration.
    """
    return {"time_scale": 0}


@pytest.fixture(scope="session")
def dlrmock_server(
    pytestconfig: pytest.Config, dlrmock_config: Any
) -> Iterator[MockProvider | RemoteProvider]:
    """The fake provider for the whole session (per xdist worker)."""
    yield from _session_server(pytestconfig, dlrmock_config)


def _session_server(
    pytestconfig: pytest.Config, dlrmock_config: Any
) -> Iterator[MockProvider | RemoteProvider]:
    from mock_server import DlrmockError, MockProvider, RemoteProvider

    url = pytestconfig.getoption("dlrmock_url")
    problem = None
    if url and (pytestconfig.getoption("dlrmock_cacert") or pytestconfig.getoption(
            "dlrmock_insecure")):
        pytest.fail("--dlrmock-cacert/--dlrmock-insecure set how this session's own server "
                    "verifies webhooks; the server at --dlrmock-url has its own settings "
                    "(dlrmock serve --cacert FILE / --insecure)", pytrace=False)
    if url:
        remote = RemoteProvider(url, token=pytestconfig.getoption("dlrmock_token"))
        try:
            remote.start()
        except (DlrmockError, ValueError) as exc:  # ValueError: a body that is not JSON
            problem = f"--dlrmock-url: {exc}"
        if problem is not None:  # outside the except: one readable line, no chained traceback
            pytest.fail(problem, pytrace=False)
        yield remote
        return
    try:
        settings = _with_tls(pytestconfig, dlrmock_config)
    except ValueError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        provider = MockProvider(settings).start()
    except (DlrmockError, TypeError) as exc:
        problem = f"dlrmock_config: {exc}"
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    pytestconfig.stash[_STARTED_WITH] = dlrmock_config
    try:
        yield provider
    finally:
        provider.stop()
        del pytestconfig.stash[_STARTED_WITH]


def _with_tls(pytestconfig: pytest.Config, dlrmock_config: Any) -> Any:
    """``dlrmock_config`` with the ``cacert`` / ``insecure`` keys the command line gives (they
    win), or the ini file (unless ``dlrmock_config`` sets them)."""
    from mock_server import Config
    from mock_server._http import TlsConfigError, tls_context

    if not isinstance(dlrmock_config, Config | Mapping):
        return dlrmock_config  # MockProvider says what is wrong with it
    base = dict(vars(dlrmock_config) if isinstance(dlrmock_config, Config) else dlrmock_config)
    cacert = pytestconfig.getoption("dlrmock_cacert")
    insecure = pytestconfig.getoption("dlrmock_insecure")
    option = "--dlrmock-cacert"
    if cacert is None and insecure is None:
        if "cacert" in base or "insecure" in base:
            return dlrmock_config
        option = "dlrmock_cacert (ini)"
        cacert = pytestconfig.getini("dlrmock_cacert") or None
        insecure = bool(pytestconfig.getini("dlrmock_insecure"))
        if cacert is not None and pytestconfig.inipath is not None:
            cacert = str(pytestconfig.inipath.parent / cacert)
    if cacert is not None and insecure:
        raise ValueError("dlrmock: a CA file (cacert) and insecure together: insecure verifies "
                         "no certificate, so the CA file would be ignored; set one of them")
    if cacert is None and not insecure:
        return dlrmock_config
    if cacert is not None:
        try:
            tls_context(cacert)
        except TlsConfigError as exc:
            raise ValueError(f"{option} {exc}") from None
    base.pop("cacert", None)
    base.pop("insecure", None)
    return {**base, **({"cacert": cacert} if cacert is not None else {"insecure": True})}


@pytest.fixture
def dlrmock_seed(request: pytest.FixtureRequest) -> int:
    """``--dlrmock-seed``, else a number derived from the test's id (stable across runs)."""
    return _seed(request.config, request.node.nodeid)


def _seed(config: pytest.Config, nodeid: str) -> int:
    given = config.getoption("dlrmock_seed")
    if given is not None:
        return int(given)
    return zlib.crc32(nodeid.encode())


@pytest.fixture
def dlrmock(
    dlrmock_server: MockProvider | RemoteProvider, dlrmock_seed: int, dlrmock_config: Any,
    request: pytest.FixtureRequest,
) -> Iterator[Dlrmock]:
    """The fake provider as this test sees it: ``dlrmock.play(...)``, ``dlrmock.url`` …

    The session's own server is cleared first; a shared one (``--dlrmock-url``) only with
    ``--dlrmock-reset``, else the test sees what happened since it started.
    """
    _check_same_config(request.config, dlrmock_config)
    yield from _test_handle(dlrmock_server, dlrmock_seed, request)


def _check_same_config(config: pytest.Config, seen: Any) -> None:
    """Fail a test whose ``dlrmock_config`` is not the one the session's server started with
    (an override in a test module or class: the server, started once, never sees it)."""
    started = config.stash.get(_STARTED_WITH, seen)
    if started is not seen and started != seen:
        pytest.fail(
            f"dlrmock_config: this test's is {seen!r}, but the session's server started "
            f"with {started!r} and starts only once per session (per xdist worker); override "
            "dlrmock_config in a conftest.py every dlrmock test shares, or start a "
            "mock_server.MockProvider(config) of your own for tests that need other settings",
            pytrace=False,
        )


def _test_handle(
    dlrmock_server: MockProvider | RemoteProvider, dlrmock_seed: int, request: pytest.FixtureRequest
) -> Iterator[Dlrmock]:
    from mock_server import RemoteProvider

    from .handle import Dlrmock

    since = None
    errors = 0
    if isinstance(dlrmock_server, RemoteProvider) and not request.config.getoption(
        "dlrmock_reset"
    ):
        # A shared server keeps its history: this test looks from here on.
        health = dlrmock_server.health()
        since, errors = float(health["time"]), int(health.get("errors", 0))
    else:
        dlrmock_server.reset()
    handle = Dlrmock(dlrmock_server, seed=dlrmock_seed, since=since)
    request.node.stash[_HANDLE] = handle
    yield handle
    if isinstance(dlrmock_server, RemoteProvider):
        dlrmock_server.check(errors)  # errors raised during this test only
    else:
        dlrmock_server.check()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    _add_journal_section(item, call, report)
    return report


def _add_journal_section(item: pytest.Item, call: pytest.CallInfo[None], report: Any) -> None:
    """A failed test that used ``dlrmock``: its seed, and its runs' journals unless the
    assertion message already shows one."""
    handle = item.stash.get(_HANDLE, None)
    if handle is not None and report.failed and call.when == "call":
        text = f"seed: {handle.seed} (rerun with --dlrmock-seed {handle.seed})"
        if handle.runs and _JOURNAL_MARK not in str(report.longrepr):
            text += "\n\n" + handle.journals()
        report.sections.append(("dlrmock journal", text))
