"""Inline SVG figures for the site: each row's headline interval beside its seeds' scores,
per-level normalised accuracy and k_train x k_test heatmaps. Drawn here as text, so a page needs
no script library and no network, and the same numbers always give the same bytes (every
coordinate is formatted with fixed precision)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup
from markupsafe import escape as _escape

from hbench.leaderboard.text import visible


def escape(text: str) -> Markup:
    """Text for SVG: control characters as escapes, then XML-escaped."""
    return _escape(visible(str(text)))


#: Okabe-Ito's colour-blind-safe palette (its yellow left out: unreadable on white), then Paul
#: Tol's muted wine, teal and olive: the colours a model's name picks from (`colour`).
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#000000",
    "#882255",
    "#44aa99",
    "#999933",
)
#: Viridis at five stops: perceptually uniform and readable in grey.
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def _slot(model: str) -> int:
    """The model's first-choice place in `PALETTE`: its name hashed (sha256, not Python's
    salted ``hash``, so every build gives the same one)."""
    digest = hashlib.sha256(model.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % len(PALETTE)


def colour(model: str, colours: Mapping[str, str] | None = None) -> str:
    """A model's colour: from ``colours`` (`model_colours` of every model of the site) where
    it is there, else its first choice."""
    if colours is not None and model in colours:
        return colours[model]
    return PALETTE[_slot(model)]


def model_colours(models: Iterable[str]) -> dict[str, str]:
    """One colour per model name, the same on every board of a site and whatever its rank:
    models in name order each take their hashed slot of `PALETTE`, or the next one free, so
    that models of the site share no colour while there are enough (then slots are shared).
    A new model can move only a model whose slot it takes before it by name."""
    taken: set[int] = set()
    out = {}
    for model in sorted(set(models)):
        slot = _slot(model)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
            taken.add(slot)
        out[model] = PALETTE[slot]
    return out


def viridis(value: float) -> str:
    """The colour of ``value`` in [0, 1] (clipped); NaN is light grey."""
    if math.isnan(value):
        return "#eeeeee"
    x = min(max(value, 0.0), 1.0) * (len(_VIRIDIS) - 1)
    i = min(int(x), len(_VIRIDIS) - 2)
    t = x - i
    rgb = (round(a + (b - a) * t) for a, b in zip(_VIRIDIS[i], _VIRIDIS[i + 1], strict=True))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _f(value: float) -> str:
    return f"{value:.1f}"


def _y_axis(
    parts: list[str],
    low: float,
    high: float,
    y: Callable[[float], float],
    left: int,
    right_x: int,
    top: int,
    plot_h: int,
    label: str,
) -> None:
    """Grid lines every 0.2 (0 and 1 heavier: chance and exact inference), their values, and
    the axis title written up the left edge."""
    for step in range(math.ceil(low * 5 - 1e-9), math.floor(high * 5 + 1e-9) + 1):
        tick = step / 5
        at = _f(y(tick))
        parts.append(
            f'<line x1="{left}" x2="{right_x}" y1="{at}" y2="{at}"'
            f' class="{"axis" if step in (0, 5) else "grid"}"/>'
            f'<text x="{left - 6}" y="{_f(y(tick) + 4)}" class="tick" text-anchor="end">'
            f"{tick:.1f}</text>"
        )
    middle = _f(top + plot_h / 2)
    parts.append(
        f'<text x="14" y="{middle}" class="axis-title" text-anchor="middle"'
        f' transform="rotate(-90 14 {middle})">{escape(label)}</text>'
    )


def _range(values: Sequence[float]) -> tuple[float, float]:
    """The y range: 0 to 1 at least, widened to whole tenths around every value."""
    finite = [v for v in values if not math.isnan(v)]
    low, high = min([0.0, *finite]), max([1.0, *finite])
    return math.floor(low * 10) / 10, math.ceil(high * 10) / 10


#: The y-axis title of both charts.
ACCURACY_AXIS = "normalised accuracy (0 chance, 1 BP)"
#: The x-axis title of the chart per level.
LEVEL_AXIS = "filter level k (trained and tested at k)"


@dataclass(frozen=True)
class Interval:
    """One row of `interval_chart`: its label under the axis ("1", "2-3", "ref"), the model,
    the mean and 95% interval, and every seed's score with the seeds marked as outliers."""

    label: str
    model: str
    colour: str
    mean: float
    low: float
    high: float
    seeds: dict[int, float]
    outliers: Sequence[int] = ()


