"""``hbench new-plugin``: the files of a fresh model plugin, ready to install and check.

The skeleton is the shortest complete answer to "how do I put my model on the leaderboard":
its own distribution with an entry point in the ``hbench`` group, a pydantic config, a model
that implements the contract (a real one, multinomial logistic regression on one-hot tokens,
so that ``hbench check`` passes and the numbers mean something), and a test that runs the
contract checks. Replace the model, keep the rest.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from hbench.errors import UsageError, invalid
from hbench.io import temporary_name

#: Distribution and model names: lowercase words joined by hyphens, like a registry name.
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
description = "The {model} model for hbench"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["hbench", "numpy>=1.24", "pydantic>=2.5"]

[project.optional-dependencies]
test = ["pytest>=7.4"]

# hbench finds the model through this entry point in its "hbench" group.
[project.entry-points.hbench]
{package} = "{package}.plugin"

[tool.setuptools.packages.find]
where = ["src"]
"""

README = """\
# {name}

The `{model}` model for hbench: a plugin distribution (hbench's CONTRIBUTING.md, "Add your
model in ten minutes", walks through it).

```bash
pip install -e .                      # registers the model through the "hbench" entry point
hbench list models                    # shows {model}
hbench check --model {model}          # the contract, in seconds
hbench run --model {model} --suite cpu --seeds 0,1,2
hbench submit results/<file>.json     # files it into leaderboards/ and rebuilds the tables
python -m pytest -q tests
```

Edit `src/{package}/model.py` (the model) and `src/{package}/plugin.py` (its options).
"""

INIT = '''\
"""The {model} model for hbench."""

__version__ = "0.1.0"
'''

PLUGIN = '''\
"""Registers the model. Keep this module cheap to import: no heavy imports at the top, since
every `hbench` command imports it; the model itself is imported only when it is created."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hbench import hookimpl


class Config(BaseModel):
    """The model's options; `--model-arg steps=500` is validated here before anything runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # a misspelt option is an error

    steps: int = Field(300, ge=1, description="full-batch gradient steps")
    lr: float = Field(0.5, gt=0, allow_inf_nan=False, description="learning rate")
    l2: float = Field(1e-4, ge=0, allow_inf_nan=False, description="weight decay")


@hookimpl
def hbench_register_models(register) -> None:
    register(
        "{model}",
        "{package}.model:Model",  # "module:attr", imported when the model is created
        Config,
        description="multinomial logistic regression on one-hot tokens (template)",
    )
'''

