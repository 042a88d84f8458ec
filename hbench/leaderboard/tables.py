"""The rows of a leaderboard: one per result file, grouped into comparison tables.

Each row is one result file with its own mean ± standard error over its seeds and the interval
of `hbench.stats.estimate` (the larger of the between-seed and the test-set error); no cell is
ever averaged over fewer seeds or levels than the others (a run lacking a level is a different
suite specification, hence another table). Rows are sorted by normalised accuracy, best first
(or by the headline their task declares, `board_headline`: ``generate`` ranks by fidelity);
only rows that earned a rank get one (`hbench.leaderboard.rules.standing`), and a rank counts
the rows that beat this one significantly (`hbench.stats.ranks`, Welch's test: official rows
never share grammars), so rows the statistics do not separate share a range ("2-3").

Only verified rows are ranked: re-runs by ``hbench verify``, signed by a key the board trusts.
Every other row (a result file as its submitter's machine wrote it) goes to a second table of
the same comparison class, marked self-reported and unranked; a claim that a verified row has
re-run is left out (the verified row replaces it).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hbench import stats
from hbench.leaderboard.comparison import comparison_hash, differences
from hbench.leaderboard.rules import (
    MAX_TEST_SE,
    MIN_SEEDS,
    SELF_REPORTED,
    audit,
    cell_test_se,
    declared_headline,
    isolation,
    largest_test_se,
    official,
    row_test_se,
    standing,
)
from hbench.leaderboard.tree import Entry, shown
from hbench.registry.suites import SUITES
from hbench.results import RunResult

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


def _is_level(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seed_error(errors: list[float | None]) -> float | None:
    """The test-set error of a mean over a seed's levels: sqrt(sum se^2) / n (None if any is
    unknown)."""
    known = [e for e in errors if e is not None]
    if not errors or len(known) != len(errors):
        return None
    return math.sqrt(sum(e * e for e in known)) / len(known)


def per_seed(result: RunResult) -> dict[str, tuple[list[int], list[float], list[float] | None]]:
    """Each headline's per-seed values (the mean over the seed's in-sample levels, seeds in
    ascending order) with their test-set errors (None where a seed's error is unknown):
    ``{"acc": (seeds, values, errors), "kl": ...}``. Computed from the cells, so that files of
    every schema version give the same numbers the same way."""
    acc: dict[int, list[tuple[float, float | None]]] = defaultdict(list)
    kl: dict[int, list[tuple[float, float | None]]] = defaultdict(list)
    for cell in result.metrics:
        if not (_is_level(cell.k_test) and cell.k_test == cell.k_train):
            continue
        acc[cell.seed].append((normalised(cell.acc, cell.acc_bp, cell.chance), cell_test_se(cell)))
        value = math.nan if cell.kl_bp is None else float(cell.kl_bp)
        kl[cell.seed].append((value, cell.kl_bp_se))
    out: dict[str, tuple[list[int], list[float], list[float] | None]] = {}
    for name, by_seed in (("acc", acc), ("kl", kl)):
        seeds = sorted(by_seed)
        values = [_mean([v for v, _ in by_seed[s]]) for s in seeds]
        errors = [_seed_error([e for _, e in by_seed[s]]) for s in seeds]
        known = [float(e) for e in errors if e is not None]
        out[name] = (seeds, values, known if len(known) == len(errors) else None)
    return out


def _estimate(values: list[float], errors: list[float] | None) -> stats.Estimate:
    """`hbench.stats.estimate`; NaN throughout where a seed's value is NaN (BP at chance), as
    the result's own headline has it."""
    if not values or not all(math.isfinite(v) for v in values):
        nan = math.nan
        mean = sum(values) / len(values) if values else nan
        return stats.Estimate(mean, nan, nan, nan, len(values), nan, nan, nan, tuple(values))
    return stats.estimate(values, errors)


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


@dataclass(frozen=True)
class Headline:
    """What a board ranks by: normalised accuracy (``metric`` None), or the registered metric
    its task declares (`hbench.contracts.TaskCapabilities.headline`), with that metric's
    direction and description."""

    metric: str | None = None
    higher_is_better: bool = True
    description: str = ""

    @property
    def label(self) -> str:
        """Its column's name."""
        return "norm. acc." if self.metric is None else self.metric

    @property
    def name(self) -> str:
        """Its name in a sentence."""
        return "normalised accuracy" if self.metric is None else self.metric


#: The headline of every board whose task declares none.
NORMALISED_ACCURACY = Headline()


def board_headline(task: str) -> Headline:
    """The headline of ``task``'s boards (`hbench.leaderboard.rules.declared_headline`)."""
    metric = declared_headline(task)
    if metric is None:
        return NORMALISED_ACCURACY
    from hbench.registry.registry import get_registry

    registry = get_registry()
    if metric not in registry.names("metric"):
        return Headline(metric)
    entry = registry.get("metric", metric)
    return Headline(metric, entry.metadata["direction"] == "higher", entry.description)


def _metric_cells(result: RunResult, name: str) -> tuple[dict, dict, dict]:
    """A registered metric's per-level mean, its spread over seeds (in-sample cells) and its
    (k_train, k_test) matrix, as `row_values` has them for normalised accuracy."""
    in_sample: dict[int, list[float]] = defaultdict(list)
    matrix: dict[tuple[int, int], list[float]] = defaultdict(list)
    for cell in result.metrics:
        if not _is_level(cell.k_test):
            continue
        value = cell.scores.get(name)
        value = math.nan if value is None else float(value)
        matrix[(cell.k_train, int(cell.k_test))].append(value)
        if cell.k_test == cell.k_train:
            in_sample[int(cell.k_test)].append(value)
    return (
        {k: _mean(v) for k, v in sorted(in_sample.items())},
        {k: _stderr(v) for k, v in sorted(in_sample.items())},
        {key: _mean(v) for key, v in sorted(matrix.items())},
    )


def _headline_values(result: RunResult, headline: Headline, row: dict[str, Any]) -> dict:
    """The ``head*`` numbers of a row: its board's headline, the per-seed estimate, the
    per-level means and the matrix (for normalised accuracy, the row's own ``acc*``)."""
    if headline.metric is None:
        return {
            "head": row["acc"], "head_se": row["acc_se"], "head_low": row["acc_low"],
            "head_high": row["acc_high"], "head_source": row["acc_source"],
            "head_seeds": row["acc_seeds"], "head_seed_se": row["acc_seed_se"],
            "head_levels": row["levels"], "head_levels_se": row["levels_se"],
            "head_matrix": row["matrix"],
        }  # fmt: skip
    from hbench.scoring import metric_per_seed

    try:
        seeds, values, errors = metric_per_seed(result.metrics, headline.metric)
    except ValueError:  # a cell without the metric: no headline, the row unranked last
        seeds, values, errors = [], [], []
    known = [float(e) for e in errors if e is not None]
    seed_se = known if len(known) == len(errors) and errors else None
    estimate = _estimate(values, seed_se)
    levels, levels_se, matrix = _metric_cells(result, headline.metric)
    return {
        "head": estimate.mean, "head_se": estimate.se, "head_low": estimate.low,
        "head_high": estimate.high, "head_source": estimate.source,
        "head_seeds": dict(zip(seeds, values, strict=True)), "head_seed_se": seed_se,
        "head_levels": levels, "head_levels_se": levels_se, "head_matrix": matrix,
    }  # fmt: skip


def row_values(entry: Entry, headline: Headline = NORMALISED_ACCURACY) -> dict[str, Any]:
    """The numbers of one table row (NaN where a number does not exist), with its board's
    ``headline`` as ``head*`` (what the board ranks, sorts and charts by)."""
    result, suite = entry.result, entry.suite
    in_sample: dict[int, list[float]] = defaultdict(list)
    matrix: dict[tuple[int, int], list[float]] = defaultdict(list)
    ood: list[float] = []
    ood_na: set[int] = set()  # training levels with a random-sequence cell that is n/a
    for cell in result.metrics:
        if cell.k_test == "ood":
            ood.append(cell.kl_bp)
            if cell.kl_bp is None and cell.na_reason:
                ood_na.add(int(cell.k_train))
            continue
        score = normalised(cell.acc, cell.acc_bp, cell.chance)
        matrix[(cell.k_train, int(cell.k_test))].append(score)
        if cell.k_test == cell.k_train:
            in_sample[int(cell.k_test)].append(score)
    scores: dict[str, list[float]] = defaultdict(list)  # registered metrics, in-sample cells
    for cell in result.metrics:
        if cell.k_test == cell.k_train:
            for name, value in cell.scores.items():
                scores[name].append(math.nan if value is None else value)
    plugin = model_plugin(result)
    fits = [t.fit_s for t in result.timings]
    seeds = per_seed(result)
    acc_seeds, acc_values, acc_errors = seeds["acc"]
    acc = _estimate(acc_values, acc_errors)
    kl = _estimate(seeds["kl"][1], seeds["kl"][2])
    largest = largest_test_se(result)
    row_se = row_test_se(result)
    row = {
        "model": result.spec.model,
        "privileged": result.privileged,
        "standing": standing(result, verified=entry.verified is not None),
        "verified": entry.verified,
        "plugin": " ".join(p for p in (plugin.get("distribution"), plugin.get("version")) if p)
        or plugin.get("name", DASH),
        "params": result.num_parameters,
        "P": suite.budget(result.spec.task),
        "acc": acc.mean,
        "acc_se": acc.se,
        "acc_low": acc.low,
        "acc_high": acc.high,
        "acc_source": acc.source,
        "acc_seeds": dict(zip(acc_seeds, acc_values, strict=True)),
        "acc_seed_se": None if acc_errors is None else acc_errors,
        "outlier_seeds": [],  # set below, on the board's headline
        "kl": kl.mean,
        "kl_se": kl.se,
        "kl_low": kl.low,
        "kl_high": kl.high,
        "rank": None,  # set by `rank_rows` on ranked rows: "1", "2-3"
        "rank_range": None,  # and [best, worst]
        "levels": {k: _mean(v) for k, v in sorted(in_sample.items())},
        "levels_se": {k: _stderr(v) for k, v in sorted(in_sample.items())},
        "matrix": {key: _mean(v) for key, v in sorted(matrix.items())},
        "ood_kl": _mean(ood),
        "ood_na": ood_na_text(ood_na, len(ood) - sum(v is None for v in ood), len(ood)),
        "largest_test_se": None if largest is None else largest[0],
        "row_test_se": None if row_se is None else row_se[0],
        "scores": {name: _mean(values) for name, values in sorted(scores.items())},
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
    row.update(_headline_values(result, headline, row))
    values = list(row["head_seeds"].values())
    if values and all(math.isfinite(v) for v in values):
        seeds_of = list(row["head_seeds"])
        found = stats.outliers(
            values, row["head_seed_se"], higher_is_better=headline.higher_is_better
        )
        row["outlier_seeds"] = [seeds_of[i] for i in found]
    return row


#: What the random-sequence column shows where no random sequence is possible (`ood_na_text`).
NOT_APPLICABLE = "n/a"


def ood_na_text(levels: set[int], scored: int, cells: int) -> str | None:
    """Why a row's random-sequence cells are (partly) not scored: the training levels whose
    grammar can produce none of the uniformly random sequences (BP's answer on an impossible
    sequence is uniform by convention, not an inference); None where every cell is scored."""
    if not levels:
        return None
    where = ", ".join(map(str, sorted(levels)))
    if scored == 0:
        return f"not applicable: no random sequence is possible under the grammar (k = {where})"
    return (
        f"the mean over the {scored} of {cells} cells with possible sequences; in the others"
        f" (k = {where}) no random sequence is possible under the grammar"
    )


def ood_text(row: dict[str, Any]) -> str:
    """The random-sequence KL as shown: "n/a" where no cell of the row has a possible
    sequence, else the mean over the cells that have."""
    if row["ood_na"] and math.isnan(row["ood_kl"]):
        return NOT_APPLICABLE
    return number(row["ood_kl"])


def metric_directions() -> dict[str, str]:
    """Each registered metric's direction by name; none where the plugins cannot load."""
    from hbench.metrics import directions
    from hbench.registry.registry import get_registry

    return dict(directions(get_registry()))


def _order(row: dict[str, Any], higher_is_better: bool = True) -> tuple:
    """By the board's headline (best first; normalised accuracy unless the task declares
    another), then KL, date, file: a total order."""
    sign = 1.0 if higher_is_better else -1.0
    head = sign * row["head"] if not math.isnan(row["head"]) else -math.inf
    kl = row["kl"] if not math.isnan(row["kl"]) else math.inf
    return (-head, kl, row["date"], row["file"])


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
    #: the registered metrics the rows record beyond the fixed ones (a column each, by name,
    #: the mean over the in-sample cells), with which way each is better
    metrics: dict[str, str] = field(default_factory=dict)
    #: "verified" (re-run by hbench and signed: ranked) or "self-reported" (never ranked)
    kind: str = "verified"
    #: what the rows are ranked, sorted and charted by (`board_headline`)
    headline: Headline = NORMALISED_ACCURACY

    @property
    def labels(self) -> list[str]:
        """Each row's rank ("1", "2-3", ...), "ref" for references, "-" for unranked rows."""
        out = []
        for row in self.rows:
            if row["rank"] is not None:
                out.append(row["rank"])
            else:
                out.append("ref" if row["privileged"] else DASH)
        return out


def rank_rows(rows: list[dict[str, Any]], headline: Headline = NORMALISED_ACCURACY) -> None:
    """Give every rankable row (``standing`` None) its rank among those rows (`hbench.stats.Rank`:
    ``rank`` its label, ``rank_range`` [best, worst]):
    Welch's test on the per-seed values of the board's headline (``acc_seeds``, or
    ``head_seeds`` where the task declares its own) with their test-set errors (official rows
    never share grammars). A row without per-seed values (NaN) is beaten by all."""
    key = "acc" if headline.metric is None else "head"
    ranked = [row for row in rows if row["standing"] is None]
    usable = {
        str(i): list(row[f"{key}_seeds"].values())
        for i, row in enumerate(ranked)
        if row[f"{key}_seeds"] and all(math.isfinite(v) for v in row[f"{key}_seeds"].values())
    }
    errors = {name: ranked[int(name)][f"{key}_seed_se"] for name in usable}
    found = stats.ranks(usable, errors, higher_is_better=headline.higher_is_better)
    total = len(ranked)
    for i, row in enumerate(ranked):
        rank = found.get(str(i))
        rank = rank if rank is not None else stats.Rank(len(usable) + 1, total)
        row["rank"], row["rank_range"] = rank.label, [rank.best, rank.worst]


#: What the two kinds of table hold, under their headings.
VERIFIED_NOTE = (
    "verified rows: re-run by hbench verify on freshly drawn grammars and signed by a key under"
    " keys/"
)
SELF_REPORTED_NOTE = (
    "self-reported rows: result files as their submitters' machines wrote them, not yet re-run"
    " by hbench; not ranked"
)


def _column(name: str, recorded: set[str], headline: Headline) -> bool:
    """Whether a registered metric gets a column of its own: not the headline (its own
    column), and not ``X_se`` beside ``X`` (a standard error, shown with its number)."""
    if name == headline.metric or name == f"{headline.metric}_se":
        return False
    return not (name.endswith("_se") and name[: -len("_se")] in recorded)


def tables(suite_name: str, task: str, entries: list[Entry]) -> list[Table]:
    """Per comparison class (the preset's own first, then others by hash) a table of verified
    rows, ranked, then a table of self-reported rows, unranked (each only where it has rows),
    ranked and sorted by the task's headline (`board_headline`)."""
    groups: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[entry.key].append(entry)
    preset = SUITES.get(suite_name)
    own = comparison_hash(preset, task) if preset is not None else None
    directions = metric_directions()
    headline = board_headline(task)
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
        rows = sorted(
            (row_values(e, headline) for e in shown(groups[key])),
            key=lambda row: _order(row, headline.higher_is_better),
        )
        found = {name for row in rows for name in row["scores"]}
        named = sorted(name for name in found if _column(name, found, headline))
        metrics = {name: directions.get(name, "higher") for name in named}
        verified = [row for row in rows if row["verified"] is not None]
        reported = [row for row in rows if row["verified"] is None]
        if verified:
            rank_rows(verified, headline)
            out.append(
                Table(
                    suite_name, task, key, title, f"{note}; {VERIFIED_NOTE}",
                    suite.test_levels, suite.train_levels, verified, metrics,
                    headline=headline,
                )
            )  # fmt: skip
        if reported:
            out.append(
                Table(
                    suite_name, task, key, f"{title}: self-reported (unranked)",
                    f"{note}; {SELF_REPORTED_NOTE}", suite.test_levels, suite.train_levels,
                    reported, metrics, kind=SELF_REPORTED, headline=headline,
                )
            )  # fmt: skip
    return out


# --- display strings (markdown and terminal) ---------------------------------------------------


def number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:.{digits}f}"


def headline_text(row: dict[str, Any], name: str = "acc") -> str:
    """A headline as shown: ``0.812 ± 0.012 [0.788, 0.836]``, the mean, its standard error and
    its 95% interval (`hbench.stats.estimate`); the mean alone where there is no error."""
    mean, se = row[name], row[f"{name}_se"]
    if math.isnan(mean):
        return DASH
    if math.isnan(se):
        return number(mean)
    low, high = number(row[f"{name}_low"]), number(row[f"{name}_high"])
    return f"{number(mean)} ± {number(se)} [{low}, {high}]"


def seeds_text(row: dict[str, Any]) -> str:
    """The number of seeds, and those far below the row's median (`hbench.stats.outliers`:
    a fit that failed, kept in the mean)."""
    text = str(row["seeds"])
    failed = row["outlier_seeds"]
    if failed:
        text += f" (seed{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))} far below)"
    return text


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
    if why == SELF_REPORTED:  # its table says so
        return row["model"]
    return f"{row['model']} (unranked: {why})"


def headers(table: Table) -> list[str]:
    """Column names: the score next to the name, so a narrow screen shows both. A board whose
    task declares its own headline shows it, then its per-level means (k=j), then normalised
    accuracy (what the task's answers score, not ranked), without the columns of BP's
    answers (KL, random sequences) that are not what it is about."""
    if table.headline.metric is not None:
        scores = [table.headline.label, *(f"k={k}" for k in table.levels), "norm. acc."]
    else:
        scores = ["norm. acc.", "KL (bits)", *(f"k={k}" for k in table.levels), "ood KL"]
    return [
        "#",
        "model",
        *scores,
        *table.metrics,
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
        if table.headline.metric is not None:
            levels = (number(row["head_levels"].get(k, math.nan)) for k in table.levels)
            scores = [headline_text(row, "head"), *levels, headline_text(row, "acc")]
        else:
            levels = (number(row["levels"].get(k, math.nan)) for k in table.levels)
            scores = [headline_text(row, "acc"), headline_text(row, "kl"), *levels, ood_text(row)]
        out.append(
            [
                label,
                model_text(row),
                *scores,
                *(number(row["scores"].get(name, math.nan)) for name in table.metrics),
                params,
                row["plugin"],
                seeds_text(row),
                seconds(row["fit_s"]),
                isolation_text(row),
                row["date"],
            ]
        )
    return out


def _row_notes(name: str) -> str:
    """The legend's part about every row's other columns and its standing, for a board whose
    headline is ``name``."""
    return (
        " mean seconds per training run (one seed, one level) on the run's hardware (listed with"
        " the result files). isolation: process (the model ran in a worker holding only"
        " its training data and test inputs), in-process, or not recorded (older files), with the"
        " number of events the worker's audit saw (imports of the grammar, oracle or harness,"
        " reads outside the model's files). Privileged rows see the grammar (exact inference):"
        " the ceiling, not ranked. Only verified rows are ranked: runs that hbench re-ran itself"
        " on freshly drawn grammars (hbench verify), whose numbers agreed with the claim, signed"
        " by a key committed under keys/. Self-reported rows (result files as the submitter's"
        " machine wrote them) are listed in a table of their own, unranked. Rows run in-process,"
        f" flagged by the audit, not official (public grammar), with fewer than {MIN_SEEDS} seeds"
        f" or with a per-level test-set standard error of {name} (of the mean over its seeds)"
        f" above {MAX_TEST_SE} (test set too small) are shown unranked. A dash: not reported or"
        " undefined."
    )


LEGEND = (
    "norm. acc.: accuracy on the scale chance = 0, BP = 1, averaged over the in-sample filter"
    " levels (trained and tested at k); KL: mean KL(BP_k || model) in bits per query there;"
    " both mean ± standard error [95% interval] over seeds (official runs draw one grammar per"
    " seed at run time); the error is the larger of the spread over seeds and the error the"
    " test sets imply. #: 1 + the number of rows whose normalised accuracy is significantly"
    " higher (Welch's t-test at 5%), so rows the statistics do not separate share a range"
    " (2-3). seeds: a seed far below its row's median (a failed fit) is named there, and kept"
    " in the mean. k=j: normalised accuracy at level j (mean over seeds). ood KL: KL from BP of"
    " the training level on uniformly random sequences, over those the grammar can produce"
    " (n/a: none can be, as on the RHM at low k, where BP's answer would be uniform by"
    " convention). fit (s):" + _row_notes("normalised accuracy")
)


def legend(headline: Headline) -> str:
    """What a board's columns mean: `LEGEND` where it ranks by normalised accuracy, else the
    same for the task's declared headline (its registered description)."""
    if headline.metric is None:
        return LEGEND
    name = headline.label
    better = "higher" if headline.higher_is_better else "lower"
    worse = "below" if headline.higher_is_better else "above"
    return (
        f"{name}: {headline.description}; the board's headline (the task declares it), averaged"
        " over the in-sample filter levels (trained and tested at k), mean ± standard error"
        " [95% interval] over seeds (official runs draw one grammar per seed at run time); the"
        " error is the larger of the spread over seeds and the error the test sets imply (each"
        f" cell's own, {name}_se). #: 1 + the number of rows whose {name} is significantly"
        f" {better} (Welch's t-test at 5%), so rows the statistics do not separate share a range"
        f" (2-3). seeds: a seed far {worse} its row's median (a failed fit) is named there, and"
        f" kept in the mean. k=j: {name} at level j (mean over seeds). norm. acc.: accuracy of"
        " the task's answers on the scale chance = 0, BP = 1, averaged over the in-sample levels"
        " as on other boards, shown and not ranked. The other named columns: the task's"
        " registered metrics, mean over the in-sample cells and seeds. fit (s):" + _row_notes(name)
    )
