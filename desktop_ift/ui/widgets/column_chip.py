"""A column chip: click to insert the column's placeholder at the editor's cursor, or drag it into an editor
to drop the placeholder where the mouse lets go."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, Qt
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QApplication, QPushButton


class ColumnChip(QPushButton):
    """A push button that also starts a drag carrying ``text`` (the placeholder) as plain text; text editors
    accept such drops by themselves."""

    def __init__(self, label: str, text: str, parent=None):
        super().__init__(label, parent)
        self.drag_text = text
        self._press: QPoint | None = None

    def mime_data(self) -> QMimeData:
        """What a drag of this chip carries: the placeholder as plain text."""
        data = QMimeData()
        data.setText(self.drag_text)
        return data

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if (self._press is not None and event.buttons() & Qt.MouseButton.LeftButton
                and (event.position().toPoint() - self._press).manhattanLength()
                >= QApplication.startDragDistance()):
            self._press = None
            self.setDown(False)  # a drag is not a click
            drag = QDrag(self)
            drag.setMimeData(self.mime_data())
            drag.setPixmap(self.grab())
            drag.exec(Qt.DropAction.CopyAction)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._press = None
        super().mouseReleaseEvent(event)
