"""Step 1 — Data: import a table, look at it, and choose how it is split for training."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QFileDialog, QFrame, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
    QPushButton, QScrollArea, QSpinBox, QSplitter, QStackedWidget, QTableView, QVBoxLayout, QWidget,
)

from desktop_ift.core.store import Store
from desktop_ift.ui.app_state import AppState
from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.arrow_table_model import ArrowTableModel
from desktop_ift.ui.widgets.banner import Banner
from desktop_ift.ui.widgets.column_share import share_widths
from desktop_ift.ui.widgets.data_cell_dialog import CellTextDialog
from desktop_ift.ui.widgets.data_cleaning_panel import CleaningPanel
from desktop_ift.ui.widgets.data_column_card import ColumnCard
from desktop_ift.ui.widgets.elided_label import ElidedLabel
from desktop_ift.ui.widgets.page import Page, card, muted_label, section_label

FILE_KINDS = "Tables (*.csv *.tsv *.txt *.json *.jsonl *.ndjson *.xlsx *.xlsm *.parquet *.pq *.arrow *.feather *.ipc)"


def _file_filter() -> str:
    try:
        from desktop_ift.core.data.importers import SUPPORTED_SUFFIXES
    except ImportError:
        return FILE_KINDS + ";;All files (*)"
    patterns = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
    return f"Tables ({patterns});;All files (*)"


DUPLICATE_HINT_MIN = 5  # from this many exact duplicate rows on, the page suggests dropping them
STRATIFY_MAX_VALUES = 50


def stratify_candidates(summaries: list, n_rows: int) -> list:
    """The columns worth stratifying by: label-like (2 to 50 distinct values, far fewer than the filled
    rows), not ids and not free text; fewest distinct values first."""
    out = []
    for s in summaries:
        filled = max(0, n_rows - s.n_empty)
        if s.distinct_capped or not 2 <= s.n_distinct <= STRATIFY_MAX_VALUES or filled == 0:
            continue
        if s.n_distinct > filled / 2:  # nearly one value per row: an id, or too few rows per class
            continue
        if s.median_length is not None and s.median_length > 40:  # sentences, not labels
            continue
        out.append(s)
    return sorted(out, key=lambda s: (s.n_distinct, s.name))


def count_duplicate_rows(table) -> int:
    """How many rows repeat an earlier row exactly (0 when the columns cannot be compared).

    Each column is dictionary-encoded and rows are compared by their codes: ``Table.group_by`` would import
    pyarrow's dataset module, and with it pandas (~1 s), at app start, where the Data page counts them."""
    import pyarrow.compute as pc

    try:
        codes = [pc.dictionary_encode(column).combine_chunks().indices.to_pylist() for column in table.columns]
    except Exception:  # lists, structs, …: no exact comparison; no hint rather than a wrong one
        return 0
    return table.num_rows - len(set(zip(*codes))) if codes else 0


class DropZone(QFrame):
    """The empty state: what to do first."""

    import_clicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setProperty("role", "card")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 32, 32, 32)
        layout.addStretch(1)
        title = QLabel("No data yet")
        title.setProperty("role", "figure")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = muted_label("Drop a CSV, Excel, JSON, JSONL or Parquet file anywhere on this window, "
                           "or choose one with Import data…")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        button = QPushButton("Import data…")
        button.setProperty("variant", "primary")
        button.clicked.connect(self.import_clicked)
        layout.addWidget(title)
        layout.addWidget(text)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)


