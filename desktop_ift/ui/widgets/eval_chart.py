"""A grouped horizontal bar chart of the side-by-side scores (pyqtgraph ``BarGraphItem``): one group per
score, one bar per model, the score names on the left axis. Scores on 0..100 (BLEU, chrF) are divided by
100 so every bar shares the 0..1 axis; the loss, perplexity and counts are left out (other scales)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor

from desktop_ift.ui import theme
from desktop_ift.ui.widgets.plots import make_plot

MODEL_COLORS = ["#94a3b8", theme.ACCENT, "#16a34a", "#d97706", "#9333ea", "#0891b2", "#dc2626"]
_SKIP = {"response_loss", "perplexity", "forgotten", "learned"}  # not on a 0..1 scale
MAX_GROUPS = 12


def build_chart() -> pg.PlotWidget:
    """An empty chart plot."""
    plot = make_plot("Scores by model", "", x_label="score (BLEU, chrF ÷ 100)")
    plot.setMouseEnabled(x=False, y=False)
    plot.getPlotItem().invertY(True)  # first metric on top, as in the table
    return plot


def chart_rows(rows) -> list:
    """The comparison rows the chart shows (0..1 scores, at most :data:`MAX_GROUPS`)."""
    return [r for r in rows if r.key not in _SKIP][:MAX_GROUPS]


def draw_scores(plot: pg.PlotWidget, rows, labels: list[str]) -> list[pg.BarGraphItem]:
    """Draw ``rows`` (comparison rows) for ``labels``; returns the bar items (one per model), whose
    ``opts["width"]`` are the plotted values in row order."""
    plot.clear()
    item = plot.getPlotItem()
    rows = chart_rows(rows)
    # The legend is the title (coloured model names): a legend box would cover the bars.
    names = " ".join(f"<span style='color:{MODEL_COLORS[m % len(MODEL_COLORS)]}'>■</span> "
                     f"<span style='color:{theme.TEXT}'>{label}</span>&nbsp;&nbsp;" for m, label in enumerate(labels))
    item.setTitle(f"<span style='font-size:9pt'>{names}</span>")
    if not rows or not labels:
        return []
    thickness = 0.8 / len(labels)
    bars = []
    for m, label in enumerate(labels):
        ys, widths = [], []
        for g, row in enumerate(rows):
            value = row.values.get(label)
            if value is None:
                continue
            ys.append(g - 0.4 + thickness * (m + 0.5))
            widths.append(value / 100.0 if row.key in ("bleu", "chrf") else value)
        color = QColor(MODEL_COLORS[m % len(MODEL_COLORS)])
        bar = pg.BarGraphItem(x0=[0.0] * len(ys), y=ys, width=widths, height=thickness * 0.9, brush=color,
                              pen=pg.mkPen(color))
        plot.addItem(bar)
        bars.append(bar)
    item.getAxis("left").setTicks([[(g, row.name) for g, row in enumerate(rows)]])
    plot.setYRange(-0.6, len(rows) - 0.4, padding=0)
    plot.setXRange(0, 1.0, padding=0.02)
    return bars
