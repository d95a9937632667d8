"""The import dialog: what was detected about a file, an override for each setting, and a live preview of
the first rows as they will be imported."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView,
    QLabel, QLineEdit, QPushButton, QSpinBox, QStackedWidget, QTableView, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.arrow_table_model import ArrowTableModel
from desktop_ift.ui.widgets.banner import Banner
from desktop_ift.ui.widgets.page import muted_label

PREVIEW_ROWS = 50
DELIMITERS = ((",", "Comma  ,"), (";", "Semicolon  ;"), ("\t", "Tab"), ("|", "Vertical bar  |"))
QUOTES = (('"', 'Double quote  "'), ("'", "Single quote  '"))
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1", "gb18030", "cp932", "koi8-r")
_KIND_TEXT = {"csv": "Delimited text", "json": "JSON", "jsonl": "JSON Lines", "excel": "Excel workbook",
              "parquet": "Parquet", "arrow": "Arrow / Feather", "hf_folder": "Saved datasets folder",
              "text_folder": "Folder of text documents (one row per file)"}


class ImportDialog(QDialog):
    """Choose how ``path`` is read; :meth:`options` and :meth:`dataset_name` give the choice after accept."""

    def __init__(self, path: str | Path, parent: QWidget | None = None):
        super().__init__(parent)
        from desktop_ift.core.data.importers import ImportOptions

        self.path = Path(path)
        self.kind = ""
        self.detected = ImportOptions()
        self._generation = 0
        self.preview_error = ""
        self.notices: list[str] = []
        self.setWindowTitle(f"Import {self.path.name}")
        self.resize(940, 620)
        layout = QVBoxLayout(self)

        self.source_label = muted_label(f"{self.path}", wrap=True)
        layout.addWidget(self.source_label)

        form_row = QHBoxLayout()
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.name_edit = QLineEdit(self.path.stem if self.path.suffix else self.path.name)
        self.name_edit.setMinimumWidth(260)
        self.name_edit.setToolTip("Importing a name that exists makes its next version; older versions stay.")
        self.form.addRow("Dataset name", self.name_edit)
        self.delimiter_combo = self._combo(DELIMITERS, "Which character separates the columns.")
        self.quote_combo = self._combo(QUOTES, "The character around cells that hold the delimiter or line breaks.")
        self.encoding_combo = self._combo([(e, e) for e in ENCODINGS],
                                          "How the text is stored. Files saved by Excel on Windows are often cp1252.")
        self.header_check = QCheckBox("The first row holds the column names")
        self.header_check.toggled.connect(self.schedule_preview)
        self.sheet_combo = QComboBox()
        self.sheet_combo.setMinimumWidth(200)
        self.sheet_combo.setToolTip("The worksheet that holds the data.")
        self.sheet_combo.currentIndexChanged.connect(self.schedule_preview)
        self.header_row_spin = QSpinBox()
        self.header_row_spin.setRange(0, 100000)
        self.header_row_spin.setSpecialValueText("first filled row")
        self.header_row_spin.setToolTip("The row (counted from 1) holding the column names.")
        self.header_row_spin.valueChanged.connect(self.schedule_preview)
        self.records_combo = QComboBox()
        self.records_combo.setMinimumWidth(200)
        self.records_combo.setToolTip("The key whose list holds the records.")
        self.records_combo.currentIndexChanged.connect(self.schedule_preview)
        for label, widget in (("Delimiter", self.delimiter_combo), ("Quote", self.quote_combo),
                              ("Encoding", self.encoding_combo), ("", self.header_check),
                              ("Sheet", self.sheet_combo), ("Header row", self.header_row_spin),
                              ("Records key", self.records_combo)):
            self.form.addRow(label, widget)
        self.grid_button = QPushButton("Show the sheet's rows…")
        self.grid_button.setToolTip("The first rows of the sheet as they are, with their row numbers: click "
                                    "the one that holds the column names.")
        self.grid_button.clicked.connect(lambda: self.show_grid(""))
        self.form.addRow("", self.grid_button)
        form_row.addLayout(self.form)
        form_row.addStretch(1)
        layout.addLayout(form_row)

        self.banner = Banner()
        layout.addWidget(self.banner)
        self.preview_label = muted_label("Reading the file…", wrap=False)
        layout.addWidget(self.preview_label)
        self.model = ArrowTableModel()
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.horizontalHeader().setDefaultSectionSize(180)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(26)
        self.preview_stack = QStackedWidget()
        self.preview_stack.addWidget(self.view)
        self.preview_stack.addWidget(self._build_grid())
        layout.addWidget(self.preview_stack, 1)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.import_button.setText("Import")
        self.import_button.setProperty("variant", "primary")
        self.import_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.refresh_preview)
        self._set_rows_visible(set())
        self._ready = False
        self._describe()

    # ------------------------------------------------------------------ widgets
    def _combo(self, items, tip: str) -> QComboBox:
        combo = QComboBox()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        combo.setMinimumWidth(200)
        for value, text in items:
            combo.addItem(text, value)
        combo.setToolTip(tip)
        combo.currentIndexChanged.connect(self.schedule_preview)
        return combo

    def _set_rows_visible(self, names: set[str]) -> None:
        rows = {"delimiter": self.delimiter_combo, "quote": self.quote_combo, "encoding": self.encoding_combo,
                "header": self.header_check, "sheet": self.sheet_combo, "header_row": self.header_row_spin,
                "records": self.records_combo, "grid": self.grid_button}
        for name, widget in rows.items():
            self.form.setRowVisible(widget, name in names)

    @staticmethod
    def _select(combo: QComboBox, value, detected_suffix: bool = True) -> None:
        combo.blockSignals(True)
        index = combo.findData(value)
        if index < 0 and value is not None:
            combo.addItem(repr(value), value)
            index = combo.count() - 1
        for i in range(combo.count()):  # mark what was detected
            text = combo.itemText(i).removesuffix("  (detected)")
            combo.setItemText(i, text + ("  (detected)" if i == index and detected_suffix else ""))
        combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)

    # ------------------------------------------------------------------ detection and preview
    def _describe(self) -> None:
        path = self.path

        def work():
            from desktop_ift.core.data.importers import describe_source

            return describe_source(path)

        run_in_background(work, self._described, self._failed)

    def _described(self, info) -> None:
        self.kind = info.kind
        self.detected = info.options
        self.source_label.setText(f"{_KIND_TEXT.get(info.kind, info.kind)} · {self.path}")
        if info.kind == "csv":
            self._set_rows_visible({"delimiter", "quote", "encoding", "header"})
            self._select(self.delimiter_combo, info.options.delimiter)
            self._select(self.quote_combo, info.options.quote_char)
            self._select(self.encoding_combo, info.options.encoding)
            self.header_check.blockSignals(True)
            self.header_check.setChecked(bool(info.options.has_header))
            self.header_check.blockSignals(False)
        elif info.kind == "excel":
            self._set_rows_visible({"sheet", "header_row", "grid"})
            self.sheet_combo.blockSignals(True)
            for name in info.sheets:
                self.sheet_combo.addItem(name, name)
            self.sheet_combo.blockSignals(False)
            self.sheet_combo.currentIndexChanged.connect(self._load_grid)
            self._load_grid()
        elif info.kind == "json" and len(info.record_keys) > 1:
            self._set_rows_visible({"records"})
            self.records_combo.blockSignals(True)
            for key in info.record_keys:
                self.records_combo.addItem(key, key)
            self.records_combo.blockSignals(False)
        else:
            self._set_rows_visible(set())
        self._ready = True
        self.refresh_preview()

    def options(self):
        """The :class:`ImportOptions` the dialog's fields describe (everything for the detected kind)."""
        from desktop_ift.core.data.importers import ImportOptions

        if self.kind == "csv":
            return ImportOptions(delimiter=self.delimiter_combo.currentData(), quote_char=self.quote_combo.currentData(),
                                 encoding=self.encoding_combo.currentData(), has_header=self.header_check.isChecked())
        if self.kind == "excel":
            return ImportOptions(sheet=self.sheet_combo.currentData(),
                                 header_row=self.header_row_spin.value() or None)
        if self.kind == "json" and self.records_combo.count():
            return ImportOptions(records_key=self.records_combo.currentData())
        return ImportOptions()

    def dataset_name(self) -> str:
        return self.name_edit.text().strip()

    def schedule_preview(self, *_args) -> None:
        if self._ready:
            self.import_button.setEnabled(False)
            self._timer.start()

    def refresh_preview(self) -> None:
        """Read the first rows with the current settings (in the background; stale results are dropped)."""
        self._generation += 1
        generation = self._generation
        path, options = self.path, self.options()
        self.preview_label.setText("Reading the first rows…")

        def work():
            from desktop_ift.core.data.importers import preview_table

            notices: list = []  # what the user must see before importing (encodings, line breaks, header)
            return preview_table(path, options, PREVIEW_ROWS, notices), notices

        def done(result):
            table, notices = result
            if generation != self._generation:
                return
            self.preview_error = ""
            self.notices = [str(n) for n in notices]
            if notices:
                self.banner.show_message("\n\n".join(self.notices), "warning", "Check before importing")
            else:
                self.banner.clear()
            self.model.set_table(table)
            self.preview_label.setText(f"Preview: the first {table.num_rows} rows, {table.num_columns} columns "
                                       "(hover a cell for its full text)")
            self.import_button.setEnabled(True)
            self._excel_previewed()

        def failed(exc):
            if generation == self._generation:
                self._failed(exc)

        run_in_background(work, done, failed)

    def _failed(self, exc: BaseException) -> None:
        from desktop_ift.core.data.importers import DataImportError

        text = str(exc) if isinstance(exc, (DataImportError, ValueError)) else f"{type(exc).__name__}: {exc}"
        self.preview_error = text
        self.model.set_table(None)
        self.preview_label.setText("")
        what = "these settings" if self._ready else "this file"
        self.banner.show_message(text, "error", f"Cannot import {what}")
        self.import_button.setEnabled(False)
        if self.kind == "excel" and self._ready:  # show the sheet as it is: the user points at the header
            self.show_grid(text)

    # ------------------------------------------------------------------ Excel: the sheet's raw rows
    def _build_grid(self) -> QWidget:
        """The first rows of an Excel sheet as they are, row numbers as Excel shows them; a click on a row
        makes it the header row."""
        self.grid = None
        self.grid_table = QTableWidget(0, 0)
        self.grid_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.grid_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.grid_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid_table.setWordWrap(False)
        self.grid_table.horizontalHeader().setDefaultSectionSize(160)
        self.grid_table.verticalHeader().setDefaultSectionSize(26)
        self.grid_table.setToolTip("Click the row that holds the column names.")
        self.grid_table.cellClicked.connect(lambda row, _col: self.choose_header_row(row))
        self.grid_table.verticalHeader().sectionClicked.connect(self.choose_header_row)
        return self.grid_table

    def _load_grid(self, *_args) -> None:
        path, sheet = self.path, self.sheet_combo.currentData()

        def work():
            from desktop_ift.core.data.sheet_grid import read_sheet_grid

            return read_sheet_grid(path, sheet)

        def done(grid):
            if sheet != self.sheet_combo.currentData():
                return
            self.grid = grid
            self._fill_grid(grid)
            if self.preview_error:  # the preview failed first: say it again, now knowing the likely header
                self.show_grid(self.preview_error)
            else:
                self._excel_previewed()

        run_in_background(work, done, lambda _exc: None)

    def _fill_grid(self, grid) -> None:
        from desktop_ift.core.data.excel_importer import excel_column_label

        table = self.grid_table
        table.clear()
        table.setColumnCount(grid.width)
        table.setRowCount(len(grid.rows))
        table.setHorizontalHeaderLabels([excel_column_label(i).removeprefix("column ") for i in range(grid.width)])
        table.setVerticalHeaderLabels([str(number) for number, _cells in grid.rows])
        for r, (_number, cells) in enumerate(grid.rows):
            for c, text in enumerate(cells):
                table.setItem(r, c, QTableWidgetItem(text))

    def _excel_previewed(self) -> None:
        """With the header row left to detection, offer the sheet's raw rows when the column names do not
        seem to be on the first filled row (a title or notes above the table)."""
        if self.kind != "excel" or self.grid is None or self.header_row_spin.value() or self.preview_error:
            if self.kind == "excel" and not self.preview_error and self.header_row_spin.value():
                self.preview_stack.setCurrentIndex(0)
            return
        guess, first = self.grid.header_guess, self.grid.first_filled
        if guess is not None and first is not None and guess != first:
            self.show_grid("")
            self.banner.show_message(
                f"Row {first} looks like a title, and the column names like row {guess}. Click the row that "
                "holds the column names (row numbers as in Excel).", "warning", "Which row holds the column names?")
        else:
            self.preview_stack.setCurrentIndex(0)

    def show_grid(self, reason: str) -> None:
        """Show the sheet's raw rows instead of the preview (``reason``: why, shown above them)."""
        if self.kind != "excel":
            return
        if self.grid is None:
            self._load_grid()
        self.preview_stack.setCurrentIndex(1)
        self.preview_label.setText(f"The sheet “{self.sheet_combo.currentText()}” as it is: click the row that "
                                   "holds the column names.")
        grid = self.grid
        if reason and grid is not None and grid.header_guess not in (None, grid.first_filled):
            self.banner.show_message(
                f"Row {grid.first_filled} looks like a title, and the column names like row {grid.header_guess}. "
                f"Click the row that holds the column names below.\n(Read from row {grid.first_filled}: {reason})",
                "warning", "Which row holds the column names?")
        elif reason:
            self.banner.show_message(f"{reason}\nClick the row that holds the column names below.", "error",
                                     "Cannot import these settings")

    def choose_header_row(self, grid_row: int) -> None:
        """Use the grid's row ``grid_row`` (0-based in the grid) as the header row; the preview follows."""
        if self.grid is None or not 0 <= grid_row < len(self.grid.rows):
            return
        number = self.grid.rows[grid_row][0]
        self.banner.clear()
        self.header_row_spin.setValue(number)  # schedules the preview, which then replaces the grid
        self.preview_stack.setCurrentIndex(0)
