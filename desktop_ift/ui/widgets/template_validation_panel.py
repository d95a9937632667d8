"""The validation panel of the Templates page: problems that link to their rows, and a token-length histogram
with the maximum sequence length marked."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from desktop_ift.ui import theme
from desktop_ift.ui.widgets.page import muted_label, section_label

_ICON = {"error": "✖", "warning": "⚠", "info": "ℹ"}


NO_TOKENIZER = "Choose a model on the Train page to count tokens."


def unit_text(units: list[int], unit: str, limit: int = 8) -> str:
    """``conversations 3, 8 … (+40)`` (1-based, as the preview numbers them)."""
    shown = ", ".join(str(u + 1) for u in units[:limit])
    more = f" … (+{len(units) - limit:,})" if len(units) > limit else ""
    return f"{unit}{'s' if len(units) > 1 else ''} {shown}{more}"


def rows_text(rows: list[int], limit: int = 8) -> str:
    """``rows 3, 8, 12 … (+40)`` (1-based, as the data table shows them)."""
    if not rows:
        return ""
    shown = ", ".join(str(r + 1) for r in rows[:limit])
    more = f" … (+{len(rows) - limit:,})" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


class ValidationPanel(QWidget):
    """Shows a :class:`~desktop_ift.core.templates.validation.ValidationReport`. Clicking a problem emits
    ``row_requested`` with its first row (and again with the next on each further click)."""

    row_requested = Signal(int)
    unit_requested = Signal(int)  # chat/pre-training: a conversation/document (index into the built list)
    location_requested = Signal(str, int, int)  # field, line, column of a template problem

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.summary = muted_label("Checks run on every row of the dataset.")
        layout.addWidget(self.summary)
        self.list = QListWidget()
        self.list.setObjectName("ValidationProblems")
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)
        layout.addWidget(self.list, 1)
        self.hist_title = section_label("Tokens per example")
        self.hist_title.setWordWrap(True)  # a long title wraps rather than widening the page's preview column
        layout.addWidget(self.hist_title)
        # the histogram is built when first needed: pyqtgraph costs ~0.4 s to import, kept out of the app's start
        self._plot = None
        self._plot_slot = QVBoxLayout()
        self._plot_slot.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._plot_slot, 2)
        self.hist_note = muted_label(NO_TOKENIZER)
        layout.addWidget(self.hist_note)
        self._cursor: dict[int, int] = {}
        self.report = None

    @property
    def plot(self):
        """The token-length histogram (a pyqtgraph plot, created on first use)."""
        if self._plot is None:
            from desktop_ift.ui.widgets.plots import make_plot

            self._plot = make_plot("", "examples", "tokens")
            self._plot.setMinimumHeight(170)
            self._plot.setMouseEnabled(x=False, y=False)
            self._plot_slot.addWidget(self._plot)
        return self._plot

    def set_no_tokenizer_note(self, text: str) -> None:
        """What the histogram's place says while tokens cannot be counted ("" keeps the default)."""
        self.hist_note.setText(text or NO_TOKENIZER)

    def show_busy(self) -> None:
        self.summary.setText("Checking every row…")

    def show_error(self, text: str) -> None:
        self.summary.setText(text)

    def show_report(self, report) -> None:
        """Fill the list and the histogram from ``report``."""
        self.report = report
        self._cursor = {}
        self.list.clear()
        # chat/pre-training lists several kinds of finding: give the list as much room as the histogram
        self.layout().setStretchFactor(self.list, 1 if report.unit == "example" else 2)
        errors = len(report.errors)
        ok = "✓ Ready to train" if report.can_train else "✗ Training is not possible until the errors are fixed"
        self.summary.setText(f"{report.n_rows:,} rows → {report.n_examples:,} {report.unit}s · {ok}"
                             + (f" · {errors} error(s)" if errors else ""))
        self.summary.setStyleSheet(f"color: {theme.SUCCESS if report.can_train else theme.DANGER};")
        for i, problem in enumerate(report.problems):
            where = (unit_text(problem.units, report.unit) if problem.units else "") or rows_text(problem.rows)
            text = f"{_ICON.get(problem.severity, '•')}  {problem.text}" + (f"\n     → {where}" if where else "")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, i)
            what = f"{report.unit}s" if problem.units else "rows"
            item.setToolTip(f"Click to show the first of these {what} in the preview; click again for the next."
                            if problem.rows or problem.units else problem.text)
            item.setForeground(QColor(theme.DANGER if problem.severity == "error" else theme.TEXT))
            self.list.addItem(item)
        if not report.problems:
            what = "row" if report.unit == "example" else report.unit
            self.list.addItem(QListWidgetItem(f"✓  No problems found in any {what}."))
        self._draw_histogram(report)

    def _draw_histogram(self, report) -> None:
        import pyqtgraph as pg

        if report.histogram is None:  # no tokenizer: say why, never an empty chart
            if self._plot is not None:
                self._plot.clear()
                self._plot.setVisible(False)
            self.hist_title.setVisible(False)
            self.hist_note.setVisible(True)
            return
        self.plot.clear()
        self.plot.setVisible(True)
        self.hist_title.setVisible(True)
        self.hist_note.setVisible(False)
        counts, edges = report.histogram
        width = edges[1] - edges[0]
        centres = (edges[:-1] + edges[1:]) / 2
        over = centres > report.max_seq_length
        self.plot.getPlotItem().setLabel("left", f"{report.unit}s", color=theme.MUTED)
        long_colour = theme.WARNING if report.split_long else theme.DANGER  # split, not cut: nothing is lost
        for mask, colour in ((~over, theme.ACCENT), (over, long_colour)):
            if mask.any():
                self.plot.addItem(pg.BarGraphItem(x=centres[mask], height=counts[mask], width=width * 0.9,
                                                  brush=colour, pen=pg.mkPen(None)))
        line = pg.InfiniteLine(pos=report.max_seq_length, angle=90, pen=pg.mkPen(long_colour, width=2,
                                                                                  style=Qt.PenStyle.DashLine),
                               label=f"max length {report.max_seq_length}",
                               labelOpts={"position": 0.9, "color": long_colour})
        self.plot.addItem(line)
        n, unit = len(report.lengths), report.unit
        measured = "" if report.unit == "example" or n >= report.n_examples else \
            f" ({n:,} of {report.n_examples:,} measured so far…)"
        after = " — split into several examples, not cut" if report.split_long and report.n_too_long else ""
        self.hist_title.setText(f"Tokens per {unit} — {report.n_too_long:,} of {n:,} longer than "
                                f"{report.max_seq_length}{after}{measured}")

    def _clicked(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        if index is None or self.report is None:
            return
        problem = self.report.problems[index]
        if problem.line and problem.field:
            self.location_requested.emit(problem.field, problem.line, problem.column or 1)
        if problem.units:
            at = self._cursor.get(index, 0)
            self.unit_requested.emit(problem.units[at % len(problem.units)])
            self._cursor[index] = at + 1
        elif problem.rows:
            at = self._cursor.get(index, 0)
            self.row_requested.emit(problem.rows[at % len(problem.rows)])
            self._cursor[index] = at + 1