class DataPage(Page):
    key = "data"
    title = "Data"
    subtitle = "Import a table of examples (one row per example), check it, and choose how it is split."

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.importing = False
        self._last_import_error = ""

        self.import_button = QPushButton("Import data…")
        self.import_button.setProperty("variant", "primary")
        self.import_button.setToolTip("Import a CSV, TSV, Excel, JSON, JSONL, Parquet or Arrow file (Ctrl+O)")
        self.import_button.clicked.connect(self.choose_file)
        self.folder_button = QPushButton("Import folder…")
        self.folder_button.setToolTip("Import a folder of .txt/.md documents (one row per file, for continued "
                                      "pre-training) or a folder saved with datasets' save_to_disk")
        self.folder_button.clicked.connect(self.choose_folder)
        self.combine_button = QPushButton("Combine as splits…")
        self.combine_button.setToolTip("Your data came as separate train / validation / test files? Import "
                                       "each, then combine them into one dataset that keeps their splits.")
        self.combine_button.clicked.connect(self.combine_splits)
        self.header_actions.addWidget(self.combine_button)
        self.header_actions.addWidget(self.folder_button)
        self.header_actions.addWidget(self.import_button)

        # dataset picker + busy indicator
        picker = QHBoxLayout()
        picker.setSpacing(8)
        picker.addWidget(QLabel("Dataset"))
        self.dataset_combo = QComboBox()
        self.dataset_combo.setMinimumWidth(320)
        # long names are cut rather than the combo pushing the row wider than the window
        self.dataset_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.dataset_combo.setMinimumContentsLength(30)
        self.dataset_combo.setToolTip("Every import is kept as a new version; pick the one to work with.")
        self.dataset_combo.currentIndexChanged.connect(self._combo_changed)
        picker.addWidget(self.dataset_combo, 3)  # the name gets the room; the file name is on the side
        # cut with "…" when the file name is long (it ran past the window's edge at 1024 px); the path on hover
        self.info_label = ElidedLabel()
        self.info_label.setProperty("role", "muted")
        picker.addWidget(self.info_label)  # its text's width when the window has it, the rest to the picker
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedWidth(140)
        self.busy_bar.hide()
        self.busy_label = muted_label(wrap=False)
        self.busy_label.hide()
        picker.addWidget(self.busy_label)
        picker.addWidget(self.busy_bar)
        self.body.addLayout(picker)

        self.banner = Banner(closable=True)
        self.body.addWidget(self.banner)

        # columns strip
        self.columns_area = QScrollArea()
        self.columns_area.setWidgetResizable(True)
        self.columns_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.columns_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.columns_area.setFixedHeight(84)
        strip = QWidget()
        self.columns_layout = QHBoxLayout(strip)
        self.columns_layout.setContentsMargins(0, 0, 0, 0)
        self.columns_layout.setSpacing(8)
        self.columns_area.setWidget(strip)
        self.body.addWidget(self.columns_area)

        # table / empty state
        self.stack = QStackedWidget()
        self.drop_zone = DropZone()
        self.drop_zone.import_clicked.connect(self.choose_file)
        self.model = ArrowTableModel()
        self.table_view = QTableView()
        self.table_view.setModel(self.model)
        self.table_view.setAlternatingRowColors(True)
        self.table_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table_view.setWordWrap(False)
        self.table_view.verticalHeader().setDefaultSectionSize(28)
        self.table_view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table_view.horizontalHeader().setDefaultSectionSize(220)
        # the columns share the width by their content (_share_columns), not the last one taking all the rest
        self.table_view.horizontalHeader().setStretchLastSection(False)
        self.table_view.viewport().installEventFilter(self)
        self.table_view.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table_view.setToolTip("Double-click a cell to see its full text.")
        self.table_view.doubleClicked.connect(self.show_cell)
        self.cleaning_panel = CleaningPanel(state)
        self.cleaning_panel.setMinimumWidth(330)
        self.cleaning_panel.applied.connect(self.state.dataset_added)
        self.table_split = QSplitter(Qt.Orientation.Horizontal)
        self.table_split.addWidget(self.table_view)
        # the recipe panel scrolls in a short window instead of forcing the whole page taller than it is
        cleaning_scroll = QScrollArea()
        cleaning_scroll.setWidgetResizable(True)
        cleaning_scroll.setFrameShape(QFrame.Shape.NoFrame)
        cleaning_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        cleaning_scroll.setWidget(self.cleaning_panel)
        cleaning_scroll.setMinimumWidth(330 + cleaning_scroll.verticalScrollBar().sizeHint().width())
        self.table_split.addWidget(cleaning_scroll)
        self.table_split.setStretchFactor(0, 1)
        self.table_split.setSizes([880, 340])
        self.stack.addWidget(self.drop_zone)
        self.stack.addWidget(self.table_split)
        self.body.addWidget(self.stack, 1)

        self.body.addWidget(self._build_split_card())

        state.datasets_changed.connect(self.reload_datasets)
        state.dataset_changed.connect(self._dataset_changed)
        state.table_loaded.connect(self._table_loaded)
        state.table_failed.connect(self._table_failed)
        self.reload_datasets()

    # ------------------------------------------------------------------ split section
    def _build_split_card(self) -> QFrame:
        frame, layout = card()
        # the error goes at the top of the card: the card grows upwards (the table above gives the room), so
        # the fields below never move under the pointer when it appears or goes
        self.split_banner = Banner()
        layout.addWidget(self.split_banner)
        head = QHBoxLayout()
        head.addWidget(section_label("Train / validation / test split"))
        head.addStretch(1)
        self.counts_label = QLabel()
        self.counts_label.setProperty("role", "muted")
        head.addWidget(self.counts_label)
        layout.addLayout(head)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.ratio_spins: dict[str, QSpinBox] = {}
        tips = {
            "train": "Share of the rows the model learns from.",
            "validation": "Share held out to measure the loss during training (spots over-fitting).",
            "test": "Share never seen in training; the Evaluate page compares models on it.",
        }
        for key, text in (("train", "Train"), ("validation", "Validation"), ("test", "Test")):
            label = QLabel(text)
            spin = QSpinBox()
            spin.setRange(0, 100)
            spin.setSuffix(" %")
            spin.setFixedWidth(92)
            spin.setToolTip(tips[key])
            label.setToolTip(tips[key])
            spin.valueChanged.connect(self._split_edited)
            row.addWidget(label)
            row.addWidget(spin)
            row.addSpacing(10)
            self.ratio_spins[key] = spin
        row.addWidget(QLabel("Seed"))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setFixedWidth(110)
        self.seed_spin.setToolTip("The same seed gives the same split every time.")
        self.seed_spin.valueChanged.connect(self._split_edited)
        row.addWidget(self.seed_spin)
        row.addStretch(1)
        layout.addLayout(row)
        row = QHBoxLayout()  # a second line: in a 1024-pixel window one line cut the stratify combo off
        row.setSpacing(8)
        row.addWidget(QLabel("Stratify by"))
        self.stratify_combo = QComboBox()
        self.stratify_combo.setMinimumWidth(180)
        self.stratify_combo.setMaximumWidth(280)
        self.stratify_combo.setToolTip("Keep the proportions of a label column equal in every split "
                                       "(useful for classification).")
        self.stratify_combo.currentIndexChanged.connect(self._split_edited)
        row.addWidget(self.stratify_combo)
        row.addSpacing(18)
        row.addWidget(QLabel("or take the split from a column"))
        self.split_column_combo = QComboBox()
        self.split_column_combo.setMinimumWidth(180)
        self.split_column_combo.setMaximumWidth(280)
        self.split_column_combo.setToolTip("Use a column that already says train / validation / test for each "
                                           "row (e.g. a 'split' column); the ratios are then not used.")
        self.split_column_combo.currentIndexChanged.connect(self._split_edited)
        row.addWidget(self.split_column_combo)
        row.addStretch(1)
        layout.addLayout(row)
        self._load_split_values()
        return frame

    def _load_split_values(self) -> None:
        values = self.state.split_values()
        for key, spin in self.ratio_spins.items():
            spin.blockSignals(True)
            spin.setValue(round(float(values[key]) * 100))
            spin.blockSignals(False)
        self.seed_spin.blockSignals(True)
        self.seed_spin.setValue(int(values.get("seed") or 0))
        self.seed_spin.blockSignals(False)

    def _fill_stratify(self, columns: list[str], summaries: list | None = None, n_rows: int = 0) -> None:
        """Fill the stratify and split-column choices. With the column summaries, *Stratify by* offers only
        label-like columns (few distinct values), fewest first, never an id or free-text column."""
        values = self.state.split_values()
        for combo, key, empty in ((self.stratify_combo, "stratify_column", "(none)"),
                                  (self.split_column_combo, "split_column", "(ratios above)")):
            wanted = values.get(key)
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(empty, None)
            choices = [(name, name) for name in columns]
            if combo is self.stratify_combo and summaries:
                choices = [(f"{s.name}  ({s.n_distinct} values)", s.name)
                           for s in stratify_candidates(summaries, n_rows)]
                if wanted and all(name != wanted for _t, name in choices):  # chosen before: kept, never dropped
                    choices.append((f"{wanted}  (unique or free text: not useful)", wanted))
            for text, name in choices:
                combo.addItem(text, name)
            idx = combo.findData(wanted) if wanted else 0
            combo.setCurrentIndex(max(idx, 0))
            combo.blockSignals(False)
        self._enable_ratios()

    def _enable_ratios(self) -> None:
        by_ratio = self.split_column_combo.currentData() is None
        for widget in (*self.ratio_spins.values(), self.seed_spin, self.stratify_combo):
            widget.setEnabled(by_ratio)

    def split_values(self) -> dict:
        return {
            **{key: spin.value() / 100 for key, spin in self.ratio_spins.items()},
            "seed": self.seed_spin.value(),
            "stratify_column": self.stratify_combo.currentData(),
            "split_column": self.split_column_combo.currentData(),
        }

    def _split_edited(self) -> None:
        self._enable_ratios()
        self.state.set_split_values(self.split_values())
        self.update_counts()

    def update_counts(self) -> None:
        """Show how many rows each split gets, or what is wrong with the ratios."""
        from desktop_ift.core.data.splits import split_counts, table_split_counts

        record = self.state.dataset()
        try:
            spec = self.state.split_spec()
        except ValueError as exc:
            self.split_banner.show_message(str(exc), "error")
            self.counts_label.setText("")
            return
        self.split_banner.clear()
        if record is None:
            self.counts_label.setText("Import data to see the split sizes.")
            return
        if spec.split_column:
            table = self.state.table(record.id)
            if table is None:  # still loading; table_loaded refreshes the counts
                self.counts_label.setText("Reading the split column…")
                return
            try:
                counts = table_split_counts(table, spec)
            except ValueError as exc:
                self.split_banner.show_message(str(exc), "error")
                self.counts_label.setText("")
                return
        else:
            counts = split_counts(record.n_rows, spec)
        self.counts_label.setText(
            f"Train {counts['train']:,} rows  ·  Validation {counts['validation']:,}  ·  Test {counts['test']:,}"
        )

    # ------------------------------------------------------------------ datasets
    def reload_datasets(self) -> None:
        records = self.state.datasets()
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        for record in reversed(records):  # newest first
            same_year = time.localtime(record.created_at).tm_year == time.localtime().tm_year
            when = time.strftime("%d %b %H:%M" if same_year else "%d %b %Y %H:%M", time.localtime(record.created_at))
            self.dataset_combo.addItem(f"{record.label} — imported {when}", record.id)
        idx = self.dataset_combo.findData(self.state.dataset_id)
        if idx < 0 and records:
            idx = 0
        self.dataset_combo.setCurrentIndex(idx)
        self.dataset_combo.blockSignals(False)
        self.dataset_combo.setEnabled(bool(records))
        if not records:
            self.dataset_combo.addItem("No dataset imported yet", 0)
        # the open menu shows every name whole (the closed combo may cut a long one: its tooltip has it)
        metrics = self.dataset_combo.view().fontMetrics()
        widest = max((metrics.horizontalAdvance(self.dataset_combo.itemText(i))
                      for i in range(self.dataset_combo.count())), default=0)
        self.dataset_combo.view().setMinimumWidth(widest + 48)
        if idx >= 0 and self.dataset_combo.itemData(idx) != self.state.dataset_id:
            self.state.set_dataset(self.dataset_combo.itemData(idx))
        self._show_dataset()

    def _combo_changed(self, index: int) -> None:
        dataset_id = self.dataset_combo.itemData(index)
        if dataset_id:
            self.state.set_dataset(int(dataset_id))

    def _dataset_changed(self, dataset_id: int) -> None:
        idx = self.dataset_combo.findData(dataset_id)
        if idx >= 0 and idx != self.dataset_combo.currentIndex():
            self.dataset_combo.blockSignals(True)
            self.dataset_combo.setCurrentIndex(idx)
            self.dataset_combo.blockSignals(False)
        self._show_dataset()

    def _show_dataset(self) -> None:
        record = self.state.dataset()
        self.dataset_combo.setToolTip(f"{self.dataset_combo.currentText()}\nEvery import is kept as a new "
                                      "version; pick the one to work with.")
        if record is None:
            self.model.set_table(None)
            self.cleaning_panel.set_dataset(None, None)
            self.stack.setCurrentWidget(self.drop_zone)
            self.info_label.setText("")
            self._fill_columns([])
            self._fill_stratify([])
            self.update_counts()
            return
        self.stack.setCurrentWidget(self.table_split)
        self.cleaning_panel.set_dataset(record, self.state.table(record.id))
        self.info_label.set_full_text(f"{len(record.columns)} columns · from {Path(record.source_path).name}",
                                      tooltip=record.source_path)
        self._fill_stratify(record.column_names)
        self.update_counts()
        table = self.state.table(record.id)
        if table is None:
            self.model.set_table(None)
            self._set_busy(True, "Loading…")
        else:
            self._table_loaded(record.id)

    def _table_loaded(self, dataset_id: int) -> None:
        if dataset_id != self.state.dataset_id:
            return
        if not self.importing:
            self._set_busy(False)
        record = self.state.dataset()
        table = self.state.table(dataset_id)
        if record is None or table is None:
            return
        types = {c["name"]: c.get("type", "") for c in record.columns}
        if self.model.table is not table:
            self.model.set_table(table, types)
            self._fit_columns()
            self.cleaning_panel.set_dataset(record, table)
        summaries = self.state.column_summaries(dataset_id)
        self._fill_columns(summaries)
        if summaries:
            self._fill_stratify(record.column_names, summaries, table.num_rows)
        self._check_duplicates(record.id, table)
        if self.split_column_combo.currentData():
            self.update_counts()

    def _table_failed(self, dataset_id: int, message: str) -> None:
        if dataset_id == self.state.dataset_id:
            self._set_busy(False)
            self.banner.show_message(message, "error", "This dataset cannot be shown")

    def _fit_columns(self) -> None:
        """Measure each column's content from the header and a sample of rows (not the whole table), then share
        the table's width by it (:meth:`_share_columns`)."""
        count = self.model.columnCount()
        self._natural_widths = []
        self._user_sized = False  # a new table: its columns share the width until the user drags one
        if not getattr(self, "_watching_drags", False):
            self._watching_drags = True
            self.table_view.horizontalHeader().sectionResized.connect(self._section_resized)
        if not count:
            return
        metrics = self.table_view.fontMetrics()
        bold = self.table_view.horizontalHeader().fontMetrics()
        sample = range(min(40, self.model.rowCount()))
        for col in range(count):
            name = self.model.headerData(col, Qt.Orientation.Horizontal) or ""
            widest = bold.horizontalAdvance(name) + 28
            for row in sample:
                text = self.model.data(self.model.index(row, col)) or ""
                widest = max(widest, metrics.horizontalAdvance(text[:400]) + 20)
            self._natural_widths.append(max(90, widest))
        self._share_columns()

    def _share_columns(self) -> None:
        """Columns share the table's width by their content: short columns whole, long-text columns the rest
        (each at least its content up to 420 px: a narrow window scrolls sideways instead)."""
        natural = getattr(self, "_natural_widths", [])
        if not natural or len(natural) != self.model.columnCount() or getattr(self, "_user_sized", False):
            return  # a column the user sized by hand keeps its width (until another table is shown)
        available = self.table_view.viewport().width()
        widths = share_widths(natural, [min(420, w) for w in natural], available)
        header = self.table_view.horizontalHeader()
        self._sharing = True
        try:
            for col, width in enumerate(widths):
                header.resizeSection(col, width)
        finally:
            self._sharing = False

    def _section_resized(self, *_args) -> None:
        if not getattr(self, "_sharing", False):
            self._user_sized = True

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if obj is self.table_view.viewport() and event.type() == QEvent.Type.Resize:
            self._share_columns()
        return super().eventFilter(obj, event)

    def _check_duplicates(self, dataset_id: int, table) -> None:
        """Count rows that repeat an earlier row exactly (in the background); from DUPLICATE_HINT_MIN on,
        suggest the cleaning step that drops them."""
        if getattr(self, "_duplicates_checked", None) == (dataset_id, id(table)):
            return
        self._duplicates_checked = (dataset_id, id(table))
        if self.banner.title_label.text() == "Duplicate rows":  # said of the dataset shown before
            self.banner.clear()

        def done(n):
            if dataset_id != self.state.dataset_id or n < DUPLICATE_HINT_MIN:
                return
            self.duplicates = n
            self.banner.show_message(
                f"{n:,} rows repeat an earlier row exactly. Duplicates weigh those examples more in training and "
                "can land in both the training and the test split, which flatters the scores.", "warning",
                "Duplicate rows", ("Drop duplicates…", lambda: self.cleaning_panel.add_step("drop_duplicates")))

        self.duplicates = 0
        run_in_background(lambda: count_duplicate_rows(table), done, lambda _exc: None)

    def _fill_columns(self, summaries: list) -> None:
        while self.columns_layout.count():
            item = self.columns_layout.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        for s in summaries:
            self.columns_layout.addWidget(ColumnCard(s))
        self.columns_layout.addStretch(1)
        self.columns_area.setVisible(bool(summaries))

    def show_cell(self, index) -> None:
        """The full text of a cell (double-click), however long."""
        if not index.isValid() or self.model.table is None:
            return
        name = self.model.headerData(index.column(), Qt.Orientation.Horizontal)
        value = self.model.row(index.row()).get(name)
        self.cell_dialog = CellTextDialog(name, index.row(), value, self)
        self.cell_dialog.show()

    # ------------------------------------------------------------------ import
    def choose_file(self) -> None:
        """File → Import: choose a file, check the detected settings and the preview, then import."""
        if self.importing:
            return
        start = str(Path(self.state.setting("last_import_dir") or Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Import data", start, _file_filter())
        if path:
            self.open_import_dialog(path)

    def choose_folder(self) -> None:
        """Import a folder of text documents or a saved datasets folder."""
        if self.importing:
            return
        start = str(Path(self.state.setting("last_import_dir") or Path.home()))
        path = QFileDialog.getExistingDirectory(self, "Import a folder", start)
        if path:
            self.open_import_dialog(path)

    def open_import_dialog(self, path: str | Path, modal: bool = True):
        """Show the import dialog for ``path`` (detected settings, overrides, live preview); importing on
        accept. Returns the dialog (not modal when ``modal`` is False, for tests)."""
        from desktop_ift.ui.dialogs.import_dialog import ImportDialog

        dialog = ImportDialog(path, self)
        dialog.accepted.connect(lambda: self.import_file(path, dialog.options(), dialog.dataset_name()))
        self.import_dialog = dialog
        if modal:
            dialog.exec()
        else:
            dialog.show()
        return dialog

    def combine_splits(self, dialog=None) -> None:
        """Ask which imported datasets hold the train / validation / test rows and combine them into one
        version with a ``split`` column; the split then comes from that column."""
        from desktop_ift.ui.dialogs.combine_dialog import CombineSplitsDialog

        dialog = dialog or CombineSplitsDialog(self.state.datasets(), self)
        if not dialog.exec():
            return
        parts, name = dialog.parts(), dialog.name()
        home, project_id = self.state.store.home, self.state.project.id

        def work():
            from desktop_ift.core.data.combine import SPLIT_COLUMN, combine_as_splits

            with Store.open(home) as store:
                return combine_as_splits(store, project_id, name, parts), SPLIT_COLUMN

        def done(result):
            record, column = result
            self.state.set_split_values({**self.state.split_values(), "split_column": column})
            self.state.dataset_added(record)
            self._load_split_values()
            self.banner.show_message(f"{record.label} combines the files; its '{column}' column now decides "
                                     "the split.", "success", "Combined")

        def failed(exc: BaseException):
            self.banner.show_message(str(exc), "error", "The files cannot be combined")

        run_in_background(work, done, failed)

    def import_file(self, path: str | Path, options=None, name: str | None = None) -> None:
        """Import ``path`` off the GUI thread with ``options`` (None: detect everything) under ``name``
        (default: the file name); on success the new dataset is selected."""
        if self.importing:
            self.banner.show_message("Wait for the current import to finish, then try again.", "info")
            return
        path = Path(path)
        self.state.remember(last_import_dir=str(path.parent))
        self.banner.clear()
        self.importing = True
        self.import_button.setEnabled(False)
        self.folder_button.setEnabled(False)
        self.import_button.setToolTip("An import is in progress.")
        self._set_busy(True, f"Importing {path.name}…")
        home = self.state.store.home
        project_id = self.state.project.id

        def work():
            from desktop_ift.core.data.importers import import_dataset

            with Store.open(home) as store:  # a connection per thread
                return import_dataset(store, project_id, path, name=name, options=options)

        run_in_background(work, self._import_done, lambda exc: self._import_failed(path, exc))

    def _import_finished(self) -> None:
        self.importing = False
        self.import_button.setEnabled(True)
        self.folder_button.setEnabled(True)
        self.import_button.setToolTip("Import a CSV, TSV, Excel, JSON, JSONL, Parquet or Arrow file (Ctrl+O)")
        self._set_busy(False)

    def _import_done(self, record) -> None:
        self._import_finished()
        record = self.state.store.get_dataset(record.id)
        self.banner.show_message(f"{record.label} was imported from {Path(record.source_path).name}.",
                                 "success")
        self.state.dataset_added(record)

    def _import_failed(self, path: Path, exc: BaseException) -> None:
        self._import_finished()
        try:
            from desktop_ift.core.data.importers import DataImportError
        except ImportError:  # pragma: no cover
            DataImportError = ()  # type: ignore[assignment]
        if isinstance(exc, DataImportError):
            text = str(exc)
        else:
            text = (f"{exc.__class__.__name__}: {exc}. Check that the file is a table (CSV, Excel, JSON, "
                    "Parquet) that you can open, then import it again.")
        self._last_import_error = text
        self.banner.show_message(text, "error", f"Could not import “{path.name}”")

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.busy_bar.setVisible(busy)
        self.busy_label.setVisible(busy)
        self.busy_label.setText(text)
