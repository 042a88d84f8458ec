"""MkDocs hook: the command-line reference, rendered at build time from the ``hbench`` parser.

``docs/cli.md`` holds the marker ``<!-- hbench-cli-reference -->``; it is replaced by the
``--help`` of ``hbench`` and of every command, in the order of ``hbench --help``, so the page
cannot go stale: it is whatever the installed parser says.
"""

from __future__ import annotations

import os
from typing import Any

MARKER = "<!-- hbench-cli-reference -->"

#: The width the help is formatted to, whatever terminal the build runs in.
COLUMNS = "80"


def cli_reference() -> str:
    """One section per command: its path as a heading and its ``--help`` as a code block."""
    from hbench.cli import build_parser
    from hbench.cli.app import subparsers

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    try:
        parser = build_parser()
        sections = [("hbench", parser.format_help())]
        sections += [(f"hbench {path}", child.format_help()) for path, child in subparsers(parser)]
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    parts = []
    for title, text in sections:
        level = "##" if title.count(" ") <= 1 else "###"
        parts.append(f"{level} `{title}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())
