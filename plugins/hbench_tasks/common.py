"""Helpers every built-in task shares: the leaves of a sample, index arrays, the length, and
the padding of sequences that vary in length.

A grammar whose sequences vary in length (`GrammarCapabilities.variable_length`) samples
leaves padded with `PAD` after each end; a task turns them into inputs padded with its own
padding token (`TaskSpec.pad_id`, one past the task's other tokens) and hands the lengths on
(`TaskData.lengths`); an oracle gets `PAD` back at the padding (`oracle_sequences`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from hbench.contracts import (
    PAD,
    GenerativeModel,
    Sample,
    TaskData,
    TaskSpec,
    grammar_capabilities,
)
from hbench.errors import UsageError, invalid


def leaves_of(sample: Sample) -> np.ndarray:
    """The sample's leaves as a fresh int64 array (samplers store small ints; models index)."""
    leaves = np.asarray(sample.leaves)
    if leaves.ndim != 2:
        raise invalid("sample.leaves", f"array of shape {leaves.shape}", "shape (n, length)")
    return leaves.astype(np.int64)


def as_index(values: np.ndarray) -> np.ndarray:
    """An int64 view (or copy) of index-like values."""
    return np.asarray(values).astype(np.int64, copy=False)


def sequence_length(model: GenerativeModel) -> int:
    """Leaves per sequence: arity**depth, of the arity the model declares (2 by default,
    the binary tree of the protocol)."""
    return grammar_capabilities(model).length(model.depth)


def check_symbols(inputs: np.ndarray, q: int) -> None:
    """Leaves must be symbols in [0, q) before a task adds its own tokens (the mask is q)."""
    if inputs.size and (inputs.min() < 0 or inputs.max() >= q):
        bad = inputs.min() if inputs.min() < 0 else inputs.max()
        raise invalid("sample.leaves", int(bad), f"symbols in [0, {q}) for the spec'd q={q}")


# --- sequences of varying length ----------------------------------------------------------------


def varies(model: GenerativeModel) -> bool:
    """Whether ``model``'s sequences vary in length (`GrammarCapabilities.variable_length`)."""
    return grammar_capabilities(model).variable_length


def padded(spec: TaskSpec, model: GenerativeModel) -> TaskSpec:
    """``spec`` with a padding token (one past its other tokens) when ``model``'s sequences vary
    in length; unchanged otherwise."""
    if not varies(model):
        return spec
    return dataclasses.replace(spec, vocab_size=spec.vocab_size + 1, pad_id=spec.vocab_size)


def fixed_length_only(task: str, model: GenerativeModel, why: str) -> None:
    """Refuse, in one line before any work, a grammar whose sequences vary in length for a
    task that asks about fixed places (``why``)."""
    if varies(model):
        raise UsageError(
            f"task {task!r} needs sequences of one length ({why}), and this grammar's vary:"
            " use a grammar with rules of one length (a suite such as cfg-smoke) or task root,"
            " mlm or next-token"
        )


def sample_inputs(sample: Sample, spec: TaskSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """The sample's leaves as model inputs and their lengths: `PAD` replaced by the spec's
    padding token where sequences vary in length (lengths None where they do not). Every real
    position must hold a symbol in [0, q) and every other `PAD`, checked in one pass."""
    leaves = leaves_of(sample)
    if spec.pad_id is None:
        return leaves, None
    n, width = leaves.shape
    if sample.lengths is None:
        lengths = (leaves != PAD).sum(axis=1).astype(np.int64)
    else:
        lengths = np.asarray(sample.lengths).astype(np.int64)
        if lengths.shape != (n,) or (n and (lengths.min() < 1 or lengths.max() > width)):
            raise invalid("sample.lengths", f"array {lengths.shape}", f"(n,) in [1, {width}]")
    real = np.arange(width)[None, :] < lengths[:, None]
    bad = np.where(real, (leaves < 0) | (leaves >= spec.q), leaves != PAD)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        allowed = f"a symbol in [0, {spec.q})" if real[row, col] else f"{PAD} (padding)"
        raise invalid(f"sample.leaves[{row}, {col}]", int(leaves[row, col]), allowed)
    return np.where(real, leaves, spec.pad_id), lengths


def oracle_sequences(data: TaskData, spec: TaskSpec) -> np.ndarray:
    """A fresh int64 copy of the inputs, with `PAD` at the padding (after each row's length)
    for an oracle; the inputs themselves (copied) where sequences do not vary."""
    leaves = np.asarray(data.inputs).astype(np.int64, copy=True)
    if spec.pad_id is None:
        return leaves
    if data.lengths is None:
        raise invalid("lengths", None, "the (n,) lengths of sequences padded with pad_id")
    leaves[~data.real_positions()] = PAD
    return leaves
