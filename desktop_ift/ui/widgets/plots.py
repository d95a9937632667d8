"""pyqtgraph plots for the live training curves (imported only when a plot is first needed: it is slow to import).

A run can hold hundreds of thousands of points and gains a few every second, so a redraw must stay well
under a frame (benchmarks/gui_responsiveness.py). What a repaint of a pyqtgraph plot costs, and what is
done about each part here:

- the curve: pyqtgraph's own clip-to-view and downsampling run over every point several times per
  update (bounds, auto-range, display data set). :class:`LivePlot` instead hands the plot at most about
  two points per pixel column (:func:`peak_reduce`, once per update, O(n) numpy);
- the axes: each change of the view range regenerates the tick text and grid (and pyqtgraph re-lays out
  the axis label with ``setHtml``, ~8 ms, on every range change). :class:`LivePlot` changes the range only
  when the data leaves it (with headroom), :class:`StableAxis` re-lays out its label only when the SI
  prefix changes, and the axes are cached as pixmaps, so a curve update repaints the curve only;
- a second repaint per update: auto-range ran in the paint and changed the range again. Auto-range is
  off; :meth:`LivePlot.refresh` fits the range itself before the paint.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsItem

from desktop_ift.ui import theme

theme.configure_plots()

X_HEADROOM = 0.05  # a following x range ends this fraction of the data's span after the last point
Y_PADDING = 0.06
Y_LOOSE = 0.6  # refit y when the data fills less than this fraction of the view


class StableAxis(pg.AxisItem):
    """An axis that re-lays out its label only when its SI prefix changes (pyqtgraph does it on every range
    change, which costs more than painting the curve)."""

    def updateAutoSIPrefix(self):  # noqa: N802 - pyqtgraph API
        before = (getattr(self, "autoSIPrefixScale", None), getattr(self, "labelUnitPrefix", None))
        scale, prefix = 1.0, ""
        if self.label.isVisible():
            rng = 10 ** np.array(self.range) if self.logMode else self.range
            value = max(abs(rng[0]), abs(rng[1])) * self.scale
            if any(low <= value <= high for low, high in self.getSIPrefixEnableRanges()):
                scale, prefix = pg.functions.siScale(value, power=self.unitPower)
        if (scale, prefix) != before:
            self.autoSIPrefixScale, self.labelUnitPrefix = scale, prefix
            self._updateLabel()
        else:
            self.picture = None
            self.update()


def make_plot(title: str, y_label: str, x_label: str = "step", small: bool = False) -> pg.PlotWidget:
    """A themed plot; ``small`` for the secondary plots (smaller title)."""
    axes = {"left": StableAxis("left"), "bottom": StableAxis("bottom")}
    plot = pg.PlotWidget(axisItems=axes)
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
        # Ticks, tick text and grid are drawn again only when the axis changes; a curve update blits them.
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    item.setMenuEnabled(False)
    item.hideButtons()
    plot.setMouseEnabled(x=True, y=False)
    return plot


def line_pen(color: str, width: float = 2.0, alpha: int = 255) -> pg.mkPen:
    c = QColor(color)
    c.setAlpha(alpha)
    return pg.mkPen(c, width=width)


def peak_reduce(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` reduced to at most about ``max_points`` points that draw the same line at one bucket per
    pixel column: each bucket of consecutive points becomes its minimum and its maximum (at the bucket's
    first x). Buckets are a power of two long and start at the first point, so a curve that grows keeps
    its shape from one update to the next; the last, partial bucket is kept as it is. Missing values
    (NaN) are skipped within a bucket; a bucket with none left stays a gap."""
    n = len(x)
    if n <= max_points:
        return x, y
    size = 1 << max(1, math.ceil(math.log2(n / max(1, max_points // 2))))
    full = n // size
    cut = full * size
    blocks = y[:cut].reshape(full, size)
    out_y = np.empty(2 * full + (n - cut))
    out_y[0:2 * full:2] = np.fmin.reduce(blocks, axis=1)
    out_y[1:2 * full:2] = np.fmax.reduce(blocks, axis=1)
    out_y[2 * full:] = y[cut:]
    out_x = np.empty_like(out_y)
    out_x[: 2 * full] = np.repeat(x[:cut:size], 2)
    out_x[2 * full:] = x[cut:]
    return out_x, out_y


def stride_reduce(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th point (k a power of two, counted from the first point), and always the last one: for
    curves with no spikes to keep (a smoothed loss)."""
    n = len(x)
    if n <= max_points:
        return x, y
    size = 1 << math.ceil(math.log2(n / max(1, max_points)))
    idx = np.arange(0, n, size)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return x[idx], y[idx]


class LiveCurve:
    """One line of a :class:`LivePlot`: keeps the full data, draws it reduced to the view's pixel width."""

    def __init__(self, owner: "LivePlot", item: pg.PlotDataItem, smooth: bool = False):
        self.owner = owner
        self.item = item
        self.smooth = smooth
        self.x = np.empty(0)
        self.y = np.empty(0)

    def set_data(self, x: np.ndarray, y: np.ndarray) -> None:
        """Replace the data (the arrays are kept, not copied: pass arrays that are not written again)."""
        self.x, self.y = x, y
        self.draw()

    def draw(self) -> None:
        x, y = self.x, self.y
        if len(x):
            if not self.owner.following:
                x0, x1 = self.owner.view.viewRange()[0]
                i0 = max(0, int(np.searchsorted(x, x0, side="left")) - 1)
                i1 = min(len(x), int(np.searchsorted(x, x1, side="right")) + 1)
                x, y = x[i0:i1], y[i0:i1]
            if self.smooth:
                x, y = stride_reduce(x, y, self.owner.max_points() // 2)
            else:
                x, y = peak_reduce(x, y, self.owner.max_points())
        self.item.setData(x, y, connect="finite")


class LivePlot:
    """A plot of growing curves that stays cheap to update (see the module docstring).

    While *following* (the default) the view shows the whole run: its range is set by :meth:`refresh` and
    changes only when the data leaves it. Dragging or zooming with the mouse stops following (the curves
    are then reduced over the visible part only, so zooming in shows every point); a double-click follows
    the whole run again.
    """

    def __init__(self, widget: pg.PlotWidget):
        self.widget = widget
        self.view = widget.getPlotItem().vb
        self.view.disableAutoRange()
        self.following = True
        self.curves: list[LiveCurve] = []
        self.extra_items: list = []  # drawn as given (a few points: the validation markers)
        self._view_timer = QTimer(widget)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(30)
        self._view_timer.timeout.connect(self._view_moved)
        self._fitting = False
        self.view.sigRangeChangedManually.connect(self._user_moved)
        self.view.sigXRangeChanged.connect(self._range_changed)
        self.view.sigResized.connect(self._range_changed)
        widget.scene().sigMouseClicked.connect(self._clicked)

    def add_curve(self, pen, name: str | None = None, smooth: bool = False) -> LiveCurve:
        """A line without antialiasing (it triples the paint time) drawn from reduced data: a min/max pair
        per pixel column, or for a ``smooth`` curve (no spikes to keep) one point per column, which is what
        lets it have a wide pen at little cost."""
        item = self.widget.plot(pen=pen, name=name, antialias=False)
        curve = LiveCurve(self, item, smooth)
        self.curves.append(curve)
        return curve

    def add_item(self, item) -> None:
        """An item drawn as given (counted in the range the view follows)."""
        self.extra_items.append(item)

    def max_points(self) -> int:
        return 2 * max(300, int(self.view.width()))

    def follow(self) -> None:
        """Show the whole run again and keep it in view as it grows."""
        self.following = True
        for curve in self.curves:
            curve.draw()
        self.fit(force=True)

    def refresh(self) -> None:
        """After new data: fit the range when following (only if the data left it or fills it poorly)."""
        if self.following:
            self.fit()

    def data_bounds(self) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
        """(xmin, xmax), (ymin, ymax) of everything drawn, in view coordinates (log10 on a log axis)."""
        xs, ys = [], []
        for item in [curve.item for curve in self.curves] + self.extra_items:
            x, y = item.getData()
            if x is None or not len(x):
                continue
            if item.opts["logMode"][1]:
                with np.errstate(divide="ignore", invalid="ignore"):
                    y = np.log10(np.where(y > 0, y, np.nan))
            x_ok, y_ok = x[np.isfinite(x)], y[np.isfinite(y)]
            if len(x_ok):
                xs += [x_ok.min(), x_ok.max()]
            if len(y_ok):
                ys += [y_ok.min(), y_ok.max()]
        return ((min(xs), max(xs)) if xs else None), ((min(ys), max(ys)) if ys else None)

    def fit(self, force: bool = False) -> None:
        """Put the data in view: x from the first point to a little after the last, y with a margin.
        Without ``force`` the range is kept while the data stays inside it and fills it reasonably (a new
        range redraws the axes)."""
        (x_bounds, y_bounds) = self.data_bounds()
        (vx0, vx1), (vy0, vy1) = self.view.viewRange()
        x_range = y_range = None
        if x_bounds is not None:
            xmin, xmax = x_bounds
            span = xmax - xmin if xmax > xmin else max(1.0, abs(xmax) * 0.1)
            if force or xmin < vx0 or xmax > vx1 or xmin - vx0 > X_HEADROOM * span \
                    or vx1 - xmax > 4 * X_HEADROOM * span:
                x_range = (xmin, xmax + X_HEADROOM * span)
        if y_bounds is not None:
            ymin, ymax = y_bounds
            span = ymax - ymin if ymax > ymin else max(1e-9, abs(ymax) * 0.1)
            if force or ymin < vy0 or ymax > vy1 or span < Y_LOOSE * (vy1 - vy0):
                y_range = (ymin - Y_PADDING * span, ymax + Y_PADDING * span)
        if x_range or y_range:
            self._fitting = True
            try:
                self.view.setRange(xRange=x_range, yRange=y_range, padding=0, update=True)
            finally:
                self._fitting = False

    def _user_moved(self, *_args) -> None:
        self.following = False

    def _range_changed(self, *_args) -> None:
        if not self._fitting:
            self._view_timer.start()

    def _view_moved(self) -> None:
        """The user zoomed or panned, or the plot was resized: reduce the curves for the new view."""
        for curve in self.curves:
            curve.draw()

    def _clicked(self, event) -> None:
        if event.double():
            self.follow()


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
