"""The paper's claims, one function each: the statement, the criterion fixed here before any
run, the measured numbers with their uncertainty, and a verdict per (claim, task), each naming
the numbers that decided it.

Verdicts (`hbench.reproduce.evidence.VERDICTS`):

- "holds": the criterion is met;
- "does not hold": the numbers refute it (a threshold missed beyond the uncertainty, an order
  reversed) on models that have stopped learning;
- "inconclusive: still learning": the criterion is not met, and the model's deciding quantity
  (its KL to the oracle the claim is about) still falls over the last decade of training steps
  (`hbench.reproduce.evidence.Trend`: by at least ``FALL_SHARE`` of its value and ``MIN_FALL``
  bits per decade, from the learning dynamics every run of a plan records). A model still
  learning never makes a claim "does not hold";
- "inconclusive at this scale": a missing part, numbers within their uncertainty of a threshold,
  bounds that overlap (a P* "not reached" on both sides), an under-trained model (in-sample
  normalised accuracy below `TRAINED`), or a scale that is not decisive (``smoke`` checks the
  machinery, not the paper). Below the paper scale, such a verdict says which parts of the
  paper scale would decide it and what they cost (``hbench reproduce --scale paper --dry-run``'s
  estimate).

The numbers below are the pre-declared criteria; changing one is a change of the study, so
they are constants, named in the report.

Every uncertainty and comparison goes through `hbench.stats`, as on the boards: a number is a
mean over seeds with the larger of the between-seed and the test-set standard error
(`hbench.stats.estimate`); "beyond the uncertainty" means outside its 95% interval (t-quantile
on n - 1 degrees of freedom where the seeds decide, normal where the test set does), and "A
above B" is `hbench.stats.compare` (a paired t-test where the two share seeds and grammars,
Welch's otherwise, at 5%).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hbench import stats
from hbench.reproduce import figures
from hbench.reproduce.evidence import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    LEARNING,
    Evidence,
    Stat,
    Trend,
    Verdict,
    better,
    cells,
    in_sample_norm,
    metric_stat,
    norm_stat,
    over_seeds,
    trend,
)

#: Claim 1: in-sample normalised accuracy and KL(BP || model) at every level, root and mlm.
NORM_MIN, KL_MAX = 0.95, 0.05
#: Claims about what a trained model does are judged only above this in-sample normalised
#: accuracy (mean over levels); below it they are inconclusive.
TRAINED = 0.80
#: Claim 2: an off-diagonal cell counts when the two oracles' accuracies differ by this much;
#: the share of counted cells closer (in KL) to BP_k_train must reach TRACK_SHARE; on random
#: sequences KL(BP_k_train || model) must stay within OOD_KL bits per query at every k_train
#: (twice the in-sample bound: the sequences are far from any training sequence). Argmax
#: agreement is shown, not judged: on near-flat posteriors it measures ties, not inference.
DISTINCT, TRACK_SHARE, OOD_KL = 0.02, 0.90, 0.10
#: Claim 3: test levels k where an intermediate stage BP_j (j not 0, not k: a stage of the
#: staircase other than the end and the test data's own optimum) is at least GAP above BP_0 on
#: k's data (the root run scores BP_j on every level's data: its cells (j, k)), so that a rise
#: has room; the rise from the peak checkpoint to the final one must reach RISE and be above 0
#: beyond its uncertainty, the final accuracy within NEAR of BP_0's; the checkpoints must be
#: measured on CHECKPOINT_MIN sequences in all (2048 a seed: four seeds).
GAP, RISE, NEAR, CHECKPOINT_MIN = 0.08, 0.03, 0.03, 8192
#: Claim 4: Kendall's tau between the measured first-closest order and (l, ..., 0).
TAU_MIN, MIN_STEPS = 0.8, 3
#: Claim 6: fine-tuning seeds (each from its own pretrained encoder) a verdict needs.
PRETRAIN_SEEDS = 4
#: Claim 9: fewer layers fall short at k = 0 by at least SHORTFALL but reach FEW_NORM at k = l;
#: the other grammars (at least OTHER_GRAMMARS_MIN of them) reach FEW_NORM at every level.
SHORTFALL, FEW_NORM, OTHER_GRAMMARS_MIN = 0.05, 0.90, 2

#: The parts of the paper scale that decide each claim: what an undecided verdict below that
#: scale prices (the analyses and scoring are not counted, as in ``--dry-run``).
DECIDING_PARTS: dict[int, tuple[str, ...]] = {
    1: ("run root", "run mlm"),
    2: ("run root", "run mlm"),
    3: ("run root", "run root-k0"),
    4: ("run mlm", "run mlm-k0", "run mlm-shallow"),
    5: ("sweep sample-complexity",),
    6: ("run mlm", "run mlm-k0", "sweep pretraining"),
    7: ("run mlm",),
    8: ("run mlm",),
    9: ("run root", "run fewer-layers", "run other-grammar-1", "run other-grammar-15"),
}


@dataclass
class Claim:
    """One claim as the report shows it: its table, and one verdict per task it is judged on."""

    number: int
    title: str
    figure_ref: str  # the paper's figures
    statement: str
    criterion: str
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    numbers: str = ""  # a sentence with the key measured numbers
    verdicts: list[Verdict] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # PNG paths relative to the folder

    @property
    def verdict(self) -> str:
        """The verdict where every task's agrees, else each task's in turn."""
        kinds = {v.verdict for v in self.verdicts}
        if not kinds:
            return INCONCLUSIVE
        if len(kinds) == 1:
            return kinds.pop()
        return "; ".join(f"{v.task}: {v.verdict}" for v in self.verdicts)


# --- what decides an undecided claim -------------------------------------------------------------

_PAPER_HOURS: dict[str, float] = {}


def paper_cost(parts: Iterable[str]) -> tuple[float, str]:
    """The training GPU hours of ``parts`` of the paper plan by ``--dry-run``'s estimate
    (`hbench.reproduce.runner.Runner.outline`), and its unit."""
    if not _PAPER_HOURS:
        from hbench.reproduce.plan import make_plan
        from hbench.reproduce.runner import Runner

        outline = Runner(make_plan("paper"), Path(".paper-plan"), log=lambda line: None).outline()
        _PAPER_HOURS.update({entry["part"]: entry["hours"] for entry in outline["parts"]})
        _PAPER_HOURS["(unit)"] = outline["unit"]  # type: ignore[assignment]
    hours = sum(_PAPER_HOURS.get(part, 0.0) for part in parts)
    return hours, str(_PAPER_HOURS["(unit)"])


def scale_note(ev: Evidence, number: int) -> str:
    """What would decide claim ``number`` where this scale does not."""
    if ev.plan.scale == "paper":
        return " The paper scale is the largest planned: more training steps would decide it."
    parts = DECIDING_PARTS.get(number, ())
    if not parts:
        return ""
    hours, unit = paper_cost(parts)
    return (
        f" The paper scale would decide it (hbench reproduce --scale paper: {', '.join(parts)};"
        f" about {hours:,.3g} {unit} hours of training by --dry-run's estimate)."
    )


def judge(
    ev: Evidence,
    number: int,
    task: str,
    met: bool | None,
    refuted: bool,
    why: str,
    deciding: str,
    *,
    learning: Iterable[Trend | None] = (),
    gate: str = "",
    holds_needs_convergence: bool = False,
) -> Verdict:
    """The verdict of claim ``number`` on ``task``.

    ``met``: the criterion is met (None: it cannot be judged, ``why`` says why); ``refuted``:
    models that have stopped learning refute it (the caller leaves still-learning models
    out); ``learning``: the trends of the models the failed checks are about, of which those
    still falling make the verdict "inconclusive: still learning" rather than anything but
    "holds" (and rather than "holds" too with ``holds_needs_convergence``, for a claim that a
    model falls short); ``gate``: why the models cannot be judged (under-trained)."""
    falling = [t for t in learning if t is not None and t.falling]
    moving = "; ".join(t.text() for t in falling)
    if met is None:
        return Verdict(task, INCONCLUSIVE, f"{why}." + scale_note(ev, number), deciding)
    if met and not (holds_needs_convergence and falling):
        if ev.plan.decisive:
            return Verdict(task, HOLDS, f"{why}.", deciding)
        return Verdict(task, INCONCLUSIVE, _not_decisive(ev, True, why), deciding)
    if refuted and not gate and ev.plan.decisive:
        return Verdict(task, FAILS, f"{why}.", deciding)
    if falling:
        return Verdict(
            task, LEARNING, f"{why}; still learning: {moving}." + scale_note(ev, number), deciding
        )
    if not ev.plan.decisive:
        return Verdict(task, INCONCLUSIVE, _not_decisive(ev, met, why), deciding)
    reason = gate or f"{why}; not refuted beyond the uncertainty"
    return Verdict(task, INCONCLUSIVE, f"{reason}." + scale_note(ev, number), deciding)


def _not_decisive(ev: Evidence, met: bool, why: str) -> str:
    state = "met" if met else "not met"
    return (
        f"criterion {state} here, but scale {ev.plan.scale!r} trains too little to judge the"
        f" paper ({why})."
    )


def gate_of(result) -> str:
    """'' when the run is trained well enough to judge, else the reason it is not."""
    value = in_sample_norm(result)
    if math.isnan(value) or value < TRAINED:
        return f"the model is under-trained (in-sample normalised accuracy {value:.3f} < {TRAINED})"
    return ""


def missing(claim: Claim, task: str, *parts: str) -> Claim:
    claim.verdicts.append(
        Verdict(task, INCONCLUSIVE, "missing evidence: " + ", ".join(parts) + " not finished")
    )
    return claim


def series_of(*results, k_train: int | None = None) -> list[dict[str, Any]]:
    """The learning dynamics of runs (left out where missing), at ``k_train`` if given."""
    return [
        s
        for result in results
        if result is not None
        for s in result.extra.get("dynamics", [])
        if k_train is None or int(s["k_train"]) == k_train
    ]


def _slope(t: Trend | None) -> str:
    return "-" if t is None else t.slope.text(4)


# --- 1 -------------------------------------------------------------------------------------------


def claim_1(ev: Evidence) -> Claim:
    claim = Claim(
        1,
        "In-sample, transformers reach BP's accuracy and its calibrated marginals",
        "Fig. 1(b), Fig. 3",
        "Trained and tested at the same filter level k, the transformer reaches the accuracy of"
        " exact inference (BP_k) and outputs BP_k's probabilities, for root classification and"
        " masked language modelling, at every level.",
        f"Per task, at every level k: normalised accuracy (acc - 1/q)/(acc_BP - 1/q) >="
        f" {NORM_MIN} and KL(BP_k || model) <= {KL_MAX} bits per query. Refuted for a task if a"
        " level misses either beyond its 95% interval (hbench.stats) on a model that has"
        " stopped learning; a level whose KL still falls is still learning.",
        [
            "task",
            "k",
            "acc",
            "acc_BP",
            "normalised accuracy",
            "KL(BP || model), bits",
            "KL change per decade of steps",
        ],
    )
    for task in ("root", "mlm"):
        result = ev.result(task)
        if result is None:
            missing(claim, task, f"run {task}")
            continue
        table, series = cells(result), series_of(result)
        met, refuted, moving, missed = True, False, [], []
        worst_norm: tuple[Stat, int] | None = None
        worst_kl: tuple[Stat, int] | None = None
        for k in result.spec.train_filters:
            rows = table.get((k, k), [])
            norm, kl = norm_stat(rows), metric_stat(rows, "kl_bp")
            acc, acc_bp = metric_stat(rows, "acc"), metric_stat(rows, "acc_bp")
            level = trend(series, k, k)
            claim.rows.append(
                [task, str(k), acc.text(4), acc_bp.text(4), norm.text(), kl.text(4), _slope(level)]
            )
            if worst_norm is None or norm.mean < worst_norm[0].mean:
                worst_norm = (norm, k)
            if worst_kl is None or kl.mean > worst_kl[0].mean:
                worst_kl = (kl, k)
            if norm.mean >= NORM_MIN and kl.mean <= KL_MAX:
                continue
            met = False
            missed.append(k)
            if level is not None and level.falling:
                moving.append(level)
            elif norm.below(NORM_MIN) or kl.above(KL_MAX):
                refuted = True
        for name in ("calibration",):
            report = ev.report(task, name)
            if report:
                diffs = [m["mean_abs_diff"] for m in report["models"]]
                claim.numbers += (
                    f"{task}: mean |p_model - p_BP| over fresh test sequences"
                    f" {min(diffs):.3f} to {max(diffs):.3f} across levels. "
                )
            figure = ev.analysis_figure(task, name)
            if figure:
                claim.figures.append(figure)
        if worst_norm is None or worst_kl is None:
            missing(claim, task, f"levels of run {task}")
            continue
        deciding = (
            f"lowest normalised accuracy {worst_norm[0].text()} (k = {worst_norm[1]}), largest"
            f" KL {worst_kl[0].text(4)} bits (k = {worst_kl[1]})"
        )
        why = (
            "every level meets both bounds"
            if met
            else f"level(s) {', '.join(map(str, missed))} miss a bound"
        )
        claim.verdicts.append(judge(ev, 1, task, met, refuted, why, deciding, learning=moving))
    sweep = ev.sweep_results("sample-complexity")
    if sweep is not None:
        claim.figures += figures.accuracy_against_budget(ev, sweep)
    return claim


# --- 2 -------------------------------------------------------------------------------------------


def tracking(result) -> tuple[list[list[str]], int, int, int, set[int]]:
    """(rows, counted cells, cells closer to BP_k_train in KL, in agreement, the k_train of
    the cells that are not closer in KL)."""
    rows, counted, kl_closer, agree_closer, failing = [], 0, 0, 0, set()
    table = cells(result)
    for (k_train, k_test), group in sorted(table.items(), key=lambda kv: str(kv[0])):
        if k_test == "ood" or k_test == k_train:
            continue
        acc_train, acc_test = metric_stat(group, "acc_bp_train"), metric_stat(group, "acc_bp")
        if abs(acc_train.mean - acc_test.mean) < DISTINCT:
            continue
        kl_t, kl_o = metric_stat(group, "kl_bp_train"), metric_stat(group, "kl_bp")
        ag_t, ag_o = metric_stat(group, "agree_train"), metric_stat(group, "agree")
        counted += 1
        closer = kl_t.mean < kl_o.mean
        kl_closer += closer
        if not closer:
            failing.add(int(k_train))
        agree_closer += ag_t.mean > ag_o.mean
        rows.append(
            [str(k_train), str(k_test), kl_t.text(4), kl_o.text(4), ag_t.text(), ag_o.text()]
        )
    return rows, counted, kl_closer, agree_closer, failing


def claim_2(ev: Evidence) -> Claim:
    claim = Claim(
        2,
        "Out of sample, a model trained at k_train implements BP_{k_train}",
        "Fig. 1(b), Fig. 4",
        "Tested on data of another filter level (k_test != k_train), or on uniformly random"
        " sequences, a model trained at k_train answers like BP_{k_train}, the exact inference"
        " of its training distribution, not like the optimal BP_{k_test}.",
        f"Per task: over the off-diagonal cells where the two oracles' accuracies differ by >="
        f" {DISTINCT}, KL(BP_k_train || model) < KL(BP_k_test || model) in at least"
        f" {TRACK_SHARE:.0%} of the cells; and on uniformly random sequences KL(BP_k_train ||"
        f" model) <= {OOD_KL} bits per query at every k_train (argmax agreement is shown, not"
        " judged). Refuted if fewer than half of the cells are closer to BP_k_train, or a"
        f" random-sequence KL is above {OOD_KL} beyond its uncertainty, on models that have"
        " stopped learning.",
        [
            "task",
            "k_train",
            "k_test",
            "KL to BP_k_train",
            "KL to BP_k_test",
            "agree_train",
            "agree",
        ],
    )
    for task in ("root", "mlm"):
        result = ev.result(task)
        if result is None:
            missing(claim, task, f"run {task}")
            continue
        rows, counted, kl_closer, agree_closer, failing = tracking(result)
        claim.rows += [[task, *row] for row in rows]
        series = series_of(result)
        trends = {k: trend(series, k, k) for k in result.spec.train_filters}
        ood_worst: tuple[Stat, int] | None = None
        ood_ok, ood_refuted, moving = True, False, []
        for (k_train, k_test), group in sorted(cells(result).items(), key=lambda kv: kv[0][0]):
            if k_test != "ood":
                continue
            kl = metric_stat(group, "kl_bp")  # on random sequences BP_k_test is BP_k_train
            claim.rows.append(
                [
                    task,
                    str(k_train),
                    "random",
                    kl.text(4),
                    "-",
                    metric_stat(group, "agree_train").text(),
                    "-",
                ]
            )
            if ood_worst is None or kl.mean > ood_worst[0].mean:
                ood_worst = (kl, int(k_train))
            if kl.mean <= OOD_KL:
                continue
            ood_ok = False
            level = trends.get(int(k_train))
            if level is not None and level.falling:
                moving.append(level)
            elif kl.above(OOD_KL):
                ood_refuted = True
        if counted == 0 and ood_worst is None:
            claim.verdicts.append(
                Verdict(
                    task,
                    INCONCLUSIVE,
                    "no off-diagonal cell where the two oracles differ, and no random sequences",
                )
            )
            continue
        share = kl_closer / counted if counted else math.nan
        se = stats.binomial_se(share, counted) if counted else math.nan
        cells_ok = counted == 0 or share >= TRACK_SHARE
        converged = [k for k in failing if not (trends.get(k) and trends[k].falling)]
        moving += [trends[k] for k in sorted(failing) if trends.get(k) and trends[k].falling]
        moving = list({id(t): t for t in moving}.values())  # a level failing both ways, once
        cells_refuted = counted > 0 and share < 0.5 and bool(converged)
        deciding = (
            f"{kl_closer}/{counted} cells closer to BP_k_train in KL ({share:.2f} ± {se:.2f}),"
            f" {agree_closer}/{counted} in agreement"
            if counted
            else "no off-diagonal cell counted"
        )
        if ood_worst is not None:
            deciding += (
                f"; on random sequences KL(BP_k_train || model) at most"
                f" {ood_worst[0].text(4)} bits (k_train = {ood_worst[1]})"
            )
        met = cells_ok and ood_ok
        why = (
            "tracks BP_k_train in KL"
            if met
            else "; ".join(
                part
                for part, bad in (
                    (f"{share:.0%} of cells closer to BP_k_train", not cells_ok),
                    (f"random-sequence KL above {OOD_KL} bits", not ood_ok),
                )
                if bad
            )
        )
        claim.verdicts.append(
            judge(
                ev,
                2,
                task,
                met,
                cells_refuted or ood_refuted,
                why,
                deciding,
                learning=moving,
                gate=gate_of(result),
            )
        )
    claim.figures += figures.mismatch(ev)
    return claim


# --- 3 -------------------------------------------------------------------------------------------


def _curves(series: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[list[float]]]:
    """(checkpoint steps shared by every seed, per seed the accuracy on level ``key`` at them)."""
    shared = None
    for s in series:
        labels = [p["label"] for p in s["points"] if key in p.get("accuracy", {})]
        shared = labels if shared is None else [x for x in shared if x in labels]
    shared = shared or []
    curves = []
    for s in series:
        by = {p["label"]: p["accuracy"][key] for p in s["points"] if key in p.get("accuracy", {})}
        curves.append([float(by[x]) for x in shared])
    return [int(x) for x in shared], curves


def peak_rise(curves: Sequence[Sequence[float]], n_sequences: int) -> tuple[Stat, int]:
    """The rise from the peak checkpoint to the last one, over seeds, free of the peak's
    selection bias: each seed's peak checkpoint is chosen on the other seeds' mean curve (on
    its own with one seed), and its rise measured on its own curve, with the binomial error
    of the two accuracies (``n_sequences`` a checkpoint and seed). Also the peak checkpoint
    of the mean curve (its index)."""
    import numpy as np

    values = np.asarray(curves, dtype=np.float64)
    rises, errors = [], []
    for i in range(values.shape[0]):
        others = np.delete(values, i, axis=0) if values.shape[0] > 1 else values
        best = int(np.argmax(others.mean(axis=0)))
        peak, final = float(values[i, best]), float(values[i, -1])
        rises.append(peak - final)
        errors.append(
            math.hypot(stats.binomial_se(peak, n_sequences), stats.binomial_se(final, n_sequences))
        )
    return over_seeds(rises, errors), int(np.argmax(values.mean(axis=0)))


def claim_3(ev: Evidence) -> Claim:
    from hbench.run.worker import CHECKPOINT_SEQUENCES

    task = "root, trained at k = 0"
    claim = Claim(
        3,
        "Trained on the full grammar, accuracy on filtered data rises, then falls to BP_0's",
        "Fig. 4",
        "While a model trains on k = 0, its accuracy on test data of filter levels k > 0 first"
        " rises (it learns short-range correlations first, which serve all levels) and then"
        " falls to the accuracy of BP_0 on that data (it ends implementing BP_0).",
        f"On every test level k >= 1 where an intermediate stage BP_j (j other than 0 and k)"
        f" is at least {GAP} above BP_0 on k's data (room for a rise), with checkpoints"
        f" measured on >= {CHECKPOINT_MIN} sequences over"
        " the seeds: the rise from the peak checkpoint (chosen on the other seeds' mean curve,"
        f" so the peak's selection does not bias it) to the final one is >= {RISE} and above 0"
        f" beyond its uncertainty, and the final accuracy is within {NEAR} of BP_0's. Refuted"
        f" if no such level's rise can reach {RISE} (its interval below it), or the final"
        f" accuracy is more than {NEAR} from BP_0's beyond the uncertainty, on a model that has"
        " stopped learning.",
        [
            "k_test",
            "seeds",
            "peak step (mean curve)",
            "rise, peak - final",
            "final",
            "BP_0 on k_test",
            "best intermediate BP_j on k_test",
            "BP_k_test",
        ],
    )
    result, extra = ev.result("root"), ev.result("root-k0")
    if result is None:
        return missing(claim, task, "run root")
    runs = [r for r in (result, extra) if r is not None]
    series = series_of(*runs, k_train=0)
    if not series:
        return missing(claim, task, "learning dynamics at k_train = 0")
    table: dict[int | str, list] = {}
    for run in runs:
        for (k_train, k_test), rows in cells(run).items():
            if k_train == 0:
                table.setdefault(k_test, []).extend(rows)
    n_test = result.spec.suite.get("n_test", CHECKPOINT_SEQUENCES)  # one, or one a level
    n_test = min(n_test) if isinstance(n_test, list) else int(n_test)
    per_seed = min(CHECKPOINT_SEQUENCES, n_test)
    pooled = per_seed * len(series)
    converging = trend(series, 0, 0)
    met, refuted, judged, decided = True, True, 0, []
    far = False
    every = cells(result)  # the root run's oracles: BP_j on data of every level, for every j
    for k in sorted(k for k in table if k != "ood" and int(k) >= 1):
        rows = table[k]
        bp_k, bp_0 = metric_stat(rows, "acc_bp"), metric_stat(rows, "acc_bp_train")
        stages = {
            j: metric_stat(every[(j, k)], "acc_bp_train")
            for j in result.spec.train_filters
            if j not in (0, k) and every.get((j, k))
        }
        if not stages:
            continue
        best = max(stages, key=lambda j: stages[j].mean)
        if stages[best].mean - bp_0.mean < GAP:
            continue
        steps, curves = _curves(series, str(k))
        if len(steps) < 2:
            continue
        judged += 1
        rise, peak = peak_rise(curves, per_seed)
        final = metric_stat(rows, "acc")
        gap = over_seeds(
            [r.acc - r.acc_bp_train for r in rows if r.acc is not None],
            [r.acc_se for r in rows if r.acc is not None]
            if all(r.acc_se is not None for r in rows)
            else None,
        )
        near = abs(gap.mean) <= NEAR
        met &= rise.mean >= RISE and rise.above(0) and near
        refuted &= rise.below(RISE)
        far |= gap.below(-NEAR) or gap.above(NEAR)
        decided.append(f"k = {k}: rise {rise.text()}, final - BP_0 {gap.text(4)}")
        claim.rows.append(
            [
                str(k),
                str(len(curves)),
                f"{steps[peak]:,}",
                rise.text(),
                final.text(4),
                bp_0.text(4),
                f"BP_{best}: {stages[best].text(4)}",
                bp_k.text(4),
            ]
        )
    claim.figures += figures.dynamics(ev, "root")
    if not judged:
        claim.verdicts.append(
            judge(ev, 3, task, None, False, f"no test level where a BP_j is {GAP} above BP_0", "")
        )
        return claim
    claim.numbers = (
        f"{judged} level(s) judged; checkpoints on {len(series)} seed(s) x {per_seed} sequences"
        f" = {pooled}."
    )
    deciding = "; ".join(decided)
    if converging is not None:
        deciding += f"; {converging.text()}"
    if pooled < CHECKPOINT_MIN:
        why = f"checkpoints measured on {pooled} < {CHECKPOINT_MIN} sequences"
        claim.verdicts.append(judge(ev, 3, task, None, False, why, deciding))
        return claim
    why = (
        "every judged level rises and falls back to BP_0"
        if met
        else "some judged level does not rise and fall back to BP_0"
    )
    refuted = (refuted or far) and not (converging is not None and converging.falling)
    claim.verdicts.append(
        judge(ev, 3, task, met, refuted, why, deciding, learning=[converging], gate=gate_of(result))
    )
    return claim


# --- 4 -------------------------------------------------------------------------------------------


def kendall_tau(order: Sequence[int], ideal: Sequence[int]) -> float:
    """Kendall's tau between two orders of the same items (the items of ``order``)."""
    rank = {item: index for index, item in enumerate(ideal)}
    items = [item for item in order if item in rank]
    pairs = concordant = 0
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            pairs += 1
            concordant += rank[items[i]] < rank[items[j]]
    return float("nan") if pairs == 0 else (2 * concordant - pairs) / pairs


