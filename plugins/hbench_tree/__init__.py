"""hbench's built-in tree grammar: the paper's random binary grammar, hierarchical filtering,
and exact belief propagation. Registered through the ``hbench`` entry point ``tree``."""

from .model import TreeModel, build_model, random_productions
from .sampler import sample

__all__ = ["TreeModel", "build_model", "random_productions", "sample"]
