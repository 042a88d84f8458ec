"""Registers the built-in tree grammars, filter and oracle through the public hooks.

Only the pydantic configs are imported here; the factories are strings, resolved when an item
is created, so that listing plugins stays cheap.
"""

from __future__ import annotations

from hbench import hookimpl

from .configs import (
    BPConfig,
    HierarchicalFilterConfig,
    HierarchicalGrammarConfig,
    RHMGrammarConfig,
)


@hookimpl
def hbench_register_grammars(register) -> None:
    register(
        "hierarchical",
        "hbench_tree.factories:hierarchical_grammar",
        HierarchicalGrammarConfig,
        description="random tree grammar of the paper (Garnier-Brun et al., ICML 2025): q,"
        " depth, sigma, seed; arity s, a tensor per level, ambiguity, n_c classes",
    )
    register(
        "rhm",
        "hbench_tree.factories:rhm_grammar",
        RHMGrammarConfig,
        description="Random Hierarchy Model (Cagnetta et al., PRX 2024): v symbols, n_c classes,"
        " m unambiguous rules per symbol, arity s, depth L",
    )


@hookimpl
def hbench_register_filters(register) -> None:
    register(
        "hierarchical",
        "hbench_tree.factories:HierarchicalFilter",
        HierarchicalFilterConfig,
        description="level k: depth-k nodes independent given the root",
    )


@hookimpl
def hbench_register_oracles(register) -> None:
    register(
        "bp",
        "hbench_tree.factories:BPOracle",
        BPConfig,
        description="exact belief propagation: root, leaf and node posteriors, log-likelihood",
    )


@hookimpl
def hbench_register_suites(register) -> None:
    from .suites import SUITES

    for suite in SUITES:
        register(suite.name, suite)


@hookimpl
def hbench_register_metrics(register) -> None:
    """The scores against the exact oracle (BP) that every result records (`hbench.scoring`)."""
    from hbench.scoring import BUILTIN_METRICS

    for name, (function, direction, description) in BUILTIN_METRICS.items():
        register(name, function, description=description, direction=direction)


@hookimpl
def hbench_register_analyses(register) -> None:
    """The analyses of `hbench.analysis`: of one run (rebuilt with these grammars, filter and
    oracle), or of a sweep's folder of runs."""
    from hbench.analysis.all import AllOptions
    from hbench.analysis.attention import AttentionOptions
    from hbench.analysis.budget import BudgetOptions
    from hbench.analysis.calibration import CalibrationOptions
    from hbench.analysis.mismatch import MismatchOptions
    from hbench.analysis.probe import ProbeOptions
    from hbench.analysis.sample_complexity import SampleComplexityOptions
    from hbench.analysis.transition import TransitionOptions

    register(
        "attention",
        "hbench.analysis.attention:report",
        AttentionOptions,
        description="attention maps per layer and training level, and the block size each"
        " layer attends within",
        in_all=True,
        examples=[
            "hbench analyze attention results/<run>.json",
            "hbench analyze attention results/<run>.json --sequences 10000 --data-filter 0",
        ],
    )
    register(
        "probe",
        "hbench.analysis.probe:report",
        ProbeOptions,
        description="probe accuracy of every layer for the ancestor at every depth, next to BP's",
        in_all=True,
        examples=[
            "hbench analyze probe results/<run>.json",
            "hbench analyze probe results/<run>.json --hidden    # 64-ReLU probes",
        ],
    )
    register(
        "mismatch",
        "hbench.analysis.mismatch:report",
        MismatchOptions,
        description="accuracy and KL of a model against BP_k_train and BP_k_test, per cell",
        in_all=True,
        examples=[
            "hbench analyze mismatch results/<run>.json",
            "hbench analyze mismatch results/<run>.json --out reports/",
        ],
    )
    register(
        "calibration",
        "hbench.analysis.calibration:report",
        CalibrationOptions,
        description="model probabilities against BP's, entry by entry: calibration scatter"
        " and binned curve",
        examples=[
            "hbench analyze calibration results/<run>.json",
            "hbench analyze calibration results/<run>.json --sequences 2048 --device auto",
        ],
    )
    register(
        "all",
        "hbench.analysis.all:report",
        AllOptions,
        description="every analysis of one run that joins 'all' (attention, probe, mismatch)",
        examples=[
            "hbench analyze all results/<run>.json",
            "hbench analyze all results/<run>.json --out reports/ --json",
        ],
    )
    register(
        "sample-complexity",
        "hbench.analysis.sample_complexity:report",
        SampleComplexityOptions,
        description="normalised accuracy against the budget P per model and level, and P*"
        " (from a sweep)",
        source="folder",
        examples=[
            "hbench analyze sample-complexity results/sweeps/cpu-sample-complexity",
            "hbench analyze sample-complexity OUT --target 0.9 --json",
        ],
    )
    register(
        "budget",
        "hbench.analysis.budget:report",
        BudgetOptions,
        description="test accuracy against the budget P, with BP's accuracy (from a sweep)",
        source="folder",
        examples=[
            "hbench analyze budget results/sweeps/cpu-sample-complexity",
            "hbench analyze budget OUT --lines label --out budget.png",
        ],
    )
    register(
        "transition",
        "hbench.analysis.transition:report",
        TransitionOptions,
        description="denoising: accuracy against the channel noise epsilon, a curve per tree"
        " depth (from a sweep)",
        source="folder",
        examples=[
            "hbench analyze transition results/sweeps/denoise-transition",
            "hbench analyze transition OUT --out transition.png --json",
        ],
    )
