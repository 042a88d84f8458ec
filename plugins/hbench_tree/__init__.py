"""hbench's built-in tree grammars, hierarchical filtering and exact belief propagation.

Grammars: the paper's random tree grammar (``hierarchical``; binary with one shared tensor by
default, or any arity, a tensor per level, ambiguous tuples, n_c root classes) and the Random
Hierarchy Model (``rhm``). The oracle gives root, node and leaf posteriors, the log-likelihood,
and next-token posteriors (`BeliefPropagation.next_token`). Registered through the ``hbench``
entry point ``tree``."""

from .bp import NextToken
from .grammar import TreeGrammar, build_grammar, random_productions, sample
from .rhm import build_rhm

__all__ = ["NextToken", "TreeGrammar", "build_grammar", "build_rhm", "random_productions", "sample"]
