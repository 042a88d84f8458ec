"""Named benchmark presets: the grammar, the filter levels, the budgets and the test sizes.

A suite fixes everything that makes two results comparable; its canonical JSON and hash name
that comparison class. Any field can be overridden (``--set P=4096``), validated by the schema.
Suites are a registered kind: a plugin registers the suites of its grammar through
``hbench_register_suites`` (the tree plugin registers the built-in ones), and
`hbench.registry.suites.SUITES` is every registered suite by name. This module is what a suite
is, and needs nothing registered; where a method asks what the suite's grammar takes, the caller
hands it the registry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hbench.errors import HbenchError, UsageError

#: Bumped whenever the data a suite generates changes for the same fields (sampler, seeding).
DATA_VERSION = 1

#: The suite fields that are options of the suite's grammar, each with the option's name. A
#: suite passes one to its grammar only when the grammar's config has that option (the
#: ``hierarchical`` grammar has a sigma, ``rhm`` has none), and an override of one the grammar
#: does not take is refused: it would change the suite's hash and nothing else.
GRAMMAR_FIELDS = {"q": "q", "depth": "depth", "sigma": "sigma", "grammar_seed": "seed"}


#: The override key of mlm's budget before suites had ``budgets`` (``--set P_mlm=4096``), still
#: taken: sweep files and scripts spell it so.
LEGACY_BUDGET = "P_mlm"


def _alias_names(alias: object) -> list[str]:
    """The top-level names a pydantic validation alias accepts (a path into a nested value
    names no option of its own)."""
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [name for choice in alias.choices for name in _alias_names(choice)]
    if isinstance(alias, AliasPath) and len(alias.path) == 1 and isinstance(alias.path[0], str):
        return [alias.path[0]]
    return []


def config_options(config: type[BaseModel]) -> frozenset[str]:
    """Every option name a plugin's config class accepts: each field's name, or its aliases
    where it has some (and then its name too if the class validates by name), so that the
    ``rhm`` grammar, whose ``v`` is also spelled ``q``, takes the suite's q."""
    settings = config.model_config
    by_name = bool(settings.get("populate_by_name") or settings.get("validate_by_name"))
    names: set[str] = set()
    for name, info in config.model_fields.items():
        aliases = _alias_names(info.validation_alias) or _alias_names(info.alias)
        names.update(aliases)
        if by_name or not aliases:
            names.add(name)
    return frozenset(names)


def _fields_of(entry: Any) -> dict[str, str]:
    """The suite fields (of `GRAMMAR_FIELDS`) the grammar registered as ``entry`` takes."""
    options = config_options(entry.config)
    return {field: name for field, name in GRAMMAR_FIELDS.items() if name in options}


