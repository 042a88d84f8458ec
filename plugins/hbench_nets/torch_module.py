"""`torch-module`: any ``torch.nn.Module`` from token ids to logits as an hbench model, trained
by hbench's loop (`training.fit_network`: AdamW, warm-up and schedule, bf16 where it pays,
log-spaced checkpoints for learning dynamics, progress, seeded), so an architecture is tested
without writing a plugin.

The contract of the module:

- ``forward(tokens)`` takes token ids, a (batch, length) int64 tensor with values in
  [0, vocab_size), and returns float logits: (batch, q) for questions about whole sequences
  (``root``), (batch, length, q) for questions about positions (``mlm``, ``next-token``: the
  logits at each query's position are read). Checked on two training sequences before the
  first step: another shape is one line naming both.
- From the command line (``module=package.module:Class`` or ``module=path/to/file.py:Class``)
  or given as a class from Python, the class is built once per fit, with torch seeded by the
  fit's seed, as ``Class(**task_args, **module_args)``: ``task_args`` are those of
  ``vocab_size``, ``length``, ``q``, ``task`` and ``mask_id`` (the `TaskSpec`'s fields) that
  the constructor's signature names, ``module_args`` the rest (a JSON object,
  ``--model-arg 'module_args={"width": 64}'``).
- Given as an instance from Python, each fit trains a fresh copy of it (``copy.deepcopy``):
  the instance's own weights are where every fit starts, and it is never changed.

From Python, ``hbench.evaluate(MyModule, model_args={...})`` (a class or an instance) wraps it
in `TorchModuleModel`; ``TorchModuleModel(MyModule, lr=3e-4, module_args={...})`` is the same
with the options spelled out.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ValidationError

from hbench.contracts import FitCallbacks, TaskData, TaskSpec
from hbench.errors import UsageError, invalid, location, pydantic_message

from .configs import TorchModuleConfig, TorchModuleOptions
from .training import (
    build_seeded,
    check_output,
    fit_network,
    forward_check_tokens,
    per_position,
    predict_network,
)

#: What a module's constructor may ask for by name, from the task's `TaskSpec`.
SPEC_ARGUMENTS = ("vocab_size", "length", "q", "task", "mask_id")


def load_class(text: str) -> type[torch.nn.Module]:
    """The class that ``package.module:Class`` or ``/path/to/file.py:Class`` names; one line
    naming ``module`` when it cannot be imported or is no ``torch.nn.Module``."""
    where, _, name = text.rpartition(":")
    try:
        if where.endswith(".py"):
            path = Path(where)
            digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
            unique = f"hbench_module_{path.stem}_{digest}"
            found = sys.modules.get(unique)
            if found is None:
                spec = importlib.util.spec_from_file_location(unique, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"no Python module at {path}")
                found = importlib.util.module_from_spec(spec)
                sys.modules[unique] = found  # dataclasses and pickling look modules up
                try:
                    spec.loader.exec_module(found)
                except BaseException:
                    sys.modules.pop(unique, None)
                    raise
            module: Any = found
        else:
            module = importlib.import_module(where)
    except Exception as exc:
        raise invalid(
            "module", text, f"an importable class ({type(exc).__name__}: {exc})"
        ) from None
    target: Any = module
    for part in name.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise invalid("module", text, f"a class that {where} defines (it has no {name})")
    if not (isinstance(target, type) and issubclass(target, torch.nn.Module)):
        raise invalid("module", text, f"a torch.nn.Module subclass (got {target!r})")
    return target


def constructor_arguments(
    cls: type[torch.nn.Module], spec: TaskSpec, module_args: dict[str, Any]
) -> dict[str, Any]:
    """``Class(**this)``: the spec's fields the constructor names, then ``module_args``."""
    try:
        named = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # a constructor Python cannot introspect
        named = {}
    offered = {key: getattr(spec, key) for key in SPEC_ARGUMENTS if key in named}
    both = sorted(set(offered) & set(module_args))
    if both:
        raise invalid(
            "module_args",
            module_args,
            f"arguments hbench does not pass already ({', '.join(both)} come from the task)",
        )
    return {**offered, **module_args}


