"""The Monitor's plots of one run: the loss (raw, smoothed, validation) with its crosshair, and four small
plots (learning rate, gradient norm, throughput, memory) in a 2×2 grid. Imports pyqtgraph: import this
module only when the plots are first shown.

It draws what a :class:`~desktop_ift.core.run_curves.RunSeries` holds, one plot at a time (the page spreads
the redraws over timer ticks: repainting all five at once can stall the event loop for 100 ms)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QWidget

from desktop_ift.core.run_curves import RunSeries
from desktop_ift.ui import theme
from desktop_ift.ui.widgets.elided_label import ElidedLabel
from desktop_ift.ui.widgets.page import card
from desktop_ift.ui.widgets.plots import Crosshair, LivePlot, line_pen, make_plot

SIDE_PLOTS = (("learning_rate", "Learning rate", "#0f766e"), ("grad_norm", "Gradient norm", "#be185d"),
              ("tokens_per_second", "Tokens / second", "#2563eb"), ("memory_mb", "Memory (MB)", "#65a30d"))


class LegendRow(QWidget):
    """A plot's title on the left and its curves' legend (a line sample and a name each) on the right, in
    one row above the plot. ``entries``: ``(pen, with_dot, name)``; :attr:`names` holds the name labels. A
    name longer than the row's room ends in "…" (whole on hover): the row never widens its window."""

    def __init__(self, title: str, entries=(), parent: QWidget | None = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 0)
        row.setSpacing(4)
        self.heading = QLabel(title)
        self.heading.setStyleSheet(f"color: {theme.TEXT}; font-size: 11pt; font-weight: 600;")
        row.addWidget(self.heading)
        row.addStretch(1)
        self._entries = QHBoxLayout()
        self._entries.setContentsMargins(0, 0, 0, 0)
        self._entries.setSpacing(4)
        row.addLayout(self._entries)
        self.names: list[QLabel] = []
        self.set_entries(entries)

    def set_entries(self, entries) -> None:
        """Show ``entries`` (``(pen, with_dot, name)`` each) in place of the legend shown so far."""
        while self._entries.count():
            item = self._entries.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.names = []
        for pen, with_dot, name in entries:
            sample = QLabel()
            sample.setPixmap(_line_sample(pen, with_dot))
            label = ElidedLabel(name)
            label.setStyleSheet(f"color: {theme.MUTED}; font-size: 9pt;")
            self._entries.addSpacing(10)
            self._entries.addWidget(sample)
            self._entries.addWidget(label)
            self.names.append(label)


