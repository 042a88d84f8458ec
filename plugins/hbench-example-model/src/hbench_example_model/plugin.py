"""Registers the tree network; only its pydantic config is imported here, never torch."""

from __future__ import annotations

from hbench import hookimpl

from .configs import TreeNetConfig


@hookimpl
def hbench_register_models(register) -> None:
    register(
        "treenet",
        "hbench_example_model.model:TreeNetModel",
        TreeNetConfig,
        description="layers mirror the tree: sum-product merges of sibling blocks (exact BP at"
        " channels=q)",
        uses_torch=True,
    )
