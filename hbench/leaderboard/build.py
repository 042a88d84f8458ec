"""Leaderboards: validated result files in a folder tree, rendered into comparison tables.

    <root>/<suite>/<task>/results/*.json   submitted results (one run each)
    <root>/<suite>/<task>.md               its tables, rendered
    <root>/index.html                      every table on one static page (opens offline)

Only results of the same suite specification are comparable. The key is the hash of the
suite's canonical form and data version (`hbench.run.suites.Suite.spec_hash`) *without its seed
list and task* (each task has tables of its own): the data of a seed does not depend on which
other seeds ran, so a 3-seed run and a 1-seed run of one preset answer the same questions and
share a table, the seed count shown.
Any other difference (P, depth, levels) puts a result in a table of its own, whose heading
names the fields that differ from the preset. Each row is one result file with its own mean
± standard error over its seeds; no cell is ever averaged over fewer seeds or levels than the
others (a run lacking a level is a different suite specification, hence another table).

Rendering is a pure function of the files: the same results give byte-identical outputs (no
build time, sorted inputs, fixed number formats), so CI can check that the committed tables are
up to date by rendering again and comparing.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbench.errors import UsageError
from hbench.io import atomic_write
from hbench.results import RunResult
from hbench.results.validate import recorded_suite, validate_file
from hbench.run.suites import SUITES, Suite

DEFAULT_ROOT = "leaderboards"
RESULTS = "results"
INDEX = "index.html"
#: What the table shows where a number does not exist (NaN, not reported).
DASH = "-"
#: Names of suite and task folders (the registry's item names are lowercase words).
FOLDER_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


# --- comparison classes ------------------------------------------------------------------------


#: Suite fields that do not separate tables: seeds are replicates, and each task has its own
#: tables (``--task mlm`` changes the suite's ``task`` field, not the data).
NOT_COMPARED = ("seeds", "task")


def comparison_hash(suite: Suite) -> str:
    """The suite's spec hash without seeds and task: what must be equal to share a table."""
    canonical = suite.canonical()
    for key in NOT_COMPARED:
        canonical.pop(key)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(suite: Suite, reference: Suite) -> list[str]:
    """``field=value`` for every compared field that differs."""
    mine, theirs = suite.canonical(), reference.canonical()
    return [
        f"{key}={json.dumps(mine.get(key))}"
        for key in sorted(set(mine) | set(theirs))
        if key not in NOT_COMPARED and mine.get(key) != theirs.get(key)
    ]


# --- the tree ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One valid result file of the tree."""

    path: Path  # relative to the root, with forward slashes when rendered
    result: RunResult
    suite: Suite

    @property
    def key(self) -> str:
        return comparison_hash(self.suite)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def check_placement(path: Path, result: RunResult, root: Path) -> None:
    """A `UsageError` unless ``path`` is ``<root>/<suite>/<task>/results/<file>.json`` for
    the suite and task the result records, and (links resolved) inside the root."""
    where = f"result file {str(path)!r}"
    if not _inside(path, root):
        raise UsageError(f"{where} is outside the leaderboard root {str(root)!r}")
    relative = path.relative_to(root) if path.is_relative_to(root) else None
    spec = result.spec
    expected = Path(spec.suite_name) / spec.task / RESULTS / path.name
    if relative != expected:
        raise UsageError(
            f"{where} records suite {spec.suite_name!r} and task {spec.task!r}, so it belongs"
            f" in {str(root / expected.parent)!r}"
        )


def result_files(root: Path) -> list[Path]:
    """Every ``*.json`` under ``<root>/<suite>/<task>/results/``, sorted."""
    if not root.is_dir():
        raise UsageError(f"--root={str(root)!r} is invalid: an existing leaderboard folder")
    return sorted(root.glob(f"*/*/{RESULTS}/*.json"))


