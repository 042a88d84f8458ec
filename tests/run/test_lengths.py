"""Sequences of varying length in a run: the random sequences of the ood test, and what a
model given in memory declares."""

from __future__ import annotations

import numpy as np

from hbench.contracts import PAD, ModelCapabilities
from hbench.run.lengths import in_memory_variable_length, random_sequences
from hbench_cfg.grammar import build_cfg


def test_random_sequences_of_one_length_are_unchanged():
    grammar = build_cfg([1, 2, 3], arities=[2], seed=0)
    leaves, lengths = random_sequences(grammar, 50, 4, np.random.default_rng(3))
    assert lengths is None
    np.testing.assert_array_equal(leaves, np.random.default_rng(3).integers(0, 3, size=(50, 4)))


def test_random_sequences_take_the_grammars_lengths_and_are_padded():
    grammar = build_cfg([1, 2, 3], arities=[2, 3], seed=0)
    leaves, lengths = random_sequences(grammar, 2000, grammar.length, np.random.default_rng(1))
    real = np.arange(grammar.length)[None, :] < lengths[:, None]
    assert np.all((leaves[real] >= 0) & (leaves[real] < 3)) and np.all(leaves[~real] == PAD)
    drawn = np.bincount(lengths, minlength=10) / lengths.size
    sampled = np.bincount(grammar.sample(20000, 5).lengths, minlength=10) / 20000
    np.testing.assert_allclose(drawn, sampled, atol=0.04)  # the grammar's own length law
    again, _ = random_sequences(grammar, 2000, grammar.length, np.random.default_rng(1))
    np.testing.assert_array_equal(again, leaves)


class _Declared:
    capabilities = ModelCapabilities(variable_length=True)

    def fit(self, train, spec, callbacks): ...


class _ByOption(_Declared):
    def __init__(self, padded: bool = True) -> None:
        self.padded = padded

    @property
    def capabilities(self) -> ModelCapabilities:
        return ModelCapabilities(variable_length=self.padded)


def test_in_memory_models_say_it_as_a_class_an_instance_or_a_factory():
    assert in_memory_variable_length(_Declared)
    assert in_memory_variable_length(_Declared())
    assert in_memory_variable_length(_ByOption)  # a property: asked of an instance
    assert not in_memory_variable_length(lambda: _ByOption(padded=False))
    assert not in_memory_variable_length(object)