class Suite(BaseModel):
    """One benchmark preset. Levels default to every filter level 0..depth."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    leaderboard: bool = Field(False, description="submitted results are ranked on a leaderboard")
    grammar: str = "hierarchical"
    q: int = Field(4, ge=2)
    depth: int = Field(4, ge=1, le=16)
    sigma: float = Field(1.0, ge=0, allow_inf_nan=False)
    grammar_seed: int = Field(0, ge=0)
    grammar_args: dict[str, Any] = Field(
        default_factory=dict, description="the grammar plugin's other options (arity, ...)"
    )
    filter: str = "hierarchical"
    oracle: str = "bp"
    task: str = "root"
    task_args: dict[str, Any] = Field(
        default_factory=dict,
        description="options of the task that are part of the suite's question (denoise's"
        " epsilon): the run's task options start from them",
    )
    P: int = Field(ge=1, description="training sequences per training filter level")
    budgets: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="a task's own budget, task -> training sequences per level (default: P)",
    )
    n_test: int | tuple[int, ...] = Field(
        description="test sequences per test filter level: one size for every level, or one per"
        " filter level 0..depth (`test_size`)"
    )
    n_ood: int = Field(ge=0, description="uniformly random test sequences (0: none)")
    train_filters: list[int] | None = None
    test_filters: list[int] | None = None
    seeds: list[int] = Field(default_factory=lambda: [0])

    @model_validator(mode="before")
    @classmethod
    def _legacy_budget(cls, data: Any) -> Any:
        """``P_mlm``, the one task budget suites had before ``budgets``, as ``budgets``: result
        files of schema version 3 are migrated, and a suite written by hand still reads."""
        if isinstance(data, Mapping) and "P_mlm" in data:
            data = dict(data)
            p_mlm = data.pop("P_mlm")
            if p_mlm is not None:
                budgets = dict(data.get("budgets") or {})
                if budgets.get("mlm", p_mlm) != p_mlm:
                    raise ValueError("P_mlm and budgets.mlm differ; give budgets only")
                data["budgets"] = {**budgets, "mlm": p_mlm}
        return data

    @model_validator(mode="after")
    def _levels_in_range(self) -> Suite:
        for field in ("train_filters", "test_filters"):
            levels = getattr(self, field)
            if levels is None:
                continue
            if not levels:
                raise ValueError(f"{field} must list at least one level")
            bad = [k for k in levels if not 0 <= k <= self.depth]
            if bad:
                raise ValueError(f"{field}={bad} outside [0, {self.depth}] (the depth)")
        if not self.seeds or any(s < 0 for s in self.seeds):
            raise ValueError("seeds must be a non-empty list of integers >= 0")
        repeated = sorted({s for s in self.seeds if self.seeds.count(s) > 1})
        if repeated:
            raise ValueError(f"seeds must name each seed once ({repeated} repeated)")
        return self

    @field_validator("n_test", mode="before")
    @classmethod
    def _test_sizes(cls, value: Any, info: ValidationInfo) -> Any:
        """One size (an integer >= 1), or one per filter level 0..depth; a list whose sizes are
        all equal is that one size (the same test sets, so the same hash). Booleans and
        decimals are refused, not bent into integers."""
        depth = info.data.get("depth")
        levels = f"0..{depth} ({depth + 1} of them)" if isinstance(depth, int) else "0..depth"
        allowed = f"an integer >= 1, or a list of one integer >= 1 per filter level {levels}"

        def size(item: Any) -> bool:
            return isinstance(item, int) and not isinstance(item, bool) and item >= 1

        if size(value):
            return value
        if isinstance(value, list | tuple) and value and all(size(item) for item in value):
            if len(set(value)) == 1:
                return value[0]
            if not isinstance(depth, int) or len(value) == depth + 1:
                return tuple(value)
            raise ValueError(f"must be {allowed}; {len(value)} given")
        raise ValueError(f"must be {allowed}")

    def test_size(self, level: int) -> int:
        """Test sequences at filter ``level``: the suite's one size, or that level's own where
        ``n_test`` lists one per level (levels where BP is close to chance need more questions
        for the same standard error of normalised accuracy; benchmarks/size_test_sets.py)."""
        if isinstance(self.n_test, int):
            return self.n_test
        if not 0 <= level < len(self.n_test):
            raise ValueError(f"level={level} is invalid: a filter level in [0, {self.depth}]")
        return self.n_test[level]

    @property
    def largest_test_size(self) -> int:
        """The most test sequences of any test level (what memory must hold at once)."""
        return max(self.test_size(level) for level in self.test_levels)

    def test_sizes_text(self, grouping: bool = False) -> str:
        """``32768`` for one size, ``32768 / 32768 / 50176 / 145408 (k = 0..3)`` per level;
        ``grouping``: with thousands separators (``32,768``)."""
        form = "{:,}" if grouping else "{}"
        if isinstance(self.n_test, int):
            return form.format(self.n_test)
        sizes = " / ".join(form.format(n) for n in self.n_test)
        return f"{sizes} (k = 0..{self.depth})"

    @property
    def levels(self) -> list[int]:
        return list(range(self.depth + 1))

    @property
    def train_levels(self) -> list[int]:
        return list(self.train_filters) if self.train_filters is not None else self.levels

    @property
    def test_levels(self) -> list[int]:
        return list(self.test_filters) if self.test_filters is not None else self.levels

    def budget(self, task: str) -> int:
        """Training sequences for ``task`` at each training level: its own budget if the suite
        gives one (``budgets``), else ``P``."""
        return self.budgets.get(task, self.P)

    def grammar_fields(self, registry: Any) -> dict[str, str]:
        """The suite fields (of `GRAMMAR_FIELDS`) that this suite's grammar takes, each with
        its option name, decided by the config class the grammar registered in ``registry``
        (`hbench.registry.registry.Registry`): q, depth, seed and sigma for ``hierarchical``,
        no sigma for ``rhm``. A `UsageError` if the grammar is not registered."""
        return _fields_of(registry.get("grammar", self.grammar))

    def grammar_config(self, registry: Any) -> dict[str, Any]:
        """The grammar plugin's options: each suite field the grammar takes (see
        `grammar_fields`: q, depth, seed, and sigma for a grammar that has one) and any
        ``grammar_args``, which may override them (a grammar_args value of None leaves that
        option at the grammar's default)."""
        return self.grammar_config_of(registry.get("grammar", self.grammar))

    def grammar_config_of(self, entry: Any) -> dict[str, Any]:
        """`grammar_config` for the grammar registration ``entry`` (this suite's grammar)."""
        fields = _fields_of(entry)
        base = {option: getattr(self, field) for field, option in fields.items()}
        config = {**base, **self.grammar_args}
        return {key: value for key, value in config.items() if value is not None}

    def grammar_summary(self, registry: Any = None) -> str:
        """The grammar as pages show it: only the fields it takes (as ``registry`` says; every
        field without one), then its ``grammar_args`` (``q=4, depth=4, sigma=1.0``;
        ``grammar rhm: q=8, depth=4, n_c=8, m=4, s=2``)."""
        try:
            taken = self.grammar_fields(registry) if registry is not None else GRAMMAR_FIELDS
            fields = [f for f in taken if f != "grammar_seed"]
        except UsageError:  # a grammar not installed here: every field, as recorded
            fields = ["q", "depth", "sigma"]
        parts = [f"{field}={getattr(self, field)}" for field in fields]
        parts += [f"{key}={value}" for key, value in self.grammar_args.items()]
        prefix = "" if self.grammar == "hierarchical" else f"grammar {self.grammar}: "
        return prefix + ", ".join(parts)

    def arity(self, registry: Any = None) -> int:
        """Children per node, what the up-front size checks count with before any grammar is
        built: `arity_of` the suite's grammar as ``registry`` registered it; without a registry,
        or where the grammar is not installed, grammar_args' ``arity`` or ``s``, else 2."""
        entry = None
        if registry is not None:
            try:
                entry = registry.get("grammar", self.grammar)
            except HbenchError:
                entry = None
        return self.arity_of(entry)

    def arity_of(self, entry: Any) -> int:
        """The ``arity`` of the grammar registration ``entry``'s validated config for this
        suite, which any grammar plugin may offer (a field or a property: the hierarchical
        grammar's field, the RHM's ``s``). Where ``entry`` is None, its config has none, or it
        refuses these options (which is reported where the grammar is built), grammar_args'
        ``arity`` or ``s``, else 2."""
        arity = None
        if entry is not None:
            try:
                config = entry.validate_config(self.grammar_config_of(entry))
                arity = getattr(config, "arity", None)
            except (HbenchError, ValueError):
                arity = None
        if isinstance(arity, int) and not isinstance(arity, bool) and arity >= 2:
            return int(arity)
        args = self.grammar_args
        return int(args.get("arity") or args.get("s") or 2)

    def canonical(self) -> dict[str, Any]:
        """Everything that decides the data, without name or description."""
        data = self.model_dump(mode="json", exclude={"name", "description", "leaderboard"})
        for optional in ("grammar_args", "task_args"):
            if not data[optional]:  # hashes of suites without it stay what they were
                del data[optional]
        # Hashes of suites whose only own budget is mlm's stay what they were when that budget
        # was the field P_mlm.
        budgets = data.pop("budgets")
        if set(budgets) <= {"mlm"}:
            data["P_mlm"] = budgets.get("mlm")
        else:
            data["budgets"] = budgets
        data["data_version"] = DATA_VERSION
        return data

    def spec_hash(self) -> str:
        """The suite's one hash: 16 hex digits of the SHA-256 of its canonical form without its
        seed list. Printed by ``hbench run``, recorded in every result (``spec.suite_hash``)
        and shown on boards, whose rows share a table when it is equal. Seeds are replicates
        (a seed's data does not depend on which other seeds ran), so a 3-seed and a 5-seed run
        of one suite answer the same questions; the task is part of it (another task asks
        other questions), so two suites of the same data but different tasks differ."""
        data = self.canonical()
        data.pop("seeds")
        return _sha16(data)

    def seeded_hash(self) -> str:
        """The hash of the canonical form with the seed list, which results of schema version
        < 5 recorded as ``suite_hash`` (`hbench.results.migrations` checks and replaces it)."""
        return _sha16(self.canonical())


def _sha16(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_value(text: str) -> Any:
    """A --set value: JSON when it parses (numbers, lists, null), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
