"""`tree-em`: the learner that knows the tree's shape but not its rules.

It is told the arity s (an option, default 2) and reads the depth off the sequence length
(L = s**depth); it fits one production tensor per level (or one shared, ``per_level=false``)
and the root prior by expectation-maximisation on the training set, then answers every question
with exact belief propagation of the fitted grammar. It is the model a theorist would call
"the Bayes-optimal learner with the right prior": its gap to BP as the budget P grows is the
sample-complexity curve a network can be held against.

Training evidence per task: every leaf is observed (``mlm`` and the masked view of
``next-token`` hide some leaves from the inputs, and the training answers give them back); for
``root`` the root is clamped to its label, which also names the fitted root symbols (without
labels EM finds the hidden symbols only up to a permutation, which the leaves' own tasks do not
care about). The E-step is `inside_outside.expected_counts`; the M-step normalises the expected
counts plus ``smoothing`` (a Dirichlet pseudo-count, so a tuple never seen keeps a small weight
and no test sequence is impossible). EM climbs to a local maximum of the likelihood: it starts
from ``restarts`` random tensors, runs each for a few iterations, and runs the most likely one
to convergence.

It assumes the unfiltered tree (filter level k = 0). On data filtered at k > 0 it is a
mismatched learner: the root's children are no longer drawn by one production, so it fits the
best unfiltered grammar it can, which is what a learner with the paper's prior would do.

The worker runs a model without the grammar; this module uses only the tree plugin's inference
code (`TreeGrammar` and `BeliefPropagation`, imported when the model is built), on the fitted
tensors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hbench.contracts import MASKED, WHOLE_SEQUENCE, FitCallbacks, TaskData, TaskSpec
from hbench.errors import UsageError, invalid
from hbench_tree.bp import BeliefPropagation
from hbench_tree.grammar import TreeGrammar

from .configs import TREE_EM_TASKS as TASKS
from .configs import TreeEMConfig
from .inputs import as_index, input_tokens, training_targets, unfitted
from .inside_outside import expected_counts

#: Over-relaxation of EM steps: the step grows by this factor while the likelihood rises, up
#: to the maximum (see `TreeEMModel._em`).
OVER_RELAXATION_GROWTH = 1.5
OVER_RELAXATION_MAX = 8.0
#: EM iterations of every random start before the most likely one is run to convergence.
SCREEN_ITERATIONS = 20


def tree_depth(length: int, arity: int) -> int:
    """log_arity(length), or a `UsageError` when the length is no power of the arity."""
    depth = max(1, round(math.log(length) / math.log(arity)))
    if arity**depth != length:
        raise invalid(
            "arity", arity, f"an arity whose power is the sequence length {length} (s**depth = L)"
        )
    return depth


def _relax(current: tuple, update: tuple, eta: float) -> tuple:
    """current * (update / current)**eta for each distribution, renormalised on the last
    axis; zeros of the update stay zero."""
    out = []
    for old, new in zip(current, update, strict=True):
        with np.errstate(divide="ignore", invalid="ignore"):
            log_new = np.log(new)
            log_old = np.where(old > 0, np.log(old), log_new)
            log = np.where(new > 0, eta * log_new + (1 - eta) * log_old, -np.inf)
        log -= log.max(axis=-1, keepdims=True)
        weights = np.exp(log)
        out.append(weights / weights.sum(axis=-1, keepdims=True))
    return tuple(out)


class TreeEMModel:
    """Tree grammar of known shape fitted by EM; answers by exact BP of the fit."""

    name = "tree-em"

    def __init__(self, config: TreeEMConfig | None = None) -> None:
        self.config = config or TreeEMConfig()
        self.spec: TaskSpec | None = None
        self.grammar: TreeGrammar | None = None
        self.bp: BeliefPropagation | None = None
        self.history: dict[str, Any] = {}  # the restarts' screening and the kept run

    # --- training evidence ------------------------------------------------------------------

    def evidence(self, train: TaskData, spec: TaskSpec) -> tuple[np.ndarray, np.ndarray | None]:
        """(leaves (n, L) with -1 where unobserved, root labels (n,) or None) from the training
        data: masked inputs filled with their answers, one row per sequence."""
        if spec.task not in TASKS:
            raise UsageError(
                f"model 'tree-em' answers the tasks {', '.join(TASKS)}, not {spec.task!r}"
            )
        inputs = input_tokens(train, spec)
        targets = training_targets(train, spec)
        rows, positions = as_index(train.query_rows), as_index(train.query_positions)
        leaves = inputs.copy()
        if spec.mask_id is not None:
            leaves[leaves == spec.mask_id] = MASKED
        if spec.task == "root":
            if np.any(positions != WHOLE_SEQUENCE) or rows.size != len(train):
                raise invalid("query_positions", "position queries", "one root query per row")
            roots = np.full(len(train), MASKED, dtype=np.int64)
            roots[rows] = targets
            return leaves, roots
        leaves[rows, positions] = targets
        if spec.task == "next-token" and spec.mask_id is not None:
            # the masked view: row s * L + i is sequence s up to i; the rows asking the last
            # position hold whole sequences once their answer is filled in
            leaves = leaves[rows[positions == spec.length - 1]]
        return leaves, None

    # --- EM ----------------------------------------------------------------------------------

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        config = self.config
        depth = tree_depth(spec.length, config.arity)
        leaves, roots = self.evidence(train, spec)
        q, s = spec.q, config.arity
        # identical sequences (with their label) are counted once, with their multiplicity
        keys = leaves if roots is None else np.column_stack([roots, leaves])
        unique, weights = np.unique(keys, axis=0, return_counts=True)
        leaves = unique if roots is None else unique[:, 1:]
        clamp = {} if roots is None else {0: unique[:, :1]}
        weights = weights.astype(np.float64)

        rng = np.random.default_rng(callbacks.seed)
        levels = depth if config.per_level else 1

        def e_step(tensors: np.ndarray, prior: np.ndarray):
            full = tensors if config.per_level else np.repeat(tensors, depth, axis=0)
            shape = (depth,) + (q,) * (s + 1)
            return expected_counts(
                full.reshape(shape), prior, leaves, arity=s, clamp=clamp, weights=weights
            )

        # Every start runs a few iterations; the most likely one then runs to convergence.
        screen = min(config.iterations, SCREEN_ITERATIONS) if config.restarts > 1 else 0
        total = config.restarts * screen + config.iterations
        done = 0

        def progress(iteration: int) -> None:
            callbacks.progress(done + iteration, total, "iteration")

        starts = []
        for _ in range(config.restarts):  # over restarts, each batched over sequences
            start = (rng.dirichlet(np.ones(q**s), size=(levels, q)), np.full(q, 1.0 / q))
            if screen:
                loglik, *start, _ = self._em(e_step, *start, levels, screen, progress)
                done += screen
            else:
                loglik = -np.inf
            starts.append((loglik, start))
        best = max(range(len(starts)), key=lambda i: starts[i][0])
        loglik, tensors, prior, iterations = self._em(
            e_step, *starts[best][1], levels, config.iterations, progress
        )
        self.history = {
            "screened": [float(s[0]) for s in starts] if screen else [],
            "kept": best,
            "iterations": iterations,
            "loglik": loglik,
        }
        self.spec = spec
        shape = (q,) * (s + 1)
        self.grammar = TreeGrammar(
            tensors.reshape((levels, *shape)) if config.per_level else tensors[0].reshape(shape),
            prior,
            depth,
            arity=s,
            per_level=config.per_level,
        )
        self.bp = BeliefPropagation(self.grammar)

    def _em(
        self, e_step, tensors, prior, levels: int, iterations: int, progress
    ) -> tuple[float, Any, Any, int]:
        """At most ``iterations`` EM steps from (tensors, prior), fewer once converged:
        (log-likelihood, tensors, prior, iterations run).

        Adaptive over-relaxation (Salakhutdinov & Roweis, ICML 2003): the step from the
        current parameters to the EM update is taken ``eta`` times in log space, eta growing
        while the likelihood rises and reset to a plain EM step when it falls, which the
        next E-step tells for free. The likelihood never decreases from one accepted step to
        the next, as in plain EM; the tree's hidden symbols converge several times faster.
        """
        config = self.config
        counts = e_step(tensors, prior)
        loglik, eta = counts.loglik, 1.0
        plain = self._maximise(counts.productions, counts.root, levels)
        for iteration in range(1, iterations + 1):
            progress(iteration)
            step = plain if eta == 1.0 else _relax((tensors, prior), plain, eta)
            counts = e_step(*step)
            if counts.loglik < loglik and eta > 1.0:  # overshot: take the plain step
                step, eta = plain, 1.0
                counts = e_step(*step)
            else:
                eta = min(eta * OVER_RELAXATION_GROWTH, OVER_RELAXATION_MAX)
            gain, loglik = counts.loglik - loglik, counts.loglik
            tensors, prior = step
            plain = self._maximise(counts.productions, counts.root, levels)
            if gain <= config.tolerance * abs(loglik):
                break
        return loglik, plain[0], plain[1], iteration

    def _maximise(
        self, productions: np.ndarray, root: np.ndarray, levels: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The M-step: expected counts plus the pseudo-count, normalised per parent."""
        alpha = self.config.smoothing
        if levels == 1:
            productions = productions.sum(axis=0, keepdims=True)
        productions = productions + alpha
        totals = productions.sum(axis=-1, keepdims=True)
        tensors = productions / np.where(totals > 0, totals, 1.0)
        empty = (totals == 0)[..., 0]
        tensors[empty] = 1.0 / productions.shape[-1]  # a parent never seen: uniform
        root = root + alpha
        prior = root / root.sum() if root.sum() > 0 else np.full(root.size, 1.0 / root.size)
        return tensors, prior

    # --- answers -----------------------------------------------------------------------------

    def predict(self, data: TaskData) -> np.ndarray:
        spec, bp = self.spec, self.bp
        if spec is None or bp is None:
            raise unfitted(self.name)
        inputs = input_tokens(data, spec)
        rows, positions = as_index(data.query_rows), as_index(data.query_positions)
        if spec.task == "root":
            return bp.run(inputs, full=False).root[rows]
        if spec.task == "next-token" and spec.mask_id is None:  # the causal view
            return bp.next_token(inputs).probabilities[rows, positions]
        leaves = inputs.copy()
        if spec.mask_id is not None:
            leaves[leaves == spec.mask_id] = MASKED
        return bp.run(leaves, full=True).leaves[rows, positions]

    def num_parameters(self) -> int:
        """The fitted production tensors and root prior."""
        if self.grammar is None:
            raise unfitted(self.name)
        return int(self.grammar.productions.size + self.grammar.root_prior.size)

    def resolved_config(self) -> dict[str, Any]:
        """The options and the depth read off the sequence length."""
        depth = None if self.grammar is None else self.grammar.depth
        return {**self.config.model_dump(mode="json"), "depth": depth}
