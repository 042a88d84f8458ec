"""The leaderboard site: static pages rendered from Jinja2 templates (``templates/``).

    <root>/index.html              every board, its best ranked row, links
    <root>/<suite>/<task>.html     the tables (sortable), a per-level chart, one heatmap per
                                   model, result files and model options, downloads
    <root>/<suite>/<task>.csv      the table rows, for a spreadsheet
    <root>/<suite>/<task>.json     the same rows with every number unrounded
    <root>/schema.json             the JSON Schema of a result file

Pages open offline (styles and the sort script are inline, figures are inline SVG) and are a
pure function of the result files: no build time, sorted inputs, fixed number formats.
Every piece of text from a result file is escaped by the templates' autoescape.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from hbench.leaderboard.svg import colour, heatmap, level_chart
from hbench.leaderboard.tables import (
    DASH,
    LEGEND,
    Table,
    headers,
    isolation_text,
    model_text,
    number,
    seconds,
    tables,
    with_error,
)
from hbench.leaderboard.text import visible
from hbench.leaderboard.tree import Entry
from hbench.results import RunResult
from hbench.suites import SUITES

INDEX = "index.html"
SCHEMA = "schema.json"

#: Which way a column sorts on its first click: best first (higher accuracy, lower KL).
_FIRST = {"norm. acc.": "descending", "params": "descending"}
_ASCENDING = ("#", "KL (bits)", "ood KL", "fit (s)", "model", "plugin", "isolation")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hbench.leaderboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )
    env.filters["tojson_sorted"] = lambda v: json.dumps(v, sort_keys=True)
    return env


def _shown(value: Any) -> Any:
    """Every text a template prints, with control characters written as escapes (autoescape
    then escapes HTML); figures drawn by `svg` are markup already."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def _raw(value: float | None) -> str:
    """A number for sorting and downloads: shortest exact text, empty where there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value)


def _columns(table: Table) -> list[dict[str, str]]:
    out = []
    for name in headers(table):
        text = name in ("model", "plugin", "isolation")
        first = _FIRST.get(name, "ascending" if name in _ASCENDING or text else "descending")
        out.append({"name": name, "type": "text" if text else "number", "first": first})
    return out


def _row_cells(table: Table, label: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Each cell's text, sort value and class, in `headers` order."""
    params = DASH if row["params"] is None else f"{row['params']:,}"
    rank = label if label.isdigit() else ""
    values = [
        (label, rank or ("0" if label == "ref" else ""), "rank"),
        (model_text(row), None, "model"),
        (with_error(row["acc"], row["acc_se"], row["seeds"]), _raw(row["acc"]), "num"),
        (with_error(row["kl"], row["kl_se"], row["seeds"]), _raw(row["kl"]), "num"),
        *(
            (number(row["levels"].get(k, math.nan)), _raw(row["levels"].get(k)), "num")
            for k in table.levels
        ),
        (number(row["ood_kl"]), _raw(row["ood_kl"]), "num"),
        (params, _raw(row["params"]), "num"),
        (row["plugin"], None, "plugin"),
        (str(row["seeds"]), _raw(row["seeds"]), "num"),
        (seconds(row["fit_s"]), _raw(row["fit_s"]), "num"),
        (isolation_text(row), None, "isolation"),
        (row["date"], row["date"], "num"),
    ]
    return [{"text": t, "sort": s, "cls": c} for t, s, c in values]


