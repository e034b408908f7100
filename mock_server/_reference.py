"""The documentation's reference pages, generated from the live registries.

The docs site (``mkdocs.yml``, ``docs/hooks.py``) replaces each ``<!-- reference: NAME -->``
line of a page with ``render(NAME)``; ``tests/test_docs.py`` checks that every kind, scenario,
endpoint, config key, CLI command and admin route of the running code has its entry in the
built pages. Nothing here is typed twice: a new kind, API, option or route appears by itself.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, fields
from importlib import import_module
from typing import Any

import click

__all__ = [
    "ADMIN_DESCRIPTIONS",
    "SECTIONS",
    "admin_routes",
    "cli_commands",
    "config_keys",
    "endpoints",
    "render",
]

ADMIN_DESCRIPTIONS: Mapping[str, str] = {
    "GET /_dlrmock/health": "status, version, the server's clock (`time`), journal counters "
    "(evictions included), runs pending / refused beyond `max_pending_runs`, "
    "`blocked_attempts`, the allow-list, error count, `rejected_sends` (send requests answered "
    "with a provider error, unknown paths included), and `counters` from the event stream: "
    "`sends`, `sends_rejected`, `attempts`, `attempts_unacknowledged`, `runs_finished`, "
    "`runs_unacknowledged` (runs that ended with a receipt the webhook did not acknowledge; "
    "cancelled runs are not counted)",
    "GET /_dlrmock/scenarios": "the built-in scenarios, in the scenario file format",
    "GET /_dlrmock/kinds": "the receipt kinds with their descriptions",
    "POST /_dlrmock/runs": "start a run: `{\"scenario\": name or inline object, \"to\": URL, "
    "\"fields\": {...}, \"message\": {...}, \"seed\": N, \"time_scale\": S, \"clock\": "
    "\"scaled\" or \"manual\", \"policy\": {...}, \"error_info_encoding\": 1-4, "
    "\"allow_invalid\": false}` → 201",
    "GET /_dlrmock/runs": "a page of runs: `?limit=N` (default 100, at most 1000), `after=ID`, "
    "`order=newest` (default) or `oldest`; `next` holds the URL of the next page",
    "GET /_dlrmock/runs/<run_id>": "one run with its attempts, payloads and journal text",
    "GET /_dlrmock/runs/<run_id>/wait": "long-poll `?timeout=S` (≤ 300): 200 when finished, "
    "202 if still running after S",
    "POST /_dlrmock/runs/<run_id>/step": "a manual clock: send the next delivery, whatever "
    "its delay",
    "POST /_dlrmock/runs/<run_id>/advance": "a manual clock: `{\"seconds\": S}` sends "
    "everything due in that time (`Content-Type: application/json`)",
    "POST /_dlrmock/runs/<run_id>/cancel": "stop one run",
    "POST /_dlrmock/reset": "forget everything (runs, journal, sends, messages, history)",
    "GET /_dlrmock/sent": "every send request the system made, with dlrmock's answer "
    "(`explain`: why, in dlrmock's words)",
    "GET /_dlrmock/messages": "sent messages, newest first (`?state=held`): state (`held`, "
    "`pending`, `playing`, `final`), receipts played and to come, runs",
    "GET /_dlrmock/messages/<message_id>": "one sent message (by SMSID, requestId or "
    "RequestId)",
    "POST /_dlrmock/messages/<message_id>/release": "start a held message: "
    "`{\"outcome\": \"failed\"}` or `{\"scenario\": NAME}` (built-in names of its provider "
    "only); 404 unknown id, 409 not held",
    "GET /_dlrmock/openapi.json": "the OpenAPI 3.1 document (`?provider=nxcloud|esms`), with "
    "this server in `servers`",
    "GET /_dlrmock/ui/": "the dashboard's inbox (`?token=TOKEN` once sets the cookie)",
    "GET /_dlrmock/ui/static/<path:filename>": "the dashboard's own script and style sheet",
    "GET /_dlrmock/ui/rows/<message_id>": "one inbox row (live updates)",
    "GET /_dlrmock/ui/messages/<message_id>": "a message's timeline page",
    "GET /_dlrmock/ui/messages/<message_id>/timeline": "a message's timeline (live updates)",
    "POST /_dlrmock/ui/messages/<message_id>/release": "the dashboard's Release button",
    "POST /_dlrmock/ui/play": "the dashboard's Play form",
    "POST /_dlrmock/ui/validate": "the dashboard's Validate form",
    "GET /_dlrmock/ui/events": "server-sent events for open dashboards",
}
"""What each admin route does, for the routes whose view has no docstring of its own."""

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _cell(text: Any) -> str:
    """``text`` fit for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text: Any) -> str:
    return f"`{text}`" if text not in ("", None) else ""


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _first_line(doc: str | None) -> str:
    return " ".join((inspect.cleandoc(doc) if doc else "").split("\n\n")[0].split())


# --- receipt kinds -------------------------------------------------------------------------

def kinds() -> str:
    """Every receipt kind: family, description, schema, how it travels."""
    from .providers import KINDS

    rows = [(_code(name), _code(kind.family_name), kind.description,
             _code(f"schemas/{name}.json"), kind.transport.name) for name, kind in KINDS.items()]
    return _table(("kind", "family", "what it is", "schema", "sent as"), rows)


