"""Registers `lcn` and `torch-module`; only their pydantic configs are imported here, never
torch."""

from __future__ import annotations

from hbench import hookimpl

from .configs import LCNConfig, TorchModuleConfig


@hookimpl
def hbench_register_models(register) -> None:
    register(
        "lcn",
        "hbench_nets.lcn:LCNModel",
        LCNConfig,
        description="locally connected network of the RHM papers (filters of the tree's arity,"
        " stride = arity; shared=true: the convolutional one); root",
        uses_torch=True,
    )
    register(
        "torch-module",
        "hbench_nets.torch_module:TorchModuleModel",
        TorchModuleConfig,
        description="any torch.nn.Module from token ids to logits (module=package.module:Class)"
        ", trained by hbench's loop",
        uses_torch=True,
    )
