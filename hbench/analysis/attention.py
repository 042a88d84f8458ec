"""``hbench analyze attention RESULT``: where each layer looks, as pictures and as numbers.

For every trained model of a run, the attention matrix of every layer is averaged over fresh
sequences (of the model's training level unless ``--data-filter``) and over heads. The *block
score* turns each matrix into numbers: for block size 2^j (j = 0..l), ``mass[j]`` is the share
of attention a query puts inside its own aligned block of 2^j leaves (positions i and p share
the block when i // 2^j == p // 2^j). Uniform attention gives exactly ``uniform[j] = 2^j / L``;
attention that stays inside blocks of 2^j gives ``mass[j] = 1``.

The block size that *best explains* a layer is 2^j* with j* = argmax_j (mass[j] - uniform[j]),
the largest such j on ties: ``mass`` and ``uniform`` are the cumulative distributions of the
attended token's tree distance (the height of the smallest block holding both tokens) under the
model and under uniform attention, and j* is where they differ most (a Kolmogorov-Smirnov
statistic on the tree). For attention spread uniformly within blocks of 2^b, and any mixture of
that with uniform attention, j* = b. When the largest excess is below ``--min-excess`` the layer
has no block structure worth the name and j* = l (the whole sequence).

The paper's reading to test: trained at k = 0, the blocks grow with depth (pairs, then
quadruples, ...); trained at level k they stop growing at 2^(l-k), the size of the blocks that
filtering keeps intact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hbench.analysis import common
from hbench.analysis.report import Report, skipped

HELP = "attention maps per layer and training level, and the block size each layer attends within"
PURPOSE = 0  # seed stream of the attention data (see `common.Run.sample`)
CHUNK = 1024  # sequences per call to attention(): bounded memory, a moving progress bar


class LayerBlocks(BaseModel):
    """The block score of one layer; lists are indexed by j (block size 2^j, j = 0..l)."""

    model_config = ConfigDict(extra="forbid")

    layer: int  # 1-based, as in the network
    mass: list[float]  # share of attention inside the query's aligned block of 2^j leaves
    uniform: list[float]  # what uniform attention gives: 2^j / L
    excess: list[float]  # mass - uniform
    best_j: int
    best_block: int  # 2^best_j


class ModelAttention(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int
    k_train: int
    data_level: int
    layers: list[LayerBlocks]
    array: str  # key of the (layers, L, L) mean attention matrices in the .npz file


class AttentionReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = common.REPORT_VERSION
    analysis: str = "attention"
    result: str
    model: str
    sequences: int
    min_excess: float
    length: int
    block_sizes: list[int]
    models: list[ModelAttention]
    arrays: str  # the .npz file, next to this JSON
    figures: list[str]
    captions: dict[str, str] = Field(default_factory=dict)  # figure file -> what it shows


# --- the numbers ---------------------------------------------------------------------------------


def block_scores(attention: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mass, uniform), each (l + 1,), of one (L, L) attention matrix (rows sum to 1)."""
    attention = np.asarray(attention, dtype=np.float64)
    length = attention.shape[-1]
    depth = length.bit_length() - 1
    if attention.shape != (length, length) or 1 << depth != length:
        raise ValueError(f"expected a (2^l, 2^l) matrix, got shape {attention.shape}")
    positions = np.arange(length)
    mass = np.empty(depth + 1)
    for j in range(depth + 1):
        same_block = (positions[:, None] >> j) == (positions[None, :] >> j)
        mass[j] = (attention * same_block).sum() / length
    uniform = (1 << np.arange(depth + 1)) / length
    return mass, uniform


def best_block(mass: np.ndarray, uniform: np.ndarray, min_excess: float) -> int:
    """j* of the module docstring: the largest j of maximal excess, or l below ``min_excess``."""
    excess = np.asarray(mass) - np.asarray(uniform)
    top = excess.max()
    if top < min_excess:
        return len(excess) - 1
    return int(np.flatnonzero(excess >= top - 1e-9).max())


