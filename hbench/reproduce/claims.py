"""The paper's claims, one function each: the statement, the criterion fixed here before any
run, the measured numbers with their uncertainty, and the verdict.

Verdicts: "holds" when the criterion is met; "does not hold" when the numbers refute it (a
threshold missed beyond the uncertainty, an order reversed) on a model trained well enough to
judge; "inconclusive at this scale" otherwise: a missing part, numbers within their
uncertainty of a threshold, an under-trained model (in-sample normalised accuracy below
`TRAINED`), or a scale that is not decisive (``smoke`` checks the machinery, not the paper).
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hbench import stats
from hbench.reproduce import figures
from hbench.reproduce.evidence import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Evidence,
    Stat,
    better,
    cells,
    in_sample_norm,
    metric_stat,
    norm_stat,
    over_seeds,
)

#: Claim 1: in-sample normalised accuracy and KL(BP || model) at every level, root and mlm.
NORM_MIN, KL_MAX = 0.95, 0.05
#: Claims about what a trained model does are judged only above this in-sample normalised
#: accuracy (mean over levels); below it they are inconclusive.
TRAINED = 0.80
#: Claim 2: an off-diagonal cell counts when the two oracles' accuracies differ by this much;
#: the share of counted cells closer to BP_k_train must reach TRACK_SHARE; on random
#: sequences the model's argmax must agree with BP_k_train's at least OOD_AGREE of the time.
DISTINCT, TRACK_SHARE, OOD_AGREE = 0.02, 0.90, 0.80
#: Claim 3: levels where BP_0 is at least GAP below BP_k; the peak must exceed the final
#: accuracy by RISE and by 3 standard errors, and the final accuracy lie within NEAR of BP_0's.
GAP, RISE, NEAR = 0.05, 0.03, 0.03
#: Claim 4: Kendall's tau between the measured first-closest order and (l, ..., 0).
TAU_MIN, MIN_STEPS = 0.8, 3
#: Claim 9: fewer layers fall short at k = 0 by at least SHORTFALL but reach FEW_NORM at k = l;
#: the other grammar reaches FEW_NORM at every level.
SHORTFALL, FEW_NORM = 0.05, 0.90


@dataclass
class Claim:
    """One claim as the report shows it."""

    number: int
    title: str
    figure_ref: str  # the paper's figures
    statement: str
    criterion: str
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    numbers: str = ""  # a sentence with the key measured numbers
    verdict: str = INCONCLUSIVE
    reason: str = ""
    figures: list[str] = field(default_factory=list)  # PNG paths relative to the folder


def decide(ev: Evidence, met: bool | None, refuted: bool, why: str, gate: str = "") -> tuple:
    """(verdict, reason) from whether the criterion was met or refuted; see the module."""
    if met is None:
        return INCONCLUSIVE, why
    if not ev.plan.decisive:
        state = "met" if met else "not met"
        return INCONCLUSIVE, f"criterion {state} here, but scale {ev.plan.scale!r} trains too" \
            f" little to judge the paper ({why})"  # fmt: skip
    if met:
        return HOLDS, why
    if refuted and not gate:
        return FAILS, why
    return INCONCLUSIVE, gate or f"{why}; not refuted beyond the uncertainty"


def gate_of(result) -> str:
    """'' when the run is trained well enough to judge, else the reason it is not."""
    value = in_sample_norm(result)
    if math.isnan(value) or value < TRAINED:
        return f"the model is under-trained (in-sample normalised accuracy {value:.3f} < {TRAINED})"
    return ""


def missing(claim: Claim, *parts: str) -> Claim:
    claim.reason = "missing evidence: " + ", ".join(parts) + " not finished"
    return claim


# --- 1 -------------------------------------------------------------------------------------------


def claim_1(ev: Evidence) -> Claim:
    claim = Claim(
        1,
        "In-sample, transformers reach BP's accuracy and its calibrated marginals",
        "Fig. 1(b), Fig. 3",
        "Trained and tested at the same filter level k, the transformer reaches the accuracy of"
        " exact inference (BP_k) and outputs BP_k's probabilities, for root classification and"
        " masked language modelling, at every level.",
        f"At every level k of both tasks: normalised accuracy (acc - 1/q)/(acc_BP - 1/q) >="
        f" {NORM_MIN} and KL(BP_k || model) <= {KL_MAX} bits per query. Refuted if a level misses"
        " either beyond its 95% interval (hbench.stats).",
        ["task", "k", "acc", "acc_BP", "normalised accuracy", "KL(BP || model), bits"],
    )
    met, refuted, found = True, False, []
    for task in ("root", "mlm"):
        result = ev.result(task)
        if result is None:
            continue
        found.append(task)
        table = cells(result)
        for k in result.spec.train_filters:
            rows = table.get((k, k), [])
            norm, kl = norm_stat(rows), metric_stat(rows, "kl_bp")
            acc, acc_bp = metric_stat(rows, "acc"), metric_stat(rows, "acc_bp")
            claim.rows.append([task, str(k), acc.text(4), acc_bp.text(4), norm.text(), kl.text(4)])
            met &= norm.mean >= NORM_MIN and kl.mean <= KL_MAX
            refuted |= norm.below(NORM_MIN) or kl.above(KL_MAX)
    for task in found:
        report = ev.report(task, "calibration")
        if report:
            diffs = [m["mean_abs_diff"] for m in report["models"]]
            claim.numbers += (
                f"{task}: mean |p_model - p_BP| over fresh test sequences"
                f" {min(diffs):.3f} to {max(diffs):.3f} across levels. "
            )
        figure = ev.analysis_figure(task, "calibration")
        if figure:
            claim.figures.append(figure)
    sweep = ev.sweep_results("sample-complexity")
    if sweep is not None:
        claim.figures += figures.accuracy_against_budget(ev, sweep)
    if len(found) < 2:
        return missing(claim, *(f"run {t}" for t in ("root", "mlm") if t not in found))
    why = "every level meets both bounds" if met else "some level misses a bound"
    claim.verdict, claim.reason = decide(ev, met, refuted, why)
    return claim


# --- 2 -------------------------------------------------------------------------------------------


def tracking(result) -> tuple[list[list[str]], int, int, int, list[float]]:
    """(rows, counted cells, cells closer to BP_k_train in KL, in agreement, ood agreements)."""
    rows, counted, kl_closer, agree_closer = [], 0, 0, 0
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
        kl_closer += kl_t.mean < kl_o.mean
        agree_closer += ag_t.mean > ag_o.mean
        rows.append(
            [str(k_train), str(k_test), kl_t.text(4), kl_o.text(4), ag_t.text(), ag_o.text()]
        )
    ood = [
        metric_stat(group, "agree_train").mean for (kt, ks), group in table.items() if ks == "ood"
    ]
    return rows, counted, kl_closer, agree_closer, ood


def claim_2(ev: Evidence) -> Claim:
    claim = Claim(
        2,
        "Out of sample, a model trained at k_train implements BP_{k_train}",
        "Fig. 1(b), Fig. 4",
        "Tested on data of another filter level (k_test != k_train), or on uniformly random"
        " sequences, a model trained at k_train answers like BP_{k_train}, the exact inference"
        " of its training distribution, not like the optimal BP_{k_test}.",
        f"Over the off-diagonal cells where the two oracles' accuracies differ by >= {DISTINCT}:"
        f" KL(BP_k_train || model) < KL(BP_k_test || model) and agree_train > agree in at least"
        f" {TRACK_SHARE:.0%} of the cells, and on random sequences agree_train >= {OOD_AGREE} at"
        " every k_train. Refuted if fewer than half of the cells are closer to BP_k_train.",
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
    counted = kl_closer = agree_closer = 0
    ood: list[float] = []
    gates = []
    for task in ("root", "mlm"):
        result = ev.result(task)
        if result is None:
            continue
        rows, n, kl, ag, oo = tracking(result)
        claim.rows += [[task, *row] for row in rows]
        counted, kl_closer, agree_closer, ood = (
            counted + n,
            kl_closer + kl,
            agree_closer + ag,
            ood + oo,
        )
        gates.append(gate_of(result))
    if not gates:
        return missing(claim, "runs root and mlm")
    if counted == 0:
        claim.reason = "no off-diagonal cell where the two oracles differ"
        return claim
    share_kl, share_ag = kl_closer / counted, agree_closer / counted
    se = stats.binomial_se(share_kl, counted)
    claim.numbers = (
        f"{kl_closer}/{counted} cells closer to BP_k_train in KL ({share_kl:.2f} ± {se:.2f}),"
        f" {agree_closer}/{counted} in agreement; on random sequences agree_train"
        f" {min(ood):.3f} to {max(ood):.3f}."
        if ood
        else ""
    )
    claim.figures += figures.mismatch(ev)
    met = share_kl >= TRACK_SHARE and share_ag >= TRACK_SHARE and all(v >= OOD_AGREE for v in ood)
    refuted = share_kl < 0.5
    gate = next((g for g in gates if g), "")
    claim.verdict, claim.reason = decide(
        ev, met, refuted, f"{share_kl:.0%} of cells closer to BP_k_train in KL", gate
    )
    return claim


# --- 3 -------------------------------------------------------------------------------------------


def claim_3(ev: Evidence) -> Claim:
    from hbench.run.worker import CHECKPOINT_SEQUENCES

    claim = Claim(
        3,
        "Trained on the full grammar, accuracy on filtered data rises, then falls to BP_0's",
        "Fig. 4",
        "While a model trains on k = 0, its accuracy on test data of filter levels k > 0 first"
        " rises (it learns short-range correlations first, which serve all levels) and then"
        " falls to the accuracy of BP_0 on that data (it ends implementing BP_0).",
        f"On every test level k >= 1 where BP_0 is at least {GAP} below BP_k, for every seed:"
        f" the peak accuracy over checkpoints exceeds the final accuracy by >= {RISE} and by 3"
        f" standard errors, and the final accuracy is within {NEAR} of BP_0's. Refuted if no"
        " such level rises by even one standard error.",
        ["seed", "k_test", "peak (step)", "final", "BP_0 on k_test", "BP_k_test", "rise"],
    )
    result = ev.result("root")
    if result is None:
        return missing(claim, "run root")
    series = [s for s in result.extra.get("dynamics", []) if int(s["k_train"]) == 0]
    if not series:
        return missing(claim, "learning dynamics at k_train = 0")
    table = cells(result)
    met, rose_any, judged = True, False, 0
    for s in series:
        seed = int(s["seed"])
        for key in s["points"][0]["accuracy"]:
            k = int(key)
            row = next((r for r in table.get((0, k), []) if r.seed == seed), None)
            if k == 0 or row is None or row.acc is None:
                continue
            if (row.acc_bp or 0) - (row.acc_bp_train or 0) < GAP:
                continue
            judged += 1
            values = [p["accuracy"][key] for p in s["points"]]
            best = max(range(len(values)), key=values.__getitem__)
            peak, final = values[best], row.acc
            se = math.hypot(
                stats.binomial_se(peak, CHECKPOINT_SEQUENCES),
                row.acc_se if row.acc_se is not None else stats.binomial_se(final, row.n_queries),
            )
            rise = peak - final
            ok = rise >= RISE and rise >= 3 * se and abs(final - row.acc_bp_train) <= NEAR
            met &= ok
            rose_any |= rise >= se
            label = s["points"][best].get("label")
            claim.rows.append([
                str(seed), str(k), f"{peak:.3f} ({label})", f"{final:.4f}",
                f"{row.acc_bp_train:.4f}", f"{row.acc_bp:.4f}", f"{rise:+.3f} ± {se:.3f}",
            ])  # fmt: skip
    claim.figures += figures.dynamics(ev, "root")
    if not judged:
        claim.reason = f"no test level where BP_0 is {GAP} below BP_k"
        return claim
    claim.numbers = f"{judged} (seed, level) pairs judged."
    claim.verdict, claim.reason = decide(
        ev, met, not rose_any, "every judged level rises and falls back" if met
        else "some judged level does not rise and fall back to BP_0", gate_of(result),
    )  # fmt: skip
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
    depth = ev.plan.depth
    ideal = list(range(depth, -1, -1))
    claim = Claim(
        4,
        "The staircase: during mlm training the model is closest to BP_l, then BP_{l-1}, ...,"
        " finally BP_0",
        "Fig. 5",
        "Trained on masked language modelling at k = 0, the model passes through the exact"
        " inference of ever less filtered grammars: closest (in KL) first to BP_l, then to"
        " BP_{l-1}, and so on, ending at BP_0.",
        f"For every seed, the order in which each BP_j first becomes the closest (in KL on k = 0"
        f" test data) has Kendall's tau >= {TAU_MIN} with the ideal order {ideal}, holds at least"
        f" {MIN_STEPS} levels, and ends at BP_0. Refuted if the mean tau is <= 0.",
        ["seed", "first-closest order", "final closest", "Kendall tau"],
    )
    result = ev.result("mlm")
    if result is None:
        return missing(claim, "run mlm")
    series = [s for s in result.extra.get("dynamics", []) if int(s["k_train"]) == 0]
    if not series:
        return missing(claim, "learning dynamics at k_train = 0")
    taus, met = [], True
    for s in series:
        order = [int(j) for j in s["first_closest_order"]]
        tau = kendall_tau(order, ideal)
        final = int(s["closest"][-1])
        taus.append(tau)
        met &= (not math.isnan(tau)) and tau >= TAU_MIN and len(order) >= MIN_STEPS and final == 0
        claim.rows.append(
            [str(s["seed"]), " > ".join(map(str, order)), f"BP_{final}", f"{tau:.2f}"]
        )
    stat = over_seeds(taus)
    claim.numbers = f"Kendall tau {stat.text(2)} over {stat.n} seed(s)."
    claim.figures += figures.dynamics(ev, "mlm")
    refuted = not math.isnan(stat.mean) and stat.mean <= 0
    claim.verdict, claim.reason = decide(ev, met, refuted, f"tau {stat.text(2)}", gate_of(result))
    return claim


# --- 5 -------------------------------------------------------------------------------------------


def claim_5(ev: Evidence) -> Claim:
    from hbench.analysis.sample_complexity import collect_curves

    target = ev.plan.p_star_target
    claim = Claim(
        5,
        "The sample complexity P* grows with the depth of correlations",
        "Fig. 3",
        "The number of training sequences P* a transformer needs to reach BP's accuracy is"
        " larger the more hierarchy the data keep (smaller filter level k).",
        f"P* = the smallest P whose mean in-sample normalised accuracy reaches {target}"
        " (interpolated on log P; not reached = above the largest P): non-increasing in k over"
        " the levels of the sweep, and strictly larger at the smallest k than at the largest."
        " Refuted if P* at the smallest k is below P* at the largest (both reached).",
        ["k", "normalised accuracy per P (mean ± s.e.)", f"P* ({target})"],
    )
    folder = ev.sweep_results("sample-complexity")
    if folder is None:
        return missing(claim, "sweep sample-complexity")
    curves = [c for c in collect_curves(folder) if c.model == "transformer" and c.task == "root"]
    if len(curves) < 2:
        claim.reason = "fewer than two training levels in the sweep"
        return claim
    curves.sort(key=lambda c: c.k_train)
    stars = []
    for curve in curves:
        p_star, _ = curve.p_star(target)
        stars.append(math.inf if p_star is None else p_star)
        points = ", ".join(
            f"2^{math.log2(P):.0f}: {m:.3f} ± {s:.3f}"
            for P, m, s in zip(curve.budgets, curve.mean, curve.stderr, strict=True)
        )
        shown = f"> {max(curve.budgets)}" if p_star is None else f"{p_star:,.0f}"
        claim.rows.append([str(curve.k_train), points, shown])
    claim.figures += figures.accuracy_against_budget(ev, folder)
    reached = [s for s in stars if math.isfinite(s)]
    if not reached:
        claim.reason = f"no level reaches {target} within the sweep's budgets"
        return claim
    monotone = all(a >= b for a, b in itertools.pairwise(stars))
    met = monotone and stars[0] > stars[-1]
    refuted = math.isfinite(stars[0]) and math.isfinite(stars[-1]) and stars[0] < stars[-1]
    claim.numbers = "P* per k: " + ", ".join(
        f"k={c.k_train}: {'not reached' if math.isinf(s) else f'{s:,.0f}'}"
        for c, s in zip(curves, stars, strict=True)
    )
    claim.verdict, claim.reason = decide(
        ev, met, refuted, "P* falls as k grows" if met else "P* does not fall monotonically in k"
    )
    return claim


# --- 6 -------------------------------------------------------------------------------------------


def claim_6(ev: Evidence) -> Claim:
    from hbench.analysis.budget import collect

    claim = Claim(
        6,
        "mlm pretraining lowers the labelled samples root classification needs",
        "Fig. 1(f)",
        "An encoder pretrained on masked language modelling (unlabelled sequences) lets a root"
        " classifier reach a given accuracy with fewer labelled sequences, with the encoder"
        " frozen (only a new head trained) or fine-tuned.",
        "At every labelled budget P of the sweep, the better of frozen and fine-tuned has a"
        " normalised accuracy significantly above training from scratch (hbench.stats.compare:"
        " paired over the shared seeds and grammars, 5%). Refuted if, at some P, it is"
        " significantly below scratch.",
        ["P", "scratch", "frozen", "fine-tuned", "best pretrained - scratch"],
    )
    folder = ev.sweep_results("pretraining")
    if folder is None:
        return missing(claim, "sweep pretraining (both stages)")
    points = collect(folder)
    by = {(p.label, p.P): p for p in points}
    per_seed = _sweep_norms(folder)
    budgets = sorted({p.P for p in points})
    met, refuted = bool(budgets), False
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
        paired = a[0] == b[0]  # the same seeds of one suite: the same grammars
        test = stats.compare(a[1].values, b[1].values, a_test_se=a[1].test_se,
                             b_test_se=b[1].test_se, paired=paired)  # fmt: skip
        met &= test.better > 0
        refuted |= test.better < 0
        cell = {m: per_seed.get((m, P)) for m in ("scratch", "frozen", "fine-tuned")}
        claim.rows.append([
            str(P), *(c[1].text() if c else "-" for c in cell.values()),
            f"{test.difference:+.3f} ± {test.se:.3f} ({best.label}, {test.test},"
            f" p = {test.p_value:.2g})",
        ])  # fmt: skip
    claim.figures += figures.pretraining(ev, points)
    claim.verdict, claim.reason = decide(
        ev, met, refuted, "pretraining helps at every budget" if met
        else "pretraining does not help clearly at every budget",
    )  # fmt: skip
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


def claim_7(ev: Evidence) -> Claim:
    claim = Claim(
        7,
        "Attention: layer j attends within blocks of about 2^j; at level k the blocks stop at"
        " 2^(l-k)",
        "Fig. 6",
        "Trained on the full grammar, the j-th attention layer attends mostly within blocks of"
        " about 2^j leaves, climbing the tree one level per layer; trained at filter level k,"
        " the blocks stop growing at 2^(l-k), the blocks filtering keeps intact.",
        "From the block score (the block size 2^j* where the attention's in-block mass exceeds"
        " uniform attention's the most): at k_train = 0, layer j's best block is within a factor"
        " 2 of 2^j for every layer j <= l; at every k_train >= 1, no layer's best block is"
        " larger than 2^(l-k) and smaller than the whole sequence. Holds if every check passes;"
        " refuted if fewer than half do.",
        ["seed", "k_train", "best block per layer", "expected", "checks passed"],
    )
    report = ev.report("root", "attention")
    result = ev.result("root")
    if report is None or result is None:
        return missing(claim, "attention analysis of run root")
    depth, length = ev.plan.depth, report["length"]
    passed = total = 0
    for model in report["models"]:
        k = model["k_train"]
        blocks = [layer["best_block"] for layer in model["layers"]]
        if k == 0:
            checks = [abs(layer["best_j"] - layer["layer"]) <= 1 for layer in model["layers"]
                      if layer["layer"] <= depth]  # fmt: skip
            expected = " ".join(str(min(1 << j, length)) for j in range(1, len(blocks) + 1))
        else:
            kept = 1 << (depth - k)
            checks = [b <= kept or b == length for b in blocks]
            expected = f"<= {kept} or {length}"
        passed, total = passed + sum(checks), total + len(checks)
        claim.rows.append([str(model["seed"]), str(k), " ".join(map(str, blocks)), expected,
                           f"{sum(checks)}/{len(checks)}"])  # fmt: skip
    for suffix in ("", "_blocks"):
        figure = ev.analysis_figure("root", "attention", suffix)
        if figure:
            claim.figures.append(figure)
    share = passed / total if total else float("nan")
    claim.numbers = f"{passed}/{total} layer checks pass ({share:.0%})."
    claim.verdict, claim.reason = decide(
        ev, passed == total, share < 0.5, f"{passed}/{total} checks pass", gate_of(result)
    )
    return claim


# --- 8 -------------------------------------------------------------------------------------------


def claim_8(ev: Evidence) -> Claim:
    claim = Claim(
        8,
        "Probes: ancestors become decodable layer by layer, higher ancestors in deeper layers",
        "Fig. 7",
        "Linear probes on each layer's token vectors decode the token's ancestor at depth d;"
        " the ancestors closer to the leaf are decodable in early layers, those higher up (the"
        " root last) only in deeper layers.",
        "For the model trained at k = 0 (every seed), the first layer whose probe is within 0.01"
        " of its best, per ancestor depth d, is non-increasing in d and strictly larger for the"
        " root (d = 0) than for the parent (d = l-1); and each depth's best probe gets at least"
        " half of the way from chance to BP's accuracy. Refuted if the root is decoded at an"
        " earlier layer than the parent.",
        ["seed", "first good layer per depth d = 0..l-1", "best probe per depth", "BP per depth"],
    )
    report = ev.report("root", "probe")
    result = ev.result("root")
    if report is None or result is None:
        return missing(claim, "probe analysis of run root")
    chance = result.metrics[0].chance if result.metrics else 0.0
    models = [m for m in report["models"] if m["k_train"] == 0]
    if not models:
        claim.reason = "no probed model trained at k = 0"
        return claim
    met, refuted = True, False
    for model in models:
        firsts = model["best_layer"]
        best = [max((row[i] for row in model["accuracy"] if row[i] is not None), default=None)
                for i in range(len(report["depths"]))]  # fmt: skip
        bayes = model["bayes"]
        ordered = all(
            a is not None and b is not None and a >= b for a, b in itertools.pairwise(firsts)
        )
        decodable = all(
            b is not None and p is not None and p - chance >= 0.5 * (p_bp - chance)
            for b, p, p_bp in zip(firsts, best, bayes, strict=True) if p_bp is not None
        )  # fmt: skip
        met &= ordered and firsts[0] > firsts[-1] and decodable
        refuted |= firsts[0] is not None and firsts[-1] is not None and firsts[0] < firsts[-1]
        claim.rows.append([
            str(model["seed"]), " ".join(map(str, firsts)),
            " ".join("-" if p is None else f"{p:.2f}" for p in best),
            " ".join("-" if p is None else f"{p:.2f}" for p in bayes),
        ])  # fmt: skip
    figure = ev.analysis_figure("root", "probe")
    if figure:
        claim.figures.append(figure)
    claim.verdict, claim.reason = decide(
        ev, met, refuted, "ancestors decoded layer by layer, the root last" if met
        else "the layer order or the decodability falls short", gate_of(result),
    )  # fmt: skip
    return claim


# --- 9 -------------------------------------------------------------------------------------------


def claim_9(ev: Evidence) -> Claim:
    depth = ev.plan.depth
    claim = Claim(
        9,
        "Fewer layers than l, and another grammar",
        "App. D.1, D.2",
        "(a) With fewer layers than the depth l, the transformer cannot climb the whole tree:"
        " it falls short of BP where correlations span the whole sequence (k = 0), while it"
        " still reaches BP where only short blocks are correlated (k = l). (b) The approach to"
        " BP does not hinge on one grammar: another random grammar (another seed, sigma 2)"
        " is learned as well.",
        f"(a) normalised accuracy at k = 0 below the l-layer model's by >= {SHORTFALL} (and"
        f" significantly, hbench.stats.compare), and >= {FEW_NORM} at k = l; (b) on the other"
        f" grammar >= {FEW_NORM} at every level trained. Refuted if (a) the fewer-layer model"
        f" is not separated from the l-layer one at k = 0, or (b) a level misses {FEW_NORM}"
        " beyond its 95% interval.",
        ["run", "layers", "k", "normalised accuracy", "KL(BP || model), bits"],
    )
    full, few, other = ev.result("root"), ev.result("fewer-layers"), ev.result("other-grammar")
    if full is None or few is None or other is None:
        return missing(claim, "runs root, fewer-layers and other-grammar")
    norms: dict[tuple[str, int], Stat] = {}
    for name, result in (("root", full), ("fewer-layers", few), ("other-grammar", other)):
        table = cells(result)
        layers = (result.extra.get("resolved_model_config") or {}).get("n_layers", "?")
        for k in result.spec.train_filters:
            rows = table.get((k, k), [])
            norms[(name, k)] = norm_stat(rows)
            claim.rows.append([name, str(layers), str(k), norms[(name, k)].text(),
                               metric_stat(rows, "kl_bp").text(4)])  # fmt: skip
    claim.figures += figures.variants(ev, [("root", full), ("fewer-layers", few),
                                           ("other-grammar", other)])  # fmt: skip

    a_full, a_few = norms.get(("root", 0)), norms.get(("fewer-layers", 0))
    a_top = norms.get(("fewer-layers", depth))
    if a_full is None or a_few is None or a_top is None:
        claim.reason = "the runs lack level 0 or level l"
        return claim
    gap = a_full.mean - a_few.mean
    paired = same_grammars(full, few)
    separated = better(a_full, a_few, paired=paired)
    gap_se = _difference_se(a_full, a_few, paired)
    met_a = gap >= SHORTFALL and separated > 0 and a_top.mean >= FEW_NORM
    refuted_a = separated == 0
    others = [s for (name, _), s in norms.items() if name == "other-grammar"]
    met_b = all(s.mean >= FEW_NORM for s in others)
    refuted_b = any(s.below(FEW_NORM) for s in others)
    claim.numbers = (
        f"(a) k = 0: l layers {a_full.text()}, fewer {a_few.text()}"
        f" (gap {gap:+.3f} ± {gap_se:.3f});"
        f" k = l: fewer {a_top.text()}. (b) other grammar: "
        + ", ".join(s.text() for s in others)
        + "."
    )
    gate = gate_of(full)
    claim.verdict, claim.reason = decide(
        ev, met_a and met_b, refuted_a or refuted_b,
        f"(a) {'met' if met_a else 'not met'}, (b) {'met' if met_b else 'not met'}", gate,
    )  # fmt: skip
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
    claim_1, claim_2, claim_3, claim_4, claim_5, claim_6, claim_7, claim_8, claim_9,
)  # fmt: skip


def judge_all(ev: Evidence) -> list[Claim]:
    """Every claim's section; figures are (re)drawn from the folder's files."""
    ev.figures.mkdir(parents=True, exist_ok=True)
    return [claim(ev) for claim in CLAIMS]
