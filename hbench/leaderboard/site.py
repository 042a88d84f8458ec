"""The leaderboard site: static pages rendered from Jinja2 templates (``templates/``).

    <root>/index.html              every board, its best ranked row, links
    <root>/<suite>/<task>.html     the tables (sortable), each row's interval beside its seeds'
                                   scores, a per-level chart, one heatmap per model, result
                                   files and model options, downloads
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

from hbench.leaderboard.svg import (
    Interval,
    colour,
    heatmap,
    interval_chart,
    level_chart,
    model_colours,
)
from hbench.leaderboard.tables import (
    DASH,
    LEGEND,
    Table,
    board_headline,
    headers,
    headline_text,
    isolation_text,
    legend,
    model_text,
    number,
    ood_text,
    seconds,
    seeds_text,
    tables,
)
from hbench.leaderboard.text import visible
from hbench.leaderboard.tree import Entry
from hbench.registry.suites import SUITES
from hbench.results import RunResult

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
        if name in table.metrics:  # a registered metric: best first, by its direction
            first = "ascending" if table.metrics[name] == "lower" else "descending"
        if name == table.headline.label:  # the board's headline: best first
            first = "descending" if table.headline.higher_is_better else "ascending"
        out.append({"name": name, "type": "text" if text else "number", "first": first})
    return out


def _row_cells(table: Table, label: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Each cell's text, sort value and class, in `headers` order."""
    params = DASH if row["params"] is None else f"{row['params']:,}"
    rank = str(row["rank_range"][0]) if row["rank_range"] else ""
    if table.headline.metric is not None:  # the task's own headline (`tables.headers`)
        scores = [
            (headline_text(row, "head"), _raw(row["head"]), "num"),
            *(
                (number(row["head_levels"].get(k)), _raw(row["head_levels"].get(k)), "num")
                for k in table.levels
            ),
            (headline_text(row, "acc"), _raw(row["acc"]), "num"),
        ]
    else:
        scores = [
            (headline_text(row, "acc"), _raw(row["acc"]), "num"),
            (headline_text(row, "kl"), _raw(row["kl"]), "num"),
            *(
                (number(row["levels"].get(k, math.nan)), _raw(row["levels"].get(k)), "num")
                for k in table.levels
            ),
            (ood_text(row), _raw(row["ood_kl"]), "ood"),
        ]
    values = [
        (label, rank or ("0" if label == "ref" else ""), "rank"),
        (model_text(row), None, "model"),
        *scores,
        *((number(row["scores"].get(m)), _raw(row["scores"].get(m)), "num") for m in table.metrics),
        (params, _raw(row["params"]), "num"),
        (row["plugin"], None, "plugin"),
        (seeds_text(row), _raw(row["seeds"]), "seeds"),
        (seconds(row["fit_s"]), _raw(row["fit_s"]), "num"),
        (isolation_text(row), None, "isolation"),
        (row["date"], row["date"], "num"),
    ]
    titles = {"ood": row["ood_na"]}  # why a random-sequence cell is n/a or partial
    return [{"text": t, "sort": s, "cls": c, "title": titles.get(c)} for t, s, c in values]


def _table_id(table: Table) -> str:
    """The table's id on its page: a comparison class has a verified and a self-reported one."""
    return table.key if table.kind == "verified" else f"{table.key}-{table.kind}"


def _axis(table: Table) -> dict[str, str]:
    """The charts' y-axis title where the board ranks by a task's own headline."""
    return {} if table.headline.metric is None else {"axis": table.headline.name}


