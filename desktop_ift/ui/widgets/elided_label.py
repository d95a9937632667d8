"""A one-line label that never widens its window: a text longer than its room ends in "…", and the whole
text is its tooltip."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Shows its text on one line, cut with "…" to the width it is given. It asks for the whole text's width
    but makes do with 40 px (a long text never pushes its layout wider than the window); the tooltip holds the
    whole text, or ``tooltip`` when one is set."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self._tooltip = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(40)
        self.set_full_text(text)

    def set_full_text(self, text: str, tooltip: str = "") -> None:
        """Show ``text`` (elided to the width); ``tooltip`` replaces the default tooltip (the whole text)."""
        self._full = " ".join(str(text).split())
        self._tooltip = tooltip
        self._elide()
        self.updateGeometry()  # the width it asks for follows the text

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        margins = self.contentsMargins()
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + margins.left() + margins.right() + 2,
                     super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(40, super().minimumSizeHint().height())

    def text(self) -> str:  # what the label says: the whole text (the shown part is :meth:`shown_text`)
        return self._full

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        self.set_full_text(text)

    def shown_text(self) -> str:
        """The text as drawn (ending in "…" when cut)."""
        return super().text()

    def is_elided(self) -> bool:
        return self.shown_text() != self._full

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(0, self.width()))
        super().setText(shown)
        self.setToolTip(self._tooltip or (self._full if shown != self._full else ""))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._elide()
