"""Confusion matrices of every model, side by side (rows: reference class, columns: predicted class)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QScrollArea, QTableWidget, QTableWidgetItem, QVBoxLayout,
    QWidget,
)

from desktop_ift.core.evaluation.results import Comparison


def _shade(value: int, peak: int, diagonal: bool) -> QColor:
    strength = 0.12 + 0.75 * (value / peak if peak else 0)
    base = QColor("#16a34a" if diagonal else "#dc2626")
    base.setAlphaF(strength if value else 0.0)
    return base


def matrix_table(matrix: dict) -> QTableWidget:
    """A read-only table for one ``{"labels", "matrix"}`` confusion matrix."""
    names, values = matrix["labels"], matrix["matrix"]
    table = QTableWidget(len(names), len(names))
    table.setHorizontalHeaderLabels(names)
    table.setVerticalHeaderLabels(names)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    peak = max((max(r) for r in values if r), default=0)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            item = QTableWidgetItem(str(v))
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setBackground(QBrush(_shade(v, peak, i == j)))
            item.setToolTip(f"reference {names[i]} → predicted {names[j]}: {v}")
            table.setItem(i, j, item)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


class ConfusionView(QWidget):
    """One matrix per model in a row; a short note when the answers are not a label set."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.note = QLabel()
        self.note.setProperty("role", "muted")
        self.note.setWordWrap(True)
        outer.addWidget(self.note)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        outer.addWidget(self.scroll, 1)
        self.tables: dict[str, QTableWidget] = {}

    def set_comparison(self, comp: Comparison | None) -> None:
        """Show the matrices of ``comp``'s models (those that have one)."""
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setSpacing(18)
        self.tables = {}
        for label in comp.labels if comp else []:
            matrix = comp.confusion(label)
            if not matrix:
                continue
            box = QVBoxLayout()
            title = QLabel(label)
            title.setProperty("role", "section")
            box.addWidget(title)
            table = matrix_table(matrix)
            self.tables[label] = table
            box.addWidget(table, 1)
            row.addLayout(box, 1)
        if self.tables:
            self.note.setText("Rows: the reference class · columns: the class the answer was read as "
                              "(“(none)”: an answer that names no class). Green: right, red: confusions.")
        else:
            self.note.setText("No confusion matrix: the references are free text, not a small set of labels. "
                              "Choose the labels under “Label set” to score answers as classes.")
        row.addStretch(0)
        self.scroll.setWidget(holder)
