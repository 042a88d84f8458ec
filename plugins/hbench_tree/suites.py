"""The built-in suites: the benchmark presets of the tree grammars (``hierarchical``, ``rhm``).

Registered through ``hbench_register_suites`` like any plugin's suites; a suite names its
grammar and that grammar's options, so these live with the grammars they use.
"""

from __future__ import annotations

from hbench.suites import Suite

#: Test sequences per level where BP is far from chance, the least any leaderboard level gets.
N_TEST = 1 << 15

#: Test sequences per filter level k = 0..4 of the leaderboard suites, measured by
#: benchmarks/size_test_sets.py (256 random grammars each, as official runs draw them; its
#: output is in benchmarks/README.md): the test-set standard error of normalised accuracy
#: (acc - chance) / (acc_bp - chance) stays at most 0.01 for a model at chance that shares
#: nothing with BP, on 98% of the grammars (at the 2nd percentile of BP's gap above chance),
#: and no level gets fewer than `N_TEST`. The gap shrinks as k grows and varies between
#: grammars, so the high levels need up to 30 times more questions (at k = 4 the gap's 2nd
#: percentile is 0.06 for root and 0.04 for mlm on the cpu grammar). The cpu suite serves
#: root and mlm, so it takes the larger of their sizes at each level; the paper suites'
#: grammars are the cpu suites' (rhm-paper's its own, measured on 32 grammars: BP's gap varies
#: little between the paper-sized RHM's grammars).
CPU_TEST = (39_936, 38_912, 53_248, 184_320, 1_207_296)
RHM_CPU_TEST = (N_TEST, N_TEST, N_TEST, 50_176, 145_408)
AMBIGUOUS_TEST = (N_TEST, N_TEST, 66_560, 174_080, 464_896)
NEXT_TOKEN_TEST = (N_TEST, N_TEST, N_TEST, N_TEST, 36_864)
RHM_PAPER_TEST = (N_TEST, N_TEST, N_TEST, 68_608, 446_464)

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
        n_test=CPU_TEST,
        n_ood=1000,
    ),
    Suite(
        name="paper",
        description="the paper's sizes: P=2^17 (2^18 for mlm), for a GPU",
        leaderboard=True,
        P=1 << 17,
        budgets={"mlm": 1 << 18},
        n_test=CPU_TEST,
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
        n_test=RHM_CPU_TEST,
        n_ood=1000,
    ),
    Suite(
        name="next-token-cpu",
        description="next-token on the cpu suite's grammar (q=4, l=4), sized for a 2-core CPU",
        leaderboard=True,
        task="next-token",
        P=1 << 14,
        n_test=NEXT_TOKEN_TEST,
        n_ood=1000,
    ),
    Suite(
        name="ambiguous-cpu",
        description="the cpu suite's grammar with 1 of 16 child pairs shared by two parents",
        leaderboard=True,
        grammar_args={"ambiguity": AMBIGUITY},
        P=1 << 14,
        n_test=AMBIGUOUS_TEST,
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
        n_test=RHM_PAPER_TEST,
        n_ood=10_000,
    ),
    Suite(
        name="next-token-paper",
        description="next-token on the paper's grammar, P=2^17, for a GPU",
        leaderboard=True,
        task="next-token",
        P=1 << 17,
        n_test=NEXT_TOKEN_TEST,
        n_ood=10_000,
    ),
)
