"""Verdicts on hand-built evidence: each path (holds, does not hold, inconclusive: still learning,
inconclusive at this scale), the convergence gate (a model still learning never "does not
hold"), P* brackets ("not reached" is a bound: infinity is never compared with infinity), the
attention criterion, the unbiased peak of claim 3, and the plan the claims are judged on."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from result_runs import make_result

from hbench import stats
from hbench.reproduce import make_plan
from hbench.reproduce.claims import (
    Bracket,
    attention_check,
    bracket,
    claim_1,
    claim_3,
    claim_4,
    claim_9,
    judge,
    order_of,
    peak_rise,
)
from hbench.reproduce.evidence import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    LEARNING,
    Evidence,
    slope_per_decade,
    trend,
)
from hbench.reproduce.plan import CPU_TEST, MAIN_GRAMMAR, OTHER_GRAMMARS
from hbench.reproduce.sweeps import part_stage
from hbench.results import LevelMetrics

STEPS = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240]


def cell(seed, k_train, k_test, acc, acc_bp, *, kl=0.01, bp_train=None, n=32768) -> LevelMetrics:
    """One (seed, k_train, k_test) cell; normalised accuracy's test-set error 0.005."""
    return LevelMetrics(
        seed=seed, k_train=k_train, k_test=k_test, acc=acc, acc_bp=acc_bp,
        acc_bp_train=acc_bp if bp_train is None else bp_train, chance=0.25, kl_bp=kl,
        kl_bp_train=kl, agree=0.9, agree_train=0.9, n_queries=n,
        acc_se=None if acc is None else stats.binomial_se(acc, n),
        normalised_accuracy_se=0.005, kl_bp_se=0.001,
    )  # fmt: skip


def kl_curve(start: float, end: float) -> list[float]:
    """A KL falling from ``start`` to ``end`` linearly in log10(step) over `STEPS`."""
    x = [math.log10(s) for s in STEPS]
    return [start + (end - start) * (v - x[0]) / (x[-1] - x[0]) for v in x]


def series(seed, k_train, kls: dict[int, list[float]], *, accuracy=None, closest=(0,), order=()):
    points = []
    for i, step in enumerate(STEPS):
        point = {"label": step, "seconds": 0.0, "kl": {str(j): v[i] for j, v in kls.items()}}
        point["accuracy"] = {str(j): v[i] for j, v in (accuracy or {}).items()}
        points.append(point)
    return {"seed": seed, "k_train": k_train, "points": points, "closest": list(closest),
            "first_closest_order": list(order)}  # fmt: skip


def run(task, rows, dynamics, levels, *, depth=4, seeds=(0, 1), norm=0.95, P=1 << 17, n=32768):
    base = make_result()
    suite = {**base.spec.suite, "depth": depth, "P": P, "n_test": n}
    spec = base.spec.model_copy(
        update={"suite": suite, "task": task, "train_filters": list(levels),
                "test_filters": list(levels), "seeds": list(seeds)}
    )  # fmt: skip
    headline = {"normalised_accuracy": {"mean": norm, "stderr": 0.0, "per_seed": [norm]}}
    return base.model_copy(
        update={"spec": spec, "metrics": rows, "headline": headline,
                "extra": {"dynamics": dynamics}}
    )  # fmt: skip


def evidence(tmp_path: Path, scale: str = "cpu", **results) -> Evidence:
    """Evidence whose runs are the given results (every other part missing)."""
    ev = Evidence(tmp_path, make_plan(scale))
    ev._results.update({name.replace("_", "-"): result for name, result in results.items()})
    return ev


def mlm_run(kl_start: float, kl_end: float, *, norm0: float = 0.919, kl0: float = 0.064):
    """mlm at k = 0, 1 on two seeds: k = 1 meets the bounds, k = 0 misses them (normalised
    accuracy ``norm0``, KL ``kl0``) while its KL moves from ``kl_start`` to ``kl_end``."""
    bp = 0.508
    acc0 = 0.25 + norm0 * (bp - 0.25)
    rows = [
        *(cell(s, 0, 0, acc0, bp, kl=kl0) for s in (0, 1)),
        *(cell(s, 1, 1, 0.51, 0.512, kl=0.01) for s in (0, 1)),
    ]
    dynamics = [
        *(series(s, 0, {0: kl_curve(kl_start, kl_end)}) for s in (0, 1)),
        *(series(s, 1, {1: kl_curve(0.012, 0.0101)}) for s in (0, 1)),
    ]
    return run("mlm", rows, dynamics, [0, 1])


