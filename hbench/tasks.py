"""The contract between tasks, models and the harness.

A *task* turns sampled trees into questions (inputs with query positions) and says which exact
posterior answers each question. A *model* learns from at most P questions with their answers
and then gives a probability vector over q for every query. The harness alone holds the
grammar and the sampler, so the budget P is enforced by construction: a model only ever sees
`TaskData`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hbench.contracts import Filter, GenerativeModel, Oracle, Posteriors, Sample

#: ``query_positions`` value of a query about the whole sequence (e.g. its root).
WHOLE_SEQUENCE = -1


@dataclass(frozen=True)
class TaskSpec:
    """All a model is told about a task; never the grammar."""

    task: str  # task name, e.g. "root" or "mlm"
    q: int  # every query is answered by a probability vector over q classes
    length: int  # tokens per input sequence
    vocab_size: int  # distinct input tokens: q, plus one when there is a mask token
    mask_id: int | None = None  # the mask token in inputs (mlm), else None


@dataclass(frozen=True)
class TaskData:
    """Input sequences and their queries; training data also carries the answers.

    Queries are listed row by row (rows ascending, positions ascending within a row); a model
    returns one probability vector per query, in this order.
    """

    inputs: np.ndarray  # (n, length) int64 tokens in [0, vocab_size)
    query_rows: np.ndarray  # (m,) the row of each query
    query_positions: np.ndarray  # (m,) its position, or WHOLE_SEQUENCE
    targets: np.ndarray | None = None  # (m,) int64 answers in [0, q); None at test time

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_queries(self) -> int:
        return int(self.query_rows.shape[0])

    def without_targets(self) -> TaskData:
        """What a model sees at prediction time."""
        return TaskData(self.inputs, self.query_rows, self.query_positions, None)


@runtime_checkable
class Task(Protocol):
    """Questions about sampled trees, and which exact posterior answers them."""

    #: Whether the oracle's downward pass is needed (False: root posterior suffices).
    needs_leaf_posteriors: bool

    def spec(self, model: GenerativeModel) -> TaskSpec: ...

    def make(self, sample: Sample, spec: TaskSpec, rng: np.random.Generator) -> TaskData:
        """Questions with their true answers, from a sample of the generator (``spec`` is
        this task's spec for that generator; all randomness comes from ``rng``)."""
        ...

    def oracle_leaves(self, data: TaskData, spec: TaskSpec) -> np.ndarray:
        """The leaves an oracle conditions on: (n, length), -1 where the model sees a mask."""
        ...

    def oracle_answers(self, posteriors: Posteriors, data: TaskData) -> np.ndarray:
        """(m, q): the oracle's probabilities for every query of ``data``."""
        ...


class FitCallbacks(Protocol):
    """What the harness offers a model during ``fit``.

    ``privileged`` is a `PrivilegedAccess` for models registered with ``privileged=True``
    (e.g. ``bp``), and None for every other model. ``seed`` seeds the model's own randomness
    (initialisation, batching); it is derived from the run's seed and training level, so a
    rerun of the same spec gives the same result. ``device`` is "cpu" or "cuda".
    """

    privileged: PrivilegedAccess | None
    seed: int
    device: str

    def checkpoint(self, label: float | str) -> None:
        """Ask the harness to evaluate the model now (learning dynamics); cheap if unused."""
        ...

    def progress(self, done: int, total: int, unit: str = "step") -> None:
        """Report training progress (drawn as a bar on a terminal)."""
        ...


@dataclass(frozen=True)
class PrivilegedAccess:
    """The grammar itself, handed only to models registered with ``privileged=True`` (the
    exact-inference reference rows); results flag such models."""

    grammar: GenerativeModel  # unfiltered
    filter: Filter  # the suite's filter plugin object (``apply(grammar, level)``)
    oracle: Oracle  # the suite's oracle plugin object
    task: Task
    train_level: int


@runtime_checkable
class Model(Protocol):
    """What a model plugin implements. It is built by its factory from its validated config.

    Optional capabilities, discovered with ``hasattr``; an analysis that needs one skips a model
    without it, with a one-line reason:

    - ``attention(data) -> list`` of (n, L, L) (or (n, heads, L, L)) arrays, one per layer: row
      i is how query token i spreads its attention over the L tokens (rows sum to 1).
    - ``hidden_states(data) -> list`` of (n, L, d) arrays: index 0 is the embedding output,
      index i the output of layer i.
    - ``save(path) -> path``: write the fitted model to one file, atomically, in a format that
      loads without unpickling code (``torch.load(weights_only=True)``, ``np.load``).
      ``hbench run --save-models`` calls it once per (seed, training level), so analyses can
      study the trained models later.
    - ``load(path, device="cpu") -> None``: the inverse, called on a fresh instance built by
      the factory from the run's recorded config; afterwards the model predicts (and exposes
      its other capabilities) exactly as the saved one did, without ``fit``.
    - ``num_parameters() -> int``: the trainable numbers of the fitted model, recorded in the
      result and shown on the leaderboards (asked once, after the first fit).
    - ``resolved_config() -> dict``: the concrete settings the model trained with (a preset
      expanded into its numbers), JSON-serialisable; recorded in the result's
      ``extra["resolved_model_config"]``, so a result still says what ran after a preset
      changes.
    """

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None: ...

    def predict(self, data: TaskData) -> np.ndarray:
        """(m, q) probabilities, one row per query of ``data`` (rows sum to 1)."""
        ...


class ModelBase(abc.ABC):
    """An optional base class for models: keeps the validated config and the spec, and makes
    a model that forgot ``fit`` fail with a clear message instead of an AttributeError.

    Subclasses implement `_fit` and `_predict`; nothing here is required by the harness, which
    only needs the `Model` protocol.
    """

    def __init__(self, config: Any = None) -> None:
        self.config = config
        self.spec: TaskSpec | None = None

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        self.spec = spec
        self._fit(train, spec, callbacks)

    def predict(self, data: TaskData) -> np.ndarray:
        if self.spec is None:
            raise RuntimeError(f"{type(self).__name__}: predict() called before fit()")
        return self._predict(data)

    @abc.abstractmethod
    def _fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None: ...

    @abc.abstractmethod
    def _predict(self, data: TaskData) -> np.ndarray: ...
