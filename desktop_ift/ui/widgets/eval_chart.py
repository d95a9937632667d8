"""A grouped bar chart of the side-by-side scores (pyqtgraph ``BarGraphItem``): one group per score, one
bar per model. Scores on 0..100 (BLEU, chrF) are divided by 100 so every bar shares the 0..1 axis."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor

from desktop_ift.ui import theme
from desktop_ift.ui.widgets.plots import make_plot

MODEL_COLORS = ["#94a3b8", theme.ACCENT, "#16a34a", "#d97706", "#9333ea", "#0891b2", "#dc2626"]
_SKIP = {"response_loss", "perplexity", "forgotten", "learned"}  # not on a 0..1 scale


def build_chart() -> pg.PlotWidget:
    """An empty chart plot."""
    plot = make_plot("Scores by model", "score (0–1)", x_label="")
    plot.setMouseEnabled(x=False, y=False)
    plot.setYRange(0, 1.05, padding=0)
    return plot


def draw_scores(plot: pg.PlotWidget, rows, labels: list[str]) -> list[pg.BarGraphItem]:
    """Draw ``rows`` (comparison rows) for ``labels``; returns the bar items (one per model)."""
    plot.clear()
    legend = plot.getPlotItem().legend
    if legend is None:
        legend = plot.getPlotItem().addLegend(offset=(-10, 10))
    legend.clear()
    rows = [r for r in rows if r.key not in _SKIP and not r.key.startswith("subject/")][:12]
    if not rows or not labels:
        return []
    width = 0.8 / len(labels)
    items = []
    for m, label in enumerate(labels):
        xs, heights = [], []
        for g, row in enumerate(rows):
            value = row.values.get(label)
            if value is None:
                continue
            xs.append(g - 0.4 + width * (m + 0.5))
            heights.append(value / 100.0 if row.key in ("bleu", "chrf") else value)
        color = QColor(MODEL_COLORS[m % len(MODEL_COLORS)])
        item = pg.BarGraphItem(x=xs, height=heights, width=width * 0.92, brush=color, pen=pg.mkPen(color))
        plot.addItem(item)
        legend.addItem(item, label)
        items.append(item)
    axis = plot.getPlotItem().getAxis("bottom")
    axis.setTicks([[(g, row.name + (" /100" if row.key in ("bleu", "chrf") else "")) for g, row in enumerate(rows)]])
    plot.setXRange(-0.6, len(rows) - 0.4, padding=0)
    plot.setYRange(0, 1.05, padding=0)
    return items
