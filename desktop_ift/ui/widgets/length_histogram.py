"""The token-length histogram of a training plan (drawn like the Templates page's validation histogram:
bars over the maximum length in the warning colour, a dashed line at the maximum), with the one-click
"raise the maximum length to cover 95%" button."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from desktop_ift.ui import theme
from desktop_ift.ui.widgets.page import muted_label


class LengthHistogram(QWidget):
    """Shows ``plan.lengths``; ``raise_requested(int)`` asks for the maximum length that covers 95%."""

    raise_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = muted_label("")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self._plot = None
        self._slot = QVBoxLayout()
        self._slot.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._slot)
        self.raise_button = QPushButton("")
        self.raise_button.clicked.connect(lambda: self.raise_requested.emit(self._cover))
        layout.addWidget(self.raise_button)
        self._cover = 0
        self.raise_button.hide()

    @property
    def plot(self):
        """The pyqtgraph plot (created on first use: pyqtgraph is kept out of the app's start)."""
        if self._plot is None:
            from desktop_ift.ui.widgets.plots import make_plot

            self._plot = make_plot("", "examples", "tokens", small=True)
            self._plot.setMinimumHeight(130)
            self._plot.setMaximumHeight(170)
            self._plot.setMouseEnabled(x=False, y=False)
            self._slot.addWidget(self._plot)
        return self._plot

    def show_lengths(self, lengths, unit: str = "training examples") -> None:
        """Draw ``lengths`` (a PlanLengths) or hide when nothing was counted."""
        if not lengths.measured or not lengths.histogram:
            self.title.setText("")
            if self._plot is not None:
                self._plot.hide()
            self.raise_button.hide()
            return
        import numpy as np
        import pyqtgraph as pg

        plot = self.plot
        plot.show()
        plot.clear()
        counts, edges = np.asarray(lengths.histogram), np.asarray(lengths.edges)
        width = edges[1] - edges[0]
        centres = (edges[:-1] + edges[1:]) / 2
        over = centres > lengths.max_seq_length
        for mask, colour in ((~over, theme.ACCENT), (over, theme.WARNING)):
            if mask.any():
                plot.addItem(pg.BarGraphItem(x=centres[mask], height=counts[mask], width=width * 0.9, brush=colour,
                                             pen=pg.mkPen(None)))
        plot.addItem(pg.InfiniteLine(pos=lengths.max_seq_length, angle=90,
                                     pen=pg.mkPen(theme.WARNING, width=2, style=Qt.PenStyle.DashLine),
                                     label=f"max {lengths.max_seq_length}",
                                     labelOpts={"position": 0.9, "color": theme.WARNING}))
        n_long = lengths.longer.get("train", 0)
        self.title.setText(f"Tokens per {unit[:-1] if unit.endswith('s') else unit} — {n_long:,} of "
                           f"{int(counts.sum()):,} longer than {lengths.max_seq_length}")
        self._cover = max(int(lengths.cover95), 8)
        needed = self._cover > lengths.max_seq_length
        self.raise_button.setVisible(needed)
        self.raise_button.setText(f"Raise the maximum length to {self._cover:,} (covers 95%)")
