"""The built-in suites: the benchmark presets of the tree grammars (``hierarchical``, ``rhm``).

Registered through ``hbench_register_suites`` like any plugin's suites; a suite names its
grammar and that grammar's options, so these live with the grammars they use.
"""

from __future__ import annotations

from hbench.suites import Suite

#: Test sequences per level of the leaderboard suites: the standard error of a per-level
#: normalised accuracy stays at most 0.01 (at k = l, acc_bp - 1/q is 0.30, and a model that
#: disagrees with BP on a fifth of the queries needs about 2 * 10^4 questions; BP answers them
#: in a fraction of a second, a small model in seconds).
N_TEST = 1 << 15

#: The Random Hierarchy Model suites (q is v). cpu: P* ~ n_c m^L = 2048 sequences, so P = 2^14
#: asks a network for the whole hierarchy at a few times the theory's budget; paper-sized:
#: P* ~ 32 * 8^4 = 2^17 (Cagnetta, Petrini, Tomasini, Favero, Wyart, PRX 2024).
RHM_CPU = {"n_c": 8, "m": 4, "s": 2}
RHM_PAPER = {"n_c": 32, "m": 8, "s": 2}
#: One child pair of the sixteen (q = 4, binary) also produced by a second parent: the
#: smallest ambiguity of the cpu grammar, which already makes k = 0 non-deterministic (BP's
#: root accuracy 0.7 to 0.95 depending on the grammar, instead of 1).
AMBIGUITY = 1 / 16

#: In the order ``hbench list suites`` shows them.
SUITES: tuple[Suite, ...] = (
    Suite(
        name="smoke",
        description="seconds: for tests and `hbench check`",
        depth=3,
        P=512,
        n_test=256,
        n_ood=128,
    ),
    Suite(
        name="cpu",
        description="the default: q=4, l=4, every level, sized for a 2-core CPU",
        leaderboard=True,
        P=1 << 14,
        n_test=N_TEST,
        n_ood=1000,
    ),
    Suite(
        name="paper",
        description="the paper's sizes: P=2^17 (2^18 for mlm), for a GPU",
        leaderboard=True,
        P=1 << 17,
        budgets={"mlm": 1 << 18},
        n_test=N_TEST,
        n_ood=10_000,
    ),
    Suite(
        name="rhm-cpu",
        description="Random Hierarchy Model: v=8, n_c=8, m=4, s=2, L=4, sized for a 2-core CPU",
        leaderboard=True,
        grammar="rhm",
        q=8,
        grammar_args=RHM_CPU,
        P=1 << 14,
        n_test=N_TEST,
        n_ood=1000,
    ),
    Suite(
        name="next-token-cpu",
        description="next-token on the cpu suite's grammar (q=4, l=4), sized for a 2-core CPU",
        leaderboard=True,
        task="next-token",
        P=1 << 14,
        n_test=N_TEST,
        n_ood=1000,
    ),
    Suite(
        name="ambiguous-cpu",
        description="the cpu suite's grammar with 1 of 16 child pairs shared by two parents",
        leaderboard=True,
        grammar_args={"ambiguity": AMBIGUITY},
        P=1 << 14,
        n_test=N_TEST,
        n_ood=1000,
    ),
    Suite(
        name="rhm-paper",
        description="Random Hierarchy Model: v=32, n_c=32, m=8, s=2, L=4, P=2^18, for a GPU",
        leaderboard=True,
        grammar="rhm",
        q=32,
        grammar_args=RHM_PAPER,
        P=1 << 18,
        n_test=N_TEST,
        n_ood=10_000,
    ),
    Suite(
        name="next-token-paper",
        description="next-token on the paper's grammar, P=2^17, for a GPU",
        leaderboard=True,
        task="next-token",
        P=1 << 17,
        n_test=N_TEST,
        n_ood=10_000,
    ),
)
