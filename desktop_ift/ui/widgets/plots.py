"""Live training curves with pyqtgraph: data kept in growing numpy arrays, drawn with ``setData``."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont

from desktop_ift.ui import theme

theme.configure_plots()


class GrowingSeries:
    """x/y values in numpy arrays that double their capacity, so appending a point is O(1) amortised."""

    def __init__(self, capacity: int = 256):
        self.x = np.empty(capacity, dtype=np.float64)
        self.y = np.empty(capacity, dtype=np.float64)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x = np.resize(self.x, self.n * 2)
            self.y = np.resize(self.y, self.n * 2)
        self.x[self.n] = x
        self.y[self.n] = y
        self.n += 1

    def extend(self, points: list[tuple[float, float]]) -> None:
        if not points:
            return
        arr = np.asarray(points, dtype=np.float64)
        need = self.n + len(arr)
        if need > len(self.x):
            size = max(need, len(self.x) * 2)
            self.x = np.resize(self.x, size)
            self.y = np.resize(self.y, size)
        self.x[self.n:need] = arr[:, 0]
        self.y[self.n:need] = arr[:, 1]
        self.n = need

    def clear(self) -> None:
        self.n = 0

    @property
    def xs(self) -> np.ndarray:
        return self.x[: self.n]

    @property
    def ys(self) -> np.ndarray:
        return self.y[: self.n]


class Smoother:
    """Debiased exponential moving average (as TensorBoard draws a smoothed curve)."""

    def __init__(self, weight: float = 0.85):
        self.weight = weight
        self.reset()

    def reset(self) -> None:
        self.ema = 0.0
        self.count = 0

    def add(self, value: float) -> float:
        self.count += 1
        self.ema = self.weight * self.ema + (1 - self.weight) * value
        return self.ema / (1 - self.weight ** self.count)


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
