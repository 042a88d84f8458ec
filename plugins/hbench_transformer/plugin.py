"""Registers the transformer; only its pydantic config is imported here, never torch."""

from __future__ import annotations

from hbench import hookimpl

from .configs import TransformerConfig


@hookimpl
def hbench_register_models(register) -> None:
    register(
        "transformer",
        "hbench_transformer.model:TransformerModel",
        TransformerConfig,
        description="encoder-only transformer of the paper (presets cpu, paper)",
        uses_torch=True,
    )
