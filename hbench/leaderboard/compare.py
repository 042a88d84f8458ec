"""Two results side by side: per-level differences of normalised accuracy with 95% confidence
intervals, paired where the two runs saw the same test sets.

Runs of one suite specification with the same seed and the same grammar score their models on
identical test sequences, so the difference is taken per (seed, level) and its spread over
seeds is all the noise there is (training and test noise together), which is far smaller than
comparing two means. Whether test sets are shared is checked, not assumed: BP's accuracy on a
test set is a fingerprint of it, so equal ``acc_bp`` in every shared cell is required (runs
drawing their grammars at run time share nothing and are compared as independent samples).
With one seed the spread over seeds is unknown; the interval then comes from the test set
alone (binomial, ignoring the positive correlation of two models' errors on the same queries,
so it is conservative).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hbench.errors import UsageError
from hbench.leaderboard.comparison import comparison_hash
from hbench.leaderboard.tables import normalised
from hbench.leaderboard.tree import load_tree, require_root, shown
from hbench.results import RunResult
from hbench.results.validate import recorded_suite, validate_file

#: Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (then the normal's).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip
Z975 = 1.959964
#: acc_bp of two runs' cells must agree this well for their test sets to count as the same.
SAME_TEST_SET = 1e-12


def t975(df: float) -> float:
    if df < 1:
        return math.inf
    return _T975[int(df) - 1] if df < len(_T975) + 1 else Z975


@dataclass(frozen=True)
class Difference:
    """A minus B at one level (or "mean" over levels): means, difference, 95% interval."""

    level: int | str
    seeds: int
    a: float
    b: float
    diff: float
    low: float
    high: float
    method: str  # "paired over seeds", "paired, test set only", "independent ..."


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    a_file: str
    b_file: str
    suite: str
    task: str
    paired: bool
    rows: list[Difference]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _var(values: list[float]) -> float:
    m = _mean(values)
    return sum((v - m) ** 2 for v in values) / (len(values) - 1)


def _scores(result: RunResult) -> dict[tuple[int, int], tuple[float, float, float, int]]:
    """(seed, level) -> (normalised accuracy, acc, acc_bp - chance, n_queries), in-sample."""
    out = {}
    for cell in result.metrics:
        if cell.k_test == "ood" or cell.k_test != cell.k_train or cell.acc is None:
            continue
        score = normalised(cell.acc, cell.acc_bp, cell.chance)
        span = (cell.acc_bp or 0.0) - cell.chance
        out[(cell.seed, int(cell.k_test))] = (score, cell.acc, span, cell.n_queries)
    return out


def _test_set_var(acc: float, span: float, n: int) -> float:
    """Binomial variance of one normalised accuracy from its test set."""
    return acc * (1 - acc) / n / span**2 if span else math.nan


def _difference(
    level: int | str,
    a: dict[int, tuple[float, float]],
    b: dict[int, tuple[float, float]],
    paired: bool,
) -> Difference:
    """``a``, ``b``: seed -> (score, test-set variance of the score)."""
    if paired:
        seeds = sorted(set(a) & set(b))
        d = [a[s][0] - b[s][0] for s in seeds]
        diff = _mean(d)
        if len(d) >= 2:
            half, method = t975(len(d) - 1) * math.sqrt(_var(d) / len(d)), "paired over seeds"
        else:
            var = sum(a[s][1] + b[s][1] for s in seeds) / len(seeds) ** 2
            half, method = Z975 * math.sqrt(var), "paired, test set only (1 seed)"
        mean_a, mean_b, n = _mean([a[s][0] for s in seeds]), _mean([b[s][0] for s in seeds]), len(d)
    else:
        xa, xb = [v for v, _ in a.values()], [v for v, _ in b.values()]
        mean_a, mean_b, n = _mean(xa), _mean(xb), min(len(xa), len(xb))
        diff = mean_a - mean_b
        if len(xa) >= 2 and len(xb) >= 2:
            va, vb = _var(xa) / len(xa), _var(xb) / len(xb)
            df = (
                (va + vb) ** 2 / (va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1)) if va + vb else 1e9
            )
            half, method = t975(df) * math.sqrt(va + vb), "independent (Welch)"
        else:
            var = (
                sum(v for _, v in a.values()) / len(a) ** 2
                + sum(v for _, v in b.values()) / len(b) ** 2
            )
            half, method = Z975 * math.sqrt(var), "independent, test sets only"
    return Difference(level, n, mean_a, mean_b, diff, diff - half, diff + half, method)


def compare(a_path: str | Path, b_path: str | Path) -> Comparison:
    """A minus B, per in-sample level and for the mean over levels."""
    a, b = validate_file(a_path), validate_file(b_path)
    suite_a, suite_b = recorded_suite(a), recorded_suite(b)
    if comparison_hash(suite_a) != comparison_hash(suite_b) or a.spec.task != b.spec.task:
        raise UsageError(
            f"{str(a_path)!r} and {str(b_path)!r} are not comparable: different suite"
            " specifications or tasks (see `hbench leaderboard show`)"
        )
    sa, sb = _scores(a), _scores(b)
    shared = sorted(set(sa) & set(sb))
    paired = bool(shared) and all(
        abs((sa[c][2] + 0) - (sb[c][2] + 0)) <= SAME_TEST_SET for c in shared
    )
    if paired and (a.spec.grammar_seeds or b.spec.grammar_seeds):  # drawn or replayed
        grammars_a = dict(zip(a.spec.seeds, a.spec.grammar_seeds or [], strict=False))
        grammars_b = dict(zip(b.spec.seeds, b.spec.grammar_seeds or [], strict=False))
        paired = all(grammars_a.get(s) == grammars_b.get(s) for s, _ in shared)
    levels = sorted({k for _, k in sa} & {k for _, k in sb})
    if not levels:
        raise UsageError(f"{str(a_path)!r} and {str(b_path)!r} share no in-sample level")
    rows = []
    per_seed_a: dict[int, list[tuple[float, float]]] = defaultdict(list)
    per_seed_b: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for k in levels:
        ka = {s: (v[0], _test_set_var(v[1], v[2], v[3])) for (s, kk), v in sa.items() if kk == k}
        kb = {s: (v[0], _test_set_var(v[1], v[2], v[3])) for (s, kk), v in sb.items() if kk == k}
        if paired:
            ka = {s: v for s, v in ka.items() if s in kb}
            kb = {s: v for s, v in kb.items() if s in ka}
        rows.append(_difference(k, ka, kb, paired))
        for s, v in ka.items():
            per_seed_a[s].append(v)
        for s, v in kb.items():
            per_seed_b[s].append(v)

    def mean_over_levels(per_seed: dict[int, list[tuple[float, float]]]) -> dict:
        return {
            s: (_mean([x for x, _ in v]), sum(w for _, w in v) / len(v) ** 2)
            for s, v in per_seed.items()
            if len(v) == len(levels)
        }

    rows.append(
        _difference("mean", mean_over_levels(per_seed_a), mean_over_levels(per_seed_b), paired)
    )
    return Comparison(
        a=a.spec.label or a.spec.model,
        b=b.spec.label or b.spec.model,
        a_file=str(a_path),
        b_file=str(b_path),
        suite=a.spec.suite_name,
        task=a.spec.task,
        paired=paired,
        rows=rows,
    )


def render_comparison(c: Comparison) -> str:
    from tabulate import tabulate

    from hbench.leaderboard.text import terminal

    head = ["level", "seeds", f"A: {c.a}", f"B: {c.b}", "A - B", "95% interval", "how"]
    body = [
        [
            f"k={r.level}" if isinstance(r.level, int) else r.level,
            r.seeds,
            f"{r.a:.4f}",
            f"{r.b:.4f}",
            f"{r.diff:+.4f}",
            f"[{r.low:+.4f}, {r.high:+.4f}]",
            r.method,
        ]
        for r in c.rows
    ]
    safe = [[terminal(x) for x in row] for row in body]
    lines = [
        terminal(f"A = {c.a_file}"),
        terminal(f"B = {c.b_file}"),
        terminal(
            f"normalised accuracy on {c.suite}/{c.task}, in-sample levels;"
            f" {'paired on shared test sets' if c.paired else 'independent test sets'}"
        ),
        tabulate(safe, headers=[terminal(h) for h in head], disable_numparse=True),
    ]
    return "\n".join(lines)


def resolve(
    a: str, b: str, *, root: str | Path, suite: str | None = None, task: str | None = None
) -> tuple[Path, Path]:
    """Each of ``a``, ``b`` as a result file: a path as given, or a model's row on a board."""
    if Path(a).is_file() and Path(b).is_file():
        return Path(a), Path(b)
    root = require_root(root)
    tree = load_tree(root)
    boards = [
        key
        for key in sorted(tree)
        if suite in (None, key[0])
        and task in (None, key[1])
        and all(Path(x).is_file() or any(_names(e, x) for e in tree[key]) for x in (a, b))
    ]
    if not boards:
        raise UsageError(
            f"no board under {str(root)!r} holds both {a!r} and {b!r}"
            f"{' for the given --suite/--task' if suite or task else ''}; pass result files"
        )
    if len(boards) > 1:
        listed = ", ".join(f"{s}/{t}" for s, t in boards)
        raise UsageError(
            f"{a!r} and {b!r} are on several boards ({listed}): pass --suite and --task"
        )
    entries = shown(tree[boards[0]])  # a verified re-run stands for its claim

    def one(x: str) -> Path:
        if Path(x).is_file():
            return Path(x)
        found = [e for e in entries if _names(e, x)]
        if len(found) > 1:
            files = ", ".join(e.path.name for e in found)
            raise UsageError(
                f"model {x!r} has {len(found)} results on the board ({files}): pass one file"
            )
        return root / found[0].path

    return one(a), one(b)


def _names(entry: Any, name: str) -> bool:
    spec = entry.result.spec
    return name in (spec.model, spec.label)
