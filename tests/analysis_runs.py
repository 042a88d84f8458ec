"""Small finished runs for the analysis tests: written once per test session, on the smoke suite."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from hbench.cli import main

TINY = ["d_model=16", "n_layers=2", "d_ff=32", "epochs=2", "warmup_steps=5"]


def _run(folder: Path, *argv: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    code = main(["run", "--suite", "smoke", "--out", str(folder), "--quiet", *argv])
    assert code == 0
    (path,) = folder.glob("*.json")
    return path


@cache
def bp_result(root: Path) -> Path:
    """The exact-inference model trained at every level of the smoke suite (seconds)."""
    return _run(root / "bp", "--model", "bp")


@cache
def transformer_result(root: Path) -> Path:
    """A tiny transformer at levels 0 and 2, with its trained models kept."""
    args = ["--model", "transformer", "--save-models", "--train-filter", "0", "--train-filter", "2"]
    for value in TINY:
        args += ["--model-arg", value]
    return _run(root / "transformer", *args)
