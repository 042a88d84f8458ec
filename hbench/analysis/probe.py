"""``hbench analyze probe RESULT``: which ancestors each layer's token vectors encode.

The encoder is frozen. For every layer's token representations (layer 0 is the embedding
output) a probe is trained to predict, from token i's vector alone, the symbol of its ancestor
at depth d (d = 0 is the root, d = l - 1 the parent; the ancestor of leaf i at depth d is node
i >> (l - d)). Labels are the sampler's true internal nodes of fresh sequences of the model's
training level (``--data-filter`` for another); a filtered tree has no nodes above its filter
level, so those cells are empty. Each accuracy is reported next to the Bayes-optimal one: the
argmax of BP's posterior of that node given every observed leaf, scored on the same tokens.

Probes are linear (softmax regression) or, with ``--hidden``, one hidden layer of 64 ReLU
units. All (layer, depth) probes train at once as one batched torch model with Adam on
standardised features (a fixed number of steps), and are scored on held-out sequences.

The paper's reading: ancestors become decodable layer by layer, deeper layers for higher
ancestors (smaller d).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hbench.analysis import common
from hbench.analysis.report import Report, skipped
from hbench.contracts import Sample

HELP = "probe accuracy of every layer for the ancestor at every depth, next to BP's"
TRAIN_PURPOSE, TEST_PURPOSE = 1, 2  # seed streams (see `common.Run.sample`)
CHUNK = 1024  # sequences per call to hidden_states()
HIDDEN_UNITS = 64


class ModelProbe(BaseModel):
    """Accuracies of one trained model; ``accuracy[layer][i]`` is for depth ``depths[i]``,
    None where the data has no node at that depth (above the filter level)."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    k_train: int
    data_level: int
    accuracy: list[list[float | None]]  # (layers + 1) x depths
    bayes: list[float | None]  # BP's accuracy per depth
    best_layer: list[int | None]  # per depth: the first layer within 0.01 of the best


class ProbeReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = common.REPORT_VERSION
    analysis: str = "probe"
    result: str
    model: str
    probe: str  # "linear" or "hidden-64"
    train_sequences: int
    test_sequences: int
    steps: int
    depths: list[int]  # ancestor depth of each column (0 = root)
    models: list[ModelProbe]
    figures: list[str]
    captions: dict[str, str] = Field(default_factory=dict)  # figure file -> what it shows


# --- labels and the Bayes-optimal accuracy -------------------------------------------------------


def ancestor_labels(sample: Sample, depth: int, depths: Sequence[int]) -> list[np.ndarray | None]:
    """Per depth d, (n, 2^depth) int64: the symbol of each leaf's ancestor at depth d; None
    where the sample has no nodes at d (a filtered tree)."""
    out: list[np.ndarray | None] = []
    leaf_to_node = np.arange(1 << depth)
    for d in depths:
        nodes = sample.roots[:, None] if d == 0 else sample.nodes.get(d)
        if nodes is None:
            out.append(None)
            continue
        nodes = np.asarray(nodes).astype(np.int64)
        out.append(nodes[:, leaf_to_node >> (depth - d)])
    return out


def bayes_accuracy(
    run: common.Run, level: int, data, labels: list[np.ndarray | None], depths: Sequence[int]
) -> list[float | None]:
    """Per depth, the accuracy of BP_level's posterior argmax for each leaf's ancestor."""
    post = run.oracle.posteriors(
        run.level(level), run.task.oracle_leaves(data, run.spec), full=True
    )
    depth = run.depth
    out: list[float | None] = []
    for d, truth in zip(depths, labels, strict=True):
        if truth is None:
            out.append(None)
            continue
        guess = post.root.argmax(axis=1)[:, None] if d == 0 else post.nodes[d].argmax(axis=2)
        guess = guess[:, np.arange(1 << depth) >> (depth - d)]
        out.append(float(np.mean(guess == truth)))
    return out


# --- the probes ----------------------------------------------------------------------------------


def hidden_states(model, data, advance: Callable[[int], None] = lambda n: None) -> np.ndarray:
    """(layers + 1, n, L, d) float32: the model's token vectors, in chunks. Layers of
    different widths are padded with zeros to the widest (a constant feature changes no
    probe), so all probes still train as one batch."""
    parts = []
    for start, stop in common.chunks(len(data), CHUNK):
        layers = [
            np.asarray(x, dtype=np.float32)
            for x in model.hidden_states(common.subset(data, start, stop))
        ]
        width = max(x.shape[-1] for x in layers)
        padding = [((0, 0), (0, 0), (0, width - x.shape[-1])) for x in layers]
        parts.append(np.stack([np.pad(x, pad) for x, pad in zip(layers, padding, strict=True)]))
        advance(stop - start)
    return np.concatenate(parts, axis=1)


