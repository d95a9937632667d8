"""Open another project of the workspace, or create a new one (File → Open project… / New project…)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout)

from desktop_ift.core.projects import project_summary
from desktop_ift.core.store import Store, StoreError


class ProjectDialog(QDialog):
    """Lists the workspace's projects (the current one marked); :attr:`chosen_id` is the project to open
    after ``exec()`` accepts, a new one when the user created it here."""

    def __init__(self, store: Store, current_id: int, parent=None, create: bool = False):
        super().__init__(parent)
        self.store = store
        self.chosen_id = 0
        self.setWindowTitle("Projects")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        intro = QLabel("Each project has its own datasets, templates and runs. Runs keep going while you "
                       "switch; the project shows them again when you come back.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.list = QListWidget()
        for project in store.list_projects():
            item = QListWidgetItem(f"{project.name}{'  (open now)' if project.id == current_id else ''}\n"
                                   f"    {project_summary(store, project)}")
            item.setData(Qt.ItemDataRole.UserRole, project.id)
            self.list.addItem(item)
            if project.id == current_id:
                self.list.setCurrentItem(item)
        self.list.itemDoubleClicked.connect(lambda _item: self._open())
        layout.addWidget(self.list, 1)
        new_row = QHBoxLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Name of a new project, e.g. Contract clauses")
        self.name_edit.returnPressed.connect(self._create)
        self.create_button = QPushButton("Create and open")
        self.create_button.clicked.connect(self._create)
        new_row.addWidget(self.name_edit, 1)
        new_row.addWidget(self.create_button)
        layout.addLayout(new_row)
        self.error_label = QLabel("")
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.open_button = buttons.addButton("Open", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button.clicked.connect(self._open)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if create:
            self.name_edit.setFocus()

    def _fail(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()

    def _open(self) -> None:
        item = self.list.currentItem()
        if item is None:
            self._fail("Choose a project in the list, or type a name to create a new one.")
            return
        self.chosen_id = int(item.data(Qt.ItemDataRole.UserRole))
        self.accept()

    def _create(self) -> None:
        try:
            project = self.store.create_project(self.name_edit.text())
        except StoreError as exc:  # empty or taken name: say so, keep the text
            self._fail(str(exc))
            return
        self.chosen_id = project.id
        self.accept()
