"""The Monitor's progress card: the run's status badge and name, the line saying what it is doing, and
below them the progress bar with the run's figures (step, epoch, loss, best validation, elapsed, time
left, throughput, memory) or, in the same space, why the run failed."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QGridLayout, QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QStackedWidget, QToolButton, QVBoxLayout, QWidget,
)

from desktop_ift.core import run_state as rs
from desktop_ift.core.run_curves import progress_texts
from desktop_ift.ui.widgets.banner import Banner
from desktop_ift.ui.widgets.page import card, muted_label, set_style_property

STATUS_TEXT = {**rs.STATUS_WORDS, "": "No run"}
BADGE_STYLE = {"paused": "cancelled", "lost": "failed"}  # the badge colours the stylesheet knows
FIGURES = (("step", "Step"), ("epoch", "Epoch"), ("loss", "Loss"), ("best", "Best validation"),
           ("elapsed", "Elapsed"), ("eta", "Time left"), ("speed", "Tokens / s"), ("memory", "Memory"))


class RunProgressCard:
    """The card's widgets (:attr:`frame` is the card) and what can be shown in them."""

    def __init__(self):
        self.frame, layout = card()
        top = QHBoxLayout()
        self.status_badge = QLabel("No run")
        self.status_badge.setObjectName("StatusBadge")
        self.run_label = QLabel("")
        self.run_label.setProperty("role", "section")
        self.stage_label = muted_label(wrap=False)
        top.addWidget(self.status_badge)
        top.addWidget(self.run_label, 1)
        layout.addLayout(top)
        # what the run is doing now, on a line of its own: beside a long run name it was cut off
        layout.addWidget(self.stage_label)
        # The progress bar and figures, or in their place why the run failed: one or the other, in the same
        # space, so the plots below never move (a moved plot is a full repaint, and a jumpy page).
        self.detail_stack = QStackedWidget()
        figures_page = QWidget()
        figures_layout = QVBoxLayout(figures_page)
        figures_layout.setContentsMargins(0, 0, 0, 0)
        figures_layout.setSpacing(8)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        figures_layout.addWidget(self.progress)
        grid = QGridLayout()
        grid.setHorizontalSpacing(28)
        grid.setVerticalSpacing(0)
        self.figures: dict[str, QLabel] = {}
        for i, (key, text) in enumerate(FIGURES):
            value = QLabel("—")
            value.setProperty("role", "figure")
            caption = QLabel(text)
            caption.setProperty("role", "caption")
            grid.addWidget(value, 0, i)
            grid.addWidget(caption, 1, i)
            self.figures[key] = value
        grid.setColumnStretch(8, 1)
        figures_layout.addLayout(grid)
        self.failure_banner = Banner(closable=True)
        for button in self.failure_banner.findChildren(QToolButton):
            button.setToolTip("Hide this message and show the run's figures")
            button.clicked.connect(self.clear_banner)
        self.detail_stack.addWidget(figures_page)
        self.detail_stack.addWidget(self.failure_banner)
        figures_layout.addStretch(1)
        self.show_detail(0)
        layout.addWidget(self.detail_stack)

    def reserve_banner_height(self) -> None:
        """Room for a failure (a title and two lines) where the figures are, so that showing or clearing it
        never moves the plots (measured once the theme's fonts apply)."""
        if self.detail_stack.minimumHeight() or not self.failure_banner.isHidden():
            return
        self.failure_banner.show_message("x\nx", "error", "x")
        height = self.failure_banner.sizeHint().height()
        self.failure_banner.clear()
        self.detail_stack.setMinimumHeight(max(height, self.detail_stack.widget(0).sizeHint().height()))
        self.stage_label.setMinimumHeight(self.status_badge.sizeHint().height())  # the badge comes and goes

    def show_banner(self, text: str, kind: str = "error", title: str = "") -> None:
        """Say what went wrong where the progress figures are (the close button brings them back)."""
        self.failure_banner.show_message(text, kind, title)
        self.show_detail(1)

    def clear_banner(self) -> None:
        self.failure_banner.clear()
        self.show_detail(0)

    def show_detail(self, index: int) -> None:
        """Show the figures (0) or the failure (1); only the page shown counts for the card's height (a
        stack sizes itself by its largest page, hidden ones included)."""
        for i in range(self.detail_stack.count()):
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            self.detail_stack.widget(i).setSizePolicy(policy, policy)
        self.detail_stack.setCurrentIndex(index)

    def set_progress(self, step: int, total: int, epoch: float | None) -> None:
        """The bar (when the total is known) and the step and epoch figures."""
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(step, total))
        self.set_texts(progress_texts(step, total, epoch))

    def set_texts(self, texts: dict[str, str]) -> None:
        """Figures by key ("loss", "speed", ...)."""
        for key, text in texts.items():
            self.figures[key].setText(text)

    def reset(self) -> None:
        """No figures, an empty bar and no failure."""
        self.clear_banner()
        for label in self.figures.values():
            label.setText("—")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    def set_badge(self, status: str) -> None:
        """The status badge in the status's words and colour (hidden for no run)."""
        self.status_badge.setText(STATUS_TEXT.get(status, status.capitalize()))
        set_style_property(self.status_badge, "status", BADGE_STYLE.get(status, status))
        self.status_badge.setVisible(bool(status))
