"""Text from result files is escaped wherever it is shown: markdown, HTML and terminals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from result_runs import make_result

from hbench.cli import main
from hbench.leaderboard.markdown import render_markdown
from hbench.leaderboard.site import render_board, render_csv
from hbench.leaderboard.tables import tables
from hbench.leaderboard.text import code_span, markdown_text, terminal
from hbench.leaderboard.tree import Entry
from hbench.results.validate import recorded_suite
from hbench.scoring import headline


def entry_of(model: str) -> Entry:
    result = make_result(model=model)
    result.headline = headline(result.metrics)
    return Entry(Path("smoke/root/results/x.json"), result, recorded_suite(result))


HOSTILE = "evil\x1b[2J\x1b[31m|net\n# heading <script>alert(1)</script> `x` [a](http://x)"
OPTIONS = {"note": "a ` b `` c | d", "html": "</pre><img src=x onerror=alert(1)>"}


def hostile_entry() -> Entry:
    entry = entry_of(HOSTILE)
    entry.result.spec.model_settings.update(OPTIONS)
    return entry


def test_markdown_keeps_hostile_text_inside_its_cell() -> None:
    text = render_markdown("smoke", "root", [hostile_entry()])
    assert "\x1b" not in text and "\n# heading" not in text
    row = next(line for line in text.splitlines() if "evil" in line and line.startswith("| "))
    # every pipe of the name is escaped: the row has exactly as many cells as the header
    header = next(line for line in text.splitlines() if line.startswith("| # |"))
    assert len(re.findall(r"(?<!\\)\|", row)) == len(re.findall(r"(?<!\\)\|", header))
    assert "<script>" not in row and "\\<script\\>" in row  # in code spans it is literal
    assert "[a](http://x)" not in row
    # the options' code span is fenced longer than any backtick run inside it
    assert '```{"html"' in text and "\\x1b" in text


@pytest.mark.parametrize(
    ("text", "span"),
    [("plain", "`plain`"), ("a`b", "``a`b``"), ("`x`", "`` `x` ``"), ("a``b", "```a``b```")],
)
def test_code_spans_survive_backticks(text, span) -> None:
    assert code_span(text) == span


def test_markdown_text_escapes_markup() -> None:
    assert markdown_text("# h") == "\\# h"
    assert markdown_text("a|b") == "a\\|b"
    assert markdown_text("x\ny") == "x\\\\ny"  # shows as x\ny
    assert terminal("a\x1b[31mb\r\n") == "a\\x1b[31mb\\r\\n"


def test_html_is_escaped_by_the_templates() -> None:
    page = render_board("smoke", "root", [hostile_entry()])
    body = page.split("<body>")[1]
    assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<img src=x" not in body and "&lt;/pre&gt;&lt;img" in body
    assert "\x1b" not in body and "evil\\x1b[2J" in body


def test_csv_quotes_formulas() -> None:
    entry = entry_of("=HYPERLINK(1)")
    text = render_csv(tables("smoke", "root", [entry]))
    assert ",'=HYPERLINK(1)," in text


def test_terminal_output_never_holds_escape_sequences(tmp_path, capsys) -> None:
    data = make_result(model="evil\x1b]0;title\x07net").model_dump(mode="json")
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(data))
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b" in out
