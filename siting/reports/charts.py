"""Charts for the printable reports: matplotlib drawn to inline SVG with text kept as text.

matplotlib is the long-maintained reference plotting library; drawing to SVG at build time keeps the reports free of
JavaScript and network access, prints sharply at any size, and with `svg.fonttype = "none"` every label stays a
<text> element, so the browser (and the PDF it prints) sets Chinese with its own CJK font instead of outlines baked
in here. Each chart keeps the numbers it draws as a DataFrame (shown under the chart, and comparable with the CSV
outputs); every bar carries an SVG id `<chart>-s<series>-c<category>` so a test can measure it in the browser.
"""
from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

#: A colour per series, in order (kinds use the map's catchment colours when given).
SERIES_COLORS = ("#2c7fb8", "#e6550d", "#31a354", "#756bb1", "#636363", "#fd8d3c")
FONT_FAMILY = ["WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", "DejaVu Sans"]


@dataclass
class Chart:
    chart_id: str
    title: str  # bilingual, shown above the chart
    svg: str
    data: pd.DataFrame  # one row per category, one column per series: exactly what is drawn


def bar_chart(chart_id: str, title: str, categories: Sequence[str], series: dict[str, Sequence[float]], *,
              value_label: str, horizontal: bool = False, colors: Sequence[str] | None = None,
              reference: float | None = None, reference_label: str = "", percent: bool = False) -> Chart:
    """Grouped bars: one group per category, one bar per series. `reference` draws a dashed target line."""
    fig, ax = _figure(height_in=max(2.6, 0.32 * len(categories) + 1.2) if horizontal else 2.9)
    colors = list(colors or SERIES_COLORS)
    n = max(len(series), 1)
    width = 0.8 / n
    positions = np.arange(len(categories), dtype=float)
    for j, (name, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        offset = positions - 0.4 + width * (j + 0.5)
        draw = ax.barh if horizontal else ax.bar
        bars = draw(offset, np.nan_to_num(values), width * 0.92, label=name, color=colors[j % len(colors)])
        for i, bar in enumerate(bars):
            bar.set_gid(f"{chart_id}-s{j}-c{i}")
    if horizontal:
        ax.set_yticks(positions, list(categories))
        ax.invert_yaxis()
        ax.set_xlabel(value_label)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    else:
        ax.set_xticks(positions, list(categories), rotation=0 if len(categories) <= 8 else 45,
                      ha="center" if len(categories) <= 8 else "right")
        ax.set_ylabel(value_label)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    if reference is not None:
        (ax.axvline if horizontal else ax.axhline)(reference, color="#d73027", linestyle="--", linewidth=1, label=reference_label or None)
    if percent:
        (ax.set_xlim if horizontal else ax.set_ylim)(0, 100)
    ax.set_axisbelow(True)
    if len(series) > 1 or reference_label:
        ax.legend(frameon=False, fontsize=8, loc="best")
    data = pd.DataFrame({"category": list(categories), **{name: list(map(float, values)) for name, values in series.items()}})
    return Chart(chart_id, title, _svg(fig), data)


def histogram_chart(chart_id: str, title: str, values: dict[str, np.ndarray], weights: dict[str, np.ndarray], *,
                    bin_edges: Sequence[float], value_label: str, unit: str, colors: Sequence[str] | None = None,
                    threshold: float | None = None) -> Chart:
    """Weighted counts per bin (e.g. households by walking minutes), the last bar holding everything beyond the last
    edge and the unreachable (inf / NaN)."""
    edges = np.asarray(bin_edges, dtype=float)
    labels = [f"{_num(lo)}–{_num(hi)}" for lo, hi in zip(edges[:-1], edges[1:])] + [f">{_num(edges[-1])} / 不可达"]
    series = {}
    for name, vals in values.items():
        vals = np.asarray(vals, dtype=float)
        w = np.asarray(weights[name], dtype=float)
        inside = np.isfinite(vals) & (vals <= edges[-1])
        counts, _ = np.histogram(np.clip(vals[inside], edges[0], edges[-1]), bins=edges, weights=w[inside])
        series[name] = list(counts) + [float(w[~inside].sum())]
    chart = bar_chart(chart_id, title, [f"{label} {unit}" if i == 0 else label for i, label in enumerate(labels)], series,
                      value_label=value_label, colors=colors)
    chart.data["category"] = labels
    chart.data.insert(1, "from", list(edges[:-1]) + [float(edges[-1])])
    chart.data.insert(2, "to", list(edges[1:]) + [np.inf])
    return chart


def _figure(height_in: float):
    import matplotlib
    from matplotlib.figure import (
        Figure,  # no pyplot: no global state, safe in worker threads
    )

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # a missing CJK font is the browser's job
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "siting", "font.family": "sans-serif",
                                "font.sans-serif": FONT_FAMILY, "font.size": 9, "axes.spines.top": False,
                                "axes.spines.right": False, "axes.unicode_minus": False})
    fig = Figure(figsize=(7.0, height_in))
    ax = fig.add_subplot()
    return fig, ax


def _svg(fig) -> str:
    """The figure as an <svg> element that scales to its container; byte-identical for identical data."""
    import warnings

    buffer = io.StringIO()
    fig.tight_layout()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Glyph missing from font": the browser, not matplotlib, draws the text
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    return re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 width="100%" class="siting-chart"', text, count=1)


def _num(value: float) -> str:
    return f"{value:g}"
