"""What the tree plugin's registrations build; imported only when an item is created."""

from __future__ import annotations

import weakref

import numpy as np

from hbench.contracts import Posteriors
from hbench.errors import UsageError

from .bp import BeliefPropagation, NextToken
from .configs import BPConfig, HierarchicalFilterConfig, HierarchicalGrammarConfig, RHMGrammarConfig
from .grammar import TreeGrammar, build_grammar
from .rhm import build_rhm


def _tree(model: object, who: str) -> TreeGrammar:
    if not isinstance(model, TreeGrammar):
        raise UsageError(f"{who} works on tree models, not on {type(model).__name__}")
    return model


def hierarchical_grammar(config: HierarchicalGrammarConfig) -> TreeGrammar:
    """The paper's random tree grammar (or an explicit tensor), unfiltered."""
    return build_grammar(
        q=config.q,
        depth=config.depth,
        sigma=config.sigma,
        seed=config.seed,
        productions=config.productions,
        root_prior=config.root_prior,
        arity=config.arity,
        per_level=config.per_level,
        ambiguity=config.ambiguity,
        classes=config.classes,
        rng=config.rng,
    )


def rhm_grammar(config: RHMGrammarConfig) -> TreeGrammar:
    """The Random Hierarchy Model, unfiltered."""
    return build_rhm(
        v=config.v,
        n_c=config.n_c,
        m=config.m,
        s=config.s,
        depth=config.depth,
        seed=config.seed,
        shared_rules=config.shared_rules,
    )


class HierarchicalFilter:
    """Level k: the 2**k nodes at depth k are drawn independently given the root."""

    def __init__(self, config: HierarchicalFilterConfig | None = None) -> None:
        self.config = config

    def apply(self, model: TreeGrammar, level: int) -> TreeGrammar:
        return _tree(model, "filter 'hierarchical'").filtered(level)


class BPOracle:
    """Exact posteriors and log-likelihood by belief propagation (BP_k for a model at level k)."""

    def __init__(self, config: BPConfig | None = None) -> None:
        self.config = config or BPConfig()
        self._engines: weakref.WeakKeyDictionary[TreeGrammar, BeliefPropagation] = (
            weakref.WeakKeyDictionary()
        )

    def engine(self, model: TreeGrammar) -> BeliefPropagation:
        """One BP engine (with its kernels) per model, reused across calls."""
        model = _tree(model, "oracle 'bp'")
        if model not in self._engines:
            self._engines[model] = BeliefPropagation(model)
        return self._engines[model]

    def posteriors(
        self,
        model: TreeGrammar,
        leaves: np.ndarray,
        *,
        full: bool = True,
        leave_one_out: bool = False,
    ) -> Posteriors:
        return self.engine(model).run(
            leaves, full=full, leave_one_out=leave_one_out, workers=self.config.workers
        )

    def next_token(self, model: TreeGrammar, leaves: np.ndarray) -> NextToken:
        """P(x_i | x_0 .. x_{i-1}) at every position of every sequence, the suffix unobserved:
        BP_k for ``model`` filtered at k, one upward and one downward pass for all positions.

        ``leaves``: int (n, L) with L = model.length (-1 = masked, summed out). Returns the
        named tuple ``NextToken(probabilities, log_probabilities)``: (n, L, q) probabilities
        and (n, L) log P(x_i | x_<i) of the observed symbols (0 at masked leaves, -inf once the
        prefix is impossible); a row's log-probabilities sum to its log-likelihood, so minus
        their mean over sampled sequences is the exact conditional entropy's estimate.
        """
        return self.engine(model).next_token(leaves, workers=self.config.workers)
