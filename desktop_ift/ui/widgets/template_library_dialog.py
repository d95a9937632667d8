"""The template library: browse the built-in phrasings and your own, map their columns to your data, use
one in the project; import and export library files."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QMessageBox, QPlainTextEdit,
    QPushButton, QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from desktop_ift.core.templates.library import (
    LibraryError, delete_from_library, export_library, import_library, library, rename_columns,
)
from desktop_ift.core.templates.render import placeholders
from desktop_ift.ui import theme
from desktop_ift.ui.widgets.page import muted_label, section_label

TASK_TITLES = {"summarise": "Summarise", "classify": "Classify", "extract": "Extract fields",
               "question_answering": "Answer from a context", "rewrite_style": "Rewrite in a style",
               "translate": "Translate", "write_email": "Write an email", "dialogue_summary": "Summarise a dialogue"}
KEEP = "(keep as it is)"


class TemplateLibraryDialog(QDialog):
    """Pick a library template; :attr:`chosen` is the PromptTemplate (columns mapped) after *Use*."""

    def __init__(self, store, columns: list[str], current=None, parent: QWidget | None = None):
        """``current`` (a named PromptTemplate, optional) can be saved to the user's library from here."""
        super().__init__(parent)
        self.setWindowTitle("Template library")
        self.resize(900, 560)
        self.store = store
        self.columns = list(columns)
        self.chosen = None
        self.current = current
        layout = QVBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.currentItemChanged.connect(lambda *_: self._show_selected())
        splitter.addWidget(self.tree)
        right = QWidget()
        rlayout = QVBoxLayout(right)
        rlayout.setContentsMargins(8, 0, 0, 0)
        self.description = muted_label("")
        rlayout.addWidget(self.description)
        self.texts = QPlainTextEdit()
        self.texts.setReadOnly(True)
        self.texts.setFont(theme.monospace_font())
        rlayout.addWidget(self.texts, 1)
        rlayout.addWidget(section_label("Columns: which of your columns does each placeholder mean?"))
        self.mapping_host = QWidget()
        self.mapping_form = QFormLayout(self.mapping_host)
        rlayout.addWidget(self.mapping_host)
        splitter.addWidget(right)
        splitter.setSizes([330, 570])
        layout.addWidget(splitter, 1)
        buttons = QHBoxLayout()
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Add the templates of a JSON or YAML library file to your library")
        self.import_button.clicked.connect(self._import)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write your saved templates to a JSON or YAML file to share them")
        self.export_button.clicked.connect(self._export)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Remove this template from your library (built-in ones cannot be deleted)")
        self.delete_button.clicked.connect(self._delete)
        self.save_button = QPushButton("Save current template")
        self.save_button.setToolTip("Keep the template in the editor in your library, to reuse it in any project")
        self.save_button.setEnabled(bool(current is not None and current.name and current.prompt.strip()))
        self.save_button.clicked.connect(self._save_current)
        for b in (self.save_button, self.import_button, self.export_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        box = QDialogButtonBox()
        self.use_button = box.addButton("Use in this project", QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setProperty("variant", "primary")
        box.addButton(QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self._use)
        box.rejected.connect(self.reject)
        buttons.addWidget(box)
        layout.addLayout(buttons)
        self._combos: dict[str, QComboBox] = {}
        self.reload()

    def reload(self, select: str | None = None) -> None:
        """Fill the tree: built-in phrasings grouped by task, then "My templates"."""
        self.tree.clear()
        self._items = {}
        groups: dict[str, QTreeWidgetItem] = {}
        for template in library(self.store):
            key = "My templates" if not template.builtin else TASK_TITLES.get(template.task, template.task or "Other")
            if key not in groups:
                groups[key] = QTreeWidgetItem([key])
                groups[key].setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.tree.addTopLevelItem(groups[key])
            item = QTreeWidgetItem([template.name])
            item.setData(0, Qt.ItemDataRole.UserRole, template)
            groups[key].addChild(item)
            self._items[template.name] = item
        self.tree.expandAll()
        first = self._items.get(select) if select else None
        if first is None and self.tree.topLevelItemCount():
            first = self.tree.topLevelItem(0).child(0)
        if first is not None:
            self.tree.setCurrentItem(first)

    def selected(self):
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def select(self, name: str) -> None:
        if name in self._items:
            self.tree.setCurrentItem(self._items[name])

    def _show_selected(self) -> None:
        template = self.selected()
        self.use_button.setEnabled(template is not None)
        self.delete_button.setEnabled(bool(template is not None and not template.builtin))
        while self.mapping_form.rowCount():
            self.mapping_form.removeRow(0)
        self._combos = {}
        if template is None:
            self.texts.clear()
            self.description.setText("")
            return
        self.description.setText(template.description)
        parts = [("System", template.system), ("Prompt", template.prompt), ("Response", template.response)]
        self.texts.setPlainText("\n\n".join(f"── {label} ──\n{text}" for label, text in parts if text))
        lower = {c.lower(): c for c in self.columns}
        for name in sorted(placeholders(template.as_template())):
            combo = QComboBox()
            combo.addItem(KEEP, "")
            for column in self.columns:
                combo.addItem(column, column)
            guess = lower.get(name.lower())
            if guess:
                combo.setCurrentIndex(self.columns.index(guess) + 1)
            self.mapping_form.addRow(f"{{{{ {name} }}}} →", combo)
            self._combos[name] = combo

    def mapping(self) -> dict[str, str]:
        return {name: combo.currentData() for name, combo in self._combos.items()
                if combo.currentData() and combo.currentData() != name}

    def _use(self) -> None:
        template = self.selected()
        if template is None:
            return
        self.chosen = rename_columns(template.as_template(), self.mapping())
        self.accept()

    def _import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a template library", "",
                                              "Template libraries (*.json *.yaml *.yml)")
        if not path:
            return
        try:
            added = import_library(self.store, path)
        except LibraryError as exc:
            QMessageBox.warning(self, "Cannot import", str(exc))
            return
        self.reload(added[0].name if added else None)

    def _export(self) -> None:
        mine = [t for t in library(self.store) if not t.builtin]
        templates = mine or [t for t in library(self.store)]
        path, _ = QFileDialog.getSaveFileName(self, "Export the template library", "templates.yaml",
                                              "YAML (*.yaml);;JSON (*.json)")
        if path:
            export_library(templates, path)
            QMessageBox.information(self, "Exported", f"Wrote {len(templates)} template(s) to {path}.")

    def _save_current(self) -> None:
        from desktop_ift.core.templates.library import save_to_library

        try:
            saved = save_to_library(self.store, self.current)
        except LibraryError as exc:
            QMessageBox.warning(self, "Cannot save", str(exc))
            return
        self.reload(saved.name)

    def _delete(self) -> None:
        template = self.selected()
        if template is None or template.builtin or template.id is None:
            return
        delete_from_library(self.store, template.id)
        self.reload()
