"""Options of the context-free grammar and its oracle: pydantic only, so listing them is cheap."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Most levels of rules a cfg may have: sequences hold at least 2**depth symbols.
MAX_DEPTH = 12
#: Longest sequence a cfg may produce (3**depth for ternary rules): the inside-outside charts
#: hold (longest / 2) * longest spans per level and sequence.
MAX_LENGTH = 1024
#: Most symbols at one level: the rule tensors hold n**4 numbers (ternary rules).
MAX_SYMBOLS = 32


class CFGGrammarConfig(BaseModel):
    """A layered probabilistic context-free grammar in the style of the cfg3 family of
    Allen-Zhu & Li ("Physics of Language Models, Part 1"): symbols per level, every
    non-terminal of level d rewrites into 2 or 3 symbols of level d + 1, the last level is the
    terminal vocabulary of q symbols."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: int = Field(3, ge=2, le=MAX_SYMBOLS, description="terminal vocabulary (the last level)")
    depth: int = Field(4, ge=1, le=MAX_DEPTH, description="levels of rules L: leaves at depth L")
    nonterminals: int = Field(
        3, ge=1, le=MAX_SYMBOLS, description="symbols at every level between the root and leaves"
    )
    symbols: list[int] | None = Field(
        None,
        description="symbols per level, root first, leaves last (depth + 1 numbers, which give"
        " depth and q when those are left out; overrides nonterminals and roots), e.g."
        " [1, 3, 3, 3]",
    )
    roots: int = Field(1, ge=1, le=MAX_SYMBOLS, description="root symbols (uniform root prior)")
    rules: int = Field(2, ge=1, description="fewest rules per non-terminal")
    max_rules: int | None = Field(
        3, ge=1, description="most rules per non-terminal, each draws its count (None: rules)"
    )
    arities: list[int] = Field(
        [2, 3], description="right-hand-side lengths a rule may have, drawn uniformly: 2 and/or 3"
    )
    sigma: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="rule weights softmax(sigma * N(0, 1)) per non-terminal; 0: uniform",
    )
    seed: int = Field(0, ge=0, description="grammar seed (which rules)")

    @model_validator(mode="after")
    def _consistent(self) -> CFGGrammarConfig:
        symbols = self.level_symbols
        if self.symbols is not None:
            # the levels say the depth and q where they are not given
            if "depth" not in self.model_fields_set and 2 <= len(symbols) <= MAX_DEPTH + 1:
                object.__setattr__(self, "depth", len(symbols) - 1)
            if "q" not in self.model_fields_set and 2 <= symbols[-1] <= MAX_SYMBOLS:
                object.__setattr__(self, "q", symbols[-1])
            if len(symbols) != self.depth + 1:
                raise ValueError(
                    f"symbols={symbols} has {len(symbols)} levels: depth + 1 = {self.depth + 1}"
                    " (root level first, terminals last)"
                )
            if any(not 1 <= n <= MAX_SYMBOLS for n in symbols):
                raise ValueError(f"symbols={symbols}: every level holds 1 to {MAX_SYMBOLS}")
            if symbols[-1] < 2:
                raise ValueError(f"symbols={symbols}: the terminal level needs at least 2")
            if "q" in self.model_fields_set and self.q != symbols[-1]:
                raise ValueError(
                    f"q={self.q} differs from the terminal level of symbols={symbols}: give"
                    f" q={symbols[-1]} or leave q out"
                )
        if not self.arities or any(a not in (2, 3) for a in self.arities):
            raise ValueError(f"arities={self.arities}: a non-empty list of 2 and/or 3")
        if len(set(self.arities)) != len(self.arities):
            raise ValueError(f"arities={self.arities} names a length twice")
        most = self.max_rules if self.max_rules is not None else self.rules
        if most < self.rules:
            raise ValueError(f"max_rules={most} is less than rules={self.rules}")
        for d in range(self.depth):
            tuples = sum(symbols[d + 1] ** a for a in self.arities)
            if most > tuples:
                raise ValueError(
                    f"max_rules={most} distinct rules need that many right-hand sides, and level"
                    f" {d + 1} with {symbols[d + 1]} symbols offers {tuples}"
                )
        longest = max(self.arities) ** self.depth
        if longest > MAX_LENGTH:
            raise ValueError(
                f"depth={self.depth} with arities {self.arities} gives sequences of up to"
                f" {longest} symbols: at most {MAX_LENGTH} (lower depth or drop arity 3)"
            )
        return self

    @property
    def level_symbols(self) -> list[int]:
        """Symbols per level, root level first, terminals (q) last."""
        if self.symbols is not None:
            return list(self.symbols)
        return [self.roots] + [self.nonterminals] * (self.depth - 1) + [self.q]

    @property
    def arity(self) -> int:
        """The longest right-hand side, what hbench's up-front size checks count with
        (`hbench.suites.Suite.arity`): sequences hold at most arity**depth symbols."""
        return max(self.arities)


class CFGFilterConfig(BaseModel):
    """Filtering of a cfg: level 0 (the grammar itself) only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InsideOutsideConfig(BaseModel):
    """Exact inference on a cfg by the inside-outside algorithm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk: int = Field(
        256, ge=1, description="sequences per batch of the charts (bounds the working memory)"
    )
    workers: int | None = Field(None, ge=1, description="threads (default: one per core, up to 8)")
