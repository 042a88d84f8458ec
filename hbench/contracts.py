"""Every protocol and data type a plugin sees: the one file a plugin author reads.

Grammars, filters and oracles exchange `Sample` and `Posteriors`, plain frozen dataclasses of
numpy arrays, so any plugin can produce and consume them without importing another plugin. A
*task* turns sampled trees into questions (`TaskData`, described to a model by its `TaskSpec`)
and says which exact posterior answers each; a *model* learns from at most P questions with
their answers and then gives a probability vector over q for every query. The harness alone
holds the grammar and the sampler, so the budget P holds by construction: a model only ever
sees `TaskData`. The protocols say what the harness calls; a plugin satisfies them
structurally, no base class needed.

What a grammar, task, model config or model can do beyond its protocol is *declared*, not
discovered: each may carry a ``capabilities`` attribute (a class attribute, or a property when
it depends on the object's options) holding a frozen dataclass of typed fields with defaults
(`GrammarCapabilities`, `TaskCapabilities`, `ModelConfigCapabilities`, `ModelCapabilities`),
as scikit-learn's estimator tags do. The core reads them only through `grammar_capabilities`,
`task_capabilities`, `model_config_capabilities` and `model_capabilities`; an object that
declares nothing gets the defaults, which are the plain protocol.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from hbench.errors import PluginError

#: Marks a masked (unobserved) leaf in a leaf array given to an oracle.
MASKED = -1
#: Marks the padding after the end of a shorter sequence, in the leaves of a grammar whose
#: sequences vary in length (`Sample.lengths`): no symbol, and unlike `MASKED` not summed out.
PAD = -2

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
    lengths: np.ndarray | None = None
    """(n,) the length of each sequence, for grammars whose sequences vary in length (a
    context-free grammar): ``leaves`` then holds `PAD` after each sequence's end.
    None for fixed-length trees, whose every row is a whole sequence."""

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


# --- declared capabilities ----------------------------------------------------------------------

#: The attribute through which an object declares its capabilities.
CAPABILITIES = "capabilities"

_C = TypeVar("_C")


def _declared(
    obj: object, kind: type[_C], label: str, methods: Mapping[str, tuple[str, ...]]
) -> _C:
    """``obj.capabilities``, checked: an instance of ``kind`` (the defaults when absent), and
    every optional method a set flag promises is there, so a wrong declaration fails once,
    with its name, before any work."""
    declared = getattr(obj, CAPABILITIES, None)
    if declared is None:
        return kind()
    name = type(obj).__name__
    if not isinstance(declared, kind):
        raise PluginError(
            f"{label} {name}: {CAPABILITIES} is a {type(declared).__name__}, not a {kind.__name__}"
        )
    for flag, needed in methods.items():
        missing = [m for m in needed if not callable(getattr(obj, m, None))]
        if missing and getattr(declared, flag):
            raise PluginError(
                f"{label} {name} declares {flag}=True but has no {'/'.join(missing)}() method"
            )
    return declared


@dataclass(frozen=True)
class GrammarCapabilities:
    """What a grammar (a `GenerativeModel`) says about its trees beyond ``q`` and ``depth``.

    The defaults are the protocol's tree: binary, the root over all q symbols, unfiltered. A
    filter's output declares its own (its ``filter_level``).
    """

    arity: int = 2
    """Children per internal node: a sequence has arity**depth leaves, depth d arity**d nodes."""
    classes: int | None = None
    """n_c: the root takes the values 0..n_c-1 only (None: all q). A task that asks the root
    (`TaskCapabilities.asks_root`) has chance level 1/n_c."""
    filter_level: int = 0
    """The level k the grammar is filtered at (0: unfiltered): it has no nodes above depth k."""
    variable_length: bool = False
    """Sequences vary in length (a context-free grammar with rules of 2 and 3 symbols): a
    sample's leaves are padded with `PAD` after each end and its `Sample.lengths` set, and a
    task asking about them gives `TaskSpec.pad_id` and `TaskData.lengths`, so that only a
    model that declares ``variable_length`` (`ModelConfigCapabilities`, `ModelCapabilities`)
    is run on them. ``length(depth)`` is then the longest sequence, the width of the arrays."""

    def length(self, depth: int) -> int:
        """Leaves per sequence of a tree of this depth."""
        return self.arity ** int(depth)


def grammar_capabilities(grammar: object) -> GrammarCapabilities:
    """What ``grammar`` declares (`GrammarCapabilities`), the defaults if nothing."""
    return _declared(grammar, GrammarCapabilities, "grammar", {})


@runtime_checkable
class GenerativeModel(Protocol):
    """A distribution over leaf sequences of length 2**depth over q symbols (arity**depth for
    a grammar that declares another arity: `GrammarCapabilities`)."""

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
    length: int  # tokens per input sequence (the longest, where lengths vary: `pad_id`)
    vocab_size: int  # distinct input tokens: q, plus one each for a mask and a padding token
    mask_id: int | None = None  # the mask token in inputs (mlm), else None
    pad_id: int | None = None
    """The padding token, after the end of each shorter sequence in inputs, when sequences
    vary in length (`TaskData.lengths`); None when every row is a whole sequence of ``length``
    tokens (``length`` is then the longest sequence). Never asked about, never a symbol."""


@dataclass(frozen=True)
class TaskData:
    """Input sequences and their queries; training data also carries the answers.

    Queries are listed row by row (rows ascending, positions ascending within a row); a model
    returns one probability vector per query, in this order.

    When sequences vary in length (`TaskSpec.pad_id` is set), row r holds ``lengths[r]`` real
    tokens followed by the padding token up to ``length``; every query is about a real
    position (or the whole sequence), so a model attends to, pools over and is trained at the
    real positions only (`real_positions`).
    """

    inputs: np.ndarray  # (n, length) int64 tokens in [0, vocab_size)
    query_rows: np.ndarray  # (m,) the row of each query
    query_positions: np.ndarray  # (m,) its position, or WHOLE_SEQUENCE
    targets: np.ndarray | None = None  # (m,) int64 answers in [0, q); None at test time
    oracle: np.ndarray | None = None
    """(m, q) the exact oracle's probabilities, for your own analyses (`hbench.task_data`);
    never given to a model."""
    lengths: np.ndarray | None = None
    """(n,) int64 real tokens per row, when sequences vary in length (`TaskSpec.pad_id`);
    None when every row is a whole sequence."""

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def real_positions(self) -> np.ndarray:
        """(n, length) bool: True at the real tokens, False at the padding (all True for
        rows of fixed length)."""
        n, width = self.inputs.shape
        if self.lengths is None:
            return np.ones((n, width), dtype=bool)
        return np.arange(width)[None, :] < np.asarray(self.lengths)[:, None]

    @property
    def n_queries(self) -> int:
        return int(self.query_rows.shape[0])

    def without_targets(self) -> TaskData:
        """What a model sees at prediction time: inputs and queries, no answers."""
        return TaskData(
            self.inputs, self.query_rows, self.query_positions, None, lengths=self.lengths
        )

    def with_oracle(self, oracle: np.ndarray) -> TaskData:
        """The same questions with the oracle's answers attached (see ``oracle``)."""
        return TaskData(
            self.inputs, self.query_rows, self.query_positions, self.targets, oracle, self.lengths
        )


