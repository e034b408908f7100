"""The examples of README.md and docs/*.md, and how each one is run.

Every fenced ``sh``/``bash``/``python``/``yaml`` block is an example. The line before it may be a
marker naming what the example needs::

    <!-- example: serve webhook -->
    ```sh
    curl http://127.0.0.1:8765/...
    ```

Marker words:

- ``serve``: a ``dlrmock serve`` (shared by the module) runs; ``http://127.0.0.1:8765`` in the
  block is its URL. After the block, the server must have rejected no send and raised no error
  (``rejected``: rejected sends are what the example shows).
- ``webhook``: a webhook that acknowledges everything (``200 success``) runs;
  ``http://127.0.0.1:5000`` in the block is its URL.
- ``naive``: as ``webhook``, but the webhook is ``examples/naive_receiver`` (the buggy one).
- ``https``: an ``https://`` webhook answering ``200 success`` runs, with a certificate from a
  private CA whose certificate is ``ca.pem`` in the working directory;
  ``https://127.0.0.1:8443`` in the block is its URL.
- ``exit=N``: the block's expected exit status (default 0).
- ``background``: a command that runs until stopped (``dlrmock serve``): it must print that it is
  serving (on a free port: ``--port 0`` is added), then stop cleanly on SIGTERM.
- ``file=NAME``: the block is a file the page's examples use, written to NAME in the working
  directory before each of them runs.
- ``config``: a YAML block is a config file: ``create_app`` must accept it.
- ``pytest``: a Python block is a test module, run with pytest next to
  ``examples/webhook_app`` (its fixtures ``app``, ``live_url``, and the plugin's).
- ``collect``: as ``pytest``, but only collected (a conformance suite is built and its tests
  are listed, not played).
- ``skip: REASON``: cannot run here (a network install, another machine); the reason is shown.

A ``console`` block is a transcript: each ``$ COMMAND`` line runs, and the lines after it are its
output (stdout and stderr), matched line by line with ``…`` standing for any text; ``$ echo $?``
shows the previous command's exit status.

``.venv/bin/`` in a block is the running interpreter's bin directory, which is also first on
``PATH`` (so ``dlrmock`` is this checkout's). Blocks run in a fresh directory per page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
LANGUAGES = {"sh": "sh", "bash": "sh", "console": "console", "python": "python", "yaml": "yaml"}
SERVE_URL = "http://127.0.0.1:8765"
WEBHOOK_URL = "http://127.0.0.1:5000"
HTTPS_URL = "https://127.0.0.1:8443"
WORDS = {"serve", "webhook", "naive", "https", "background", "config", "pytest", "collect",
         "rejected"}

_FENCE = re.compile(r"^```([A-Za-z0-9_-]*)\s*$")
_MARKER = re.compile(r"^<!-- example: (.*?) -->\s*$")


@dataclass(frozen=True)
class Example:
    """One fenced block and what its marker asks for."""

    page: Path
    line: int
    language: str
    code: str
    words: frozenset[str] = frozenset()
    exit: int = 0
    file: str | None = None
    skip: str | None = None
    page_files: tuple[tuple[str, str], ...] = field(default=())
    """The page's ``file=NAME`` blocks, written before each example runs."""

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


class MarkerError(ValueError):
    """A marker the runner does not understand."""


def parse_marker(text: str, where: str) -> dict[str, Any]:
    """The settings of one marker's text (``serve webhook exit=1``, ``skip: why``) as the
    keyword arguments of :class:`Example`."""
    if text.startswith("skip:"):
        reason = text[len("skip:"):].strip()
        if not reason:
            raise MarkerError(f"{where}: 'skip:' needs a reason")
        return {"skip": reason}
    settings: dict[str, Any] = {}
    words: set[str] = set()
    for word in text.split():
        if word.startswith("exit="):
            settings["exit"] = int(word[len("exit="):])
        elif word.startswith("file="):
            settings["file"] = word[len("file="):]
        elif word in WORDS:
            words.add(word)
        else:
            raise MarkerError(f"{where}: unknown marker word {word!r}; known: "
                              f"{', '.join(sorted(WORDS))}, exit=N, file=NAME, skip: REASON")
    return {**settings, "words": frozenset(words)}


def examples(page: Path) -> list[Example]:
    """The examples of one page, in order."""
    lines = page.read_text("utf-8").split("\n")
    found: list[Example] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        start = index
        end = next((j for j in range(index + 1, len(lines)) if lines[j].startswith("```")),
                   None)
        if end is None:
            raise MarkerError(f"{page}:{start + 1}: a fenced block is never closed")
        index = end + 1
        language = LANGUAGES.get(fence.group(1))
        if language is None:
            continue  # output, transcripts, text: shown, not run
        where = f"{page.relative_to(ROOT)}:{start + 1}"
        marker = _MARKER.match(lines[start - 1]) if start else None
        settings = parse_marker(marker.group(1), where) if marker else {}
        code = "\n".join(lines[start + 1:end]) + "\n"
        example = Example(page, start + 1, language, code, **settings)
        found.append(example)
    files = tuple((e.file, e.code) for e in found if e.file)
    return [replace(e, page_files=files) for e in found]


def all_examples() -> list[Example]:
    return [example for page in PAGES for example in examples(page)]
