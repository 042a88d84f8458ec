"""The suites of the generation task, registered through ``hbench_register_suites``.

Both use the Random Hierarchy Model (``rhm``) at every filter level: its rules use only some of
the child tuples, so that a sequence can fail to parse and coherence means something (under
the paper's grammar every child pair has a parent, so every string parses), and the cells off
the diagonal say which level's law a model's sequences follow. The next-token answers are
scored on the test sets as on ``next-token-cpu``; the model's sequences, ``samples`` of them
per fit (a task option, 4096 by default), are scored against as many of each test set's
sequences. Neither has a leaderboard yet: a board ranks by the next-token headline, which is
not what this task is about.
"""

from __future__ import annotations

from hbench.suites import Suite

SUITES: tuple[Suite, ...] = (
    Suite(
        name="generate-smoke",
        description="generation, Random Hierarchy Model v=4, n_c=4, m=2, s=2, L=3: seconds",
        task="generate",
        grammar="rhm",
        q=4,
        grammar_args={"n_c": 4, "m": 2, "s": 2},
        depth=3,
        P=512,
        n_test=256,
        n_ood=128,
    ),
    Suite(
        name="generate-cpu",
        description="generation, Random Hierarchy Model v=8, n_c=8, m=4, s=2, L=4 (rhm-cpu's),"
        " sized for a 2-core CPU: 2^14 training sequences, 4096 drawn per fit",
        task="generate",
        grammar="rhm",
        q=8,
        grammar_args={"n_c": 8, "m": 4, "s": 2},
        P=1 << 14,
        n_test=1 << 15,
        n_ood=1000,
    ),
)
