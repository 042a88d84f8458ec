"""hbench's built-in tree grammar: the paper's random binary grammar, hierarchical filtering,
and exact belief propagation. Registered through the ``hbench`` entry point ``tree``."""

from .grammar import TreeGrammar, build_grammar, random_productions
from .sampler import sample

__all__ = ["TreeGrammar", "build_grammar", "random_productions", "sample"]
