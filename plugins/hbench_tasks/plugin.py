"""Registers the built-in tasks through the public hook.

Only the pydantic configs are imported here; the factories are strings, resolved when a task
is created, so that listing plugins stays cheap.
"""

from __future__ import annotations

from hbench import hookimpl

from .configs import (
    AncestorTaskConfig,
    DenoiseTaskConfig,
    GenerateTaskConfig,
    MLMTaskConfig,
    NextTokenTaskConfig,
    RootTaskConfig,
)


@hookimpl
def hbench_register_tasks(register) -> None:
    register(
        "root",
        "hbench_tasks.root:RootTask",
        RootTaskConfig,
        description="root classification: every leaf seen, the root symbol asked",
    )
    register(
        "mlm",
        "hbench_tasks.mlm:MLMTask",
        MLMTaskConfig,
        description="masked leaf prediction: masked leaves or spans (token q) asked given the rest",
    )
    register(
        "ancestor",
        "hbench_tasks.ancestor:AncestorTask",
        AncestorTaskConfig,
        description="every leaf's ancestor at one depth (option depth), all leaves seen",
    )
    register(
        "next-token",
        "hbench_tasks.next_token:NextTokenTask",
        NextTokenTaskConfig,
        description="every symbol given its prefix: P(x_i | x_<i) at each position",
    )
    register(
        "denoise",
        "hbench_tasks.denoise:DenoiseTask",
        DenoiseTaskConfig,
        description="leaves through a q-ary symmetric channel (epsilon): each clean leaf"
        " (target=leaves) or the root (target=root) asked given the noisy sequence",
    )
    register(
        "generate",
        "hbench_tasks.generate:GenerateTask",
        GenerateTaskConfig,
        description="trained as next-token; the model's own sequences (sample(n, rng)) scored"
        " by exact log-likelihood, coherence depth and n-gram laws",
    )


#: The scores of generated sequences, name -> (direction, description), recorded in the cells
#: of task generate only; their functions are `hbench_tasks.generate`'s of the same name.
GENERATION_METRICS: dict[str, tuple[str, str]] = {
    "gen_loglik": ("higher", "mean log2 P(x) of the model's sequences, bits per sequence"),
    "gen_loglik_se": ("lower", "standard error of gen_loglik"),
    "gen_loglik_ref": ("higher", "mean log2 P(x) of the grammar's own sequences (-entropy)"),
    "gen_valid": ("higher", "share of the model's sequences the grammar can produce"),
    "gen_coherence": ("higher", "mean (coherence depth + 1) / (depth + 1) of the sequences"),
    "gen_ngram_tv": ("lower", "total variation of the sequences' n-gram law from the exact"),
    "gen_ngram_tv_ref": ("lower", "the same for the grammar's own sequences (sampling floor)"),
    "gen_fidelity": (
        "higher",
        "(1 - D) / (1 - D of the grammar's own sequences), D = max(1 - valid, ngram_tv), a"
        " lower bound on the total variation from the grammar's law: 1 = exact sampling",
    ),
    "gen_fidelity_se": ("lower", "bootstrap standard error of gen_fidelity"),
}


@hookimpl
def hbench_register_suites(register) -> None:
    """The generation and denoising tasks' suites (`hbench_tasks.suites`)."""
    from .suites import SUITES

    for suite in SUITES:
        register(suite.name, suite)


@hookimpl
def hbench_register_metrics(register) -> None:
    """The scores of generated sequences (`hbench_tasks.generate`), for task generate only."""
    for name, (direction, description) in GENERATION_METRICS.items():
        register(
            name,
            f"hbench_tasks.generate:{name}",
            description=description,
            direction=direction,
            tasks=("generate",),
        )
