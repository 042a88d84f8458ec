"""Is a result file what it claims to be? Checks beyond the schema, for leaderboard submissions.

The schema (`hbench.results.RunResult`) says a file is well formed. A leaderboard also needs it
to be internally consistent, because a table built from a hand-edited or truncated file would
publish a number nobody measured: the suite hash must be the hash of the suite the file
records, every (seed, training level, test level) cell must be present exactly once, every
metric must lie in its range, and the headline must be the one its cells give. What a file
claims that can be recomputed is recomputed, never believed: whether the model is privileged
comes from the installed plugin's registration, a parameter count must be a plausible integer,
and names and options are plain text (no control characters: they end up in terminals,
markdown and HTML). Files are only ever parsed as JSON: nothing in them is executed or
unpickled, and a file nested deeper than any result is refused in one line.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from hbench.contracts import grammar_capabilities, task_capabilities
from hbench.errors import HbenchError, UsageError, location, pydantic_message
from hbench.results.files import read_result
from hbench.results.schema import RunResult
from hbench.scoring import ROOT_TASK, chance_level, headline
from hbench.suites import DATA_VERSION, Suite

if TYPE_CHECKING:
    from hbench.registry import Registry

#: Metrics that are fractions of queries.
FRACTIONS = ("acc", "acc_bp", "acc_bp_train", "agree", "agree_train")
#: Metrics that are divergences in bits (>= 0; rounding may give -1e-12).
DIVERGENCES = ("kl_bp", "kl_bp_train")
#: How far a recomputed headline may differ from the stored one (float summation order).
HEADLINE_TOLERANCE = 1e-9
#: How many missing or extra cells a message lists before summarising.
LISTED = 3
#: A parameter count at or above this is not a model anyone trained (10^400 is a number too).
MAX_PARAMETERS = 10**12
#: Characters a name or option may not hold: C0 and C1 controls (ESC starts terminal escape
#: sequences, newlines break markdown rows), the line and paragraph separators (U+2028,
#: U+2029: a line break to many terminals and editors), and the bidirectional marks and
#: overrides that reorder text.
CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
#: How deeply model options may nest (a real config is a few levels; JSON bombs are not).
MAX_DEPTH = 32


def _cell(seed: int, k_train: int, k_test: int | str) -> str:
    return f"(seed={seed}, k_train={k_train}, k_test={k_test})"


def _listed(cells: list[tuple]) -> str:
    shown = ", ".join(_cell(*c) for c in cells[:LISTED])
    return shown + (f" and {len(cells) - LISTED} more" if len(cells) > LISTED else "")


def recorded_suite(result: RunResult) -> Suite:
    """The suite a result records, validated; a `UsageError` if it is not a valid suite."""
    try:
        return Suite.model_validate(result.spec.suite)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = location(first["loc"])
        raise UsageError(f"spec.suite.{where}: {pydantic_message(first)}") from None


def problems(result: RunResult) -> list[str]:
    """Every inconsistency of a schema-valid result, each naming its field; [] if none.

    The checks that need the installed plugins are apart: `privilege` and `chance`."""
    try:
        suite = recorded_suite(result)
    except UsageError as exc:
        return [str(exc)]
    spec = result.spec
    found: list[str] = []
    if suite.spec_hash() != spec.suite_hash:
        found.append(
            f"spec.suite_hash={spec.suite_hash!r} is not the hash of the suite the file records"
            f" ({suite.spec_hash()!r} at data version {DATA_VERSION}): the suite was edited, or"
            " the file comes from an hbench with another data version"
        )
    for name, given, expected in (
        ("spec.task", spec.task, suite.task),
        ("spec.seeds", spec.seeds, list(suite.seeds)),
        ("spec.train_filters", spec.train_filters, suite.train_levels),
        ("spec.test_filters", spec.test_filters, suite.test_levels),
    ):
        if given != expected:
            found.append(f"{name}={given!r} differs from the recorded suite's {expected!r}")
    found += _cells(result, suite)
    found += _ranges(result, suite)
    found += _timings(result, suite)
    found += _headline(result)
    if not math.isfinite(result.wall_s) or result.wall_s < 0:
        found.append(f"wall_s={result.wall_s!r} is invalid: seconds >= 0")
    found += _parameters(result)
    found += _plain_text(result)
    return found


def _parameters(result: RunResult) -> list[str]:
    count = result.num_parameters
    if count is not None and count >= MAX_PARAMETERS:
        shown = f"a number of {len(str(count))} digits" if count >= 10**20 else repr(count)
        return [
            f"num_parameters={shown} is invalid: an integer below {MAX_PARAMETERS:.0e}"
            " (the trainable numbers the model reported)"
        ]
    return []


def _texts(value: Any, where: str) -> Iterator[tuple[str, str | None, int]]:
    """(field, text, depth) for every string key and value inside ``value``, depth first,
    without recursion (a hostile file must not exhaust the stack). ``text`` is None for a
    container too deep to look into."""
    stack: list[tuple[str, Any, int]] = [(where, value, 0)]
    while stack:
        place, item, depth = stack.pop()
        if depth > MAX_DEPTH:
            yield place, None, depth
            continue
        if isinstance(item, str):
            yield place, item, depth
        elif isinstance(item, dict):
            for key, inner in reversed(list(item.items())):
                yield f"{place} key", str(key), depth
                stack.append((f"{place}.{key}", inner, depth + 1))
        elif isinstance(item, list):
            stack.extend((f"{place}[{i}]", inner, depth + 1) for i, inner in enumerate(item))


def control_characters(text: str) -> list[str]:
    """The control characters in ``text`` as escapes (``\\x1b``), in order, once each."""
    return list(dict.fromkeys(repr(c)[1:-1] for c in CONTROL.findall(text)))


def _plain_text(result: RunResult) -> list[str]:
    """Names and options are shown in terminals, markdown and HTML: plain text only."""
    spec = result.spec
    fields: list[tuple[str, Any]] = [
        ("spec.model", spec.model),
        ("spec.label", spec.label),
        ("spec.suite_name", spec.suite_name),
        ("spec.task", spec.task),
        ("spec.model_config", spec.model_settings),
        ("environment.plugins", result.environment.plugins),
        ("environment.cpu", result.environment.cpu),
        ("environment.gpu", result.environment.gpu),
    ]
    found = []
    for name, value in fields:
        for where, text, _depth in _texts(value, name):
            if text is None:
                found.append(f"{where} is nested too deeply: at most {MAX_DEPTH} levels")
                break
            bad = control_characters(text)
            if bad:
                found.append(
                    f"{where}={text!r} is invalid: plain text without control characters"
                    f" (found {', '.join(bad)})"
                )
    return found


def privilege(result: RunResult, registry: Registry | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes) of the result's ``privileged`` claim against the installed plugin.

    A result file cannot grant or waive privilege: the model's registration decides. A model
    registered privileged sees the grammar, so its rows are references whatever the file says;
    a model registered without it must not be shown as a reference. A model whose plugin is not
    installed here gets a note (nothing to compare with); a leaderboard refuses it.
    """
    from hbench.registry import get_registry

    registry = registry if registry is not None else get_registry()
    name = result.spec.model
    try:
        entry = registry.get("model", name)
    except UsageError:
        return [], [
            f"model {name!r} is not installed here (no plugin registers it): its claim"
            f" privileged={str(result.privileged).lower()} cannot be checked; install the"
            " model's plugin (see environment.plugins) to check it"
        ]
    registered = bool(entry.metadata.get("privileged", False))
    if result.privileged and not registered:
        return [
            f"privileged=true is invalid: model {name!r} is registered by {entry.source}"
            " without privilege, and a result file cannot grant it"
        ], []
    if registered and not result.privileged:
        return [
            f"privileged=false is invalid: model {name!r} is registered privileged by"
            f" {entry.source} (it is handed the grammar), so its rows are references"
        ], []
    return [], []


