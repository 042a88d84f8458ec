"""Registers the gpt model; only its pydantic config is imported here, never torch."""

from __future__ import annotations

from hbench import hookimpl

from .configs import GPTModelConfig


@hookimpl
def hbench_register_models(register) -> None:
    register(
        "gpt",
        "hbench_gpt.model:GPTModel",
        GPTModelConfig,
        description="decoder-only transformer (causal, pre-LN; presets cpu, paper)",
        uses_torch=True,
    )
