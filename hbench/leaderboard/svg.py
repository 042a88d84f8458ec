"""Inline SVG figures for the site: per-level normalised accuracy and k_train x k_test
heatmaps. Drawn here as text, so a page needs no script library and no network, and the same
numbers always give the same bytes (every coordinate is formatted with fixed precision)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup
from markupsafe import escape as _escape

from hbench.leaderboard.text import visible


def escape(text: str) -> Markup:
    """Text for SVG: control characters as escapes, then XML-escaped."""
    return _escape(visible(str(text)))


#: Okabe-Ito's colour-blind-safe palette, then greys: one colour per row of a table.
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#000000",
    "#888888",
    "#bbbbbb",
)
#: Viridis at five stops: perceptually uniform and readable in grey.
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


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


def level_chart(
    levels: Sequence[int],
    series: Sequence[tuple[str, dict[int, float], dict[int, float]]],
    *,
    title: str,
) -> Markup:
    """Normalised accuracy (y) at each in-sample level (x), one line per model, with ± one
    standard error bars where there are several seeds. ``series``: (name, mean by level,
    standard error by level)."""
    values = [v for _, means, _ in series for v in means.values() if not math.isnan(v)]
    low = min([0.0, *values])
    high = max([1.0, *values])
    low, high = math.floor(low * 10) / 10, math.ceil(high * 10) / 10
    width, left, right, top, plot_h = 480, 40, 12, 12, 200
    legend_rows = math.ceil(len(series) / 2)
    height = top + plot_h + 40 + 20 * legend_rows
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
    for step in range(math.ceil(low * 5 - 1e-9), math.floor(high * 5 + 1e-9) + 1):
        tick = step / 5  # every 0.2, and 0 and 1 among them: chance and exact inference
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_f(y(tick))}" y2="{_f(y(tick))}"'
            f' class="{"axis" if step in (0, 5) else "grid"}"/>'
            f'<text x="{left - 6}" y="{_f(y(tick) + 4)}" class="tick" text-anchor="end">'
            f"{tick:.1f}</text>"
        )
    for k in levels:
        parts.append(
            f'<text x="{_f(x(k))}" y="{top + plot_h + 18}" class="tick"'
            f' text-anchor="middle">k={k}</text>'
        )
    for index, (name, means, errors) in enumerate(series):
        points = [(k, means[k]) for k in levels if not math.isnan(means.get(k, math.nan))]
        stroke = colour(index)
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
        row, column = divmod(index, 2)
        lx, ly = left + column * (plot_w / 2), top + plot_h + 40 + 20 * row
        parts.append(
            f'<rect x="{_f(lx)}" y="{_f(ly - 9)}" width="14" height="10" fill="{stroke}"/>'
            f'<text x="{_f(lx + 20)}" y="{_f(ly)}" class="legend">{label}</text>'
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
