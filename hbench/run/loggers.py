"""Learning curves to experiment trackers: TensorBoard, Weights & Biases, MLflow.

``hbench run --logger tensorboard:runs`` (``evaluate(loggers=["tensorboard:runs"])``) sends
every fit's curves to a tracker while it trains: at each checkpoint the model asks for
(`FitCallbacks.checkpoint`), its accuracy on every test level and its KL divergence from each
BP_j; when the fit ends, its final scores. One tracker run per fit (seed and training level),
grouped by the hbench run, with the run's spec as its config.

The curves are fed on the harness's side, from the checkpoint events that come back from the
model's worker (`hbench.run.dynamics`): a sandboxed model has no network and cannot write
outside its scratch folder, and a tracker must not depend on a model's good will.

Every tracker goes through one small interface, `Logger` (scalars at a step, the config,
close), opened per fit by a `Destination`. The three built-in destinations import their
library only when named, each an optional extra (``pip install 'hbench[tensorboard]'``,
``'hbench[wandb]'``, ``'hbench[mlflow]'``); one named but not installed is refused in one
line before any training. Any object with ``open(name, group) -> Logger`` is a destination
too (``evaluate(loggers=[...])``).

Scalars (names valid in every tracker): at a checkpoint, ``acc/k{K}`` (accuracy on the test
set of level K), ``kl/bp{J}`` (KL(BP_J || model) in bits on the training level's test set),
``closest_bp`` (the J of the smallest) and ``seconds`` (training time so far); what the model
logs itself (`FitCallbacks.log`: the torch models' mean training loss each epoch) as
``train/{name}`` (``train/loss``), at the step it gives, once the harness has checked it
(`hbench.run.worker.protocol.ScalarGate`); at the end,
``final/{metric}/k{K}`` (``acc``, ``acc_bp``, ``kl_bp``, ``agree``; ``ood`` for random
sequences), ``final/normalised_accuracy``, ``final/kl_bp`` and ``fit_s``. The step is the
checkpoint's label where it is a number (the optimisation step of the torch models), else
its index. W&B and MLflow read their usual settings from the environment (``WANDB_API_KEY``
or ``WANDB_MODE=offline``, ``MLFLOW_TRACKING_URI``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hbench.errors import UsageError, invalid

#: The trackers hbench knows: kind -> what the part after ``KIND:`` names.
KINDS = {
    "tensorboard": "the folder of event files (default: runs)",
    "wandb": "the project, or ENTITY/PROJECT (default: hbench)",
    "mlflow": "the tracking URI (default: MLflow's own: $MLFLOW_TRACKING_URI or ./mlruns)",
}

#: The oldest wandb whose ``wandb.init(reinit="create_new")`` keeps several runs open at once
#: (fits that run at the same time).
WANDB_MIN = (0, 19, 10)

#: MLflow's experiment for hbench's runs.
MLFLOW_EXPERIMENT = "hbench"

#: Longest parameter value MLflow takes on every version.
MLFLOW_PARAM_CHARS = 500


@runtime_checkable
class Logger(Protocol):
    """One tracker run: the curves of one fit."""

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Record the run's configuration (nested dicts of JSON values)."""
        ...

    def log_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        """Record ``scalars`` (finite floats) at ``step``."""
        ...

    def close(self) -> None:
        """Flush and end the tracker run."""
        ...


@runtime_checkable
class Destination(Protocol):
    """Where curves go: opens one `Logger` per fit."""

    def open(self, name: str, group: str) -> Logger:
        """The logger of fit ``name`` (``seed0-k2``) of the hbench run ``group``."""
        ...


# --- the built-in destinations ----------------------------------------------------------------


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of ``a.b`` keys (for trackers whose parameters are flat)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


class _TensorBoardLogger:
    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def log_config(self, config: Mapping[str, Any]) -> None:
        text = json.dumps(dict(config), indent=2, sort_keys=True, default=str)
        # markdown: indented by four spaces, the JSON shows as code
        self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()))

    def log_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        self.writer.close()