def claim_4(ev: Evidence) -> Claim:
    claim = Claim(
        4,
        "The staircase: during mlm training the model is closest to BP_l, then BP_{l-1}, ...,"
        " finally BP_0",
        "Fig. 5",
        "Trained on masked language modelling at k = 0, the model passes through the exact"
        " inference of ever less filtered grammars: closest (in KL) first to BP_l, then to"
        " BP_{l-1}, and so on, ending at BP_0.",
        f"Per tree (the paper's depth l, and one level shallower, a staircase short enough to"
        f" finish below the paper scale; stated as such): for every seed, the order in which"
        f" each BP_j first becomes the closest (in KL on k = 0 test data) has Kendall's tau >="
        f" {TAU_MIN} with the ideal order (l, ..., 0), holds at least {MIN_STEPS} levels, and"
        " ends at BP_0. Refuted if the mean tau is <= 0, or the staircase stops short of BP_0"
        " on a model that has stopped learning.",
        ["tree", "seed", "first-closest order", "final closest", "Kendall tau"],
    )
    for run, extra_run, task in (
        ("mlm-shallow", None, "mlm, depth l - 1 (a shallower tree, sized to finish)"),
        ("mlm", "mlm-k0", "mlm, depth l (the paper's tree)"),
    ):
        result = ev.result(run)
        if result is None:
            missing(claim, task, f"run {run}")
            continue
        series = series_of(result, ev.result(extra_run) if extra_run else None, k_train=0)
        if not series:
            missing(claim, task, f"learning dynamics of run {run} at k_train = 0")
            continue
        depth = int(result.spec.suite.get("depth", ev.plan.depth))
        ideal = list(range(depth, -1, -1))
        taus, met, finals = [], True, []
        for s in sorted(series, key=lambda s: int(s["seed"])):
            order = [int(j) for j in s["first_closest_order"]]
            tau = kendall_tau(order, ideal)
            final = int(s["closest"][-1])
            taus.append(tau)
            finals.append(final)
            met &= (
                (not math.isnan(tau)) and tau >= TAU_MIN and len(order) >= MIN_STEPS and final == 0
            )
            claim.rows.append(
                [
                    f"l = {depth}",
                    str(s["seed"]),
                    " > ".join(map(str, order)),
                    f"BP_{final}",
                    f"{tau:.2f}",
                ]
            )
        stat = over_seeds([t for t in taus if not math.isnan(t)])
        converging = trend(series, 0, 0)
        refuted = (not math.isnan(stat.mean) and stat.mean <= 0) or any(f != 0 for f in finals)
        refuted &= not (converging is not None and converging.falling)
        deciding = (
            f"Kendall tau {stat.text(2)} over {len(taus)} seed(s); final closest"
            f" {', '.join(f'BP_{f}' for f in finals)}"
            + (f"; {converging.text()}" if converging else "")
        )
        why = (
            f"tau {stat.text(2)}, ending at BP_0"
            if met
            else f"tau {stat.text(2)}; ends at {', '.join(f'BP_{f}' for f in finals)}"
        )
        claim.verdicts.append(
            judge(
                ev,
                4,
                task,
                met,
                refuted,
                why,
                deciding,
                learning=[converging],
                gate=gate_of(result),
            )
        )
        claim.figures += figures.dynamics(ev, run)
    return claim


