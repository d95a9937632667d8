"""The frame every page shares: a title, a one-line explanation, then the page's own content."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from desktop_ift.ui.widgets.flow_layout import FlowLayout

MARGIN = 16
SPACING = 12


class Page(QWidget):
    """Base class of the five pages. Subclasses fill ``self.body`` (a QVBoxLayout)."""

    key = ""
    title = ""
    subtitle = ""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 20, 24, 16)
        outer.setSpacing(SPACING)
        # title and the page's actions on one row, the explanation below across the whole width: in a narrow
        # window the actions never squeeze the explanation into a column of single words
        header = QGridLayout()
        header.setHorizontalSpacing(SPACING)
        header.setVerticalSpacing(2)
        self.title_label = QLabel(self.title)
        self.title_label.setObjectName("PageTitle")
        self.subtitle_label = QLabel(self.subtitle)
        self.subtitle_label.setObjectName("PageSubtitle")
        self.subtitle_label.setWordWrap(True)
        header.addWidget(self.title_label, 0, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.header_actions = QHBoxLayout()
        self.header_actions.setSpacing(8)
        header.addLayout(self.header_actions, 0, 1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        header.addWidget(self.subtitle_label, 1, 0, 1, 2)
        header.setColumnStretch(0, 1)
        outer.addLayout(header)
        self._header = header
        self._actions_below = False
        self._actions_flow = None  # the wrapping row the actions move to in a narrow window
        self.body = QVBoxLayout()
        self.body.setSpacing(SPACING)
        outer.addLayout(self.body, 1)

    def place_header_actions(self) -> None:
        """Put the page's actions beside the title when they fit, else under the explanation in a row that
        wraps onto more lines (a narrow window), so buttons are never squeezed below their text."""
        margins = self.layout().contentsMargins()
        available = self.width() - margins.left() - margins.right()
        below = self.title_label.sizeHint().width() + SPACING + self._actions_width() > available
        if below == self._actions_below:
            return
        if self._actions_flow is None:
            host = QWidget()
            self._actions_flow = FlowLayout(host, spacing=8)
            self._header.addWidget(host, 2, 0, 1, 2)
        source, target = ((self.header_actions, self._actions_flow) if below
                          else (self._actions_flow, self.header_actions))
        while source.count():
            widget = source.takeAt(0).widget()
            if widget is not None:
                target.addWidget(widget)
        self._actions_flow.parentWidget().setVisible(below)
        self._actions_below = below

    def _actions_width(self) -> int:
        layout = self._actions_flow if self._actions_below else self.header_actions
        widths = [layout.itemAt(i).widget().sizeHint().width() for i in range(layout.count())
                  if layout.itemAt(i).widget() is not None and not layout.itemAt(i).widget().isHidden()]
        return sum(widths) + 8 * max(0, len(widths) - 1)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self.place_header_actions()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.place_header_actions()


def card(parent: QWidget | None = None, margins: int = 14, spacing: int = 10) -> tuple[QFrame, QVBoxLayout]:
    """A white rounded panel and its layout."""
    frame = QFrame(parent)
    frame.setProperty("role", "card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(margins, margins - 2, margins, margins)
    layout.setSpacing(spacing)
    return frame, layout


def section_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "section")
    return label


def muted_label(text: str = "", wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "muted")
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def set_style_property(widget: QWidget, name: str, value) -> None:
    """Change a property the stylesheet selects on, and make Qt re-apply the style."""
    widget.setProperty(name, value)
    style = widget.style()
    # Descendants are selected through this property too (``QFrame[kind=error] QLabel``): re-polish them.
    for w in [widget, *widget.findChildren(QWidget)]:
        style.unpolish(w)
        style.polish(w)
    widget.update()
