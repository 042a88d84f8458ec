"""What every analysis of a finished run needs: the run rebuilt from its result file.

A `Run` holds the validated result, the suite it ran on, and the run's `World` (grammar,
filter, oracle and task rebuilt through the registry exactly as the harness built them), so
an analysis can sample fresh data of any filter level and ask the oracle about it.
`Run.trained_models` recreates each model the run kept (``hbench run --save-models``) from the
recorded model name and config, then loads its weights. Analysis data is seeded from the run's
seed on streams of its own, so it never coincides with the run's training or test data, and the
same run gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hbench.analysis.report import Report, Writer
from hbench.contracts import GenerativeModel, Sample, TaskData, model_capabilities
from hbench.errors import UsageError, invalid
from hbench.io import check_name_lengths, write_json
from hbench.results import RunResult, read_result
from hbench.run.world import World
from hbench.suites import Suite

#: First seed stream of analysis data; the harness uses streams 0..5 (`hbench.run.harness`).
ANALYSIS_STREAM = 1000
#: Version of every analysis JSON layout; bumped when a field changes meaning or goes away.
REPORT_VERSION = 1


class Skip(Exception):
    """An analysis does not apply to this run; the message is the one-line reason."""


@dataclass(frozen=True)
class TrainedModel:
    """One model a run kept: its seed, training level, and the loaded model object."""

    seed: int
    k_train: int
    model: Any


@dataclass
class Run:
    """A finished run, rebuilt: result, suite, and the plugins the harness used."""

    path: Path
    result: RunResult
    suite: Suite
    registry: Any
    world: World
    grammar: GenerativeModel
    filter: Any
    oracle: Any
    task: Any

    @property
    def spec(self):
        return self.task.spec(self.grammar)

    @property
    def depth(self) -> int:
        return int(self.grammar.depth)

    @property
    def model_name(self) -> str:
        return self.result.spec.model

    @property
    def grammar_seed_of(self) -> int | None:
        """The seed whose grammar `grammar` is: an official run drew one grammar per seed,
        and its analyses study the first seed's models on that seed's grammar; None for a
        run whose seeds share the suite's grammar."""
        spec = self.result.spec
        return spec.seeds[0] if spec.grammar_seeds else None

    def level(self, k: int) -> GenerativeModel:
        """The grammar filtered at level k (cached by the run's world)."""
        return self.world.filtered(self.result.spec.seeds[0], k)

    def sample(
        self, n: int, seed: int, level: int, purpose: int, *, internal: bool = False
    ) -> tuple[Sample, TaskData]:
        """Fresh sequences of a filter level and the task's questions about them.

        ``purpose`` separates the analyses' streams (attention, probe training, probe test)."""
        stream = np.random.SeedSequence([seed, ANALYSIS_STREAM + purpose, level])
        sample_seed, task_seed = stream.spawn(2)
        sample = self.level(level).sample(n, sample_seed, internal=internal)
        data = self.task.make(sample, self.spec, np.random.default_rng(task_seed))
        return sample, data

    def new_model(self) -> Any:
        """A fresh instance of the run's model, built from its recorded config."""
        from hbench.run.devices import check_torch

        entry = self.registry.get("model", self.model_name)
        check_torch(entry)  # a torch model's run, studied where torch is not installed
        return entry.create(entry.validate_config(dict(self.result.spec.model_settings)))

    def trained_models(self, capability: str, device: str = "cpu") -> list[TrainedModel]:
        """Every model the run kept, loaded; `Skip` (with the reason) when the analysis needing
        ``capability`` (``predict``, or a field of `ModelCapabilities`) cannot run on them."""
        name = self.model_name
        probe = self.new_model()
        declared = model_capabilities(probe)
        if capability != "predict" and not getattr(declared, capability):
            raise Skip(f"model {name!r} has no {capability}(data) method")
        if not declared.save:
            raise Skip(f"model {name!r} cannot save its trained state (no save(path))")
        if not self.result.saved_models:
            raise Skip(
                "the run kept no trained models: rerun `hbench run` with --save-models"
                f" (result {str(self.path)!r})"
            )
        models = []
        for saved in self.result.saved_models:
            if self.grammar_seed_of is not None and saved.seed != self.grammar_seed_of:
                continue  # an official run's other seeds ran on other grammars
            path = self.path.parent / saved.path
            if not path.is_file():
                raise UsageError(
                    f"result file {str(self.path)!r} lists the trained model {saved.path!r},"
                    f" which is missing next to it ({str(path)!r})"
                )
            model = probe if not models else self.new_model()
            model.load(path, device=device)
            models.append(TrainedModel(saved.seed, saved.k_train, model))
        return models