# --- 5 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bracket:
    """What the budgets measured say of P* at one level: P* in (low, high] (high infinite when
    no budget reached the target: "not reached" is a lower bound, never a number), and the
    interpolated point where one exists."""

    k: int
    low: float
    high: float
    point: float | None = None

    def text(self) -> str:
        high = "inf" if math.isinf(self.high) else f"{self.high:,.0f}"
        point = f", interpolated {self.point:,.0f}" if self.point is not None else ""
        return f"P*(k={self.k}) in ({self.low:,.0f}, {high}]{point}"


def bracket(k: int, budgets: Sequence[int], means: Sequence[float], target: float) -> Bracket:
    """P*'s bracket at level ``k`` from mean accuracies at ``budgets``: the largest budget
    below the first that reaches ``target``, and that one (interpolated on log P between)."""
    points = sorted(zip(budgets, means, strict=True))
    low = 0.0
    for index, (P, mean) in enumerate(points):
        if mean >= target:
            point = None
            if index > 0:
                (p0, m0) = points[index - 1]
                share = (target - m0) / (mean - m0) if mean > m0 else 1.0
                point = math.exp(math.log(p0) + share * (math.log(P) - math.log(p0)))
            return Bracket(k, low, float(P), point)
        low = float(P)
    return Bracket(k, low, math.inf)


