"""``--device auto|cpu|cuda``, resolved only when a model asks, so that models without torch
never pay for importing it."""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any

from hbench.errors import UsageError, invalid

DEVICES = ("auto", "cpu", "cuda")


#: What to install for a model that needs torch (the ``torch`` extra of hbench's package).
TORCH_EXTRA = "pip install 'hbench[torch]'"


def torch_installed() -> bool:
    """Whether torch can be imported here, without importing it (torch is an optional extra:
    the oracle, the data commands and the numpy models run without it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a finder that refuses it, a broken half-installed one
        return False


def check_torch(entry: Any) -> None:
    """One line, before anything is built, for an item registered with ``uses_torch=True``
    (its factory imports torch) where torch is not installed."""
    if entry.metadata.get("uses_torch") and not torch_installed():
        raise UsageError(f"{entry.label} needs torch: {TORCH_EXTRA}")


def _cuda_available() -> bool:
    if not torch_installed():
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
