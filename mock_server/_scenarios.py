"""Scenarios: scripted receipt sequences, built in or read from YAML / JSON files."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from ._errors import ScenarioError, UnknownKindError, UnknownScenarioError, close_matches
from ._limits import MAX_DEPTH
from ._registry import unexpected_fields, validator_for
from .providers import KINDS, ReceiptKind, get_kind

__all__ = ["Scenario", "Step", "builtin_scenarios", "load_scenario", "parse_scenario", "resolve"]

MALFORMED_MODES = ("missing_field", "wrong_type", "bad_json", "bad_error_info")


@dataclass(frozen=True)
class Step:
    """One receipt of a scenario, with its delay and faults."""

    kind: str
    after: float = 0.0
    set: Mapping[str, Any] = field(default_factory=dict)
    duplicate: int = 0
    lost_ack: int = 0
    """How many of this receipt's answers the provider treats as timeouts (-1: all)."""
    reorder: bool = False
    malformed: str | None = None
    spec: ReceiptKind = field(init=False, repr=False, compare=False)
    """The receipt kind ``kind`` names, resolved once."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec", get_kind(self.kind))


@dataclass(frozen=True)
class Scenario:
    """A named, scripted sequence of receipts for one message."""

    name: str
    steps: tuple[Step, ...]
    description: str = ""
    message: Mapping[str, Any] = field(default_factory=dict)
    set: Mapping[str, Any] = field(default_factory=dict)
    policy: Mapping[str, Any] = field(default_factory=dict)
    error_info_encoding: int | None = None
    expect: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<built-in>"

    @property
    def first_kind(self) -> ReceiptKind:
        """The first step's receipt kind: its family's policy and message key rule the run."""
        return self.steps[0].spec

    @property
    def provider(self) -> str:
        return self.first_kind.provider.name

    @property
    def kinds(self) -> list[str]:
        return [step.kind for step in self.steps]

    def as_dict(self) -> dict[str, Any]:
        """The scenario in its file format (what ``dlrmock scenarios --json`` shows)."""
        steps = []
        for step in self.steps:
            entry: dict[str, Any] = {"kind": step.kind, "after": step.after}
            if step.set:
                entry["set"] = dict(step.set)
            if step.duplicate:
                entry["duplicate"] = step.duplicate
            if step.lost_ack:
                entry["lost_ack"] = True if step.lost_ack < 0 else step.lost_ack
            if step.reorder:
                entry["reorder"] = True
            if step.malformed:
                entry["malformed"] = step.malformed
            steps.append(entry)
        result: dict[str, Any] = {"name": self.name, "description": self.description}
        for key in ("message", "set", "policy", "expect"):
            if getattr(self, key):
                result[key] = dict(getattr(self, key))
        if self.error_info_encoding is not None:
            result["error_info_encoding"] = self.error_info_encoding
        result["steps"] = steps
        return result


class _Lines:
    """JSON path → line number, from a YAML node tree (JSON is YAML, so this covers both)."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                self.lines[child] = key.start_mark.line + 1
                self._walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: tuple[Any, ...]) -> int | None:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path)


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_scenario(
    data: Any, *, source: str = "<inline>", name: str | None = None, lines: _Lines | None = None
) -> Scenario:
    """A scenario from its parsed file content, checked against ``dlrmock.scenario.json``."""
    lines = lines or _Lines(None)

    def error(message: str, path: tuple[Any, ...]) -> ScenarioError:
        return ScenarioError(message, source=source, path=_dotted(path), line=lines.line(path))

    if not isinstance(data, Mapping):
        raise error(
            f"a scenario is a mapping with a 'steps' list, got {type(data).__name__}; "
            "see `dlrmock scenarios --json` for examples",
            (),
        )
    problems = sorted(
        validator_for("dlrmock.scenario").iter_errors(data),
        key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))),
    )
    if problems:
        first = problems[0]
        path = tuple(first.absolute_path)
        if first.validator == "additionalProperties" and isinstance(first.instance, Mapping):
            allowed = first.schema.get("properties", {})
            path += tuple(k for k in first.instance if k not in allowed)[:1]
        raise error(_explain(first), path)
    steps: list[Step] = []
    for index, raw in enumerate(data["steps"]):
        if raw["kind"] not in KINDS:
            raise error(str(UnknownKindError(raw["kind"], KINDS)), ("steps", index, "kind"))
        lost = raw.get("lost_ack", False)
        malformed = raw.get("malformed", False)
        if malformed in ("bad_error_info", "bad_json"):
            _check_malformed(KINDS[raw["kind"]], malformed, error, ("steps", index, "malformed"))
        steps.append(
            Step(
                kind=raw["kind"],
                after=float(raw.get("after", 0)),
                set=dict(raw.get("set", {})),
                duplicate=int(raw.get("duplicate", 0)),
                lost_ack=-1 if lost is True else int(lost),
                reorder=bool(raw.get("reorder", False)),
                malformed=("missing_field" if malformed is True else malformed) or None,
            )
        )
    providers = {step.spec.provider.name for step in steps}
    if len(providers) > 1:
        raise error(
            f"all steps must be receipts of one provider, got {', '.join(sorted(providers))}",
            ("steps",),
        )
    if steps[-1].reorder:
        raise error(
            "the last step cannot be reordered: there is no next step to swap with",
            ("steps", len(steps) - 1, "reorder"),
        )
    return Scenario(
        name=str(data.get("name") or name or "inline"),
        steps=tuple(steps),
        description=str(data.get("description", "")),
        message=dict(data.get("message", {})),
        set=dict(data.get("set", {})),
        policy=dict(data.get("policy", {})),
        error_info_encoding=data.get("error_info_encoding"),
        expect=dict(data.get("expect", {})),
        source=source,
    )