def root_run():
    rows = [cell(s, k, k, 0.9, 0.9, kl=0.002) for s in (0, 1) for k in (0, 1)]
    dynamics = [series(s, k, {k: kl_curve(0.003, 0.002)}) for s in (0, 1) for k in (0, 1)]
    return run("root", rows, dynamics, [0, 1])


def verdicts(claim) -> dict[str, tuple[str, str, str]]:
    return {v.task: (v.verdict, v.reason, v.deciding) for v in claim.verdicts}


# --- the convergence gate -------------------------------------------------------------------------


def test_a_model_still_learning_is_never_refuted(tmp_path) -> None:
    # the committed cpu run's mlm at k = 0: KL 0.133 -> 0.069 over its last steps, below 0.95
    learning = verdicts(claim_1(evidence(tmp_path, root=root_run(), mlm=mlm_run(0.30, 0.064))))
    verdict, reason, deciding = learning["mlm"]
    assert verdict == LEARNING
    assert "still learning: KL(BP_0 || model) 0.0640 bits at the end, changing -0.0784" in reason
    assert "per decade of steps" in reason
    assert "The paper scale would decide it" in reason and "GPU hours" in reason
    assert deciding.startswith(
        "lowest normalised accuracy 0.919 ± 0.004 (k = 0), largest KL 0.0640 ± 0.0007"
    )
    assert learning["root"][0] == HOLDS
    # the same numbers on a model whose KL has stopped falling: refuted
    flat = verdicts(claim_1(evidence(tmp_path, root=root_run(), mlm=mlm_run(0.0641, 0.064))))
    assert flat["mlm"][0] == FAILS and "level(s) 0 miss a bound" in flat["mlm"][1]
    # within the uncertainty of the bound: neither
    close = verdicts(
        claim_1(evidence(tmp_path, mlm=mlm_run(0.0491, 0.049, norm0=0.948, kl0=0.049)))
    )
    assert close["mlm"][0] == INCONCLUSIVE and "not refuted beyond" in close["mlm"][1]
    assert close["root"][0] == INCONCLUSIVE and "missing evidence" in close["root"][1]


def test_the_smoke_scale_decides_nothing(tmp_path) -> None:
    found = verdicts(claim_1(evidence(tmp_path, "smoke", root=root_run(), mlm=mlm_run(0.06, 0.06))))
    assert found["root"][0] == INCONCLUSIVE and "trains too little" in found["root"][1]
    assert found["mlm"][0] == INCONCLUSIVE


def test_judge_orders_the_paths(tmp_path) -> None:
    cpu = Evidence(tmp_path, make_plan("cpu"))
    falling = trend([series(0, 0, {0: kl_curve(0.3, 0.06)})], 0, 0)
    still = trend([series(0, 0, {0: kl_curve(0.0601, 0.06)})], 0, 0)
    assert falling.falling and not still.falling
    assert judge(cpu, 1, "t", True, False, "ok", "", learning=[falling]).verdict == HOLDS
    assert judge(cpu, 1, "t", False, True, "bad", "", learning=[still]).verdict == FAILS
    assert judge(cpu, 1, "t", False, False, "bad", "", learning=[falling]).verdict == LEARNING
    assert judge(cpu, 1, "t", False, True, "bad", "", gate="under-trained").verdict == INCONCLUSIVE
    # a claim that a model falls short does not hold while that model still learns
    short = judge(cpu, 9, "t", True, False, "short", "", learning=[falling],
                  holds_needs_convergence=True)  # fmt: skip
    assert short.verdict == LEARNING
    undecided = judge(cpu, 5, "t", None, False, "overlap", "P*")
    assert undecided.verdict == INCONCLUSIVE and "sweep sample-complexity" in undecided.reason
    paper = judge(Evidence(tmp_path, make_plan("paper")), 5, "t", None, False, "overlap", "")
    assert "more training steps" in paper.reason


def test_slope_per_decade_of_steps() -> None:
    values = [0.5 - 0.1 * math.log10(s) for s in STEPS]
    slope, se = slope_per_decade(STEPS, values)
    assert slope == pytest.approx(-0.1) and se == pytest.approx(0.0, abs=1e-12)
    # only the last decade counts: an early plunge does not make a flat end "falling"
    early = [5.0 if s < 1000 else 0.02 for s in STEPS]
    assert slope_per_decade(STEPS, early)[0] == pytest.approx(0.0)
    # two seeds' slopes with their own errors (hbench.stats), never 0 from equal values
    found = trend([series(s, 0, {0: kl_curve(0.3, 0.06)}) for s in (0, 1)], 0, 0)
    assert found.slope.mean == pytest.approx(-0.24 / 3.0103, rel=1e-3)
    assert found.slope.n == 2 and found.first_step == 1280 and found.last_step == 10240


