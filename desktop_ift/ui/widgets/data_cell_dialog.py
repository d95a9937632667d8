"""The full text of one cell, on demand (double-click a cell in a data table)."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget


class CellTextDialog(QDialog):
    """Shows ``value`` in full, read-only, with its length and a Copy button."""

    def __init__(self, column: str, row: int, value, parent: QWidget | None = None):
        super().__init__(parent)
        text = "" if value is None else str(value)
        self.setWindowTitle(f"{column}, row {row + 1:,}")
        self.resize(640, 420)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Empty (null)" if value is None else f"{len(text):,} characters"))
        self.editor = QPlainTextEdit(text)
        self.editor.setReadOnly(True)
        layout.addWidget(self.editor, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(text))
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).clicked.connect(self.reject)
        layout.addWidget(buttons)