def _check_malformed(
    kind: ReceiptKind,
    mode: str,
    error: Callable[[str, tuple[Any, ...]], ScenarioError],
    path: tuple[Any, ...],
) -> None:
    """Refuse a malformed mode the kind has nothing to break with (it would send a valid one)."""
    has_error_info = kind.packed is not None
    has_json_body = kind.transport.body != "none"
    if mode == "bad_error_info" and not has_error_info:
        raise error(
            f"malformed: bad_error_info needs a kind with error_info, and {kind.name!r} has none; "
            "use missing_field or wrong_type",
            path,
        )
    if mode == "bad_json" and not (has_json_body or has_error_info):
        raise error(
            f"malformed: bad_json needs a JSON body or an error_info, and {kind.name!r} has "
            "neither; "
            "use missing_field or wrong_type",
            path,
        )


def _explain(error: Any) -> str:
    if error.validator == "required":
        # The first error of a ``required`` keyword is about its first missing field.
        missing = [f for f in error.validator_value if f not in error.instance]
        return f"{missing[0]!r} is required"
    if error.validator == "additionalProperties":
        allowed = error.schema.get("properties", {})
        unexpected = unexpected_fields(error)
        close = close_matches(str(unexpected[0]), allowed) if unexpected else []
        hint = f"did you mean {close[0]!r}? " if close else "check the spelling "
        verb = "was" if len(unexpected) == 1 else "were"
        return (
            f"Additional properties are not allowed ({', '.join(map(repr, unexpected))} "
            f"{verb} unexpected); {hint}(allowed: " + ", ".join(sorted(allowed)) + ")"
        )
    field_name = error.absolute_path[-1] if error.absolute_path else None
    if error.validator == "anyOf" and field_name == "malformed":
        return f"bad malformed mode {error.instance!r}; use true or one of " + ", ".join(
            MALFORMED_MODES
        )
    if error.validator == "anyOf" and field_name == "lost_ack":
        return (
            f"bad lost_ack {error.instance!r}; use true (every answer lost) or the number of "
            "answers lost, e.g. 2"
        )
    if error.validator == "minItems" and list(error.absolute_path) == ["steps"]:
        return "'steps' is empty: list at least one receipt, e.g. '- kind: nxcloud.zalo.success'"
    if (
        error.validator in ("minimum", "exclusiveMinimum", "maximum", "type")
        and error.absolute_path
        and error.absolute_path[-1] == "after"
    ):
        return f"bad delay {error.instance!r}: 'after' is a number of seconds, 0 to 31536000"
    return str(error.message)


MAX_NODES = 10_000
"""Values a scenario document may hold once YAML aliases are expanded (a long one has ~100)."""


