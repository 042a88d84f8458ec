"""One run as data: a `CellSpec` names everything that decides a run, hashes to a stable key,
and `run_cell` turns it into a result file.

`hbench run` and every cell of `hbench sweep` go through the same two steps, so a sweep cell is
exactly the run the CLI would do with the same options. `run_cell` is a top-level function of
picklable arguments: a process pool or a Dask worker can call it, and since a run is a pure
function of its spec (same spec, same metrics), a cell that is lost with its worker can simply
run again elsewhere. Its result file is named by the spec's hash and written atomically, so a
rerun replaces it whole and a folder never holds a cell twice or half.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from hbench.registry.registry import Registry
    from hbench.run.harness import RunRequest

#: ``spell(section, key, value)``: how the user wrote an option, for messages. ``section`` is
#: "model", "task" or "suite"; ``key`` is "" for a rule about several suite fields together.
Speller = Callable[[str, str, Any], str]

#: The options of `hbench run` that each section comes from.
CLI_FLAGS = {"model": "--model-arg", "task": "--task-arg", "suite": "--set"}

#: Bumped when the hashed content of a spec changes shape, so old result names are not reused.
CELL_HASH_VERSION = 1


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def cli_spelling(section: str, key: str, value: Any) -> str:
    """``--model-arg d_model=64``: how `hbench run` names an option in its messages."""
    flag = CLI_FLAGS[section]
    return f"{flag} {key}={_text(value)}" if key else flag


class CellSpec(BaseModel):
    """Everything that decides one run (besides the installed plugins' code).

    Values are typed (``P=4096`` is an int, not the text "4096"); a suite override is any suite
    field. ``label`` names the model in sweep tables (default: the model's name), so one model
    with two sets of options can be told apart.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str = "cpu"
    overrides: dict[str, Any] = Field(default_factory=dict)
    model: str
    model_args: dict[str, Any] = Field(default_factory=dict)
    task_args: dict[str, Any] = Field(default_factory=dict)
    device: str = "auto"
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.model

    def request(
        self, registry: Registry | None = None, spell: Speller = cli_spelling
    ) -> RunRequest:
        """The validated `RunRequest`; any bad option is one `UsageError` in the user's words.

        Checks the suite, the model's and the task's options against their schemas without
        building anything heavy, so a whole sweep can be validated before any cell runs.
        """
        from hbench.registry.registry import get_registry
        from hbench.run.harness import RunRequest
        from hbench.run.suites import get_suite

        registry = registry or get_registry()
        suite = get_suite(self.suite, self.overrides, spell=lambda k, v: spell("suite", k, v))
        self._validate(registry, "model", self.model, self.model_args, spell)
        self._validate(registry, "task", suite.task, self.task_args, spell)
        return RunRequest(
            model=self.model,
            suite=suite,
            suite_name=self.suite,
            model_args=dict(self.model_args),
            task_args=dict(self.task_args),
            overrides=dict(self.overrides),
            device=self.device,
        )

    @staticmethod
    def _validate(
        registry: Registry, kind: str, name: str, values: Mapping[str, Any], spell: Speller
    ) -> BaseModel:
        spelled = {key: spell(kind, key, value) for key, value in values.items()}
        flag = spell(kind, "", None)
        return registry.get(kind, name).validate_config(
            dict(values), spelled=spelled, suggest=lambda key: f"{flag} {key}=..."
        )

    def canonical(self, registry: Registry | None = None) -> dict[str, Any]:
        """What decides the result, resolved: the suite's canonical fields (data version
        included) and the model's and task's options that differ from their defaults.

        Two specs that differ only in how they were spelled (an option given at its default)
        are the same run; a plugin that gains a new option (with a default that keeps its old
        behaviour) keeps the hashes of finished cells, so a long sweep is not rerun for it.
        A plugin that changes what an existing default means must be rerun with --overwrite."""
        from hbench.registry.registry import get_registry

        registry = registry or get_registry()
        request = self.request(registry)
        model = registry.get("model", self.model).validate_config(dict(self.model_args))
        task = registry.get("task", request.suite.task).validate_config(dict(self.task_args))
        return {
            "cell_hash_version": CELL_HASH_VERSION,
            "suite": request.suite.canonical(),
            "model": self.model,
            "model_config": model.model_dump(mode="json", exclude_defaults=True),
            "task_config": task.model_dump(mode="json", exclude_defaults=True),
            "device": self.device,
            "label": self.label,
        }

    def spec_hash(self, registry: Registry | None = None) -> str:
        """16 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces)."""
        text = json.dumps(self.canonical(registry), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def filename(self, registry: Registry | None = None) -> str:
        """``<label>_<hash>.json``: the label for people, the hash for resuming."""
        safe = re.sub(r"[^A-Za-z0-9.-]+", "-", self.name).strip("-.") or "model"
        return f"{safe}_{self.spec_hash(registry)}.json"


def limit_threads(threads: int) -> None:
    """Use ``threads`` threads for numerical work in this process (several processes share
    the machine's cores): set for libraries not yet imported, and for torch if it already is."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def run_cell(spec: CellSpec, out_dir: str, threads: int | None = None) -> str:
    """Run ``spec`` and write its result to ``out_dir/<spec.filename()>``; returns the path.

    Called in worker processes: it loads the plugins there, validates again (cheap), and writes
    the file atomically, so the folder holds the whole result or nothing. ``extra["cell"]``
    records the spec and its hash, which the sweep analyses read back.
    """
    from hbench.registry.registry import get_registry
    from hbench.results import write_result
    from hbench.run.runner import run_benchmark

    if threads is not None:
        limit_threads(threads)
    registry = get_registry()
    request = spec.request(registry)
    spec_hash = spec.spec_hash(registry)
    result = run_benchmark(request, registry=registry)
    cell = {"hash": spec_hash, "label": spec.name, "spec": spec.model_dump(mode="json")}
    result = result.model_copy(update={"extra": {**result.extra, "cell": cell}})
    path = Path(out_dir) / spec.filename(registry)
    return str(write_result(result, out_dir, field="out", path=path))
