"""The documentation site builds without a warning, loads nothing from another host, and its
generated reference has an entry for every kind, scenario, endpoint, config key, CLI command and
admin route of the running code (``mock_server._reference``, ``docs/hooks.py``)."""

from __future__ import annotations

import html
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from mock_server import KINDS, Config, builtin_scenarios, create_app
from mock_server._reference import (
    admin_routes,
    cli_commands,
    config_keys,
    endpoints,
    render,
)
from mock_server.sendapi import SendSettings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 60
"""One screen: what dlrmock is, the two quickstart commands, three things to try, the links."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built with ``mkdocs build --strict`` (a warning fails the build)."""
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "-f", str(ROOT / "mkdocs.yml"), "-d", str(target)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return target


def page(site: Path, name: str) -> str:
    return html.unescape((site / "reference" / f"{name}.html").read_text("utf-8"))


def missing(text: str, names: Iterable[str]) -> list[str]:
    """The names that have no ``<code>`` entry in a built page's text."""
    return [name for name in names if f"<code>{name}</code>" not in text]


def test_the_site_loads_nothing_from_another_host(site: Path) -> None:
    external = re.compile(
        r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=\"(?:https?:)?//"
        r"|@import\s+url\(\s*['\"]?(?:https?:)?//|url\(\s*['\"]?(?:https?:)?//", re.IGNORECASE)
    offenders = []
    for path in site.rglob("*"):
        if path.suffix in {".html", ".css"}:
            offenders += [f"{path.relative_to(site)}: {m.group(0)}"
                          for m in external.finditer(path.read_text("utf-8"))]
    assert offenders == []


def test_every_receipt_kind_has_its_entry(site: Path) -> None:
    assert missing(page(site, "kinds"), KINDS) == []


def test_every_family_has_its_policy_row_and_its_annotated_delivery_rule(site: Path) -> None:
    """The generated policy table, and the hand-written [doc]/[choice] table of docs/scenarios.md
    (which says where each value comes from): a new family needs a row in both."""
    families = sorted({kind.family_name for kind in KINDS.values()})
    assert missing(page(site, "kinds"), families) == []
    text = (ROOT / "docs" / "scenarios.md").read_text("utf-8")
    table = text[text.index("| family | transport |"):]
    table = table[:table.index("\n\n")]
    first_cells = " ".join(row.split("|")[1] for row in table.split("\n")[2:])
    assert [f for f in families if f"`{f}`" not in first_cells] == []


def test_every_builtin_scenario_has_its_entry_with_description(site: Path) -> None:
    text = page(site, "scenarios")
    assert missing(text, builtin_scenarios()) == []
    for scenario in builtin_scenarios().values():
        assert html.unescape(html.escape(scenario.description)) in text, scenario.name


def test_every_send_api_has_its_entry(site: Path) -> None:
    text = page(site, "endpoints")
    assert missing(text, [path for _, _, path, *_ in endpoints()]) == []


def test_every_nxcloud_route_of_the_app_is_in_the_endpoint_table() -> None:
    """The app's own routes, not only the tables the generator reads: a route added without a
    table row shows here."""
    listed = {path for _, _, path, *_ in endpoints()}
    app = create_app()
    routes = {rule.rule for rule in app.url_map.iter_rules()
              if not rule.rule.startswith("/_dlrmock/") and "<" not in rule.rule}
    assert routes - listed == set()


def test_every_config_key_has_its_entry_with_default_and_meaning(site: Path) -> None:
    text = page(site, "config")
    for cls in (Config, SendSettings):
        keys = config_keys(cls)
        assert missing(text, [key for key, _, _ in keys]) == []
        assert [key for key, _, meaning in keys if not meaning] == [], \
            f"{cls.__name__}: a key without a docstring has no meaning to show"


def test_every_cli_command_has_its_help(site: Path) -> None:
    text = page(site, "cli")
    for name, command in cli_commands():
        assert f"Usage: {name} " in text, name
        for parameter in command.params:
            for option in parameter.opts:
                if option.startswith("-"):
                    assert option in text, f"{name} {option}"


def test_every_admin_route_has_its_entry_and_description(site: Path) -> None:
    text = page(site, "admin-api")
    routes = admin_routes()
    assert {rule for _, rule, _ in routes} >= {"/_dlrmock/health", "/_dlrmock/runs"}
    assert [f"{m} {r}" for m, r, description in routes if not description] == []
    assert missing(text, [rule for _, rule, _ in routes]) == []


def test_the_outcome_table_names_every_outcome(site: Path) -> None:
    from mock_server.sendapi import OUTCOMES

    assert missing(page(site, "outcomes"), OUTCOMES) == []


def test_a_removed_entry_is_reported() -> None:
    """The cross-check fails when a kind's or scenario's generated entry is gone."""
    kinds = render("kinds")
    dropped = "\n".join(line for line in kinds.split("\n")
                        if "`nxcloud.zalo.delivered`" not in line)
    as_html = re.sub(r"`([^`]+)`", r"<code>\1</code>", dropped)
    assert missing(as_html, KINDS) == ["nxcloud.zalo.delivered"]
    scenarios = re.sub(r"`([^`]+)`", r"<code>\1</code>", render("scenarios"))
    name = next(iter(builtin_scenarios()))
    assert missing(scenarios.replace(f"<code>{name}</code>", ""), builtin_scenarios()) == [name]