def train_probes(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    q: int,
    *,
    hidden: bool = False,
    steps: int = 1000,
    batch: int = 2048,
    seed: int = 0,
    device: str = "cpu",
    advance: Callable[[int], None] = lambda n: None,
) -> np.ndarray:
    """Train one probe per (feature set f, label set t) and return test accuracies (F, T).

    ``train_x`` is (F, N, D) (e.g. one feature set per layer, one row per token), ``train_y``
    (T, N) labels in [0, q) (e.g. one label set per ancestor depth); likewise for the test
    arrays. Every probe has its own parameters; they are trained together only because one
    batched forward pass is far faster than F * T small ones. Features are standardised with
    the training mean and deviation of their set. Training runs a fixed number of Adam steps
    on minibatches of ``batch`` tokens drawn without replacement (epoch by epoch), with a
    cosine learning-rate decay, so the budget does not depend on the data size.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    dev = torch.device(device)
    x = torch.as_tensor(train_x, dtype=torch.float32)
    mean = x.mean(dim=1, keepdim=True)
    scale = x.std(dim=1, keepdim=True).clamp_min(1e-6)
    x = ((x - mean) / scale).to(dev)
    y = torch.as_tensor(train_y, dtype=torch.long).to(dev)
    n_sets, n, width = x.shape
    n_targets = y.shape[0]

    def init(*shape: int) -> torch.nn.Parameter:
        bound = 1 / np.sqrt(shape[-2])
        values = (torch.rand(*shape, generator=generator) * 2 - 1) * bound
        return torch.nn.Parameter(values.to(dev))

    if hidden:
        params = [
            init(n_sets, n_targets, width, HIDDEN_UNITS),
            torch.nn.Parameter(torch.zeros(n_sets, n_targets, 1, HIDDEN_UNITS, device=dev)),
            init(n_sets, n_targets, HIDDEN_UNITS, q),
            torch.nn.Parameter(torch.zeros(n_sets, n_targets, 1, q, device=dev)),
        ]
    else:
        params = [
            init(n_sets, n_targets, width, q),
            torch.nn.Parameter(torch.zeros(n_sets, n_targets, 1, q, device=dev)),
        ]

    def logits(features: torch.Tensor) -> torch.Tensor:  # (F, B, D) -> (F, T, B, q)
        if hidden:
            h = torch.relu(torch.einsum("fbd,ftdh->ftbh", features, params[0]) + params[1])
            return torch.einsum("ftbh,fthq->ftbq", h, params[2]) + params[3]
        return torch.einsum("fbd,ftdq->ftbq", features, params[0]) + params[1]

    optimizer = torch.optim.Adam(params, lr=3e-2 if not hidden else 1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    done = 0
    while done < steps:
        order = torch.randperm(n, generator=generator).to(dev)
        for start in range(0, n, batch):
            if done == steps:
                break
            done += 1
            rows = order[start : start + batch]
            out = logits(x[:, rows])  # (F, T, B, q)
            target = y[:, rows].unsqueeze(0).expand(n_sets, -1, -1)
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, q), target.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            (loss * n_sets * n_targets).backward()  # each probe's own mean loss
            optimizer.step()
            schedule.step()
            advance(1)
    correct = torch.zeros(n_sets, n_targets, dtype=torch.float64)
    test = torch.as_tensor(test_x, dtype=torch.float32)
    labels = torch.as_tensor(test_y, dtype=torch.long)
    with torch.no_grad():
        for start in range(0, test.shape[1], 8 * batch):
            chunk = ((test[:, start : start + 8 * batch] - mean.cpu()) / scale.cpu()).to(dev)
            guess = logits(chunk).argmax(dim=-1).cpu()  # (F, T, B)
            correct += (guess == labels[None, :, start : start + 8 * batch]).sum(dim=-1)
    return (correct / test.shape[1]).numpy()


def analyze(
    run: common.Run,
    models: Sequence[common.TrainedModel],
    *,
    train_sequences: int,
    test_sequences: int,
    hidden: bool = False,
    steps: int = 1000,
    data_filter: int | None = None,
    device: str = "cpu",
    advance: Callable[[int], None] = lambda n: None,
) -> tuple[list[int], list[ModelProbe]]:
    """(depths, one `ModelProbe` per model)."""
    depth = run.depth
    depths = list(range(depth))
    entries = []
    for trained in models:
        level = common.data_level(run, trained.k_train, data_filter)
        sets = {}
        for purpose, n in ((TRAIN_PURPOSE, train_sequences), (TEST_PURPOSE, test_sequences)):
            sample, data = run.sample(n, trained.seed, level, purpose, internal=True)
            labels = ancestor_labels(sample, depth, depths)
            sets[purpose] = (data, labels, hidden_states(trained.model, data))
        _, train_labels, train_h = sets[TRAIN_PURPOSE]
        test_data, test_labels, test_h = sets[TEST_PURPOSE]
        have = [i for i, lab in enumerate(train_labels) if lab is not None]
        n_layers = train_h.shape[0]
        accuracy: list[list[float | None]] = [[None] * len(depths) for _ in range(n_layers)]
        if have:
            found = train_probes(
                train_h.reshape(n_layers, -1, train_h.shape[-1]),
                np.stack([train_labels[i].reshape(-1) for i in have]),
                test_h.reshape(n_layers, -1, test_h.shape[-1]),
                np.stack([test_labels[i].reshape(-1) for i in have]),
                run.spec.q,
                hidden=hidden,
                steps=steps,
                seed=trained.seed,
                device=device,
                advance=advance,
            )
            for column, i in enumerate(have):
                for layer in range(n_layers):
                    accuracy[layer][i] = float(found[layer, column])
        bayes = bayes_accuracy(run, level, test_data, test_labels, depths)
        entries.append(
            ModelProbe(
                seed=trained.seed,
                k_train=trained.k_train,
                data_level=level,
                accuracy=accuracy,
                bayes=bayes,
                best_layer=[
                    _first_good_layer([row[i] for row in accuracy]) for i in range(len(depths))
                ],
            )
        )
    return depths, entries


def _first_good_layer(column: list[float | None], slack: float = 0.01) -> int | None:
    """The first layer whose accuracy is within ``slack`` of the column's best."""
    values = [v for v in column if v is not None]
    if not values:
        return None
    top = max(values)
    return next(i for i, v in enumerate(column) if v is not None and v >= top - slack)


