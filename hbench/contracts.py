"""Every protocol and data type a plugin sees: the one file a plugin author reads.

Grammars, filters and oracles exchange `Sample` and `Posteriors`, plain frozen dataclasses of
numpy arrays, so any plugin can produce and consume them without importing another plugin. A
*task* turns sampled trees into questions (`TaskData`, described to a model by its `TaskSpec`)
and says which exact posterior answers each; a *model* learns from at most P questions with
their answers and then gives a probability vector over q for every query. The harness alone
holds the grammar and the sampler, so the budget P holds by construction: a model only ever
sees `TaskData`. The protocols say what the harness calls; a plugin satisfies them
structurally, no base class needed.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: Marks a masked (unobserved) leaf in a leaf array given to an oracle.
MASKED = -1

SeedLike = int | np.random.SeedSequence | np.random.Generator


@dataclass(frozen=True)
class Sample:
    """n sequences drawn from a generative tree model.

    Symbols are small signed integers (int8 when q <= 127) to keep big samples small; cast with
    ``.astype(np.int64)`` before using them as indices in torch.
    """

    roots: np.ndarray  # (n,) the root symbol: the label of root classification
    leaves: np.ndarray  # (n, 2**depth) the sequence itself, left to right
    nodes: Mapping[int, np.ndarray] = field(default_factory=dict)
    """Internal nodes by depth d (0 < d < depth), each (n, 2**d); only the depths the model
    actually samples (a model filtered at level k has none above depth k). Empty when not asked."""

    def __len__(self) -> int:
        return int(self.roots.shape[0])


@dataclass(frozen=True)
class Posteriors:
    """Exact posteriors for a batch of partially observed leaf sequences.

    Rows whose observed leaves are impossible under the model have ``loglik == -inf``; their
    posteriors are undefined and set to uniform, so downstream metrics stay finite.
    """

    root: np.ndarray  # (n, q) P(root | observed leaves)
    loglik: np.ndarray  # (n,) natural log of P(observed leaves), masked leaves summed out
    leaves: np.ndarray | None = None
    """(n, 2**depth, q) P(x_i | observed leaves): one-hot at observed leaves."""
    leave_one_out: np.ndarray | None = None
    """(n, 2**depth, q) P(x_i | every other observed leaf): equals ``leaves`` at masked leaves.
    Computed only when asked for."""
    nodes: Mapping[int, np.ndarray] = field(default_factory=dict)
    """Internal nodes by depth d (0 < d < depth, d >= filter level): (n, 2**d, q)."""


@runtime_checkable
class GenerativeModel(Protocol):
    """A distribution over leaf sequences of length 2**depth over q symbols."""

    @property
    def q(self) -> int: ...

    @property
    def depth(self) -> int: ...

    def sample(self, n: int, seed: SeedLike, *, internal: bool = False) -> Sample: ...


@runtime_checkable
class Filter(Protocol):
    """Turns a grammar's model into the model filtered at a level (0 = unchanged)."""

    def apply(self, model: GenerativeModel, level: int) -> GenerativeModel: ...


@runtime_checkable
class Oracle(Protocol):
    """Exact (or reference) inference for the models it understands."""

    def posteriors(
        self,
        model: GenerativeModel,
        leaves: np.ndarray,
        *,
        full: bool = True,
        leave_one_out: bool = False,
    ) -> Posteriors:
        """Root posterior and log-likelihood; with ``full`` also leaf and internal-node
        posteriors; with ``leave_one_out`` also P(x_i | every other observed leaf)."""
        ...


# --- tasks and models ---------------------------------------------------------------------------

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
    oracle: np.ndarray | None = None
    """(m, q) the exact oracle's probabilities, for your own analyses (`hbench.task_data`);
    never given to a model."""

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_queries(self) -> int:
        return int(self.query_rows.shape[0])

    def without_targets(self) -> TaskData:
        """What a model sees at prediction time: inputs and queries, no answers."""
        return TaskData(self.inputs, self.query_rows, self.query_positions, None)

    def with_oracle(self, oracle: np.ndarray) -> TaskData:
        """The same questions with the oracle's answers attached (see ``oracle``)."""
        return TaskData(self.inputs, self.query_rows, self.query_positions, self.targets, oracle)


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


def exact_answers(
    task: Task, oracle: Oracle, model: GenerativeModel, data: TaskData, spec: TaskSpec
) -> np.ndarray:
    """(m, q): the oracle's exact probabilities for every query of ``data`` at ``model``.

    A task may offer a faster exact path of its own, ``task.exact_answers(oracle, model, data,
    spec)`` (next-token: one pass per sequence for all its positions, where the generic path
    asks one masked pass per query); otherwise the oracle's posteriors of `Task.oracle_leaves`
    are read by `Task.oracle_answers`. Everything that needs BP's answers goes through here,
    so that they are computed one way."""
    faster = getattr(task, "exact_answers", None)
    if callable(faster):
        return np.asarray(faster(oracle, model, data, spec))
    posteriors = oracle.posteriors(
        model, task.oracle_leaves(data, spec), full=task.needs_leaf_posteriors
    )
    return np.asarray(task.oracle_answers(posteriors, data))


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
