"""A drop-down whose shown choice ends in "…" when it is wider than the box (never cut mid-letter), with the
whole choice as its tooltip."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter, QWidget


class ElidedComboBox(QComboBox):
    """A :class:`QComboBox` that elides its current text to the room the box has and shows the whole text on
    hover (followed by ``hint``); the list that opens shows every choice whole."""

    def __init__(self, hint: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.hint = hint
        self.currentTextChanged.connect(self.show_whole_on_hover)
        self.show_whole_on_hover(self.currentText())

    def show_whole_on_hover(self, text: str) -> None:
        self.setToolTip("\n".join(t for t in (text, self.hint) if t))

    def text_room(self) -> int:
        """The width in pixels the box has for its current text."""
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        return self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, opt, QStyle.SubControl.SC_ComboBoxEditField, self).width()

    def whole_width(self) -> int:
        """The width the box needs to show its current text whole."""
        return self.width() - self.text_room() + self.fontMetrics().horizontalAdvance(self.currentText()) + 8

    def shown_text(self) -> str:
        """The text the box paints: the current choice, elided with "…" to :meth:`text_room`."""
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideRight, self.text_room())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QStylePainter(self)
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        opt.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)