def _page_table(table: Table, colours: dict[str, str]) -> dict[str, Any]:
    rows = []
    for index, (label, row) in enumerate(zip(table.labels, table.rows, strict=True)):
        file = Path(row["file"])
        rows.append(
            {
                "label": label,
                "row": row,
                "colour": colour(row["model"], colours),
                "cells": _row_cells(table, label, row),
                "file": file.relative_to(table.suite).as_posix(),
                "file_name": file.name,
                "config": json.dumps(row["config"], sort_keys=True, indent=1),
                "anchor": f"model-{_table_id(table)}-{index}",
                "flag": not row["privileged"]
                and (row["isolation"] != "process" or bool(row["audit"])),
                "heatmap": heatmap(
                    table.train_levels,
                    table.levels,
                    row["head_matrix"],
                    title=f"{row['model']}: {table.headline.name}, k_train x k_test",
                ),
            }
        )
    intervals = interval_chart(
        [
            Interval(
                "" if label == DASH else label,  # an unranked row: its name alone
                row["model"],
                colour(row["model"], colours),
                row["head"],
                row["head_low"],
                row["head_high"],
                row["head_seeds"],
                row["outlier_seeds"],
            )
            for label, row in zip(table.labels, table.rows, strict=True)
        ],
        title=f"{table.title}: {table.headline.name}, 95% interval and every seed",
        **_axis(table),
    )
    chart = level_chart(
        table.levels,
        [(row["model"], row["head_levels"], row["head_levels_se"]) for row in table.rows],
        title=f"{table.title}: {table.headline.name} at each in-sample level",
        colours=colours,
        **_axis(table),
    )
    return {
        "table": table,
        "id": _table_id(table),
        "columns": _columns(table),
        "rows": rows,
        "intervals": intervals,
        "chart": chart,
    }


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
                "table_kind": table.kind,
                "rank": label,
                "rank_best": row["rank_range"][0] if row["rank_range"] else None,
                "rank_worst": row["rank_range"][1] if row["rank_range"] else None,
                "model": row["model"],
                "unranked": row["standing"] or "",
                "verified_by": row["verified"] or "",
                "plugin": row["plugin"],
                "num_parameters": row["params"],
                "P": row["P"],
                "normalised_accuracy": _json_number(row["acc"]),
                "normalised_accuracy_stderr": _json_number(row["acc_se"]),
                "normalised_accuracy_low": _json_number(row["acc_low"]),
                "normalised_accuracy_high": _json_number(row["acc_high"]),
                "normalised_accuracy_error_source": row["acc_source"],
                "normalised_accuracy_per_seed": " ".join(
                    f"{seed}:{_raw(value)}" for seed, value in row["acc_seeds"].items()
                ),
                "seeds_far_below": " ".join(map(str, row["outlier_seeds"])),
                "kl_bp": _json_number(row["kl"]),
                "kl_bp_stderr": _json_number(row["kl_se"]),
                "kl_bp_low": _json_number(row["kl_low"]),
                "kl_bp_high": _json_number(row["kl_high"]),
                **{f"k={k}": _json_number(row["levels"].get(k, math.nan)) for k in table.levels},
                "ood_kl": _json_number(row["ood_kl"]),
                "ood_kl_note": row["ood_na"] or "",
                **{m: _json_number(row["scores"].get(m, math.nan)) for m in table.metrics},
                "seeds": row["seeds"],
                "fit_s": _json_number(row["fit_s"]),
                "isolation": row["isolation"] or "",
                "audit_events": len(row["audit"]),
                **_headline_fields(table, row),
                "largest_test_se": _json_number(row["largest_test_se"]),
                "row_test_se": _json_number(row["row_test_se"]),
                "hardware": row["hardware"],
                "date": row["date"],
                "file": row["file"],
            }
            records.append(record)
    return records


def _headline_fields(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """A download's fields of the board's headline where the task declares its own (boards
    ranked by normalised accuracy have it already)."""
    name = table.headline.metric
    if name is None:
        return {}
    return {
        "headline": name,
        name: _json_number(row["head"]),
        f"{name}_stderr": _json_number(row["head_se"]),
        f"{name}_low": _json_number(row["head_low"]),
        f"{name}_high": _json_number(row["head_high"]),
        f"{name}_error_source": row["head_source"],
        f"{name}_per_seed": " ".join(
            f"{seed}:{_raw(value)}" for seed, value in row["head_seeds"].items()
        ),
        **{f"{name} k={k}": _json_number(row["head_levels"].get(k)) for k in table.levels},
    }


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
            {"key": t.key, "kind": t.kind, "title": t.title, "note": t.note, "levels": t.levels}
            for t in found
        ],
        "rows": download_rows(found),
    }
    return json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n"


def render_schema() -> str:
    return json.dumps(RunResult.model_json_schema(), indent=2, sort_keys=True) + "\n"


# --- pages -------------------------------------------------------------------------------------


def site_colours(tree: dict[tuple[str, str], list[Entry]]) -> dict[str, str]:
    """Every model of the site with its colour on every board (`model_colours`)."""
    return model_colours(e.result.spec.model for entries in tree.values() for e in entries)


def render_board(
    suite_name: str, task: str, entries: list[Entry], colours: dict[str, str] | None = None
) -> str:
    """The board's page; ``colours``: `site_colours` of the whole site (else of this board's
    models alone)."""
    found = tables(suite_name, task, entries)
    headline = board_headline(task)
    if colours is None:
        colours = model_colours(e.result.spec.model for e in entries)
    return (
        _environment()
        .get_template("board.html.j2")
        .render(
            suite=suite_name,
            task=task,
            preset=SUITES.get(suite_name),
            budget=SUITES[suite_name].budget(task) if suite_name in SUITES else None,
            tables=[_page_table(t, colours) for t in found],
            legend=legend(headline),
            headline=headline,
        )
    )


def render_index(tree: dict[tuple[str, str], list[Entry]]) -> str:
    boards = []
    for (suite_name, task), entries in sorted(tree.items()):
        found = tables(suite_name, task, entries)
        best = None
        if found:
            ranked = [
                row for row in found[0].rows if row["rank_range"] and row["rank_range"][0] == 1
            ]
            best = ranked[0] if ranked else None
        boards.append(
            {
                "suite": suite_name,
                "task": task,
                "preset": SUITES.get(suite_name),
                "results": sum(len(t.rows) for t in found),  # a verified claim: one row
                "tables": len(found),
                "best": best,
                "best_rank": best["rank"] if best else DASH,
                "best_acc": _best_text(best, board_headline(task)),
            }
        )
    return _environment().get_template("index.html.j2").render(boards=boards, legend=LEGEND)


def _best_text(row: dict[str, Any] | None, headline: Any) -> str:
    """A board's best row's headline on the index, named where it is the task's own."""
    if row is None:
        return DASH
    text = headline_text(row, "head")
    return text if headline.metric is None or text == DASH else f"{headline.label} {text}"
