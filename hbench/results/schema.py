"""The result file of one run: its schema, writing it, reading it back, and tables of many.

A result records everything needed to judge and reproduce a number: the full suite (and its
hash, the comparison class), the model and task options, the scores of every (seed, training
level, test level) cell, timings, and the software and hardware it ran on. Files are plain JSON
validated by a versioned schema, so results from different machines and hbench versions can be
pooled safely, and reading one never executes anything (no pickle).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from hbench.results.environment import Environment

if TYPE_CHECKING:
    import pandas as pd

#: Version of the result file layout; bumped whenever a field changes meaning, is removed or
#: is added, so that a file is never misread. Older versions are read through the migrations
#: in `hbench.results.migrations` (2: ``num_parameters``, NaN written as null; 3: the spec
#: records ``threads`` and ``label``; 4: a suite's ``budgets`` replace ``P_mlm``, and each
#: cell records the registered metrics by name, ``scores``; 5: each cell records its test-set
#: standard errors and, on random sequences, the share that is possible, and the headline its
#: uncertainty by `hbench.stats.estimate`).
SCHEMA_VERSION = 5


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
    # None (with ``na_reason``) on random sequences none of which the grammar can produce
    kl_bp: float | None  # mean KL(BP_k_test || model), bits per query
    kl_bp_train: float | None  # mean KL(BP_k_train || model), bits per query
    agree: float | None
    agree_train: float | None
    n_queries: int  # the queries scored ("ood": those on possible sequences only)
    #: the test set's standard errors of acc, of (acc - chance) / (acc_bp - chance) and of kl_bp
    #: (`hbench.scoring.cell_errors`); files of schema version < 5 get the binomial one of acc
    #: and the covariance-free upper bound of the normalised one (no per-query data), kl None
    acc_se: float | None = None
    normalised_accuracy_se: float | None = None
    kl_bp_se: float | None = None
    possible: float | None = None  # "ood": share of the random sequences the grammar can produce
    na_reason: str | None = None  # why the metrics are None ("ood" with nothing possible)
    task_metrics: dict[str, Any] | None = None  # a task's own scores (next-token: bits/token)
    #: registered metrics (``hbench_register_metrics``) other than the fields above, by name;
    #: None where the metric does not apply to the cell (no targets, another task)
    scores: dict[str, float | None] = Field(default_factory=dict)

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


class ResolvedSpec(BaseModel):
    """What was run, resolved: the `hbench.run.RunSpec` with the suite's overrides applied and
    every option's default filled in, so a result says what ran even after a preset changes.

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
    threads: int | None = Field(None, ge=1)  # each fit's thread count (results depend on it)
    label: str | None = None  # a sweep cell's name for the model (default: the model's name)
    official: bool = False  # grammars drawn at run time, one per seed (leaderboard runs)
    grammar_seeds: list[int] | None = None  # grammars drawn (official) or replayed (not official)

    @model_serializer(mode="wrap")
    def _model_config_key(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Always the documented key, with or without by_alias (pydantic < 2.11 has no
        # serialize_by_alias setting).
        data = handler(self)
        if "model_settings" in data:
            data["model_config"] = data.pop("model_settings")
        return data


def parse_created(text: str) -> datetime:
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

    schema_version: Literal[5] = SCHEMA_VERSION
    spec: ResolvedSpec
    privileged: bool  # the model saw the grammar (exact-inference reference rows)
    isolation: Literal["process", "in-process"] = "in-process"  # where the model ran
    # the wall around the model's worker: kind ("bubblewrap" or "none"), version, namespaces,
    # limits (hbench.run.worker.sandbox)
    sandbox: dict[str, Any] = Field(default_factory=lambda: {"kind": "none"})
    audit: list[str] = Field(default_factory=list)  # what the worker's audit hook saw
    metrics: list[LevelMetrics]
    headline: dict[str, Any]  # see hbench.scoring.headline
    timings: list[Timing]
    environment: Environment
    created: str  # ISO 8601 UTC timestamp of the run's end
    wall_s: float
    extra: dict[str, Any] = Field(default_factory=dict)  # later analyses (learning dynamics)
    saved_models: list[SavedModel] = Field(default_factory=list)  # with --save-models
    num_parameters: int | None = Field(None, ge=0)  # trainable numbers; None if not reported

    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        """The file this result was written to or read from, if any."""
        return self._path

    def table(self) -> pd.DataFrame:
        """One row per (seed, k_train, k_test) with ``normalised_accuracy``, as a DataFrame."""
        from hbench.results.rows import frame, result_rows

        return frame(result_rows(self, self._path.stem if self._path is not None else ""))

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
        parse_created(value)
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
