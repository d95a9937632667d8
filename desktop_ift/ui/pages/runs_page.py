"""Runs — the history of the project's training runs: status, settings, best validation loss, final scores;
overlay the loss curves of the runs ticked in the table; resume, clone, export (metrics, or the whole run as a
bundle that runs headless on another machine) or delete a run."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QFileDialog, QHeaderView, QMenu, QMessageBox, QPushButton, QSplitter, QStyle,
    QStyledItemDelegate, QStyleOptionViewItem, QTableWidget, QTableWidgetItem, QWidget,
)

from desktop_ift.core import run_curves
from desktop_ift.core import run_state as rs
from desktop_ift.core import runs as run_ops
from desktop_ift.core.job_format import DEMO_MODEL
from desktop_ift.core.store import StoreError
from desktop_ift.ui import theme
from desktop_ift.ui.app_state import AppState
from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.banner import Banner
from desktop_ift.ui.widgets.flow_layout import FlowLayout
from desktop_ift.ui.widgets.page import Page, card, muted_label

COLUMNS = ("", "Status", "Run", "Model", "Method", "Dataset", "Template", "Started", "Duration", "Steps",
           "Best val. loss", "Final scores")
RUN_COL, SCORES_COL = COLUMNS.index("Run"), COLUMNS.index("Final scores")
RUN_MIN, SCORES_MAX = 180, 280  # px
STATUS_TEXT = rs.STATUS_WORDS  # the same words on every screen and in the CLI
STATUS_COLOR = {"finished": theme.SUCCESS, "failed": theme.DANGER, "lost": theme.DANGER, "running": theme.ACCENT,
                "paused": theme.WARNING, "cancelled": theme.MUTED, "queued": theme.MUTED}
OVERLAY_COLORS = ("#4f46e5", "#ea580c", "#0f766e", "#be185d", "#2563eb", "#65a30d", "#9333ea", "#b45309")
SCORE_KEYS = ("accuracy", "exact_match", "f1", "rougeL", "chrf", "bleu")
MAX_OVERLAY = len(OVERLAY_COLORS)


def format_duration(seconds: float | None) -> str:
    """The Monitor's ``m:ss`` / ``h:mm:ss``, blank (not "—") for a run without a duration."""
    text = run_curves.format_duration(seconds)
    return "" if text == "—" else text


def format_scores(scores: dict) -> str:
    shown = [(k, v) for k, v in scores.items() if v is not None]
    shown.sort(key=lambda kv: (SCORE_KEYS.index(kv[0]) if kv[0] in SCORE_KEYS else len(SCORE_KEYS), kv[0]))
    return ", ".join(f"{k} {v:.3f}" for k, v in shown[:3])


def write_bundle(job_path: Path | str, dest: Path | str) -> Path:
    """Write the run bundle of ``job_path`` to ``dest``: a ``.zip`` file when ``dest`` ends in .zip (nothing
    else is left beside it), else a new folder. Returns what was written. Plain Python: runs off the GUI thread.
    """
    from desktop_ift.core.training.bundle import export_bundle

    dest = Path(dest)
    if dest.suffix.lower() != ".zip":
        return export_bundle(job_path, dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".bundle-", dir=dest.parent))  # same disk: the move is a rename
    try:
        archive = export_bundle(job_path, scratch / dest.stem, make_zip=True)
        shutil.move(str(archive), str(dest))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dest


def bundle_instructions(written: Path, model: str) -> str:
    """What to do with a bundle on the other machine, in a few lines."""
    folder = written.stem if written.suffix.lower() == ".zip" else written.name
    unpack = f"unzip {written.name} -d {folder} && " if written.suffix.lower() == ".zip" else ""
    model_arg = "" if model == DEMO_MODEL else " --model /path/to/the/model"
    model_note = ("" if model == DEMO_MODEL else
                  f" The model itself is not in the bundle: copy {model} to that machine and give its path.")
    return (f"Saved the run bundle to {written}.\nOn the other machine (with desktop-ift installed), run:\n"
            f"    {unpack}cd {folder} && ./run.sh{model_arg}\n{model_note.strip()}{' ' if model_note else ''}"
            "The fine-tuned model ends up in its output/ folder; with several GPUs it runs through accelerate "
            "(accelerate_config.yaml).")


