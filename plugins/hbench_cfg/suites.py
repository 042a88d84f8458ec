"""The cfg grammar's suites, registered through ``hbench_register_suites``.

Both use binary rules (``arities=[2]``): every sequence then has 2**depth symbols, which the
built-in tasks and models take as they are, while the symbols at each level, shared
right-hand sides and the n_c = 3 root classes keep the parse of a string ambiguous. Grammars
with ternary rules as well make sequences of varying lengths (padded, `hbench.contracts.PAD`);
the oracle answers them, and suites of them wait for padded inputs in the model contract.
Only level 0 is defined for a cfg (see `hbench_cfg.factories.CFGFilter`).
"""

from __future__ import annotations

from hbench.suites import Suite

#: The grammar of both suites: 3 terminals, 3 symbols per level, 3 root classes, 2 or 3
#: binary rules per symbol with uniform weights (cfg3's choice), drawn from the grammar seed.
CFG_ARGS = {"nonterminals": 3, "roots": 3, "rules": 2, "max_rules": 3, "arities": [2]}

SUITES: tuple[Suite, ...] = (
    Suite(
        name="cfg-smoke",
        description="context-free grammar (cfg), binary rules, length 8: seconds, for tests",
        grammar="cfg",
        filter="cfg",
        oracle="inside-outside",
        q=3,
        depth=3,
        sigma=0.0,
        grammar_args=CFG_ARGS,
        P=512,
        n_test=256,
        n_ood=128,
        train_filters=[0],
        test_filters=[0],
    ),
    Suite(
        name="cfg-cpu",
        description="context-free grammar (cfg): q=3, 3 symbols per level, binary rules,"
        " length 32, sized for a 2-core CPU",
        grammar="cfg",
        filter="cfg",
        oracle="inside-outside",
        q=3,
        depth=5,
        sigma=0.0,
        grammar_args=CFG_ARGS,
        P=1 << 14,
        n_test=1 << 14,
        n_ood=1000,
        train_filters=[0],
        test_filters=[0],
    ),
)
