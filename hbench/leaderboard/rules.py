"""What a leaderboard accepts, and which of its rows are ranked.

Two levels of strictness, so that the committed boards stay readable while the rules tighten:

- every file in a board (`tree_problems`): a valid result of a leaderboard suite whose
  ``privileged`` claim matches the installed plugin's registration;
- every new submission (`submission_problems`), exactly what ``hbench submit``,
  ``hbench submit --dry-run`` and ``hbench validate --leaderboard`` check: also the preset's
  own specification, at least `MIN_SEEDS` seeds, a model whose plugin is installed here (so its
  privilege is checked, not believed), not run in-process, nothing seen by the worker's audit
  (an import of the grammar, oracle or harness, a read outside the model's files), and an
  official run where results record that.

A board shows older files that a submission would now refuse, unranked, with the reason
(`standing`); a row whose test sets are too small for its level scores (a per-level test-set
standard error of normalised accuracy above `MAX_TEST_SE`) is shown unranked too.

That error is the row's: of the per-level number the board shows, the mean over the row's
seeds (`level_test_se`). The suites' test sets are sized so that one grammar's cell stays
within `MAX_TEST_SE` at the 2nd percentile of freshly drawn grammars (benchmarks/
size_test_sets.py); a row of five draws meets a harder grammar now and then, and that one
cell's larger error is averaged with four others in the row's number (its error divided by
the number of seeds), which is what a comparison of rows sees. `largest_test_se` still names
the largest single cell, which `hbench leaderboard check` lists beside the row's.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

from hbench import stats
from hbench.registry.suites import SUITES
from hbench.results import RunResult
from hbench.results.validate import LISTED, Report, inspect_file, recorded_suite
from hbench.stats import MIN_SEEDS

#: ``isolation`` of a run whose model ran inside the harness's process (debugging only).
IN_PROCESS = "in-process"
#: The largest test-set standard error of normalised accuracy a ranked row may have at any
#: level (its per-level number, the mean over seeds): the suites' test sets are sized for it
#: (benchmarks/size_test_sets.py), and a larger one means a level's score moves by more than
#: 0.02 with the test sequences alone.
MAX_TEST_SE = 0.01
#: `standing` of a row whose per-level test-set error exceeds `MAX_TEST_SE` at some level.
TEST_SET_TOO_SMALL = "test set too small"


def leaderboard_suites() -> tuple[str, ...]:
    """The suite presets that have leaderboards: every registered suite whose ``leaderboard``
    flag is set, whichever plugin registers it (the smoke suites exist for tests and
    `hbench check`: their numbers are too noisy to rank models)."""
    return tuple(name for name, suite in SUITES.items() if suite.leaderboard)


def _recorded(result: RunResult, name: str) -> Any:
    """A field the run recorded: on the result, its spec, or in ``extra`` (None if absent)."""
    for holder in (result, result.spec):
        value = getattr(holder, name, None)
        if value is not None:
            return value
    return result.extra.get(name) if isinstance(result.extra, dict) else None


def isolation(result: RunResult) -> str | None:
    """How the model ran: "process" (a worker), "in-process", or None (not recorded)."""
    value = _recorded(result, "isolation")
    return str(value) if value is not None else None


def audit(result: RunResult) -> list[str]:
    """What the worker's audit hook saw during fit and predict (imports of grammar, oracle,
    harness or suite modules, reads outside the model's files), as text; [] if nothing."""
    value = _recorded(result, "audit")
    if not value:
        return []
    if not isinstance(value, list):
        value = [value]
    return [item if isinstance(item, str) else _describe(item) for item in value]


def _describe(item: Any) -> str:
    if isinstance(item, dict):
        return ", ".join(f"{key}={item[key]}" for key in sorted(item))
    return str(item)


def official(result: RunResult) -> bool | None:
    """Whether the run drew its grammars at run time (None where results do not record it)."""
    value = _recorded(result, "official")
    return None if value is None else bool(value)


def cell_test_se(cell: Any) -> float | None:
    """A cell's test-set standard error of normalised accuracy: the one the result records,
    else the covariance-free upper bound from its two accuracies (files without per-query
    data); None where undefined (BP at chance, no accuracies)."""
    recorded = cell.normalised_accuracy_se
    if recorded is not None and math.isfinite(recorded):
        return float(recorded)
    if cell.acc is None or cell.acc_bp is None or not cell.n_queries:
        return None
    bound = stats.normalised_accuracy_se_bound(cell.acc, cell.acc_bp, cell.chance, cell.n_queries)
    return None if math.isnan(bound) else bound