def families() -> str:
    """Every receipt family's transport and delivery policy, as the engine applies them."""
    from .providers import KINDS

    rows = []
    seen: set[str] = set()
    for kind in KINDS.values():
        if kind.family_name in seen:
            continue
        seen.add(kind.family_name)
        policy, transport = kind.policy, kind.transport
        sent = transport.name
        if transport.body == "form":
            sent += " (in the URL's query string)" if policy.parameters == "query" else ""
        retry = (f"{policy.retries}, every {policy.retry_interval:g} s, on "
                 f"{', '.join(sorted(policy.retry_on))}" if policy.retries else "none")
        rows.append((_code(kind.family_name), sent, policy.acknowledge, f"{policy.timeout:g} s",
                     retry))
    return _table(("family", "sent as", "acknowledged by", "timeout", "retries"), rows)


# --- scenarios ------------------------------------------------------------------------------

def scenarios() -> str:
    """Every built-in scenario: description, the kinds it sends, what it expects."""
    from ._scenarios import builtin_scenarios

    rows = []
    for name, scenario in builtin_scenarios().items():
        steps = []
        for step in scenario.steps:
            extra = [f"after {step.after:g} s" if step.after else "",
                     f"+{step.duplicate} copy" if step.duplicate else "",
                     "lost ack" if step.lost_ack else "", "reordered" if step.reorder else "",
                     f"malformed: {step.malformed}" if step.malformed else ""]
            note = ", ".join(e for e in extra if e)
            steps.append(step.kind.split(".", 2)[-1] + (f" ({note})" if note else ""))
        expect = ", ".join(f"{k}: {json.dumps(v)}" for k, v in scenario.expect.items())
        rows.append((_code(name), scenario.description, " → ".join(steps), expect))
    return _table(("scenario", "what happens", "steps", "expect"), rows)


# --- send APIs ------------------------------------------------------------------------------

def _signing(signing: Any) -> str:
    if signing is None:
        return ""
    return f"signed: bizType `{signing.biz_type}`, action `{signing.action}`"


def endpoints() -> Iterator[tuple[str, str, str, str, str, str, str]]:
    """(provider, method, path, request schema, answer schema, callbacks or family, auth) of
    every send API."""
    from ._registry import schema
    from .sendapi import ESMS_ENDPOINTS, NXCLOUD_ENDPOINTS
    from .sendapi.nxcloud import ZALO_ROUTES

    for route in ZALO_ROUTES:
        yield ("nxcloud", "POST", route.path, route.request, route.answer, "nxcloud.zalo",
               _signing(route.signing))
    for endpoint in NXCLOUD_ENDPOINTS:
        body = "" if endpoint.body == "json" else f" ({endpoint.body})"
        keyed = endpoint.request_schema is not None and \
            {"appkey", "appKey"} & set(schema(endpoint.request_schema).get("properties", {}))
        yield ("nxcloud", ", ".join((endpoint.method, *endpoint.also)), endpoint.path,
               (endpoint.request_schema or "") + body, endpoint.answer or "",
               endpoint.family, _signing(endpoint.signing) or ("body fields" if keyed else
                                                               "none"))
    for esms in ESMS_ENDPOINTS:
        path = ("/" if esms.root else "/MainService.svc/json/") + esms.name
        path += "".join(f"/{{{key}}}" for key in esms.path_keys)
        body = "" if esms.body == "json" else f" ({esms.body})"
        yield ("esms", esms.method, path, esms.schema + body, esms.answer,
               f"TypeId {esms.type_ids}" if esms.type_ids else "", "")


def endpoints_table(provider: str) -> str:
    """The send APIs of ``provider`` (``nxcloud`` or ``esms``)."""
    rows = []
    for owner, method, path, request, answer, family, auth in endpoints():
        if owner != provider:
            continue
        row: tuple[str, ...] = (method, _code(path), _code(request), _code(answer), family)
        rows.append(row + ((auth,) if provider == "nxcloud" else ()))
    if provider == "nxcloud":
        return _table(("method", "path", "request schema", "answer schema", "receipt family",
                       "auth"), rows)
    return _table(("method", "path", "request schema", "answer schema", "callbacks"), rows)


def _family_scenario_tables() -> dict[str, Mapping[str, str | None]]:
    """Outcome → scenario tables of the NXCloud families (every ``sendapi`` module with
    ``SCENARIOS``), Zalo first."""
    from . import sendapi

    tables: dict[str, Mapping[str, str | None]] = {"nxcloud.zalo": sendapi.NXCLOUD_SCENARIOS}
    for info in pkgutil.iter_modules(sendapi.__path__):
        module = import_module(f"{sendapi.__name__}.{info.name}")
        table = getattr(module, "SCENARIOS", None)
        family = getattr(module, "FAMILY", None)
        if isinstance(table, Mapping) and table:
            name = family if isinstance(family, str) else \
                ".".join(str(next(s for s in table.values() if s)).split(".")[:2])
            tables[name] = table
    return tables


