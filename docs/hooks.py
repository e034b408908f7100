"""MkDocs hooks.

- Each ``<!-- reference: NAME -->`` line becomes the table ``mock_server._reference`` generates
  from the running code, so the reference pages cannot drift from the registries.
- ``<!-- choices -->`` becomes the list of every ``[choice]`` the other guide pages mark, each
  with its page and section, so the list of interpretations is complete by construction.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mock_server._reference import render

_MARKER = re.compile(r"^<!-- reference: ([a-z-]+) -->$", re.MULTILINE)
_CHOICES = "<!-- choices -->"
_FENCE = re.compile(r"^```.*?^```$", re.MULTILINE | re.DOTALL)


def _slug(title: str) -> str:
    """The anchor MkDocs' toc extension gives a heading (its default slugify)."""
    text = re.sub(r"[^\w\s-]", "", title.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def choices(docs: Path, skip: str) -> str:
    """A list item per paragraph, list item or table row that marks a ``[choice]``."""
    items = []
    for path in sorted(docs.glob("*.md")):
        if path.name == skip:
            continue
        text = _FENCE.sub("", path.read_text("utf-8"))
        section, title = "", path.stem
        for block in re.split(r"\n\s*\n|\n(?=\s*[-|] )", text):
            heading = re.match(r"^(#+) (.+)$", block.strip())
            if heading:
                if heading.group(1) == "#":
                    title = heading.group(2)
                section = _slug(heading.group(2)) if heading.group(1) != "#" else ""
                continue
            if "[choice" not in block:
                continue
            excerpt = " ".join(block.split()).lstrip("-| ").replace(" | ", " — ").rstrip(" |")
            link = f"{path.name}#{section}" if section else path.name
            items.append(f"- [{title}]({link}): {excerpt}")
    return "\n".join(items)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    markdown = _MARKER.sub(lambda found: render(found.group(1)), markdown)
    if _CHOICES in markdown:
        markdown = markdown.replace(
            _CHOICES, choices(Path(config["docs_dir"]), Path(page.file.src_path).name))
    return markdown
