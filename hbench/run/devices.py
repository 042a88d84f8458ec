"""``--device auto|cpu|cuda``, resolved only when a model asks, so that models without torch
never pay for importing it."""

from __future__ import annotations

import importlib.util
import re
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


def fit_runtime(choice: str) -> dict[str, str | None]:
    """Where a fit ran, told by the process that ran it (a worker's harness never imports
    torch, so only the worker knows): the device it used for ``choice``, the torch version it
    imported (None without torch) and the CUDA GPU's name (None on the CPU)."""
    from hbench.results.environment import gpu_name, torch_version

    device = device_used(choice)
    return {"device": device, "torch": torch_version(), "gpu": gpu_name(device)}


#: What a worker may say about where its fit ran (`checked_runtime`): a device, a version
#: and a GPU name, printable and short.
_DEVICE = re.compile(r"cpu|cuda(:[0-9]{1,3})?")
_PRINTABLE = re.compile(r"[ -~]{1,100}")


def checked_runtime(runtime: Any, label: str) -> dict[str, str | None] | None:
    """A worker's `fit_runtime`, checked as anything else a model's process sends: a dict of
    ``device`` (cpu, cuda or cuda:N), ``torch`` and ``gpu`` (printable ASCII, at most 100
    characters, or None). None when the worker sent none; otherwise a `PluginError` naming the
    model and the field."""
    from hbench.errors import PluginError

    if runtime is None:
        return None
    if not isinstance(runtime, dict) or set(runtime) != {"device", "torch", "gpu"}:
        raise PluginError(f"{label} sent a fit runtime that is not device, torch and gpu")
    device = runtime["device"]
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise PluginError(f"{label} sent a fit runtime with device {str(device)[:40]!r}")
    for key in ("torch", "gpu"):
        value = runtime[key]
        if value is not None and not (isinstance(value, str) and _PRINTABLE.fullmatch(value)):
            raise PluginError(f"{label} sent a fit runtime with {key} {str(value)[:40]!r}")
    return {"device": device, "torch": runtime["torch"], "gpu": runtime["gpu"]}


def device_used(choice: str) -> str:
    """The device a torch model would have used; without torch loaded, nothing ran on a GPU."""
    import sys

    if "torch" not in sys.modules:
        return "cpu"
    return resolve_device(choice)
