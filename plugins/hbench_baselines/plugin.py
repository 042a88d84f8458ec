"""Registers the built-in reference models through the public hook.

Only the pydantic configs are imported here; the factories are strings, resolved when a model
is created, so that listing plugins stays cheap.
"""

from __future__ import annotations

from hbench import hookimpl

from .configs import BPModelConfig, NaiveBayesConfig, PriorConfig, TreeEMConfig


@hookimpl
def hbench_register_models(register) -> None:
    register(
        "prior",
        "hbench_baselines.models:PriorModel",
        PriorConfig,
        description="training class frequencies (add-one smoothed), whatever the input: the floor",
    )
    register(
        "naive-bayes",
        "hbench_baselines.models:NaiveBayesModel",
        NaiveBayesConfig,
        description="naive Bayes per query position from training counts; exact for root at k=l",
    )
    register(
        "tree-em",
        "hbench_baselines.tree_em:TreeEMModel",
        TreeEMConfig,
        description="tree of known shape (arity), rules fitted by EM, answers by BP of the fit",
        build_imports=("hbench_tree",),  # BP on the grammar it fitted (the audit's exemption)
    )
    register(
        "bp",
        "hbench_baselines.models:BPModel",
        BPModelConfig,
        description="exact BP of the training level (or assume_filter): the ceiling; privileged",
        privileged=True,
    )
