"""Models that cheat, as a third-party plugin would write them (tests/run/test_isolation).

Each tries one way of scoring better than learning from its P training sequences allows:

- `GrammarCheat` imports hbench's registry, rebuilds the suite's public grammar (seed 0), picks
  the filter level that gives the training inputs the highest likelihood and answers with exact
  BP of that grammar. ``stage`` says when it rebuilds the grammar: in its constructor
  (``build``), in ``fit`` (the default) or on the first ``predict``.
- `StackCheat` walks the call stack for a ``Harness`` and answers with its ``oracle_answers``
  for the test inputs it is asked about.
- `DataCheat` finds a ``Harness`` among the live objects (``gc``) and calls its ``train_data``
  for many more sequences than the budget.

- `ParentPeek` opens the harness process's memory map (``/proc/<parent>/maps``), the first step
  of reading the grammar out of the harness's memory.

A cheat that finds nothing to exploit raises `NothingFound` (the harness reports a crash in a
model as a `PluginError`). Module-level classes only: an isolated worker imports them by name.
The tests put this file on ``sys.path`` and ``PYTHONPATH`` and register it with
``hbench.registry.load_registry(extra_plugins=[("cheats", module)])``.
"""

from __future__ import annotations

import gc
import inspect
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from hbench import hookimpl
from hbench.contracts import FitCallbacks, TaskData, TaskSpec

#: How many budgets' worth of extra training sequences `DataCheat` asks for.
EXTRA_BUDGETS = 64


class NothingFound(RuntimeError):
    """The cheat found nothing to exploit in its process."""


class GrammarCheatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str = "smoke"
    stage: Literal["build", "fit", "predict"] = "fit"


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GrammarCheat:
    """Exact BP of the suite's public grammar, at the level the training data fits best."""

    def __init__(self, config: GrammarCheatConfig | None = None) -> None:
        self.config = config or GrammarCheatConfig()
        self.parts: tuple[Any, Any, Any] | None = None
        self.train: TaskData | None = None
        self.level: Any = None
        if self.config.stage == "build":
            self.parts = self._public_grammar()

    def _public_grammar(self) -> tuple[Any, Any, Any]:
        import hbench

        registry = hbench.get_registry()
        suite = hbench.get_suite(self.config.suite)
        config = {**suite.grammar_config(registry), "seed": 0}
        grammar = registry.get("grammar", suite.grammar).create(config)
        filter_ = registry.get("filter", suite.filter).create()
        oracle = registry.get("oracle", suite.oracle).create()
        return grammar, filter_, oracle

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        if spec.task != "root":
            raise NothingFound("this cheat answers the root task only")
        self.train = train
        if self.config.stage != "predict":
            self._choose_level()

    def _choose_level(self) -> None:
        grammar, filter_, oracle = self.parts or self._public_grammar()
        levels = [filter_.apply(grammar, k) for k in range(grammar.depth + 1)]
        inputs = self.train.inputs
        loglik = [oracle.posteriors(level, inputs, full=False).loglik.mean() for level in levels]
        self.level = (oracle, levels[int(np.argmax(loglik))])

    def predict(self, data: TaskData) -> np.ndarray:
        if self.level is None:
            self._choose_level()
        oracle, level = self.level
        return oracle.posteriors(level, data.inputs, full=False).root


def _is_harness(obj: Any) -> bool:
    """Recognised by its class's name and methods: importing the harness would be audited."""
    kind = type(obj)
    return kind.__name__ == "Harness" and hasattr(kind, "run_fit")


def _stack_harness() -> Any:
    for frame in inspect.stack():
        for value in frame.frame.f_locals.values():
            if _is_harness(value):
                return value
    raise NothingFound("no Harness on the call stack")


def _live_harness() -> Any:
    for obj in gc.get_objects():
        if _is_harness(obj):
            return obj
    raise NothingFound("no Harness among the live objects")


