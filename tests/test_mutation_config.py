"""The mutation-testing setup (``[tool.mutmut]``) still points at files that exist.

mutmut itself is too slow for every test run (README, "Mutation testing"); this keeps its
configuration from rotting when a core module or an ignored test file is renamed.
"""

from __future__ import annotations

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


def test_the_readme_documents_the_mutation_command(project_root: Path) -> None:
    readme = (project_root / "README.md").read_text(encoding="utf-8")
    assert '.venv/bin/pip install -e ".[mutation]"' in readme
    assert ".venv/bin/mutmut run --max-children 1" in readme
