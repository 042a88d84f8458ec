"""The whole contract between hbench and a plugin: eight hooks, one ``register`` argument each.

A plugin is a module (or any object) with functions marked ``@hookimpl`` and named after the
hooks below, exposed through an entry point in the ``hbench`` group::

    [project.entry-points.hbench]
    myplugin = "myplugin.hbench_plugin"

Inside a hook the plugin calls ``register(name, factory, config=None, *, description=None,
**metadata)`` once per item. The surface is kept this small on purpose (as in simonw/llm): one
callback is easy to document, to validate and to keep stable, whereas a hook that *returns*
objects would force every plugin to build them up front, importing heavy libraries just to be
listed. So ``factory`` may be a ``"package.module:attr"`` string, resolved only when the item is
created, and ``config`` is a pydantic model with ``extra="forbid"`` so a misspelt option is an
error, not a silently ignored default.

Built-in implementations register through these same hooks, so there is one code path to test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

PROJECT = "hbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: The kinds of item a plugin can provide, in the order hbench loads (and lists) them: what is
#: generated, what filters it, what is asked about it, what answers exactly, what learns it;
#: then the benchmark presets built from those, how answers are scored, and what is studied
#: in a finished run.
KINDS: tuple[str, ...] = (
    "grammar",
    "filter",
    "task",
    "oracle",
    "model",
    "suite",
    "metric",
    "analysis",
)

#: The hook a plugin implements to provide items of each kind.
HOOK_FOR_KIND: dict[str, str] = {
    "grammar": "hbench_register_grammars",
    "filter": "hbench_register_filters",
    "task": "hbench_register_tasks",
    "oracle": "hbench_register_oracles",
    "model": "hbench_register_models",
    "suite": "hbench_register_suites",
    "metric": "hbench_register_metrics",
    "analysis": "hbench_register_analyses",
}


class Register(Protocol):
    """The type of the ``register`` callback each hook receives (for a plugin's annotations).

    A rejected registration (bad name, config without ``extra="forbid"``, duplicate name) does
    not raise into the plugin: hbench records it as the plugin's error and goes on, so one bad
    item does not hide the plugin's other items.
    """

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        config: type[BaseModel] | None = None,
        *,
        description: str | None = None,
        **metadata: Any,
    ) -> None: ...


@hookspec
def hbench_register_grammars(register: Register) -> None:
    """Register tree grammars: the generators of the random trees a benchmark is built from.

    Call ``register(name, factory, config)``; ``factory(config)`` returns the grammar object.
    """


@hookspec
def hbench_register_filters(register: Register) -> None:
    """Register filters: the hierarchical conditions that decide which generated trees are kept.

    Call ``register(name, factory, config)``; ``factory(config)`` returns the filter object.
    """


@hookspec
def hbench_register_tasks(register: Register) -> None:
    """Register tasks: the inference questions asked about a filtered tree.

    Call ``register(name, factory, config)``; ``factory(config)`` returns the task object.
    """


@hookspec
def hbench_register_oracles(register: Register) -> None:
    """Register oracles: exact (or reference) solvers that give the right answer to a task.

    Call ``register(name, factory, config)``; ``factory(config)`` returns the oracle object.
    """


@hookspec
def hbench_register_models(register: Register) -> None:
    """Register models: the learners that are trained and measured against the oracles.

    Call ``register(name, factory, config)``. Prefer a ``"package.module:attr"`` string factory
    when the module imports a heavy framework (torch, jax), so that listing models stays cheap
    and works where that framework is not installed. Pass ``uses_torch=True`` when it imports
    torch (an optional extra of hbench): a run naming the model where torch is not installed
    then stops at once with one line saying what to install. Pass ``build_imports=("pkg",)``
    when the model's module imports a grammar or oracle plugin's package (its BP code, for a
    grammar the model fits itself): the worker's audit then does not flag that import while
    the model is built (it still does during fit and predict).
    """


@hookspec
def hbench_register_suites(register: Register) -> None:
    """Register suites: named benchmark presets of a grammar, its options and the budgets.

    Call ``register(name, suite)`` with a `hbench.suites.Suite` (its ``name`` is ``name``):
    the suite names its grammar and that grammar's options (``grammar_args``, validated
    against the grammar's config when the suite is used), the filter levels, the task, the
    budget ``P`` (and ``budgets``, a task's own budget) and the test sizes.
    """


@hookspec
def hbench_register_metrics(register: Register) -> None:
    """Register metrics: how a model's answers are scored in every cell of a run.

    Call ``register(name, function, direction="higher" | "lower", aggregation="mean")``;
    ``function(inputs)`` takes a `hbench.metrics.MetricInputs` (the model's probabilities, the
    exact answers, the targets, ...) and returns one value per query (aggregated into the
    cell's value by ``aggregation``) or None where the metric does not apply. Results record
    each metric by name per cell, and boards show it by name; ``tasks=("name", ...)`` records
    it in the cells of those tasks only (a task's own numbers, e.g. ``generate``'s).
    """


@hookspec
def hbench_register_analyses(register: Register) -> None:
    """Register analyses: studies of a finished run (or a sweep's folder of runs).

    Call ``register(name, function, options)``; ``function(source, options)`` takes the
    result file (or folder) and the validated options (a pydantic model, ``extra="forbid"``)
    and returns a `hbench.analysis.report.Report`, which can write its JSON and figures.
    ``hbench analyze NAME`` offers one flag per option.
    """
