"""Registers the cfg grammar, its filter and its oracle through the public hooks.

Only the pydantic configs are imported here; the factories are strings, resolved when an item
is created, so that listing plugins stays cheap.
"""

from __future__ import annotations

from hbench import hookimpl

from .configs import CFGFilterConfig, CFGGrammarConfig, InsideOutsideConfig


@hookimpl
def hbench_register_grammars(register) -> None:
    register(
        "cfg",
        "hbench_cfg.factories:cfg_grammar",
        CFGGrammarConfig,
        description="layered probabilistic context-free grammar (cfg3 style, Allen-Zhu & Li):"
        " symbols per level, rules of 2 or 3 symbols, varying lengths, unknown parse",
    )


@hookimpl
def hbench_register_filters(register) -> None:
    register(
        "cfg",
        "hbench_cfg.factories:CFGFilter",
        CFGFilterConfig,
        description="level 0 only (the cfg itself); other levels are refused",
    )


@hookimpl
def hbench_register_oracles(register) -> None:
    register(
        "inside-outside",
        "hbench_cfg.factories:InsideOutsideOracle",
        InsideOutsideConfig,
        description="exact inside-outside on a cfg: root, leaf, next-symbol and span"
        " posteriors, log-likelihood",
    )


@hookimpl
def hbench_register_suites(register) -> None:
    from .suites import SUITES

    for suite in SUITES:
        register(suite.name, suite)
