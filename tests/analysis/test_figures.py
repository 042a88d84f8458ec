"""Figures: written as PNG and PDF atomically with a caption, dynamics against steps with their
reference lines, grids of panels in rows on one colour scale with one attached colour bar and
one legend. Properties of the figure objects and files, not pixels."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from result_runs import make_result

from hbench.analysis import attention, budget, calibration, figures, mismatch, probe
from hbench.analysis.common import pyplot
from hbench.analysis.figures import (
    checkpoint_axis,
    dynamics_figure,
    dynamics_figures,
    grid_shape,
    label_edges,
    model_grid,
    panel_grid,
    read_caption,
    save_figure,
)

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
    assert [p.name for p in written] == ["run_dynamics.png", "run_dynamics.pdf"]
    assert_written(written)
    caption = read_caption(written[0])
    assert "a column per training level k = 1, two rows per seed (0)" in caption
    assert "against optimiser steps" in caption
    assert dynamics_figures(make_result(), tmp_path / "other.json") == []


def test_a_runs_dynamics_are_one_grid_of_seeds_by_training_levels_with_one_legend():
    result = make_result()
    result.extra["dynamics"] = [
        {**series(), "seed": seed, "k_train": k} for seed in (0, 1) for k in (1, 2)
    ]
    figure = figures.dynamics_grid(result, result.extra["dynamics"])
    axes = np.array(figure.axes).reshape(4, 2)  # (accuracy, KL) per seed, a column per level
    assert [ax.get_title() for ax in axes[0]] == ["trained at k = 1", "trained at k = 2"]
    assert axes[0, 0].get_ylabel() == "seed 0\ntest accuracy"
    assert axes[3, 0].get_ylabel().startswith("seed 1\nKL")
    assert all(ax.get_xscale() == "log" for ax in axes.flat)
    assert all(ax.get_yscale() == "log" for ax in axes[1::2].flat)
    # x shared by every panel, y by every panel of a kind
    assert all(axes[0, 0].get_shared_x_axes().joined(axes[0, 0], ax) for ax in axes.flat)
    assert all(axes[0, 0].get_shared_y_axes().joined(axes[0, 0], ax) for ax in axes[0::2].flat)
    assert all(axes[1, 0].get_shared_y_axes().joined(axes[1, 0], ax) for ax in axes[1::2].flat)
    assert not axes[0, 0].get_shared_y_axes().joined(axes[0, 0], axes[1, 0])
    # one legend for the figure: a colour per level, the line styles, BP and chance
    (legend,) = figure.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert {"level 0", "level 1", "level 2"} <= set(texts)
    assert "BP accuracy (reference)" in texts and "chance 1/4 = 0.25" in texts
    assert all(ax.get_legend() is None for ax in axes.flat)
    # test level K and oracle BP_K in one colour: the thick in-sample curves match
    thick = [max(ax.get_lines(), key=lambda line: line.get_linewidth()) for ax in axes[:2, 0]]
    assert thick[0].get_color() == thick[1].get_color()
    pyplot().close(figure)


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


def test_attention_panels_share_one_colour_scale_and_a_colour_bar(tmp_path, captured):
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
    written = attention.attention_grid(entries, arrays, tmp_path / "a.png", "mlp on suite smoke")
    assert_written(written)
    figure, _ = captured
    images = [image for ax in figure.axes for image in ax.get_images()]
    assert len(images) == 4
    assert {image.get_clim() for image in images} == {
        (0.0, max(float(a.max()) for a in arrays.values()))
    }
    assert any(ax.get_ylabel() == "mean attention weight" for ax in figure.axes)  # colour bar
    assert len(colour_bars(figure)) == 1
    panels = np.array(panel_axes(figure)).reshape(2, 2)  # rows: layers, columns: levels
    assert [ax.get_title() for ax in panels[0]] == ["k_train = 0", "k_train = 2"]
    assert [ax.get_ylabel().split("\n")[0] for ax in panels[:, 0]] == ["layer 1", "layer 2"]
    # position ticks on the outer panels only, at most four of eight positions labelled
    assert [t.get_text() for t in panels[1, 0].get_xticklabels()] == ["0", "2", "4", "6"]
    assert [t.get_text() for t in panels[0, 1].get_xticklabels()] == []
    panel = figure.axes[0]
    dashed = [line for line in panel.get_lines() if line.get_linestyle() == "--"]
    vertical = {x[0] for x in (line.get_xdata() for line in dashed) if x[0] == x[1]}
    assert sorted(vertical) == [1.5, 3.5, 5.5]  # layer 1's best block: 2 leaves
    assert "mlp on suite smoke" in figure.texts[0].get_text()
    assert "one row per layer" in read_caption(written[0])
    assert_written(attention.block_profiles(entries, tmp_path / "b.png", "mlp"))


def colour_bars(figure) -> list:
    return [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]


def panel_axes(figure) -> list:
    """The panels of a figure: every axes that is not a colour bar, in creation order."""
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


@pytest.fixture
def captured(monkeypatch) -> list:
    """Every figure the project saves, kept open to look at (it is still written)."""
    kept = []
    save = figures.save_figure

    def keep(figure, path, caption=""):
        kept.append(figure)
        written = save(figure, path, caption)
        kept.append(written)
        return written

    monkeypatch.setattr(figures, "save_figure", keep)
    return kept


def test_a_caption_travels_in_the_png_and_the_pdf(tmp_path):
    figure, _ = pyplot().subplots()
    written = save_figure(figure, tmp_path / "f.png", "What  the figure\nshows.")
    assert_written(written)
    assert read_caption(written[0]) == read_caption(written[1]) == "What the figure shows."
    assert b"What the figure shows." in written[1].read_bytes()  # the PDF's Subject
    assert figures.captions([*written, tmp_path / "r.json"]) == {
        "f.png": "What the figure shows.",
        "f.pdf": "What the figure shows.",
    }
    assert read_caption(tmp_path / "missing.png") == ""
    figure, _ = pyplot().subplots()
    assert read_caption(save_figure(figure, tmp_path / "g")[0]) == ""


def test_grids_have_rows_not_strips():
    assert [grid_shape(n) for n in (1, 2, 3, 4, 5, 10)] == [
        (1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (4, 3)
    ]  # fmt: skip
    # several seeds: a row per seed, a column per level, whatever the order given
    rows, columns, where = model_grid([(1, 0), (0, 2), (0, 0), (1, 2)])
    assert (rows, columns, where) == (2, 2, [(1, 0), (0, 1), (0, 0), (1, 1)])
    # one seed: the levels in order, wrapped into rows
    rows, columns, where = model_grid([(0, k) for k in (4, 3, 2, 1, 0)])
    assert (rows, columns) == (2, 3) and where == [(1, 1), (1, 0), (0, 2), (0, 1), (0, 0)]


def test_a_panel_grid_shares_its_axes_and_is_labelled_on_its_edges():
    """5 panels: 2 rows of 3, the last cell unused; x labels under the lowest used panel of
    each column (row 1 for the first two columns, row 0 for the third), y labels on column 0."""
    plt = pyplot()
    figure, axes, where = panel_grid(plt, 5, size=(2.0, 2.0), below=1.0)
    try:
        assert axes.shape == (2, 3) and where == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
        assert tuple(figure.get_size_inches()) == pytest.approx((6.6, 5.0))
        assert axes[0, 0].get_shared_x_axes().joined(axes[0, 0], axes[1, 2])
        assert axes[0, 0].get_shared_y_axes().joined(axes[0, 0], axes[1, 2])
        label_edges(axes, where, "steps", "accuracy")
        xlabels = {(r, c): axes[r, c].get_xlabel() for r in range(2) for c in range(3)}
        assert {key for key, text in xlabels.items() if text} == {(1, 0), (1, 1), (0, 2)}
        assert [axes[r, 0].get_ylabel() for r in range(2)] == ["accuracy", "accuracy"]
        assert axes[0, 1].get_ylabel() == ""
    finally:
        plt.close(figure)


def probe_report(seeds=(0,), levels=(0,)) -> probe.ProbeReport:
    return probe.ProbeReport(
        result="r.json",
        model="mlp",
        probe="linear",
        train_sequences=10,
        test_sequences=10,
        steps=1,
        depths=[0, 1],
        models=[
            probe.ModelProbe(
                seed=seed,
                k_train=k,
                data_level=k,
                accuracy=[[0.3, 0.5], [0.6, None if k else 0.9]],
                bayes=[1.0, None if k else 1.0],
                best_layer=[1, 1],
            )
            for seed in seeds
            for k in levels
        ],
        figures=[],
    )


def test_probe_heatmaps_are_png_and_pdf(tmp_path):
    written = probe.heatmaps(probe_report(), tmp_path / "p.png", "mlp on suite smoke")
    assert_written(written)
    assert "Bayes-optimal" in read_caption(written[0])


def test_probe_heatmaps_are_a_grid_of_seeds_by_levels_with_one_colour_bar(tmp_path, captured):
    probe.heatmaps(probe_report(seeds=(0, 1), levels=(0, 2, 3)), tmp_path / "p.png", "mlp")
    figure = captured[0]
    assert len(colour_bars(figure)) == 1
    assert colour_bars(figure)[0].get_ylabel() == "probe accuracy"
    panels = np.array(panel_axes(figure)).reshape(2, 3)
    assert [ax.get_title() for ax in panels[1]] == [f"seed 1, k_train = {k}" for k in (0, 2, 3)]
    assert {image.get_clim() for ax in panels.flat for image in ax.get_images()} == {(0, 1)}
    # the BP row below the layers, labelled
    assert [t.get_text() for t in panels[0, 0].get_yticklabels()] == ["0", "1", "BP"]


def test_block_profiles_are_a_grid_with_one_legend(tmp_path, captured):
    entries = [
        attention.ModelAttention(
            seed=0, k_train=k, data_level=k, layers=[blocks(1, 1), blocks(2, 2)], array="x"
        )
        for k in range(4)
    ]
    attention.block_profiles(entries, tmp_path / "b.png", "mlp")
    figure, written = captured
    assert_written(written)
    visible = [ax for ax in figure.axes if ax.get_visible() and ax.axison]
    assert len(figure.axes) == 4 and len(visible) == 4  # 2 x 2, not a strip of 4
    assert len({ax.get_position().y0 for ax in figure.axes}) == 2
    (legend,) = figure.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels[:2] == ["layer 1", "layer 2"] and "best block" in labels
    assert "star marks" in read_caption(written[0])


def test_attention_of_several_seeds_is_a_figure_per_seed(tmp_path):
    arrays, entries = {}, []
    for seed in (0, 3):
        for k in (0, 1):
            key = f"s{seed}_k{k}"
            arrays[key] = np.full((1, 8, 8), 1 / 8)
            entries.append(
                attention.ModelAttention(
                    seed=seed, k_train=k, data_level=k, layers=[blocks(1, 3)], array=key
                )
            )
    written = attention.attention_figures(entries, arrays, tmp_path / "r_attention.png", "mlp")
    assert [p.name for p in written] == [
        "r_attention.png", "r_attention.pdf", "r_attention_s3.png", "r_attention_s3.pdf"
    ]  # fmt: skip
    assert "seed 3" in read_caption(written[2])


def mismatch_report() -> mismatch.MismatchReport:
    grid = [[0.5, 0.4], [0.3, 0.6]]
    return mismatch.MismatchReport(
        result="r.json",
        model="mlp",
        seeds=[0],
        chance=0.25,
        train_levels=[0, 1],
        test_levels=[0, 1],
        acc=grid,
        acc_bp_train=grid,
        acc_bp_test=grid,
        kl_bp_train=grid,
        kl_bp_test=grid,
        agree_train=grid,
        ood=[],
        tracking=mismatch.Tracking(cells=2, kl_closer_to_train=1, acc_closer_to_train=1),
        figures=[],
    )


def test_mismatch_shares_a_colour_bar_per_row(tmp_path, captured):
    written = mismatch.figure_of(mismatch_report(), tmp_path / "m.png")
    assert_written(written)
    figure = captured[0]
    bars = [ax.get_ylabel() for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert bars == ["accuracy (chance = 0.25)", "KL, bits per query"]
    images = [image for ax in figure.axes for image in ax.get_images()]
    assert len(images) == 5
    assert len({image.get_clim() for image in images}) == 2
    assert "chance (0.25)" in read_caption(written[0])


def test_calibration_panels_wrap_into_rows_with_one_legend(tmp_path, captured):
    models = [
        calibration.ModelCalibration(
            seed=0,
            k_train=k,
            data_level=k,
            n_queries=4,
            acc=0.5,
            acc_bp=0.6,
            mean_abs_diff=0.1,
            kl_bits=0.2,
            bin_edges=[0.0, 0.5, 1.0],
            bin_model=[0.2, None],
            bin_bp=[0.25, None],
            bin_count=[4, 0],
            scatter_bp=[0.1, 0.3],
            scatter_model=[0.2, 0.2],
        )
        for k in range(5)
    ]
    report = calibration.CalibrationReport(
        result="r.json", model="mlp", task="root", sequences=8, models=models, figures=[]
    )
    written = calibration.figure(report, tmp_path / "c.png", "mlp")
    assert_written(written)
    figure = captured[0]
    assert len(figure.axes) == 6 and not figure.axes[-1].axison  # 2 rows of 3, one unused
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == ["one entry", "binned mean", "model = BP"]
    assert figure.axes[3].get_xlabel() == "BP_k_train probability"


def test_budget_panels_share_one_legend_with_bp_and_chance(tmp_path, captured):
    points = [
        budget.BudgetPoint(label, "root", k, P, 2, 0.5, 0.01, 0.9, 0.25, 0.4, 0.02)
        for label in ("a", "b", "c", "d")
        for k in (0, 1)
        for P in (32, 64)
    ]
    written = budget.accuracy_figure(points, tmp_path / "b.png", "budget")
    assert_written(written)
    figure = captured[0]
    assert len(figure.axes) == 4 and len({ax.get_position().y0 for ax in figure.axes}) == 2
    assert all(ax.get_legend() is None for ax in figure.axes)
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == [
        "k_train=0", "k_train=1", "BP accuracy (colour of its level)", "chance 1/4 = 0.25"
    ]  # fmt: skip
    assert "dotted: chance" in read_caption(written[0])