def load_run(path: str | Path) -> Run:
    """Read a result file and rebuild the world it ran in (`hbench.run.world.World.of_result`:
    the registry validates every option); the analyses study its first seed's grammar."""
    from hbench.registry.registry import get_registry
    from hbench.run.world import World

    path = Path(path)
    result = read_result(path)
    registry = get_registry()
    world = World.of_result(result, registry)
    return Run(
        path=path,
        result=result,
        suite=world.suite,
        registry=registry,
        world=world,
        grammar=world.grammar(result.spec.seeds[0]),
        filter=world.filter,
        oracle=world.oracle,
        task=world.task,
    )


# --- options and writing shared by the analyses ----------------------------------------------


class ModelOptions(BaseModel):
    """Options of the analyses that run trained models on fresh data."""

    model_config = ConfigDict(extra="forbid")

    device: Literal["auto", "cpu", "cuda"] = Field("cpu", description="where models run")
    data_filter: int | None = Field(
        None,
        description="filter level of the analysis data (default: each model's training level)",
    )


def as_run(source: str | Path | Run) -> Run:
    """A finished run: ``source`` itself, or rebuilt from its result file."""
    return source if isinstance(source, Run) else load_run(source)


def run_writer(
    analysis: str, draw: Callable[[Report[Any], Path], list[Path]] | None = None
) -> Writer:
    """How a run's analysis writes its files: ``draw(report, base)`` its figures (and arrays)
    named ``<base>...`` (see `output_base`), then the JSON report ``<base>.json``, which lists
    them."""

    def write(report: Report[Any], out: str | Path | None) -> list[Path]:
        base = output_base(report.source, None if out is None else str(out), analysis)
        files = draw(report, base) if draw is not None else []
        return [write_report(report.numbers, base.with_suffix(".json")), *files]

    return write


def data_level(run: Run, k_train: int, data_filter: int | None) -> int:
    """The filter level to sample analysis data from, checked against the depth."""
    if data_filter is None:
        return k_train
    if not 0 <= data_filter <= run.depth:
        raise invalid("--data-filter", data_filter, f"a filter level in [0, {run.depth}]")
    return data_filter


def check_count(value: int, flag: str, minimum: int = 1) -> int:
    if value < minimum:
        raise invalid(flag, value, f"an integer >= {minimum}")
    return value


def output_base(result_path: Path, out: str | None, analysis: str) -> Path:
    """``<folder>/<result stem>_<analysis>``: every file of an analysis starts with this; the
    folder is ``out``, or the result's own."""
    folder = check_name_lengths(Path(out) if out else result_path.parent, "--out", file=False)
    if folder.exists() and not folder.is_dir():
        raise invalid("--out", str(folder), "a folder, not a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise invalid(
            "--out", str(folder), f"a folder that can be created ({exc.strerror})"
        ) from None
    return folder / f"{result_path.stem}_{analysis}"


def write_report(report: BaseModel, path: Path) -> Path:
    """The analysis's numbers as JSON, atomically (NaN as the JSON constant, like results)."""
    return write_json(path, report.model_dump(mode="json"), field="--out")


def chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


def subset(data: TaskData, start: int, stop: int) -> TaskData:
    """Rows [start, stop) of ``data`` with their queries (queries are listed row by row)."""
    lo, hi = np.searchsorted(data.query_rows, [start, stop])
    return TaskData(
        inputs=data.inputs[start:stop],
        query_rows=data.query_rows[lo:hi] - start,
        query_positions=data.query_positions[lo:hi],
        targets=None if data.targets is None else data.targets[lo:hi],
        lengths=None if data.lengths is None else data.lengths[start:stop],
    )


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def annotate(ax, image, values: np.ndarray, digits: int = 2, fontsize: int = 7) -> None:
    """Write each finite value on its heatmap cell, black on light colours, white on dark."""
    for (row, column), value in np.ndenumerate(values):
        if np.isnan(value):
            continue
        red, green, blue, _ = image.cmap(image.norm(value))
        light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5
        ax.text(
            column,
            row,
            f"{value:.{digits}f}",
            ha="center",
            va="center",
            fontsize=fontsize,
            color="black" if light else "white",
        )
