"""Step 5 — Evaluate: the base model and the fine-tuned model(s) answer the same test prompts, side by side.

Two tabs: *Compare* (run an evaluation, a multiple-choice benchmark or the forgetting check; scores as
rows and models as columns with the best marked and the change against the base coloured, a bar chart,
every example with each model's answer sortable by gain or loss and filterable by class, confusion
matrices side by side, export as an HTML report with CSV/JSON) and *Playground* (chat with a model).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QFont
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QFrame, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
    QListWidget,
    QListWidgetItem, QProgressBar, QPushButton, QScrollArea, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem,
    QTabWidget, QVBoxLayout, QWidget,
)

from desktop_ift.core import events as ev
from desktop_ift.core import run_state as rs
from desktop_ift.core import runs as run_ops
from desktop_ift.core.evaluation.results import load_comparison
from desktop_ift.core.job_format import JobError
from desktop_ift.core.store import Store, StoreError
from desktop_ift.core.training.config import ConfigError, GenerationConfig
from desktop_ift.ui import theme
from desktop_ift.ui.app_state import AppState
from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.banner import Banner
from desktop_ift.ui.widgets.config_form import ConfigForm
from desktop_ift.ui.widgets.elided_combo import ElidedComboBox
from desktop_ift.ui.widgets.elided_label import ElidedLabel
from desktop_ift.ui.widgets.eval_confusion import ConfusionView
from desktop_ift.ui.widgets.eval_examples import ExamplesView
from desktop_ift.ui.widgets.page import Page, card, muted_label, section_label

GENERATION_FIELDS = ["max_new_tokens", "max_examples", "temperature", "top_p", "repetition_penalty"]
LABEL_TITLES = {"base": "Base", "fine-tuned": "Fine-tuned"}  # short: a 1024-pixel window gives each ~70 px
LABEL_TIPS = {"base": "The base model, before fine-tuning", "fine-tuned": "The fine-tuned model of the chosen run"}
RESULT_KINDS = ("evaluate", "benchmark")
SETUP_WIDTH = 360  # the settings column's width in a narrow window (it widens for a long run name when it can)
MIN_EXAMPLE_ROWS = 4  # rows of the per-example table a 1024×680 window shows without dragging the splitter


class EvaluatePage(Page):
    key = "evaluate"
    title = "Evaluate"
    subtitle = ("Every model answers the same held-out test prompts; the scores show whether fine-tuning helped "
                "and what got worse.")

    start_requested = Signal(str, str)  # eval run id, job path

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.eval_run_id = ""
        # the shown evaluation run's state: folded from its events by core (run_state), like every screen
        self.eval_state = rs.RunState(run_id="")
        self.preparing = False
        self.labels: list[str] = []
        self.comparison = None
        self.chart = None
        self.answer_length = None  # what the references of the chosen run/split suggest (AnswerLength)
        self._length_request = 0
        self._measured_for: tuple | None = None
        self._picked_run = ""  # the training run chosen in the picker by the user (else the newest is shown)

        self.tabs = QTabWidget()
        compare = QWidget()
        compare_layout = QVBoxLayout(compare)
        compare_layout.setContentsMargins(0, 8, 0, 0)
        top = QHBoxLayout()
        top.setSpacing(12)
        # the settings scroll when the window is short, instead of squashing their fields flat
        setup_scroll = QScrollArea()
        setup_scroll.setWidgetResizable(True)
        setup_scroll.setFrameShape(QFrame.Shape.NoFrame)
        setup_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        setup_scroll.setWidget(self._build_setup_card())
        setup_scroll.setFixedWidth(SETUP_WIDTH + setup_scroll.verticalScrollBar().sizeHint().width() + 4)
        self.setup_scroll = setup_scroll
        # the main button, its progress and its errors in a fixed row under the settings: never scrolled away
        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.setSpacing(8)
        left.addWidget(setup_scroll, 1)
        left.addWidget(self._build_action_box())
        top.addLayout(left, 0)
        top.addWidget(self._build_results_card(), 1)
        top_widget = QWidget()
        top_widget.setLayout(top)
        top.setContentsMargins(0, 0, 0, 0)
        self.compare_split = QSplitter(Qt.Orientation.Vertical)
        self.compare_split.setChildrenCollapsible(False)
        self.compare_split.addWidget(top_widget)
        self.compare_split.addWidget(self._build_details_card())
        self.compare_split.setSizes([470, 380])
        # a taller window grows the settings too (at 1920×1080 they scrolled while the table below was empty)
        self.compare_split.setStretchFactor(0, 1)
        self.compare_split.setStretchFactor(1, 1)
        self._split_dragged = False
        self.compare_split.splitterMoved.connect(lambda *_a: setattr(self, "_split_dragged", True))
        compare_layout.addWidget(self.compare_split, 1)
        self.tabs.addTab(compare, "Compare")
        self.playground = None
        self.tabs.addTab(QWidget(), "Playground")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.body.addWidget(self.tabs, 1)

        state.runs_changed.connect(self.reload_runs)
        state.busy_changed.connect(lambda _b: self._update_button())
        self.reload_runs()

    @property
    def status(self) -> str:
        """The shown evaluation run's status from its :class:`RunState` ("" when none is shown)."""
        return self.eval_state.status if self.eval_state.run_id else ""

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_setup_width()
        self._fit_split()

    def _fit_setup_width(self) -> None:
        """Widen the settings column (from SETUP_WIDTH up to 30 % of the page) so the chosen training run's
        name shows whole when the window has the room; a narrower window keeps SETUP_WIDTH and the name ends
        in "…" (whole on hover)."""
        combo, frame = self.run_combo, self.setup_card
        around = frame.width() - combo.width() if combo.width() > 0 and frame.width() > combo.width() else 24
        wanted = combo.whole_width() + around
        width = max(SETUP_WIDTH, min(wanted, int(self.width() * 0.3)))
        if width == frame.width():
            return
        bar = self.setup_scroll.width() - frame.width()
        frame.setFixedWidth(width)
        self.setup_scroll.setFixedWidth(width + bar)
        self.action_box.setFixedWidth(width + bar)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if obj is self.banner and event.type() == QEvent.Type.Show:
            QTimer.singleShot(0, self._keep_actions_whole)  # once the column has laid the message out
        if obj is self.results_table and event.type() == QEvent.Type.Resize:
            # metric names get a quarter of the scores' width: whole in a wide window, cut ("…") in a narrow one
            self.results_table.verticalHeader().setMaximumWidth(max(88, min(260, event.size().width() // 4)))
        return super().eventFilter(obj, event)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self._fit_split()

    def examples_height(self, rows: int = MIN_EXAMPLE_ROWS) -> int:
        """The height the examples card needs to show ``rows`` rows of the per-example table (its tabs, sort
        bar, shared-prompt line and header included)."""
        details, table = self.compare_split.widget(1), self.examples_table
        chrome = details.height() - table.viewport().height()
        if details.height() <= 0 or table.viewport().height() <= 0:
            chrome = 190  # not laid out yet: what the tabs, the bars and the header take at the default font
        return chrome + rows * table.verticalHeader().defaultSectionSize()

    def _fit_split(self) -> None:
        """Give the settings the height they need (no scrolling) when the window has it, keeping room for at
        least MIN_EXAMPLE_ROWS rows of examples (a short window shrinks the settings and scores first: they
        scroll, the Evaluate button below them stays); a splitter the user dragged stays where it was put."""
        if self._split_dragged:
            return
        total = sum(self.compare_split.sizes())
        if total <= 0:
            return
        action = self.evaluate_button.parentWidget()
        wanted = (self.setup_scroll.widget().sizeHint().height() + action.sizeHint().height() + 16)
        # the examples get at least 4 rows, and two fifths of a tall window (more rows to read at 1920×1080)
        bottom = max(self.examples_height(), int(total * 0.4))
        top = min(wanted, total - bottom)
        top = max(top, self.compare_split.widget(0).minimumSizeHint().height(), self._actions_height())
        self.compare_split.blockSignals(True)
        self.compare_split.setSizes([top, total - top])
        self.compare_split.blockSignals(False)

    # ------------------------------------------------------------------ building
    def _build_setup_card(self) -> QWidget:
        frame, layout = card()
        frame.setFixedWidth(SETUP_WIDTH)
        self.setup_card = frame
        layout.addWidget(section_label("Training run"))
        # the whole run name when the column has room, else "…" and the whole name on hover
        self.run_combo = ElidedComboBox("Only finished training runs have a fine-tuned model to evaluate.")
        self.run_combo.currentIndexChanged.connect(self._run_changed)
        layout.addWidget(self.run_combo)
        self.also_list = QListWidget()
        self.also_list.setToolTip("Tick other finished runs to compare them in the same table "
                                  "(they must share the test split).")
        self.also_list.setMaximumHeight(70)
        self.also_label = muted_label("Also compare with:")
        layout.addWidget(self.also_label)
        layout.addWidget(self.also_list)
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
        # where the longest-answer limit comes from (the references of the chosen split, or the user)
        self.length_note = muted_label("")
        self.length_note.setWordWrap(True)
        layout.addWidget(self.length_note)
        split_row = QHBoxLayout()
        split_row.addWidget(QLabel("Evaluate on"))
        self.split_combo = QComboBox()
        self.split_combo.addItem("the test split", "test")
        self.split_combo.addItem("the validation split", "validation")
        self.split_combo.setToolTip("Which held-out part of the run's data the models answer, or a test set imported "
                                    "separately (laid out with the run's template).")
        self.split_combo.currentIndexChanged.connect(lambda _i: self._refresh_answer_length())
        # long dataset names must not widen the settings column
        self.split_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.split_combo.setMinimumContentsLength(12)
        split_row.addWidget(self.split_combo, 1)
        layout.addLayout(split_row)
        refs_row = QHBoxLayout()
        refs_row.addWidget(QLabel("More references"))
        self.references_edit = QLineEdit(self.state.setting("eval_reference_columns") or "")
        self.references_edit.setPlaceholderText("columns, e.g. summary2, summary3")
        self.references_edit.setToolTip("Columns with more reference answers for each example. ROUGE takes the best "
                                        "reference, BLEU and chrF use all of them.")
        self.references_edit.editingFinished.connect(self._refresh_answer_length)
        refs_row.addWidget(self.references_edit, 1)
        layout.addLayout(refs_row)
        self.stemmer_box = QCheckBox("ROUGE with stemming (as in most papers)")
        self.stemmer_box.setChecked(self.state.setting("eval_use_stemmer") is not False)
        self.stemmer_box.setToolTip("The Porter stemmer of rouge_score: “running” and “runs” count as the same "
                                    "word. Untick for ROUGE without stemming.")
        layout.addWidget(self.stemmer_box)
        self.labels_edit = QLineEdit(self.state.setting("eval_labels") or "")
        self.labels_edit.setPlaceholderText("auto-detect on the test answers (or: train / billing, … / none)")
        self.labels_edit.setToolTip("Label set for accuracy, precision/recall/F1 and the confusion matrix. Empty: "
                                    "detected from the test references when they are a small set of short answers. "
                                    "“train”: detected from the training references. A comma-separated list: use "
                                    "those labels. “none”: free text, no classes. The results say which was used.")
        row = QHBoxLayout()
        row.addWidget(QLabel("Label set"))
        row.addWidget(self.labels_edit, 1)
        layout.addLayout(row)
        self.evaluate_button = QPushButton("Evaluate base vs fine-tuned")
        self.evaluate_button.setProperty("variant", "primary")
        self.evaluate_button.setProperty("size", "large")
        self.evaluate_button.setMinimumHeight(40)
        self.evaluate_button.clicked.connect(self.start)
        self.evaluate_note = muted_label("Generates answers on the test split of the run, with every model. "
                                         "An identical earlier evaluation is reused.")
        layout.addWidget(self.evaluate_note)
        bench = QHBoxLayout()
        self.forgetting_button = QPushButton("Forgetting check")
        self.forgetting_button.setToolTip("40 general-knowledge questions (built in), asked to the base and the "
                                          "fine-tuned model: shows what fine-tuning made worse.")
        self.forgetting_button.clicked.connect(lambda: self.start_benchmark(builtin=True))
        self.benchmark_button = QPushButton("Benchmark files…")
        self.benchmark_button.setToolTip("Multiple-choice files in the MMLU layout (question, A, B, C, D, answer; "
                                         "CSV or JSONL), scored by the likelihood of each answer letter.")
        self.benchmark_button.clicked.connect(lambda: self.start_benchmark(builtin=False))
        self.kshot = QSpinBox()
        self.kshot.setRange(0, 10)
        self.kshot.setSpecialValueText("none (0-shot)")
        self.kshot.setToolTip("Solved examples shown before each question (0: zero-shot).")
        bench.addWidget(self.forgetting_button)
        bench.addWidget(self.benchmark_button)
        layout.addLayout(bench)
        shots = QHBoxLayout()
        shots.addWidget(QLabel("Few-shot examples"))
        shots.addWidget(self.kshot)
        shots.addStretch(1)
        layout.addLayout(shots)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.hide()
        self.progress_label = muted_label()
        self.progress_label.hide()
        self.banner = Banner(closable=True)
        layout.addStretch(1)
        return frame

    def _actions_height(self) -> int:
        """The height the left column needs to show the Evaluate button, its progress and its message whole
        (with a sliver of the settings above them)."""
        action = self.evaluate_button.parentWidget()
        width = action.width()
        needed = action.heightForWidth(width) if action.hasHeightForWidth() else -1
        return self.setup_scroll.minimumSizeHint().height() + 8 + max(needed, action.sizeHint().height())

    def _keep_actions_whole(self) -> None:
        """A message shown under the Evaluate button is never cut: the examples below give up the height."""
        sizes = self.compare_split.sizes()
        need = self._actions_height()
        if len(sizes) == 2 and sizes[0] < need:
            moved = min(need - sizes[0], max(0, sizes[1] - self.compare_split.widget(1).minimumSizeHint().height()))
            self.compare_split.blockSignals(True)
            self.compare_split.setSizes([sizes[0] + moved, sizes[1] - moved])
            self.compare_split.blockSignals(False)

    def _build_action_box(self) -> QWidget:
        """The Evaluate button with its progress and its error messages, always in view."""
        box = QWidget()
        box.setObjectName("EvaluateActions")
        box.setFixedWidth(self.setup_scroll.width())
        self.action_box = box
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, self.setup_scroll.width() - SETUP_WIDTH, 0)
        layout.setSpacing(6)
        # why the button is disabled, in words under it (a disabled button alone says nothing)
        self.blocker_label = muted_label("")
        self.blocker_label.hide()
        for widget in (self.evaluate_button, self.blocker_label, self.progress, self.progress_label, self.banner):
            layout.addWidget(widget)
        self.banner.installEventFilter(self)
        return box

    def _build_results_card(self) -> QWidget:
        frame, layout = card(spacing=8)
        # which evaluation, its date and the export on one line (the "Scores" title is the first tab's name):
        # a short window keeps its height for the scores and the examples
        chooser = QHBoxLayout()
        self.result_combo = QComboBox()
        self.result_combo.setToolTip("Evaluations and benchmarks of this training run, newest first.")
        self.result_combo.currentIndexChanged.connect(self._result_chosen)
        self.result_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.result_combo.setMinimumContentsLength(12)
        chooser.addWidget(self.result_combo, 1)
        self.export_button = QPushButton("Export report…")
        self.export_button.setToolTip("An HTML report with the charts, plus every score and answer as CSV and JSON.")
        self.export_button.clicked.connect(self.export_report)
        self.export_button.setMinimumWidth(self.export_button.sizeHint().width())  # never cut to "xport report."
        chooser.addWidget(self.export_button)
        layout.addLayout(chooser)
        self.results_tabs = QTabWidget()
        self.results_tabs.setDocumentMode(True)
        self.results_table = QTableWidget(0, 0)
        self.results_table.setObjectName("Scores")
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.results_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.results_table.verticalHeader().setDefaultSectionSize(28)
        self.results_table.verticalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.results_table.verticalHeader().setMinimumWidth(80)
        # a long metric name ("Answers cut at the length limit") is cut with "…" (whole on hover), not the scores
        self.results_table.verticalHeader().setMaximumWidth(88)
        self.results_table.installEventFilter(self)
        for header in (self.results_table.verticalHeader(), self.results_table.horizontalHeader()):
            header.setTextElideMode(Qt.TextElideMode.ElideRight)
        # the models' columns share the card's width: no sideways scrolling in a narrow window
        self.results_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.results_table.horizontalHeader().setMinimumSectionSize(60)
        self.results_table.setShowGrid(False)
        self.results_table.setAlternatingRowColors(True)
        self.results_tabs.addTab(self.results_table, "Scores")
        self.chart_holder = QWidget()
        QVBoxLayout(self.chart_holder).setContentsMargins(0, 0, 0, 0)
        self.results_tabs.addTab(self.chart_holder, "Bar chart")
        self.method_view = QLabel()
        self.method_view.setObjectName("HowMeasured")
        self.method_view.setWordWrap(True)
        self.method_view.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.method_view.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        method_scroll = QScrollArea()
        method_scroll.setWidgetResizable(True)
        method_scroll.setFrameShape(QFrame.Shape.NoFrame)
        method_scroll.setWidget(self.method_view)
        self.results_tabs.addTab(method_scroll, "How it was measured")
        layout.addWidget(self.results_tabs, 1)
        # the label set and the answer limit under the table: what accuracy/F1 and the answers depend on (one
        # line; all of it on hover and in "How it was measured")
        self.method_summary = ElidedLabel()
        self.method_summary.setProperty("role", "muted")
        summary_row = QHBoxLayout()
        summary_row.addWidget(self.method_summary, 1)
        self.results_label = muted_label(wrap=False)  # when the shown evaluation ended, or that it is going on
        summary_row.addWidget(self.results_label)
        layout.addLayout(summary_row)
        self.results_empty = muted_label("No evaluation yet. Pick a finished training run and press "
                                         "“Evaluate base vs fine-tuned”.")
        layout.addWidget(self.results_empty)
        return frame

    def _build_details_card(self) -> QWidget:
        frame, layout = card()
        self.details_tabs = QTabWidget()
        self.examples_view = ExamplesView()
        self.examples_table = self.examples_view.table
        self.example_view = self.examples_view.detail
        self.confusion_view = ConfusionView()
        self.details_tabs.addTab(self.examples_view, "Answers, example by example")
        self.details_tabs.addTab(self.confusion_view, "Confusion matrices")
        layout.addWidget(self.details_tabs, 1)
        return frame

    def _tab_changed(self, index: int) -> None:
        if index == 1 and self.playground is None:
            from desktop_ift.ui.pages.playground_widget import PlaygroundWidget

            self.playground = PlaygroundWidget(self.state)
            self.tabs.blockSignals(True)
            self.tabs.removeTab(1)
            self.tabs.insertTab(1, self.playground, "Playground")
            self.tabs.setCurrentIndex(1)
            self.tabs.blockSignals(False)
            self.state.runs_changed.connect(self.playground.reload_models)

    # ------------------------------------------------------------------ runs
    def reload_runs(self) -> None:
        finished = sorted(self.state.finished_runs("train"), key=lambda r: r.created_at, reverse=True)
        # the run the user picked here, else the newest: a run that just finished is the one to evaluate
        wanted = self._picked_run if any(r.id == self._picked_run for r in finished) else (
            finished[0].id if finished else "")
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
        self.run_combo.show_whole_on_hover(self.run_combo.currentText())
        self._fit_setup_width()
        self._fill_also(finished)
        self._update_button()
        self._fill_result_combo()
        if not self.eval_run_id or self._parent_of(self.eval_run_id) != self.run_combo.currentData():
            self._show_latest_for_selected()
        self._fill_test_sets()
        self._refresh_answer_length()

    def _fill_also(self, finished) -> None:
        ticked = set(self.also_runs())
        self.also_list.clear()
        for run in finished:
            if run.id == self.selected_train_run():
                continue
            item = QListWidgetItem(run.name or run.id)
            item.setData(Qt.ItemDataRole.UserRole, run.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if run.id in ticked else Qt.CheckState.Unchecked)
            self.also_list.addItem(item)
        visible = self.also_list.count() > 0
        self.also_list.setVisible(visible)
        self.also_label.setVisible(visible)

    def also_runs(self) -> list[str]:
        """The other training runs ticked for the same comparison."""
        return [self.also_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.also_list.count())
                if self.also_list.item(i).checkState() == Qt.CheckState.Checked]

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
        self._picked_run = self.selected_train_run()
        self._fill_also(self.state.finished_runs("train"))
        self._update_button()
        self._fill_result_combo()
        self._refresh_answer_length()
        self._show_latest_for_selected()

    def _result_runs(self) -> list:
        train_id = self.selected_train_run()
        if not train_id:
            return []
        return [r for kind in RESULT_KINDS for r in self.state.runs(kind) if r.parent_run_id == train_id]

    def _fill_result_combo(self) -> None:
        runs = sorted(self._result_runs(), key=lambda r: r.created_at, reverse=True)
        states = run_ops.run_states(self.state.store, runs)  # the status each one shows, from its events
        self.result_combo.blockSignals(True)
        self.result_combo.clear()
        for run in runs:
            when = time.strftime("%d %b %H:%M", time.localtime(run.created_at))
            what = "Evaluation" if run.kind == "evaluate" else f"Benchmark: {run.name}"
            status = states[run.id]
            note = "" if status.status == "finished" else f" ({status.words.lower()})"
            self.result_combo.addItem(f"{what} — {when}{note}", run.id)
        idx = self.result_combo.findData(self.eval_run_id)
        self.result_combo.setCurrentIndex(max(idx, 0))
        self.result_combo.setVisible(bool(runs))
        self.result_combo.blockSignals(False)

    def _result_chosen(self, _index: int) -> None:
        run_id = self.result_combo.currentData()
        if run_id and run_id != self.eval_run_id:
            self.show_eval(run_id)

    def _show_latest_for_selected(self) -> None:
        evals = [r for r in self.state.runs("evaluate") if r.parent_run_id == self.selected_train_run()] \
            if self.selected_train_run() else []
        others = self._result_runs()
        preferred = next((r for r in others if r.id == self.state.eval_run_id), None)
        finished = run_ops.run_states(self.state.store, evals, probe=None)  # finished needs no liveness probe
        chosen = preferred or next((r for r in evals if finished[r.id].status == "finished"), None) or (
            evals[0] if evals else None)
        self.show_eval(chosen.id if chosen else "")

    def _settings_changed(self) -> None:
        try:
            config = GenerationConfig.from_dict(self.form.values())
        except ConfigError as exc:
            self.banner.show_message(str(exc), "error")
            return
        self.state.remember(generation=config.to_dict())
        self._show_length_note()

    # ------------------------------------------------------------------ longest answer
    def _refresh_answer_length(self) -> None:
        """Measure the references of the chosen run and split (off the GUI thread) and put the derived
        longest-answer limit in the field, saying where it came from."""
        train_id, target = self.selected_train_run(), self.split_combo.currentData() or "test"
        columns = self.reference_columns()
        if self._measured_for == (train_id, target, tuple(columns)):
            return  # already measured (the run list is reloaded often)
        self._measured_for = (train_id, target, tuple(columns))
        split, dataset_id = self.evaluation_target()
        self._length_request += 1
        request = self._length_request
        self.answer_length = None
        if not train_id:
            self.length_note.setText("")
            return
        self.length_note.setText("Measuring the reference answers…")
        home = self.state.store.home

        def work():
            from desktop_ift.core.evaluation.eval_jobs import suggest_answer_length

            with Store.open(home) as store:
                return suggest_answer_length(store, train_id, split, test_dataset_id=dataset_id,
                                             reference_columns=columns)

        def done(result) -> None:
            if request != self._length_request:
                return  # another run or split was chosen meanwhile
            self.answer_length = result
            if result is None:
                self.length_note.setText("Continued pre-training data: the held-out loss and perplexity are "
                                         "measured; nothing is generated.")
                return
            self.form.set_values({"max_new_tokens": result.value})
            self._show_length_note()

        def failed(exc: BaseException) -> None:
            if request == self._length_request:
                self.length_note.setText(f"The reference answers could not be measured: {exc}")

        run_in_background(work, done, failed)

    def _show_length_note(self) -> None:
        suggestion = self.answer_length
        if suggestion is None:
            return  # not measured yet, or nothing is generated (the note says which)
        value = self.form.values().get("max_new_tokens")
        if value == suggestion.value:
            self.length_note.setText(f"Longest answer: {suggestion.text}")
        else:
            self.length_note.setText(f"Longest answer: {value} tokens, set by you (the references suggest "
                                     f"{suggestion.value}; {suggestion.percentile_tokens} tokens is their 99th "
                                     "percentile).")

    def evaluation_target(self) -> tuple[str, int | None]:
        """``(split, test dataset id or None)`` from the "Evaluate on" choice."""
        data = self.split_combo.currentData() or "test"
        if isinstance(data, str) and data.startswith("dataset:"):
            return "test", int(data.split(":", 1)[1])
        return data, None

    def reference_columns(self) -> list[str]:
        return [c.strip() for c in self.references_edit.text().split(",") if c.strip()]

    def _fill_test_sets(self) -> None:
        """The project's datasets as test sets after the run's own splits (keeping the choice)."""
        current = self.split_combo.currentData()
        try:
            datasets = self.state.store.list_datasets(self.state.project.id)
        except (StoreError, AttributeError):
            datasets = []
        self.split_combo.blockSignals(True)
        while self.split_combo.count() > 2:
            self.split_combo.removeItem(2)
        for dataset in datasets:
            self.split_combo.addItem(f"test set: {dataset.label}", f"dataset:{dataset.id}")
        idx = self.split_combo.findData(current)
        self.split_combo.setCurrentIndex(max(idx, 0))
        self.split_combo.blockSignals(False)

    def chosen_max_new_tokens(self) -> int | None:
        """None when the field holds the value derived from the references (the job derives it again and
        records it as such), else the user's value."""
        value = self.form.values().get("max_new_tokens")
        if self.answer_length is not None and value == self.answer_length.value:
            return None
        return int(value) if value else None

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
        for button in (self.evaluate_button, self.forgetting_button, self.benchmark_button):
            button.setEnabled(not blocker)
        self.evaluate_button.setToolTip(blocker or "Generate answers with every model on the test split and score them.")
        if hasattr(self, "blocker_label"):
            self.blocker_label.setText(blocker)
            # not while this page's own evaluation runs: its progress bar says what is going on
            self.blocker_label.setVisible(bool(blocker) and not self.preparing and self.progress.isHidden())

    def label_choice(self):
        """``"auto"``, a list of labels, or None (free text) from the label-set field."""
        text = self.labels_edit.text().strip()
        if not text or text.lower() == "auto":
            return "auto"
        if text.lower() in ("none", "free text", "-"):
            return None
        if text.lower() in ("train", "training"):
            return "train"
        return [x.strip() for x in text.split(",") if x.strip()]

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
        labels = self.label_choice()
        self.state.remember(eval_labels=self.labels_edit.text().strip(), eval_use_stemmer=self.stemmer_box.isChecked(),
                            eval_reference_columns=self.references_edit.text().strip())
        runs = [self.selected_train_run(), *self.also_runs()]
        home = self.state.store.home
        max_new_tokens = self.chosen_max_new_tokens()
        split, dataset_id = self.evaluation_target()
        columns = self.reference_columns()
        use_stemmer = self.stemmer_box.isChecked()

        def work():
            from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job

            with Store.open(home) as store:
                run, job_path = prepare_eval_job(store, runs if len(runs) > 1 else runs[0], generation, labels=labels,
                                                 max_new_tokens=max_new_tokens, split=split, use_stemmer=use_stemmer,
                                                 test_dataset_id=dataset_id, reference_columns=columns)
                return run.id, str(job_path)

        self._prepare(work)

    def start_benchmark(self, builtin: bool) -> None:
        """Start the forgetting check (``builtin``) or a benchmark on files the user picks."""
        blocker = self._blocker()
        if blocker:
            self.banner.show_message(blocker, "error")
            return
        files: list[str] = []
        if not builtin:
            files, _ = QFileDialog.getOpenFileNames(self, "Multiple-choice files (MMLU layout)", "",
                                                    "Benchmark files (*.csv *.tsv *.jsonl *.json)")
            if not files:
                return
        runs = [self.selected_train_run(), *self.also_runs()]
        home, k = self.state.store.home, self.kshot.value()

        def work():
            from desktop_ift.core.evaluation.eval_jobs import prepare_benchmark_job

            with Store.open(home) as store:
                run, job_path = prepare_benchmark_job(store, runs, files=files, builtin="general" if builtin else None,
                                                      k_shot=k)
                return run.id, str(job_path)

        self._prepare(work)

    def _prepare(self, work) -> None:
        self.banner.clear()
        self.preparing = True
        self._update_button()
        run_in_background(work, self._prepared, self._prepare_failed)

    def _prepared(self, result) -> None:
        self.preparing = False
        run_id, job_path = result
        self.state.runs_changed.emit()
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
        self.eval_state = rs.apply(self.eval_state, event)
        if isinstance(event, ev.Started):
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
            self._show_ended_state()
        elif isinstance(event, ev.Cancelled):
            self._set_progress(None, None, "")
            self._show_ended_state()

    def _show_ended_state(self) -> None:
        """Say, in the words of the run's state, how the shown evaluation ended badly (failed, lost, cancelled)."""
        state = self.eval_state
        if state.status in ("failed", "lost"):
            self.banner.show_message(state.hint and f"What to try: {state.hint}" or "See the worker log.",
                                     "error", state.reason or "The evaluation failed.")
        elif state.status == "cancelled":
            self.banner.show_message("The evaluation was cancelled.", "info")

    def _set_progress(self, done: int | None, total: int | None, text: str) -> None:
        visible = done is not None
        self.progress.setVisible(visible)
        self._update_button()  # the reason under the button gives way to the progress
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
        """Show an evaluation or benchmark run's scores and examples from the store ("" clears)."""
        self.eval_run_id = eval_run_id
        self.eval_state = rs.RunState(run_id="")
        if eval_run_id:
            try:
                self.eval_state = run_ops.run_state(self.state.store, eval_run_id)
            except StoreError:
                pass
            self.state.set_eval_run(eval_run_id)
        idx = self.result_combo.findData(eval_run_id)
        if idx >= 0 and idx != self.result_combo.currentIndex():
            self.result_combo.blockSignals(True)
            self.result_combo.setCurrentIndex(idx)
            self.result_combo.blockSignals(False)
        self.fill_results()
        self.fill_examples()

    def _load_comparison(self):
        if not self.eval_run_id:
            return None
        try:
            return load_comparison(self.state.store, self.eval_run_id)
        except StoreError:
            return None

    def fill_results(self) -> None:
        table = self.results_table
        table.clear()
        table.setRowCount(0)
        table.setColumnCount(0)
        results = self.state.store.eval_results(self.eval_run_id) if self.eval_run_id else {}
        self.export_button.setEnabled(bool(results))
        if not results:
            self.method_view.setText("")
            self.method_summary.setText("")
            self.results_tabs.hide()
            self.results_empty.show()
            status = {"running": "Evaluating…", "queued": "Starting…"}.get(self.status, "")
            if self.status in ("failed", "lost"):
                self._show_ended_state()
            self.results_label.setText(status)
            return
        from desktop_ift.core.evaluation.comparison import comparison_rows, format_delta, format_value, is_improvement

        self.results_tabs.show()
        self.results_empty.hide()
        self._fill_method()
        labels = list(results)
        baseline = "base" if "base" in results else labels[0]
        rows = comparison_rows(results, baseline=baseline)
        self.labels = labels
        others = [label for label in labels if label != baseline]
        change_titles = (["Change"] if len(others) == 1 else
                         [f"Δ {LABEL_TITLES.get(label, label)}" for label in others])
        headers = [LABEL_TITLES.get(label, label) for label in labels] + change_titles
        tips = [LABEL_TIPS.get(label, label) for label in labels] + [
            f"Change vs base: {LABEL_TITLES.get(label, label)} minus base (green: better)" for label in others]
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        for c, tip in enumerate(tips):
            table.horizontalHeaderItem(c).setToolTip(tip)
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
            for c, label in enumerate(others, start=len(labels)):
                delta = row.deltas.get(label)
                text, color = format_delta(row.key, delta), theme.MUTED
                if delta is not None:
                    better = is_improvement(row, delta)
                    if better is not None and abs(delta) >= 1e-3:
                        color = theme.SUCCESS if better else theme.DANGER
                    text = ("▲ " if delta > 0 else "▼ " if delta < 0 else "") + text
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setForeground(QBrush(QColor(color)))
                item.setFont(bold)
                table.setItem(r, c, item)
        self._draw_chart(rows, labels)
        try:
            run = self.state.store.get_run(self.eval_run_id)
            when = time.strftime("%d %b %Y %H:%M", time.localtime(run.ended_at or run.created_at))
            state = "" if self.status == "finished" else f" ({self.eval_state.words.lower()})"
            self.results_label.setText(f"  {when}{state}")
        except StoreError:
            pass

    def method_notes(self) -> list[tuple[str, str]]:
        """How the shown evaluation measured (the same lines as the HTML report)."""
        comparison = self._load_comparison()
        return comparison.method_notes() if comparison is not None else []

    def _fill_method(self) -> None:
        import html

        notes = self.method_notes()
        self.method_view.setText("".join(f"<p><b>{html.escape(what)}</b>: {html.escape(how)}</p>"
                                         for what, how in notes))
        brief = dict(notes)
        limit = re.split(r"[:;(]", brief.get("Longest answer", ""))[0].strip()
        parts = [f"Label set: {brief['Label set']}" if "Label set" in brief else "",
                 f"Longest answer: {limit}" if limit else "",
                 brief.get("ROUGE stemming", "") and f"ROUGE: {brief['ROUGE stemming']}",
                 f"Measured: {brief['Measured']}" if "Measured" in brief and "Label set" not in brief else ""]
        self.method_summary.setText(" · ".join(p for p in parts if p))

    def _draw_chart(self, rows, labels) -> None:
        from desktop_ift.ui.widgets.eval_chart import build_chart, draw_scores

        if self.chart is None:
            self.chart = build_chart()
            self.chart.setMinimumHeight(80)  # more would keep the examples below from their rows in a short window
            self.chart_holder.layout().addWidget(self.chart)
        self.chart_bars = draw_scores(self.chart, rows, labels)

    def result_cell(self, metric_name: str, column: int) -> QTableWidgetItem | None:
        """The item for a metric (display name) and column; for tests."""
        for r in range(self.results_table.rowCount()):
            head = self.results_table.verticalHeaderItem(r)
            if head and head.text() == metric_name:
                return self.results_table.item(r, column)
        return None

    def fill_examples(self) -> None:
        self.comparison = self._load_comparison()
        self.examples_view.set_comparison(self.comparison if self.comparison and self.comparison.examples else None)
        self.confusion_view.set_comparison(self.comparison)

    # ------------------------------------------------------------------ export
    def export_report(self) -> None:
        """Ask where to write the HTML report (CSV and JSON go next to it) and write it in the background."""
        if not self.eval_run_id:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export evaluation report", f"{self.eval_run_id}.html",
                                              "HTML report (*.html)")
        if path:
            self.write_report(path)

    def write_report(self, path: str) -> None:
        """Write the report of the shown run to ``path`` (plus CSV/JSON next to it), off the GUI thread."""
        home, run_id = self.state.store.home, self.eval_run_id

        def work():
            from desktop_ift.core.evaluation.report import write_report

            with Store.open(home) as store:
                return [str(p) for p in write_report(load_comparison(store, run_id), path)]

        run_in_background(work, self._report_written,
                          lambda exc: self.banner.show_message(f"{exc}", "error", "The report could not be written"))

    def _report_written(self, files: list[str]) -> None:
        """Say where the report went in a few words that fit under the button (the file names, long and with
        no space to wrap at, were cut at the banner's edge); every file on hover, and a button opens the folder."""
        if not files:
            return
        folder = str(Path(files[0]).parent)
        # the text's room beside the banner's icon, its "Open folder" button and its close button
        room = max(120, self.evaluate_button.width() - 190)
        metrics = self.banner.text_label.fontMetrics()
        lead = f"{len(files)} files in "
        where = metrics.elidedText(folder, Qt.TextElideMode.ElideMiddle, room - metrics.horizontalAdvance(lead))
        # two short lines: the space under the button is small in a 1024×680 window (a longer message was cut)
        self.banner.show_message(lead + where, "success", "Report exported",
                                 action=("Open folder", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(folder))))
        self.banner.text_label.setToolTip("The HTML report, the scores and every answer (CSV), and all of it as "
                                          "JSON:\n" + "\n".join(files))