@dataclass
class TensorBoard:
    """Event files under ``folder/<run>/<fit>``: one TensorBoard run per fit, so that the
    fits of a run overlay in its charts (``tensorboard --logdir folder``). tensorboardX
    writes them; torch's own writer where only torch and tensorboard are installed."""

    folder: Path
    writer_class: Any

    @classmethod
    def named(cls, target: str | None, field: str) -> TensorBoard:
        from hbench.results.files import output_folder

        try:
            writer = importlib.import_module("tensorboardX").SummaryWriter
        except ImportError:
            try:
                writer = importlib.import_module("torch.utils.tensorboard").SummaryWriter
            except Exception:
                raise _missing(field, "tensorboard", "tensorboardX") from None
        return cls(output_folder(target or "runs", field), writer)

    def open(self, name: str, group: str) -> Logger:
        return _TensorBoardLogger(self.writer_class(str(self.folder / group / name)))


class _WandbLogger:
    def __init__(self, run: Any) -> None:
        self.run = run

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.run.config.update(dict(config), allow_val_change=True)

    def log_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        self.run.log(dict(scalars), step=step)

    def close(self) -> None:
        self.run.finish()


@dataclass
class Wandb:
    """A W&B run per fit in ``project``, grouped by the hbench run (``group``)."""

    module: Any
    project: str
    entity: str | None = None

    @classmethod
    def named(cls, target: str | None, field: str) -> Wandb:
        module = _import(field, "wandb", "wandb")
        version = _version(getattr(module, "__version__", "0"))
        if version < WANDB_MIN:
            need = ".".join(map(str, WANDB_MIN))
            raise UsageError(
                f"{field} wandb needs wandb >= {need} (several runs at once), not"
                f" {module.__version__}: pip install -U 'hbench[wandb]'"
            )
        entity, _, project = (target or "hbench").rpartition("/")
        if not project or any(c in project for c in "\\#?%:"):
            raise invalid(field, f"wandb:{target}", "wandb:PROJECT or wandb:ENTITY/PROJECT")
        return cls(module, project, entity or None)

    def open(self, name: str, group: str) -> Logger:
        run = self.module.init(
            project=self.project,
            entity=self.entity,
            name=name,
            group=group,
            reinit="create_new",
        )
        return _WandbLogger(run)


class _MlflowLogger:
    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def log_config(self, config: Mapping[str, Any]) -> None:
        for key, value in _flat(config).items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            self.client.log_param(self.run_id, key, text[:MLFLOW_PARAM_CHARS])

    def log_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        for key, value in scalars.items():
            self.client.log_metric(self.run_id, key, value, step=step)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


@dataclass
class Mlflow:
    """An MLflow run per fit in the experiment ``hbench``, tagged with the hbench run. Runs go
    through ``MlflowClient`` (no global active run), so that fits running at once each log
    to their own."""

    module: Any
    uri: str | None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._client: Any = None
        self._experiment: str | None = None

    @classmethod
    def named(cls, target: str | None, field: str) -> Mlflow:
        return cls(_import(field, "mlflow", "mlflow"), target or None)

    def _experiment_id(self) -> tuple[Any, str]:
        with self._lock:
            if self._client is None:
                self._client = self.module.MlflowClient(tracking_uri=self.uri)
                found = self._client.get_experiment_by_name(MLFLOW_EXPERIMENT)
                self._experiment = (
                    found.experiment_id
                    if found is not None
                    else self._client.create_experiment(MLFLOW_EXPERIMENT)
                )
            assert self._experiment is not None
            return self._client, self._experiment

    def open(self, name: str, group: str) -> Logger:
        client, experiment = self._experiment_id()
        run = client.create_run(experiment, run_name=name, tags={"hbench.run": group})
        return _MlflowLogger(client, run.info.run_id)


_BUILT_IN = {"tensorboard": TensorBoard, "wandb": Wandb, "mlflow": Mlflow}


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in str(text).split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _missing(field: str, kind: str, package: str) -> UsageError:
    return UsageError(
        f"{field} {kind} needs {package}, which is not installed: pip install 'hbench[{kind}]'"
    )


def _import(field: str, kind: str, package: str) -> Any:
    try:
        return importlib.import_module(package)
    except ImportError:
        raise _missing(field, kind, package) from None


