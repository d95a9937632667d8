"""Choosing several templates for one dataset: which ones, the mode, weights and seed, and what that does
to the number of training examples."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QLabel, QSpinBox, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from desktop_ift.core.templates.render import PromptTemplate
from desktop_ift.core.templates.template_set import MODE_LABELS, MODES, TemplateSet, expansion_counts
from desktop_ift.ui.widgets.page import muted_label


class TemplateSetPanel(QWidget):
    """A checkable list of the project's templates with a weight each, the mode and the seed.

    ``changed`` fires on every edit. :meth:`template_set` builds the :class:`TemplateSet` (None when no
    template is ticked); :meth:`show_counts` says how many examples the data gives.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(muted_label("Tick the templates to train on. With several, each row is rendered "
                                     "through one of them (or all of them) — more variety, same data."))
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Template", "Weight"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(110)
        self.table.setMaximumHeight(220)
        self.table.itemChanged.connect(lambda *_: self._edited())
        layout.addWidget(self.table)
        row = QHBoxLayout()
        row.addWidget(QLabel("Mode"))
        self.mode_combo = QComboBox()
        for mode in MODES:
            self.mode_combo.addItem(MODE_LABELS[mode], mode)
        self.mode_combo.setToolTip("Random: each row gets one template, drawn with the weights.\n"
                                   "Round-robin: templates take turns.\nEvery template: the data grows ×N.")
        self.mode_combo.currentIndexChanged.connect(self._edited)
        # narrow minimums: this tab sat beside the editors and forced them to a third of the page
        self.mode_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode_combo.setMinimumContentsLength(8)
        row.addWidget(self.mode_combo, 1)
        row.addWidget(QLabel("Seed"))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("The same seed always gives each row the same template.")
        self.seed_spin.valueChanged.connect(self._edited)
        self.seed_spin.setMinimumWidth(self.seed_spin.fontMetrics().horizontalAdvance("0000000") + 40)
        row.addWidget(self.seed_spin)
        layout.addLayout(row)
        self.counts_label = QLabel("")
        self.counts_label.setWordWrap(True)
        layout.addWidget(self.counts_label)
        layout.addStretch(1)
        self._records: list = []
        self._loading = False

    def set_templates(self, records: list, ticked_ids: list[int], weights: dict[int, float] | None = None,
                      mode: str = "random", seed: int = 0) -> None:
        """Show the project's templates; tick ``ticked_ids``."""
        self._loading = True
        self._records = list(records)
        self.table.setRowCount(len(records))
        for i, rec in enumerate(records):
            item = QTableWidgetItem(rec.name)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Checked if rec.id in ticked_ids else Qt.CheckState.Unchecked)
            self.table.setItem(i, 0, item)
            spin = QDoubleSpinBox()
            spin.setRange(0.0, 100.0)
            spin.setDecimals(1)
            spin.setValue((weights or {}).get(rec.id, 1.0))
            spin.setToolTip("Random mode: how often this template is drawn relative to the others.")
            spin.valueChanged.connect(self._edited)
            self.table.setCellWidget(i, 1, spin)
        self.mode_combo.setCurrentIndex(max(0, MODES.index(mode) if mode in MODES else 0))
        self.seed_spin.setValue(seed)
        self._loading = False
        self._update_enabled()

    def ticked_ids(self) -> list[int]:
        return [rec.id for i, rec in enumerate(self._records)
                if self.table.item(i, 0).checkState() == Qt.CheckState.Checked]

    def weights(self) -> list[float]:
        return [self.table.cellWidget(i, 1).value() for i, rec in enumerate(self._records)
                if self.table.item(i, 0).checkState() == Qt.CheckState.Checked]

    def mode(self) -> str:
        return self.mode_combo.currentData()

    def set_tick(self, template_id: int, ticked: bool = True) -> None:
        for i, rec in enumerate(self._records):
            if rec.id == template_id:
                self.table.item(i, 0).setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    def template_set(self, texts_by_id: dict[int, object] | None = None) -> TemplateSet | None:
        """The ticked templates as a set; ``texts_by_id`` overrides a template's text (the unsaved editor)."""
        ids = self.ticked_ids()
        if not ids:
            return None
        by_id = {rec.id: rec for rec in self._records}
        templates = []
        for i in ids:
            override = (texts_by_id or {}).get(i)
            rec = by_id[i]
            templates.append(override or PromptTemplate(prompt=rec.prompt, response=rec.response, system=rec.system,
                                                         name=rec.name))
        weights = self.weights() if self.mode() == "random" else None
        if weights and sum(weights) > 0 and len(set(weights)) == 1:
            weights = None  # equal weights: a plain random draw
        return TemplateSet(templates, mode=self.mode(), weights=weights, seed=self.seed_spin.value(),
                           template_ids=ids)

    def show_counts(self, n_rows: int) -> None:
        """``400 rows → 1,200 examples (×3): A 400 · B 400 · C 400``."""
        try:
            template_set = self.template_set()
        except ValueError as exc:
            self.counts_label.setText(f"⚠ {exc}")
            return
        if template_set is None:
            self.counts_label.setText("⚠ Tick at least one template to train on.")
            return
        counts = expansion_counts(template_set, n_rows)
        factor = template_set.expansion_factor()
        per = " · ".join(f"{name} {n:,}" for name, n in counts["per_template"].items())
        grow = f" (×{factor})" if factor > 1 else ""
        self.counts_label.setText(f"<b>{n_rows:,} rows → {counts['examples']:,} training examples{grow}</b>"
                                  + (f"<br>{per}" if len(counts["per_template"]) > 1 else ""))

    def _update_enabled(self) -> None:
        random_mode = self.mode() == "random"
        for i in range(self.table.rowCount()):
            widget = self.table.cellWidget(i, 1)
            if widget is not None:
                widget.setEnabled(random_mode)
        self.seed_spin.setEnabled(random_mode)

    def _edited(self, *_args) -> None:
        if self._loading:
            return
        self._update_enabled()
        self.changed.emit()