def above(a: Bracket, b: Bracket) -> bool:
    """Whether P* at ``a`` is certainly larger than at ``b``: a's lower end at or above b's
    upper end (then P*_a > low_a >= high_b >= P*_b). Two "not reached" never compare."""
    return math.isfinite(b.high) and a.low >= b.high


def order_of(brackets: Sequence[Bracket]) -> tuple[bool, bool]:
    """(met, refuted) for "P* falls as k grows" on brackets sorted by k: met when P* at the
    smallest k is certainly above P* at the largest and no pair is certainly reversed;
    refuted when the largest k's P* is certainly above the smallest's."""
    if len(brackets) < 2:
        return False, False
    first, last = brackets[0], brackets[-1]
    reversed_pair = any(above(b, a) for a, b in itertools.combinations(brackets, 2))
    return above(first, last) and not reversed_pair, above(last, first)


def _sweep_cells(folder, model: str = "transformer", task: str = "root") -> dict:
    """(k_train, P) -> in-sample normalised accuracy over seeds (`over_seeds`: each seed with
    its test-set error, so that one seed, or two equal ones, still carry an uncertainty)."""
    import warnings

    from hbench.results.table import load_results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_results(folder)
    table = table[(table["k_test"].astype(str) == table["k_train"].astype(str))]
    table = table[table["acc"].notna() & (table["model"] == model) & (table["task"] == task)]
    out: dict[tuple[int, int], Stat] = {}
    for (k, P), group in table.groupby(["k_train", "P"]):
        errors = group["normalised_accuracy_se"].astype(float)
        out[(int(k), int(P))] = over_seeds(
            group["normalised_accuracy"].astype(float).tolist(),
            errors.tolist() if errors.notna().all() else None,
        )
    return out