def destination(choice: Any, field: str = "--logger") -> Destination:
    """A destination from ``KIND`` or ``KIND:TARGET`` (`KINDS`), its library imported now so
    that a missing one is refused before any training; an object with ``open`` as it is."""
    if not isinstance(choice, str):
        if callable(getattr(choice, "open", None)):
            return choice
        raise invalid(field, choice, f"'KIND[:TARGET]' ({', '.join(KINDS)}) or an object with open")
    kind, _, target = choice.partition(":")
    kind = kind.strip().lower()
    if kind not in _BUILT_IN:
        from hbench.errors import did_you_mean

        close = did_you_mean(kind, KINDS)
        hint = f"did you mean {close!r}? " if close else ""
        raise invalid(field, choice, f"{hint}KIND[:TARGET] with KIND one of {', '.join(KINDS)}")
    if target and (len(target) > 4096 or any(ord(c) < 32 or ord(c) == 127 for c in target)):
        raise invalid(field, choice[:60], "a target of printable characters")
    return _BUILT_IN[kind].named(target or None, field)


def destinations(choices: Sequence[Any] | None, field: str = "--logger") -> list[Destination]:
    """Every destination of ``choices`` (`destination`); a kind named twice with the same
    target is refused (its curves would be logged twice)."""
    seen: set[str] = set()
    out = []
    for choice in choices or ():
        if isinstance(choice, str):
            if choice in seen:
                raise invalid(field, choice, "each destination once")
            seen.add(choice)
        out.append(destination(choice, field))
    return out


# --- the harness's side -----------------------------------------------------------------------


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def checkpoint_scalars(point: Mapping[str, Any]) -> dict[str, float]:
    """The scalars of one checkpoint of `hbench.run.dynamics.DynamicsRecorder`."""
    scalars = {f"acc/k{k}": float(v) for k, v in point.get("accuracy", {}).items()}
    kl = {j: float(v) for j, v in point.get("kl", {}).items() if _finite(v)}
    scalars.update({f"kl/bp{j}": v for j, v in kl.items()})
    if kl:
        scalars["closest_bp"] = float(min(kl, key=lambda j: kl[j]))
    if _finite(point.get("seconds")):
        scalars["seconds"] = float(point["seconds"])
    return {k: v for k, v in scalars.items() if _finite(v)}


def final_scalars(outcome: Any) -> dict[str, float]:
    """The scalars of a finished fit (`hbench.run.harness.FitOutcome`)."""
    scalars: dict[str, float] = {}
    for row in outcome.metrics:
        level = "ood" if row.k_test == "ood" else f"k{row.k_test}"
        for name in ("acc", "acc_bp", "kl_bp", "agree"):
            value = getattr(row, name, None)
            if _finite(value):
                scalars[f"final/{name}/{level}"] = float(value)
    for name in ("normalised_accuracy", "kl_bp"):
        value = (outcome.headline.get(name) or {}).get("mean")
        if _finite(value):
            scalars[f"final/{name}"] = float(value)
    fit_s = getattr(outcome.timing, "fit_s", None)
    if _finite(fit_s):
        scalars["fit_s"] = float(fit_s)
    return scalars


def _step(label: Any, index: int) -> int:
    if _finite(label) and float(label) == int(label) and int(label) >= 0:
        return int(label)
    return index