def _where(harness: Any, inputs: np.ndarray, keys: list[Any]) -> tuple[int, Any]:
    """The (seed, key) whose data of the harness has exactly these inputs."""
    for seed in harness.suite.seeds:
        for key in keys:
            data = harness.world.test_data(seed, key) if key is not None else None
            if data is not None and np.array_equal(data.inputs, inputs):
                return seed, key
    raise NothingFound("the harness holds no such test set")


class StackCheat:
    """The harness's own exact answers, found by walking up the call stack."""

    def __init__(self, config: NoOptions | None = None) -> None:
        self.harness: Any = None

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        self.harness = _stack_harness()

    def predict(self, data: TaskData) -> np.ndarray:
        harness = self.harness
        seed, key = _where(harness, data.inputs, harness.world.test_keys())
        if key == "ood":
            return np.full(
                (data.n_queries, harness.world.task_spec.q), 1.0 / harness.world.task_spec.q
            )
        return harness.world.oracle_answers(seed, key, key)


class DataCheat:
    """The class prior, estimated from `EXTRA_BUDGETS` more budgets of training data drawn
    from the harness's grammar of the training level."""

    def __init__(self, config: NoOptions | None = None) -> None:
        self.probs: np.ndarray | None = None
        self.sequences = 0

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        harness = _live_harness()
        seed, level = next(
            (seed, k)
            for seed in harness.suite.seeds
            for k in harness.suite.train_levels
            if np.array_equal(harness.world.train_data(seed, k).inputs, train.inputs)
        )
        grammar = harness.world.filtered(seed, level)
        rng = np.random.default_rng(12345)
        extra = [
            harness.world.task.make(
                grammar.sample(len(train), 12345 + i), harness.world.task_spec, rng
            )
            for i in range(EXTRA_BUDGETS)
        ]
        targets = np.concatenate([train.targets, *(data.targets for data in extra)])
        self.sequences = len(train) + sum(len(data) for data in extra)
        counts = np.bincount(targets, minlength=spec.q) + 1.0
        self.probs = counts / counts.sum()

    def predict(self, data: TaskData) -> np.ndarray:
        return np.tile(self.probs, (data.n_queries, 1))

    def resolved_config(self) -> dict[str, int]:
        return {"sequences_seen": self.sequences}


class ParentPeek(DataCheat):
    """The class prior, after a look at the harness process's memory map."""

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        import os

        with open(f"/proc/{os.getppid()}/maps", "rb") as maps:
            maps.read(4096)
        counts = np.bincount(train.targets, minlength=spec.q) + 1.0
        self.probs = counts / counts.sum()


# --- hostile models: each tries one attack on the harness (tests/run/test_sandbox.py) ---------


class Prior(DataCheat):
    """The class prior of the training data: what a model that learned nothing answers."""

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        counts = np.bincount(train.targets, minlength=spec.q) + 1.0
        self.probs = counts / counts.sum()
        self.sequences = len(train)


def _others() -> list[int]:
    """Processes this one can see that look like the harness or another worker."""
    import os

    found = []
    own = {os.getpid(), int(os.readlink("/proc/self"))}  # differ where /proc is another pid ns's
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in own:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                text = handle.read()
        except OSError:
            continue
        if b"pytest" in text or b"hbench" in text:
            found.append(int(entry))
    return [os.getppid(), *found]