# --- claim 4: the staircase --------------------------------------------------------------------


def staircase(kl_to_bp0: list[float], closest: int):
    dynamics = [
        series(s, 0, {0: kl_to_bp0}, closest=(4, 3, closest), order=(4, 3, 2)) for s in (0, 1)
    ]
    return run("mlm", [cell(s, 0, 0, 0.45, 0.5) for s in (0, 1)], dynamics, [0])


def test_a_staircase_that_stops_short_while_learning_is_not_refuted(tmp_path) -> None:
    moving = verdicts(claim_4(evidence(tmp_path, mlm=staircase(kl_curve(0.34, 0.069), 2))))
    verdict, reason, deciding = moving["mlm, depth l (the paper's tree)"]
    assert verdict == LEARNING and "final closest BP_2, BP_2" in deciding
    assert "still learning: KL(BP_0 || model) 0.0690 bits at the end" in reason
    stopped = verdicts(claim_4(evidence(tmp_path, mlm=staircase(kl_curve(0.0691, 0.069), 2))))
    assert stopped["mlm, depth l (the paper's tree)"][0] == FAILS
    assert "missing evidence" in stopped["mlm, depth l - 1 (a shallower tree, sized to finish)"][1]


# --- claim 9: fewer layers, other grammars -----------------------------------------------------


def test_fewer_layers_falling_short_while_learning_is_still_learning(tmp_path) -> None:
    full = run("root", [cell(s, 0, 0, 0.99, 1.0) for s in (0, 1)],
               [series(s, 0, {0: kl_curve(0.003, 0.002)}) for s in (0, 1)], [0])  # fmt: skip
    rows = [cell(s, 0, 0, 0.80, 1.0) for s in (0, 1)] + [cell(s, 4, 4, 0.53, 0.53) for s in (0, 1)]

    def few(kl0):
        dynamics = [series(s, 0, {0: kl0}) for s in (0, 1)]
        dynamics += [series(s, 4, {4: kl_curve(0.002, 0.002)}) for s in (0, 1)]
        return run("root", rows, dynamics, [0, 4])

    others = {
        f"other_grammar_{g}": run("root", [cell(0, k, k, 0.7, 0.7) for k in (0, 2, 4)],
                                  [series(0, k, {k: kl_curve(0.002, 0.002)}) for k in (0, 2, 4)],
                                  [0, 2, 4], seeds=(0,))
        for g in OTHER_GRAMMARS
    }  # fmt: skip
    learning = verdicts(claim_9(evidence(tmp_path, root=full, fewer_layers=few(kl_curve(0.9, 0.4)),
                                         **others)))  # fmt: skip
    assert learning["(a) fewer layers"][0] == LEARNING
    assert (
        "k = 0: l layers 0.987 ± 0.004, fewer 0.733 ± 0.004 (gap +0.253"
        in learning["(a) fewer layers"][2]
    )
    settled = verdicts(claim_9(evidence(tmp_path, root=full, fewer_layers=few([0.4] * 11),
                                        **others)))  # fmt: skip
    assert settled["(a) fewer layers"][0] == HOLDS
    assert settled["(b) other grammars"][0] == HOLDS
    assert settled["(b) other grammars"][2].startswith("over 2 grammar(s): k = 0: 1.000")
    one = dict(list(others.items())[:1])
    lone = verdicts(claim_9(evidence(tmp_path, root=full, fewer_layers=few([0.4] * 11), **one)))
    assert lone["(b) other grammars"][0] == INCONCLUSIVE
    assert "missing evidence: run other-grammar-15" in lone["(b) other grammars"][1]


# --- claim 5: P* as brackets ---------------------------------------------------------------------


def test_p_star_not_reached_is_a_bound_never_infinity_against_infinity() -> None:
    budgets = [512, 1024, 16384]
    never = bracket(0, budgets, [0.1, 0.2, 0.5], 0.9)
    assert (never.low, never.high, never.point) == (16384, math.inf, None)
    also_never = bracket(2, budgets, [0.2, 0.4, 0.8], 0.9)
    assert order_of([never, also_never]) == (False, False)  # inf vs inf: undecided
    assert order_of([never, never]) == (False, False)
    reached = bracket(4, budgets, [0.5, 0.95, 1.0], 0.9)
    assert (reached.low, reached.high) == (512, 1024) and 512 < reached.point < 1024
    assert order_of([never, reached]) == (True, False)  # (16384, inf] above (512, 1024]
    assert order_of([reached, never]) == (False, True)  # reversed: refuted
    # overlapping finite brackets decide nothing; a reversed middle pair spoils "holds"
    assert order_of([Bracket(0, 1024, 4096), Bracket(4, 2048, 8192)]) == (False, False)
    middle = [Bracket(0, 8192, 16384), Bracket(2, 1024, 2048), Bracket(3, 4096, 8192),
              Bracket(4, 256, 512)]  # fmt: skip
    assert order_of(middle) == (False, False)
    assert bracket(0, budgets, [0.95, 1.0, 1.0], 0.9).low == 0  # at or below the smallest P