class Curves:
    """The curves of one hbench run: relays each fit's checkpoints (`checkpoint`, called by
    the harness) and final scores (`finished`) to every destination.

    Given to a run as ``curves`` (`Harness.run`), which calls `bind` with itself before any
    fit (the run's config and name) and `finished` after each fit. A context around the run:
    loggers of fits that did not finish (an error, Ctrl-C) are closed when it ends. Safe to
    call from the threads of fits that run at once."""

    def __init__(self, targets: Sequence[Destination]) -> None:
        self.targets = list(targets)
        self.config: dict[str, Any] = {}
        self.group = "hbench"
        self.grammar_seed: Any = None
        self._lock = threading.Lock()
        self._open: dict[tuple[int, int], list[Logger]] = {}
        self._steps: dict[tuple[int, int], int] = {}
        self._counts: dict[tuple[int, int], int] = {}

    def bind(self, harness: Any) -> None:
        """Take the run of ``harness``: its config (`run_config`), its name (label or model,
        suite, and the time it starts: every run a group of its own) and grammar seeds."""
        from hbench.results.files import name_part

        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        name = name_part(harness.spec.label or harness.model_name)
        self.group = f"{name}-{name_part(harness.spec.suite)}-{stamp}"
        self.config = run_config(harness)
        self.grammar_seed = harness.world.grammar_seed

    def after(self, on_fit: Any) -> Any:
        """``on_fit`` (None or a call with each finished fit's outcome) followed by
        `finished`."""
        return chain(on_fit, self.finished)

    def _loggers(self, seed: int, k_train: int) -> list[Logger]:
        key = (seed, k_train)
        with self._lock:
            if key in self._open:
                return self._open[key]
            config = {**self.config, "seed": seed, "k_train": k_train}
            if self.grammar_seed is not None:
                config["grammar_seed"] = self.grammar_seed(seed)
            loggers: list[Logger] = []
            self._open[key] = loggers  # closed by `close` even if a later one fails to open
            for target in self.targets:
                logger = target.open(f"seed{seed}-k{k_train}", self.group)
                loggers.append(logger)
                logger.log_config(config)
            return loggers

    def checkpoint(self, seed: int, k_train: int, point: Mapping[str, Any]) -> None:
        """One checkpoint of fit (seed, k_train): its point of the learning dynamics."""
        key = (seed, k_train)
        loggers = self._loggers(seed, k_train)
        with self._lock:
            index = self._counts.get(key, 0)
            self._counts[key] = index + 1
            step = _step(point.get("label"), index)
            self._steps[key] = max(step, self._steps.get(key, 0))
        scalars = checkpoint_scalars(point)
        for logger in loggers:
            logger.log_scalars(scalars, step)

    def scalars(self, seed: int, k_train: int, scalars: Mapping[str, float], step: int) -> None:
        """What the model of fit (seed, k_train) logged at ``step`` (checked already), as
        ``train/{name}``: under a prefix of their own, so that no model's scalar can stand in
        for one the harness measures."""
        key = (seed, k_train)
        loggers = self._loggers(seed, k_train)
        with self._lock:
            self._steps[key] = max(step, self._steps.get(key, 0))
        named = {f"train/{name}": float(value) for name, value in scalars.items()}
        for logger in loggers:
            logger.log_scalars(named, step)

    def finished(self, outcome: Any) -> None:
        """A fit's final scores, at its last step logged; its loggers are closed."""
        key = (outcome.seed, outcome.k_train)
        try:
            loggers = self._loggers(*key)
            scalars = final_scalars(outcome)
            step = self._steps.get(key, 0)
            for logger in loggers:
                logger.log_scalars(scalars, step)
        finally:
            self._close(key)

    def _close(self, key: tuple[int, int]) -> None:
        with self._lock:
            loggers = self._open.pop(key, [])
        for logger in loggers:
            with contextlib.suppress(Exception):  # one tracker failing must not hide another
                logger.close()

    def close(self) -> None:
        """Close the loggers of every fit still open."""
        for key in list(self._open):
            self._close(key)

    def __enter__(self) -> Curves:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_config(harness: Any) -> dict[str, Any]:
    """What a tracker records of a run: model, options, suite, task, seeds, label."""
    spec = harness.spec
    return {
        "model": harness.model_name,
        "model_args": harness.model_settings,
        "suite": spec.suite,
        "suite_hash": harness.suite.spec_hash(),
        "suite_config": harness.suite.model_dump(mode="json"),
        "task": harness.suite.task,
        "seeds": list(harness.suite.seeds),
        "label": spec.label,
        "official": spec.official,
        "threads": spec.threads,
    }


def chain(*calls: Any) -> Any:
    """One ``on_fit`` calling each of ``calls`` that is not None, in order (None if none is)."""
    present = [call for call in calls if call is not None]
    if not present:
        return None

    def both(outcome: Any) -> None:
        for call in present:
            call(outcome)

    return both
