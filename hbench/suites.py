"""Named benchmark presets: the grammar, the filter levels, the budgets and the test sizes.

A suite fixes everything that makes two results comparable; its canonical JSON and hash name
that comparison class. Any field can be overridden (``--set P=4096``), validated by the schema.
Suites are a registered kind: a plugin registers the suites of its grammar through
``hbench_register_suites`` (the tree plugin registers the built-in ones), and `SUITES` is every
registered suite by name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from hbench.errors import HbenchError, UsageError, did_you_mean, pydantic_message, unknown

if TYPE_CHECKING:
    from hbench.registry.registry import Registration, Registry

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


def _fields_of(entry: Registration) -> dict[str, str]:
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
    P: int = Field(ge=1, description="training sequences per training filter level")
    budgets: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="a task's own budget, task -> training sequences per level (default: P)",
    )
    n_test: int = Field(ge=1, description="test sequences per test filter level")
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

    def grammar_fields(self, registry: Registry | None = None) -> dict[str, str]:
        """The suite fields (of `GRAMMAR_FIELDS`) that this suite's grammar takes, each with
        its option name, decided by the config class the grammar registered: q, depth, seed
        and sigma for ``hierarchical``, no sigma for ``rhm``. A `UsageError` if the grammar is
        not registered (``registry``: the process-wide one by default)."""
        from hbench.registry.registry import get_registry

        return _fields_of((registry or get_registry()).get("grammar", self.grammar))

    def grammar_config(self, registry: Registry | None = None) -> dict[str, Any]:
        """The grammar plugin's options: each suite field the grammar takes (see
        `grammar_fields`: q, depth, seed, and sigma for a grammar that has one) and any
        ``grammar_args``, which may override them (a grammar_args value of None leaves that
        option at the grammar's default)."""
        from hbench.registry.registry import get_registry

        return self.grammar_config_of((registry or get_registry()).get("grammar", self.grammar))

    def grammar_config_of(self, entry: Registration) -> dict[str, Any]:
        """`grammar_config` for the grammar registration ``entry`` (this suite's grammar)."""
        fields = _fields_of(entry)
        base = {option: getattr(self, field) for field, option in fields.items()}
        config = {**base, **self.grammar_args}
        return {key: value for key, value in config.items() if value is not None}

    def grammar_summary(self, registry: Registry | None = None) -> str:
        """The grammar as pages show it: only the fields it takes, then its ``grammar_args``
        (``q=4, depth=4, sigma=1.0``; ``grammar rhm: q=8, depth=4, n_c=8, m=4, s=2``)."""
        try:
            fields = [f for f in self.grammar_fields(registry) if f != "grammar_seed"]
        except UsageError:  # a grammar not installed here: every field, as recorded
            fields = ["q", "depth", "sigma"]
        parts = [f"{field}={getattr(self, field)}" for field in fields]
        parts += [f"{key}={value}" for key, value in self.grammar_args.items()]
        prefix = "" if self.grammar == "hierarchical" else f"grammar {self.grammar}: "
        return prefix + ", ".join(parts)

    def arity(self, registry: Registry | None = None) -> int:
        """Children per node, what the up-front size checks count with before any grammar is
        built: the ``arity`` of the grammar's validated config, which any grammar plugin may
        offer (a field or a property: the hierarchical grammar's field, the RHM's ``s``).
        Where the grammar is not installed, its config has none, or it refuses these options
        (which is reported where the grammar is built), grammar_args' ``arity`` or ``s``, else
        2."""
        from hbench.registry.registry import get_registry

        try:
            entry = (registry or get_registry()).get("grammar", self.grammar)
            arity = getattr(entry.validate_config(self.grammar_config(registry)), "arity", None)
        except (HbenchError, ValueError):
            arity = None
        if isinstance(arity, int) and not isinstance(arity, bool) and arity >= 2:
            return int(arity)
        args = self.grammar_args
        return int(args.get("arity") or args.get("s") or 2)

    def canonical(self) -> dict[str, Any]:
        """Everything that decides the data, without name or description."""
        data = self.model_dump(mode="json", exclude={"name", "description", "leaderboard"})
        if not data["grammar_args"]:  # hashes of suites without it stay what they were
            del data["grammar_args"]
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


class _RegisteredSuites(Mapping[str, Suite]):
    """The suites the installed plugins registered (``hbench_register_suites``), by name, read
    from the process-wide registry on each use (so a reloaded registry is seen at once)."""

    def _suites(self) -> dict[str, Suite]:
        from hbench.registry.registry import get_registry

        return registered_suites(get_registry())

    def __getitem__(self, name: str) -> Suite:
        return self._suites()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._suites())

    def __len__(self) -> int:
        return len(self._suites())

    def __repr__(self) -> str:
        return f"SUITES({', '.join(self._suites())})"


