"""One suite/task's tables as markdown (``<root>/<suite>/<task>.md``), readable on any forge.

Every piece of text from a result file goes through `hbench.leaderboard.text`: a model name
cannot end a table cell, open a heading, a link or HTML, or close its code span.
"""

from __future__ import annotations

import json
from pathlib import Path

from hbench.leaderboard.tables import Table, board_headline, cells, headers, legend, tables
from hbench.leaderboard.text import code_span, markdown_text
from hbench.leaderboard.tree import Entry
from hbench.registry.registry import get_registry
from hbench.registry.suites import SUITES


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(values: list[str]) -> str:
        return "| " + " | ".join(values) + " |"

    safe = [[markdown_text(v) for v in row] for row in rows]  # the header is hbench's own
    return "\n".join(
        [line(header), "| " + " | ".join("---" for _ in header) + " |"] + [line(r) for r in safe]
    )


def _files(table: Table, suite_name: str) -> list[str]:
    lines = []
    for label, row in zip(table.labels, table.rows, strict=True):
        config = json.dumps(row["config"], sort_keys=True)
        path = Path(row["file"])
        lines.append(
            f"- {markdown_text(label)}: {code_span(row['model'])}"
            f" [{markdown_text(path.name)}]({path.relative_to(suite_name).as_posix()})"
            f" {code_span(config)}, {markdown_text(row['hardware'])}"
            + (
                f", verified (signed by the {markdown_text(row['verified'])} key)"
                if row["verified"]
                else ", self-reported"
            )
        )
        for event in row["audit"]:
            lines.append(f"  - audit: {markdown_text(event)}")
    return lines


def render_markdown(suite_name: str, task: str, entries: list[Entry]) -> str:
    preset = SUITES.get(suite_name)
    lines = [f"# Leaderboard: suite `{suite_name}`, task `{task}`", ""]
    if preset is not None:
        grammar = preset.grammar_summary(get_registry())
        lines += [
            f"Suite `{suite_name}` ({preset.description}): {grammar},"
            f" P={preset.budget(task)}, {preset.test_sizes_text()} test sequences"
            f" per level, {preset.n_ood} random ones.",
            "",
        ]
    lines += [
        "Rendered by `hbench leaderboard build` from the files in"
        f" [`{task}/results/`]({task}/results/); do not edit by hand. Charts, heatmaps and"
        f" downloads: [`{task}.html`]({task}.html).",
        "",
    ]
    found = tables(suite_name, task, entries)
    if not found:
        lines += ['No results yet: see CONTRIBUTING.md, "Add your model in ten minutes".', ""]
    for table in found:
        lines += [f"## {table.title}", "", table.note, ""]
        lines += [_markdown_table(headers(table), cells(table)), ""]
        lines += ["Result files and model options:", "", *_files(table, suite_name), ""]
    lines += [legend(board_headline(task)), ""]
    return "\n".join(lines)
