"""The rows of a leaderboard: one per result file, grouped into comparison tables.

Each row is one result file with its own mean ± standard error over its seeds; no cell is ever
averaged over fewer seeds or levels than the others (a run lacking a level is a different
suite specification, hence another table). Rows are sorted by normalised accuracy, best first;
only rows that earned a rank get one (`hbench.leaderboard.rules.standing`).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from hbench.leaderboard.comparison import comparison_hash, differences
from hbench.leaderboard.rules import audit, isolation, official, standing
from hbench.leaderboard.tree import Entry
from hbench.results import RunResult
from hbench.suites import SUITES

#: What the table shows where a number does not exist (NaN, not reported).
DASH = "-"


def _mean(values: list[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def _stderr(values: list[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if len(values) < 2:
        return math.nan
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return math.sqrt(variance / len(values))


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


def normalised(acc: float | None, acc_bp: float | None, chance: float) -> float:
    if acc is None or acc_bp is None or acc_bp == chance:
        return math.nan
    return (acc - chance) / (acc_bp - chance)


def row_values(entry: Entry) -> dict[str, Any]:
    """The numbers of one table row (NaN where a number does not exist)."""
    result, suite = entry.result, entry.suite
    in_sample: dict[int, list[float]] = defaultdict(list)
    matrix: dict[tuple[int, int], list[float]] = defaultdict(list)
    ood: list[float] = []
    for cell in result.metrics:
        if cell.k_test == "ood":
            ood.append(cell.kl_bp)
            continue
        score = normalised(cell.acc, cell.acc_bp, cell.chance)
        matrix[(cell.k_train, int(cell.k_test))].append(score)
        if cell.k_test == cell.k_train:
            in_sample[int(cell.k_test)].append(score)
    head = result.headline
    plugin = model_plugin(result)
    fits = [t.fit_s for t in result.timings]
    return {
        "model": result.spec.model,
        "privileged": result.privileged,
        "standing": standing(result),
        "plugin": " ".join(p for p in (plugin.get("distribution"), plugin.get("version")) if p)
        or plugin.get("name", DASH),
        "params": result.num_parameters,
        "P": suite.budget(result.spec.task),
        "acc": head["normalised_accuracy"]["mean"],
        "acc_se": head["normalised_accuracy"]["stderr"],
        "kl": head["kl_bp"]["mean"],
        "kl_se": head["kl_bp"]["stderr"],
        "levels": {k: _mean(v) for k, v in sorted(in_sample.items())},
        "levels_se": {k: _stderr(v) for k, v in sorted(in_sample.items())},
        "matrix": {key: _mean(v) for key, v in sorted(matrix.items())},
        "ood_kl": _mean(ood),
        "seeds": len(result.spec.seeds),
        "fit_s": _mean(fits),
        "isolation": isolation(result),
        "audit": audit(result),
        "official": official(result),
        "hardware": hardware(result),
        "date": result.created[:10],
        "file": entry.path.as_posix(),
        "config": result.spec.model_settings,
    }


def _order(row: dict[str, Any]) -> tuple:
    """By normalised accuracy (best first), then KL, date, file: a total order."""
    acc = row["acc"] if not math.isnan(row["acc"]) else -math.inf
    kl = row["kl"] if not math.isnan(row["kl"]) else math.inf
    return (-acc, kl, row["date"], row["file"])


@dataclass(frozen=True)
class Table:
    """The rows of one comparison class of one (suite, task)."""

    suite: str
    task: str
    key: str  # comparison_hash
    title: str
    note: str
    levels: list[int]
    train_levels: list[int]
    rows: list[dict[str, Any]]

    @property
    def labels(self) -> list[str]:
        """Each row's rank ("1", "2", ...), "ref" for references, "-" for unranked rows."""
        out, rank = [], 0
        for row in self.rows:
            if row["standing"] is None:
                rank += 1
                out.append(str(rank))
            else:
                out.append("ref" if row["privileged"] else DASH)
        return out


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
        out.append(
            Table(suite_name, task, key, title, note, suite.test_levels, suite.train_levels, rows)
        )
    return out


# --- display strings (markdown and terminal) ---------------------------------------------------


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


def seconds(value: float) -> str:
    """Seconds, short: 470, 13.2, 0.02, <0.01."""
    if math.isnan(value):
        return DASH
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 0.01 else "<0.01"


def isolation_text(row: dict[str, Any]) -> str:
    """The isolation ("process", "in-process" or "not recorded") and the audit's count."""
    text = row["isolation"] or "not recorded"
    if row["audit"]:
        text += f" (audit: {len(row['audit'])} event{'s' if len(row['audit']) != 1 else ''})"
    return text


def model_text(row: dict[str, Any]) -> str:
    """The model's name with why it is not ranked, where it is not."""
    why = row["standing"]
    if why is None:
        return row["model"]
    if why == "reference":
        return f"{row['model']} (privileged)"
    return f"{row['model']} (unranked: {why})"


def headers(table: Table) -> list[str]:
    """Column names: the score next to the name, so a narrow screen shows both."""
    return [
        "#",
        "model",
        "norm. acc.",
        "KL (bits)",
        *(f"k={k}" for k in table.levels),
        "ood KL",
        "params",
        "plugin",
        "seeds",
        "fit (s)",
        "isolation",
        "date",
    ]


def cells(table: Table) -> list[list[str]]:
    """Every row as display strings (raw text: the renderer escapes it for its medium)."""
    out = []
    for label, row in zip(table.labels, table.rows, strict=True):
        params = DASH if row["params"] is None else f"{row['params']:,}"
        out.append(
            [
                label,
                model_text(row),
                with_error(row["acc"], row["acc_se"], row["seeds"]),
                with_error(row["kl"], row["kl_se"], row["seeds"]),
                *(number(row["levels"].get(k, math.nan)) for k in table.levels),
                number(row["ood_kl"]),
                params,
                row["plugin"],
                str(row["seeds"]),
                seconds(row["fit_s"]),
                isolation_text(row),
                row["date"],
            ]
        )
    return out


LEGEND = (
    "norm. acc.: accuracy on the scale chance = 0, BP = 1, averaged over the in-sample filter"
    " levels (trained and tested at k); KL: mean KL(BP_k || model) in bits per query there;"
    " both mean ± standard error over seeds (official runs draw one grammar per seed at run"
    " time). k=j: normalised accuracy at level j (mean over seeds). ood KL: KL from BP of"
    " the training level on uniformly random sequences. fit (s):"
    " mean seconds per training run (one seed, one level) on the run's hardware (listed with"
    " the result files). isolation: process (the model ran in a worker holding only"
    " its training data and test inputs), in-process, or not recorded (older files), with the"
    " number of events the worker's audit saw (imports of the grammar, oracle or harness, reads"
    " outside the model's files). Privileged rows see the grammar (exact inference): the"
    " ceiling, not ranked. Rows run in-process, flagged by the audit, not official (public"
    " grammar) or with fewer than 3 seeds are shown unranked. A dash: not reported or"
    " undefined."
)
