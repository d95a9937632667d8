"""Combine separately imported files (one per split) into one dataset whose ``split`` column says where each
row belongs — for data that arrives as train.csv / validation.csv / test.csv."""

from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                               QVBoxLayout, QWidget)

from desktop_ift.core.store import DatasetRecord
from desktop_ift.ui.widgets.banner import Banner

SPLITS = (("train", "Training rows"), ("validation", "Validation rows"), ("test", "Test rows"))


class CombineSplitsDialog(QDialog):
    """Pick one imported dataset per split and a name; ``parts()`` and ``name()`` give the choice."""

    def __init__(self, datasets: list[DatasetRecord], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Combine files as splits")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        intro = QLabel("Your data came as separate files for training, validation and test? Import each file, "
                       "then combine them here: the result is one dataset whose 'split' column keeps every row "
                       "in the split it came from.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        form.setSpacing(10)
        self.combos: dict[str, QComboBox] = {}
        for key, text in SPLITS:
            combo = QComboBox()
            if key != "train":
                combo.addItem("(none)", None)
            for record in reversed(datasets):  # newest first
                combo.addItem(record.label, record.id)
            combo.currentIndexChanged.connect(self._check)
            form.addRow(text, combo)
            self.combos[key] = combo
        self.name_edit = QLineEdit("combined")
        self.name_edit.textChanged.connect(self._check)
        form.addRow("Name of the result", self.name_edit)
        layout.addLayout(form)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Combine")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._check()

    def parts(self) -> dict[str, int]:
        """``{split: dataset id}`` for the splits that were chosen."""
        return {key: combo.currentData() for key, combo in self.combos.items() if combo.currentData()}

    def name(self) -> str:
        return self.name_edit.text().strip()

    def problem(self) -> str:
        """Why the choice cannot be combined yet ('' when it can)."""
        parts = self.parts()
        if "train" not in parts:
            return "Import the file with the training rows first."
        if len(set(parts.values())) != len(parts):
            return "Choose a different dataset for each split."
        if not self.name():
            return "Give the combined dataset a name."
        return ""

    def _check(self) -> None:
        problem = self.problem()
        if problem:
            self.banner.show_message(problem, "info")
        else:
            self.banner.clear()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