def claim_5(ev: Evidence) -> Claim:
    target = ev.plan.p_star_target
    claim = Claim(
        5,
        "The sample complexity P* grows with the depth of correlations",
        "Fig. 3",
        "The number of training sequences P* a transformer needs to reach BP's accuracy is"
        " larger the more hierarchy the data keep (smaller filter level k).",
        f"P* = the smallest P whose mean in-sample normalised accuracy reaches {target}, known"
        " as a bracket (largest P below it, first P at or above it] over the sweep's budgets"
        ' and the root run\'s larger P; "not reached" is the bound (largest P, infinity].'
        " Holds if P* at the smallest k is certainly above P* at the largest (its bracket's"
        " lower end at or above the other's upper end) and no pair of levels is certainly"
        " reversed; refuted if P* at the largest k is certainly above the smallest k's;"
        ' otherwise (overlapping brackets: two "not reached" never compare) undecided.',
        ["k", "normalised accuracy per P (mean ± s.e.)", f"P* ({target})"],
    )
    task = "root"
    folder = ev.sweep_results("sample-complexity")
    if folder is None:
        return missing(claim, task, "sweep sample-complexity")
    sweep = _sweep_cells(folder)
    levels = sorted({k for k, _ in sweep})
    if len(levels) < 2:
        claim.verdicts.append(
            judge(ev, 5, task, None, False, "fewer than two training levels in the sweep", "")
        )
        return claim
    main = ev.result("root")
    brackets = []
    for k in levels:
        points = {P: stat for (level, P), stat in sweep.items() if level == k}
        shown = [f"2^{math.log2(P):.0f}: {stat.text()}" for P, stat in sorted(points.items())]
        if main is not None and int(main.spec.suite.get("P", 0)) > max(points):
            P_main = int(main.spec.suite["P"])
            norm = norm_stat(cells(main).get((k, k), []))
            if not math.isnan(norm.mean):
                points[P_main] = norm
                shown.append(f"root run 2^{math.log2(P_main):.0f}: {norm.text()}")
        budgets = sorted(points)
        found = bracket(k, budgets, [points[P].mean for P in budgets], target)
        brackets.append(found)
        claim.rows.append([str(k), ", ".join(shown), found.text().split(" in ", 1)[1]])
    claim.figures += figures.accuracy_against_budget(ev, folder)
    met, refuted = order_of(brackets)
    first, last = brackets[0], brackets[-1]
    deciding = f"{first.text()}; {last.text()}"
    claim.numbers = "; ".join(b.text() for b in brackets) + "."
    if met:
        why = f"P* at k = {first.k} certainly above P* at k = {last.k}"
    elif refuted:
        why = f"P* at k = {last.k} certainly above P* at k = {first.k}"
    else:
        why = f"the brackets of P* at k = {first.k} and k = {last.k} overlap" + (
            " (neither reached: infinity is not compared with infinity)"
            if math.isinf(first.high) and math.isinf(last.high)
            else ""
        )
    claim.verdicts.append(
        judge(ev, 5, task, met if (met or refuted) else None, refuted, why, deciding)
    )
    return claim