def load_tree(root: str | Path) -> dict[tuple[str, str], list[Entry]]:
    """Every result of the tree by (suite, task), each validated and in its right place.

    Any invalid file is an error naming it (all of them, one per line), so a table is never
    built from a subset of the submissions. Folders without results give an empty list.
    """
    root = Path(root)
    tree: dict[tuple[str, str], list[Entry]] = {}
    for folder in sorted(root.glob(f"*/*/{RESULTS}")):
        if folder.is_dir():
            tree[(folder.parent.parent.name, folder.parent.name)] = []
    errors = []
    for path in result_files(root):
        try:
            if not _inside(path, root):
                raise UsageError(
                    f"result file {str(path)!r} is a link to {str(path.resolve())!r}, outside"
                    f" the leaderboard root {str(root)!r}"
                )
            result = validate_file(path)
            check_placement(path, result, root)
        except UsageError as exc:
            errors.append(str(exc))
            continue
        entry = Entry(path.relative_to(root), result, recorded_suite(result))
        tree[(result.spec.suite_name, result.spec.task)].append(entry)
    if errors:
        listing = "\n  ".join(errors)
        raise UsageError(f"{len(errors)} invalid file(s) in the leaderboard:\n  {listing}")
    return tree


# --- one row per result ------------------------------------------------------------------------


