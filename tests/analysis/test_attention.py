"""The attention analysis: block scores are exact on hand-built attention, and the command
writes its numbers, arrays and figures for a trained transformer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from analysis_runs import bp_result, transformer_result

from hbench.analysis import attention, common
from hbench.cli import main

L = 8  # the smoke suite: depth 3


def block_diagonal(length: int, block: int) -> np.ndarray:
    """Uniform attention inside aligned blocks of ``block`` tokens."""
    positions = np.arange(length)
    same = (positions[:, None] // block) == (positions[None, :] // block)
    return same / block


class FixedAttention:
    """A model whose every layer attends with one fixed matrix, whatever the input."""

    def __init__(self, matrices: list[np.ndarray], heads: bool = False) -> None:
        self.matrices, self.heads = matrices, heads

    def attention(self, data):
        n = len(data)
        out = []
        for matrix in self.matrices:
            tiled = np.broadcast_to(matrix, (n, *matrix.shape))
            out.append(tiled[:, None] if self.heads else tiled)
        return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "analysis-runs"
    return root


@pytest.mark.parametrize("block", [1, 2, 4, 8, 16])
def test_block_score_is_one_inside_hard_blocks(block):
    mass, uniform = attention.block_scores(block_diagonal(16, block))
    j = block.bit_length() - 1
    np.testing.assert_allclose(mass[j:], 1.0, atol=1e-12)
    np.testing.assert_allclose(mass[:j], uniform[:j] * 16 / block, atol=1e-12)
    assert attention.best_block(mass, uniform, min_excess=0.05) == j


def test_block_score_of_uniform_attention_is_the_uniform_value():
    mass, uniform = attention.block_scores(np.full((16, 16), 1 / 16))
    np.testing.assert_allclose(mass, uniform, atol=1e-12)
    np.testing.assert_allclose(uniform, [1 / 16, 2 / 16, 4 / 16, 8 / 16, 1.0])
    assert attention.best_block(mass, uniform, min_excess=0.05) == 4  # the whole sequence


@pytest.mark.parametrize("share", [0.2, 0.5, 0.9])
def test_best_block_survives_mixing_with_uniform_attention(share):
    mixed = share * block_diagonal(16, 4) + (1 - share) / 16
    mass, uniform = attention.block_scores(mixed)
    assert attention.best_block(mass, uniform, min_excess=0.05) == 2


def test_analysis_of_hard_wired_models(runs):
    run = common.load_run(bp_result(runs))
    models = [
        common.TrainedModel(0, 0, FixedAttention([block_diagonal(L, 2), block_diagonal(L, 4)])),
        common.TrainedModel(0, 3, FixedAttention([np.full((L, L), 1 / L)], heads=True)),
    ]
    entries, arrays = attention.analyze(run, models, sequences=50, min_excess=0.05)
    blocks = entries[0].layers
    assert [layer.best_block for layer in blocks] == [2, 4]
    assert blocks[0].mass[1] == pytest.approx(1.0) and blocks[1].mass[2] == pytest.approx(1.0)
    (uniform,) = entries[1].layers
    np.testing.assert_allclose(uniform.mass, uniform.uniform, atol=1e-7)
    assert uniform.best_block == L
    assert arrays["s0_k0"].shape == (2, L, L) and entries[1].data_level == 3


def test_command_writes_json_arrays_and_figures(runs, capsys):
    result = transformer_result(runs)
    out = result.parent / "attention-out"
    argv = ["analyze", "attention", str(result), "--sequences", "300", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "best block" in printed
    base = out / f"{result.stem}_attention"
    report = attention.AttentionReport.model_validate_json(base.with_suffix(".json").read_text())
    assert [(m.seed, m.k_train) for m in report.models] == [(0, 0), (0, 2)]
    for entry in report.models:
        assert len(entry.layers) == 2
        for layer in entry.layers:
            assert layer.mass[-1] == pytest.approx(1.0)
            assert layer.best_block == 1 << layer.best_j
    with np.load(base.with_suffix(".npz")) as arrays:
        np.testing.assert_allclose(arrays["s0_k0"].sum(axis=-1), 1.0, atol=1e-5)
    assert sorted(report.figures) == [
        f"{result.stem}_attention{part}.{fmt}" for part in ("", "_blocks") for fmt in ("pdf", "png")
    ]
    for name in report.figures:
        magic = b"\x89PNG" if name.endswith(".png") else b"%PDF"
        assert (out / name).read_bytes()[:4] == magic
    first = json.loads(base.with_suffix(".json").read_text())
    assert main([*argv, "--quiet"]) == 0  # seeded: the same numbers again
    assert json.loads(base.with_suffix(".json").read_text()) == first


def test_a_model_without_attention_is_skipped_with_a_reason(runs, capsys):
    assert main(["analyze", "attention", str(bp_result(runs))]) == 0
    assert capsys.readouterr().out.strip() == (
        "attention: skipped: model 'bp' has no attention(data) method"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sequences", "0"], "--sequences=0 is invalid"),
        (["--min-excess", "1.5"], "--min-excess=1.5 is invalid"),
        (["--data-filter", "9"], "--data-filter=9 is invalid"),
    ],
)
def test_bad_options_are_usage_errors(runs, capsys, argv, message):
    assert main(["analyze", "attention", str(transformer_result(runs)), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_missing_result_is_a_usage_error(tmp_path, capsys):
    assert main(["analyze", "attention", str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
