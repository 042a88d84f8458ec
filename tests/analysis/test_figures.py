"""Figures: written as PNG and PDF atomically, dynamics against steps with their reference
lines, attention panels on one colour scale. Properties of the figure objects, not pixels."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from result_runs import make_result

from hbench.analysis import attention, figures, probe
from hbench.analysis.common import pyplot
from hbench.analysis.figures import checkpoint_axis, dynamics_figure, dynamics_figures

MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF"}


def series(labels=(1, 4, 16, 64)) -> dict:
    points = [
        {
            "label": label,
            "seconds": 0.5 * (i + 1),
            "accuracy": {"1": 0.3 + 0.1 * i, "2": 0.25 + 0.05 * i},
            "kl": {"0": 1.0 / (i + 1), "1": 0.5 / (i + 1), "2": 0.0},
        }
        for i, label in enumerate(labels)
    ]
    return {"seed": 0, "k_train": 1, "points": points, "first_closest_order": [2, 1]}


def assert_written(paths) -> None:
    assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
    for path in paths:
        assert path.read_bytes()[:4] == MAGIC[path.suffix]
    assert not list(paths[0].parent.glob(".*.tmp"))  # nothing half-written left behind


def test_dynamics_figures_are_png_and_pdf_next_to_the_result(tmp_path):
    result = make_result()
    result.extra["dynamics"] = [series()]
    written = dynamics_figures(result, tmp_path / "run.json")
    assert [p.name for p in written] == ["run_dynamics_s0_k1.png", "run_dynamics_s0_k1.pdf"]
    assert_written(written)
    assert dynamics_figures(make_result(), tmp_path / "other.json") == []


def test_dynamics_are_drawn_against_steps_with_chance_bp_and_the_in_sample_curve():
    result = make_result()
    figure = dynamics_figure(result, series())
    left, right = figure.axes
    assert left.get_xscale() == "log" and left.get_xlabel() == "optimiser steps"
    curves = {line.get_label(): line for line in left.get_lines()}
    in_sample = curves["k_test=1 (in-sample)"]
    assert list(in_sample.get_xdata()) == [1, 4, 16, 64]
    assert in_sample.get_linewidth() > curves["k_test=2"].get_linewidth()
    legend = [text.get_text() for text in left.get_legend().get_texts()]
    assert any(t == "chance 1/4 = 0.25" for t in legend)
    assert any(t.startswith("BP accuracy") for t in legend)
    levels = {round(line.get_ydata()[0], 6) for line in left.get_lines()}
    assert {0.25, 0.75} <= levels  # chance and BP's accuracy (0.75 in make_result) are drawn
    assert right.get_yscale() == "log" and all(  # a KL of 0 is clipped, not dropped
        np.all(np.asarray(line.get_ydata()) > 0) for line in right.get_lines()
    )
    title = figure.texts[0].get_text()
    for word in ("mlp", "suite smoke", "task root", "seed 0", "k_train=1"):
        assert word in title
    pyplot().close(figure)


def test_checkpoints_without_step_labels_fall_back_to_training_time():
    x, label = checkpoint_axis(series(labels=("early", "mid", "late", "end"))["points"])
    assert label.startswith("training time") and x == [0.5, 1.0, 1.5, 2.0]
    x, label = checkpoint_axis(series()["points"])
    assert label == "optimiser steps" and x == [1.0, 4.0, 16.0, 64.0]


def blocks(layer: int, best_j: int, depth: int = 3) -> attention.LayerBlocks:
    uniform = [(1 << j) / (1 << depth) for j in range(depth + 1)]
    return attention.LayerBlocks(
        layer=layer,
        mass=uniform,
        uniform=uniform,
        excess=[0.0] * (depth + 1),
        best_j=best_j,
        best_block=1 << best_j,
    )


def test_attention_panels_share_one_colour_scale_and_a_colour_bar(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    entries, arrays = [], {}
    for k, scale in ((0, 1.0), (2, 3.0)):  # the second model's weights peak higher
        key = f"s0_k{k}"
        weights = rng.random((2, 8, 8)) ** scale
        arrays[key] = weights / weights.sum(axis=-1, keepdims=True)
        layers = [blocks(1, 1), blocks(2, 2)]
        entries.append(
            attention.ModelAttention(seed=0, k_train=k, data_level=k, layers=layers, array=key)
        )
    captured = []
    save = figures.save_figure

    def keep(figure, path):
        captured.append(figure)
        return save(figure, path)

    monkeypatch.setattr(figures, "save_figure", keep)
    written = attention.attention_grid(entries, arrays, tmp_path / "a.png", "mlp on suite smoke")
    assert_written(written)
    (figure,) = captured
    images = [image for ax in figure.axes for image in ax.get_images()]
    assert len(images) == 4
    assert {image.get_clim() for image in images} == {
        (0.0, max(float(a.max()) for a in arrays.values()))
    }
    assert any(ax.get_ylabel() == "mean attention weight" for ax in figure.axes)  # colour bar
    panel = figure.axes[0]
    assert [t.get_text() for t in panel.get_xticklabels()] == [str(i) for i in range(8)]
    dashed = [line for line in panel.get_lines() if line.get_linestyle() == "--"]
    vertical = {x[0] for x in (line.get_xdata() for line in dashed) if x[0] == x[1]}
    assert sorted(vertical) == [1.5, 3.5, 5.5]  # layer 1's best block: 2 leaves
    assert "mlp on suite smoke" in figure.texts[0].get_text()
    assert_written(attention.block_profiles(entries, tmp_path / "b.png", "mlp"))


def test_probe_heatmaps_are_png_and_pdf(tmp_path):
    report = probe.ProbeReport(
        result="r.json",
        model="mlp",
        probe="linear",
        train_sequences=10,
        test_sequences=10,
        steps=1,
        depths=[0, 1],
        models=[
            probe.ModelProbe(
                seed=0,
                k_train=0,
                data_level=0,
                accuracy=[[0.3, 0.5], [0.6, 0.9]],
                bayes=[1.0, 1.0],
                best_layer=[1, 1],
            )
        ],
        figures=[],
    )
    assert_written(probe.heatmaps(report, tmp_path / "p.png", "mlp on suite smoke"))