# --- the analysis ------------------------------------------------------------------------------


class ProbeOptions(common.ModelOptions):
    """Options of the probe analysis."""

    probe_sequences: int = Field(
        4096, description="training sequences of the probes, each gives 2^l tokens"
    )
    probe_test: int = Field(2048, description="held-out sequences the probes are scored on")
    probe_steps: int = Field(1000, description="Adam steps of 2048 tokens per probe")
    hidden: bool = Field(
        False,
        description=f"probes with one hidden layer of {HIDDEN_UNITS} ReLU units instead of"
        " linear ones",
    )


def report(
    source: str | Path | common.Run, options: ProbeOptions | None = None
) -> Report[ProbeReport]:
    """Probe accuracies of every layer of every model the run kept (skipped, with the
    reason, for a model without hidden states or a run that kept none)."""
    from hbench.progress import progress
    from hbench.run.devices import resolve_device

    options = options or ProbeOptions()
    common.check_count(options.probe_sequences, "--probe-sequences")
    common.check_count(options.probe_test, "--probe-test")
    common.check_count(options.probe_steps, "--probe-steps")
    loaded = common.as_run(source)
    if options.data_filter is not None:
        common.data_level(loaded, 0, options.data_filter)
    device = resolve_device(options.device)
    try:
        models = loaded.trained_models("hidden_states", device)
    except common.Skip as reason:
        return skipped("probe", loaded.path, reason)
    with progress(len(models) * options.probe_steps, "probes", unit="step") as advance:
        depths, entries = analyze(
            loaded,
            models,
            train_sequences=options.probe_sequences,
            test_sequences=options.probe_test,
            hidden=options.hidden,
            steps=options.probe_steps,
            data_filter=options.data_filter,
            device=device,
            advance=advance,
        )
    numbers = ProbeReport(
        result=str(loaded.path),
        model=loaded.model_name,
        probe=f"hidden-{HIDDEN_UNITS}" if options.hidden else "linear",
        train_sequences=options.probe_sequences,
        test_sequences=options.probe_test,
        steps=options.probe_steps,
        depths=depths,
        models=entries,
        figures=[],
    )
    from hbench.analysis.figures import run_title

    title = run_title(loaded.result)

    def draw(report: Report[ProbeReport], base: Path) -> list[Path]:
        from hbench.analysis.figures import captions

        figures = heatmaps(report.numbers, base.with_name(base.name + ".png"), title)
        report.numbers.figures = [f.name for f in figures]
        report.numbers.captions = captions(figures)
        return figures

    writer = common.run_writer("probe", draw)
    return Report("probe", loaded.path, numbers, text=table(numbers), writer=writer)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(report: ProbeReport) -> str:
    """Per model: rows layer 0..n and BP, columns the ancestor depths."""
    from tabulate import tabulate

    headers = [
        "seed",
        "k_train",
        "layer",
        *(f"d={d}" + (" (root)" if d == 0 else "") for d in report.depths),
    ]
    rows = []
    for entry in report.models:
        for layer, accuracies in enumerate(entry.accuracy):
            rows.append([entry.seed, entry.k_train, layer, *map(_fmt, accuracies)])
        rows.append([entry.seed, entry.k_train, "BP", *map(_fmt, entry.bayes)])
    title = (
        f"{report.probe} probe accuracy for the ancestor at depth d of each token, model"
        f" {report.model!r} (layer 0: embeddings; BP: Bayes-optimal; '-': no node at that depth"
        " in filtered data)"
    )
    lines = [title, tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)]
    for entry in report.models:
        firsts = ", ".join(
            f"d={d}: {'-' if layer is None else layer}"
            for d, layer in zip(report.depths, entry.best_layer, strict=True)
        )
        lines.append(
            f"seed {entry.seed}, k_train {entry.k_train}: first layer within 0.01 of the best,"
            f" per depth: {firsts}"
        )
    return "\n".join(lines)


