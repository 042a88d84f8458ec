"""A sweep file: the grid of runs a study needs, expanded into cells that are each one run.

A sweep names a suite, the tasks, the models (each with its options) and the axes to vary: the
training budget P, the training filter level, the seed, or any other suite field. Every
combination is a cell: one `RunSpec`, run by `hbench.sweep.cell.run_cell` wherever an executor puts
it. The whole grid is validated before anything runs (a misspelt model or field is refused at
once, not after an hour of other cells), and a cell whose result file (named by its spec hash)
already exists is skipped, so a sweep interrupted anywhere resumes where it stopped.

```toml
suite = "cpu"
out = "results/sweeps/my-sweep"     # relative to the current folder

[axes]
P = [1024, 4096, 16384]
train_filter = [0, 2, 4]            # one training level per cell
seed = [0, 1, 2]                    # one seed per cell

[[models]]
name = "naive-bayes"

[[models]]
name = "transformer"
args = { epochs = 60 }
device = "cuda"
resources = { GPU = 1 }             # lands on Dask workers started with --resources GPU=1
axes = { P = [1024, 4096] }         # this model's own values of an axis
```
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from hbench.errors import UsageError, pydantic_message
from hbench.run.spec import RunSpec

if TYPE_CHECKING:
    from hbench.registry.registry import Registry

#: Axes that are not suite fields: each value is one cell's training level or seed.
AXIS_FIELDS = {"train_filter": "train_filters", "seed": "seeds"}

#: The most cells one sweep file may expand to: a grid is counted from its axes' lengths
#: before it is expanded, so a mistyped grid is refused at once instead of filling memory.
MAX_CELLS = 100_000

#: Where a sweep folder keeps its result files (one per cell, ``<label>_<hash>.json``).
RESULTS = "results"
#: The failed cells of the last sweep into a folder, one JSON object a line.
FAILURES = "failures.jsonl"

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _axis_values(value: list[Any]) -> list[Any]:
    if not value:
        raise ValueError("an axis needs at least one value")
    seen: list[Any] = []
    for item in value:
        if item in seen:
            raise ValueError(f"the value {item!r} is listed twice")
        seen.append(item)
    return value


#: The values of one axis: at least one, none twice.
Axis = Annotated[list[Any], AfterValidator(_axis_values)]


class ModelEntry(BaseModel):
    """One model of the sweep: its plugin name, options, device and worker resources."""

    model_config = _STRICT

    name: str = Field(min_length=1)
    label: str | None = Field(None, min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    resources: dict[str, float] = Field(default_factory=dict)
    axes: dict[str, Axis] = Field(default_factory=dict)

    @field_validator("resources")
    @classmethod
    def _resources(cls, resources: dict[str, float]) -> dict[str, float]:
        bad = {key: value for key, value in resources.items() if value <= 0}
        if bad:
            raise ValueError(f"resource amounts must be > 0, not {bad}")
        return resources


class SweepFile(BaseModel):
    """The schema of a sweep file (TOML)."""

    model_config = _STRICT

    name: str | None = None
    description: str = ""
    suite: str = "cpu"
    out: str = Field(min_length=1)
    tasks: list[str] | None = Field(None, min_length=1)
    task_args: dict[str, dict[str, Any]] = Field(default_factory=dict)
    set: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, Axis] = Field(default_factory=dict)
    models: list[ModelEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Cell:
    """One cell of the grid: its spec, where it is shown, and what it needs of a worker."""

    spec: RunSpec
    values: dict[str, Any]  # the axis values (and task) that make this cell, for tables
    filename: str  # <label>_<hash>.json
    resources: dict[str, float] = field(default_factory=dict)
    budget: int = 0  # training sequences per level: what orders cells, largest first

    @property
    def key(self) -> str:
        return self.filename.removesuffix(".json")

    def describe(self) -> str:
        parts = [f"{key}={value}" for key, value in self.values.items()]
        return f"{self.spec.name} " + " ".join(parts)


@dataclass
class Sweep:
    """A validated sweep: its file, the output folder and every cell."""

    path: Path
    config: SweepFile
    out: Path
    cells: list[Cell]

    @property
    def results(self) -> Path:
        return self.out / RESULTS

    def pending(self, overwrite: bool = False) -> tuple[list[Cell], list[Cell]]:
        """(cells to run, cells already done): done means the result file exists.

        Cells to run come largest budget first, so that on a few workers the longest cells do
        not start last and leave the others idle at the end."""
        todo, done = [], []
        for cell in self.cells:
            exists = not overwrite and (self.results / cell.filename).is_file()
            (done if exists else todo).append(cell)
        todo.sort(key=lambda cell: -cell.budget)
        return todo, done


# --- reading -----------------------------------------------------------------------------------


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def read_sweep_file(path: str | Path) -> SweepFile:
    """Parse and validate a sweep file; any problem is one `UsageError` naming the field."""
    path = Path(path)
    where = f"sweep file {str(path)!r}"
    if not path.is_file():
        raise UsageError(f"{where} does not exist" if not path.exists() else f"{where} is a folder")
    try:
        data = _toml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where} cannot be read: {exc}") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise UsageError(f"{where} is not valid TOML: {exc}") from None
    except RecursionError:  # tables or arrays nested thousands of levels deep
        raise UsageError(f"{where} is invalid: nested too deeply to be a sweep file") from None
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = error["loc"]
            message = pydantic_message(error)
            if error["type"] == "extra_forbidden":
                allowed = _allowed_fields(loc)
                message = f"unknown field; allowed: {', '.join(allowed)}"
            elif error["type"] == "missing":
                message = "is required"
            else:
                message = f"{error.get('input')!r} is invalid: {message}"
            problems.append(f"{_loc(loc)}: {message}")
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise UsageError(f"{where}: {problems[0]}{more}") from None


def _allowed_fields(loc: tuple[int | str, ...]) -> list[str]:
    in_model = len(loc) >= 3 and loc[0] == "models"
    return list((ModelEntry if in_model else SweepFile).model_fields)


# --- the grid ----------------------------------------------------------------------------------


def _spelling(index: int, origin: dict[str, str], task: str) -> Any:
    """How each option of a cell was written in the sweep file, for messages."""

    def spell(section: str, key: str, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        if section == "model":
            return f"models[{index}].args.{key}={text}" if key else f"models[{index}].args"
        if section == "task":
            return f"task_args.{task}.{key}={text}" if key else f"task_args.{task}"
        if not key:
            return "the suite fields of the sweep"
        return f"{origin.get(key, key)}={text}"

    return spell


def grid_size(config: SweepFile) -> int:
    """How many cells the sweep expands to, from the axes' lengths alone."""
    tasks = len(config.tasks or [None])
    return sum(
        tasks * math.prod(len(values) for values in {**config.axes, **entry.axes}.values())
        for entry in config.models
    )