def _page_table(table: Table) -> dict[str, Any]:
    rows = []
    for index, (label, row) in enumerate(zip(table.labels, table.rows, strict=True)):
        file = Path(row["file"])
        rows.append(
            {
                "label": label,
                "row": row,
                "colour": colour(index),
                "cells": _row_cells(table, label, row),
                "file": file.relative_to(table.suite).as_posix(),
                "file_name": file.name,
                "config": json.dumps(row["config"], sort_keys=True, indent=1),
                "anchor": f"model-{table.key}-{index}",
                "flag": not row["privileged"]
                and (row["isolation"] != "process" or bool(row["audit"])),
                "heatmap": heatmap(
                    table.train_levels,
                    table.levels,
                    row["matrix"],
                    title=f"{row['model']}: normalised accuracy, k_train x k_test",
                ),
            }
        )
    chart = level_chart(
        table.levels,
        [(row["model"], row["levels"], row["levels_se"]) for row in table.rows],
        title=f"{table.title}: normalised accuracy at each in-sample level",
    )
    return {"table": table, "columns": _columns(table), "rows": rows, "chart": chart}


# --- downloads ---------------------------------------------------------------------------------


def _json_number(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def download_rows(found: list[Table]) -> list[dict[str, Any]]:
    """One flat record per row of every table (what the CSV and JSON downloads hold)."""
    records = []
    for table in found:
        for label, row in zip(table.labels, table.rows, strict=True):
            record = {
                "table": table.key,
                "rank": label,
                "model": row["model"],
                "unranked": row["standing"] or "",
                "plugin": row["plugin"],
                "num_parameters": row["params"],
                "P": row["P"],
                "normalised_accuracy": _json_number(row["acc"]),
                "normalised_accuracy_stderr": _json_number(row["acc_se"]),
                "kl_bp": _json_number(row["kl"]),
                "kl_bp_stderr": _json_number(row["kl_se"]),
                **{f"k={k}": _json_number(row["levels"].get(k, math.nan)) for k in table.levels},
                "ood_kl": _json_number(row["ood_kl"]),
                "seeds": row["seeds"],
                "fit_s": _json_number(row["fit_s"]),
                "isolation": row["isolation"] or "",
                "audit_events": len(row["audit"]),
                "hardware": row["hardware"],
                "date": row["date"],
                "file": row["file"],
            }
            records.append(record)
    return records


def _spreadsheet_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def render_csv(found: list[Table]) -> str:
    records = download_rows(found)
    fields = list(dict.fromkeys(key for record in records for key in record))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                key: _raw(value) if isinstance(value, float) else _spreadsheet_safe(value)
                for key, value in record.items()
            }
        )
    return out.getvalue()


def render_json(suite_name: str, task: str, found: list[Table]) -> str:
    data = {
        "suite": suite_name,
        "task": task,
        "tables": [
            {"key": t.key, "title": t.title, "note": t.note, "levels": t.levels} for t in found
        ],
        "rows": download_rows(found),
    }
    return json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n"


def render_schema() -> str:
    return json.dumps(RunResult.model_json_schema(), indent=2, sort_keys=True) + "\n"


# --- pages -------------------------------------------------------------------------------------


def render_board(suite_name: str, task: str, entries: list[Entry]) -> str:
    found = tables(suite_name, task, entries)
    return (
        _environment()
        .get_template("board.html.j2")
        .render(
            suite=suite_name,
            task=task,
            preset=SUITES.get(suite_name),
            budget=SUITES[suite_name].budget(task) if suite_name in SUITES else None,
            tables=[_page_table(t) for t in found],
            legend=LEGEND,
        )
    )


def render_index(tree: dict[tuple[str, str], list[Entry]]) -> str:
    boards = []
    for (suite_name, task), entries in sorted(tree.items()):
        found = tables(suite_name, task, entries)
        best = None
        if found:
            ranked = [
                (label, row)
                for label, row in zip(found[0].labels, found[0].rows, strict=True)
                if label == "1"
            ]
            best = ranked[0][1] if ranked else None
        boards.append(
            {
                "suite": suite_name,
                "task": task,
                "preset": SUITES.get(suite_name),
                "results": len(entries),
                "tables": len(found),
                "best": best,
                "best_acc": with_error(best["acc"], best["acc_se"], best["seeds"])
                if best
                else DASH,
            }
        )
    return _environment().get_template("index.html.j2").render(boards=boards, legend=LEGEND)