def _libc_read(path: str, offset: int, size: int) -> bytes:
    """Read through libc, which the audit hook never sees."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.open(path.encode(), 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), path)
    try:
        buffer = ctypes.create_string_buffer(size)
        count = libc.pread(fd, buffer, ctypes.c_size_t(size), ctypes.c_long(offset))
        if count <= 0:
            raise OSError(ctypes.get_errno(), path)
        return buffer.raw[:count]
    finally:
        libc.close(fd)


class MemoryReader(Prior):
    """Reads the harness's (or any worker's) memory through ``/proc/<pid>/mem`` and libc."""

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        read = []
        for pid in _others():
            try:
                maps = _libc_read(f"/proc/{pid}/maps", 0, 1 << 16).decode().splitlines()
                for line in maps:
                    span, perms = line.split()[:2]
                    if perms.startswith("r"):
                        start = int(span.split("-")[0], 16)
                        read.append((pid, len(_libc_read(f"/proc/{pid}/mem", start, 4096))))
                        break
            except (OSError, ValueError):
                continue
        if not read:
            raise NothingFound("no other process's memory is readable")
        super().fit(train, spec, callbacks)
        self.read = read

    def resolved_config(self) -> dict[str, Any]:
        return {"read": self.read}


class AuditBlinder(Prior):
    """Replaces the audit's ``note``, then imports the suites and reads ``/etc/shadow`` and
    the harness's environment."""

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        import os

        for obj in gc.get_objects():
            if type(obj).__name__ == "_Audit":
                obj.note = lambda text: None
        import hbench.suites  # noqa: F401  (the audit no longer notes it)

        got = []
        for path in ["/etc/shadow", *(f"/proc/{pid}/environ" for pid in _others())]:
            try:
                with open(path, "rb") as handle:
                    if handle.read(1):
                        got.append(path)
            except OSError:
                continue
        if not got:
            raise NothingFound(f"nothing readable; home is {os.environ.get('HOME')}")
        super().fit(train, spec, callbacks)
        self.got = got

    def resolved_config(self) -> dict[str, Any]:
        return {"got": self.got}