def layer_blocks(matrices: np.ndarray, min_excess: float) -> list[LayerBlocks]:
    """The block score of every layer of a (layers, L, L) stack."""
    out = []
    for index, matrix in enumerate(matrices):
        mass, uniform = block_scores(matrix)
        j = best_block(mass, uniform, min_excess)
        out.append(
            LayerBlocks(
                layer=index + 1,
                mass=mass.tolist(),
                uniform=uniform.tolist(),
                excess=(mass - uniform).tolist(),
                best_j=j,
                best_block=1 << j,
            )
        )
    return out


def mean_attention(model, data, advance: Callable[[int], None] = lambda n: None) -> np.ndarray:
    """(layers, L, L): the model's attention averaged over sequences and heads."""
    total: np.ndarray | None = None
    for start, stop in common.chunks(len(data), CHUNK):
        layers = model.attention(common.subset(data, start, stop))
        stacked = np.stack([_per_sequence(np.asarray(a)) for a in layers])  # (layers, n, L, L)
        part = stacked.sum(axis=1, dtype=np.float64)
        total = part if total is None else total + part
        advance(stop - start)
    assert total is not None
    return total / len(data)


def _per_sequence(weights: np.ndarray) -> np.ndarray:
    """(n, L, L) from (n, L, L) or (n, heads, L, L) (heads averaged)."""
    if weights.ndim == 4:
        return weights.mean(axis=1)
    if weights.ndim != 3:
        raise ValueError(
            f"attention(): expected (n, L, L) or (n, heads, L, L), got {weights.shape}"
        )
    return weights


