"""Sequences a fitted model draws, for a task that generates (`TaskCapabilities.generates`).

After a fit the harness asks the model's ``sample(n, rng)`` (`ModelCapabilities.sample`) once,
from a seed of its own stream (`sample_seed`: the same sequences on a rerun, whatever else the
run does), checks what comes back (`check_samples`), and has the task score the sequences at
every test level against the grammar of that level (`score_level`). A model that cannot
sample is refused before any work: by its class's declaration when the run is resolved
(`refuse_without_sample`), and by the object's for a model given as an object.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hbench.contracts import (
    CAPABILITIES,
    ModelCapabilities,
    TaskSpec,
    model_capabilities,
    task_capabilities,
)
from hbench.errors import PluginError, UsageError

#: The stream of the model's sampling seed, after the world's streams
#: (`hbench.run.world.TRAIN` .. `MODEL`, 0..5), so that it never shifts them.
SAMPLES_STREAM = 6


def sample_seed(seed: int, k_train: int) -> int:
    """The seed of the generator handed to ``sample`` after the fit at (seed, k_train)."""
    sequence = np.random.SeedSequence([int(seed), SAMPLES_STREAM, int(k_train)])
    return int(sequence.generate_state(1)[0])


def _declared(obj: Any) -> ModelCapabilities | None:
    """What a model class (or object) declares, or None when only an instance can say (a
    ``capabilities`` property)."""
    declared = getattr(obj, CAPABILITIES, None)
    if declared is None or isinstance(declared, ModelCapabilities):
        return model_capabilities(obj)
    return None


def refuse(model: str, task: str) -> UsageError:
    """The one line for a model that cannot draw sequences, named for a generating task."""
    return UsageError(
        f"model {model!r} cannot do task {task!r}: it has no sample(n, rng) (declare"
        " ModelCapabilities(sample=True) with the method); models that can: gpt, bp, prior"
    )


def refuse_without_sample(
    model: str,
    task: str,
    model_entry: Any,
    model_config: Any,
    task_entry: Any,
    task_config: Any,
) -> None:
    """For a run of a generating task: refuse a registered model whose class does not
    declare ``sample``, before any work. The model's class is imported for it (only for such a
    task); a class that declares its capabilities as a property is asked through an instance
    built from the run's options."""
    if not task_capabilities(task_entry.create(task_config)).generates:
        return
    declared = _declared(model_entry.load())
    if declared is None:
        declared = model_capabilities(model_entry.create(model_config))
    if not declared.sample:
        raise refuse(model, task)


def check_handle(handle: Any, model: str, task: str) -> None:
    """Before a fit of a generating task: refuse a model object that runs in this process
    (given in memory, or a reference model) and does not declare ``sample``. An isolated
    worker's registered model was checked when the run was resolved."""
    obj = getattr(handle, "model", None)
    if obj is not None and not model_capabilities(obj).sample:
        raise refuse(model, task)


def check_samples(samples: Any, n: int, spec: TaskSpec, label: str) -> np.ndarray:
    """The (n, length) int64 sequences a model returned, or a `PluginError` naming it and
    what was wrong (shape, type, a symbol out of [0, q))."""
    try:
        arr = np.asarray(samples)
    except Exception as exc:
        raise PluginError(f"{label} sample() returned something not an array ({exc})") from None
    if arr.shape != (n, spec.length):
        raise PluginError(
            f"{label} sample() returned shape {arr.shape}; expected ({n}, {spec.length})"
        )
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise PluginError(f"{label} sample() returned dtype {arr.dtype}; expected integers")
    if arr.size and (arr.min() < 0 or arr.max() >= spec.q):
        bad = int(arr.min() if arr.min() < 0 else arr.max())
        raise PluginError(f"{label} sample() returned symbol {bad}; expected [0, {spec.q})")
    return arr.astype(np.int64)


def draw(sample: Any, n: int, seed: int, spec: TaskSpec, label: str) -> np.ndarray:
    """``sample(n, seed)`` (a handle's call, or a model's bound to a generator), checked."""
    try:
        out = sample(n, seed)
    except (UsageError, PluginError):
        raise
    except Exception as exc:
        raise PluginError(f"{label} failed in sample: {type(exc).__name__}: {exc}") from exc
    return check_samples(out, n, spec, label)


def score_level(world: Any, seed: int, key: int, samples: np.ndarray) -> Any:
    """The task's scores of ``samples`` against the grammar of test level ``key``, with as
    many of that level's own test sequences as the reference."""
    task = world.task
    reference = world.test_data(seed, key).inputs[: samples.shape[0]]
    grammar = world.filtered(seed, int(key))
    return task.score_samples(world.oracle, grammar, samples, reference, world.task_spec)


#: The columns of `generation_table`: (registered metric, header, digits).
COLUMNS = (
    ("gen_loglik", "loglik ± se (bits/seq)", 2),
    ("gen_loglik_ref", "loglik grammar", 2),
    ("gen_valid", "valid", 3),
    ("gen_coherence", "coherence", 3),
    ("gen_ngram_tv", "ngram_tv", 3),
    ("gen_ngram_tv_ref", "ngram_tv grammar", 3),
)


def generation_table(result: Any) -> str | None:
    """Per (k_train, k_test), the scores of the model's sequences next to the grammar's own
    (means over seeds), as a markdown table; None for a run whose cells have none."""
    from collections import defaultdict

    from tabulate import tabulate

    groups: dict[tuple, list] = defaultdict(list)
    for row in result.metrics:
        if row.scores.get("gen_valid") is not None:
            groups[(row.k_train, row.k_test)].append(row.scores)
    if not groups:
        return None

    def mean(rows: list, name: str) -> float | None:
        values = [r[name] for r in rows if r.get(name) is not None]
        return float(np.mean(values)) if values else None

    table = []
    for (k_train, k_test), rows in groups.items():
        cells: list[Any] = [k_train, k_test]
        for name, _, digits in COLUMNS:
            value = mean(rows, name)
            text = "-" if value is None else f"{value:.{digits}f}"
            errors = [r.get("gen_loglik_se") for r in rows] if name == "gen_loglik" else [None]
            if value is not None and None not in errors:  # the test set's error of the mean
                text += f" ± {np.sqrt(np.sum(np.square(errors))) / len(errors):.2f}"
            cells.append(text)
        table.append(cells)
    headers = ["k_train", "k_test", *(header for _, header, _ in COLUMNS)]
    return "generated sequences (task generate):\n" + tabulate(
        table, headers=headers, tablefmt="github", disable_numparse=True
    )
