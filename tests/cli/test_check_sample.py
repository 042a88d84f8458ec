"""``hbench check`` of a model that declares ``sample`` (`ModelCapabilities.sample`): the smoke
suite's generate task, then valid sequences and the same sequences for the same seed."""

from __future__ import annotations

import sys
from typing import ClassVar

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

import hbench.registry.registry
from hbench import hookimpl
from hbench.cli.app import build_parser
from hbench.cli.run import _sample_checks
from hbench.contracts import ModelCapabilities
from hbench.errors import PluginError
from hbench.registry.registry import load_registry

NAMES = [
    "generate: fits, draws and is scored",
    "generate: sample(n, rng) gives valid sequences",
    "generate: same seed, same sequences",
]

#: A gpt small enough to train in seconds.
TINY = ["d_model=16", "n_layers=1", "n_heads=2", "d_ff=32", "epochs=1", "batch_size=64"]


def parse(*argv: str):
    return build_parser().parse_args(["check", *argv])


def test_gpt_samples_valid_sequences_the_same_for_the_same_seed() -> None:
    pytest.importorskip("torch")
    model_args = [part for arg in TINY for part in ("--model-arg", arg)]
    rows = _sample_checks(parse("--model", "gpt", *model_args))
    assert [name for name, _, _ in rows] == NAMES
    assert all(ok for _, ok, _ in rows), rows
    assert rows[1][2] == "(64, 8) integers in [0, 4)"
    assert rows[2][2] == "identical sequences"


def test_a_model_without_sample_has_no_such_rows() -> None:
    assert _sample_checks(parse("--model", "naive-bayes")) == []


# --- models that declare sample and break its contract (in this process) -----------------------


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Uniform:
    capabilities: ClassVar = ModelCapabilities(sample=True)

    def __init__(self, config=None) -> None:
        pass

    def fit(self, train, spec, callbacks) -> None:
        self.spec = spec

    def predict(self, data) -> np.ndarray:
        return np.full((data.n_queries, self.spec.q), 1.0 / self.spec.q)


class Unseeded(Uniform):
    """Draws from numpy's global generator: the rng it is handed is ignored."""

    def sample(self, n, rng) -> np.ndarray:
        return np.random.randint(0, self.spec.q, size=(n, self.spec.length))


class OutOfRange(Uniform):
    """Draws the symbol q, which no grammar has."""

    def sample(self, n, rng) -> np.ndarray:
        return np.full((n, self.spec.length), self.spec.q)


@hookimpl
def hbench_register_models(register):
    register("unseeded", Unseeded, NoOptions, description="ignores its rng (tests only)")
    register("out-of-range", OutOfRange, NoOptions, description="symbol q (tests only)")


@pytest.fixture
def broken(monkeypatch):
    registry = load_registry(extra_plugins=[("broken", sys.modules[__name__])])
    monkeypatch.setattr(hbench.registry.registry, "_default", registry)


def test_a_model_that_ignores_its_rng_fails_the_same_seed_row(broken) -> None:
    rows = _sample_checks(parse("--model", "unseeded", "--in-process"))
    assert [name for name, _, _ in rows] == NAMES
    assert [ok for _, ok, _ in rows] == [True, True, False]
    assert rows[2][2].endswith("of 64 sequences differ")


def test_symbols_out_of_range_are_one_line_naming_the_model(broken) -> None:
    with pytest.raises(PluginError, match=r"out-of-range.*sample\(\) returned symbol 4"):
        _sample_checks(parse("--model", "out-of-range", "--in-process"))
