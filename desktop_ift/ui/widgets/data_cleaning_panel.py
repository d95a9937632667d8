"""The cleaning recipe editor on the Data page: steps listed in order, reorderable, removable and undoable,
each with the number of rows left after it; "Apply" saves the result as a new dataset version."""

from __future__ import annotations

import copy

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QFrame, QHBoxLayout,
    QLineEdit, QListWidget, QListWidgetItem, QMenu, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from desktop_ift.core.data.cleaning import (
    OPERATORS, CleaningStep, Recipe, apply_recipe_to, latest_recipe, lineage, preview_counts,
)
from desktop_ift.core.store import Store
from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.banner import Banner
from desktop_ift.ui.widgets.page import muted_label, section_label

STEP_TITLES = {
    "drop_empty_rows": "Drop empty rows",
    "drop_duplicates": "Drop duplicate rows",
    "trim_whitespace": "Trim whitespace",
    "filter_rows": "Filter rows by a condition",
    "drop_long_text": "Drop rows with very long text",
    "rename_columns": "Rename a column",
    "drop_columns": "Remove columns",
}


class StepDialog(QDialog):
    """The settings of one cleaning step; :meth:`step` gives the result after accept."""

    def __init__(self, kind: str, columns: list[str], params: dict | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = kind
        params = dict(params or {})
        self.setWindowTitle(STEP_TITLES.get(kind, kind))
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self.column_checks: list[QCheckBox] = []
        if kind in ("drop_empty_rows", "drop_duplicates", "trim_whitespace", "drop_columns"):
            chosen = set(params.get("columns") or [])
            form.addRow(muted_label("Columns to remove (every row stays):" if kind == "drop_columns"
                                    else "Columns to look at (none ticked = all columns):"))
            for name in columns:
                box = QCheckBox(name)
                box.setChecked(name in chosen)
                self.column_checks.append(box)
                form.addRow(box)
        self.column_combo = QComboBox()
        self.operator_combo = QComboBox()
        self.value_edit = QLineEdit(str(params.get("value", "")))
        self.keep_combo = QComboBox()
        self.max_spin = QSpinBox()
        self.new_name = QLineEdit()
        if kind in ("filter_rows", "drop_long_text", "rename_columns"):
            if kind == "drop_long_text":
                self.column_combo.addItem("(any text column)", None)
            for name in columns:
                self.column_combo.addItem(name, name)
            current = params.get("column") or next(iter(params.get("mapping") or {}), None)
            index = self.column_combo.findData(current)
            self.column_combo.setCurrentIndex(max(index, 0))
            form.addRow("Column", self.column_combo)
        if kind == "filter_rows":
            self.keep_combo.addItem("Keep rows where", True)
            self.keep_combo.addItem("Drop rows where", False)
            self.keep_combo.setCurrentIndex(0 if params.get("keep", True) else 1)
            for key, text in OPERATORS.items():
                self.operator_combo.addItem(text, key)
            self.operator_combo.setCurrentIndex(max(self.operator_combo.findData(params.get("operator", "equals")), 0))
            form.addRow("", self.keep_combo)
            form.addRow("Condition", self.operator_combo)
            form.addRow("Value", self.value_edit)
            self.operator_combo.currentIndexChanged.connect(
                lambda: self.value_edit.setEnabled(self.operator_combo.currentData() not in ("is_empty", "not_empty")))
        if kind == "drop_long_text":
            self.max_spin.setRange(1, 10_000_000)
            self.max_spin.setValue(int(params.get("max_chars", 4000)))
            self.max_spin.setSuffix(" characters")
            form.addRow("Longer than", self.max_spin)
        if kind == "rename_columns":
            self.new_name.setText(next(iter((params.get("mapping") or {}).values()), ""))
            form.addRow("New name", self.new_name)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def step(self) -> CleaningStep:
        """The step these settings describe."""
        if self.column_checks:
            chosen = [b.text() for b in self.column_checks if b.isChecked()]
            return CleaningStep(self.kind, {"columns": chosen} if chosen else {})
        if self.kind == "filter_rows":
            params = {"column": self.column_combo.currentData(), "operator": self.operator_combo.currentData(),
                      "keep": bool(self.keep_combo.currentData())}
            if params["operator"] not in ("is_empty", "not_empty"):
                params["value"] = self.value_edit.text()
            return CleaningStep(self.kind, params)
        if self.kind == "drop_long_text":
            params = {"max_chars": self.max_spin.value()}
            if self.column_combo.currentData():
                params["column"] = self.column_combo.currentData()
            return CleaningStep(self.kind, params)
        if self.kind == "rename_columns":
            return CleaningStep(self.kind, {"mapping": {self.column_combo.currentData(): self.new_name.text().strip()}})
        return CleaningStep(self.kind, {})


class CleaningPanel(QFrame):
    """Edit a :class:`Recipe` against the current dataset and apply it as a new version."""

    applied = Signal(object)  # the new DatasetRecord

    def __init__(self, state, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.setProperty("role", "card")
        self.recipe = Recipe()
        self.history: list[Recipe] = []
        self.counts: list[int] = []
        self.record = None
        self.table = None
        self.applying = False
        self._generation = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 14, 14, 14)
        layout.addWidget(section_label("Cleaning recipe"))
        self.hint = muted_label("Steps run in order on a copy; Apply saves the result as a new version and "
                                "keeps this one.")
        layout.addWidget(self.hint)
        self.list = QListWidget()
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setWordWrap(True)
        self.list.model().rowsMoved.connect(self._rows_moved)
        self.list.itemDoubleClicked.connect(lambda _item: self.edit_step())
        layout.addWidget(self.list, 1)
        self.total_label = muted_label(wrap=True)
        layout.addWidget(self.total_label)
        self.add_button = QPushButton("Add step")
        menu = QMenu(self.add_button)
        for kind, title in STEP_TITLES.items():
            menu.addAction(title, lambda k=kind: self.add_step(k))
        self.add_button.setMenu(menu)
        self.edit_button = QPushButton("Edit")
        self.edit_button.setToolTip("Change the selected step's settings (or double-click it)")
        self.edit_button.clicked.connect(self.edit_step)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected step")
        self.remove_button.clicked.connect(self.remove_step)
        self.up_button = QPushButton("Move up")
        self.up_button.clicked.connect(lambda: self.move_step(-1))
        self.down_button = QPushButton("Move down")
        self.down_button.clicked.connect(lambda: self.move_step(1))
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Undo the last change to the recipe")
        self.undo_button.clicked.connect(self.undo)
        for buttons in ((self.add_button, self.edit_button, self.remove_button),
                        (self.up_button, self.down_button, self.undo_button)):
            row = QHBoxLayout()
            row.setSpacing(6)
            for button in buttons:
                row.addWidget(button, 1)
            layout.addLayout(row)
        self.apply_button = QPushButton("Apply as new version")
        self.apply_button.setProperty("variant", "primary")
        self.apply_button.clicked.connect(self.apply)
        layout.addWidget(self.apply_button)
        self.banner = Banner(closable=True)
        layout.addWidget(self.banner)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(120)
        self._timer.timeout.connect(self.refresh_counts)
        self._refresh_list()

    # ------------------------------------------------------------------ dataset
    def set_dataset(self, record, table) -> None:
        """Edit against ``record`` (its loaded ``table`` may be None while loading)."""
        changed = record is None or self.record is None or record.id != self.record.id
        self.record, self.table = record, table
        if changed and record is not None and not self.recipe.steps:
            self._offer_previous_recipe(record)
        self._refresh_list()
        self.refresh_counts()

    def _offer_previous_recipe(self, record) -> None:
        """A fresh import of a name that was cleaned before starts with that recipe (re-apply in one click)."""
        store = self.state.store
        if lineage(store, record.id) is not None:
            return
        newer_cleaned = [d for d in store.list_datasets(record.project_id)
                         if d.name == record.name and d.version > record.version]
        recipe = latest_recipe(store, record.project_id, record.name)
        if recipe is not None and not newer_cleaned:
            self.recipe = recipe
            self.banner.show_message("The recipe that cleaned the previous version is loaded: Apply to clean "
                                     "this version the same way.", "info")

    # ------------------------------------------------------------------ editing
    def _change(self, recipe: Recipe) -> None:
        self.history.append(copy.deepcopy(self.recipe))
        self.recipe = recipe
        self._refresh_list()
        self._timer.start()

    def columns_before(self, index: int) -> list[str]:
        """Column names as step ``index`` sees them (renames before it applied)."""
        names = list(self.record.column_names) if self.record else []
        for step in self.recipe.steps[:index]:
            if step.kind == "rename_columns":
                mapping = step.params.get("mapping") or {}
                names = [mapping.get(n, n) for n in names]
            if step.kind == "drop_columns":
                names = [n for n in names if n not in set(step.params.get("columns") or [])]
        return names

    def add_step(self, kind: str, params: dict | None = None, ask: bool = True) -> None:
        """Append a step (asking for its settings unless ``ask`` is False)."""
        step = CleaningStep(kind, dict(params or {}))
        needs_settings = kind in ("filter_rows", "rename_columns", "drop_columns") or (kind == "drop_long_text"
                                                                                       and not params)
        if ask and (needs_settings or kind in ("drop_duplicates",)):
            dialog = StepDialog(kind, self.columns_before(len(self.recipe.steps)), params, self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            step = dialog.step()
        self._change(Recipe(self.recipe.steps + [step]))

    def edit_step(self) -> None:
        row = self.list.currentRow()
        if not 0 <= row < len(self.recipe.steps):
            return
        step = self.recipe.steps[row]
        dialog = StepDialog(step.kind, self.columns_before(row), step.params, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            steps = list(self.recipe.steps)
            steps[row] = dialog.step()
            self._change(Recipe(steps))

    def move_step(self, delta: int) -> None:
        row = self.list.currentRow()
        target = row + delta
        if not (0 <= row < len(self.recipe.steps) and 0 <= target < len(self.recipe.steps)):
            return
        steps = list(self.recipe.steps)
        steps[row], steps[target] = steps[target], steps[row]
        self._change(Recipe(steps))
        self.list.setCurrentRow(target)

    def _rows_moved(self, *_args) -> None:
        order = [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]
        if order != list(range(len(order))):
            QTimer.singleShot(0, lambda: self._change(Recipe([self.recipe.steps[i] for i in order])))

    def remove_step(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.recipe.steps):
            steps = list(self.recipe.steps)
            del steps[row]
            self._change(Recipe(steps))

    def undo(self) -> None:
        if self.history:
            self.recipe = self.history.pop()
            self._refresh_list()
            self._timer.start()

    # ------------------------------------------------------------------ counts
    def refresh_counts(self) -> None:
        """Rows left after each step, computed on the loaded table in the background."""
        self._generation += 1
        generation, table, recipe = self._generation, self.table, copy.deepcopy(self.recipe)
        if table is None or not recipe.steps:
            self.counts = []
            self._refresh_list()
            return

        def done(counts):
            if generation == self._generation:
                self.counts = counts
                self.banner.clear() if self.banner.message.startswith("Step") else None
                self._refresh_list()

        def failed(exc):
            if generation == self._generation:
                self.counts = []
                self._refresh_list()
                self.banner.show_message(str(exc), "error")

        run_in_background(lambda: preview_counts(table, recipe), done, failed)

    def _refresh_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        previous = self.record.n_rows if self.record else None
        for i, step in enumerate(self.recipe.steps):
            text = f"{i + 1}. {step.describe()}"
            if i < len(self.counts) and previous is not None:
                removed = previous - self.counts[i]
                text += f"\n     → {self.counts[i]:,} rows" + (f"  (−{removed:,})" if removed else "  (no change)")
                previous = self.counts[i]
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.list.addItem(item)
        self.list.blockSignals(False)
        has_steps = bool(self.recipe.steps)
        if not has_steps:
            self.total_label.setText("No steps yet: add one to drop empty or duplicate rows, trim spaces, filter, "
                                     "or rename columns.")
        elif self.counts and self.record is not None:
            self.total_label.setText(f"{self.record.n_rows:,} rows → {self.counts[-1]:,} rows after cleaning.")
        else:
            self.total_label.setText("Counting the rows each step keeps…" if self.table is not None else "")
        for button in (self.up_button, self.down_button, self.remove_button, self.edit_button):
            button.setEnabled(has_steps)
        self.undo_button.setEnabled(bool(self.history))
        self.apply_button.setEnabled(has_steps and self.record is not None and not self.applying)

    # ------------------------------------------------------------------ apply
    def apply(self) -> None:
        """Save the cleaned rows as the next version of the dataset (in the background)."""
        if self.record is None or not self.recipe.steps or self.applying:
            return
        home, dataset_id, recipe = self.state.store.home, self.record.id, copy.deepcopy(self.recipe)
        self.applying = True
        self._refresh_list()

        def work():
            with Store.open(home) as store:
                return apply_recipe_to(store, dataset_id, recipe)

        def done(record):
            self.applying = False
            self.history.clear()
            self.recipe = Recipe()
            self.counts = []
            self.banner.show_message(f"Saved as {record.label}; the previous version is kept.", "success")
            self._refresh_list()
            self.applied.emit(record)

        def failed(exc):
            self.applying = False
            self._refresh_list()
            self.banner.show_message(str(exc), "error", "The recipe could not be applied")

        run_in_background(work, done, failed)