#: The largest grammar (production numbers) `chance` builds to count a root's classes: the
#: leaderboard suites need at most about 10^5; a result file naming q = 500 must not make
#: validation allocate gigabytes.
GRAMMAR_CAP = float(1 << 22)


def _asks_root(suite: Suite, task_config: Mapping[str, Any] | None, registry: Registry) -> bool:
    """Whether the recorded task asks the root (`TaskCapabilities.asks_root`), as the
    installed task plugin declares it with the recorded options; by name where it is not
    installed."""
    if suite.task not in registry.names("task"):
        return suite.task == ROOT_TASK
    task = registry.get("task", suite.task).create(task_config or {})
    return task_capabilities(task).asks_root


def expected_chance(suite: Suite, root: bool, registry: Registry) -> tuple[float, str]:
    """(the chance level of every cell of a run of ``suite``, how it is computed), as the
    harness computes it (`hbench.scoring.chance_level`): 1/q, or where ``root`` (the task
    asks the root, as ``root`` and ``ancestor`` at depth 0 do: `_asks_root`) 1/n_c of the
    suite's grammar, built here from the suite (a few milliseconds) since nothing in a result
    file says n_c. A `UsageError` if the grammar is not installed or the suite's grammar options
    are invalid, a `PluginError` if it fails to build."""
    if not root:
        return chance_level(False, suite.q), f"1/q = {1.0 / suite.q!r}"
    entry = registry.get("grammar", suite.grammar)
    grammar = entry.create(suite.grammar_config(registry))
    classes = grammar_capabilities(grammar).classes
    value = chance_level(True, suite.q, classes)
    if classes is None or classes == suite.q:
        return value, f"1/q = {value!r}"
    return value, (
        f"1/n_c = {value!r} (task {suite.task!r} asks the root; the root of grammar"
        f" {suite.grammar!r} takes n_c = {classes} of its q = {suite.q} symbols)"
    )


