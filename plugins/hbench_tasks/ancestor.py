"""Ancestor prediction: for every leaf, the symbol of its ancestor at one depth d of the tree.

It turns the probing question of the paper ("do a network's token vectors hold the tree?") into
a task any model can be trained and scored on: the model sees every leaf and answers, at each
leaf position i, P(ancestor of leaf i at depth d | all leaves). The exact answer is BP's
posterior of that internal node (`Posteriors.nodes[d]`, or `Posteriors.root` for d = 0).

One depth per task instance (option ``depth``), because a query is a (row, position) pair and
nothing else: the model learns the depth from the task it was trained on, as it learns the task
itself. A sweep over depths is a sweep over the option. All leaves below one node share its
answer; each is asked, so the score weighs every node by its number of leaves (uniformly at
the depth, since the tree is complete). d = 0 asks the root at every leaf: it scores as ``root``.

A grammar filtered at level k has no internal nodes between the root and depth k (the root is
linked to the depth-k nodes directly), so depth d is asked only of levels k <= d: a filtered
grammar without the asked nodes is refused with a `UsageError` naming the option.
"""

from __future__ import annotations

import numpy as np

from hbench.contracts import (
    GenerativeModel,
    Posteriors,
    Sample,
    TaskCapabilities,
    TaskData,
    TaskSpec,
    grammar_capabilities,
)
from hbench.errors import UsageError, invalid

from .common import as_index, fixed_length_only, leaves_of, sequence_length
from .configs import AncestorTaskConfig


class AncestorTask:
    """Every leaf's ancestor at depth ``depth`` (default 1: the root's children).

    Queries: one per leaf, row by row, positions 0..L-1; the target of query (row, i) is the
    symbol of node floor(i / b) at depth d, where b = L / (nodes at depth d) is the number of
    leaves below one node. The oracle needs its downward pass (internal-node posteriors), and
    the harness must sample the internal nodes (``needs_internal_nodes``, declared in
    ``capabilities``).
    """

    name = "ancestor"
    needs_leaf_posteriors = True

    def __init__(self, config: AncestorTaskConfig | None = None) -> None:
        self.config = config or AncestorTaskConfig()

    @property
    def capabilities(self) -> TaskCapabilities:
        """Internal nodes always; depth 0 asks the root at every leaf, so its chance level
        is 1/n_c, as for ``root``."""
        return TaskCapabilities(asks_root=self.config.depth == 0, needs_internal_nodes=True)

    def depth_for(self, model: GenerativeModel) -> int:
        """The asked depth for ``model``, checked against its depth and filter level."""
        depth, d = int(model.depth), self.config.depth
        if not 0 <= d < depth:
            raise invalid("depth", d, f"an ancestor depth in [0, {depth - 1}] (tree depth - 1)")
        level = grammar_capabilities(model).filter_level
        if d and level > d:
            raise UsageError(
                f"depth={d} is invalid for task 'ancestor' at filter level {level}: a grammar"
                f" filtered at level k has no nodes above depth k; use filter levels <= {d}"
                f" (e.g. --set train_filters=[{d}] --set test_filters=[{d}])"
            )
        return d

    def spec(self, model: GenerativeModel) -> TaskSpec:
        fixed_length_only(self.name, model, "every leaf's ancestor at a fixed place of the tree")
        self.depth_for(model)
        q = int(model.q)
        return TaskSpec(task=self.name, q=q, length=sequence_length(model), vocab_size=q)

    def make(self, sample: Sample, spec: TaskSpec, rng: np.random.Generator) -> TaskData:
        """Every leaf as input, every leaf's ancestor as a target; ``rng`` is unused."""
        inputs = leaves_of(sample)
        n, length = inputs.shape
        d = self.config.depth
        if d == 0:
            nodes = np.asarray(sample.roots).astype(np.int64)[:, None]
        elif d in sample.nodes:
            nodes = np.asarray(sample.nodes[d]).astype(np.int64)
        else:
            have = sorted(sample.nodes) or "none"
            raise UsageError(
                f"task 'ancestor' (depth={d}) needs the sampled nodes at depth {d}, and the sample"
                f" has depths {have}: sample with internal=True, at filter levels <= {d}"
            )
        positions = np.arange(length, dtype=np.int64)
        below = self._leaves_below(length, nodes.shape[1])
        return TaskData(
            inputs=inputs,
            query_rows=np.repeat(np.arange(n, dtype=np.int64), length),
            query_positions=np.tile(positions, n),
            targets=nodes[:, positions // below].reshape(-1),
        )

    @staticmethod
    def _leaves_below(length: int, width: int) -> int:
        if width <= 0 or length % width:
            raise invalid("sample.nodes", f"{width} nodes", f"a divisor of the {length} leaves")
        return length // width

    def oracle_leaves(self, data: TaskData, spec: TaskSpec) -> np.ndarray:
        """The inputs themselves: the model sees every leaf."""
        return data.inputs

    def oracle_answers(self, posteriors: Posteriors, data: TaskData) -> np.ndarray:
        rows, positions = as_index(data.query_rows), as_index(data.query_positions)
        length = data.inputs.shape[1]
        d = self.config.depth
        if d == 0:
            return posteriors.root[rows]
        if d not in posteriors.nodes:
            raise ValueError(
                f"task 'ancestor' needs the posteriors of the nodes at depth {d}: call the"
                f" oracle with full=True on a grammar filtered at a level <= {d}"
            )
        nodes = posteriors.nodes[d]
        return nodes[rows, positions // self._leaves_below(length, nodes.shape[1])]
