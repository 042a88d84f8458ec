"""Test-set sizes per filter level that keep the test-set standard error of normalised accuracy
at most 0.01 for a random grammar.

Why: normalised accuracy (acc - chance) / (acc_bp - chance) divides by BP's gap above chance,
d = acc_bp - chance, so its test-set error grows like 1/d where BP is close to chance (high
filter levels, the ambiguous grammar, the RHM's root at high levels). Official runs draw their
grammars from the operating system's entropy, so a size must hold for a grammar nobody chose,
not for one seed: the script draws many grammars per suite and sizes each level at a low
percentile of d.

The rule. For each leaderboard suite and each test level, for each of ``--grammars`` random
grammars, d is BP's expected accuracy on ``--sample`` test sequences of that level (the mean of
BP's largest probability per query: exact given the sequences, no sampling noise from the
answers) minus the task's chance level, with the project's own grammar, filter, oracle and task
code (through `hbench.run.harness.Harness`, as an official run draws them). The worst-case model
is one at chance that shares nothing with BP: its correctness has variance p(1 - p) with p =
chance, its covariance with BP's correctness is 0 and its excess over chance is 0, so by the
delta method of `hbench.stats.normalised_accuracy_se` the standard error over m queries is

    se = sqrt(chance (1 - chance) / m) / d,

and the queries needed for se <= target are m = chance (1 - chance) / (target d)^2 at the
``--percentile``-th percentile of d over the grammars. A model closer to BP has a smaller error
(its correctness covaries with BP's); one with the same accuracy as BP but independent of it
(cov 0) would need about twice as many queries. Sequences per level are m divided by the task's
queries per sequence (1 for root and mlm, the sequence length for next-token, whose positions
are counted as independent queries like the harness's errors count them), rounded up to a
multiple of 1024.

A model between chance and BP whose correctness is nearly independent of BP's (naive Bayes on
the RHM at k = 3, 4) has a larger error than one at chance, up to twice the variance where its
accuracy nears BP's; ``--rule any`` sizes for the worst such model instead (two to three times
the sequences at the high levels).

    python benchmarks/size_test_sets.py                    # the cpu leaderboard suites
    python benchmarks/size_test_sets.py --suites rhm-paper --grammars 16
    python benchmarks/size_test_sets.py --suites cfg-cpu --grammars 256
    python benchmarks/size_test_sets.py --json sizes.json
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from _common import write_json
from tabulate import tabulate

from hbench.run.harness import Harness
from hbench.run.spec import RunSpec

#: The cpu-scale leaderboard suites (the suite and, where the board is not the suite's own
#: task, the task's override): the tree grammars', then the cfg plugin's (one level, k = 0).
CPU_SUITES = (
    "cpu",
    "cpu:mlm",
    "rhm-cpu",
    "ambiguous-cpu",
    "next-token-cpu",
    "cfg-cpu",
    "denoise-cpu",
)

#: Sequences per level are rounded up to a multiple of this.
ROUND_TO = 1024


def needed_queries(d: float, chance: float, target: float, rule: str = "chance") -> float:
    """Queries that keep the worst-case model's se of normalised accuracy at ``target``:
    ``chance``, a model at chance independent of BP; ``any``, the worst model of any accuracy
    A between chance and BP's that is independent of BP (cov 0: the delta method's
    A (1 - A) / d^2 + (A - chance)^2 B (1 - B) / d^4, largest near A = B)."""
    if d <= 0:
        return math.inf
    if rule == "chance":
        return chance * (1.0 - chance) / (target * d) ** 2
    bp = chance + d
    a = np.linspace(chance, bp, 1001)
    var = a * (1 - a) / d**2 + (a - chance) ** 2 * bp * (1 - bp) / d**4
    return float(var.max()) / target**2


def round_up(n: float, step: int = ROUND_TO) -> int | None:
    return None if not math.isfinite(n) else int(math.ceil(n / step) * step)


def measure_suite(
    entry: str, grammars: int, sample: int, master: np.random.Generator
) -> tuple[float, float, dict[int, np.ndarray]]:
    """(chance, queries per sequence, {level: d of each grammar}) of one suite (``name`` or
    ``name:task``)."""
    name, _, task = entry.partition(":")
    overrides: dict[str, object] = {
        "seeds": list(range(grammars)),
        "n_test": sample,
        "n_ood": 0,
    }
    if task:
        overrides["task"] = task
    seeds = [int(s) for s in master.integers(0, 1 << 63, size=grammars, dtype=np.uint64)]
    spec = RunSpec(model="bp", suite=name, overrides=overrides, grammar_seeds=seeds)
    world = Harness(spec).world  # the grammars, test data and oracle answers of the run
    gaps: dict[int, list[float]] = {level: [] for level in world.suite.test_levels}
    per_sequence = 1.0
    for seed in world.suite.seeds:
        for level in world.suite.test_levels:
            data = world.test_data(seed, level)
            bp = world.oracle_answers(seed, level, level)
            per_sequence = data.n_queries / len(data)
            gaps[level].append(float(bp.max(axis=1).mean()) - world.chance)
    return world.chance, per_sequence, {k: np.asarray(v) for k, v in gaps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suites", nargs="+", default=list(CPU_SUITES), metavar="SUITE[:TASK]")
    parser.add_argument("--grammars", type=int, default=48, help="random grammars per suite")
    parser.add_argument("--sample", type=int, default=4096, help="sequences per level and grammar")
    parser.add_argument("--percentile", type=float, default=2.0, help="of d over the grammars")
    parser.add_argument("--target", type=float, default=0.01, help="se of normalised accuracy")
    parser.add_argument("--seed", type=int, default=0, help="draws the grammars' seeds")
    parser.add_argument(
        "--rule",
        choices=("chance", "any"),
        default="chance",
        help="the worst-case model: at chance (default), or of any accuracy up to BP's",
    )
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()
    master = np.random.default_rng(args.seed)
    rows, records = [], []
    for entry in args.suites:
        start = time.perf_counter()
        chance, per_sequence, gaps = measure_suite(entry, args.grammars, args.sample, master)
        seconds = time.perf_counter() - start
        for level, d in gaps.items():
            low = float(np.percentile(d, args.percentile))
            queries = needed_queries(low, chance, args.target, args.rule)
            n_test = round_up(queries / per_sequence)
            rows.append(
                [entry, level, f"{chance:.4f}", f"{d.min():.4f}", f"{low:.4f}",
                 f"{np.median(d):.4f}", n_test if n_test is not None else "inf"]
            )  # fmt: skip
            records.append(
                {
                    "suite": entry,
                    "level": level,
                    "chance": chance,
                    "queries_per_sequence": per_sequence,
                    "d": d.tolist(),
                    "d_percentile": low,
                    "n_test": n_test,
                }
            )
        print(f"{entry}: {args.grammars} grammars x {args.sample} sequences in {seconds:.0f} s")
    headers = ["suite", "level", "chance", "d min", f"d p{args.percentile:g}", "d median"]
    headers.append(f"n_test (se <= {args.target:g})")
    print(tabulate(rows, headers=headers, tablefmt="github"))
    if args.json:
        write_json(args.json, {"args": vars(args)}, levels=records)


if __name__ == "__main__":
    main()