# --- claim 7: attention --------------------------------------------------------------------------


def test_the_attention_criterion_separates_2_4_8_16_from_4_4_8_8() -> None:
    assert attention_check([2, 4, 8, 16], 0, 4) == (True, [2, 4, 8, 16])
    assert not attention_check([4, 4, 8, 8], 0, 4)[0]
    assert not attention_check([2, 4, 8, 8], 0, 4)[0]
    assert not attention_check([2, 4, None, 16], 0, 4)[0]
    # trained at k = 2 the blocks grow to 4 and stop there: any small block does not pass
    assert attention_check([2, 4, 4, 4], 2, 4) == (True, [2, 4, 4, 4])
    assert not attention_check([1, 1, 1, 1], 2, 4)[0]
    assert not attention_check([2, 4, 8, 4], 2, 4)[0]  # above 2^(l-k)
    # at k = l no block is correlated: layers without a block pass
    assert attention_check([None, 1, None, 1], 4, 4)[0]


# --- claim 3: the peak, free of its selection bias -----------------------------------------------


def test_the_peak_is_chosen_on_the_other_seeds() -> None:
    flat = [0.5] * 6
    spiky = [[0.5, 0.6, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.6, 0.5, 0.5]]
    rise, _ = peak_rise(spiky, 2048)
    assert rise.mean == pytest.approx(0.0)  # each seed's spike is not where the other peaks
    real = [[0.5, 0.7, 0.6, 0.5, 0.5, 0.45], [0.5, 0.68, 0.62, 0.5, 0.5, 0.46]]
    rise, peak = peak_rise(real, 2048)
    assert peak == 1 and rise.mean == pytest.approx((0.25 + 0.22) / 2)
    assert rise.n == 2 and rise.above(0)
    assert peak_rise([flat, flat], 2048)[0].se > 0  # two equal seeds keep the test-set error


def trained_at_0(seeds, *, final=0.55, peak=0.70, kl_end=0.05, kl_start=0.0501, stage=0.68):
    """root at k = 0 on ``seeds``: on k = 3 data (BP_3 0.70, BP_0 0.55) its accuracy rises
    to ``peak`` mid-training and ends at ``final``; its KL to BP_0 goes from ``kl_start`` to
    ``kl_end`` over the last checkpoints. The main run (seeds 0 and 1) is trained at k = 4
    too, whose BP_4 reaches ``stage`` on k = 3 data (the intermediate stage's room)."""
    rising = [0.3, 0.4, 0.5, 0.6, peak, peak, 0.65, 0.6, final, final, final]
    rows = [cell(s, 0, 0, 0.99, 1.0) for s in seeds]
    rows += [cell(s, 0, 3, final, 0.70, bp_train=0.55) for s in seeds]
    kl = [1.0] * 6 + kl_curve(kl_start, kl_end)[6:]
    dynamics = [series(s, 0, {0: kl}, accuracy={3: rising, 0: [0.99] * 11}) for s in seeds]
    if 0 not in seeds:
        return run("root", rows, dynamics, [0], seeds=seeds)
    rows += [cell(s, 4, 3, 0.68, 0.70, bp_train=stage) for s in seeds]
    rows += [cell(s, 4, 4, 0.53, 0.53) for s in seeds]
    return run("root", rows, dynamics, [0, 4], seeds=seeds)


