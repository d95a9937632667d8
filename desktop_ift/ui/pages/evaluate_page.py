"""Step 5 — Evaluate: the base model and the fine-tuned model answer the same test prompts, side by side."""

from __future__ import annotations

import html
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QSplitter,
    QTableWidget, QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget,
)

from desktop_ift.core import events as ev
from desktop_ift.core.jobs import JobError
from desktop_ift.core.store import Store, StoreError
from desktop_ift.core.training.config import ConfigError, GenerationConfig
from desktop_ift.ui import theme
from desktop_ift.ui.app_state import AppState
from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.banner import Banner
from desktop_ift.ui.widgets.config_form import ConfigForm
from desktop_ift.ui.widgets.page import Page, card, muted_label, section_label

GENERATION_FIELDS = ["max_new_tokens", "max_examples", "temperature"]
LABEL_TITLES = {"base": "Base model", "fine-tuned": "Fine-tuned"}
EXAMPLE_CHARS = 200


def _short(text: str, limit: int = EXAMPLE_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


class EvaluatePage(Page):
    key = "evaluate"
    title = "Evaluate"
    subtitle = ("Both models answer the same held-out test prompts; the scores show whether fine-tuning helped.")

    start_requested = Signal(str, str)  # eval run id, job path

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.eval_run_id = ""
        self.status = ""  # of the shown evaluation run: running, finished, failed, cancelled
        self.preparing = False
        self.labels: list[str] = []
        self._examples: list[dict] = []
        self._shown_once = False

        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(self._build_setup_card(), 0)
        top.addWidget(self._build_results_card(), 1)
        self.body.addLayout(top, 0)
        self.body.addWidget(self._build_examples_card(), 1)

        state.runs_changed.connect(self.reload_runs)
        state.busy_changed.connect(lambda _b: self._update_button())
        self.reload_runs()

    # ------------------------------------------------------------------ building
    def _build_setup_card(self) -> QWidget:
        frame, layout = card()
        frame.setFixedWidth(380)
        layout.addWidget(section_label("Training run"))
        self.run_combo = QComboBox()
        self.run_combo.setToolTip("Only finished training runs have a fine-tuned model to evaluate.")
        self.run_combo.currentIndexChanged.connect(self._run_changed)
        layout.addWidget(self.run_combo)
        layout.addSpacing(4)
        layout.addWidget(section_label("Decoding"))
        saved = self.state.setting("generation") or {}
        try:
            from desktop_ift.core.demo import DEMO_GENERATION

            defaults = DEMO_GENERATION.to_dict()
        except ImportError:  # pragma: no cover
            defaults = GenerationConfig().to_dict()
        self.form = ConfigForm(GenerationConfig, GENERATION_FIELDS, {**defaults, **saved}, columns=1)
        self.form.changed.connect(self._settings_changed)
        layout.addWidget(self.form)
        layout.addSpacing(6)
        self.evaluate_button = QPushButton("Evaluate base vs fine-tuned")
        self.evaluate_button.setProperty("variant", "primary")
        self.evaluate_button.setProperty("size", "large")
        self.evaluate_button.setMinimumHeight(40)
        self.evaluate_button.clicked.connect(self.start)
        layout.addWidget(self.evaluate_button)
        self.evaluate_note = muted_label("Generates answers on the test split of the run, with both models.")
        layout.addWidget(self.evaluate_note)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.hide()
        self.progress_label = muted_label()
        self.progress_label.hide()
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        self.banner = Banner(closable=True)
        layout.addWidget(self.banner)
        layout.addStretch(1)
        return frame

    def _build_results_card(self) -> QWidget:
        frame, layout = card()
        head = QHBoxLayout()
        head.addWidget(section_label("Scores"))
        self.results_label = muted_label(wrap=False)
        head.addWidget(self.results_label, 1)
        layout.addLayout(head)
        self.results_table = QTableWidget(0, 0)
        self.results_table.setObjectName("Scores")
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.results_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.results_table.verticalHeader().setDefaultSectionSize(30)
        self.results_table.verticalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.results_table.verticalHeader().setMinimumWidth(150)
        self.results_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.results_table.setShowGrid(False)
        self.results_table.setAlternatingRowColors(True)
        layout.addWidget(self.results_table, 1)
        self.results_empty = muted_label("No evaluation yet. Pick a finished training run and press "
                                         "“Evaluate base vs fine-tuned”.")
        layout.addWidget(self.results_empty)
        return frame

    def _build_examples_card(self) -> QWidget:
        frame, layout = card()
        head = QHBoxLayout()
        head.addWidget(section_label("Answers, example by example"))
        head.addWidget(muted_label("Select a row to read it in full.", wrap=False), 1)
        layout.addLayout(head)
        inner = QSplitter(Qt.Orientation.Horizontal)
        inner.setChildrenCollapsible(False)
        inner.setHandleWidth(10)
        self.examples_table = QTableWidget(0, 4)
        self.examples_table.setHorizontalHeaderLabels(["Prompt", "Reference", "Base output", "Fine-tuned output"])
        self.examples_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.examples_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.examples_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.examples_table.setWordWrap(False)
        self.examples_table.setAlternatingRowColors(True)
        self.examples_table.verticalHeader().setDefaultSectionSize(28)
        header = self.examples_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            header.resizeSection(col, 150)
        self.examples_table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.examples_table.itemSelectionChanged.connect(self._show_example)
        self.example_view = QTextBrowser()
        self.example_view.setMinimumWidth(260)
        inner.addWidget(self.examples_table)
        inner.addWidget(self.example_view)
        inner.setSizes([760, 340])
        layout.addWidget(inner, 1)
        return frame

    # ------------------------------------------------------------------ runs
    def reload_runs(self) -> None:
        finished = [r for r in self.state.runs("train") if r.status == "finished"]
        wanted = self.run_combo.currentData() or self._parent_of(self.state.eval_run_id) or self.state.train_run_id
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for run in finished:
            when = time.strftime("%d %b %H:%M", time.localtime(run.created_at))
            self.run_combo.addItem(f"{run.name or run.id} — {when}", run.id)
        if not finished:
            self.run_combo.addItem("No finished training run yet", "")
        self.run_combo.setEnabled(bool(finished))
        idx = self.run_combo.findData(wanted) if wanted else -1
        self.run_combo.setCurrentIndex(max(idx, 0))
        self.run_combo.blockSignals(False)
        self._update_button()
        if not self.eval_run_id or self._parent_of(self.eval_run_id) != self.run_combo.currentData():
            self._show_latest_for_selected()

    def _parent_of(self, eval_run_id: str) -> str:
        if not eval_run_id:
            return ""
        try:
            return self.state.store.get_run(eval_run_id).parent_run_id or ""
        except StoreError:
            return ""

    def selected_train_run(self) -> str:
        return self.run_combo.currentData() or ""

    def _run_changed(self, _index: int) -> None:
        self._update_button()
        self._show_latest_for_selected()

    def _show_latest_for_selected(self) -> None:
        train_id = self.selected_train_run()
        evals = [r for r in self.state.runs("evaluate") if r.parent_run_id == train_id] if train_id else []
        preferred = next((r for r in evals if r.id == self.state.eval_run_id), None)
        chosen = preferred or next((r for r in evals if r.status == "finished"), None) or (evals[0] if evals else None)
        self.show_eval(chosen.id if chosen else "")

    def _settings_changed(self) -> None:
        try:
            config = GenerationConfig.from_dict(self.form.values())
        except ConfigError as exc:
            self.banner.show_message(str(exc), "error")
            return
        self.state.remember(generation=config.to_dict())

    def _blocker(self) -> str:
        if self.state.run_active:
            return "A run is in progress. Wait for it to finish or cancel it on the Monitor page."
        if self.preparing:
            return "Preparing the evaluation…"
        if not self.selected_train_run():
            return "Train a model first: a finished training run is needed."
        return ""

    def _update_button(self) -> None:
        blocker = self._blocker()
        self.evaluate_button.setEnabled(not blocker)
        self.evaluate_button.setToolTip(blocker or "Generate answers with both models on the test split and score them.")

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        blocker = self._blocker()
        if blocker:
            self.banner.show_message(blocker, "error")
            return
        try:
            generation = GenerationConfig.from_dict(self.form.values())
        except (ConfigError, TypeError) as exc:
            self.banner.show_message(str(exc), "error", "Evaluation cannot start")
            return
        self.banner.clear()
        self.preparing = True
        self._update_button()
        home, train_id = self.state.store.home, self.selected_train_run()

        def work():
            from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job

            with Store.open(home) as store:
                run, job_path = prepare_eval_job(store, train_id, generation)
                return run.id, str(job_path)

        run_in_background(work, self._prepared, self._prepare_failed)

    def _prepared(self, result) -> None:
        self.preparing = False
        run_id, job_path = result
        self.show_eval(run_id)
        self._set_progress(0, 0, "Starting the evaluation process…")
        self.start_requested.emit(run_id, job_path)
        self._update_button()

    def _prepare_failed(self, exc: BaseException) -> None:
        self.preparing = False
        self._update_button()
        text = str(exc) if isinstance(exc, (JobError, ValueError)) else f"{exc.__class__.__name__}: {exc}"
        self.banner.show_message(text, "error", "Evaluation cannot start")

    # ------------------------------------------------------------------ live events
    def on_event(self, event: ev.Event) -> None:
        if event.run_id != self.eval_run_id:
            return
        if event.terminal:
            self.status = event.type
        if isinstance(event, ev.Started):
            self.status = "running"
            self._set_progress(0, 0, "Loading the models…")
        elif isinstance(event, ev.Progress):
            self._set_progress(event.done, event.total, event.message or event.stage)
        elif isinstance(event, ev.Eval):
            self.fill_results()
            self.fill_examples()
        elif isinstance(event, ev.Finished):
            self._set_progress(None, None, "")
            self.show_eval(self.eval_run_id)
        elif isinstance(event, ev.Failed):
            self._set_progress(None, None, "")
            self.banner.show_message(event.hint and f"What to try: {event.hint}" or "See the worker log.",
                                     "error", event.message or "The evaluation failed.")
        elif isinstance(event, ev.Cancelled):
            self._set_progress(None, None, "")
            self.banner.show_message("The evaluation was cancelled.", "info")

    def _set_progress(self, done: int | None, total: int | None, text: str) -> None:
        visible = done is not None
        self.progress.setVisible(visible)
        self.progress_label.setVisible(visible and bool(text))
        if not visible:
            return
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done or 0)
            text = f"{text} ({done}/{total})" if text else f"{done}/{total}"
        else:
            self.progress.setRange(0, 0)
        self.progress_label.setText(text)

    # ------------------------------------------------------------------ results
    def show_eval(self, eval_run_id: str) -> None:
        """Show an evaluation run's scores and examples from the store ("" clears)."""
        self.eval_run_id = eval_run_id
        self.status = ""
        if eval_run_id:
            try:
                self.status = self.state.store.get_run(eval_run_id).status
            except StoreError:
                pass
            self.state.set_eval_run(eval_run_id)
        self.fill_results()
        self.fill_examples()

    def fill_results(self) -> None:
        table = self.results_table
        table.clear()
        table.setRowCount(0)
        table.setColumnCount(0)
        results = self.state.store.eval_results(self.eval_run_id) if self.eval_run_id else {}
        if not results:
            table.hide()
            self.results_empty.show()
            status = ""
            if self.eval_run_id:
                try:
                    run = self.state.store.get_run(self.eval_run_id)
                    status = {"running": "Evaluating…", "queued": "Starting…"}.get(run.status, "")
                    if run.status == "failed":
                        self.banner.show_message(run.hint and f"What to try: {run.hint}" or "",
                                                 "error", run.message or "The evaluation failed.")
                except StoreError:
                    pass
            self.results_label.setText(status)
            return
        from desktop_ift.core.evaluation.comparison import comparison_rows, format_value

        table.show()
        self.results_empty.hide()
        labels = list(results)
        baseline = "base" if "base" in results else labels[0]
        rows = comparison_rows(results, baseline=baseline)
        self.labels = labels
        show_delta = len(labels) > 1
        headers = [LABEL_TITLES.get(label, label) for label in labels] + (["Change vs base"] if show_delta else [])
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(len(rows))
        bold = QFont()
        bold.setBold(True)
        for r, row in enumerate(rows):
            head = QTableWidgetItem(row.name)
            head.setToolTip(f"{row.name}: {'higher' if row.higher_is_better else 'lower'} is better")
            table.setVerticalHeaderItem(r, head)
            for c, label in enumerate(labels):
                item = QTableWidgetItem(format_value(row.key, row.values.get(label)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row.best == label:
                    item.setFont(bold)
                    item.setToolTip("Best of the models compared")
                table.setItem(r, c, item)
            if show_delta:
                delta = row.delta
                if delta is None:
                    text, color = "—", theme.MUTED
                else:
                    scale = 2 if row.key in ("bleu", "chrf") else 3
                    text = f"{delta:+.{scale}f}"
                    better = delta > 0 if row.higher_is_better else delta < 0
                    color = theme.MUTED if abs(delta) < 10 ** -scale else (theme.SUCCESS if better else theme.DANGER)
                    arrow = "▲ " if delta > 0 else "▼ " if delta < 0 else ""
                    text = arrow + text
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setForeground(QBrush(QColor(color)))
                item.setFont(bold)
                table.setItem(r, len(labels), item)
        try:
            run = self.state.store.get_run(self.eval_run_id)
            when = time.strftime("%d %b %Y %H:%M", time.localtime(run.ended_at or run.created_at))
            state = "" if run.status == "finished" else f" ({run.status})"
            self.results_label.setText(f"  Evaluated {when}{state}")
        except StoreError:
            pass

    def result_cell(self, metric_name: str, column: int) -> QTableWidgetItem | None:
        """The item for a metric (display name) and column; for tests."""
        for r in range(self.results_table.rowCount()):
            head = self.results_table.verticalHeaderItem(r)
            if head and head.text() == metric_name:
                return self.results_table.item(r, column)
        return None

    def fill_examples(self) -> None:
        table = self.examples_table
        table.setRowCount(0)
        self.example_view.clear()
        rows = self.state.store.eval_examples(self.eval_run_id) if self.eval_run_id else []
        merged: dict[int, dict] = {}
        for row in rows:
            entry = merged.setdefault(row["idx"], {"prompt": row["prompt"], "reference": row["reference"]})
            entry[row["model_label"]] = row["output"]
        self._examples = [merged[k] for k in sorted(merged)]
        table.setRowCount(len(self._examples))
        for r, entry in enumerate(self._examples):
            for c, key in enumerate(("prompt", "reference", "base", "fine-tuned")):
                value = entry.get(key)
                item = QTableWidgetItem(_short(value) if value is not None else "—")
                item.setToolTip(f"<p style='white-space:pre-wrap'>{html.escape(str(value or ''))[:4000]}</p>")
                if c == 3 and value is not None and entry.get("reference") is not None:
                    same = " ".join(str(value).split()).lower() == " ".join(str(entry["reference"]).split()).lower()
                    if same:
                        item.setForeground(QBrush(QColor(theme.SUCCESS)))
                table.setItem(r, c, item)
        if self._examples:
            table.selectRow(0)
        else:
            self.example_view.setHtml("<p style='color:#6b7280'>The answers of both models appear here after "
                                      "an evaluation.</p>")

    def _show_example(self) -> None:
        rows = self.examples_table.selectionModel().selectedRows() if self.examples_table.selectionModel() else []
        if not rows or rows[0].row() >= len(self._examples):
            return
        entry = self._examples[rows[0].row()]

        def part(title: str, text, bg: str) -> str:
            body = html.escape(str(text)) if text is not None else "<span style='color:#9ca3af'>—</span>"
            return (f"<p style='margin:8px 0 3px 0; font-size:11px; font-weight:600; color:#6b7280'>{title}</p>"
                    f"<table width='100%' cellpadding='8' style='background:{bg}'><tr><td "
                    f"style='white-space:pre-wrap'>{body}</td></tr></table>")

        self.example_view.setHtml(
            part("PROMPT", entry.get("prompt"), "#f9fafb") + part("REFERENCE", entry.get("reference"), "#f0fdf4")
            + part("BASE MODEL", entry.get("base"), "#f9fafb")
            + part("FINE-TUNED", entry.get("fine-tuned"), theme.ACCENT_SOFT))
