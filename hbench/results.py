"""The result file of one run: its schema, writing it, reading it back, and tables of many.

A result records everything needed to judge and reproduce a number: the full suite (and its
hash, the comparison class), the model and task options, the scores of every (seed, training
level, test level) cell, timings, and the software and hardware it ran on. Files are plain JSON
validated by a versioned schema, so results from different machines and hbench versions can be
pooled safely, and reading one never executes anything (no pickle).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from hbench.errors import UsageError
from hbench.io import write_json
from hbench.scoring import normalised_accuracy

if TYPE_CHECKING:
    import pandas as pd

#: Version of the result file layout; bumped whenever a field changes meaning, is removed or
#: is added, so that a file is never misread. Older versions are read through the migrations
#: in `hbench.migrations` (2: ``num_parameters``; NaN written as null).
SCHEMA_VERSION = 2

#: Columns of `load_results`, in order.
RESULT_COLUMNS = [
    "run",
    "suite",
    "suite_hash",
    "task",
    "model",
    "seed",
    "k_train",
    "k_test",
    "acc",
    "acc_bp",
    "acc_bp_train",
    "chance",
    "kl_bp",
    "kl_bp_train",
    "agree",
    "agree_train",
    "n_queries",
    "normalised_accuracy",
    "privileged",
    "created",
]

_STRICT = ConfigDict(extra="forbid")


class LevelMetrics(BaseModel):
    """Scores of one (seed, training level, test level) cell; see `hbench.scoring`."""

    model_config = _STRICT

    seed: int
    k_train: int
    k_test: int | Literal["ood"]
    acc: float | None  # None where there is no ground truth ("ood")
    acc_bp: float | None
    acc_bp_train: float | None
    chance: float
    kl_bp: float  # mean KL(BP_k_test || model), bits per query
    kl_bp_train: float  # mean KL(BP_k_train || model), bits per query
    agree: float
    agree_train: float
    n_queries: int

    @field_validator("k_test", mode="before")
    @classmethod
    def _level_or_ood(cls, value: Any) -> Any:
        # One clear message instead of one per member of the union.
        if value == "ood" or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise ValueError(f"must be a filter level (an integer) or 'ood', not {value!r}")


class Timing(BaseModel):
    """Seconds spent on one (seed, training level): fitting, predicting, and the oracle."""

    model_config = _STRICT

    seed: int
    k_train: int
    fit_s: float
    predict_s: float
    oracle_s: float


class SavedModel(BaseModel):
    """A trained model a run kept (``hbench run --save-models``), for later analyses."""

    model_config = _STRICT

    seed: int
    k_train: int
    path: str  # relative to the folder of the result file, with "/" separators

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        parts = value.split("/")
        if not value or value.startswith("/") or "\\" in value or ".." in parts:
            raise ValueError(f"must be a relative path below the result's folder, not {value!r}")
        return value


class RunSpec(BaseModel):
    """What was run: enough to rerun it.

    The model's options are stored under the key ``model_config`` by every ``model_dump``
    (pass ``model_config=...`` or ``model_settings=...``); the attribute is ``model_settings``
    because pydantic reserves ``model_config`` for a model's own configuration.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    suite: dict[str, Any]  # the suite's full model_dump, overrides applied
    suite_name: str
    suite_hash: str  # Suite.spec_hash(): results with equal hashes are comparable
    overrides: dict[str, Any]
    task: str
    task_config: dict[str, Any]
    model: str
    model_settings: dict[str, Any] = Field(alias="model_config")
    train_filters: list[int]
    test_filters: list[int]
    seeds: list[int]
    device: str

    @model_serializer(mode="wrap")
    def _model_config_key(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Always the documented key, with or without by_alias (pydantic < 2.11 has no
        # serialize_by_alias setting).
        data = handler(self)
        if "model_settings" in data:
            data["model_config"] = data.pop("model_settings")
        return data


class Environment(BaseModel):
    """Software and hardware a run used, so that differences between results can be traced."""

    model_config = _STRICT

    hbench_version: str
    git_commit: str | None  # of the hbench source tree, when it is a git checkout
    python: str
    numpy: str
    torch: str | None  # only when the run imported torch
    platform: str
    cpu: str
    gpu: str | None
    plugins: list[dict[str, Any]]  # each: name, distribution, version


def _parse_created(text: str) -> datetime:
    """An ISO 8601 timestamp with a time zone, as UTC (``Z`` accepted on Python 3.10 too)."""
    stamp = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if stamp.tzinfo is None:
        raise ValueError("needs a time zone (UTC), e.g. 2024-01-31T12:00:00+00:00")
    return stamp.astimezone(timezone.utc)


class RunResult(BaseModel):
    """One run of one model on one suite: the unit a result file holds.

    NaN (e.g. a headline without in-sample cells) is written as JSON ``null``, so that every
    JSON reader (browsers, jq) can read a result file, and read back as NaN in the headline.
    ``num_parameters`` is what the model reported through its optional ``num_parameters()``.
    """

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="null")

    schema_version: Literal[2] = SCHEMA_VERSION
    spec: RunSpec
    privileged: bool  # the model saw the grammar (exact-inference reference rows)
    metrics: list[LevelMetrics]
    headline: dict[str, Any]  # see hbench.scoring.headline
    timings: list[Timing]
    environment: Environment
    created: str  # ISO 8601 UTC timestamp of the run's end
    wall_s: float
    extra: dict[str, Any] = Field(default_factory=dict)  # later analyses (learning dynamics)
    saved_models: list[SavedModel] = Field(default_factory=list)  # with --save-models
    num_parameters: int | None = Field(None, ge=0)  # trainable numbers; None if not reported

    @field_validator("headline", mode="after")
    @classmethod
    def _null_is_nan(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _nan_for_null(value)

    @model_serializer(mode="wrap")
    def _nan_as_null(self, handler: SerializerFunctionWrapHandler, info: Any) -> Any:
        data = handler(self)
        return _null_for_nan(data) if info.mode_is_json() else data

    @field_validator("created")
    @classmethod
    def _iso_timestamp(cls, value: str) -> str:
        _parse_created(value)
        return value


def _null_for_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _null_for_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_null_for_nan(item) for item in value]
    return value


def _nan_for_null(value: Any) -> Any:
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {key: _nan_for_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nan_for_null(item) for item in value]
    return value


# --- the environment ---------------------------------------------------------------------------


def _git_commit() -> str | None:
    """HEAD of the checkout holding the hbench package, if the package is tracked there.

    Checking that the package's own files are tracked avoids reporting the commit of an
    unrelated repository that merely contains an installed copy (a virtual environment inside
    some project).
    """
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    if git("ls-files", "--error-unmatch", "--", "hbench/__init__.py") is None:
        return None
    commit = git("rev-parse", "HEAD")
    return commit or None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _gpu_name(device: str) -> str | None:
    """The CUDA GPU that ran the work; never imports torch (a run that did not use it)."""
    torch = sys.modules.get("torch")
    if torch is None or not device.startswith("cuda"):
        return None
    try:
        if not torch.cuda.is_available():
            return None
        _, _, index = device.partition(":")
        return str(torch.cuda.get_device_name(int(index) if index else None))
    except Exception:  # a broken driver must not lose the run's results
        return None


def collect_environment(plugins: list[dict[str, Any]], device: str) -> Environment:
    """Versions and hardware of this process, for the result of a run on ``device``.

    Cheap and side-effect free: torch is reported (and asked for the GPU) only if the run
    already imported it, so recording the environment never costs a torch import. The GPU is
    named only when ``device`` is a CUDA device ("cuda" or "cuda:N"); on "cpu" it did no work.
    """
    from hbench import __version__

    torch = sys.modules.get("torch")
    return Environment(
        hbench_version=__version__,
        git_commit=_git_commit(),
        python=platform.python_version(),
        numpy=np.__version__,
        torch=str(getattr(torch, "__version__", "unknown")) if torch is not None else None,
        platform=platform.platform(),
        cpu=_cpu_name(),
        gpu=_gpu_name(device),
        plugins=[dict(p) for p in plugins],
    )


# --- files -------------------------------------------------------------------------------------


def _name_part(text: str) -> str:
    """A name made safe for a file name (plugin names may hold any character)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-.") or "x"


def result_filename(result: RunResult) -> str:
    """``<created>_<suite>_<task>_<model>_<8 hex>.json``: sorts by time, the suffix is random."""
    stamp = _parse_created(result.created).strftime("%Y%m%dT%H%M%SZ")
    spec = result.spec
    parts = [stamp, _name_part(spec.suite_name), _name_part(spec.task), _name_part(spec.model)]
    return "_".join([*parts, uuid.uuid4().hex[:8]]) + ".json"


def new_result_path(result: RunResult, out_dir: str | Path) -> Path:
    """A path in ``out_dir`` for ``result`` that no file (or models folder) takes yet."""
    out_dir = Path(out_dir)
    path = out_dir / result_filename(result)
    # 2^-32 per pair of runs in one second; cheap to rule out anyway
    while path.exists() or models_folder(path).exists():
        path = out_dir / result_filename(result)
    return path


def models_folder(result_path: str | Path) -> Path:
    """Where ``hbench run --save-models`` keeps the trained models of a result file."""
    result_path = Path(result_path)
    return result_path.with_name(f"{result_path.stem}_models")


def write_result(
    result: RunResult, out_dir: str | Path, *, field: str = "--out", path: Path | None = None
) -> Path:
    """Write ``result`` atomically into ``out_dir`` (created if missing) under a new name
    (or at ``path``, from `new_result_path`).

    Every run gets its own file, so concurrent runs writing to one folder never overwrite each
    other, and an interrupted write leaves no partial file (see `hbench.io.atomic_write`).
    ``field`` names the option in errors (a read-only folder, a full disk).
    """
    path = path or new_result_path(result, out_dir)
    data = result.model_dump(mode="json")
    return write_json(path, data, field=field)


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def read_result(path: str | Path) -> RunResult:
    """Parse and validate one result file; any problem is a `UsageError` naming the file.

    The message names the first invalid field by its path (``metrics[3].kl_bp``), so a
    hand-edited or truncated file is easy to fix. Only JSON is parsed; nothing is unpickled.
    """
    path = Path(path)
    where = f"result file {str(path)!r}"
    if path.is_dir():
        raise UsageError(f"{where} is a folder; expected a .json result file")
    if not path.is_file():
        raise UsageError(f"{where} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{where} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text; expected JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{where} holds a JSON {type(data).__name__}; expected an object")
    from hbench.migrations import migrate

    data = migrate(data, where)
    try:
        return RunResult.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise UsageError(f"{where} is invalid: {_where(first['loc'])}: {message}{more}") from None


def _result_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.json") if p.is_file())
    raise UsageError(f"results path {str(path)!r} does not exist")


def load_results(path: str | Path) -> pd.DataFrame:
    """A table with one row per (run, seed, k_train, k_test) of one file or a whole folder.

    A folder is searched recursively for ``*.json`` (in sorted order, i.e. by time within a
    folder); every one must be a valid result, since silently skipping a broken file would
    quietly drop runs from a comparison. ``normalised_accuracy`` is computed here (NaN where
    there is no accuracy, e.g. "ood"); missing accuracies are NaN; ``created`` is a UTC
    timestamp. An empty folder gives an empty table with the same columns.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for file in _result_files(Path(path)):
        result = read_result(file)
        spec = result.spec
        for cell in result.metrics:
            row = cell.model_dump()
            for name in ("acc", "acc_bp", "acc_bp_train"):
                if row[name] is None:
                    row[name] = np.nan
            row["normalised_accuracy"] = (
                normalised_accuracy(cell.acc, cell.acc_bp, cell.chance)
                if cell.acc is not None and cell.acc_bp is not None and cell.k_test != "ood"
                else np.nan
            )
            row.update(
                run=file.stem,
                suite=spec.suite_name,
                suite_hash=spec.suite_hash,
                task=spec.task,
                model=spec.model,
                privileged=result.privileged,
                created=result.created,
            )
            rows.append(row)
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    if rows:
        frame["created"] = pd.to_datetime(frame["created"], utc=True, format="ISO8601")
        for name in ("acc", "acc_bp", "acc_bp_train", "normalised_accuracy"):
            frame[name] = frame[name].astype("float64")
    return frame
