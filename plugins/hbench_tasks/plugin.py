"""Registers the built-in tasks through the public hook.

Only the pydantic configs are imported here; the factories are strings, resolved when a task
is created, so that listing plugins stays cheap.
"""

from __future__ import annotations

from hbench import hookimpl

from .configs import (
    AncestorTaskConfig,
    DenoiseTaskConfig,
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