# --- 6 -------------------------------------------------------------------------------------------


def claim_6(ev: Evidence) -> Claim:
    from hbench.analysis.budget import collect

    task = "root, from the mlm encoders"
    claim = Claim(
        6,
        "mlm pretraining lowers the labelled samples root classification needs",
        "Fig. 1(f)",
        "An encoder pretrained on masked language modelling (unlabelled sequences) lets a root"
        " classifier reach a given accuracy with fewer labelled sequences, with the encoder"
        " frozen (only a new head trained) or fine-tuned.",
        f"With the main mlm run's encoders (trained at k = 0; one per seed, >= {PRETRAIN_SEEDS}"
        " seeds): at every labelled budget P of the sweep, the better of frozen and fine-tuned"
        " has a normalised accuracy significantly above training from scratch"
        " (hbench.stats.compare: paired over the shared seeds and grammars, 5%). Refuted if, at"
        " some P, it is significantly below scratch with encoders that have stopped learning.",
        ["P", "scratch", "frozen", "fine-tuned", "best pretrained - scratch"],
    )
    folder = ev.sweep_results("pretraining")
    if folder is None:
        return missing(claim, task, "sweep pretraining")
    points = collect(folder)
    by = {(p.label, p.P): p for p in points}
    per_seed = _sweep_norms(folder)
    budgets = sorted({p.P for p in points})
    met, refuted, decided, n_seeds = bool(budgets), False, [], 0
    for P in budgets:
        scratch = by.get(("scratch", P))
        tuned = [by[(m, P)] for m in ("frozen", "fine-tuned") if (m, P) in by]
        if scratch is None or not tuned:
            met = False
            continue
        best = max(tuned, key=lambda p: p.norm)
        a, b = per_seed.get((best.label, P)), per_seed.get(("scratch", P))
        if a is None or b is None:
            met = False
            continue
        n_seeds = max(n_seeds, len(a[0]))
        paired = a[0] == b[0]  # the same seeds of one suite: the same grammars
        test = stats.compare(
            a[1].values, b[1].values, a_test_se=a[1].test_se, b_test_se=b[1].test_se, paired=paired
        )
        met &= test.better > 0
        refuted |= test.better < 0
        text = (
            f"{test.difference:+.3f} ± {test.se:.3f} ({best.label}, {test.test},"
            f" p = {test.p_value:.2g})"
        )
        decided.append(f"P = {P}: {text}")
        cell = {m: per_seed.get((m, P)) for m in ("scratch", "frozen", "fine-tuned")}
        claim.rows.append([str(P), *(c[1].text() if c else "-" for c in cell.values()), text])
    claim.figures += figures.pretraining(ev, points)
    encoders = trend(series_of(ev.result("mlm"), ev.result("mlm-k0"), k_train=0), 0, 0)
    deciding = "; ".join(decided) + (f"; encoders: {encoders.text()}" if encoders else "")
    if n_seeds < PRETRAIN_SEEDS:
        why = f"{n_seeds} fine-tuning seed(s), fewer than {PRETRAIN_SEEDS}"
        claim.verdicts.append(judge(ev, 6, task, None, False, why, deciding))
        return claim
    why = (
        "pretraining helps at every budget"
        if met
        else "pretraining does not help significantly at every budget"
    )
    learning = [encoders] if encoders is not None else []
    refuted = refuted and not any(t.falling for t in learning)
    claim.verdicts.append(judge(ev, 6, task, met, refuted, why, deciding, learning=learning))
    return claim


def _sweep_norms(folder) -> dict[tuple[str, int], tuple[tuple[int, ...], Stat]]:
    """(label, P) -> (seeds, in-sample normalised accuracy over seeds): each seed's mean over
    its in-sample levels, with the test-set error sqrt(sum se^2) / n_levels (as the headline)."""
    import warnings

    from hbench.results.table import load_results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_results(folder)
    table = table[(table["k_test"].astype(str) == table["k_train"].astype(str))]
    table = table[table["acc"].notna()]
    out = {}
    for (label, P), group in table.groupby(["label", "P"]):
        seeds, values, errors = [], [], []
        for seed, rows in sorted(group.groupby("seed"), key=lambda kv: kv[0]):
            seeds.append(int(seed))
            values.append(float(rows["normalised_accuracy"].mean()))
            se = rows["normalised_accuracy_se"].astype(float)
            errors.append(math.sqrt(float((se**2).sum())) / len(se) if se.notna().all() else None)
        out[(str(label), int(P))] = (tuple(seeds), over_seeds(values, errors))
    return out


# --- 7 -------------------------------------------------------------------------------------------


def attention_check(blocks: Sequence[int | None], k: int, depth: int) -> tuple[bool, list[int]]:
    """Whether one model's best attention block per layer (layer j = 1, 2, ...) follows the
    paper's picture at training level ``k`` of a depth-``depth`` tree, and the expected
    blocks: layer j's block is within a factor 2 of min(2^j, 2^(l-k)) (the blocks filtering
    keeps intact stop the growth), never above 2^(l-k), and strictly larger than the layer
    before's wherever the expected block grows. The growth separates 2 4 8 16 (passes) from
    4 4 8 8 (fails), which the factor 2 alone does not. A layer without a block passes only
    at k = l, where no block is correlated."""
    kept = 1 << (depth - k)
    expected = [min(1 << j, kept) for j in range(1, len(blocks) + 1)]
    for block, want in zip(blocks, expected, strict=True):
        if block is None:
            if kept > 1:
                return False, expected
            continue
        if not (want / 2 <= block <= 2 * want) or block > kept:
            return False, expected
    for j in range(len(blocks) - 1):
        grows = expected[j + 1] > expected[j]
        a, b = blocks[j], blocks[j + 1]
        if grows and (a is None or b is None or b <= a):
            return False, expected
    return True, expected