@cache
def declared_headline(task: str) -> str | None:
    """The registered metric the boards of ``task`` rank by, as the task declares it
    (`hbench.contracts.TaskCapabilities.headline`); None: normalised accuracy, also for a
    task this installation does not have."""
    from hbench.contracts import task_capabilities
    from hbench.registry.registry import get_registry

    registry = get_registry()
    if task not in registry.names("task"):
        return None
    return task_capabilities(registry.get("task", task).create()).headline


def cell_headline_se(cell: Any, headline: str | None) -> float | None:
    """A cell's test-set standard error of the board's headline: of normalised accuracy
    (`cell_test_se`), or of the task's declared metric (recorded as ``<headline>_se``)."""
    if headline is None:
        return cell_test_se(cell)
    value = cell.scores.get(f"{headline}_se")
    return float(value) if value is not None and math.isfinite(value) else None


def largest_test_se(result: RunResult) -> tuple[float, int, int] | None:
    """The largest per-level test-set error of the headline (normalised accuracy, or the
    task's declared one: `declared_headline`) over the cells a row's scores come from (every
    seed's in-sample cells, k_train = k_test), with that cell's seed and level:
    ``(se, seed, level)``; None where no cell has one."""
    headline = declared_headline(result.spec.task)
    found: tuple[float, int, int] | None = None
    for cell in result.metrics:
        level = cell.k_test
        if isinstance(level, bool) or not isinstance(level, int) or level != cell.k_train:
            continue
        se = cell_headline_se(cell, headline)
        if se is not None and (found is None or se > found[0]):
            found = (se, cell.seed, level)
    return found


def level_test_se(result: RunResult) -> dict[int, float]:
    """Per in-sample level, the test-set standard error of the row's number there, the mean
    of its headline (normalised accuracy, or the task's: `declared_headline`) over its seeds:
    sqrt(sum of the seeds' squared errors) / seeds (the test sets of different seeds are
    independent; `hbench.stats.estimate` combines them the same way). Seeds whose cell has no
    error (BP at chance) are left out of that level."""
    headline = declared_headline(result.spec.task)
    errors: dict[int, list[float]] = {}
    for cell in result.metrics:
        level = cell.k_test
        if isinstance(level, bool) or not isinstance(level, int) or level != cell.k_train:
            continue
        se = cell_headline_se(cell, headline)
        if se is not None:
            errors.setdefault(level, []).append(se)
    return {level: stats.mean_test_se(found, len(found)) for level, found in sorted(errors.items())}


def row_test_se(result: RunResult) -> tuple[float, int] | None:
    """The largest of `level_test_se` with its level, ``(se, level)``; None where no level has
    one."""
    found = level_test_se(result)
    if not found:
        return None
    level = max(found, key=lambda k: found[k])
    return found[level], level


def undersized_test_sets(result: RunResult) -> bool:
    """Whether the row's test-set error exceeds `MAX_TEST_SE` at some level (`row_test_se`) in
    a row of a leaderboard suite (one whose preset has ``leaderboard``, so its test sets were
    sized for that error; the smoke suite's 256 sequences, which tests rank as a board, were
    not)."""
    preset = SUITES.get(result.spec.suite_name)
    if preset is None or not getattr(preset, "leaderboard", False):
        return False
    largest = row_test_se(result)
    return largest is not None and largest[0] > MAX_TEST_SE


#: `standing` of an official run that passes every check but that hbench has not re-run.
SELF_REPORTED = "self-reported"


def standing(result: RunResult, verified: bool | None = None) -> str | None:
    """Why a row is not ranked (None: it is ranked). Reference rows are never ranked; with
    ``verified`` given, a row that hbench has not re-run and signed (``hbench verify``) is
    `SELF_REPORTED` unless something else already keeps it unranked."""
    if result.privileged:
        return "reference"
    if isolation(result) == IN_PROCESS:
        return "in-process"
    if audit(result):
        return "audit flagged"
    if official(result) is False:
        return "public grammar"
    seeds = len(result.spec.seeds)
    if seeds < MIN_SEEDS:
        return f"{seeds} seed{'s' if seeds != 1 else ''}"
    if undersized_test_sets(result):
        return TEST_SET_TOO_SMALL
    if verified is False:
        return SELF_REPORTED
    return None