def heatmaps(report: ProbeReport, path, title: str = "") -> list[Path]:
    """One heatmap per model, layers x depths with BP's row below a white gap, in a grid (rows:
    seeds, columns: training levels; one seed: the levels wrapped in rows); one colour scale
    (accuracy 0 to 1) and one colour bar beside the grid for all panels."""
    from hbench.analysis.figures import hide_unused, model_grid, save_figure

    plt = common.pyplot()
    entries = report.models
    n_rows = len(entries[0].accuracy) + 1
    rows, columns, where = model_grid([(e.seed, e.k_train) for e in entries])
    cell_w, cell_h = 0.55, 0.34
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(
            (cell_w * len(report.depths) + 0.7) * columns + 1.4,
            (cell_h * n_rows + 0.9) * rows + 0.8,
        ),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    several_seeds = len({e.seed for e in entries}) > 1
    image = None
    for entry, (row, column) in zip(entries, where, strict=True):
        ax = axes[row, column]
        grid = np.array(
            [[np.nan if v is None else v for v in line] for line in [*entry.accuracy, entry.bayes]]
        )
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="magma", aspect="auto")
        ax.set_facecolor("0.9")  # cells without a node (NaN) show as light grey
        common.annotate(ax, image, grid, fontsize=7)
        ax.axhline(n_rows - 1.5, color="white", lw=2.5)
        ax.set_xticks(range(len(report.depths)), [str(d) for d in report.depths])
        ax.set_yticks(range(n_rows), [*map(str, range(n_rows - 1)), "BP"])
        ax.tick_params(labelsize=8, length=2)
        seed = f"seed {entry.seed}, " if several_seeds else ""
        ax.set_title(f"{seed}k_train = {entry.k_train}", fontsize=9)
    hide_unused(axes, where)
    for column in range(columns):
        lowest = max(row for row, c in where if c == column)
        axes[lowest, column].set_xlabel("ancestor depth d (0 = root)", fontsize=8)
        axes[lowest, column].xaxis.set_tick_params(labelbottom=True)
    for row in range(rows):
        axes[row, 0].set_ylabel("layer (0: embeddings)", fontsize=8)
    figure.colorbar(image, ax=axes, shrink=0.9, aspect=25, label="probe accuracy")
    seeds = sorted({e.seed for e in entries})
    which = f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ",".join(map(str, seeds))
    figure.suptitle(f"{report.probe} probe accuracy: {title}, {which}", fontsize=10)
    caption = (
        f"Accuracy of {report.probe} probes that read the symbol of a token's ancestor at depth d"
        f" (0 = root) from that token's vector at each layer (0 = embeddings) of {title}"
        f" ({which}), one panel per trained model (training level k), on held-out sequences;"
        " the last row of each panel (below the white line) is the Bayes-optimal accuracy (BP)"
        " of the same node from every leaf. Grey: no node at that depth in filtered data."
    )
    return save_figure(figure, path, caption)