@dataclass(frozen=True)
class TaskCapabilities:
    """What a task declares beyond the `Task` protocol; the defaults ask nothing more."""

    asks_root: bool = False
    """Every query asks the root's symbol (``root``; ``ancestor`` at depth 0): the answers
    range over the grammar's n_c root classes (`GrammarCapabilities.classes`), so the chance
    level is 1/n_c rather than 1/q."""
    needs_internal_nodes: bool = False
    """The questions are about internal nodes: the harness samples them (`Sample.nodes`)."""
    exact_answers: bool = False
    """The task offers a faster exact path, ``exact_answers(oracle, model, data, spec) ->
    (m, q)``, which `exact_answers` takes in place of the generic one."""
    metrics: bool = False
    """The task offers scores of its own, ``metrics(probabilities, oracle, data, spec) ->
    dict``, recorded in every result row's ``task_metrics`` next to accuracy and KL."""
    generates: bool = False
    """The task also scores sequences the fitted model draws (``generate``): the harness asks
    the model's ``sample(n, rng)`` (`ModelCapabilities.sample`) for ``n_samples(n_test)``
    sequences once per fit, and scores them at every test level with
    ``score_samples(oracle, model, samples, reference, spec)`` (``model`` the grammar of that
    level, ``reference`` as many of its own sequences), whose result reaches the registered
    metrics as `hbench.metrics.MetricInputs.samples`."""
    headline: str | None = None
    """The registered metric (`hbench.metrics`, recorded in each cell's ``scores``) that this
    task's leaderboards rank by in place of normalised accuracy, when accuracy is not what the
    task is about (``generate``: ``gen_fidelity``); each cell records its test-set standard
    error as the metric ``<headline>_se`` (`hbench.scoring.metric_headline`). None: normalised
    accuracy."""


def task_capabilities(task: object) -> TaskCapabilities:
    """What ``task`` declares (`TaskCapabilities`), the defaults if nothing."""
    methods = {
        "exact_answers": ("exact_answers",),
        "metrics": ("metrics",),
        "generates": ("n_samples", "score_samples"),
    }
    return _declared(task, TaskCapabilities, "task", methods)