def tree_problems(result: RunResult) -> list[str]:
    """What keeps a valid result out of any leaderboard folder."""
    suites = leaderboard_suites()
    name = result.spec.suite_name
    if name not in suites:
        return [
            f"spec.suite_name={name!r} has no leaderboard: leaderboards exist for the suites"
            f" {', '.join(suites)}"
        ]
    return []


def submission_problems(result: RunResult, notes: list[str] | None = None) -> list[str]:
    """Everything a submission must satisfy beyond `hbench.results.validate` (whose notes,
    e.g. a model not installed here, become problems)."""
    from hbench.leaderboard.comparison import FOLDER_NAME, comparison_hash, differences

    found = tree_problems(result)
    if found:  # no preset to compare with
        return found + list(notes or [])
    found += list(notes or [])
    spec = result.spec
    preset = SUITES[spec.suite_name]
    suite = recorded_suite(result)
    if comparison_hash(suite) != comparison_hash(preset, suite.task):
        changed = ", ".join(differences(suite, preset)) or "the data version"
        found.append(
            f"spec.suite is a different specification than the preset {spec.suite_name!r}"
            f" ({changed}): it is not comparable with that leaderboard; rerun with"
            f" `hbench run --suite {spec.suite_name}` and no --set"
        )
    if not FOLDER_NAME.match(spec.task):
        found.append(f"spec.task={spec.task!r} is invalid: a task name")
    return found + protocol_problems(result)


def sandbox_kind(result: RunResult) -> str | None:
    """The sandbox the model ran in, as the result records it ("bubblewrap", "none", ...);
    None for results that do not record one (written before the sandbox existed)."""
    value = _recorded(result, "sandbox")
    if isinstance(value, dict):
        value = value.get("kind")
    elif value is not None and not isinstance(value, str):
        value = getattr(value, "kind", value)
    return None if value is None else str(value)


def protocol_problems(result: RunResult, *, filing: bool = True) -> list[str]:
    """What the run itself did wrong for a leaderboard, whatever its suite: in-process,
    flagged by the audit, not official, and for filing (``filing``) too few seeds or an
    official run outside the sandbox. ``hbench verify`` leaves those two to its re-run: a
    claim filed under an older rule is reproduced as it was run, and the re-run is ranked or
    not by today's rules."""
    found: list[str] = []
    spec = result.spec
    seeds = len(spec.seeds)
    if filing and seeds < MIN_SEEDS and not result.privileged:
        found.append(
            f"spec.seeds={spec.seeds!r} is invalid: a ranked row needs at least {MIN_SEEDS}"
            f" seeds (rerun with --seeds {','.join(str(s) for s in range(MIN_SEEDS))})"
        )
    if isolation(result) == IN_PROCESS and not result.privileged:  # a reference sees all
        found.append(
            "isolation='in-process' is invalid: the model ran inside the harness's process"
            " (--in-process is for debugging); rerun without it"
        )
    events = audit(result)
    if events and not result.privileged:
        shown = "; ".join(events[:LISTED]) + (
            f" and {len(events) - LISTED} more" if len(events) > LISTED else ""
        )
        found.append(
            f"audit={shown!r} is invalid: the model's worker imported the grammar, oracle or"
            " harness, or read files outside the model's own, during fit or predict; a"
            " leaderboard takes only results whose audit is empty"
        )
    if official(result) is False:
        found.append(
            "official=false is invalid: leaderboards take official runs only (grammars drawn"
            " at run time); rerun with --official"
        )
    unsandboxed = sandbox_kind(result) in ("none", "")
    if filing and official(result) and unsandboxed and not result.privileged:  # refs see all
        found.append(
            "sandbox='none' is invalid: an official run needs the sandbox (bubblewrap), which"
            " was not available where it ran; rerun where `bwrap` works"
        )
    return found


def submission_report(path: str | Path) -> Report:
    """Exactly the checks ``hbench submit`` makes of a file before filing it."""
    report = inspect_file(path)
    if report.result is not None:
        report.problems += submission_problems(report.result, report.notes)
        report.notes = []
    return report
