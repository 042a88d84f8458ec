"""The one description of a run: `RunSpec`, built alike by ``hbench run``, by a sweep cell and by
``hbench.evaluate``, and validated once (`RunSpec.resolve`) before anything heavy happens.

A spec names everything that decides a result besides the installed plugins' code: the suite
and its overrides, the model and its options, the task's options, the device, and each fit's
thread count (floating-point sums depend on it, so two thread counts are two results). Its
canonical JSON hashes to a stable key, which names a sweep cell's result file, so a sweep
resumed with another ``--workers`` or ``--jobs`` never mixes two different runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hbench.contracts import model_config_capabilities
from hbench.errors import UsageError, invalid, pydantic_message

if TYPE_CHECKING:
    from hbench.registry.registry import Registration, Registry
    from hbench.suites import Suite

#: ``spell(section, key, value)``: how the user wrote an option, for messages. ``section`` is
#: "model", "task" or "suite"; ``key`` is "" for a rule about several suite fields together.
Speller = Callable[[str, str, Any], str]

#: The options of `hbench run` that each section comes from.
CLI_FLAGS = {"model": "--model-arg", "task": "--task-arg", "suite": "--set"}

#: Bumped when the hashed content of a spec changes shape, so old result names are not reused
#: (2: each fit's thread count is part of the run).
SPEC_HASH_VERSION = 2

#: Devices a spec may name; "auto" is CUDA when torch sees a GPU.
DEVICES = ("auto", "cpu", "cuda")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def cli_spelling(section: str, key: str, value: Any) -> str:
    """``--model-arg d_model=64``: how `hbench run` names an option in its messages."""
    flag = CLI_FLAGS[section]
    return f"{flag} {key}={_text(value)}" if key else flag


def python_spelling(section: str, key: str, value: Any) -> str:
    """``model_args['d_model']=64``: how `hbench.evaluate` names an option in its messages."""
    name = {"model": "model_args", "task": "task_args", "suite": "overrides"}[section]
    return f"{name}[{key!r}]={value!r}" if key else name


class RunSpec(BaseModel):
    """Everything that decides one run (besides the installed plugins' code).

    Values are typed (``P=4096`` is an int, not the text "4096"); an override is any suite
    field. ``threads`` is each fit's thread count, part of the result; how many fits run at
    once (``--jobs``) is not. ``label`` names the model in sweep tables (default: its name).
    ``official`` runs draw one fresh grammar per seed from the operating system's entropy
    (leaderboard runs: no model can know the grammar in advance, and nobody chose it);
    ``grammar_seeds`` replays the grammars an official run recorded, for debugging, as a run
    that is not official (grammars someone chose are never official).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    suite: str = "cpu"
    overrides: dict[str, Any] = Field(default_factory=dict)
    model_args: dict[str, Any] = Field(default_factory=dict)
    task_args: dict[str, Any] = Field(default_factory=dict)
    device: str = "auto"
    threads: int = Field(1, ge=1, le=1024)
    label: str | None = None
    official: bool = False
    grammar_seeds: list[int] | None = None

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value not in DEVICES:
            raise ValueError(f"must be one of {', '.join(DEVICES)}")
        return value

    @field_validator("label")
    @classmethod
    def _printable_label(cls, value: str | None) -> str | None:
        from hbench.text import unprintable

        if value is not None:
            bad = unprintable(value)
            if not value.strip() or len(value) > 100 or bad:
                why = f" ({bad} found)" if bad else ""
                raise ValueError(f"must be 1 to 100 characters of plain text{why}")
        return value

    @field_validator("grammar_seeds")
    @classmethod
    def _seeds_in_range(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(s < 0 or s >= 1 << 63 for s in value)):
            raise ValueError("must be a non-empty list of integers in [0, 2**63)")
        return value

    @property
    def name(self) -> str:
        return self.label or self.model

    def resolve(
        self, registry: Registry | None = None, spell: Speller = cli_spelling
    ) -> ResolvedRun:
        """The validated run; any bad option is one `UsageError` in the user's words.

        Checks the suite (an override of a grammar field its grammar does not take
        included), the model's and the task's options against their schemas, the seeds, and
        the memory of the run's data, without building anything heavy, so a bad option never
        costs a fit and a whole sweep can be validated before any cell runs.
        """
        from hbench.registry.registry import get_registry
        from hbench.registry.suites import get_suite
        from hbench.run.devices import check_torch
        from hbench.suites import Suite

        registry = registry or get_registry()
        check_option_values("suite", self.overrides, Suite, spell)
        suite = get_suite(
            self.suite,
            self.overrides,
            spell=lambda k, v: spell("suite", k, v),
            registry=registry,
        )
        model_entry = registry.get("model", self.model)
        check_torch(model_entry)
        model_config = _validate(model_entry, "model", self.model_args, spell)
        task_entry = registry.get("task", suite.task)
        suite, task_args, task_spell = _suite_task_options(suite, self.task_args, spell)
        task_config = _validate(task_entry, "task", task_args, task_spell)
        declared = model_config_capabilities(model_config)
        reason = model_config.check_task(suite.task, task_config) if declared.check_task else None
        if reason:
            raise UsageError(f"model {self.model!r} cannot do task {suite.task!r}: {reason}")
        from hbench.run.generation import refuse_without_sample  # a generating task's models

        refuse_without_sample(
            self.model, suite.task, model_entry, model_config, task_entry, task_config
        )
        if self.grammar_seeds is not None:
            if self.official:
                raise invalid(
                    "grammar_seeds",
                    self.grammar_seeds,
                    "not with an official run, which draws its grammars from the operating"
                    " system (replay recorded grammars without official, as a run that is not"
                    " official)",
                )
            if len(self.grammar_seeds) != len(suite.seeds):
                raise invalid(
                    "grammar_seeds",
                    self.grammar_seeds,
                    f"one grammar seed per seed: {len(suite.seeds)} for seeds {suite.seeds}",
                )
        grammar_entry = registry.get("grammar", suite.grammar)
        run = ResolvedRun(
            spec=self,
            suite=suite,
            model_entry=model_entry,
            model_config=model_config,
            task_entry=task_entry,
            task_config=task_config,
            grammar_entry=grammar_entry,
            grammar_config=suite.grammar_config_of(grammar_entry),
            filter_entry=registry.get("filter", suite.filter),
            oracle_entry=registry.get("oracle", suite.oracle),
            metrics=_recorded_metrics(registry, suite.task),
        )
        run.check_memory(registry)
        return run

    def canonical(
        self, registry: Registry | None = None, run: ResolvedRun | None = None
    ) -> dict[str, Any]:
        """What decides the result, resolved: the suite's canonical fields (data version
        included), the model's and task's options that differ from their defaults, and each
        fit's thread count.

        Two specs that differ only in how they were spelled (an option given at its default)
        are the same run; a plugin that gains a new option (with a default that keeps its old
        behaviour) keeps the hashes of finished cells, so a long sweep is not rerun for it.
        A plugin that changes what an existing default means must be rerun with --overwrite.
        ``run`` is this spec already resolved (a sweep resolves each cell once)."""
        run = run or self.resolve(registry)
        data = {
            "spec_hash_version": SPEC_HASH_VERSION,
            "suite": run.suite.canonical(),
            "model": self.model,
            "model_config": run.model_config.model_dump(mode="json", exclude_defaults=True),
            "task_config": run.task_config.model_dump(mode="json", exclude_defaults=True),
            "device": self.device,
            "threads": self.threads,
            "label": self.label,
        }
        if self.official:
            data["official"] = True
        if self.grammar_seeds is not None:
            data["grammar_seeds"] = self.grammar_seeds
        return data

    def spec_hash(self, registry: Registry | None = None, run: ResolvedRun | None = None) -> str:
        """16 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces)."""
        text = json.dumps(self.canonical(registry, run), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def filename(self, registry: Registry | None = None, run: ResolvedRun | None = None) -> str:
        """``<label>_<hash>.json``: the label for people, the hash for resuming."""
        safe = re.sub(r"[^A-Za-z0-9.-]+", "-", self.name).strip("-.")[:80] or "model"
        return f"{safe}_{self.spec_hash(registry, run)}.json"


def merge_overrides(
    overrides: Mapping[str, Any] | None = None,
    *,
    task: str | None = None,
    seeds: typing.Sequence[int] | None = None,
    train_filters: typing.Sequence[int] | None = None,
    official: bool = False,
) -> dict[str, Any]:
    """The suite overrides of a run: ``overrides`` (``--set``, ``overrides=``) with the three
    shortcuts that name suite fields (``--task``/``task``, ``--seeds``/``seeds``,
    ``--train-filter``/``train_filters``) taking precedence, and an official run's default
    seeds (`hbench.stats.MIN_SEEDS` grammar draws, enough to rank) where no seeds
    are given. The one merge of every front door (``hbench run``, `hbench.evaluate`,
    ``hbench reproduce``), so that the same options mean the same run everywhere."""
    merged = dict(overrides or {})
    if task is not None:
        merged["task"] = task
    if seeds is not None:
        merged["seeds"] = [int(seed) for seed in seeds]
    elif official and "seeds" not in merged:
        from hbench.stats import MIN_SEEDS

        merged["seeds"] = list(range(MIN_SEEDS))
    if train_filters is not None:
        merged["train_filters"] = sorted({int(k) for k in train_filters})
    return merged


#: The largest integer an option takes: what a signed 64-bit integer holds (numpy's, torch's
#: and other languages' JSON readers' integers), so a seed or size never overflows downstream.
INT_MAX = (1 << 63) - 1

#: How each `RunSpec` field is given on the command line, for messages.
SPEC_FLAGS = {
    "threads": "--threads-per-fit",
    "grammar_seeds": "--grammar-seeds",
    "device": "--device",
    "label": "--label",
    "model": "--model",
    "suite": "--suite",
}


def new_spec(spell: Speller = cli_spelling, **fields: Any) -> RunSpec:
    """``RunSpec(**fields)``; a bad field is one `UsageError` that names it as the user gave
    it (``--threads-per-fit`` on the command line, ``threads`` in Python), not pydantic's text."""
    try:
        return RunSpec(**fields)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        flag = SPEC_FLAGS.get(name, name) if spell is cli_spelling else name
        value = fields.get(name)
        if isinstance(value, list) and spell is cli_spelling:
            value = ",".join(map(str, value))
        raise invalid(flag, value, pydantic_message(error)) from None


def _annotation_kinds(annotation: Any) -> set[Any]:
    """The types a field's annotation admits, ``None`` left out (``int | None`` -> {int})."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return {kind for kind in typing.get_args(annotation) if kind is not type(None)}
    return {annotation}


def _bad_number(value: Any) -> str | None:
    """Why a number nested anywhere in ``value`` cannot be an option's value, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "a finite number (not inf or nan)"
    if isinstance(value, int) and abs(value) > INT_MAX:
        return "an integer of magnitude below 2**63"
    if isinstance(value, Mapping):
        return next(filter(None, map(_bad_number, value.values())), None)
    if isinstance(value, list | tuple):
        return next(filter(None, map(_bad_number, value)), None)
    return None


def check_option_values(
    section: str, values: Mapping[str, Any], config: type[BaseModel] | None, spell: Speller
) -> None:
    """Refuse, before anything runs, the values pydantic would quietly bend: a non-finite
    number (``lr=inf`` trains and then fails on NaN), an integer beyond 64 bits, a boolean or a
    float for an integer field (``P=true`` would be 1, ``epochs=1e12`` an integer). Generic,
    for every model's, task's and suite's options, so no plugin has to repeat it."""
    fields = getattr(config, "model_fields", {}) if config is not None else {}
    for key, value in values.items():
        field = fields.get(key)
        kinds = _annotation_kinds(field.annotation) if field is not None else {Any}
        reason = _bad_number(value)
        if reason is None and isinstance(value, str) and str not in kinds:
            try:
                number = float(value)
            except ValueError:
                number = 0.0
            if not math.isfinite(number):
                reason = "a finite number (not inf or nan)"
        if reason is None and kinds == {int} and isinstance(value, bool | float):
            reason = (
                "an integer (not true/false)"
                if isinstance(value, bool)
                else "an integer written as one (1000, not 1e3 or 1000.0)"
            )
        int_list = field is not None and typing.get_args(field.annotation) == (int,)
        if (
            reason is None
            and int_list
            and isinstance(value, list)
            and any(isinstance(item, bool | float) for item in value)
        ):
            reason = "a list of integers (not true/false or decimals)"
        if reason is not None:
            raise UsageError(f"{spell(section, key, value)} is invalid: must be {reason}")


def _suite_task_options(
    suite: Suite, given: Mapping[str, Any], spell: Speller
) -> tuple[Suite, dict[str, Any], Speller]:
    """(the suite, the task's options, how each was written): the options the suite fixes
    (its ``task_args``, part of its question), then the run's. A run's option that the suite
    fixes to another value changes the suite, as ``--set task_args.KEY=VALUE`` would, so that
    its hash says the question is another one (a board shows a denoise run at another epsilon
    apart from the suite's own rows)."""
    if not suite.task_args:
        return suite, dict(given), spell
    changed = {k: v for k, v in given.items() if k in suite.task_args and suite.task_args[k] != v}
    if changed:
        suite = suite.model_copy(update={"task_args": {**suite.task_args, **changed}})

    def spelled(section: str, key: str, value: Any) -> str:
        if section == "task" and key and key not in given:  # fixed by the suite
            return spell("suite", f"task_args.{key}", value)
        return spell(section, key, value)

    return suite, {**suite.task_args, **given}, spelled


def _validate(
    entry: Registration, section: str, values: Mapping[str, Any], spell: Speller
) -> BaseModel:
    check_option_values(section, values, getattr(entry, "config", None), spell)
    spelled = {key: spell(section, key, value) for key, value in values.items()}
    flag = spell(section, "", None)
    return entry.validate_config(
        dict(values), spelled=spelled, suggest=lambda key: f"{flag} {key}=..."
    )


def _recorded_metrics(registry: Registry, task: str) -> tuple[Any, ...]:
    from hbench.metrics import extra_metrics
    from hbench.results import LevelMetrics

    return tuple(extra_metrics(registry, LevelMetrics.model_fields, task))


@dataclass(frozen=True)
class ResolvedRun:
    """A validated `RunSpec`: the suite with its overrides applied, and everything the run
    names looked up once: the registry entries and validated options of its model and task,
    and the entries of its grammar (with the options the suite gives it), filter and oracle.
    Cheap: nothing is built yet (`hbench.run.world.World.of` builds the grammars)."""

    spec: RunSpec
    suite: Suite
    model_entry: Registration
    model_config: BaseModel
    task_entry: Registration
    task_config: BaseModel
    grammar_entry: Registration
    grammar_config: dict[str, Any]
    filter_entry: Registration
    oracle_entry: Registration
    #: the registered metrics each cell records under ``scores`` (those beyond the fields of
    #: `hbench.results.LevelMetrics` that apply to the task)
    metrics: tuple[Any, ...] = ()

    @property
    def entries(self) -> tuple[Registration, ...]:
        """The plugin items the run uses, the model last (results record their distributions)."""
        return (
            self.grammar_entry,
            self.filter_entry,
            self.oracle_entry,
            self.task_entry,
            self.model_entry,
        )

    @property
    def task(self) -> str:
        return self.suite.task

    @property
    def privileged(self) -> bool:
        """Whether the model's plugin registered it as needing the grammar (never the spec's or
        a result file's say)."""
        return bool(self.model_entry.metadata.get("privileged", False))

    @property
    def fits(self) -> list[tuple[int, int]]:
        """Every (seed, training level), in the order results list them."""
        return [(seed, k) for seed in self.suite.seeds for k in self.suite.train_levels]

    def check_memory(self, registry: Registry | None = None) -> None:
        """Refuse, with an estimate, a run whose data or model cannot fit in memory.

        Counted: the grammar's production tensors (q^(s+1) numbers a level for arity s), the
        largest set of sequences held at once with the oracle's outputs for it, and the model's
        own estimate when its config declares one (`ModelConfigCapabilities.estimated_bytes`)."""
        from hbench.memory import check_fits

        suite = self.suite
        arity = suite.arity_of(self.grammar_entry)
        q, length = suite.q, arity**suite.depth
        tensors = 8.0 * q ** (arity + 1) * suite.depth
        what = f"the grammar (q={q}, arity {arity}: q^{arity + 1} numbers a level)"
        check_fits(tensors, what, "lower q")
        sequences = max(suite.budget(suite.task), suite.largest_test_size, suite.n_ood)
        # int64 inputs, and per sequence the oracle's leaf posteriors (length x q doubles)
        data = sequences * length * (8 + 8 * q) * 3
        check_fits(data, f"the run's data ({sequences} sequences of {length} leaves)", "lower P")
        if model_config_capabilities(self.model_config).estimated_bytes:
            try:
                budget = suite.budget(suite.task)
                nbytes = float(self.model_config.estimated_bytes(q=q, length=length, P=budget))
            except Exception:  # an estimate is a courtesy: never let it stop a run
                return
            given = ", ".join(f"{k}={v}" for k, v in self.spec.model_args.items())
            check_fits(
                nbytes,
                f"model {self.spec.model!r} (its own estimate)",
                f"lower its size options{f' (given: {given})' if given else ''}",
            )
