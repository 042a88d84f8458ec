"""What the cfg plugin's registrations build; imported only when an item is created."""

from __future__ import annotations

import weakref

import numpy as np

from hbench.contracts import Posteriors
from hbench.errors import UsageError

from .configs import CFGFilterConfig, CFGGrammarConfig, InsideOutsideConfig
from .grammar import CFGrammar, build_cfg
from .inside_outside import CFGInference


def _cfg(model: object, who: str) -> CFGrammar:
    if not isinstance(model, CFGrammar):
        raise UsageError(f"{who} works on grammar 'cfg', not on {type(model).__name__}")
    return model


def cfg_grammar(config: CFGGrammarConfig) -> CFGrammar:
    """The random layered PCFG of the config's seed."""
    return build_cfg(
        config.level_symbols,
        rules=config.rules,
        max_rules=config.max_rules,
        arities=config.arities,
        sigma=config.sigma,
        seed=config.seed,
    )


class CFGFilter:
    """Filtering of a cfg: level 0 only.

    Hierarchical filtering draws the nodes at depth k independently given the root and lets the
    grammar grow below them. For a cfg the number of depth-k nodes varies with the derivation,
    so the filtered law must say how many there are and what each one's law is given the root
    and that number: P(count | root) and P(node j = b | root, count), from the grammar's own
    marginals. That law is well defined and its exact oracle is inside-outside with the top k
    levels replaced by those factors, but neither is implemented: every level k > 0 is refused
    in one line, before any work."""

    def __init__(self, config: CFGFilterConfig | None = None) -> None:
        self.config = config

    def apply(self, model: CFGrammar, level: int) -> CFGrammar:
        return _cfg(model, "filter 'cfg'").filtered(level)


class InsideOutsideOracle:
    """Exact posteriors and log-likelihood of a cfg by the inside-outside algorithm."""

    def __init__(self, config: InsideOutsideConfig | None = None) -> None:
        self.config = config or InsideOutsideConfig()
        self._engines: weakref.WeakKeyDictionary[CFGrammar, CFGInference] = (
            weakref.WeakKeyDictionary()
        )

    def engine(self, model: CFGrammar) -> CFGInference:
        """One engine (with its arranged rule tensors) per grammar, reused across calls."""
        model = _cfg(model, "oracle 'inside-outside'")
        if model not in self._engines:
            self._engines[model] = CFGInference(
                model, chunk=self.config.chunk, workers=self.config.workers
            )
        return self._engines[model]

    def posteriors(
        self,
        model: CFGrammar,
        leaves: np.ndarray,
        *,
        full: bool = True,
        leave_one_out: bool = False,
    ) -> Posteriors:
        """See `CFGInference.posteriors`: ``leaves`` (n, N) with -1 masked and `PAD` after each
        row's end; ``root`` is (n, roots), the root level's symbols."""
        return self.engine(model).posteriors(leaves, full=full, leave_one_out=leave_one_out)

    def next_token(self, model: CFGrammar, leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(x_i | x_<i, the length): see `CFGInference.next_token`."""
        return self.engine(model).next_token(leaves)

    def next_symbol(self, model: CFGrammar, leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(x_i | x_<i), the length unknown, the end as symbol q: see
        `CFGInference.next_symbol`."""
        return self.engine(model).next_symbol(leaves)

    def span_posteriors(self, model: CFGrammar, leaves: np.ndarray) -> dict[int, np.ndarray]:
        """See `CFGInference.span_posteriors`."""
        return self.engine(model).span_posteriors(leaves)

    def ancestor_posteriors(self, model: CFGrammar, leaves: np.ndarray) -> dict[int, np.ndarray]:
        """See `CFGInference.ancestor_posteriors`."""
        return self.engine(model).ancestor_posteriors(leaves)