class _NoFocusFrame(QStyledItemDelegate):
    """Draws a cell without the keyboard focus frame (the whole row's selection already shows it)."""

    def paint(self, painter, option, index) -> None:
        option = QStyleOptionViewItem(option)
        option.state &= ~QStyle.StateFlag.State_HasFocus
        super().paint(painter, option, index)


class RunsPage(Page):
    key = "runs"
    title = "Runs"
    subtitle = "Every training run of this project. Tick runs to compare their loss curves."

    open_requested = Signal(str)  # show this run on the Monitor page
    resume_requested = Signal(str)
    clone_requested = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.summaries: list[run_ops.RunSummary] = []
        self._plot = None
        self._checked: set[str] = set()
        self._bundle_busy = False

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.header_actions.addWidget(self.refresh_button)

        self.banner = Banner(closable=True)
        self.body.addWidget(self.banner)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        table_card, table_layout = card(margins=10)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The Run column takes the width the others leave (never under RUN_MIN: the table scrolls sideways
        # instead); Final scores keeps to its text, short of room cut with "…" and whole on hover
        header.setSectionResizeMode(RUN_COL, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(SCORES_COL, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.viewport().installEventFilter(self)
        # the tick column has no text: the current cell's focus frame drew a thin empty box beside the tick
        self.table.setItemDelegateForColumn(0, _NoFocusFrame(self.table))
        self.table.itemChanged.connect(self._item_changed)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda *_: self._emit_selected(self.open_requested))
        table_layout.addWidget(self.table, 1)

        actions_host = QWidget()
        actions = FlowLayout(actions_host, spacing=8)  # wraps in a narrow window instead of cutting labels
        self.open_button = QPushButton("Show on Monitor")
        self.open_button.clicked.connect(lambda: self._emit_selected(self.open_requested))
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue a paused, cancelled or lost run from its latest checkpoint.")
        self.resume_button.clicked.connect(lambda: self._emit_selected(self.resume_requested))
        self.clone_button = QPushButton("Clone settings")
        self.clone_button.setToolTip("Open the Train page with this run's model, data, template and settings.")
        self.clone_button.clicked.connect(lambda: self._emit_selected(self.clone_requested))
        # The three exports share one menu (seven buttons did not fit a row of a 1024-pixel window)
        self.export_menu_button = QPushButton("Export")
        menu = QMenu(self.export_menu_button)
        menu.setToolTipsVisible(True)
        self.model_button = menu.addAction("Model…", self.choose_model_export)
        self.model_button.setToolTip(
            "Copy the fine-tuned model of a finished run to a folder of your choice: the LoRA adapter as it is, "
            "or merged into its base model as a standalone model for tools that do not load adapters.")
        self.export_button = menu.addAction("Metrics as CSV…", self.choose_export_path)
        self.export_button.setToolTip("Save the run's per-step metrics as a CSV file.")
        self.bundle_button = menu.addAction("Run bundle…", self.choose_bundle_path)
        self.bundle_button.setToolTip(
            "Save this run's settings, prepared data and the exact commands as a folder or .zip, to run it "
            "headless on another machine or a GPU cluster (the model folder is not included).")
        from desktop_ift.ui.gguf_export_action import add_gguf_export  # Export → GGUF… (a child process)
        add_gguf_export(self, menu)
        self.export_menu_button.setMenu(menu)
        self.export_menu_button.setToolTip("Export the model, the metrics or a bundle to run elsewhere")
        self._model_export = None  # the export child process while one runs
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setProperty("variant", "danger")
        self.delete_button.clicked.connect(self.delete_selected)
        for b in (self.open_button, self.resume_button, self.clone_button, self.export_menu_button,
                  self.delete_button):
            actions.addWidget(b)
        table_layout.addWidget(actions_host)
        self.detail_label = muted_label()
        table_layout.addWidget(self.detail_label)
        splitter.addWidget(table_card)

        plot_card, self.plot_layout = card(margins=8)
        self.overlay_hint = muted_label("Tick runs in the first column to overlay their loss curves here.")
        self.plot_layout.addWidget(self.overlay_hint)
        splitter.addWidget(plot_card)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 360])  # the table shows several runs in the smallest window
        self.splitter = splitter
        self.body.addWidget(splitter, 1)

        state.runs_changed.connect(self.refresh)
        self._selection_changed()

    # ------------------------------------------------------------------ table
    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.refresh()
        super().showEvent(event)

    def refresh(self) -> None:
        """Re-read the runs (each with its RunState: a vanished worker reads lost) and redraw the table and the
        overlay."""
        if not self.isVisible():
            self._stale = True  # read when the page is shown: a hidden table need not cost anything
            return
        self._stale = False
        selected = self.selected_run_id()
        try:
            self.summaries = run_ops.run_summaries(self.state.store, self.state.project.id)
        except StoreError as exc:
            self.banner.show_message(str(exc), "error")
            return
        ids = {s.id for s in self.summaries}
        self._checked &= ids
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.summaries))
        for row, s in enumerate(self.summaries):
            check = QTableWidgetItem()
            check.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            check.setCheckState(Qt.CheckState.Checked if s.id in self._checked else Qt.CheckState.Unchecked)
            check.setData(Qt.ItemDataRole.UserRole, s.id)
            check.setToolTip("Overlay this run's loss curve below")
            self.table.setItem(row, 0, check)
            run = s.run
            state = s.state
            started = run.started_at or run.created_at
            values = [
                STATUS_TEXT.get(s.status, s.status.capitalize()),
                run.name or run.id,
                s.model, s.method, s.dataset, s.template,
                time.strftime("%d %b %H:%M", time.localtime(started)),
                format_duration(s.duration_s),
                f"{state.step:,} / {state.total_steps:,}" if state.total_steps else (f"{state.step:,}" if state.step else ""),
                f"{s.best_val_loss:.4f}" if s.best_val_loss is not None else "",
                format_scores(s.final_scores),
            ]
            for col, text in enumerate(values, start=1):
                item = QTableWidgetItem(text)
                if col == 1:
                    item.setForeground(QColor(STATUS_COLOR.get(s.status, theme.TEXT)))
                    item.setToolTip(state.reason)
                if col == RUN_COL:
                    item.setToolTip(f"{text}\n{run.id}")
                if col == 10 and s.best_val_step is not None:
                    item.setToolTip(f"at step {s.best_val_step}")
                if col == 11 and s.final_scores:
                    item.setToolTip("\n".join(f"{k}: {v:.4f}" for k, v in s.final_scores.items() if v is not None))
                self.table.setItem(row, col, item)
        self.table.blockSignals(False)
        self._fit_columns()
        if selected in ids:
            self.select_run(selected)
        elif self.summaries:
            self.table.selectRow(0)
        self._selection_changed()
        self._draw_overlay()

    def select_run(self, run_id: str) -> None:
        for row, s in enumerate(self.summaries):
            if s.id == run_id:
                self.table.selectRow(row)
                return

    def selected_run_id(self) -> str:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return ""
        item = self.table.item(rows[0].row(), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item else ""

    def selected_summary(self) -> run_ops.RunSummary | None:
        run_id = self.selected_run_id()
        return next((s for s in self.summaries if s.id == run_id), None)

    def _emit_selected(self, signal) -> None:
        run_id = self.selected_run_id()
        if run_id:
            signal.emit(run_id)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize and watched is self.table.viewport():
            self._fit_columns()
        return super().eventFilter(watched, event)

    def _fit_columns(self) -> None:
        """The width the other columns leave goes to Run and Final scores: both whole when they fit, the Run
        column taking what is left over; short of room, Final scores gives way first (down to SCORES_MAX,
        cut with "…") and the Run column keeps at least RUN_MIN (the table then scrolls sideways)."""
        table, header = self.table, self.table.horizontalHeader()

        def contents(column: int) -> int:  # what ResizeToContents gives a column
            return max(header.sectionSizeHint(column), table.sizeHintForColumn(column))

        run_need, scores_need = contents(RUN_COL), contents(SCORES_COL)
        free = table.viewport().width() - sum(contents(c) for c in range(len(COLUMNS))
                                              if c not in (RUN_COL, SCORES_COL))
        scores = min(scores_need, max(SCORES_MAX, free - run_need))
        table.setColumnWidth(SCORES_COL, scores)
        table.setColumnWidth(RUN_COL, max(RUN_MIN, free - scores))

    def _selection_changed(self) -> None:
        s = self.selected_summary()
        has = s is not None
        self.open_button.setEnabled(has)
        self.clone_button.setEnabled(has)
        self.export_button.setEnabled(has)
        self.export_menu_button.setEnabled(has)
        self.bundle_button.setEnabled(bool(s and not self._bundle_busy and (Path(s.run.run_dir) / "job.json").exists()))
        self.resume_button.setEnabled(bool(s and s.resumable and not self.state.run_active))
        self.model_button.setEnabled(bool(s and s.status == "finished" and self._model_export is None))
        self.delete_button.setEnabled(bool(s and not s.state.is_live))
        if s is None:
            self.detail_label.setText("No training runs yet: start one on the Train page." if not self.summaries else "")
        else:  # the RunState's own words: the Monitor page and `desktop-ift runs show` say the same
            hint = f" What to try: {s.state.hint}" if s.state.hint and s.status in ("failed", "lost") else (
                f" {s.state.hint}" if s.state.hint else "")
            self.detail_label.setText("" if s.status == "running" else f"{s.state.reason}{hint}")

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        run_id = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            if len(self._checked) >= MAX_OVERLAY:
                self.table.blockSignals(True)
                item.setCheckState(Qt.CheckState.Unchecked)
                self.table.blockSignals(False)
                self.banner.show_message(f"At most {MAX_OVERLAY} runs can be overlaid at once.", "info")
                return
            self._checked.add(run_id)
        else:
            self._checked.discard(run_id)
        self._draw_overlay()

    def set_checked(self, run_ids: list[str]) -> None:
        """Tick these runs (and untick the others) for the overlay."""
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            want = item.data(Qt.ItemDataRole.UserRole) in run_ids
            item.setCheckState(Qt.CheckState.Checked if want else Qt.CheckState.Unchecked)

    # ------------------------------------------------------------------ overlay
    def _ensure_plot(self):
        if self._plot is None:
            from desktop_ift.ui.widgets.plots import make_plot
            from desktop_ift.ui.widgets.run_plots import LegendRow

            self._plot = make_plot("Training loss (smoothed) and validation loss", "loss")
            self._plot.getPlotItem().setTitle(None)  # the title is in the legend row above the plot
            self._plot.setMouseEnabled(x=True, y=True)
            # the legend is a row above the plot, as on the Monitor: a box inside the plot covered the curves
            self.legend = LegendRow("Loss (smoothed)")  # short: the names need the row at 1024 px
            self.plot_layout.addWidget(self.legend)
            self.plot_layout.addWidget(self._plot, 1)
        return self._plot

    def overlay_run_ids(self) -> list[str]:
        return [s.id for s in self.summaries if s.id in self._checked]

    def _draw_overlay(self) -> None:
        ids = self.overlay_run_ids()
        self.overlay_hint.setVisible(not ids)
        if not ids and self._plot is None:
            return
        import numpy as np
        import pyqtgraph as pg

        from desktop_ift.ui.widgets.curves import smooth
        from desktop_ift.ui.widgets.plots import line_pen

        plot = self._ensure_plot()
        plot.clear()
        entries = []
        any_validation = False
        self.overlay_curves = {}
        store = self.state.store
        names = {s.id: (s.run.name or s.id) for s in self.summaries}
        for i, run_id in enumerate(ids):
            color = OVERLAY_COLORS[i % len(OVERLAY_COLORS)]
            loss = store.metric_series(run_id, "loss")
            if loss:
                arr = np.asarray(loss, dtype=np.float64)
                curve = plot.plot(arr[:, 0], smooth(arr[:, 1], 0.85), pen=line_pen(color, 2.0))
                entries.append((line_pen(color, 2.0), False, names[run_id]))
                curve.setDownsampling(auto=True, method="peak")
                curve.setClipToView(True)
                self.overlay_curves[run_id] = curve
            val = store.metric_series(run_id, "eval_loss")
            if val:
                arr = np.asarray(val, dtype=np.float64)
                plot.plot(arr[:, 0], arr[:, 1], pen=pg.mkPen(QColor(color), width=1.2, style=Qt.PenStyle.DashLine),
                          symbol="o", symbolSize=6, symbolBrush=pg.mkBrush(color), symbolPen=None)
                any_validation = True
        if any_validation:  # one entry says what the dashed lines with dots are, in each run's colour
            entries.append((pg.mkPen(QColor(theme.MUTED), width=1.2, style=Qt.PenStyle.DashLine), True,
                            "validation (dashed)"))
        self.legend.set_entries(entries)
        self._plot.setVisible(bool(ids))
        self.legend.setVisible(bool(ids))

    # ------------------------------------------------------------------ actions
    def confirm(self, title: str, text: str, ok: str) -> bool:
        """Ask before something that cannot be undone (tests replace this method)."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        yes = box.addButton(ok, QMessageBox.ButtonRole.DestructiveRole)
        no = box.addButton("Keep it", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(no)
        box.exec()
        return box.clickedButton() is yes

    def delete_selected(self) -> None:
        s = self.selected_summary()
        if s is None:
            return
        doomed = run_ops.runs_to_delete(self.state.store, s.id)
        extra = (f" and its {len(doomed) - 1} evaluation run{'s' if len(doomed) > 2 else ''}"
                 if len(doomed) > 1 else "")
        text = (f"Delete “{s.run.name or s.id}”{extra}? Its curves, checkpoints and fine-tuned model "
                f"({s.run.run_dir}) are removed from disk. This cannot be undone.")
        if not self.confirm("Delete run?", text, "Delete run"):
            return
        try:
            run_ops.delete_run(self.state.store, s.id)
        except (run_ops.RunActionError, StoreError) as exc:
            self.banner.show_message(str(exc), "error", "The run was not deleted")
            return
        self._checked.discard(s.id)
        if self.state.train_run_id == s.id:
            self.state.set_train_run("")
        self.banner.show_message(f"Deleted {s.run.name or s.id}.", "info")
        self.state.runs_changed.emit()
        self.refresh()

    def choose_export_path(self) -> None:
        s = self.selected_summary()
        if s is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", str(Path.home() / f"{s.id}-metrics.csv"),
                                              "CSV files (*.csv)")
        if path:
            self.export_metrics(s.id, path)

    def export_metrics(self, run_id: str, path: str | Path) -> bool:
        try:
            rows = run_ops.export_metrics_csv(self.state.store, run_id, path)
        except (run_ops.RunActionError, StoreError) as exc:
            self.banner.show_message(str(exc), "error", "Export failed")
            return False
        self.banner.show_message(f"Saved {rows:,} rows of metrics to {path}.", "info")
        return True

    def ask_merge(self, summary) -> bool | None:
        """For an adapter run: merge into the base (True), the adapter alone (False), or cancel (None)."""
        box = QMessageBox(self)
        box.setWindowTitle("Export model")
        box.setText("Export this run's model as:")
        box.setInformativeText(
            "A standalone model: the LoRA adapter merged into its base model, loaded by any tool that reads "
            "Hugging Face models (as large as the base model; needs the base model on this computer).\n\n"
            "The adapter only: a few megabytes, loaded on top of the same base model with peft.")
        merged = box.addButton("Standalone model", QMessageBox.ButtonRole.AcceptRole)
        alone = box.addButton("Adapter only", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return True if box.clickedButton() is merged else False if box.clickedButton() is alone else None

    def choose_model_export(self) -> None:
        """Ask how (an adapter run) and where to export the selected run's model, then export it."""
        s = self.selected_summary()
        if s is None:
            return
        merge = False
        if (s.run.config or {}).get("method") in ("lora", "dora", "qlora"):
            merge = self.ask_merge(s)
            if merge is None:
                return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export model to a new folder", str(Path.home() / f"{s.id}-{'merged' if merge else 'model'}"),
            "Folder (no extension)")
        if path:
            self.export_model(s.id, path, merge)

    def export_model(self, run_id: str, dest: str | Path, merge: bool = False):
        """Export ``run_id``'s model to ``dest`` in a child process (merging loads the model: never in the
        GUI); the banner says where it went, or what went wrong. Returns the process."""
        import sys

        from PySide6.QtCore import QProcess, QProcessEnvironment

        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("DESKTOP_IFT_HOME", str(self.state.store.home))
        env.insert("HF_HUB_OFFLINE", "1")  # everything it needs is on this computer
        proc.setProcessEnvironment(env)
        proc.setStandardInputFile(QProcess.nullDevice())
        self._model_export = proc
        self.model_button.setEnabled(False)
        self.banner.show_message(f"{'Merging and exporting' if merge else 'Exporting'} the model of {run_id} to "
                                 f"{dest}…", "info")

        def finished(code: int, _status) -> None:
            out = bytes(proc.readAllStandardOutput()).decode("utf-8", "replace").strip().splitlines()
            err = bytes(proc.readAllStandardError()).decode("utf-8", "replace").strip().splitlines()
            self._model_export = None
            proc.deleteLater()  # one process object per export, not kept for the window's life
            self._selection_changed()
            if code == 0 and out:
                self.banner.show_message(out[0], "success", "Model exported")
            else:
                said = [line.removeprefix("desktop-ift: ") for line in err if line.startswith("desktop-ift: ")]
                self.banner.show_message(said[-1] if said else (err[-1] if err else f"exit code {code}"), "error",
                                         "Export failed")

        proc.finished.connect(finished)
        args = ["-m", "desktop_ift", "runs", "export-model", run_id, str(dest)] + (["--merge"] if merge else [])
        proc.start(sys.executable, args)
        return proc

    def choose_bundle_path(self) -> None:
        """Ask where to write the selected run's bundle (a .zip, or a new folder), then write it."""
        s = self.selected_summary()
        if s is None:
            return
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export run bundle", str(Path.home() / f"{s.id}-bundle.zip"),
            "Zip archive (*.zip);;Folder (no extension)")
        if not path:
            return
        if chosen.startswith("Zip") and not path.lower().endswith(".zip"):
            path += ".zip"
        self.export_bundle(s.id, path)

    def export_bundle(self, run_id: str, dest: str | Path):
        """Write the bundle of ``run_id`` to ``dest`` in the background; the banner says where it went and
        what command runs it elsewhere. Returns the background task."""
        summary = next((x for x in self.summaries if x.id == run_id), None)
        if summary is None:
            return None
        job_path = Path(summary.run.run_dir) / "job.json"
        model = (summary.run.config or {}).get("model", "")
        self._bundle_busy = True
        self.bundle_button.setEnabled(False)
        self.banner.show_message(f"Writing the run bundle to {dest}…", "info")

        def done(written: Path) -> None:
            self._bundle_busy = False
            self._selection_changed()
            self.banner.show_message(bundle_instructions(Path(written), model), "success", "Run bundle exported")

        def failed(exc: BaseException) -> None:
            self._bundle_busy = False
            self._selection_changed()
            if isinstance(exc, FileExistsError):
                text = f"{dest} already exists. Choose a new folder name (or a .zip file)."
            elif isinstance(exc, OSError):
                text = f"The bundle could not be written to {dest}: {exc.strerror or exc}. Choose another place."
            else:
                text = f"The bundle could not be written: {exc}"
            self.banner.show_message(text, "error", "Export failed")

        return run_in_background(lambda: write_bundle(job_path, dest), done, failed)