def _line_sample(pen, with_dot: bool) -> QPixmap:
    """A 22×12 picture of a curve's line (and its point marker)."""
    pixmap = QPixmap(22, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(pen)
    painter.drawLine(QPointF(1, 6), QPointF(21, 6))
    if with_dot:
        painter.setBrush(pen.color())
        painter.drawEllipse(QPointF(11, 6), 3.5, 3.5)
    painter.end()
    return pixmap


class RunPlots:
    """The plot widgets: :attr:`loss_card` (``crosshair_label`` above the loss plot) and :attr:`side` (the
    grid of small plots); ``describe(x)`` gives the crosshair's text."""

    def __init__(self, crosshair_label: QLabel, describe):
        self.loss_card, loss_layout = card(margins=8)
        self.loss_plot = make_plot("Loss", "loss")
        self.loss_plot.getPlotItem().setTitle(None)  # the title is in the legend row above the plot
        self.loss_plot.setMouseEnabled(x=True, y=True)
        self.loss_view = LivePlot(self.loss_plot)
        self.raw_line = self.loss_view.add_curve(line_pen(theme.ACCENT, 1.0, 90), "training (raw)")
        self.smooth_line = self.loss_view.add_curve(line_pen(theme.ACCENT, 2.0), "training (smoothed)",
                                                    smooth=True)
        self.val_curve = self.loss_plot.plot(
            pen=line_pen(theme.VALIDATION, 1.5, 160), symbol="o", symbolSize=7,
            symbolBrush=pg.mkBrush(theme.VALIDATION), symbolPen=pg.mkPen("#ffffff", width=1.2), name="validation")
        self.loss_view.add_item(self.val_curve)
        self.loss_plot.getPlotItem().getAxis("left").setWidth(58)
        self.crosshair = Crosshair(self.loss_plot, describe)
        # The legend is a row above the plot (as TensorBoard and W&B show theirs): a box inside the plot
        # covered the curves wherever it sat
        self.legend = LegendRow("Loss", ((line_pen(theme.ACCENT, 1.0, 90), False, "training (raw)"),
                                         (line_pen(theme.ACCENT, 2.0), False, "training (smoothed)"),
                                         (line_pen(theme.VALIDATION, 1.5, 160), True, "validation")))
        loss_layout.addWidget(crosshair_label)
        loss_layout.addWidget(self.legend)
        loss_layout.addWidget(self.loss_plot, 1)
        self.side = QWidget()
        grid = QGridLayout(self.side)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(10)
        self.side_plots: dict = {}
        self.side_curves: dict = {}  # the plotted items
        self.side_views: dict = {}
        self.side_lines: dict = {}
        self.side_titles: dict[str, QLabel] = {}
        for i, (name, title, color) in enumerate(SIDE_PLOTS):
            frame, layout = card(margins=6)
            # The title over the whole card (a plot's own title only spans the area right of its axis,
            # where "Learning rate" was cut to "Learning r" in a 1024-pixel window)
            heading = QLabel(title)
            heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
            heading.setStyleSheet(f"color: {theme.TEXT}; font-size: 9pt; font-weight: 600;")
            heading.setToolTip(title)
            self.side_titles[name] = heading
            layout.addWidget(heading)
            plot = make_plot("", "", small=True)
            plot.getPlotItem().setTitle(None)
            plot.getPlotItem().getAxis("left").setWidth(54)  # fixed: a width that follows the ticks relayouts
            plot.getPlotItem().getAxis("bottom").setStyle(showValues=False)  # same x as the loss plot
            plot.getPlotItem().getAxis("bottom").showLabel(False)
            view = LivePlot(plot)
            self.side_lines[name] = view.add_curve(line_pen(color, 1.0))
            self.side_curves[name] = self.side_lines[name].item
            self.side_views[name] = view
            self.side_plots[name] = plot
            layout.addWidget(plot)
            grid.addWidget(frame, i // 2, i % 2)
        self._labels: tuple[str, str] | None = None

    def set_labels(self, x_label: str, memory_title: str) -> None:
        """The loss plot's x label and the memory plot's title (relabelling relayouts and repaints every
        plot: nothing happens when they are already these)."""
        if self._labels == (x_label, memory_title):
            return
        self._labels = (x_label, memory_title)
        self.loss_plot.getPlotItem().setLabel("bottom", x_label, color=theme.MUTED)
        self.side_titles["memory_mb"].setText(memory_title)
        self.side_titles["memory_mb"].setToolTip(memory_title)

    def set_log_scale(self, on: bool) -> None:
        """The loss on a logarithmic (or linear) y axis."""
        self.loss_plot.getPlotItem().setLogMode(x=False, y=on)
        self.loss_view.follow()

    def follow(self) -> None:
        """Show each plot's whole run again and keep it in view as it grows."""
        for view in (self.loss_view, *self.side_views.values()):
            view.follow()

    def shows_nothing(self, name: str) -> bool:
        """Whether the plot ``name`` draws no point yet."""
        item = self.raw_line.item if name == "loss" else self.side_lines[name].item
        xs = item.getData()[0]
        return xs is None or not len(xs)

    def draw(self, name: str, series: RunSeries, axis: str) -> None:
        """Draw the plot ``name`` from ``series`` against ``axis``."""
        if name == "loss":
            x, raw, smoothed, val_x, val_loss = series.loss_data(axis)
            self.raw_line.set_data(x, raw)
            self.smooth_line.set_data(x, smoothed)
            self.val_curve.setData(val_x, val_loss)
            self.loss_view.refresh()
        else:
            self.side_lines[name].set_data(*series.metric_data(name, axis))
            self.side_views[name].refresh()