def test_claim_3_on_pooled_checkpoints(tmp_path) -> None:
    two, more = trained_at_0((0, 1)), trained_at_0((2, 3))
    found = verdicts(claim_3(evidence(tmp_path, root=two, root_k0=more)))
    verdict, reason, deciding = found["root, trained at k = 0"]
    assert verdict == HOLDS, reason
    assert deciding.startswith("k = 3: rise 0.150 ± 0.")
    lone = verdicts(claim_3(evidence(tmp_path, root=two)))["root, trained at k = 0"]
    assert lone[0] == INCONCLUSIVE and "4096 < 8192 sequences" in lone[1]
    # no intermediate stage with room above BP_0 on k = 3 data: no level is judged
    roomless = verdicts(claim_3(evidence(tmp_path, root=trained_at_0((0, 1), stage=0.6),
                                         root_k0=more)))  # fmt: skip
    assert "no test level where a BP_j is 0.08 above BP_0" in roomless["root, trained at k = 0"][1]
    # no rise, ending far above BP_0: refuted once the model has stopped learning ...
    flat = trained_at_0((0, 1), final=0.65, peak=0.65)
    flat_more = trained_at_0((2, 3), final=0.65, peak=0.65)
    refuted = verdicts(claim_3(evidence(tmp_path, root=flat, root_k0=flat_more)))
    assert refuted["root, trained at k = 0"][0] == FAILS
    # ... and still learning while its KL to BP_0 falls
    moving = [trained_at_0(s, final=0.65, peak=0.65, kl_start=0.4) for s in ((0, 1), (2, 3))]
    learning = verdicts(claim_3(evidence(tmp_path, root=moving[0], root_k0=moving[1])))
    assert learning["root, trained at k = 0"][0] == LEARNING


# --- the plan the claims are judged on -----------------------------------------------------------


@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_every_part_runs_on_the_authors_seed_0_grammar(scale) -> None:
    plan = make_plan(scale)
    for part in plan.runs:
        assert part.overrides["grammar_args"] == MAIN_GRAMMAR["grammar_args"] == {"rng": "authors"}
        expected = int(part.name.rsplit("-", 1)[1]) if part.name.startswith("other-") else 0
        assert part.overrides["grammar_seed"] == expected
        assert part.model_args["n_checkpoints"] > 0  # every run can be gated on convergence
    for part in plan.sweeps:  # the grammar, and at the cpu scale its test-set sizes
        assert {k: v for k, v in part.changes.set.items() if k != "n_test"} == MAIN_GRAMMAR
    if scale == "cpu":
        tested = [*plan.runs, *plan.sweeps]
        sizes = [
            p.overrides.get("n_test") if hasattr(p, "overrides") else p.changes.set.get("n_test")
            for p in tested
            if p.name != "mlm-shallow"
        ]
        assert sizes == [list(CPU_TEST)] * len(sizes)
    root, few = plan.run("root"), plan.run("fewer-layers")
    assert {**few.model_args, "n_layers": None} == {**root.model_args, "n_layers": None}
    assert {k: v for k, v in few.overrides.items() if k != "train_filters"} == root.overrides
    assert few.overrides["train_filters"] == [0, plan.depth]
    others = [p for p in plan.runs if p.name.startswith("other-grammar")]
    assert len(others) >= 2 and all(p.overrides["sigma"] == 1.0 for p in others)
    assert plan.run("mlm-shallow").overrides["depth"] == plan.depth - 1
    probe = next(a for a in plan.analyses if a.analysis == "probe")
    attention = next(a for a in plan.analyses if a.analysis == "attention")
    assert probe.run == attention.run == "mlm" and probe.options["hidden"] is True


def test_claims_get_their_seeds_at_the_cpu_scale() -> None:
    plan = make_plan("cpu")
    checkpoints = plan.seeds + plan.run("root-k0").overrides["seeds"]
    assert len(checkpoints) * 2048 >= 8192  # claim 3: the checkpoints of every seed at k = 0
    pretraining = next(p for p in plan.sweeps if p.name == "pretraining")
    assert len(pretraining.changes.axes["seed"]) >= 4
    assert set(pretraining.changes.init) == set(pretraining.changes.axes["seed"])


def test_a_sweep_stage_loads_each_seeds_encoder(tmp_path) -> None:
    plan = make_plan("cpu")
    part = next(p for p in plan.sweeps if p.name == "pretraining")
    config = part_stage(part, part.stages[0], tmp_path, "cpu")
    assert config.set["grammar_args"] == {"rng": "authors"} and config.set["grammar_seed"] == 0
    assert config.set["test_filters"] == [0]  # the file's own fields stay
    assert config.axes["seed"] == [0, 1, 2, 3]
    loads = [(e.label, e.axes["seed"], e.args["init"]) for e in config.models if "init" in e.args]
    assert len(loads) == 2 * 4  # frozen and fine-tuned, one entry per seed
    for label, seeds, init in loads:
        (seed,) = seeds
        run = "mlm" if seed in plan.seeds else "mlm-k0"
        assert init == str((tmp_path / f"runs/{run}_models/s{seed}_k0.pt").resolve()), label
    assert all(e.args["n_heads"] == 4 for e in config.models if e.name == "transformer")
