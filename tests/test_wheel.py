"""The built wheel, installed elsewhere and used from another directory, finds every schema."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter with PYTHONPATH=<install dir>. The editable install of the
# checkout would still put ROOT on sys.path (after PYTHONPATH), so it is removed first: only
# the wheel's files may be imported.
CHECK = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    target, root, examples = (Path(p).resolve() for p in sys.argv[1:4])
    expected = set(json.loads(sys.argv[4]))
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != root]

    import mock_server
    from jsonschema import Draft202012Validator
    from mock_server import KINDS, detect_kind, validate
    from mock_server._registry import schema, schema_dir, schema_names, validator_for
    from mock_server.cli import main

    assert Path(mock_server.__file__).resolve().is_relative_to(target), mock_server.__file__
    assert Path(str(schema_dir())).resolve() == target / "mock_server" / "schemas", schema_dir()
    names = schema_names()
    assert expected <= set(names), sorted(expected - set(names))
    for name in names:
        Draft202012Validator.check_schema(schema(name))
        validator_for(name).is_valid({})  # builds it; every $ref must resolve offline
        validator_for(name, True).is_valid({})
    seeds = sorted(
        p for p in examples.iterdir()
        if p.suffix in (".json", ".url", ".form") and not p.name.endswith(".template.url")
    )
    for path in seeds:
        text = path.read_text("utf-8")
        kind = detect_kind(text)
        assert validate(text, kind=kind) == [], path.name
        assert validate(text, kind=kind, strict=True) == [], path.name
        assert main(["validate", str(path)]) == 0, path.name
    print(json.dumps({"schemas": len(names), "seeds": len(seeds), "kinds": len(KINDS)}))
    """
)


RUN_CLI = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    root = Path(sys.argv.pop(1)).resolve()
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != root]
    from mock_server.cli import main

    sys.exit(main())
    """
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the directory it was installed into with ``pip install --target``)."""
    build = tmp_path_factory.mktemp("wheelhouse")
    target = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(build), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = build.glob("dlrmock-*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return wheel, target


def _env(target: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "PYTHONPATH": str(target), "PYTHONIOENCODING": "utf-8"}


def test_the_wheel_ships_every_schema_and_seed_example(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    schemas = {f"mock_server/schemas/{p.name}" for p in (ROOT / "schemas").glob("*.json")}
    examples = {
        f"mock_server/schemas/examples/{p.name}" for p in (ROOT / "schemas/examples").iterdir()
    }
    assert schemas and schemas <= shipped, sorted(schemas - shipped)
    send_examples = {f"mock_server/{p.relative_to(ROOT).as_posix()}"
                     for p in (ROOT / "schemas/sendapi-examples").rglob("*") if p.is_file()}
    assert len(send_examples) > 100 and send_examples <= shipped, sorted(send_examples - shipped)
    assert examples <= shipped, sorted(examples - shipped)
    assert "mock_server/__init__.py" in shipped and "pytest_plugin/plugin.py" in shipped
    ui = ROOT / "mock_server" / "ui"
    dashboard = {f"mock_server/ui/{p.relative_to(ui).as_posix()}"
                 for p in ui.rglob("*") if p.is_file() and p.suffix in (".html", ".js", ".css")}
    assert len(dashboard) >= 8 and dashboard <= shipped, sorted(dashboard - shipped)


def test_the_installed_package_loads_every_schema_from_another_directory(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, target = installed
    expected = sorted(p.stem for p in (ROOT / "schemas").glob("*.json"))
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(target), str(ROOT), str(ROOT / "schemas" / "examples"),
         json.dumps(expected)],
        capture_output=True, text=True, cwd=tmp_path, env=_env(target), timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["schemas"] >= len(expected)
    templates = list((ROOT / "schemas/examples").glob("*.template.url"))
    assert summary["seeds"] == len(list((ROOT / "schemas/examples").iterdir())) - len(templates)


def test_the_installed_command_round_trips_an_example(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, target = installed
    command = [sys.executable, "-c", RUN_CLI, str(ROOT)]
    env = _env(target)
    for kind in ("nxcloud.zalo.journey_acknowledged", "esms.zns.journey"):
        produced = subprocess.run(
            [*command, "example", kind, "--seed", "3", "--wire"],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=True,
        )  # fmt: skip
        result = subprocess.run(
            [*command, "validate", "--strict", "-"],
            input=produced.stdout, capture_output=True, text=True, cwd=tmp_path, env=env,
            timeout=60,
        )  # fmt: skip
        assert (result.returncode, result.stdout.strip()) == (0, f"valid {kind} (strict)")


def test_the_installed_wheel_registers_the_plugin_and_declares_its_imports(
    installed: tuple[Path, Path],
) -> None:
    import importlib.metadata

    _, target = installed
    (dist,) = [d for d in importlib.metadata.distributions(path=[str(target)])
               if d.metadata["Name"] == "dlrmock"]
    plugins = {e.name: e.value for e in dist.entry_points if e.group == "pytest11"}
    assert plugins == {"dlrmock": "pytest_plugin.plugin"}  # pytest loads it, nothing to configure
    requires = {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower() for r in dist.requires or []}
    imported = {"flask", "werkzeug", "jsonschema", "referencing", "faker", "pyyaml", "click"}
    assert imported <= requires
