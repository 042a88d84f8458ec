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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hbench.errors import UsageError, invalid

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
    (leaderboard runs: no model can know the grammar in advance); ``grammar_seeds`` replays
    the grammars an official run recorded.
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
        from hbench.suites import get_suite

        registry = registry or get_registry()
        suite = get_suite(
            self.suite,
            self.overrides,
            spell=lambda k, v: spell("suite", k, v),
            registry=registry,
        )
        model_entry = registry.get("model", self.model)
        model_config = _validate(model_entry, "model", self.model_args, spell)
        task_entry = registry.get("task", suite.task)
        task_config = _validate(task_entry, "task", self.task_args, spell)
        refuse = getattr(model_config, "check_task", None)  # optional (CONTRIBUTING)
        reason = refuse(suite.task, task_config) if callable(refuse) else None
        if reason:
            raise UsageError(f"model {self.model!r} cannot do task {suite.task!r}: {reason}")
        if self.grammar_seeds is not None:
            if not self.official:
                raise invalid(
                    "grammar_seeds", self.grammar_seeds, "only with an official run (--official)"
                )
            if len(self.grammar_seeds) != len(suite.seeds):
                raise invalid(
                    "grammar_seeds",
                    self.grammar_seeds,
                    f"one grammar seed per seed: {len(suite.seeds)} for seeds {suite.seeds}",
                )
        run = ResolvedRun(
            spec=self,
            suite=suite,
            model_entry=model_entry,
            model_config=model_config,
            task_entry=task_entry,
            task_config=task_config,
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


def _validate(
    entry: Registration, section: str, values: Mapping[str, Any], spell: Speller
) -> BaseModel:
    spelled = {key: spell(section, key, value) for key, value in values.items()}
    flag = spell(section, "", None)
    return entry.validate_config(
        dict(values), spelled=spelled, suggest=lambda key: f"{flag} {key}=..."
    )


@dataclass(frozen=True)
class ResolvedRun:
    """A validated `RunSpec`: the suite with its overrides applied, and the registry entries
    and validated options of its model and task. Cheap: nothing is built yet."""

    spec: RunSpec
    suite: Suite
    model_entry: Registration
    model_config: BaseModel
    task_entry: Registration
    task_config: BaseModel

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
        own estimate when its config can say it (an optional ``estimated_bytes()`` method of
        the config)."""
        from hbench.run.memory import check_fits

        suite = self.suite
        arity = suite.arity(registry)
        q, length = suite.q, arity**suite.depth
        tensors = 8.0 * q ** (arity + 1) * suite.depth
        what = f"the grammar (q={q}, arity {arity}: q^{arity + 1} numbers a level)"
        check_fits(tensors, what, "lower q")
        sequences = max(suite.budget(suite.task), suite.n_test, suite.n_ood)
        # int64 inputs, and per sequence the oracle's leaf posteriors (length x q doubles)
        data = sequences * length * (8 + 8 * q) * 3
        check_fits(data, f"the run's data ({sequences} sequences of {length} leaves)", "lower P")
        estimate = getattr(self.model_config, "estimated_bytes", None)
        if callable(estimate):
            try:
                nbytes = float(estimate(q=q, length=length, P=suite.budget(suite.task)))
            except Exception:  # an estimate is a courtesy: never let it stop a run
                return
            given = ", ".join(f"{k}={v}" for k, v in self.spec.model_args.items())
            check_fits(
                nbytes,
                f"model {self.spec.model!r} (its own estimate)",
                f"lower its size options{f' (given: {given})' if given else ''}",
            )