def claim_7(ev: Evidence) -> Claim:
    task = "mlm encoders"
    claim = Claim(
        7,
        "Attention: layer j attends within blocks of about 2^j; at level k the blocks stop at"
        " 2^(l-k)",
        "Fig. 6",
        "Trained on masked language modelling on the full grammar, the j-th attention layer"
        " attends mostly within blocks of about 2^j leaves, climbing the tree one level per"
        " layer; trained at filter level k, the blocks stop growing at 2^(l-k), the blocks"
        " filtering keeps intact.",
        "For every mlm model (every seed and level), from the block score (the block 2^j* where"
        " the attention's in-block mass exceeds uniform attention's the most): layer j's block"
        " is within a factor 2 of min(2^j, 2^(l-k)), never above 2^(l-k), and strictly larger"
        " than the layer before's wherever that expected block grows (2 4 8 16 passes at"
        " k = 0, 4 4 8 8 does not). Holds if every model passes; refuted if fewer than half do"
        " among models that have stopped learning.",
        ["seed", "k_train", "best block per layer", "expected", "passes"],
    )
    report = ev.report("mlm", "attention")
    result = ev.result("mlm")
    if report is None or result is None:
        return missing(claim, task, "attention analysis of run mlm")
    depth = int(result.spec.suite.get("depth", ev.plan.depth))
    series = series_of(result)
    passed, failed_converged, total, moving = 0, 0, 0, []
    for model in report["models"]:
        k = int(model["k_train"])
        blocks = [layer["best_block"] for layer in model["layers"]]
        ok, expected = attention_check(blocks, k, depth)
        total += 1
        passed += ok
        if not ok:
            level = trend(series, k, k)
            if level is not None and level.falling:
                moving.append(level)
            else:
                failed_converged += 1
        claim.rows.append(
            [
                str(model["seed"]),
                str(k),
                " ".join(map(str, blocks)),
                " ".join(map(str, expected)),
                "yes" if ok else "no",
            ]
        )
    for suffix in ("", "_blocks"):
        figure = ev.analysis_figure("mlm", "attention", suffix)
        if figure:
            claim.figures.append(figure)
    share = passed / total if total else math.nan
    se = stats.binomial_se(share, total) if total else math.nan
    deciding = f"{passed}/{total} models pass ({share:.2f} ± {se:.2f})"
    claim.numbers = deciding + "."
    claim.verdicts.append(
        judge(
            ev,
            7,
            task,
            passed == total and total > 0,
            failed_converged > total / 2,
            f"{passed}/{total} models pass",
            deciding,
            learning=moving,
            gate=gate_of(result),
        )
    )
    return claim


# --- 8 -------------------------------------------------------------------------------------------


def claim_8(ev: Evidence) -> Claim:
    task = "mlm encoders, trained at k = 0"
    claim = Claim(
        8,
        "Probes: ancestors become decodable layer by layer, higher ancestors in deeper layers",
        "Fig. 7",
        "Probes on each layer's token vectors of an mlm-trained encoder decode the token's"
        " ancestor at depth d; the ancestors closer to the leaf are decodable in early layers,"
        " those higher up (the root last) only in deeper layers.",
        "With the paper's probe (one hidden layer of 64 ReLU units), for the mlm models trained"
        " at k = 0 (every seed): the first layer whose probe is within 0.01 of its best, per"
        " ancestor depth d, is non-increasing in d and strictly larger for the root (d = 0)"
        " than for the parent (d = l-1); and each depth's best probe gets at least half of the"
        " way from chance to BP's accuracy. Refuted if the root is decoded at an earlier layer"
        " than the parent on a model that has stopped learning.",
        ["seed", "first good layer per depth d = 0..l-1", "best probe per depth", "BP per depth"],
    )
    report = ev.report("mlm", "probe")
    result = ev.result("mlm")
    if report is None or result is None:
        return missing(claim, task, "probe analysis of run mlm")
    chance = result.metrics[0].chance if result.metrics else 0.0
    models = [m for m in report["models"] if m["k_train"] == 0]
    if not models:
        claim.verdicts.append(
            judge(ev, 8, task, None, False, "no probed model trained at k = 0", "")
        )
        return claim
    met, refuted, decided = True, False, []
    for model in models:
        firsts = model["best_layer"]
        best = [
            max((row[i] for row in model["accuracy"] if row[i] is not None), default=None)
            for i in range(len(report["depths"]))
        ]
        bayes = model["bayes"]
        ordered = all(
            a is not None and b is not None and a >= b for a, b in itertools.pairwise(firsts)
        )
        decodable = all(
            b is not None and p is not None and p - chance >= 0.5 * (p_bp - chance)
            for b, p, p_bp in zip(firsts, best, bayes, strict=True)
            if p_bp is not None
        )
        met &= ordered and firsts[0] > firsts[-1] and decodable
        refuted |= firsts[0] is not None and firsts[-1] is not None and firsts[0] < firsts[-1]
        decided.append(f"seed {model['seed']}: first good layers {firsts}")
        claim.rows.append(
            [
                str(model["seed"]),
                " ".join(map(str, firsts)),
                " ".join("-" if p is None else f"{p:.2f}" for p in best),
                " ".join("-" if p is None else f"{p:.2f}" for p in bayes),
            ]
        )
    figure = ev.analysis_figure("mlm", "probe")
    if figure:
        claim.figures.append(figure)
    converging = trend(series_of(result, k_train=0), 0, 0)
    if converging is not None and converging.falling:
        refuted = False
    test = int(report.get("test_sequences", 0)) * (1 << int(result.spec.suite.get("depth", 0)))
    deciding = (
        "; ".join(decided)
        + (f" (probes {report.get('probe')}, scored on {test:,} tokens)" if test else "")
        + (f"; {converging.text()}" if converging else "")
    )
    if report.get("probe") != "hidden-64":
        why = f"the probes are {report.get('probe')!r}, not the paper's (hidden-64)"
        claim.verdicts.append(judge(ev, 8, task, None, False, why, deciding))
        return claim
    claim.verdicts.append(
        judge(
            ev,
            8,
            task,
            met,
            refuted,
            "ancestors decoded layer by layer, the root last"
            if met
            else "the layer order or the decodability falls short",
            deciding,
            learning=[converging],
            gate=gate_of(result),
        )
    )
    return claim


