"""pyqtgraph plots for the live training curves (imported only when a plot is first needed: it is slow to import)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont

from desktop_ift.ui import theme

theme.configure_plots()


def make_plot(title: str, y_label: str, x_label: str = "step", small: bool = False) -> pg.PlotWidget:
    """A themed plot; ``small`` for the secondary plots (smaller title)."""
    plot = pg.PlotWidget()
    plot.setBackground(theme.PANEL_BG)
    item = plot.getPlotItem()
    size = "9pt" if small else "11pt"
    item.setTitle(f"<span style='color:{theme.TEXT}; font-size:{size}; font-weight:600'>{title}</span>")
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


def fast_curve(plot: pg.PlotWidget, pen, name: str | None = None) -> pg.PlotDataItem:
    """A line that stays cheap with hundreds of thousands of points: drawn only where visible, reduced to
    about one min/max pair per pixel column, and drawn without antialiasing."""
    curve = plot.plot(pen=pen, name=name, antialias=False)  # antialiasing triples the paint time
    curve.setClipToView(True)
    curve.setDownsampling(auto=True, method="peak")
    return curve


class Crosshair:
    """A vertical line that follows the mouse over ``plot`` and a caption from ``describe(x) -> str``."""

    def __init__(self, plot: pg.PlotWidget, describe):
        self.plot = plot
        self.describe = describe
        self.line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(theme.MUTED, width=1,
                                                                          style=Qt.PenStyle.DashLine))
        self.line.setZValue(50)
        self.line.hide()
        plot.addItem(self.line, ignoreBounds=True)
        self.text = ""
        self._proxy = pg.SignalProxy(plot.scene().sigMouseMoved, rateLimit=30, slot=self._moved)

    def _moved(self, args) -> None:
        pos = args[0]
        item = self.plot.getPlotItem()
        if not item.sceneBoundingRect().contains(pos):
            self.line.hide()
            return
        x = item.vb.mapSceneToView(pos).x()
        self.show_at(x)

    def show_at(self, x: float) -> str:
        """Put the line at ``x`` and return the caption (also used by tests)."""
        self.line.setPos(x)
        self.line.show()
        self.text = self.describe(x)
        return self.text
