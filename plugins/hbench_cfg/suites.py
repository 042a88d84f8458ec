"""The cfg grammar's suites, registered through ``hbench_register_suites``.

``cfg-smoke`` and ``cfg-cpu`` use binary rules (``arities=[2]``): every sequence then has
2**depth symbols, which every task and model takes as it is, while the symbols at each level,
shared right-hand sides and the n_c = 3 root classes keep the parse of a string ambiguous.

``cfg-var-smoke`` and ``cfg-var-cpu`` draw rules of 2 and 3 symbols (``arities=[2, 3]``), so
that sequences vary in length (2**depth to 3**depth symbols) as well as in parse: inputs are
padded (`hbench.contracts.TaskSpec.pad_id`, `TaskData.lengths`), and only a model that
declares ``variable_length`` runs on them (transformer, gpt, bp, naive-bayes, prior; others
are refused in one line before any fit). Their tasks are root, mlm (a real symbol masked) and
next-token (causal view: P(x_i | x_<i, the length) at every real position); ancestor and
denoise ask about fixed places of a fixed tree and are refused.

Only level 0 is defined for a cfg, in every suite (train_filters = test_filters = [0]; any
other level is refused in one line, see `hbench_cfg.factories.CFGFilter`): filtering does not
carry over to a grammar whose number of nodes at a level varies with the derivation.
"""

from __future__ import annotations

from hbench.suites import Suite

#: The grammar of both suites: 3 terminals, 3 symbols per level, 3 root classes, 2 or 3
#: binary rules per symbol with uniform weights (cfg3's choice), drawn from the grammar seed.
CFG_ARGS = {"nonterminals": 3, "roots": 3, "rules": 2, "max_rules": 3, "arities": [2]}
#: The variable-length suites' grammar: the same, with rules of 2 or 3 symbols.
CFG_VAR_ARGS = {**CFG_ARGS, "arities": [2, 3]}
#: cfg-cpu's test sequences (its one level, k = 0), by the tree suites' rule
#: (plugins/hbench_tree/suites.py, `CPU_TEST`): measured by benchmarks/size_test_sets.py on 256
#: random grammars, as official runs draw them (output in benchmarks/README.md), so that the
#: test-set standard error of normalised accuracy stays at most 0.01 for a model at chance that
#: shares nothing with BP on 98% of the grammars. The root of a cfg string is hard to tell even
#: for the exact posterior: BP's gap above chance (1/3) is 0.10 at the median grammar and 0.03 at
#: the 2nd percentile, hence 70 times the tree suites' least size.
CFG_CPU_TEST = 2_300_928

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
        leaderboard=True,
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
        n_test=CFG_CPU_TEST,
        n_ood=1000,
        train_filters=[0],
        test_filters=[0],
    ),
    Suite(
        name="cfg-var-smoke",
        description="context-free grammar (cfg), rules of 2 or 3 symbols: lengths 8 to 27,"
        " padded; filter level 0 only; seconds, for tests",
        grammar="cfg",
        filter="cfg",
        oracle="inside-outside",
        q=3,
        depth=3,
        sigma=0.0,
        grammar_args=CFG_VAR_ARGS,
        P=512,
        n_test=256,
        n_ood=128,
        train_filters=[0],
        test_filters=[0],
    ),
    Suite(
        name="cfg-var-cpu",
        description="context-free grammar (cfg): q=3, 3 symbols per level, rules of 2 or 3"
        " symbols, lengths 16 to 81 (about 41 on average), padded; filter level 0 only;"
        " sized for a 2-core CPU",
        grammar="cfg",
        filter="cfg",
        oracle="inside-outside",
        q=3,
        depth=4,
        sigma=0.0,
        grammar_args=CFG_VAR_ARGS,
        P=1 << 14,
        n_test=1 << 14,
        n_ood=1000,
        train_filters=[0],
        test_filters=[0],
    ),
)