# --- 9 -------------------------------------------------------------------------------------------


def claim_9(ev: Evidence) -> Claim:
    depth = ev.plan.depth
    claim = Claim(
        9,
        "Fewer layers than l, and other grammars",
        "App. D.1, D.2",
        "(a) With fewer layers than the depth l, the transformer cannot climb the whole tree:"
        " it falls short of BP where correlations span the whole sequence (k = 0), while it"
        " still reaches BP where only short blocks are correlated (k = l). (b) The approach to"
        " BP does not hinge on one grammar: other random grammars are learned as well.",
        f"(a) Trained exactly as the l-layer root model (the same sequences, epochs and"
        f" schedule): normalised accuracy at k = 0 below the l-layer model's by >= {SHORTFALL}"
        f" (and significantly, hbench.stats.compare), and >= {FEW_NORM} at k = l; a shortfall"
        " of a model still learning is not judged. (b) On >= 2 of the authors' other grammars"
        f" (sigma 1), trained as root: >= {FEW_NORM} at every level trained (over the"
        f" grammars). Refuted if (a) the fewer-layer model is not separated from the l-layer"
        f" one at k = 0, or (b) a level misses {FEW_NORM} beyond its 95% interval, on models"
        " that have stopped learning.",
        [
            "run",
            "layers",
            "k",
            "normalised accuracy",
            "KL(BP || model), bits",
            "KL change per decade of steps",
        ],
    )
    full, few = ev.result("root"), ev.result("fewer-layers")
    others = [
        (p.name, ev.result(p.name)) for p in ev.plan.runs if p.name.startswith("other-grammar")
    ]
    norms: dict[tuple[str, int], Stat] = {}
    trends: dict[tuple[str, int], Trend | None] = {}
    shown = [("root", full), ("fewer-layers", few), *others]
    for name, result in shown:
        if result is None:
            continue
        table, series = cells(result), series_of(result)
        layers = (result.extra.get("resolved_model_config") or {}).get("n_layers", "?")
        for k in result.spec.train_filters:
            rows = table.get((k, k), [])
            norms[(name, k)] = norm_stat(rows)
            trends[(name, k)] = trend(series, k, k)
            claim.rows.append(
                [
                    name,
                    str(layers),
                    str(k),
                    norms[(name, k)].text(),
                    metric_stat(rows, "kl_bp").text(4),
                    _slope(trends[(name, k)]),
                ]
            )
    drawn = [(name, result) for name, result in shown if result is not None]
    if drawn:
        claim.figures += figures.variants(ev, drawn)

    task_a = "(a) fewer layers"
    a_full, a_few = norms.get(("root", 0)), norms.get(("fewer-layers", 0))
    a_top = norms.get(("fewer-layers", depth))
    if full is None or few is None:
        missing(claim, task_a, "runs root and fewer-layers")
    elif a_full is None or a_few is None or a_top is None:
        claim.verdicts.append(
            judge(ev, 9, task_a, None, False, "the runs lack level 0 or level l", "")
        )
    else:
        gap = a_full.mean - a_few.mean
        paired = same_grammars(full, few)
        separated = better(a_full, a_few, paired=paired)
        gap_se = _difference_se(a_full, a_few, paired)
        met_a = gap >= SHORTFALL and separated > 0 and a_top.mean >= FEW_NORM
        moving = [trends.get(("fewer-layers", 0)), trends.get(("fewer-layers", depth))]
        deciding = (
            f"k = 0: l layers {a_full.text()}, fewer {a_few.text()} (gap {gap:+.3f} ±"
            f" {gap_se:.3f}); k = l: fewer {a_top.text()}"
        )
        claim.verdicts.append(
            judge(
                ev,
                9,
                task_a,
                met_a,
                separated == 0 and not any(t and t.falling for t in moving),
                "falls short at k = 0 and reaches BP at k = l"
                if met_a
                else "criterion (a) not met",
                deciding,
                learning=moving,
                gate=gate_of(full),
                holds_needs_convergence=True,
            )
        )

    task_b = "(b) other grammars"
    found = [(name, result) for name, result in others if result is not None]
    if len(found) < len(others) or not others:
        missing(claim, task_b, *(f"run {name}" for name, result in others if result is None))
        return claim
    levels = sorted({k for _, result in found for k in result.spec.train_filters})
    met_b, refuted_b, moving, decided = True, False, [], []
    for k in levels:
        rows = [row for _, result in found for row in cells(result).get((k, k), [])]
        stat = norm_stat(rows)
        decided.append(f"k = {k}: {stat.text()}")
        if stat.mean >= FEW_NORM:
            continue
        met_b = False
        falling = [t for name, _ in found if (t := trends.get((name, k))) and t.falling]
        if falling:
            moving += falling
        elif stat.below(FEW_NORM):
            refuted_b = True
    deciding = f"over {len(found)} grammar(s): " + ", ".join(decided)
    if len(found) < OTHER_GRAMMARS_MIN:
        claim.verdicts.append(
            judge(
                ev,
                9,
                task_b,
                None,
                False,
                f"{len(found)} other grammar(s), fewer than {OTHER_GRAMMARS_MIN}",
                deciding,
            )
        )
        return claim
    claim.verdicts.append(
        judge(
            ev,
            9,
            task_b,
            met_b,
            refuted_b,
            "every level learned" if met_b else f"some level below {FEW_NORM}",
            deciding,
            learning=moving,
            gate=next((g for _, r in found if (g := gate_of(r))), ""),
        )
    )
    return claim


def same_grammars(a, b) -> bool:
    """Whether two runs scored their seeds on the same grammars (the same seeds of the same
    grammar seed, neither official): then their comparison is paired."""
    sa, sb = a.spec, b.spec
    return (
        not sa.official
        and not sb.official
        and sa.seeds == sb.seeds
        and sa.grammar_seeds == sb.grammar_seeds
        and sa.suite.get("grammar_seed") == sb.suite.get("grammar_seed")
    )


def _difference_se(a: Stat, b: Stat, paired: bool) -> float:
    """The standard error `hbench.stats.compare` gives the difference of ``a`` and ``b``."""
    if not a.values or not b.values:
        return math.nan
    paired = paired and len(a.values) == len(b.values)
    return stats.compare(
        a.values, b.values, a_test_se=a.test_se, b_test_se=b.test_se, paired=paired
    ).se


#: Every claim, in the paper's order.
CLAIMS: tuple[Callable[[Evidence], Claim], ...] = (
    claim_1,
    claim_2,
    claim_3,
    claim_4,
    claim_5,
    claim_6,
    claim_7,
    claim_8,
    claim_9,
)


def judge_all(ev: Evidence) -> list[Claim]:
    """Every claim's section; figures are (re)drawn from the folder's files."""
    ev.figures.mkdir(parents=True, exist_ok=True)
    return [claim(ev) for claim in CLAIMS]