def outcomes() -> str:
    """Number suffix → outcome → what each provider plays."""
    from .sendapi import DEFAULT_MAGIC_NUMBERS, OUTCOMES, esms_scenario

    tables = _family_scenario_tables()
    suffix = {outcome: f"`{number}`" for number, outcome in DEFAULT_MAGIC_NUMBERS.items()}
    rows = []
    for outcome in OUTCOMES:
        cells: list[str] = [suffix.get(outcome, "—"), f"`{outcome}`"]
        for table in tables.values():
            if outcome == "hold":
                cells.append("held until released")
            elif outcome not in table:
                cells.append("—")
            else:
                cells.append(_code(table[outcome]) or "no receipt")
        if outcome == "hold":
            cells.append("held until released")
        else:
            esms = esms_scenario("K", outcome)
            cells.append("no callback" if esms is None else _code(esms) if isinstance(esms, str)
                         else f"{_code(esms.get('name'))} (inline: {esms.get('description')})")
        rows.append(tuple(cells))
    header = ("number ends in", "outcome", *(f"`{f}`" for f in tables), "eSMS (kind K)")
    return _table(header, rows)


# --- configuration --------------------------------------------------------------------------

def _attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings written under a dataclass's fields (``x: int = 1`` then ``\"\"\"…\"\"\"``)."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split()).replace("``", "`")
    return docs


def config_keys(cls: type) -> list[tuple[str, Any, str]]:
    """(key, default, meaning) of every field of the dataclass ``cls``."""
    docs = _attribute_docs(cls)
    keys = []
    for item in fields(cls):
        if item.default is not MISSING:
            default: Any = item.default
        elif item.default_factory is not MISSING:
            default = item.default_factory()
        else:
            default = None
        keys.append((item.name, default, docs.get(item.name, "")))
    return keys


def _default(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return f"`{json.dumps(value, ensure_ascii=False, default=str)}`"


def config_table(section: str) -> str:
    """``server``: the config file's top-level keys; ``send``: the keys under ``send:``."""
    from .app import Config
    from .sendapi import SendSettings

    cls = Config if section == "server" else SendSettings
    rows = [(f"`{key}`", _default(default), meaning) for key, default, meaning in config_keys(cls)]
    return _table(("key", "default", "meaning"), rows)


# --- CLI --------------------------------------------------------------------------------------

def cli_commands() -> list[tuple[str, click.Command]]:
    """(``dlrmock`` + subcommand path, command) of every command, the group first."""
    from .cli import cli

    found: list[tuple[str, click.Command]] = []

    def walk(name: str, command: click.Command) -> None:
        found.append((name, command))
        if isinstance(command, click.Group):
            for sub_name in sorted(command.commands):
                walk(f"{name} {sub_name}", command.commands[sub_name])

    walk("dlrmock", cli)
    return found


def cli_help() -> str:
    """``--help`` of every command, one section each."""
    from .cli import cli

    root = click.Context(cli, info_name="dlrmock", terminal_width=100, max_content_width=100,
                         **cli.context_settings)
    parts = []
    for name, command in cli_commands():
        context = root
        for word in name.split()[1:]:
            context = click.Context(context.command.commands[word],  # type: ignore[attr-defined]
                                    info_name=word, parent=context)
        anchor = name.replace(" ", "-")
        parts.append(f"## `{name}` {{#{anchor}}}\n\n```text\n{command.get_help(context)}\n```")
    return "\n\n".join(parts)


# --- admin API --------------------------------------------------------------------------------

def admin_routes() -> list[tuple[str, str, str]]:
    """(method, rule, description) of every route under ``/_dlrmock/``."""
    from .app import create_app

    app = create_app()
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/_dlrmock/"):
            continue
        for method in _METHODS:
            if method in (rule.methods or ()):
                key = f"{method} {rule.rule}"
                doc = _first_line(app.view_functions[rule.endpoint].__doc__)
                if doc.startswith("The view function used to serve files"):
                    doc = ""  # Flask's own static view
                routes.append((method, rule.rule, ADMIN_DESCRIPTIONS.get(key) or doc))
    return routes


def admin_table() -> str:
    rows = [(method, _code(rule), description or "**undocumented**")
            for method, rule, description in admin_routes()]
    return _table(("method", "path", "does"), rows)


SECTIONS: Mapping[str, Callable[[], str]] = {
    "kinds": kinds,
    "families": families,
    "scenarios": scenarios,
    "endpoints-nxcloud": lambda: endpoints_table("nxcloud"),
    "endpoints-esms": lambda: endpoints_table("esms"),
    "outcomes": outcomes,
    "config-server": lambda: config_table("server"),
    "config-send": lambda: config_table("send"),
    "cli": cli_help,
    "admin": admin_table,
}
"""Each ``<!-- reference: NAME -->`` a page may hold, and what replaces it."""


def render(name: str) -> str:
    """The Markdown of reference section ``name``; an unknown name lists the known ones."""
    try:
        return SECTIONS[name]()
    except KeyError:
        raise KeyError(f"unknown reference section {name!r}; known: "
                       f"{', '.join(SECTIONS)}") from None