def analyze(
    run: common.Run,
    models: Sequence[common.TrainedModel],
    *,
    sequences: int,
    min_excess: float,
    data_filter: int | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> tuple[list[ModelAttention], dict[str, np.ndarray]]:
    """The block scores of every model, and its mean matrices by npz key."""
    entries, arrays = [], {}
    for trained in models:
        level = common.data_level(run, trained.k_train, data_filter)
        _, data = run.sample(sequences, trained.seed, level, PURPOSE)
        matrices = mean_attention(trained.model, data, advance)
        key = f"s{trained.seed}_k{trained.k_train}"
        arrays[key] = matrices.astype(np.float32)
        entries.append(
            ModelAttention(
                seed=trained.seed,
                k_train=trained.k_train,
                data_level=level,
                layers=layer_blocks(matrices, min_excess),
                array=key,
            )
        )
    return entries, arrays


# --- the analysis ------------------------------------------------------------------------------


class AttentionOptions(common.ModelOptions):
    """Options of the attention analysis."""

    sequences: int = Field(10_000, description="test sequences the attention is averaged over")
    min_excess: float = Field(
        0.05, description="below this largest excess over uniform a layer has no block"
    )


def report(
    source: str | Path | common.Run, options: AttentionOptions | None = None
) -> Report[AttentionReport]:
    """The block scores of every model the run kept (skipped, with the reason, for a model
    without attention or a run that kept none)."""
    from hbench.progress import progress
    from hbench.run.devices import resolve_device

    options = options or AttentionOptions()
    common.check_count(options.sequences, "--sequences")
    if not 0 <= options.min_excess < 1:
        raise common.invalid("--min-excess", options.min_excess, "a number in [0, 1)")
    loaded = common.as_run(source)
    if options.data_filter is not None:
        common.data_level(loaded, 0, options.data_filter)
    try:
        models = loaded.trained_models("attention", resolve_device(options.device))
    except common.Skip as reason:
        return skipped("attention", loaded.path, reason)
    with progress(len(models) * options.sequences, "attention", unit="seq") as advance:
        entries, arrays = analyze(
            loaded,
            models,
            sequences=options.sequences,
            min_excess=options.min_excess,
            data_filter=options.data_filter,
            advance=advance,
        )
    from hbench.analysis.figures import run_title

    title = run_title(loaded.result)
    numbers = AttentionReport(
        result=str(loaded.path),
        model=loaded.model_name,
        sequences=options.sequences,
        min_excess=options.min_excess,
        length=loaded.spec.length,
        block_sizes=[1 << j for j in range(loaded.depth + 1)],
        models=entries,
        arrays="",
        figures=[],
    )

    def draw(report: Report[AttentionReport], base: Path) -> list[Path]:
        from hbench.io import save_npz

        npz = save_npz(base.with_suffix(".npz"), arrays)
        from hbench.analysis.figures import captions

        figures = [
            *attention_figures(entries, arrays, base.with_name(base.name + ".png"), title),
            *block_profiles(entries, base.with_name(base.name + "_blocks.png"), title),
        ]
        report.numbers.arrays = npz.name
        report.numbers.figures = [f.name for f in figures]
        report.numbers.captions = captions(figures)
        return [npz, *figures]

    writer = common.run_writer("attention", draw)
    return Report("attention", loaded.path, numbers, text=table(numbers), writer=writer)


def table(report: AttentionReport) -> str:
    """One row per (seed, training level, layer): in-block mass per block size, best block."""
    from tabulate import tabulate

    length = report.length
    headers = [
        "seed",
        "k_train",
        "layer",
        *(f"m[{b}] (u={b / length:.2f})" for b in report.block_sizes),
    ]
    headers.append("best block")
    rows = []
    for entry in report.models:
        for layer in entry.layers:
            rows.append(
                [
                    entry.seed,
                    entry.k_train,
                    layer.layer,
                    *(f"{m:.3f}" for m in layer.mass),
                    layer.best_block,
                ]
            )
    title = (
        f"attention of model {report.model!r}: share of attention inside the query's block of b"
        f" leaves (m[b]; uniform attention: u = b/{length}), averaged over {report.sequences}"
        " sequences; best block = argmax_b (m[b] - u)"
    )
    return title + "\n" + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


# --- the figures ---------------------------------------------------------------------------------


def _seeds(entries: Sequence[ModelAttention]) -> str:
    seeds = sorted({e.seed for e in entries})
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ",".join(map(str, seeds))


def attention_figures(
    entries: list[ModelAttention], arrays: dict, path: Path, title: str = ""
) -> list[Path]:
    """`attention_grid` of every seed: the first seed as ``path``, each other seed as
    ``<path stem>_s<seed>``, so that a figure stays a grid of layers x training levels."""
    seeds = sorted({entry.seed for entry in entries})
    written: list[Path] = []
    for seed in seeds:
        mine = [entry for entry in entries if entry.seed == seed]
        target = path if seed == seeds[0] else path.with_name(f"{path.stem}_s{seed}{path.suffix}")
        written += attention_grid(mine, arrays, target, title)
    return written


def attention_grid(
    entries: list[ModelAttention], arrays: dict, path, title: str = ""
) -> list[Path]:
    """Rows: layers; columns: trained models (training level); each cell the mean matrix.

    One colour scale for every panel (0 to the largest weight of any), so that panels compare,
    with one colour bar beside the grid. Dashed white lines mark the boundaries of the layer's
    best block (multiples of 2^j*); dotted grey ones the blocks of 2^(l-k) leaves that filtering
    at the training level k keeps intact, where the paper expects the blocks to stop growing.
    Position ticks only on the outer panels, at most five per axis."""
    from matplotlib.lines import Line2D

    from hbench.analysis.figures import legend_below, save_figure

    plt = common.pyplot()
    entries = sorted(entries, key=lambda e: (e.seed, e.k_train))
    n_layers = len(entries[0].layers)
    length = arrays[entries[0].array].shape[-1]
    depth = length.bit_length() - 1
    vmax = max(float(arrays[entry.array].max()) for entry in entries)
    side = 2.0 if length <= 16 else 2.4
    figure, axes = plt.subplots(
        n_layers,
        len(entries),
        figsize=(side * len(entries) + 1.9, side * n_layers + 1.0),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    several_seeds = len({e.seed for e in entries}) > 1
    ticks = list(range(0, length, max(1, length // 4)))
    image = None
    for column, entry in enumerate(entries):
        matrices = arrays[entry.array]
        kept = 1 << max(0, depth - entry.k_train)  # the blocks filtering keeps intact
        for row, layer in enumerate(entry.layers):
            ax = axes[row, column]
            image = ax.imshow(
                matrices[row], cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest"
            )
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.set_yticks(ticks, [str(t) for t in ticks])
            ax.tick_params(labelsize=7, length=2)
            for block, style in ((kept, ":"), (layer.best_block, "--")):
                color = "0.85" if style == ":" else "white"
                for edge in range(block, length, block) if 1 < block < length else ():
                    ax.axvline(edge - 0.5, color=color, linestyle=style, lw=0.9)
                    ax.axhline(edge - 0.5, color=color, linestyle=style, lw=0.9)
            ax.text(
                0.97,
                0.04,
                f"best {layer.best_block}",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=7,
                color="black",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )
            if row == 0:
                seed = f"seed {entry.seed}, " if several_seeds else ""
                ax.set_title(f"{seed}k_train = {entry.k_train}", fontsize=9)
            if column == 0:
                ax.set_ylabel(f"layer {layer.layer}\nquery position", fontsize=8)
            if row == n_layers - 1:
                ax.set_xlabel("attended position", fontsize=8)
    figure.colorbar(image, ax=axes, shrink=0.8, aspect=30, label="mean attention weight")
    legend_below(
        figure,
        [
            Line2D([], [], color="0.3", linestyle="--", label="best block (boundaries)"),
            Line2D([], [], color="0.6", linestyle=":", label="blocks of 2^(l-k) kept by filtering"),
        ],
    )
    figure.suptitle(f"mean attention: {title}, {_seeds(entries)}", fontsize=10)
    caption = (
        f"Mean attention of {title} ({_seeds(entries)}), averaged over test sequences and heads:"
        " one row per layer, one column per training level k; each panel is query position"
        " (rows) by attended position (columns) on one colour scale. Dashed: boundaries of the"
        " block size that best explains the layer ('best', in leaves); dotted: the blocks of"
        " 2^(l-k) leaves that filtering at level k keeps intact."
    )
    return save_figure(figure, path, caption)


def block_profiles(entries: list[ModelAttention], path, title: str = "") -> list[Path]:
    """Excess over uniform against block size, a panel per model (rows: seeds, columns:
    training levels; one seed: the levels wrapped in rows), one line per layer."""
    from matplotlib.lines import Line2D

    from hbench.analysis.figures import hide_unused, legend_below, model_grid, save_figure

    plt = common.pyplot()
    rows, columns, where = model_grid([(e.seed, e.k_train) for e in entries])
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.0 * columns + 0.6, 2.6 * rows + 1.2),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    several_seeds = len({e.seed for e in entries}) > 1
    handles = []
    for entry, (row, column) in zip(entries, where, strict=True):
        ax = axes[row, column]
        js = list(range(len(entry.layers[0].excess)))
        for index, layer in enumerate(entry.layers):
            color = f"C{index}"
            (line,) = ax.plot(
                js, layer.excess, marker="o", ms=3, color=color, label=f"layer {layer.layer}"
            )
            handles.append(line)
            ax.plot([layer.best_j], [layer.excess[layer.best_j]], "*", ms=11, color=color)
        seed = f"seed {entry.seed}, " if several_seeds else ""
        ax.set_title(f"{seed}k_train = {entry.k_train}", fontsize=9)
        ax.set_xticks(js, [str(1 << j) for j in js])
        ax.tick_params(labelsize=8)
        ax.axhline(0, color="grey", lw=0.8)
        ax.grid(alpha=0.25)
    hide_unused(axes, where)
    for column in range(columns):  # x label under the lowest panel of each column
        lowest = max(row for row, c in where if c == column)
        axes[lowest, column].set_xlabel("block size 2^j (leaves)", fontsize=8)
        axes[lowest, column].xaxis.set_tick_params(labelbottom=True)
    for row in range(rows):
        axes[row, 0].set_ylabel("in-block mass - uniform", fontsize=8)
    handles.append(
        Line2D([], [], color="0.3", marker="*", ms=9, linestyle="none", label="best block")
    )
    handles.append(Line2D([], [], color="grey", lw=0.8, label="uniform attention (0)"))
    legend_below(figure, handles, columns=min(6, len(handles)))
    figure.suptitle(f"block score per layer: {title}, {_seeds(entries)}", fontsize=10)
    caption = (
        f"Block score of each layer of {title} ({_seeds(entries)}): the share of attention"
        " inside the query's own block of 2^j leaves minus what uniform attention gives, against"
        " the block size, one line per layer and one panel per trained model (training level k);"
        " a star marks the block size that best explains the layer."
    )
    return save_figure(figure, path, caption)