def _options(cls: type[BaseModel], values: dict[str, Any]) -> Any:
    """``cls(**values)``, any problem one `UsageError` naming the option."""
    try:
        return cls(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = location(error["loc"])
        raise invalid(
            field, values.get(field, error.get("input")), pydantic_message(error)
        ) from None


class TorchModuleModel:
    """Trains a user's ``nn.Module`` under the model contract (see the module's docstring).

    ``TorchModuleModel(config)`` is how the registry builds it (``module=`` names the class);
    ``TorchModuleModel(module, **options)`` takes a class, an instance or an import path
    (``"package.module:Class"``) and the training options of `TorchModuleOptions`."""

    def __init__(
        self, module: TorchModuleConfig | type | torch.nn.Module | str | None = None, **options: Any
    ) -> None:
        self.template: torch.nn.Module | None = None  # an instance given from Python
        if isinstance(module, TorchModuleConfig):
            if options:
                raise invalid("options", options, "none besides a TorchModuleConfig")
            self.config: TorchModuleOptions = module
            self.cls = load_class(module.module)
            self.origin = module.module
        elif isinstance(module, str):
            self.config = _options(TorchModuleConfig, {"module": module, **options})
            self.cls = load_class(self.config.module)
            self.origin = self.config.module
        elif isinstance(module, type) and issubclass(module, torch.nn.Module):
            self.config = _options(TorchModuleOptions, options)
            self.cls, self.origin = module, f"{module.__module__}:{module.__qualname__}"
        elif isinstance(module, torch.nn.Module):
            if options.get("module_args"):
                raise invalid(
                    "module_args", options["module_args"], "none with an instance (it is built)"
                )
            self.config = _options(TorchModuleOptions, options)
            self.template, self.cls = module, type(module)
            self.origin = f"{self.cls.__module__}:{self.cls.__qualname__} (an instance)"
        else:
            raise invalid(
                "module",
                module,
                "a torch.nn.Module class or instance, or package.module:Class",
            )
        #: How the harness names a model given from Python.
        self.name = f"torch-module-{self.cls.__name__}"
        self.net: torch.nn.Module | None = None
        self.spec: TaskSpec | None = None
        self.positions = False
        self.device = torch.device("cpu")
        self.history: list[dict] = []  # per epoch: mean training loss
        self.precision: str | None = None

    def _build(self, spec: TaskSpec, seed: int) -> torch.nn.Module:
        if self.template is not None:
            return copy.deepcopy(self.template).cpu()  # checked on the CPU, then moved
        arguments = constructor_arguments(self.cls, spec, dict(self.config.module_args))
        try:
            return build_seeded(lambda: self.cls(**arguments), seed)
        except Exception as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
            raise UsageError(
                f"module {self.origin}: building it as {self.cls.__name__}({shown}) failed:"
                f" {type(exc).__name__}: {exc}"
            ) from None

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        self.device = torch.device(callbacks.device)
        self.spec, self.history = spec, []
        self.positions = per_position(train)
        net = self._build(spec, callbacks.seed)
        check_output(net, forward_check_tokens(train), spec, self.positions, self.origin)
        self.net = net.to(self.device)
        self.precision = fit_network(
            self.net,
            train,
            spec,
            callbacks,
            self.config,
            positions=self.positions,
            history=self.history,
        )

    def predict(self, data: TaskData) -> np.ndarray:
        if self.net is None:
            raise RuntimeError(f"model {self.name!r}: predict() called before fit()")
        return predict_network(
            self.net,
            data,
            positions=self.positions,
            device=self.device,
            batch=self.config.eval_batch_size,
        )

    def resolved_config(self) -> dict:
        """Every training option, the module it trained and the arithmetic it used."""
        return {
            **self.config.model_dump(mode="json"),
            "module": self.origin,
            "precision": self.precision or self.config.precision,
        }

    def num_parameters(self) -> int:
        """Trainable numbers of the fitted module (the leaderboards' parameters column)."""
        if self.net is None:
            raise RuntimeError(f"model {self.name!r}: num_parameters() called before fit()")
        return sum(p.numel() for p in self.net.parameters() if p.requires_grad)
