"""The mutation-testing setup (``[tool.mutmut]``) still points at files that exist.

mutmut itself is too slow for every test run (docs/development.md, "Mutation testing"); this
keeps its configuration from rotting when a core module or an ignored test file is renamed.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


@pytest.fixture(scope="module")
def mutmut_config(project_root: Path) -> dict[str, Any]:
    with (project_root / "pyproject.toml").open("rb") as file:
        config: dict[str, Any] = tomllib.load(file)["tool"]["mutmut"]
    return config


def test_every_module_to_mutate_exists_inside_a_source_path(
    mutmut_config: dict[str, Any], project_root: Path
) -> None:
    sources = [Path(p) for p in mutmut_config["source_paths"]]
    for name in mutmut_config["only_mutate"]:
        assert (project_root / name).is_file(), f"[tool.mutmut] only_mutate: no file {name}"
        assert any(Path(name).is_relative_to(source) for source in sources), name


def test_every_copied_path_and_ignored_test_file_exists(
    mutmut_config: dict[str, Any], project_root: Path
) -> None:
    for name in mutmut_config["also_copy"]:
        assert (project_root / name).exists(), f"[tool.mutmut] also_copy: no {name}"
    for arg in mutmut_config["pytest_add_cli_args_test_selection"]:
        path = arg.removeprefix("--ignore=")
        assert (project_root / path).exists(), f"[tool.mutmut] test selection: no {path}"


def test_the_docs_document_the_mutation_command(project_root: Path) -> None:
    page = (project_root / "docs" / "development.md").read_text(encoding="utf-8")
    assert '.venv/bin/pip install -e ".[mutation]"' in page
    assert ".venv/bin/mutmut run --max-children 1" in page


# ------------------------------------------------------------- mutmut itself, on a fixed subset
# A handful of mutants of NXCloud's signing string (docs/send-apis.md: "sign = lowercase hex
# md5(…)"), each with the line it puts in: mutmut numbers a function's mutants in order, so an
# edit to `string_to_sign` or `_header` renumbers them and this fails saying so, instead of quietly
# testing other edits. Every one of them must be killed by tests/test_sendapi_signature.py.
SUBSET_MODULE = "mock_server/sendapi/signature.py"
SUBSET_TESTS = "tests/test_sendapi_signature.py"
SUBSET = {
    "mock_server.sendapi.signature.x_string_to_sign__mutmut_3": 'parts = [b"&body=", body]',
    "mock_server.sendapi.signature.x_string_to_sign__mutmut_6": 'parts += [b"&BODY=", body]',
    "mock_server.sendapi.signature.x_string_to_sign__mutmut_7":
        'parts = [b"&accessSecret=", secret.encode("utf-8")]',
    "mock_server.sendapi.signature.x_string_to_sign__mutmut_10":
        'parts += [b"&accesssecret=", secret.encode("utf-8")]',
    "mock_server.sendapi.signature.x_string_to_sign__mutmut_16": 'return b"XXXX".join(parts)',
    "mock_server.sendapi.signature.x__header__mutmut_1": "if name not in headers:",
    "mock_server.sendapi.signature.x__header__mutmut_3": "lowered = name.upper()",
}


def _toml_list(values: list[str]) -> str:
    return json.dumps(values)  # a JSON array of plain strings is a TOML array


def _subset_project(root: Path, destination: Path, config: dict[str, Any]) -> None:
    """A copy of dlrmock with the real `[tool.mutmut]`, narrowed to one module and test file."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("mock_server", "schemas"):
        shutil.copytree(root / name, destination / name, ignore=ignore)
    (destination / "tests").mkdir()
    for name in ("conftest.py", "esms_sink.py", "targets.py", Path(SUBSET_TESTS).name):
        shutil.copy2(root / "tests" / name, destination / "tests" / name)
    (destination / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        f"source_paths = {_toml_list(config['source_paths'])}\n"
        f"only_mutate = {_toml_list([SUBSET_MODULE])}\n"
        f'also_copy = {_toml_list(["schemas"])}\n'
        f"pytest_add_cli_args_test_selection = {_toml_list([SUBSET_TESTS])}\n"
        f"pytest_add_cli_args = {_toml_list(config['pytest_add_cli_args'])}\n"
        "use_git_change_detection = false\n"
        "\n[tool.pytest.ini_options]\n"
        'addopts = "--strict-markers"\n'
        'filterwarnings = ["error"]\n',
        encoding="utf-8",
    )


def _mutated_function(project: Path, mutant: str) -> str:
    """The source mutmut generated for one mutant (a function in the mutated module's copy)."""
    source = (project / "mutants" / SUBSET_MODULE).read_text(encoding="utf-8")
    function = mutant.rsplit(".", 1)[1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return ast.get_source_segment(source, node) or ""
    raise AssertionError(f"mutmut generated no {function} in {SUBSET_MODULE}")


@pytest.mark.slow
@pytest.mark.skipif(
    "MUTANT_UNDER_TEST" in os.environ, reason="mutmut's own run: no mutmut inside mutmut"
)
def test_mutmut_kills_a_fixed_subset_of_the_signing_string_mutants(
    mutmut_config: dict[str, Any], project_root: Path, tmp_path: Path
) -> None:
    if importlib.util.find_spec("mutmut") is None:
        if os.environ.get("CI"):
            pytest.fail('mutmut is not installed: pip install -e ".[test]" installs it')
        pytest.skip('mutmut is not installed (pip install -e ".[test]")')
    assert SUBSET_MODULE in mutmut_config["only_mutate"]
    _subset_project(project_root, tmp_path, mutmut_config)
    env = {k: v for k, v in os.environ.items() if k != "MUTANT_UNDER_TEST"}

    def mutmut(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=240, check=False)
        assert done.returncode == 0, f"mutmut {args[0]} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    mutmut("run", "--max-children", "2", *SUBSET)

    for mutant, line in SUBSET.items():
        assert line in _mutated_function(tmp_path, mutant), (
            f"{mutant} no longer puts in {line!r}: {SUBSET_MODULE} changed, so mutmut renumbered"
            " its mutants; pick the subset again (`mutmut show NAME`)"
        )
    statuses = dict(
        line.strip().rsplit(": ", 1)
        for line in mutmut("results", "--all", "true").splitlines()
        if ": " in line
    )
    assert {name: statuses.get(name) for name in SUBSET} == dict.fromkeys(SUBSET, "killed")
