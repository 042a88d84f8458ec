"""The suites of the generation and denoising tasks, registered through
``hbench_register_suites``.

Both use the Random Hierarchy Model (``rhm``) at every filter level: its rules use only some of
the child tuples, so that a sequence can fail to parse and coherence means something (under
the paper's grammar every child pair has a parent, so every string parses), and the cells off
the diagonal say which level's law a model's sequences follow. The next-token answers are
scored on the test sets as on ``next-token-cpu``; the model's sequences, ``samples`` of them
per fit (a task option, 4096 by default), are scored against as many of each test set's
sequences. generate-cpu has a leaderboard, ranked by the task's own headline
(``gen_fidelity``, `hbench_tasks.generate`: 1 for exact sampling from the grammar, 0 for
sequences it cannot produce), not by the next-token one, which is shown beside it; its
sampling error with 4096 sequences is about 0.003 a cell (a ranked row needs at most 0.01).

The denoising suites use the cpu suite's grammar (``hierarchical``, q=4, l=4) and fix the
task's options in the suite (``task_args``: they decide the question, so they are part of its
hash): the root is asked (the observable of the reconstruction transition), through a channel
of noise epsilon = 0.15, where BP recovers the root of a depth-4 tree about 56% of the time
(the median over random grammars at filter level 0; chance 25%, and 1 at epsilon = 0), so a
model has something to learn at every level; the
``denoise-transition`` sweep shows BP's root accuracy against epsilon at depths 2 to 5.
``--task-arg target=leaves`` (or ``epsilon=...``) asks another question, a suite of another
hash. Test sets are sized per level (benchmarks/size_test_sets.py).
"""

from __future__ import annotations

from hbench.suites import Suite

#: The denoising suites' question: the root, through a channel of noise 0.15.
DENOISE_TASK_ARGS = {"epsilon": 0.15, "target": "root"}

#: denoise-cpu's test sequences per filter level 0..4: at least 2^15, else what keeps the
#: test-set error of normalised accuracy at most 0.01 (benchmarks/size_test_sets.py).
DENOISE_CPU_N_TEST = (62464, 90112, 168960, 395264, 901120)

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
        leaderboard=True,
        task="generate",
        grammar="rhm",
        q=8,
        grammar_args={"n_c": 8, "m": 4, "s": 2},
        P=1 << 14,
        n_test=1 << 15,
        n_ood=1000,
    ),
    Suite(
        name="denoise-smoke",
        description="denoising: the root of the smoke suite's grammar (q=4, l=3) through a"
        " channel of noise 0.15: seconds, for tests",
        task="denoise",
        task_args=DENOISE_TASK_ARGS,
        depth=3,
        P=512,
        n_test=256,
        n_ood=128,
    ),
    Suite(
        name="denoise-cpu",
        description="denoising: the root of the cpu suite's grammar (q=4, l=4) through a"
        " channel of noise 0.15, sized for a 2-core CPU",
        leaderboard=True,
        task="denoise",
        task_args=DENOISE_TASK_ARGS,
        P=1 << 14,
        n_test=DENOISE_CPU_N_TEST,
        n_ood=1000,
    ),
)