@runtime_checkable
class Task(Protocol):
    """Questions about sampled trees, and which exact posterior answers them. Optional
    behaviour is declared in ``capabilities`` (`TaskCapabilities`)."""

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

    A task may declare a faster exact path of its own (`TaskCapabilities.exact_answers`:
    next-token answers all its positions in one pass per sequence, where the generic path
    asks one masked pass per query); otherwise the oracle's posteriors of `Task.oracle_leaves`
    are read by `Task.oracle_answers`. Everything that needs BP's answers goes through here,
    so that they are computed one way."""
    if task_capabilities(task).exact_answers:
        return np.asarray(task.exact_answers(oracle, model, data, spec))  # type: ignore[attr-defined]
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

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        """Record scalars the model measures itself (its training loss, learning rate) at
        optimisation ``step``, for experiment trackers (``--logger``), where they appear as
        ``train/{name}``. Optional: a model that never calls it is fine, and a harness may
        offer no ``log`` at all (call it via ``getattr``). Call it per epoch or every N steps:
        the harness keeps at most 16 scalars a call and 10,000 calls a fit, names of letters,
        digits, ``_`` and ``-`` in parts joined by ``.`` or ``/`` (at most 64 characters),
        finite numbers and integer steps >= 0; it drops anything else with one warning, and
        never fails the fit for it."""
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


@dataclass(frozen=True)
class ModelConfigCapabilities:
    """What a model's config (its pydantic options class, as a ``ClassVar``) declares it can
    say before anything is built; the defaults say nothing."""

    check_task: bool = False
    """The config offers ``check_task(task, task_config) -> str | None``: why the model
    cannot do the suite's task with these task options (None: it can). `RunSpec.resolve`
    asks it, so a refusal is one line and exit code 2 before any work."""
    estimated_bytes: bool = False
    """The config offers ``estimated_bytes(*, q, length, P) -> float``: the memory the model
    will need, which the up-front memory check compares with what the machine has (an
    estimate that fails is ignored: it is a courtesy and never stops a run)."""
    variable_length: bool = False
    """The model takes sequences of varying length: inputs padded with `TaskSpec.pad_id`
    after each row's `TaskData.lengths` real tokens, which it masks out of attention, pooling
    and losses. A model that does not declare it is refused on a grammar whose sequences vary
    (`GrammarCapabilities.variable_length`) in one line, before any fit."""


def model_config_capabilities(config: object) -> ModelConfigCapabilities:
    """What a model's ``config`` declares (`ModelConfigCapabilities`), the defaults if nothing."""
    methods = {"check_task": ("check_task",), "estimated_bytes": ("estimated_bytes",)}
    return _declared(config, ModelConfigCapabilities, "model config", methods)


@dataclass(frozen=True)
class ModelCapabilities:
    """What a model offers beyond ``fit`` and ``predict``. An analysis that needs one skips a
    model that does not declare it, with a one-line reason."""

    attention: bool = False
    """``attention(data) -> list`` of (n, L, L) (or (n, heads, L, L)) arrays, one per layer:
    row i is how query token i spreads its attention over the L tokens (rows sum to 1)."""
    hidden_states: bool = False
    """``hidden_states(data) -> list`` of (n, L, d) arrays: index 0 is the embedding output,
    index i the output of layer i."""
    save: bool = False
    """``save(path) -> path`` and ``load(path, device="cpu") -> None``. ``save`` writes the
    fitted model to one file, atomically, in a format that loads without unpickling code
    (``torch.load(weights_only=True)``, ``np.load``); ``hbench run --save-models`` calls it
    once per (seed, training level), so analyses can study the trained models later. ``load``
    is the inverse, called on a fresh instance built by the factory from the run's recorded
    config; afterwards the model predicts (and exposes its other capabilities) exactly as the
    saved one did, without ``fit``."""
    variable_length: bool = False
    """As `ModelConfigCapabilities.variable_length`, for a model given as an object or class
    (``hbench.evaluate(MyModel, ...)``), which has no registered config to declare it."""
    sample: bool = False
    """``sample(n, rng) -> (n, length)`` int array: n sequences drawn from what the fitted
    model learned (symbols in [0, q), the spec's length), all randomness from ``rng`` (a
    `numpy.random.Generator`), so one seed gives the same sequences. The task ``generate``
    (`TaskCapabilities.generates`) asks it; a model without it is refused before training."""


def model_capabilities(model: object) -> ModelCapabilities:
    """What ``model`` declares (`ModelCapabilities`), the defaults if nothing."""
    methods = {
        "attention": ("attention",),
        "hidden_states": ("hidden_states",),
        "save": ("save", "load"),
        "sample": ("sample",),
    }
    return _declared(model, ModelCapabilities, "model", methods)


@runtime_checkable
class Model(Protocol):
    """What a model plugin implements. It is built by its factory from its validated config.

    What it offers beyond ``fit`` and ``predict`` is declared in ``capabilities``
    (`ModelCapabilities`: attention maps, hidden states, save and load). Two optional methods
    are asked whenever a model has them, since nothing depends on them but the record:

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
