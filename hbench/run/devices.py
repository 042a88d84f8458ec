"""``--device auto|cpu|cuda``, resolved only when a model asks, so that models without torch
never pay for importing it."""

from __future__ import annotations

import importlib.util
from functools import cache

from hbench.errors import invalid

DEVICES = ("auto", "cpu", "cuda")


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


@cache
def resolve_device(choice: str) -> str:
    """ "cpu" or "cuda": auto picks CUDA when torch sees a GPU; cuda without one is an error."""
    if choice not in DEVICES:
        raise invalid("--device", choice, f"one of {', '.join(DEVICES)}")
    if choice == "cpu":
        return "cpu"
    if _cuda_available():
        return "cuda"
    if choice == "cuda":
        raise invalid("--device", choice, "a machine where torch sees a CUDA GPU (none here)")
    return "cpu"


def device_used(choice: str) -> str:
    """The device a torch model would have used; without torch loaded, nothing ran on a GPU."""
    import sys

    if "torch" not in sys.modules:
        return "cpu"
    return resolve_device(choice)