def chance(result: RunResult, registry: Registry | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes) of every cell's chance level, recomputed from the recorded suite and
    the installed grammar, never read from the file: a chance of 1/q where the root takes
    n_c < q values would lift a model that learned only the root prior above 0. A root task
    on a grammar not installed here (or that fails to build) gets a note: nothing to count
    its root classes with."""
    from hbench.registry import get_registry

    try:
        suite = recorded_suite(result)
    except UsageError:
        return [], []  # `problems` reports it
    registry = registry if registry is not None else get_registry()
    unchecked = f"the chance level of task {suite.task!r} (1/n_c of the root) cannot be checked:"
    try:
        root = _asks_root(suite, result.spec.task_config, registry)
    except (HbenchError, ValueError) as exc:
        return [f"spec.task_config is invalid for task {suite.task!r}: {exc}"], []
    if root and suite.grammar not in registry.names("grammar"):
        return [], [
            f"{unchecked} grammar {suite.grammar!r} is not installed here; install its plugin"
            " (see environment.plugins) to check it"
        ]
    arity = suite.arity(registry)
    if root and suite.depth * float(suite.q) ** (arity + 1) > GRAMMAR_CAP:
        return [], [  # a hostile file must not make validation build gigabytes
            f"{unchecked} its grammar (q={suite.q}, arity {arity}, depth {suite.depth}) is"
            f" larger than validation builds (at most {GRAMMAR_CAP:.0e} production numbers)"
        ]
    try:
        expected, how = expected_chance(suite, root, registry)
    except UsageError as exc:
        return [f"spec.suite is invalid for its grammar: {exc}"], []
    except (HbenchError, ValueError) as exc:  # the grammar's plugin failed, not the file
        return [], [f"{unchecked} {exc}"]
    found = []
    for i, cell in enumerate(result.metrics):
        if not math.isclose(cell.chance, expected, rel_tol=1e-9):
            found.append(f"metrics[{i}].chance={cell.chance!r} is invalid: {how}")
    return found, []


def _cells(result: RunResult, suite: Suite) -> list[str]:
    test: list[int | str] = list(suite.test_levels) + (["ood"] if suite.n_ood else [])
    expected = {(s, kt, kx) for s in suite.seeds for kt in suite.train_levels for kx in test}
    counts = Counter((m.seed, m.k_train, m.k_test) for m in result.metrics)
    found = []
    missing = sorted(expected - set(counts), key=str)
    if missing:
        found.append(
            f"metrics lack the cell(s) {_listed(missing)}: every seed, training level"
            " and test level must be scored"
        )
    extra = sorted(set(counts) - expected, key=str)
    if extra:
        found.append(f"metrics hold cell(s) the suite does not define: {_listed(extra)}")
    twice = sorted((c for c, n in counts.items() if n > 1), key=str)
    if twice:
        found.append(f"metrics list the cell(s) {_listed(twice)} more than once")
    return found


def _ranges(result: RunResult, suite: Suite) -> list[str]:
    found = []
    for i, cell in enumerate(result.metrics):
        where = f"metrics[{i}]"
        ood = cell.k_test == "ood"
        unscored = ood and cell.na_reason is not None  # no random sequence was possible
        if cell.na_reason is not None and not ood:
            found.append(f"{where}.na_reason is invalid: only 'ood' cells may lack scores")
        if cell.possible is not None and not (ood and 0.0 <= cell.possible <= 1.0):
            found.append(f"{where}.possible={cell.possible!r} is invalid: 'ood', in [0, 1]")
        for name in FRACTIONS:
            value = getattr(cell, name)
            if value is None:
                if not ood and name.startswith("acc"):
                    found.append(f"{where}.{name} is missing: only 'ood' cells lack accuracy")
                elif not unscored and not name.startswith("acc"):
                    found.append(
                        f"{where}.{name} is missing: only an 'ood' cell without a possible"
                        " sequence (na_reason) lacks it"
                    )
                continue
            if ood and name.startswith("acc"):
                found.append(f"{where}.{name}={value!r} is invalid: 'ood' has no ground truth")
            elif not (math.isfinite(value) and 0.0 <= value <= 1.0):
                found.append(f"{where}.{name}={value!r} is invalid: a fraction in [0, 1]")
        for name in DIVERGENCES:
            value = getattr(cell, name)
            if value is None and unscored:
                continue
            if value is None or not (math.isfinite(value) and value >= -1e-12):
                found.append(f"{where}.{name}={value!r} is invalid: bits >= 0 (finite)")
        if cell.n_queries < (0 if unscored else 1):
            found.append(f"{where}.n_queries={cell.n_queries!r} is invalid: >= 1")
    return found


def _timings(result: RunResult, suite: Suite) -> list[str]:
    found = []
    expected = {(s, k) for s in suite.seeds for k in suite.train_levels}
    given = Counter((t.seed, t.k_train) for t in result.timings)
    if set(given) != expected or any(n > 1 for n in given.values()):
        found.append(
            "timings must hold one entry per (seed, training level): expected"
            f" {len(expected)}, found {sum(given.values())}"
        )
    for i, t in enumerate(result.timings):
        for name in ("fit_s", "predict_s", "oracle_s"):
            value = getattr(t, name)
            if not (math.isfinite(value) and value >= 0):
                found.append(f"timings[{i}].{name}={value!r} is invalid: seconds >= 0")
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=HEADLINE_TOLERANCE, abs_tol=HEADLINE_TOLERANCE)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _headline(result: RunResult) -> list[str]:
    try:
        expected = headline(result.metrics)
    except (ValueError, TypeError) as exc:
        return [f"headline cannot be recomputed from the metrics: {exc}"]
    found = []
    for metric, summary in expected.items():
        stored = result.headline.get(metric)
        if not isinstance(stored, dict):
            found.append(f"headline.{metric} is missing")
            continue
        for key, value in summary.items():
            if not _same(stored.get(key), value):
                found.append(
                    f"headline.{metric}.{key}={stored.get(key)!r} is not what the metrics give"
                    f" ({value!r})"
                )
    return found


@dataclass
class Report:
    """What validating one file found: the result (None if unreadable), its problems (each
    makes the file invalid) and notes (what could not be checked here)."""

    path: str
    result: RunResult | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result is not None and not self.problems

    def error(self) -> UsageError:
        """The problems as one `UsageError` naming the file (the first few, then a count)."""
        found = self.problems
        more = f" (and {len(found) - LISTED} more)" if len(found) > LISTED else ""
        return UsageError(
            f"result file {self.path!r} is invalid: {'; '.join(found[:LISTED])}{more}"
        )


def nested_too_deeply(path: str | Path) -> UsageError:
    return UsageError(f"result file {str(path)!r} is invalid: nested too deeply")


def inspect_file(path: str | Path, *, registry: Registry | None = None) -> Report:
    """Validate ``path`` without raising for what is wrong with it: a `Report`.

    A file that cannot be read as a result gives a report with its one problem and no result.
    """
    report = Report(str(path))
    try:
        report.result = read_result(path)
        report.problems = problems(report.result)
        found, report.notes = privilege(report.result, registry)
        report.problems += found
        found, notes = chance(report.result, registry)
        report.problems += found
        report.notes += notes
    except UsageError as exc:
        report.result, report.problems = None, [str(exc)]
    except RecursionError:
        report.result, report.problems = None, [str(nested_too_deeply(path))]
    return report


def validate_file(path: str | Path, *, registry: Registry | None = None) -> RunResult:
    """The result in ``path`` if it is valid; else a `UsageError` naming the file and every
    problem (the first few, then a count). Notes (a model not installed here) do not make a
    file invalid."""
    report = inspect_file(path, registry=registry)
    if report.result is None:
        raise UsageError(report.problems[0])
    if report.problems:
        raise report.error()
    return report.result