class ChildReader(Prior):
    """A child process (no audit hook in it) reads the harness's command line, environment
    and memory map."""

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        import subprocess
        import sys

        code = (
            "import os\n"
            f"for pid in {_others()!r}:\n"
            "    for part in ('environ', 'maps'):\n"
            "        try:\n"
            "            data = open(f'/proc/{pid}/{part}', 'rb').read(64)\n"
            "            print(pid, part, len(data))\n"
            "        except OSError:\n"
            "            pass\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if not out.stdout.strip():
            raise NothingFound(f"the child read nothing ({out.stderr.strip()[-200:]})")
        super().fit(train, spec, callbacks)


class WriterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    folder: str = ""  # the harness's working folder, as an attacker would guess it


class Writer(Prior):
    """Writes into hbench's installed package, site-packages and the working folder."""

    def __init__(self, config: WriterConfig | None = None) -> None:
        super().__init__()
        self.config = config or WriterConfig()

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        import os

        import hbench

        targets = [os.path.dirname(hbench.__file__), os.path.dirname(os.path.dirname(np.__file__))]
        targets += [self.config.folder] if self.config.folder else []
        written = []
        for folder in targets:
            try:
                with open(os.path.join(folder, "hbench_cheats_was_here.py"), "w") as handle:
                    handle.write("PWNED = True\n")
                written.append(folder)
            except OSError:
                continue
        if written:
            raise RuntimeError(f"wrote into {written}")
        super().fit(train, spec, callbacks)


#: How long the processes `Leaver` starts sleep: the tests look for them by it.
LEAVER_SLEEP = "987654"


class Leaver(Prior):
    """Leaves processes running after its fit, one of them holding the harness's stdout."""

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        import subprocess

        for i in range(10):
            subprocess.Popen(
                ["sleep", LEAVER_SLEEP],
                start_new_session=True,
                stdout=None if i == 0 else subprocess.DEVNULL,  # the first keeps stdout
                stderr=subprocess.DEVNULL,
            )
        super().fit(train, spec, callbacks)


class EndlessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Literal["fit", "predict"] = "fit"


class Endless(Prior):
    """Never returns from ``fit`` (or from ``predict``)."""

    def __init__(self, config: EndlessConfig | None = None) -> None:
        super().__init__()
        self.config = config or EndlessConfig()

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        import time

        while self.config.stage == "fit":
            time.sleep(0.05)
        super().fit(train, spec, callbacks)

    def predict(self, data: TaskData) -> np.ndarray:
        import time

        while True:
            time.sleep(0.05)


class Spawner(Prior):
    """Starts processes without end (a fork bomb, slowed down to be polite)."""

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        import subprocess
        import time

        while True:
            subprocess.Popen(["sleep", LEAVER_SLEEP], stdout=subprocess.DEVNULL)
            time.sleep(0.01)


class MemoryBomb(Prior):
    """Allocates (and touches) 64 GiB."""

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        self.bomb = np.ones(8 << 30)  # 8 Gi numbers of 8 bytes


class ParentKiller(Prior):
    """Sends SIGTERM to its parent and to every process that looks like the harness."""

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        import os
        import signal

        for pid in _others():
            if pid > 1:
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    continue
        super().fit(train, spec, callbacks)


class Channel(Prior):
    """Leaves its training targets in ``/tmp`` (and its home) and reads what earlier fits
    left there: a channel between fits."""

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        import glob
        import os

        home = os.environ.get("HOME", "/tmp")
        pattern = [f"{folder}/hbench-channel-*.npy" for folder in ("/tmp", "/dev/shm", home)]
        self.seen = sorted({p for p in pattern for p in glob.glob(p)})
        for folder in ("/tmp", "/dev/shm", home):
            try:
                np.save(f"{folder}/hbench-channel-{os.getpid()}-{id(self)}.npy", train.targets)
            except OSError:
                continue
        super().fit(train, spec, callbacks)

    def resolved_config(self) -> dict[str, Any]:
        return {"seen": self.seen}


class InsideConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A folder to list, with ``:`` for ``/`` (an option naming a path is bound in).
    look: str = ""


class Inside(Prior):
    """Not hostile: reports what a worker sees of its process, environment and files."""

    def __init__(self, config: InsideConfig | None = None) -> None:
        super().__init__()
        self.config = config or InsideConfig()

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        import os
        import socket

        super().fit(train, spec, callbacks)
        self.seen = {
            "pid": os.getpid(),
            "outer": os.readlink("/proc/self"),
            "env": sorted(os.environ),
            "home": os.environ.get("HOME"),
            "cwd": os.getcwd(),
            "root": sorted(os.listdir("/")),
            "tmp": sorted(os.listdir("/tmp")),
            "host": socket.gethostname(),
            "draw": float(np.random.random()),
            "look": sorted(os.listdir(self.config.look.replace(":", "/")))
            if os.path.isdir(self.config.look.replace(":", "/"))
            else None,
        }

    def resolved_config(self) -> dict[str, Any]:
        return self.seen


class Saver(Prior):
    """Not hostile: saves its class prior where the harness asks (``--save-models``)."""

    def save(self, path: str) -> None:
        with open(path, "wb") as handle:
            np.save(handle, self.probs)


@hookimpl
def hbench_register_models(register) -> None:
    register(
        "grammar-cheat",
        GrammarCheat,
        GrammarCheatConfig,
        description="public grammar",
        build_imports=("hbench_tree",),  # its BP code, as a model that fits a grammar may
    )
    register("stack-cheat", StackCheat, NoOptions, description="the harness's answers")
    register("data-cheat", DataCheat, NoOptions, description="more training data")
    register("parent-peek", ParentPeek, NoOptions, description="the harness's memory")
    register("memory-reader", MemoryReader, NoOptions, description="/proc/<pid>/mem by libc")
    register("audit-blinder", AuditBlinder, NoOptions, description="blinds the audit hook")
    register("child-reader", ChildReader, NoOptions, description="a child reads the harness")
    register("writer", Writer, WriterConfig, description="writes into the installation")
    register("leaver", Leaver, NoOptions, description="leaves processes running")
    register("endless", Endless, EndlessConfig, description="never returns")
    register("memory-bomb", MemoryBomb, NoOptions, description="allocates 64 GiB")
    register("spawner", Spawner, NoOptions, description="starts processes without end")
    register("parent-killer", ParentKiller, NoOptions, description="SIGTERM to the harness")
    register("channel", Channel, NoOptions, description="/tmp as a channel between fits")
    register("inside", Inside, InsideConfig, description="reports what a worker sees")
    register("saver", Saver, NoOptions, description="saves its class prior")
