"""Text from result files, made safe for where it is shown.

Model names and options come from files anyone can write. `hbench.results.validate` refuses
control characters in them, but a table must be safe even for a file nobody validated (a
board built with an older hbench), so every place that shows such text escapes it again:
terminals (no escape sequences reach them), markdown (no pipe ends a cell, no backtick ends a
code span, no ``#`` starts a heading). HTML is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import re

from hbench.results.validate import CONTROL

#: Markdown punctuation that could start markup inside a line of text (GFM escapes any ASCII
#: punctuation with a backslash; these are the ones that mean something mid-line).
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~&])")


def visible(text: str) -> str:
    """``text`` with every control character written as its escape (``\\x1b``, ``\\n``)."""
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def terminal(text: object) -> str:
    """Safe to print: no escape sequence, carriage return or newline from the data."""
    return visible(str(text))


def markdown_text(text: object) -> str:
    """Plain text inside a markdown line or table cell: no markup, links, HTML or headings."""
    escaped = _MARKDOWN.sub(r"\\\1", visible(str(text)))
    return "\\" + escaped if escaped.startswith("#") else escaped


def code_span(text: object, *, in_table: bool = False) -> str:
    """``text`` as one inline code span, whatever backticks it holds (CommonMark: a fence
    longer than any run inside it, padded with a space when the text starts or ends with a
    backtick). In a table cell a pipe is escaped, which GFM undoes inside code spans."""
    body = visible(str(text))
    if in_table:
        body = body.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    if body.startswith(("`", " ")) or body.endswith(("`", " ")) or not body:
        body = f" {body} "
    return f"{fence}{body}{fence}"
