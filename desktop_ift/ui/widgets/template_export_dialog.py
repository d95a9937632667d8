"""Exporting the rendered examples for other tools (Bedrock, OpenAI, Alpaca, a datasets folder)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit, QPushButton,
    QVBoxLayout, QWidget,
)

from desktop_ift.core.templates.exports import FORMAT_LABELS, FORMATS
from desktop_ift.ui.widgets.banner import Banner
from desktop_ift.ui.widgets.page import muted_label


class ExportDialog(QDialog):
    """Asks for the format, the folder and whether to split; :meth:`values` returns them."""

    def __init__(self, data_format: str, default_folder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export the training data")
        self.resize(560, 240)
        layout = QVBoxLayout(self)
        layout.addWidget(muted_label("Writes exactly the examples a training run would use, in the format "
                                     "another tool expects."))
        form = QFormLayout()
        self.format_combo = QComboBox()
        for fmt in FORMATS:
            self.format_combo.addItem(FORMAT_LABELS[fmt], fmt)
        preferred = {"chat": "bedrock-conversation", "text": "bedrock-pretraining"}.get(data_format, "bedrock")
        self.format_combo.setCurrentIndex(FORMATS.index(preferred))
        form.addRow("Format", self.format_combo)
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit(default_folder)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form.addRow("Folder", folder_row)
        self.split_check = QCheckBox("One file per split (train / validation / test, as on the Train page)")
        self.split_check.setChecked(True)
        form.addRow("", self.split_check)
        layout.addLayout(form)
        self.banner = Banner()
        layout.addWidget(self.banner)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = box.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setProperty("variant", "primary")
        box.accepted.connect(self._accept)
        box.rejected.connect(self.reject)
        layout.addWidget(box)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _accept(self) -> None:
        if not self.folder_edit.text().strip():
            self.banner.show_message("Choose a folder to write the files into.", "error")
            return
        self.accept()

    def values(self) -> dict:
        return {"format": self.format_combo.currentData(), "folder": self.folder_edit.text().strip(),
                "split": self.split_check.isChecked()}
