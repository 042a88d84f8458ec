"""Sequences of varying length in a run: who may take them, and the random ones a run tests on.

A grammar whose sequences vary in length (`GrammarCapabilities.variable_length`: a
context-free grammar with rules of 2 and 3 symbols) gives padded inputs with their lengths
(`TaskSpec.pad_id`, `TaskData.lengths`). A model that does not say it masks the padding would
read the padding as symbols and be scored as if it had failed to learn, so it is refused
before any fit (`check_lengths`), in one line; so is a task that does not pad.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hbench.contracts import (
    CAPABILITIES,
    PAD,
    ModelCapabilities,
    grammar_capabilities,
    model_capabilities,
    model_config_capabilities,
)
from hbench.errors import UsageError

if TYPE_CHECKING:
    from hbench.contracts import TaskSpec
    from hbench.run.spec import ResolvedRun


def in_memory_variable_length(model: Any) -> bool:
    """What a model given as an object, class or factory declares (`ModelCapabilities`): a
    class's own ``capabilities`` attribute is read without building it; a property (it
    depends on the options) needs an instance, which is built once for the answer."""
    if isinstance(model, type):
        declared = getattr(model, CAPABILITIES, None)
        if declared is None or isinstance(declared, ModelCapabilities):
            return bool(declared is not None and declared.variable_length)
        model = model()
    elif not hasattr(model, "fit"):  # a factory
        model = model()
    return model_capabilities(model).variable_length


def check_lengths(grammar: Any, task_spec: TaskSpec, run: ResolvedRun, model: Any = None) -> None:
    """Refuse, in one line before any fit, a run on a grammar whose sequences vary in length
    with a task that does not pad them (``task_spec``, what the task asks of ``grammar``) or a
    model that does not declare ``variable_length`` (its config's `ModelConfigCapabilities`;
    ``model``, a model given in memory: its own `ModelCapabilities`). Nothing to check on a
    grammar of one length."""
    suite = run.suite
    if not grammar_capabilities(grammar).variable_length:
        return
    if task_spec.pad_id is None:
        raise UsageError(
            f"task {suite.task!r} does not pad sequences of varying length (its TaskSpec has no"
            f" pad_id), and grammar {suite.grammar!r} of suite {suite.name!r} makes them"
        )
    if model is None:
        accepts = model_config_capabilities(run.model_config).variable_length
        name = repr(run.spec.model)
    else:
        accepts = in_memory_variable_length(model)
        name = getattr(model, "__name__", type(model).__name__)
    if not accepts:
        raise UsageError(
            f"model {name} does not take sequences of varying length (it declares no"
            f" variable_length capability), and suite {suite.name!r} has them: use a model"
            " that does (transformer, gpt, bp, naive-bayes, prior) or a suite of one length"
        )


def random_sequences(
    grammar: Any, n: int, width: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` uniformly random sequences of symbols, ``(leaves (n, width), lengths)``: every
    position random for a grammar of one length (lengths None); for a grammar whose sequences
    vary, lengths drawn as the grammar draws them (a sample of it, from ``rng``), symbols
    uniform up to each length and `PAD` after it, so that each length is asked as often as
    the grammar's test sets ask it."""
    if not grammar_capabilities(grammar).variable_length:
        return rng.integers(0, grammar.q, size=(n, width)), None
    lengths = np.asarray(grammar.sample(n, rng).lengths).astype(np.int64)
    symbols = rng.integers(0, grammar.q, size=(n, width))
    real = np.arange(width)[None, :] < lengths[:, None]
    return np.where(real, symbols, PAD), lengths
