"""Step 4 — Monitor: the live loss and learning-rate curves, progress and the log of a training run."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox, QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton,
    QToolButton, QVBoxLayout, QWidget,
)

from desktop_ift.core import events as ev
from desktop_ift.core.store import StoreError
from desktop_ift.ui import theme
from desktop_ift.ui.app_state import AppState
from desktop_ift.ui.widgets.banner import Banner
from desktop_ift.ui.widgets.page import Page, card, muted_label, set_style_property
from desktop_ift.ui.widgets.series import GrowingSeries, Smoother

VALIDATION_KEYS = ("eval_loss", "validation_loss", "val_loss", "loss")
LOG_TAIL_BYTES = 64 * 1024
STATUS_TEXT = {"queued": "Queued", "running": "Running", "finished": "Finished", "failed": "Failed",
               "cancelled": "Cancelled", "": "No run"}


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def validation_loss(metrics: dict) -> float | None:
    for key in VALIDATION_KEYS:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


class MonitorPage(Page):
    key = "monitor"
    title = "Monitor"
    subtitle = "Follow a training run live: the loss should go down. It keeps going if you switch pages."

    cancel_requested = Signal(str)  # run id
    run_selected = Signal(str)  # the user picked another run in the combo

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.run_id = ""
        self.status = ""
        self.last_seq = 0
        self.total_steps = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.loss = GrowingSeries()
        self.smoothed = GrowingSeries()
        self.val = GrowingSeries()
        self.lr = GrowingSeries()
        self._smoother = Smoother()
        self._log_pos = 0
        self._controller_running = False

        self.run_combo = QComboBox()
        self.run_combo.setMinimumWidth(340)
        self.run_combo.setToolTip("Training runs of this project, newest first")
        self.run_combo.currentIndexChanged.connect(self._combo_changed)
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setProperty("variant", "danger")
        self.cancel_button.clicked.connect(lambda: self.cancel_requested.emit(self.run_id))
        self.header_actions.addWidget(QLabel("Run"))
        self.header_actions.addWidget(self.run_combo)
        self.header_actions.addWidget(self.cancel_button)

        self.body.addWidget(self._build_progress_card())
        self.failure_banner = Banner()
        self.body.addWidget(self.failure_banner)

        # The plots are built when first needed (pyqtgraph takes most of a second to import, which the
        # window should not wait for); until then the curves collect in their series.
        self.plots_host = QWidget()
        self.plots_host.setMinimumHeight(240)
        self.plots_layout = QHBoxLayout(self.plots_host)
        self.plots_layout.setContentsMargins(0, 0, 0, 0)
        self.plots_layout.setSpacing(12)
        self._plots_built = False
        self.body.addWidget(self.plots_host, 1)
        self.body.addWidget(self._build_log_pane())

        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        self._clock.start()

        state.runs_changed.connect(self.reload_runs)
        self.reload_runs()
        self._show_empty()

    # ------------------------------------------------------------------ building
    def ensure_plots(self) -> None:
        """Create the loss and learning-rate plots (imports pyqtgraph) and draw the collected points."""
        if self._plots_built:
            return
        self._plots_built = True
        import pyqtgraph as pg

        from desktop_ift.ui.widgets.plots import line_pen, make_plot

        loss_card, loss_layout = card(margins=8)
        self.loss_plot = make_plot("Loss", "loss")
        self.loss_plot.addLegend(offset=(-10, 10), labelTextColor=theme.TEXT, brush=pg.mkBrush(255, 255, 255, 220))
        self._raw_curve = self.loss_plot.plot(pen=line_pen(theme.ACCENT, 1.2, 95), name="training (raw)")
        self._smooth_curve = self.loss_plot.plot(pen=line_pen(theme.ACCENT, 2.4), name="training (smoothed)")
        self._val_curve = self.loss_plot.plot(
            pen=line_pen(theme.VALIDATION, 1.5, 160), symbol="o", symbolSize=8,
            symbolBrush=pg.mkBrush(theme.VALIDATION), symbolPen=pg.mkPen("#ffffff", width=1.5), name="validation")
        loss_layout.addWidget(self.loss_plot)
        lr_card, lr_layout = card(margins=8)
        self.lr_plot = make_plot("Learning rate", "")
        self._lr_curve = self.lr_plot.plot(pen=line_pen("#0f766e", 2.0))
        self.lr_plot.getPlotItem().getAxis("left").setStyle(tickTextWidth=48, autoExpandTextSpace=True)
        lr_layout.addWidget(self.lr_plot)
        self.plots_layout.addWidget(loss_card, 5)
        self.plots_layout.addWidget(lr_card, 2)
        self._redraw()

    @property
    def raw_curve(self):
        self.ensure_plots()
        return self._raw_curve

    @property
    def smooth_curve(self):
        self.ensure_plots()
        return self._smooth_curve

    @property
    def val_curve(self):
        self.ensure_plots()
        return self._val_curve

    @property
    def lr_curve(self):
        self.ensure_plots()
        return self._lr_curve

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.ensure_plots()
        super().showEvent(event)

    def _build_progress_card(self) -> QWidget:
        frame, layout = card()
        top = QHBoxLayout()
        self.status_badge = QLabel("No run")
        self.status_badge.setObjectName("StatusBadge")
        self.run_label = QLabel("")
        self.run_label.setProperty("role", "section")
        self.stage_label = muted_label(wrap=False)
        top.addWidget(self.status_badge)
        top.addWidget(self.run_label)
        top.addSpacing(8)
        top.addWidget(self.stage_label, 1)
        layout.addLayout(top)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        grid = QGridLayout()
        grid.setHorizontalSpacing(28)
        grid.setVerticalSpacing(0)
        self.figures: dict[str, QLabel] = {}
        for i, (key, text) in enumerate((("step", "Step"), ("epoch", "Epoch"), ("loss", "Loss"),
                                         ("elapsed", "Elapsed"), ("eta", "Time left"),
                                         ("speed", "Tokens / s"), ("memory", "Memory"))):
            value = QLabel("—")
            value.setProperty("role", "figure")
            caption = QLabel(text)
            caption.setProperty("role", "caption")
            grid.addWidget(value, 0, i)
            grid.addWidget(caption, 1, i)
            self.figures[key] = value
        grid.setColumnStretch(7, 1)
        layout.addLayout(grid)
        return frame

    def _build_log_pane(self) -> QWidget:
        host = QWidget()
        layout = QVBoxLayout(host)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        row = QHBoxLayout()
        self.log_toggle = QToolButton()
        self.log_toggle.setProperty("role", "disclosure")
        self.log_toggle.setText("Worker log")
        self.log_toggle.setCheckable(True)
        self.log_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.log_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.log_toggle.toggled.connect(self._toggle_log)
        self.log_path_label = muted_label(wrap=False)
        row.addWidget(self.log_toggle)
        row.addWidget(self.log_path_label, 1)
        layout.addLayout(row)
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("LogView")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setFont(theme.monospace_font())
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.setFixedHeight(180)
        self.log_view.hide()
        layout.addWidget(self.log_view)
        return host

    def _toggle_log(self, shown: bool) -> None:
        self.log_view.setVisible(shown)
        self.log_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        if shown:
            self._tail_log()

    # ------------------------------------------------------------------ runs
    def reload_runs(self) -> None:
        runs = self.state.runs("train")
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for run in runs:
            when = time.strftime("%d %b %H:%M", time.localtime(run.created_at))
            self.run_combo.addItem(f"{run.name or run.id} — {STATUS_TEXT.get(run.status, run.status)} — {when}",
                                   run.id)
        if not runs:
            self.run_combo.addItem("No training runs yet", "")
        self.run_combo.setEnabled(bool(runs))
        idx = self.run_combo.findData(self.run_id)
        self.run_combo.setCurrentIndex(max(idx, 0))
        self.run_combo.blockSignals(False)

    def _combo_changed(self, index: int) -> None:
        run_id = self.run_combo.itemData(index)
        if run_id and run_id != self.run_id:
            self.run_selected.emit(run_id)

    def set_controller_running(self, running: bool) -> None:
        self._controller_running = running
        self._update_cancel()

    def _update_cancel(self) -> None:
        can = self._controller_running and self.status in ("running", "queued")
        self.cancel_button.setEnabled(can)
        self.cancel_button.setToolTip("Stop the run after it saves a checkpoint." if can
                                      else "No run of this window is in progress.")

    def _show_empty(self) -> None:
        if not self.run_id:
            self._set_status("")
            self.run_label.setText("")
            self.stage_label.setText("Start a run on the Train page; its curves appear here.")

    # ------------------------------------------------------------------ loading a run
    def clear(self) -> None:
        for series in (self.loss, self.smoothed, self.val, self.lr):
            series.clear()
        self._smoother.reset()
        self.last_seq = 0
        self.total_steps = 0
        self.started_at = self.ended_at = None
        self.failure_banner.clear()
        for label in self.figures.values():
            label.setText("—")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.log_view.clear()
        self._log_pos = 0
        self._redraw()

    def load_run(self, run_id: str) -> None:
        """Show a run: draw everything the store already has (re-attach), then follow new events."""
        self.clear()
        self.run_id = run_id
        self.reload_runs()
        if not run_id:
            self._show_empty()
            return
        try:
            run = self.state.store.get_run(run_id)
        except StoreError as exc:
            self.failure_banner.show_message(str(exc), "error")
            return
        store = self.state.store
        self.last_seq = store.last_seq(run_id)
        for step, value in store.metric_series(run_id, "loss"):
            self._add_loss(step, value)
        for step, value in store.metric_series(run_id, "learning_rate"):
            self.lr.append(step, value)
        names = set(store.metric_names(run_id))
        for key in VALIDATION_KEYS[:-1]:
            if key in names:
                self.val.extend([(s, v) for s, v in store.metric_series(run_id, key)])
                break
        epochs = store.metric_series(run_id, "epoch")
        self.total_steps = run.total_steps
        self.started_at, self.ended_at = run.started_at, run.ended_at
        self.run_label.setText(run.name or run.id)
        self.run_label.setToolTip(run.id)
        self._set_progress(run.last_step, run.total_steps, epochs[-1][1] if epochs else None)
        if self.loss.n:
            self.figures["loss"].setText(f"{self.loss.last_y():.4f}")
        for name, key, fmt in (("tokens_per_second", "speed", "{:,.0f}"), ("memory_mb", "memory", "{:,.0f} MB")):
            series = store.metric_series(run_id, name)
            if series:
                self.figures[key].setText(fmt.format(series[-1][1]))
        self._set_status(run.status)
        self.stage_label.setText({"queued": "Waiting for the worker to start…",
                                  "running": "Training…"}.get(run.status, ""))
        if run.status == "failed":
            self._show_failure(run.message, run.hint)
        elif run.status == "cancelled":
            self.stage_label.setText(run.message or "Cancelled.")
        elif run.status == "finished":
            self.stage_label.setText("Done. Compare the fine-tuned model with the base on the Evaluate page.")
        self.log_path_label.setText(str(store.run_dir(run_id) / "worker.log"))
        self._tick()
        self._redraw()
        self._tail_log()

    # ------------------------------------------------------------------ live events
    def on_event(self, event: ev.Event) -> None:
        """Apply one event of the shown run (others and already-seen ones are ignored)."""
        if event.run_id != self.run_id or event.seq <= self.last_seq:
            return
        self.last_seq = event.seq
        if isinstance(event, ev.Started):
            self.started_at = event.time
            self.total_steps = event.total_steps or self.total_steps
            self._set_status("running")
            self.stage_label.setText(f"Training on {event.device}…" if event.device else "Training…")
            self._set_progress(0, self.total_steps, None)
            self.reload_runs()
        elif isinstance(event, ev.Progress):
            total = f" ({event.done}/{event.total})" if event.total else ""
            self.stage_label.setText(f"{event.message or event.stage}{total}")
        elif isinstance(event, ev.Log):
            if event.loss is not None:
                self._add_loss(event.step, event.loss)
                self.figures["loss"].setText(f"{event.loss:.4f}")
            if event.learning_rate is not None:
                self.lr.append(event.step, event.learning_rate)
            self.total_steps = event.total_steps or self.total_steps
            self._set_progress(event.step, self.total_steps, event.epoch)
            if event.tokens_per_second is not None:
                self.figures["speed"].setText(f"{event.tokens_per_second:,.0f}")
            if event.memory_mb is not None:
                self.figures["memory"].setText(f"{event.memory_mb:,.0f} MB")
            if event.elapsed_s is not None:
                self.started_at = time.time() - event.elapsed_s
                self.figures["elapsed"].setText(format_duration(event.elapsed_s))
            self.figures["eta"].setText(format_duration(event.eta_s))
            self.stage_label.setText("Training…")
            if self.status != "running":
                self._set_status("running")
            self._redraw()
        elif isinstance(event, ev.Eval):
            value = validation_loss(event.metrics)
            if value is not None and not event.model_label:
                self.val.append(event.step, value)
                self._redraw()
                self.stage_label.setText(f"Validation loss at step {event.step}: {value:.4f}")
        elif isinstance(event, ev.Checkpoint):
            self.stage_label.setText(f"Checkpoint saved at step {event.step}.")
        elif isinstance(event, ev.Finished):
            self.ended_at = event.time
            self._set_status("finished")
            self.figures["eta"].setText("0:00")
            if self.total_steps:
                self._set_progress(self.total_steps, self.total_steps, None)
            self.stage_label.setText("Done. Compare the fine-tuned model with the base on the Evaluate page.")
        elif isinstance(event, ev.Failed):
            self.ended_at = event.time
            self._set_status("failed")
            self._show_failure(event.message, event.hint)
            self.stage_label.setText("")
        elif isinstance(event, ev.Cancelled):
            self.ended_at = event.time
            self._set_status("cancelled")
            checkpoint = f" A checkpoint was saved at step {event.step}." if event.checkpoint else ""
            self.stage_label.setText(f"Cancelled at step {event.step}.{checkpoint}")
        if event.terminal:
            self.figures["eta"].setText("—" if event.type != "finished" else "0:00")
            self.reload_runs()
            self._tail_log()

    def _add_loss(self, step: float, value: float) -> None:
        self.loss.append(step, value)
        self.smoothed.append(step, self._smoother.add(value))

    def _redraw(self) -> None:
        if not self._plots_built:
            return
        self.raw_curve.setData(self.loss.xs, self.loss.ys)
        self.smooth_curve.setData(self.smoothed.xs, self.smoothed.ys)
        self.val_curve.setData(self.val.xs, self.val.ys)
        self.lr_curve.setData(self.lr.xs, self.lr.ys)

    def _set_progress(self, step: int, total: int, epoch: float | None) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(step, total))
            self.figures["step"].setText(f"{step:,} / {total:,}")
        elif step:
            self.figures["step"].setText(f"{step:,}")
        if epoch is not None:
            self.figures["epoch"].setText(f"{epoch:.2f}")

    def _set_status(self, status: str) -> None:
        self.status = status
        self.status_badge.setText(STATUS_TEXT.get(status, status.capitalize()))
        set_style_property(self.status_badge, "status", status)
        self.status_badge.setVisible(bool(status))
        self._update_cancel()

    def _show_failure(self, message: str, hint: str) -> None:
        self.failure_banner.show_message(
            (hint and f"What to try: {hint}") or "Open the worker log below for details.", "error",
            message or "The run failed.")

    def _tick(self) -> None:
        if self.started_at and self.status in ("running", "finished", "failed", "cancelled"):
            end = self.ended_at if self.status != "running" else time.time()
            if end:
                self.figures["elapsed"].setText(format_duration(end - self.started_at))
        if self.status == "running" and self.log_view.isVisible():
            self._tail_log()

    # ------------------------------------------------------------------ log tail
    def _tail_log(self) -> None:
        if not self.run_id or not self.log_view.isVisible():
            return
        path = Path(self.state.store.run_dir(self.run_id)) / "worker.log"
        try:
            size = path.stat().st_size
        except OSError:
            if not self.log_view.toPlainText():
                self.log_view.setPlainText("(no log yet)")
            return
        if size < self._log_pos:
            self._log_pos = 0
            self.log_view.clear()
        if size == self._log_pos:
            return
        start = max(self._log_pos, size - LOG_TAIL_BYTES) if self._log_pos == 0 else self._log_pos
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read(size - start)
        self._log_pos = size
        if self.log_view.toPlainText() == "(no log yet)":
            self.log_view.clear()
        text = data.decode("utf-8", errors="replace")
        if text.endswith("\n"):
            text = text[:-1]
        self.log_view.appendPlainText(text)

    def append_log_line(self, line: str) -> None:
        """A stdout line from the worker that is not an event."""
        if self.log_view.isVisible():
            self.log_view.appendPlainText(line)
