"""Score a model from Python in one call, and get exactly the data a model's fit receives.

``hbench.evaluate`` is ``hbench run`` for a script or a notebook: the same `RunSpec`, the same
harness, the same `RunResult`. It accepts a registered model's name (run in an isolated worker,
like the CLI), a model class or zero-argument factory (a fresh model per fit), or a model
object with ``fit``/``predict`` (fitted anew for each training level); the last two run in this
process and their results say so. ``hbench.task_data`` hands over the training or test
questions of one seed and filter level, for a training loop of your own.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

from hbench.contracts import TaskData
from hbench.errors import invalid
from hbench.results import RunResult


def _spec(
    model: str,
    suite: str,
    task: str | None,
    seeds: Sequence[int] | None,
    train_filters: Sequence[int] | None,
    overrides: Mapping[str, Any] | None,
    model_args: Mapping[str, Any] | None,
    task_args: Mapping[str, Any] | None,
    device: str,
    threads: int,
    official: bool = False,
    grammar_seeds: Sequence[int] | None = None,
    label: str | None = None,
):
    from hbench.run.spec import merge_overrides, new_spec, python_spelling

    merged = merge_overrides(
        overrides,
        task=task,
        seeds=seeds,
        train_filters=train_filters,
        official=official,
    )
    return new_spec(
        python_spelling,
        model=model,
        suite=suite,
        overrides=merged,
        model_args=dict(model_args or {}),
        task_args=dict(task_args or {}),
        device=device,
        threads=threads,
        official=official,
        grammar_seeds=list(grammar_seeds) if grammar_seeds is not None else None,
        label=label,
    )


def _torch_module(
    registry: Any, model: Any, model_args: Mapping[str, Any] | None
) -> tuple[Any, Mapping[str, Any] | None]:
    """A plain ``torch.nn.Module`` class or instance becomes the registered ``torch-module``
    model that trains it, with ``model_args`` as its training options (``lr``, ``epochs``,
    ``module_args``, ...); anything else is returned as it is. torch is never imported here:
    a module object exists only where its caller imported torch."""
    torch = sys.modules.get("torch")
    if torch is None or isinstance(model, str):
        return model, model_args
    module = torch.nn.Module
    if not (isinstance(model, module) or (isinstance(model, type) and issubclass(model, module))):
        return model, model_args
    wrap = registry.get("model", "torch-module").load()
    return wrap(model, **dict(model_args or {})), None


def evaluate(
    model: Any,
    suite: str = "cpu",
    task: str | None = None,
    *,
    seeds: Sequence[int] | None = None,
    train_filters: Sequence[int] | None = None,
    overrides: Mapping[str, Any] | None = None,
    model_args: Mapping[str, Any] | None = None,
    task_args: Mapping[str, Any] | None = None,
    device: Literal["auto", "cpu", "cuda"] = "auto",
    threads: int = 1,
    jobs: int | None = None,
    in_process: bool | None = None,
    official: bool = False,
    grammar_seeds: Sequence[int] | None = None,
    label: str | None = None,
    out: str | Path | None = None,
    rerun: bool = False,
    progress: bool = True,
    memory_per_fit: int | None = None,
    fit_timeout: float | None = None,
    log_samples: str | Path | None = None,
    loggers: Sequence[Any] | None = None,
) -> RunResult:
    """Train ``model`` at every training filter level of ``suite`` and score it against exact
    inference; the typed `RunResult` (``.table()``, ``.headline``).

    ``model`` is a registered name (``"transformer"``; options in ``model_args``), a class or
    zero-argument factory, or an object with ``fit(train, spec, callbacks)`` and
    ``predict(data)``; a plain ``torch.nn.Module`` class or instance (token ids to logits) is
    trained by the ``torch-module`` model, ``model_args`` being its training options
    (`hbench_nets.torch_module`). ``overrides`` changes suite fields (``{"P": 4096}``); ``seeds``,
    ``train_filters`` and ``task`` are shortcuts for three of them. ``threads`` is each fit's
    thread count, ``jobs`` how many fits run at once. With ``out`` the result is also written
    there as a JSON file (its path in ``result.path``). ``official`` draws one grammar per seed
    from the operating system (leaderboard runs; seeds 0-4 unless given); ``grammar_seeds``
    replays recorded grammars as a run that is not official (never with ``official``).
    ``memory_per_fit`` (bytes of address space) and ``fit_timeout`` (seconds) limit each
    sandboxed fit of a registered model (0: no limit; defaults as ``hbench run``'s). ``label``
    names the run in tables (`load_results`'s ``label`` column; default: the model's name)
    and is part of the spec. Bad options raise `hbench.UsageError` before any training.

    With ``out``, a finished result of the same spec already there (same model and options,
    suite, seeds, threads and label: the spec hash ends its file name) is returned without
    running, so that calling this twice neither trains twice nor counts the run twice in
    `load_results`; ``rerun=True`` runs again and replaces it. Models given as objects or
    classes, and official runs (fresh grammars each time), always run.

    ``log_samples`` (a new ``.parquet`` file; an existing one only with ``rerun``) gets every
    test query's probabilities, the model's and BP's, with its seed, levels, sequence and
    position (`hbench.run.samples`). ``loggers`` sends each fit's learning curves to
    experiment trackers: ``"tensorboard:DIR"``, ``"wandb:PROJECT"``, ``"mlflow:URI"``, or
    objects with ``open(name, group)`` (`hbench.run.loggers`). Neither can come from a reused
    result: with either, a finished one in ``out`` is refused unless ``rerun=True``.
    """
    from hbench.progress import progress as bar
    from hbench.registry.registry import get_registry
    from hbench.run.execute import execute, finished
    from hbench.run.spec import python_spelling

    registry = get_registry()
    model, model_args = _torch_module(registry, model, model_args)
    in_memory = not isinstance(model, str)
    if in_memory and not (callable(model) or hasattr(model, "fit")):
        raise invalid(
            "model", model, "a registered name, a model class or factory, or an object with fit"
        )
    if in_memory and not callable(getattr(model, "predict", None)) and not callable(model):
        raise invalid("model", model, "an object with fit() and predict()")
    name = model if isinstance(model, str) else "prior"  # any registered model: options unused
    spec = _spec(
        name,
        suite,
        task,
        seeds,
        train_filters,
        overrides,
        model_args if not in_memory else None,
        task_args,
        device,
        threads,
        official,
        grammar_seeds,
        label,
    )
    if in_memory and model_args:
        raise invalid("model_args", dict(model_args), "only with a registered model's name")
    run = spec.resolve(registry, python_spelling)
    for field, value in (("memory_per_fit", memory_per_fit), ("fit_timeout", fit_timeout)):
        if value is not None and (isinstance(value, bool) or not value >= 0):
            raise invalid(field, value, "a number >= 0 (0: no limit)")
    custom = model if in_memory else None
    samples, curves = _logs(log_samples, loggers, rerun)
    if out is not None and custom is None and not rerun:
        found = finished(run, out, registry=registry, field="out")
        if found is not None and (samples is not None or curves is not None):
            from hbench.run.samples import refuse_reuse

            refuse_reuse(found.path, "log_samples" if samples is not None else "loggers")
        if found is not None:
            from hbench.run.execute import changed_code, other_code_note

            changed = changed_code(found.result)
            logging.getLogger("hbench").log(
                logging.WARNING if changed else logging.INFO,
                "reused %s: a finished run of the same spec%s (rerun=True runs it again)",
                found.path,
                other_code_note(changed),
            )
            return found.result
    name = model if isinstance(model, str) else getattr(model, "__name__", "model")
    logs = samples if samples is not None else nullcontext()
    outer = bar(len(run.fits), f"{name} on {suite}/{run.task}", unit="fit")
    with outer as advance, logs, curves or nullcontext():
        done = execute(
            run,
            registry=registry,
            out=out,
            overwrite=rerun,
            model=custom,
            field="out",
            python=True,
            jobs=jobs,
            in_process=in_process,
            progress=advance if progress else None,
            memory_per_fit=None if memory_per_fit is None else int(memory_per_fit),
            fit_timeout=fit_timeout,
            sample_log=samples,
            curves=curves,
        )
    return done.result


def _logs(log_samples: Any, loggers: Sequence[Any] | None, rerun: bool) -> tuple[Any, Any]:
    """``log_samples`` (a `hbench.run.samples.SampleLog`) and ``loggers`` (a
    `hbench.run.loggers.Curves`), each None when not asked for; checked before any work."""
    samples = curves = None
    if log_samples is not None:
        from hbench.run.samples import SampleLog, check_samples_path

        samples = SampleLog(check_samples_path(log_samples, "log_samples", overwrite=rerun))
    if loggers:
        from hbench.run.loggers import Curves, destinations

        if isinstance(loggers, str):  # one destination, not a sequence of its characters
            loggers = [loggers]
        curves = Curves(destinations(loggers, "loggers"))
    return samples, curves


def task_data(
    suite: str = "cpu",
    task: str | None = None,
    *,
    level: int = 0,
    split: Literal["train", "test", "ood"] = "train",
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    task_args: Mapping[str, Any] | None = None,
) -> TaskData:
    """The questions of one seed and filter level, exactly as a run builds them.

    ``split="train"`` is what a model's ``fit`` receives (P questions with their answers);
    ``"test"`` the test questions of that level, with the oracle's answers BP_level attached as
    ``data.oracle`` (n_queries, q); ``"ood"`` uniformly random sequences, with BP_level's
    answers as ``data.oracle`` and no targets.
    """
    from hbench.registry.registry import get_registry
    from hbench.run.spec import python_spelling
    from hbench.run.world import World

    if split not in ("train", "test", "ood"):
        raise invalid("split", split, "one of 'train', 'test', 'ood'")
    registry = get_registry()
    spec = _spec("prior", suite, task, [seed], None, overrides, None, task_args, "cpu", 1)
    run = spec.resolve(registry, python_spelling)
    if not 0 <= level <= run.suite.depth:
        raise invalid("level", level, f"a filter level in [0, {run.suite.depth}]")
    world = World.of(run)
    if split == "train":
        return world.train_data(seed, level)
    key: int | str = level if split == "test" else "ood"
    if split == "ood" and not run.suite.n_ood:
        raise invalid("split", split, f"a suite with n_ood > 0 ({suite!r} has none)")
    data = world.test_data(seed, key)
    return data.with_oracle(world.oracle_answers(seed, key, level))


__all__ = ["evaluate", "task_data"]