def _check_grid_size(config: SweepFile, where: str) -> int:
    cells = grid_size(config)
    if cells > MAX_CELLS:
        shape = (
            " x ".join(f"{name} ({len(values)})" for name, values in config.axes.items())
            or "the axes"
        )
        raise UsageError(
            f"{where}: the grid is invalid: {cells:,} cells (axes {shape} over"
            f" {len(config.models)} model(s)), at most {MAX_CELLS:,} are allowed; split it into"
            " several sweep files"
        )
    return cells


def _expand_model(
    config: SweepFile, index: int, entry: ModelEntry, registry: Registry
) -> Iterator[Cell]:
    axes = {**config.axes, **entry.axes}
    tasks = config.tasks or [None]
    for key in config.set:
        if key in axes:
            raise UsageError(f"set.{key} is invalid: {key!r} is also an axis; give it once")
    for task in tasks:
        for combo in itertools.product(*axes.values()):
            values = dict(zip(axes, combo, strict=True))
            overrides = dict(config.set)
            origin = {key: f"set.{key}" for key in config.set}
            if task is not None:
                overrides["task"], origin["task"] = task, "tasks"
            for key, value in values.items():
                target = AXIS_FIELDS.get(key, key)
                overrides[target] = [value] if key in AXIS_FIELDS else value
                owner = f"models[{index}].axes" if key in entry.axes else "axes"
                origin[target] = f"{owner}.{key}"
            spec = RunSpec(
                suite=config.suite,
                overrides=overrides,
                model=entry.name,
                model_args=entry.args,
                task_args=config.task_args.get(task or "", {}),
                device=entry.device,
                label=entry.label,
            )
            task_name = task or "default"
            try:
                request = spec.resolve(registry, _spelling(index, origin, task_name))
            except UsageError as exc:
                raise UsageError(_name_the_model(str(exc), index, entry.name)) from None
            shown = {"task": request.suite.task} if config.tasks else {}
            shown.update(values)
            budget = request.suite.budget(request.suite.task)
            name = spec.filename(registry, request)
            yield Cell(spec, shown, name, dict(entry.resources), budget)


def _name_the_model(message: str, index: int, name: str) -> str:
    if message.startswith(f"unknown model {name!r}"):
        return f"models[{index}].name={name!r} is invalid: {message}"
    return message


def load_sweep(
    path: str | Path, *, out: str | Path | None = None, registry: Registry | None = None
) -> Sweep:
    """Read, validate and expand a sweep file; every cell's options are checked here."""
    from hbench.progress import progress
    from hbench.registry.registry import get_registry

    registry = registry or get_registry()
    config = read_sweep_file(path)
    where = f"sweep file {str(path)!r}"
    size = _check_grid_size(config, where)
    if config.tasks is not None:
        for task in config.tasks:
            try:
                registry.get("task", task)
            except UsageError as exc:
                raise UsageError(f"{where}: tasks={task!r} is invalid: {exc}") from None
        extra = sorted(set(config.task_args) - set(config.tasks))
        if extra:
            raise UsageError(f"{where}: task_args.{extra[0]} names a task not in tasks")
    elif config.task_args:
        first = sorted(config.task_args)[0]
        raise UsageError(
            f"{where}: task_args.{first} is given but tasks is not; list the tasks, e.g."
            f" tasks = [{first!r}]"
        )
    cells: list[Cell] = []
    seen: dict[tuple, int] = {}
    with progress(size, "checking cells", unit="cell") as advance:
        for index, entry in enumerate(config.models):
            try:
                expanded = []
                for cell in _expand_model(config, index, entry, registry):
                    expanded.append(cell)
                    advance(1)
            except UsageError as exc:
                raise UsageError(f"{where}: {exc}") from None
            cells.extend(_unique(expanded, index, seen, where))
    return Sweep(Path(path), config, Path(out if out is not None else config.out), cells)


def _unique(expanded: list[Cell], index: int, seen: dict[tuple, int], where: str) -> list[Cell]:
    """The cells of ``models[index]``, checked against those of the models before it: one
    point of a curve (label and axis values) must come from one cell, or the tables could not
    tell two sets of options apart."""
    for cell in expanded:
        point = (cell.spec.name, tuple(cell.values.items()))
        if point in seen:
            raise UsageError(
                f"{where}: models[{index}] and models[{seen[point]}] both give the cell"
                f" {cell.describe()}; give them different labels (label = ...)"
            )
        seen[point] = index
    return expanded