def registered_suites(registry: Registry) -> dict[str, Suite]:
    """Every suite ``registry`` holds, by name, in the order the plugins registered them
    (the built-in ones first)."""
    return {item.name: item.value for item in registry.in_order("suite")}


#: Every registered suite by name: the built-in ones (the tree plugin's), then any plugin's.
SUITES: Mapping[str, Suite] = _RegisteredSuites()


def _spell_set(key: str, value: Any) -> str:
    return f"--set {key}={value}" if key else "--set"


def parse_value(text: str) -> Any:
    """A --set value: JSON when it parses (numbers, lists, null), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def get_suite(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    spell: Callable[[str, Any], str] | None = None,
    registry: Registry | None = None,
) -> Suite:
    """The named suite with ``--set`` overrides applied and validated.

    An override given as text is parsed like a ``--set`` value; any other value is used as is
    (a sweep file's typed values). ``spell(key, value)`` says how the user wrote an override,
    for messages (default ``--set key=value``). An override of a grammar field (q, depth,
    sigma, grammar_seed) that the suite's grammar does not take is refused, since it would
    be silently ignored; ``registry`` (the process-wide one by default) says what each
    grammar takes."""
    from hbench.registry.registry import get_registry

    if spell is None:
        spell = _spell_set
    registry = registry or get_registry()
    suites = registered_suites(registry)
    if name not in suites:
        raise unknown("suite", name, suites)
    base = suites[name]
    if not overrides:
        return base
    fields = set(Suite.model_fields) - {"name", "description"} | {LEGACY_BUDGET}
    data = base.model_dump()
    for key, text in overrides.items():
        if key == LEGACY_BUDGET:  # mlm's budget, as it was spelled before ``budgets``
            value = parse_value(text) if isinstance(text, str) else text
            data["budgets"] = {**data["budgets"], "mlm": value}
            if value is None:
                del data["budgets"]["mlm"]
            continue
        if key not in fields:
            close = did_you_mean(key, sorted(fields))
            hint = f" did you mean {close!r}?" if close else ""
            raise UsageError(
                f"{spell(key, text)} is invalid: suites have no field {key!r};{hint}"
                f" fields: {', '.join(sorted(fields))}"
            )
        data[key] = parse_value(text) if isinstance(text, str) else text
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"])
            message = pydantic_message(error)
            if where.startswith("budgets") and LEGACY_BUDGET in overrides:
                where = LEGACY_BUDGET
            given = spell(where, overrides[where]) if where in overrides else spell("", None)
            problems.append(f"{given} is invalid for suite {name!r}: {message}")
        raise UsageError("; ".join(problems)) from None
    _check_grammar_fields(suite, overrides, spell, registry)
    return suite


def _check_grammar_fields(
    suite: Suite,
    overrides: Mapping[str, Any],
    spell: Callable[[str, Any], str],
    registry: Registry | None,
) -> None:
    """Refuse an override of a grammar field the suite's grammar has no option for (``--set
    sigma=2`` on an ``rhm`` suite), or one the suite's ``grammar_args`` set again (they take
    precedence): either would change the suite's hash and not its data."""
    given = [key for key in overrides if key in GRAMMAR_FIELDS]
    if not given:  # nothing to check: no need to load the plugins
        return
    from hbench.registry.registry import get_registry

    registry = registry or get_registry()
    taken = suite.grammar_fields(registry)
    for key in given:
        option = GRAMMAR_FIELDS[key]
        if key not in taken:
            entry = registry.get("grammar", suite.grammar)
            raise UsageError(
                f"{spell(key, overrides[key])} is invalid for suite {suite.name!r}: its grammar"
                f" {suite.grammar!r} has no option {option!r}, so the suite's {key} does nothing;"
                f" the grammar's options: {', '.join(entry.options) or 'none'}"
            )
        if option in suite.grammar_args:
            raise UsageError(
                f"{spell(key, overrides[key])} is invalid for suite {suite.name!r}: its"
                f" grammar_args set {option}={suite.grammar_args[option]!r}, which the grammar"
                f" takes instead; change grammar_args"
            )