def test_the_conformance_parameter_table_matches_the_signature() -> None:
    from pytest_plugin.conformance import conformance_suite

    text = (ROOT / "docs" / "pytest.md").read_text("utf-8")
    table = text[text.index("| parameter | meaning |"):]
    table = table[:table.index("\n\n")]
    listed = re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE)
    assert listed == list(inspect.signature(conformance_suite).parameters)


def test_readme_fits_one_screen_and_links_into_the_docs() -> None:
    text = README.read_text("utf-8")
    assert len(text.split("\n")) <= README_MAX_LINES
    links = re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", text)
    assert len(links) >= 8, links
    assert [link for link in links if not (ROOT / link).is_file()] == []


def test_every_relative_link_in_the_docs_points_at_a_file() -> None:
    """GitHub shows docs/*.md too: a relative link must work there, not only on the site."""
    broken = []
    for path in (ROOT / "docs").rglob("*.md"):
        for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text("utf-8")):
            if not (path.parent / link).exists():
                broken.append(f"{path.relative_to(ROOT)}: {link}")
    assert broken == []


def test_ci_runs_the_readme_test_command() -> None:
    readme = README.read_text("utf-8")
    command = ".venv/bin/python -m pytest"
    assert f'.venv/bin/pip install -e ".[test]" && {command}\n' in readme
    ci = (ROOT / ".ci" / "run").read_text("utf-8").strip().split("\n")
    assert ci[-1] == command
    assert '.venv/bin/python -m pip install --quiet -e ".[test]"' in ci


NAMED_NOT_REGISTERED = {
    "nxcloud.zalo.deliverd": "the misspelt kind of an error message's example",
    "nxcloud.unknown": "the captured send's endpoint for a path dlrmock does not emulate",
    "esms.soap": "the captured send's endpoint for eSMS's SOAP service, which is refused",
    "esms.openapi.json": "the file an example writes",
}


def test_every_kind_scenario_or_schema_named_in_the_docs_exists() -> None:
    """A renamed kind or scenario leaves no stale name in the prose (the examples catch the
    commands; this catches the text around them)."""
    from mock_server.sendapi import ESMS_ENDPOINTS, NXCLOUD_ENDPOINTS
    from mock_server.sendapi.nxcloud import ZALO_ROUTES

    known = {*KINDS, *builtin_scenarios(), *NAMED_NOT_REGISTERED}
    known |= {kind.family_name for kind in KINDS.values()}
    known |= {p.name for p in (ROOT / "schemas").rglob("*") if p.is_file()}
    known |= {p.stem for p in (ROOT / "schemas").glob("*.json")}
    known |= {e.name for e in NXCLOUD_ENDPOINTS} | {r.name for r in ZALO_ROUTES}
    known |= {f"esms.{e.name}" for e in ESMS_ENDPOINTS}
    stale = []
    for path in [README, *(ROOT / "docs").rglob("*.md")]:
        for name in re.findall(r"(?<![\w/.-])((?:nxcloud|esms)\.[A-Za-z0-9_.-]+\*?)",
                               path.read_text("utf-8")):
            name = name.rstrip(".")
            if name.endswith(".py"):  # a module's file name
                continue
            if name.endswith(".*"):  # a prefix: some scenario must have it
                if not any(s.startswith(name[:-1]) for s in builtin_scenarios()):
                    stale.append(f"{path.relative_to(ROOT)}: {name}")
            elif name not in known:
                stale.append(f"{path.relative_to(ROOT)}: {name}")
    assert stale == []


def _table_after(text: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header line starts with ``header``."""
    start = text.index(header)
    lines = text[start:].split("\n\n")[0].split("\n")[2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in lines]


def test_the_load_option_table_lists_exactly_the_options_of_dlrmock_load() -> None:
    """docs/load.md explains each option at more length than ``--help``; a new option needs its
    row, and a row no option."""
    commands = dict(cli_commands())
    documented = set()
    for row in _table_after((ROOT / "docs" / "load.md").read_text("utf-8"), "| option |"):
        documented |= set(re.findall(r"(--[a-z][a-z-]*)", row[0]))
    options = {o for p in commands["dlrmock load"].params for o in p.opts if o.startswith("--")}
    assert documented == options - {"--help"}


def test_the_credentials_table_shows_the_defaults() -> None:
    rows = _table_after((ROOT / "docs" / "send-apis.md").read_text("utf-8"), "| provider |")
    shown = {value.strip("`") for *_, value in rows if value.startswith("`dlrmock-")}
    defaults = {SendSettings().access_key, SendSettings().access_secret,
                SendSettings().api_key, SendSettings().secret_key}
    assert shown == defaults


def test_the_fixture_table_lists_every_fixture_and_option_of_the_plugin() -> None:
    import ast

    source = (ROOT / "pytest_plugin" / "plugin.py").read_text("utf-8")
    tree = ast.parse(source)
    fixtures = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                and any("fixture" in ast.unparse(d) for d in node.decorator_list)}
    options = set(re.findall(r'addoption\(\s*"(--[a-z-]+)"', source))
    page = (ROOT / "docs" / "pytest.md").read_text("utf-8")
    rows = _table_after(page, "| fixture | scope |")
    assert {row[0].strip("`") for row in rows} == fixtures
    assert [option for option in options if f"`{option}" not in page] == []


def test_the_choices_page_collects_every_marked_choice(site: Path) -> None:
    text = (site / "choices.html").read_text("utf-8")
    text = text[text.index('id="every-other-choice-in-these-pages"'):text.index("</article>")]
    for path in (ROOT / "docs").glob("*.md"):
        if path.name != "choices.md" and "[choice" in path.read_text("utf-8"):
            assert f'href="{path.stem}.html' in text, path.name
