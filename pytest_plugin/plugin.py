"""dlrmock's pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:

- ``dlrmock_config`` (session): the settings of the session's server (override it);
- ``dlrmock_server`` (session): the fake provider, started once per session (per xdist worker),
  or the one at ``--dlrmock-url``;
- ``dlrmock_seed`` (function): the seed of the test's generated data;
- ``dlrmock`` (function): a :class:`~pytest_plugin.handle.Dlrmock`; the session's own server is
  cleared first, a shared one (``--dlrmock-url``) only with ``--dlrmock-reset``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

# mock_server (Flask, Faker, jsonschema) is imported by the fixtures, not here: sessions that
# never use dlrmock don't pay for it.
if TYPE_CHECKING:
    from mock_server import MockProvider, RemoteProvider

    from .handle import Dlrmock

__all__ = ["dlrmock", "dlrmock_config", "dlrmock_seed", "dlrmock_server"]

_HANDLE = pytest.StashKey["Dlrmock"]()
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
    from mock_server import DlrmockError, MockProvider, RemoteProvider

    url = pytestconfig.getoption("dlrmock_url")
    problem = None
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
        provider = MockProvider(dlrmock_config).start()
    except (DlrmockError, TypeError) as exc:
        problem = f"dlrmock_config: {exc}"
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def dlrmock_seed(request: pytest.FixtureRequest) -> int:
    """``--dlrmock-seed``, else a number derived from the test's id (stable across runs)."""
    given = request.config.getoption("dlrmock_seed")
    if given is not None:
        return int(given)
    return zlib.crc32(request.node.nodeid.encode())


@pytest.fixture
def dlrmock(
    dlrmock_server: MockProvider | RemoteProvider, dlrmock_seed: int, request: pytest.FixtureRequest
) -> Iterator[Dlrmock]:
    """The fake provider as this test sees it: ``dlrmock.play(...)``, ``dlrmock.url`` …

    The session's own server is cleared first; a shared one (``--dlrmock-url``) only with
    ``--dlrmock-reset``, else the test sees what happened since it started.
    """
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
    handle = item.stash.get(_HANDLE, None)
    if handle is not None and report.failed and call.when == "call":
        text = f"seed: {handle.seed} (rerun with --dlrmock-seed {handle.seed})"
        # The journal goes here unless the assertion message already shows it.
        if handle.runs and _JOURNAL_MARK not in str(report.longrepr):
            text += "\n\n" + handle.journals()
        report.sections.append(("dlrmock journal", text))
    return report
