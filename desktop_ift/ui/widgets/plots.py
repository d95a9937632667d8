"""pyqtgraph plots for the live training curves (imported only when a plot is first needed: it is slow to import)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont

from desktop_ift.ui import theme

theme.configure_plots()


def make_plot(title: str, y_label: str, x_label: str = "step") -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setBackground(theme.PANEL_BG)
    item = plot.getPlotItem()
    item.setTitle(f"<span style='color:{theme.TEXT}; font-size:11pt; font-weight:600'>{title}</span>")
    item.showGrid(x=True, y=True, alpha=0.12)
    item.setLabel("bottom", x_label, color=theme.MUTED)
    item.setLabel("left", y_label, color=theme.MUTED)
    font = QFont()
    font.setPointSize(9)
    for side in ("bottom", "left"):
        axis = item.getAxis(side)
        axis.setPen(pg.mkPen(theme.BORDER))
        axis.setTextPen(pg.mkPen(theme.MUTED))
        axis.setTickFont(font)
    item.setMenuEnabled(False)
    item.hideButtons()
    plot.setMouseEnabled(x=True, y=False)
    return plot


def line_pen(color: str, width: float = 2.0, alpha: int = 255) -> pg.mkPen:
    c = QColor(color)
    c.setAlpha(alpha)
    return pg.mkPen(c, width=width)
