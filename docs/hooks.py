"""MkDocs hook: replace each ``<!-- reference: NAME -->`` line with the table generated from the
code (``mock_server._reference``), so the reference pages cannot drift from the registries."""

from __future__ import annotations

import re
from typing import Any

from mock_server._reference import render

_MARKER = re.compile(r"^<!-- reference: ([a-z-]+) -->$", re.MULTILINE)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return _MARKER.sub(lambda found: render(found.group(1)), markdown)
