"""The registered suites: every suite the installed plugins registered, by name (`SUITES`), and
a suite with a run's overrides applied and validated (`get_suite`).

`hbench.suites.Suite` is what a suite is (its fields, hash and grammar options); this module is
where suites are looked up, so it stands above the registry, and the registry, which checks each
suite a plugin registers, below it only needs `Suite` itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from hbench.errors import UsageError, did_you_mean, pydantic_message, unknown
from hbench.registry.registry import Registry, get_registry
from hbench.suites import GRAMMAR_FIELDS, LEGACY_BUDGET, Suite, parse_value


class _RegisteredSuites(Mapping[str, Suite]):
    """The suites the installed plugins registered (``hbench_register_suites``), by name, read
    from the process-wide registry on each use (so a reloaded registry is seen at once)."""

    def _suites(self) -> dict[str, Suite]:
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

#: How an override names one option of the suite's task (``task_args.epsilon``): ``--set
#: task_args.epsilon=0.2``, or a sweep axis ``"task_args.epsilon" = [0.1, 0.2]``.
TASK_OPTION = "task_args."


def _plain(value: Any) -> str:
    """A suite field's value as ``--set`` spells it (JSON: lists in brackets)."""
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _spell_set(key: str, value: Any) -> str:
    return f"--set {key}={value}" if key else "--set"


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
    grammar takes. ``task_args.KEY`` sets one of the task options the suite fixes (its
    ``task_args``), keeping the others; another ``task`` drops them unless ``task_args`` is
    given too (they are the suite's own task's)."""
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
        option = key.removeprefix(TASK_OPTION)
        if option != key and option:  # one task option the suite fixes: task_args.epsilon=0.2
            value = parse_value(text) if isinstance(text, str) else text
            data["task_args"] = {**data["task_args"], option: value}
            continue
        if key not in fields:
            close = did_you_mean(key, sorted(fields))
            hint = f" did you mean {close!r}?" if close else ""
            raise UsageError(
                f"{spell(key, text)} is invalid: suites have no field {key!r};{hint}"
                f" fields: {', '.join(sorted(fields))}"
            )
        data[key] = parse_value(text) if isinstance(text, str) else text
    if data["task"] != base.task and not any(k.startswith("task_args") for k in overrides):
        data["task_args"] = {}  # the suite's task options are its own task's
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"])
            message = pydantic_message(error)
            if where.startswith("budgets") and LEGACY_BUDGET in overrides:
                where = LEGACY_BUDGET
            if where in overrides:
                given, suite_of = spell(where, overrides[where]), f"suite {name!r}"
            elif where in data:  # a field the overrides left, invalid beside them (n_test, depth)
                given = f"{where}={_plain(data[where])}"
                with_ = ", ".join(spell(key, value) for key, value in overrides.items())
                suite_of = f"suite {name!r} with {with_}"
            else:
                given, suite_of = spell("", None), f"suite {name!r}"
            problems.append(f"{given} is invalid for {suite_of}: {message}")
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