def _mean(values: list[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def model_plugin(result: RunResult) -> dict[str, Any]:
    """The distribution that provided the model: the last plugin the run lists (the harness
    lists the grammar's, filter's, oracle's and task's plugins first)."""
    plugins = result.environment.plugins
    return dict(plugins[-1]) if plugins else {}


def hardware(result: RunResult) -> str:
    env = result.environment
    name = env.gpu or env.cpu
    name = re.sub(r"\((R|TM|tm|r)\)|\s+CPU|\s+Processor|\s+@.*$", "", name)
    return " ".join(name.split())


def row_values(entry: Entry) -> dict[str, Any]:
    """The numbers of one table row (NaN where a number does not exist)."""
    result, suite = entry.result, entry.suite
    in_sample: dict[int, list[float]] = defaultdict(list)
    ood: list[float] = []
    for cell in result.metrics:
        if cell.k_test == "ood":
            ood.append(cell.kl_bp)
        elif cell.k_test == cell.k_train:
            denominator = (cell.acc_bp or 0.0) - cell.chance
            score = (cell.acc - cell.chance) / denominator if denominator else math.nan
            in_sample[int(cell.k_test)].append(score)
    head = result.headline
    plugin = model_plugin(result)
    return {
        "model": result.spec.model,
        "privileged": result.privileged,
        "plugin": " ".join(p for p in (plugin.get("distribution"), plugin.get("version")) if p)
        or plugin.get("name", DASH),
        "params": result.num_parameters,
        "P": suite.budget(result.spec.task),
        "acc": head["normalised_accuracy"]["mean"],
        "acc_se": head["normalised_accuracy"]["stderr"],
        "kl": head["kl_bp"]["mean"],
        "kl_se": head["kl_bp"]["stderr"],
        "levels": {k: _mean(v) for k, v in sorted(in_sample.items())},
        "ood_kl": _mean(ood),
        "seeds": len(result.spec.seeds),
        "hardware": hardware(result),
        "date": result.created[:10],
        "file": entry.path.as_posix(),
        "config": result.spec.model_settings,
    }


def _order(row: dict[str, Any]) -> tuple:
    """Reference rows first, then by normalised accuracy, KL, date, file: a total order."""
    acc = row["acc"] if not math.isnan(row["acc"]) else -math.inf
    kl = row["kl"] if not math.isnan(row["kl"]) else math.inf
    return (not row["privileged"], -acc, kl, row["date"], row["file"])


@dataclass(frozen=True)
class Table:
    """The rows of one comparison class of one (suite, task)."""

    suite: str
    task: str
    key: str  # comparison_hash
    title: str
    note: str
    levels: list[int]
    rows: list[dict[str, Any]]


def tables(suite_name: str, task: str, entries: list[Entry]) -> list[Table]:
    """One table per comparison class; the preset's own first, then others by hash."""
    groups: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[entry.key].append(entry)
    preset = SUITES.get(suite_name)
    own = comparison_hash(preset) if preset is not None else None
    out = []
    for key in sorted(groups, key=lambda k: (k != own, k)):
        suite = groups[key][0].suite
        if key == own:
            title, note = f"{suite_name} / {task}", f"suite specification {key}"
        elif preset is not None:
            changed = ", ".join(differences(suite, preset)) or "data version"
            title = f"{suite_name} / {task}, another specification"
            note = f"suite specification {key}: not comparable with the preset ({changed})"
        else:
            title, note = f"{suite_name} / {task}", f"suite specification {key}"
        rows = sorted((row_values(e) for e in groups[key]), key=_order)
        out.append(Table(suite_name, task, key, title, note, suite.test_levels, rows))
    return out


# --- formats -----------------------------------------------------------------------------------


def number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:.{digits}f}"


def with_error(mean: float, stderr: float, seeds: int) -> str:
    if math.isnan(mean):
        return DASH
    if seeds < 2 or math.isnan(stderr):
        return number(mean)
    return f"{number(mean)} ± {number(stderr)}"


def headers(table: Table) -> list[str]:
    return [
        "#",
        "model",
        "plugin",
        "params",
        "P",
        "norm. acc.",
        "KL to BP (bits)",
        *(f"k={k}" for k in table.levels),
        "ood KL",
        "seeds",
        "hardware",
        "date",
    ]


def cells(table: Table) -> list[list[str]]:
    """Every row as display strings; reference rows are not ranked."""
    out, rank = [], 0
    for row in table.rows:
        if row["privileged"]:
            label, model = "ref", f"{row['model']} (privileged)"
        else:
            rank += 1
            label, model = str(rank), row["model"]
        params = DASH if row["params"] is None else f"{row['params']:,}"
        out.append(
            [
                label,
                model,
                row["plugin"],
                params,
                f"{row['P']:,}",
                with_error(row["acc"], row["acc_se"], row["seeds"]),
                with_error(row["kl"], row["kl_se"], row["seeds"]),
                *(number(row["levels"].get(k, math.nan)) for k in table.levels),
                number(row["ood_kl"]),
                str(row["seeds"]),
                row["hardware"],
                row["date"],
            ]
        )
    return out


LEGEND = (
    "norm. acc.: accuracy on the scale chance = 0, BP = 1, averaged over the in-sample filter"
    " levels (trained and tested at k); KL: mean KL(BP_k || model) in bits per query there;"
    " both mean ± standard error over seeds. k=j: normalised accuracy at level j (mean over"
    " seeds). ood KL: KL from BP of the training level on uniformly random sequences. P:"
    " training sequences per level. Privileged rows see the grammar (exact inference): the"
    " ceiling, not ranked. A dash: not reported or undefined."
)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    return "\n".join(
        [line(header), "| " + " | ".join("---" for _ in header) + " |"] + [line(r) for r in rows]
    )


def render_markdown(suite_name: str, task: str, entries: list[Entry]) -> str:
    preset = SUITES.get(suite_name)
    lines = [f"# Leaderboard: suite `{suite_name}`, task `{task}`", ""]
    if preset is not None:
        lines += [
            f"Suite `{suite_name}` ({preset.description}): q={preset.q}, depth={preset.depth},"
            f" sigma={preset.sigma}, P={preset.budget(task)}, {preset.n_test} test sequences"
            f" per level, {preset.n_ood} random ones.",
            "",
        ]
    lines += [
        "Rendered by `hbench leaderboard build` from the files in"
        f" [`{task}/results/`]({task}/results/); do not edit by hand.",
        "",
    ]
    found = tables(suite_name, task, entries)
    if not found:
        lines += ['No results yet: see CONTRIBUTING.md, "Add your model in ten minutes".', ""]
    for table in found:
        lines += [f"## {table.title}", "", table.note, ""]
        lines += [_markdown_table(headers(table), cells(table)), ""]
        lines += ["Result files and model options:", ""]
        for label, row in zip((c[0] for c in cells(table)), table.rows, strict=True):
            config = json.dumps(row["config"], sort_keys=True)
            lines.append(
                f"- {label}: `{row['model']}` [{Path(row['file']).name}]"
                f"({Path(row['file']).relative_to(suite_name).as_posix()}) `{config}`"
            )
        lines.append("")
    lines += [LEGEND, ""]
    return "\n".join(lines)


_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 110em; padding: 0 1em; color: #1b1f24; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
p.note { color: #57606a; margin: 0.2em 0 0.6em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.6em; text-align: right;
         white-space: nowrap; }
th { background: #f6f8fa; cursor: pointer; user-select: none; }
td.text, th.text { text-align: left; }
tr.privileged td { background: #fff8c5; font-style: italic; }
nav a { margin-right: 1em; }
"""

#: Click a header to sort by it (numbers by value, dashes last); no external script.
_SCRIPT = """
(function () {
  function value(cell) {
    var text = cell.getAttribute("data-value");
    if (text === null) { text = cell.textContent; }
    var number = parseFloat(text.replace(/,/g, ""));
    return isNaN(number) ? text : number;
  }
  function compare(a, b, up) {
    if (typeof a === "number" && typeof b === "number") { return up ? a - b : b - a; }
    if (typeof a === "number") { return -1; }
    if (typeof b === "number") { return 1; }
    return up ? String(a).localeCompare(String(b)) : String(b).localeCompare(String(a));
  }
  var tables = document.querySelectorAll("table.leaderboard");
  tables.forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, column) {
      th.addEventListener("click", function () {
        var up = th.getAttribute("data-up") !== "true";
        th.setAttribute("data-up", String(up));
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          return compare(value(a.cells[column]), value(b.cells[column]), up);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  document.body.setAttribute("data-tables", String(tables.length));
})();
"""


def _sort_value(row: dict[str, Any], column: int, n_levels: int) -> str | None:
    """A machine-readable value for sorting columns whose text is not a plain number."""
    if column == 5:
        return None if math.isnan(row["acc"]) else repr(row["acc"])
    if column == 6:
        return None if math.isnan(row["kl"]) else repr(row["kl"])
    return None


def render_html(tree: dict[tuple[str, str], list[Entry]]) -> str:
    esc = html.escape
    sections, nav = [], []
    for (suite_name, task), entries in sorted(tree.items()):
        anchor = f"{suite_name}-{task}"
        nav.append(f'<a href="#{esc(anchor)}">{esc(suite_name)} / {esc(task)}</a>')
        parts = [f'<section id="{esc(anchor)}">']
        found = tables(suite_name, task, entries)
        if not found:
            parts.append(f"<h2>{esc(suite_name)} / {esc(task)}</h2><p>No results yet.</p>")
        for table in found:
            head = "".join(
                f'<th class="{"text" if i in (1, 2, len(headers(table)) - 2) else "num"}">'
                f"{esc(h)}</th>"
                for i, h in enumerate(headers(table))
            )
            body = []
            for row, values in zip(table.rows, cells(table), strict=True):
                tds = []
                for i, text in enumerate(values):
                    cls = "text" if i in (1, 2, len(values) - 2) else "num"
                    sort = _sort_value(row, i, len(table.levels))
                    data = f' data-value="{esc(sort)}"' if sort is not None else ""
                    tds.append(f'<td class="{cls}"{data}>{esc(text)}</td>')
                style = ' class="privileged"' if row["privileged"] else ""
                body.append(f"<tr{style}>{''.join(tds)}</tr>")
            parts += [
                f"<h2>{esc(table.title)}</h2>",
                f'<p class="note">{esc(table.note)}</p>',
                f'<table class="leaderboard" data-suite="{esc(table.suite)}"'
                f' data-task="{esc(table.task)}">',
                f"<thead><tr>{head}</tr></thead>",
                "<tbody>",
                *body,
                "</tbody></table>",
            ]
        parts.append("</section>")
        sections.append("\n".join(parts))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>hbench leaderboards</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<h1>hbench leaderboards</h1>",
            "<p>How close does a model come to exact inference (belief propagation) on"
            " hierarchically filtered tree grammars? Click a column header to sort.</p>",
            f"<nav>{' '.join(nav)}</nav>",
            *sections,
            f'<p class="note">{esc(LEGEND)}</p>',
            f"<script>{_SCRIPT}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


# --- building ----------------------------------------------------------------------------------


def rendered(root: str | Path) -> dict[Path, str]:
    """Every output file of the tree with its content (nothing is written)."""
    root = Path(root)
    tree = load_tree(root)
    out = {
        root / suite / f"{task}.md": render_markdown(suite, task, entries)
        for (suite, task), entries in sorted(tree.items())
    }
    out[root / INDEX] = render_html(tree)
    return out


def build(root: str | Path) -> list[Path]:
    """Render every table; write only files whose content changed (each atomically).

    Returns the paths written. Everything is rendered before anything is written, so an
    invalid result leaves every output as it was.
    """
    written = []
    for path, text in rendered(root).items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        with atomic_write(path, "w", field="--root") as handle:
            handle.write(text)
        written.append(path)
    return written


def stale(root: str | Path) -> list[Path]:
    """Outputs that differ from what `build` would write (missing ones included)."""
    return [
        path
        for path, text in rendered(root).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