MODEL = '''\
"""The model: what `fit` learns from at most P training questions, and what `predict` answers.

The contract (see `hbench.contracts`): ``fit(train, spec, callbacks)`` gets `TaskData` (int64
``inputs`` (n, length) tokens, one query per (``query_rows``, ``query_positions``), ``targets``
the answers) and a `TaskSpec` (q, length, vocab_size, mask_id); ``predict(data)`` returns one
row of q probabilities per query. ``callbacks.seed`` seeds any randomness, so the same run gives
the same result; ``callbacks.progress(done, total)`` draws a progress bar. What the model
offers beyond fit and predict (attention maps, hidden states, save and load for the analyses)
it declares in ``capabilities`` (`hbench.contracts.ModelCapabilities`): none here.

This template: multinomial logistic regression on the one-hot tokens of the sequence and the
one-hot query position, fitted by full-batch gradient descent in numpy.
"""

from __future__ import annotations

import numpy as np

from hbench.contracts import WHOLE_SEQUENCE, FitCallbacks, ModelCapabilities, TaskData, TaskSpec


class Model:
    capabilities = ModelCapabilities()  # e.g. ModelCapabilities(save=True) with save/load

    def __init__(self, config) -> None:
        self.config = config
        self.spec: TaskSpec | None = None
        self.weights: np.ndarray | None = None  # (features, q)

    def _features(self, data: TaskData) -> np.ndarray:
        """(m, length * vocab + length + 1): the query's sequence and position, one-hot."""
        spec = self.spec
        tokens = np.asarray(data.inputs, dtype=np.int64)[np.asarray(data.query_rows)]
        m = tokens.shape[0]
        onehot = np.zeros((m, spec.length, spec.vocab_size))
        onehot[np.arange(m)[:, None], np.arange(spec.length)[None, :], tokens] = 1.0
        position = np.asarray(data.query_positions)
        where = np.zeros((m, spec.length + 1))
        where[np.arange(m), np.where(position == WHOLE_SEQUENCE, spec.length, position)] = 1.0
        return np.concatenate([onehot.reshape(m, -1), where, np.ones((m, 1))], axis=1)

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        self.spec = spec
        x = self._features(train)
        y = np.eye(spec.q)[np.asarray(train.targets)]
        self.weights = np.zeros((x.shape[1], spec.q))  # deterministic: no randomness needed
        steps = self.config.steps
        for step in range(steps):
            gradient = x.T @ (self._softmax(x @ self.weights) - y) / x.shape[0]
            self.weights -= self.config.lr * (gradient + self.config.l2 * self.weights)
            if (step + 1) % 50 == 0 or step + 1 == steps:
                callbacks.progress(step + 1, steps, "step")

    def predict(self, data: TaskData) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("predict() called before fit()")
        return self._softmax(self._features(data) @ self.weights)

    def num_parameters(self) -> int:
        """Optional: shown in the leaderboards' parameters column."""
        return 0 if self.weights is None else int(self.weights.size)

    @staticmethod
    def _softmax(scores: np.ndarray) -> np.ndarray:
        scores = scores - scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        return probabilities / probabilities.sum(axis=1, keepdims=True)
'''

TEST = '''\
"""The model passes hbench's contract checks, through its installed entry point."""

from hbench.cli import main


def test_contract():
    assert main(["check", "--model", "{model}", "--quiet"]) == 0
'''


def files(name: str) -> dict[str, str]:
    """Relative path -> content of the skeleton for distribution (and model) ``name``."""
    package = name.replace("-", "_")

    def fill(template: str) -> str:
        return (
            template.replace("{name}", name).replace("{model}", name).replace("{package}", package)
        )

    return {
        "pyproject.toml": fill(PYPROJECT),
        "README.md": fill(README),
        f"src/{package}/__init__.py": fill(INIT),
        f"src/{package}/plugin.py": fill(PLUGIN),
        f"src/{package}/model.py": MODEL,
        f"tests/test_{package}.py": fill(TEST),
    }


def check_name(name: str, taken: list[str]) -> None:
    if not NAME.match(name):
        raise invalid(
            "NAME", name, "lowercase letters and digits in words joined by '-', e.g. my-model"
        )
    if name in taken:
        raise invalid("NAME", name, f"a model name not yet registered (taken: {', '.join(taken)})")


def write_skeleton(name: str, folder: str | Path, taken: list[str] = ()) -> Path:
    """Write the skeleton to ``folder/name`` and return that path.

    The folder is built under a temporary name and renamed when complete, so an interrupted
    command leaves nothing behind; an existing ``folder/name`` is never touched.
    """
    check_name(name, list(taken))
    folder = Path(folder)
    target = folder / name
    if target.exists():
        raise invalid("--dir", str(folder), f"a folder without a {name!r} in it (it exists)")
    staging = temporary_name(folder, f".{name}.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise invalid("--dir", str(folder), f"a writable folder ({exc.strerror})") from None
    try:
        try:
            staging.mkdir()
        except OSError as exc:
            staging = None  # not made here: not ours to remove
            raise invalid("--dir", str(folder), f"a writable folder ({exc.strerror})") from None
        for relative, text in files(name).items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        os.rename(staging, target)
    except BaseException as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise UsageError(f"--dir={str(folder)!r}: could not write {name}: {exc}") from exc
        raise
    return target
