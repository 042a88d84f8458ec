"""The built-in tasks, one module each; this module gathers them (and keeps the old import
path ``hbench_tasks.tasks`` working).

Every task is stateless: everything it needs about the grammar (q, the length, the mask token)
comes in the `TaskSpec` it made with `spec`.
"""

from __future__ import annotations

from .ancestor import AncestorTask
from .mlm import MLMTask
from .next_token import NextTokenTask, causality_gap, next_token_metrics
from .root import RootTask

__all__ = [
    "AncestorTask",
    "MLMTask",
    "NextTokenTask",
    "RootTask",
    "causality_gap",
    "next_token_metrics",
]