def _check_size(node: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases expand past :data:`MAX_NODES` values or
    :data:`MAX_DEPTH` levels ("billion laughs"), or refer to themselves, before anything walks
    it path by path. Each distinct node is visited once, so this costs the file's size."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, depth)
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    open_nodes: set[int] = set()
    while stack:
        current, done = stack.pop()
        key = id(current)
        children: list[yaml.Node] = []
        if isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        elif isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        if done:
            open_nodes.discard(key)
            size = 1 + sum(sizes[id(c)][0] for c in children)
            # Levels are collections, as in _check_depth and loads_json: a scalar adds none.
            depth = (0 if isinstance(current, yaml.ScalarNode) else 1) + max(
                (sizes[id(c)][1] for c in children), default=0
            )
            if size > MAX_NODES or depth > MAX_DEPTH:
                raise ScenarioError(
                    f"the document expands to more than {MAX_NODES} values or {MAX_DEPTH} "
                    "levels (YAML aliases repeat what they point at); write it out "
                    "without nested aliases",
                    source=source,
                    line=current.start_mark.line + 1,
                )
            sizes[key] = (size, depth)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise ScenarioError(
                "a YAML alias refers to a value that contains it; scenarios cannot be recursive",
                source=source,
                line=current.start_mark.line + 1,
            )
        open_nodes.add(key)
        stack.append((current, True))
        stack.extend((child, False) for child in children)


def _check_depth(text: str, source: str) -> None:
    """Refuse text nested past :data:`MAX_DEPTH` levels from the event stream, which PyYAML
    produces lazily and without recursion: 20 000 levels are refused after reading 65."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ScenarioError(
                    f"the document is nested too deeply (more than {MAX_DEPTH} levels is never "
                    "needed)",
                    source=source,
                    line=event.start_mark.line + 1 if event.start_mark else None,
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def check_yaml_bounds(text: str, source: str) -> list[yaml.Node]:
    """The node trees of ``text``, once it is known to nest at most :data:`MAX_DEPTH` levels
    and expand to at most :data:`MAX_NODES` values; :class:`ScenarioError` otherwise.
    ``yaml.YAMLError`` when it does not parse."""
    try:
        _check_depth(text, source)
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except RecursionError:
        raise ScenarioError(
            f"the document is nested too deeply (more than {MAX_DEPTH} levels is never needed)",
            source=source,
        ) from None
    for node in nodes:
        if node is not None:
            _check_size(node, source)
    return nodes


def _documents(text: str, source: str) -> Iterator[tuple[Any, _Lines]]:
    try:
        nodes = check_yaml_bounds(text, source)
        values = list(yaml.safe_load_all(text))
    except RecursionError:
        raise ScenarioError(
            f"the document is nested too deeply (more than {MAX_DEPTH} levels is never needed)",
            source=source,
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML forbids; no mark, several lines
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ScenarioError(
            f"not valid YAML/JSON: unacceptable character #x{code:04x}: {exc.reason}",
            source=source,
            line=text.count("\n", 0, exc.position) + 1,
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(
            f"not valid YAML/JSON: {problem}",
            source=source,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    for node, value in zip(nodes, values, strict=True):
        if node is not None:
            yield value, _Lines(node)


def load_scenario_file(path: str | Path) -> Scenario:
    """A scenario from a ``.yaml``, ``.yml`` or ``.json`` file."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the file: {exc}", source=str(path)) from None
    documents = list(_documents(text, str(path)))
    if len(documents) != 1:
        raise ScenarioError(
            f"expected one scenario in the file, found {len(documents)} YAML documents",
            source=str(path),
        )
    data, lines = documents[0]
    return parse_scenario(data, source=str(path), name=path.stem, lines=lines)


@functools.cache
def builtin_scenarios() -> dict[str, Scenario]:
    """The scenarios shipped with dlrmock, by name."""
    scenarios: dict[str, Scenario] = {}
    folder = files("mock_server") / "scenarios"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith((".yaml", ".yml")):
            continue
        source = f"<built-in {entry.name}>"
        for data, lines in _documents(entry.read_text("utf-8"), source):
            scenario = parse_scenario(data, source=source, lines=lines)
            scenarios[scenario.name] = scenario
    return scenarios


def resolve(scenario: str | Path | Mapping[str, Any] | Scenario) -> Scenario:
    """A scenario from a built-in name, a file path, an inline mapping, or itself."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, Mapping):
        return parse_scenario(scenario)
    builtins = builtin_scenarios()
    if isinstance(scenario, str) and scenario in builtins:
        return builtins[scenario]
    path = Path(scenario)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise ScenarioError(
                "no such file (a scenario name or a path to a .yaml/.json file)", source=str(path)
            )
        return load_scenario_file(path)
    raise UnknownScenarioError(str(scenario), builtins)


load_scenario = resolve
"""The public name of :func:`resolve`."""
