"""Where the project's own test data lives, and the parametrizations over those files.

Test modules take these through fixtures and the ``schema_path`` / ``example_path`` /
``invalid_vector`` arguments, never by importing this module: the examples have conftest
modules of their own.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from esms_sink import EsmsSink
from hypothesis import settings
from targets import Sink, Target

from mock_server import KINDS, Engine, MockProvider

# CI explores the same examples on every run, so a red main always reproduces; a developer's
# run keeps exploring new ones (and hypothesis keeps what it found in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Under mutmut (docs/development.md, "Mutation testing") every mutated function is called through
# its trampoline; hiding those frames keeps the failure output of a pytester run (which the
# plugin's tests match) what a user sees. pytest reads __tracebackhide__ from a frame's globals.
_MUTMUT_TRAMPOLINE = sys.modules.get("mutmut.mutation.trampoline")
if _MUTMUT_TRAMPOLINE is not None:
    _MUTMUT_TRAMPOLINE.__tracebackhide__ = True  # type: ignore[attr-defined]

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
EXAMPLES = SCHEMAS / "examples"
INVALID_VECTORS = Path(__file__).resolve().parent / "vectors" / "invalid"


TEMPLATE_SUFFIX = ".template.url"
"""A documented parameter template (names with blank or ``{{placeholder}}`` values), kept apart
from the example payloads: it shows the shape, not a valid receipt."""


def kind_of_example(path: Path) -> str:
    """A seed file's kind: the longest known kind its name starts with."""
    matches = [kind for kind in KINDS if path.name.startswith(kind + ".")]
    if not matches:
        raise LookupError(f"seed example {path.name!r} is named after no known kind")
    return max(matches, key=len)


def _files(directory: Path, *patterns: str, templates: bool | None = None) -> list[Path]:
    found = sorted(p for pattern in patterns for p in directory.glob(pattern) if p.is_file())
    if templates is None:
        return found
    return [p for p in found if p.name.endswith(TEMPLATE_SUFFIX) is templates]


def seed_example_files() -> list[Path]:
    """The seed examples: NXCloud JSON bodies and forms, eSMS callback URLs (templates apart)."""
    return _files(EXAMPLES, "*.json", "*.url", "*.form", templates=False)


_PARAMETRIZED: dict[str, tuple[Path, tuple[str, ...], bool | None]] = {
    "schema_path": (SCHEMAS, ("*.json",), None),
    "example_path": (EXAMPLES, ("*.json", "*.url", "*.form"), False),
    "template_path": (EXAMPLES, ("*" + TEMPLATE_SUFFIX,), True),
    "invalid_vector": (INVALID_VECTORS, ("*/*.json",), None),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, (directory, patterns, templates) in _PARAMETRIZED.items():
        if name in metafunc.fixturenames:
            paths = _files(directory, *patterns, templates=templates)
            ids = [p.relative_to(directory).as_posix() for p in paths]
            metafunc.parametrize(name, paths, ids=ids)


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The source checkout (``pyproject.toml``, ``schemas/``, ``mock_server/``)."""
    return ROOT


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    """``schemas/examples``: the providers' documented examples, verbatim."""
    return EXAMPLES


@pytest.fixture
def example_kind(example_path: Path) -> str:
    """The kind of the seed example under test."""
    return kind_of_example(example_path)


@pytest.fixture
def template_kind(template_path: Path) -> str:
    """The kind of the documented parameter template under test."""
    return kind_of_example(template_path)


@pytest.fixture(scope="session")
def seed_examples() -> dict[Path, str]:
    """Every seed example file and its kind."""
    return {path: kind_of_example(path) for path in seed_example_files()}


# --------------------------------------------- engines, loopback webhooks and a fast sink


@pytest.fixture
def engine() -> Iterator[Engine]:
    """An engine that plays at once (time scale 0), seeded; fails the test on internal errors."""
    with Engine(time_scale=0, seed=1234) as engine:
        yield engine
        errors = list(engine.errors)
    assert not errors, f"errors inside the engine: {errors!r}"


@pytest.fixture
def make_target() -> Iterator[Callable[..., Target]]:
    """Start loopback webhooks: ``make_target("slow", delay=1)``; all stopped and checked after."""
    targets: list[Target] = []

    def make(mode: str = "ok", **options: Any) -> Target:
        target = Target(mode, **options).start()
        targets.append(target)
        return target

    yield make
    for target in targets:
        target.stop()
    for target in targets:
        target.check()


@pytest.fixture
def target(make_target: Callable[..., Target]) -> Target:
    """A webhook answering 200 'success' to everything."""
    return make_target("ok")


@pytest.fixture
def counting_sink() -> Iterator[Sink]:
    """The fast counting sink."""
    with Sink() as sink:
        yield sink


@pytest.fixture(scope="module")
def sink() -> Iterator[EsmsSink]:
    """A webhook recording the eSMS callbacks of a module's provider (its tests share it)."""
    with EsmsSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def esms(sink: EsmsSink) -> Iterator[MockProvider]:
    """A module's eSMS provider, its callbacks to ``sink`` by default (a module that needs other
    send settings defines its own ``esms``)."""
    with MockProvider(time_scale=0, send={"esms_default_webhook": f"{sink.url}/default"}) \
            as provider:
        yield provider


@pytest.fixture(scope="session")
def webhook_ca() -> trustme.CA:
    """A certificate authority no system trust store knows."""
    return trustme.CA()


@pytest.fixture
def ca_file(webhook_ca: trustme.CA, tmp_path: Path) -> Path:
    """``webhook_ca``'s certificate as a PEM file (what ``--cacert`` takes)."""
    path = tmp_path / "ca.pem"
    webhook_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def make_tls_target(
    webhook_ca: trustme.CA, make_target: Callable[..., Target]
) -> Callable[..., Target]:
    """Start https:// webhooks answering 200 'success' on 127.0.0.1, with a certificate for
    the given names signed by ``webhook_ca``: ``make_tls_target("hooks.example")``."""

    def make(*names: str) -> Target:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        webhook_ca.issue_cert(*names).configure_cert(context)
        return make_target("ok", tls=context)

    return make


@pytest.fixture
def tls_target(make_tls_target: Callable[..., Target]) -> Target:
    """An https:// webhook whose certificate (for 127.0.0.1 and localhost) ``webhook_ca``
    signed."""
    return make_tls_target("127.0.0.1", "localhost")
