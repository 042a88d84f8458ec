"""Built-in sweep files moved into a reproduction folder, and chains of them.

A built-in sweep writes under ``results/sweeps/<name>`` of the current folder, and a chained
one names files there in its models' options (stage 1 ``save=``s an encoder that stage 2
``init=``s). `relocate` moves every such path of a stage from the family's root to
``<out>/sweeps/<part>`` (absolute, so a cell's spec names the same file from anywhere), and
writes the moved file into that folder, so the sweep that ran is on disk next to its results
and can be rerun with ``hbench sweep <that file>``. A later stage is loaded (and its ``init=``
paths checked) only once the stage before it has finished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hbench.reproduce.plan import SweepPart
from hbench.sweep.builtins import builtin_sweeps
from hbench.sweep.file import SweepFile, read_sweep_file


def stage_file(name: str) -> Path:
    """The built-in sweep file ``name`` (a plan names only built-ins)."""
    sweeps = builtin_sweeps()
    if name not in sweeps:
        raise LookupError(f"built-in sweep {name!r} is missing from this installation")
    return sweeps[name]


def _move(value: Any, root: str, target: str) -> Any:
    if isinstance(value, str) and (value == root or value.startswith(root + "/")):
        return target + value[len(root) :]
    return value


def relocated(name: str, root: str, folder: Path, device: str) -> SweepFile:
    """Built-in sweep ``name`` with every path under ``root`` moved to ``folder`` and every
    model on ``device``. On ``cpu`` no cell asks a Dask worker for a GPU."""
    config = read_sweep_file(stage_file(name))
    target = str(folder.resolve())
    models = [
        entry.model_copy(
            update={
                "args": {key: _move(v, root, target) for key, v in entry.args.items()},
                "device": device,
                "resources": {
                    key: amount
                    for key, amount in entry.resources.items()
                    if not (device == "cpu" and key == "GPU")
                },
            }
        )
        for entry in config.models
    ]
    return config.model_copy(update={"out": _move(config.out, root, target), "models": models})


def part_stage(part: SweepPart, stage: str, out: Path, device: str) -> SweepFile:
    """Stage ``stage`` of ``part`` as a reproduction in ``out`` runs it: `relocated` into
    ``<out>/sweeps/<part>``, then the plan's `SweepChanges`: suite fields added to ``set``,
    axes replaced, options added to every transformer, and each model that loads an encoder
    split into one entry per seed loading that seed's (a path under ``out``)."""
    config = relocated(stage, part.root, out / "sweeps" / part.name, device)
    changes = part.changes
    models = []
    for entry in config.models:
        args = {**entry.args, **(changes.args if entry.name == "transformer" else {})}
        if "init" not in args or not changes.init:
            models.append(entry.model_copy(update={"args": args}))
            continue
        seeds = entry.axes.get("seed") or changes.axes.get("seed") or config.axes.get("seed")
        for seed in seeds or [0]:
            if seed not in changes.init:
                raise LookupError(f"sweep {part.name}: no encoder for seed {seed} in the plan")
            path = str((out / changes.init[seed]).resolve())
            models.append(
                entry.model_copy(
                    update={"args": {**args, "init": path}, "axes": {**entry.axes, "seed": [seed]}}
                )
            )
    return config.model_copy(
        update={
            "set": {**config.set, **changes.set},
            "axes": {**config.axes, **changes.axes},
            "models": models,
        }
    )


def results_folder(name: str, root: str, folder: Path) -> Path:
    """Where stage ``name`` of a part relocated to ``folder`` keeps its result files."""
    config = read_sweep_file(stage_file(name))
    return Path(_move(config.out, root, str(folder.resolve()))) / "results"


# --- writing a sweep file ------------------------------------------------------------------------


def _value(value: Any) -> str:
    """A TOML value: JSON's strings, numbers, booleans and arrays are TOML's; tables inline."""
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Path):
        value = str(value)
    return json.dumps(value)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def to_toml(config: SweepFile) -> str:
    """The sweep file as TOML text (what `read_sweep_file` reads back to the same config)."""
    data = config.model_dump(mode="json", exclude_defaults=True)
    models = data.pop("models", [])
    axes = data.pop("axes", {})
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items()]
    if axes:
        lines += ["", "[axes]", *(f"{_key(k)} = {_value(v)}" for k, v in axes.items())]
    for entry in models:
        lines += ["", "[[models]]", *(f"{_key(k)} = {_value(v)}" for k, v in entry.items())]
    return "\n".join(lines) + "\n"