def interval_chart(rows: Sequence[Interval], *, title: str, axis: str = ACCURACY_AXIS) -> Markup:
    """Each row's headline: the mean (a bar) with its 95% interval (a line) and, beside it,
    every seed's score as a point, so a reader sees how many seeds there are and how they
    spread; a seed marked far below its row's median (a failed fit) is drawn as a red-ringed
    cross. Rows left to right in table order, labelled by their rank and model; ``axis`` the
    y-axis title (the board's headline)."""
    values = [v for r in rows for v in (r.mean, r.low, r.high, *r.seeds.values())]
    low, high = _range(values)
    slot, left, right, top, plot_h = 120, 56, 12, 12, 240
    width = max(960, left + right + slot * len(rows))
    plot_w = width - left - right
    height = top + plot_h + 44

    def y(v: float) -> float:
        return top + plot_h * (high - v) / (high - low)

    parts = [
        f'<svg class="chart intervals" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    _y_axis(parts, low, high, y, left, width - right, top, plot_h, axis)
    step = plot_w / max(len(rows), 1)
    for index, row in enumerate(rows):
        centre = left + step * (index + 0.5)
        stroke = row.colour
        name = escape(row.model)
        group = [f'<g class="series" style="--c:{stroke}"><title>{name}</title>']
        shown = row.model if len(row.model) <= 16 else row.model[:15] + "\u2026"
        group.append(
            f'<text x="{_f(centre)}" y="{top + plot_h + 18}" class="tick"'
            f' text-anchor="middle">{escape(row.label)}</text>'
            f'<text x="{_f(centre)}" y="{top + plot_h + 34}" class="legend"'
            f' text-anchor="middle">{escape(shown)}</text>'
        )
        bar_x = centre - 8
        if not math.isnan(row.low):
            group.append(
                f'<line x1="{_f(bar_x)}" x2="{_f(bar_x)}" y1="{_f(y(row.low))}"'
                f' y2="{_f(y(row.high))}" stroke="{stroke}" class="interval">'
                f"<title>{name}: 95% interval {row.low:.3f} to {row.high:.3f}</title></line>"
            )
        if not math.isnan(row.mean):
            group.append(
                f'<line x1="{_f(bar_x - 7)}" x2="{_f(bar_x + 7)}" y1="{_f(y(row.mean))}"'
                f' y2="{_f(y(row.mean))}" stroke="{stroke}" class="mean">'
                f"<title>{name}: mean {row.mean:.3f}</title></line>"
            )
        for place, (seed, value) in enumerate(sorted(row.seeds.items())):
            if math.isnan(value):
                continue
            # side by side in seed order, so that equal scores stay countable
            at = centre + 6 + 5 * place
            px, py = _f(at), _f(y(value))
            tip = f"<title>{name}, seed {seed}: {value:.3f}"
            if seed in row.outliers:
                group.append(
                    f'<g class="outlier">{tip} (far below the median)</title>'
                    f'<circle cx="{px}" cy="{py}" r="6" fill="none" stroke="#c00000"/>'
                    f'<path d="M{_f(at - 3)},{_f(y(value) - 3)}l6,6m0,-6l-6,6"'
                    f' stroke="{stroke}"/></g>'
                )
            else:
                group.append(
                    f'<circle cx="{px}" cy="{py}" r="3" fill="{stroke}"'
                    f' fill-opacity="0.6">{tip}</title></circle>'
                )
        group.append("</g>")
        parts += group
    parts.append("</svg>")
    return Markup("".join(parts))


def level_chart(
    levels: Sequence[int],
    series: Sequence[tuple[str, dict[int, float], dict[int, float]]],
    *,
    title: str,
    colours: Mapping[str, str] | None = None,
    axis: str = ACCURACY_AXIS,
) -> Markup:
    """Normalised accuracy (y) at each in-sample level (x), one line per model in its colour
    (`colour`), with ± one standard error bars where there are several seeds. ``series``:
    (name, mean by level, standard error by level)."""
    low, high = _range([v for _, means, _ in series for v in means.values()])
    width, left, right, top, plot_h = 960, 56, 12, 12, 240
    legend_rows = math.ceil(len(series) / 4)
    height = top + plot_h + 60 + 20 * legend_rows
    plot_w = width - left - right

    def x(k: int) -> float:
        i = list(levels).index(k)
        return left + plot_w * (i + 0.5) / len(levels)

    def y(v: float) -> float:
        return top + plot_h * (high - v) / (high - low)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    _y_axis(parts, low, high, y, left, width - right, top, plot_h, axis)
    for k in levels:
        parts.append(
            f'<text x="{_f(x(k))}" y="{top + plot_h + 18}" class="tick"'
            f' text-anchor="middle">k={k}</text>'
        )
    parts.append(
        f'<text x="{_f(left + plot_w / 2)}" y="{top + plot_h + 36}" class="axis-title"'
        f' text-anchor="middle">{escape(LEVEL_AXIS)}</text>'
    )
    for index, (name, means, errors) in enumerate(series):
        points = [(k, means[k]) for k in levels if not math.isnan(means.get(k, math.nan))]
        stroke = colour(name, colours)
        label = escape(name)
        group = [f'<g class="series" style="--c:{stroke}"><title>{label}</title>']
        if len(points) > 1:
            path = " ".join(f"{_f(x(k))},{_f(y(v))}" for k, v in points)
            group.append(f'<polyline points="{path}" fill="none" stroke="{stroke}"/>')
        for k, v in points:
            se = errors.get(k, math.nan)
            if not math.isnan(se) and se > 0:
                group.append(
                    f'<line x1="{_f(x(k))}" x2="{_f(x(k))}" y1="{_f(y(v - se))}"'
                    f' y2="{_f(y(v + se))}" stroke="{stroke}" class="bar"/>'
                )
            group.append(
                f'<circle cx="{_f(x(k))}" cy="{_f(y(v))}" r="3.5" fill="{stroke}">'
                f"<title>{label}, k={k}: {v:.3f}</title></circle>"
            )
        group.append("</g>")
        parts += group
        row, column = divmod(index, 4)
        lx, ly = left + column * (plot_w / 4), top + plot_h + 60 + 20 * row
        short = escape(name if len(name) <= 28 else name[:27] + "\u2026")
        parts.append(
            f'<rect x="{_f(lx)}" y="{_f(ly - 9)}" width="14" height="10" fill="{stroke}"/>'
            f'<text x="{_f(lx + 20)}" y="{_f(ly)}" class="legend">{short}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def heatmap(
    train_levels: Sequence[int],
    test_levels: Sequence[int],
    values: dict[tuple[int, int], float],
    *,
    title: str,
) -> Markup:
    """A k_train (rows) x k_test (columns) matrix of normalised accuracy, each cell labelled
    with its value, and a colour bar from 0 (chance) to 1 (BP of the test level)."""
    cell, left, top = 44, 56, 34
    rows, columns = len(train_levels), len(test_levels)
    bar_x = left + columns * cell + 18
    width, height = bar_x + 56, top + rows * cell + 12
    parts = [
        f'<svg class="heatmap" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left + columns * cell / 2}" y="12" class="tick"'
        ' text-anchor="middle">k_test</text>',
        f'<text x="10" y="{top + rows * cell / 2}" class="tick" text-anchor="middle"'
        f' transform="rotate(-90 10 {top + rows * cell / 2})">k_train</text>',
    ]
    for j, k in enumerate(test_levels):
        parts.append(
            f'<text x="{left + j * cell + cell / 2}" y="{top - 6}" class="tick"'
            f' text-anchor="middle">{k}</text>'
        )
    for i, kt in enumerate(train_levels):
        parts.append(
            f'<text x="{left - 8}" y="{top + i * cell + cell / 2 + 4}" class="tick"'
            f' text-anchor="end">{kt}</text>'
        )
        for j, k in enumerate(test_levels):
            v = values.get((kt, k), math.nan)
            fill = viridis(v)
            ink = "#000" if not math.isnan(v) and v > 0.6 else "#fff"
            text = "-" if math.isnan(v) else f"{v:.2f}"
            if math.isnan(v):
                ink = "#555"
            x0, y0 = left + j * cell, top + i * cell
            parts.append(
                f'<rect x="{x0}" y="{y0}" width="{cell}" height="{cell}" fill="{fill}">'
                f"<title>k_train={kt}, k_test={k}: {text}</title></rect>"
                f'<text x="{x0 + cell / 2}" y="{y0 + cell / 2 + 4}" class="value"'
                f' text-anchor="middle" fill="{ink}">{text}</text>'
            )
    bar_h = rows * cell
    steps = 20
    for s in range(steps):
        v = 1 - (s + 0.5) / steps
        parts.append(
            f'<rect x="{bar_x}" y="{_f(top + s * bar_h / steps)}" width="12"'
            f' height="{_f(bar_h / steps + 0.5)}" fill="{viridis(v)}"/>'
        )
    for v in (0.0, 0.5, 1.0):
        ty = top + (1 - v) * bar_h
        parts.append(f'<text x="{bar_x + 16}" y="{_f(ty + 4)}" class="tick">{v:.1f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
