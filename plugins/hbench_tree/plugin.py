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
