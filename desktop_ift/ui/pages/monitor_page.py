"""Step 4 — Monitor: a training run live — loss (raw, smoothed, validation), learning rate, gradient norm,
throughput and memory against step, epoch, tokens seen or wall time; progress, ETA and the worker's log;
pause, resume and cancel.

What the run *is* (running, paused, lost, its step, elapsed time, best validation) is its
:class:`~desktop_ift.core.run_state.RunState`, and what its events add to the curves and figures is its
:class:`~desktop_ift.core.run_curves.RunSeries`, both folded from the same events: this page interprets no
event itself, it lays out and draws. The plots are redrawn by a timer a few times a second, so a fast
worker (or a run with hundreds of thousands of points) never floods the GUI thread. A long run is loaded
from the workspace off the GUI thread, and events that arrive meanwhile are applied when it is ready.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QMenu, QPushButton, QSizePolicy, QSlider,
    QWidget,
)

from desktop_ift.core import events as ev
from desktop_ift.core import run_state as rs
from desktop_ift.core import runs as run_ops
from desktop_ift.core.run_curves import (  # noqa: F401 - default_smoothing: imported from here by older code
    PLOTS, X_AXES, RunCurves, RunSeries, default_smoothing, format_duration, memory_title, run_smoothing,
)
from desktop_ift.core.store import Store, StoreError
from desktop_ift.ui.app_state import AppState
from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.page import Page, muted_label
from desktop_ift.ui.widgets.run_progress import RunProgressCard
from desktop_ift.ui.widgets.worker_log import WorkerLogPane

# One plot is redrawn per timer tick, the loss plot every other tick (so about once a second, the others
# every few seconds): repainting a plot costs 5-20 ms (mostly its axis text), all five at once up to 100 ms,
# and the event loop must not stall for more than a frame (benchmarks/gui_responsiveness.py).
REDRAW_MS = 500
REDRAW_ORDER = ("loss", "learning_rate", "loss", "grad_norm", "loss", "tokens_per_second", "loss", "memory_mb")
CROSSHAIR_HINT = "Hover: values · scroll: zoom · drag: pan · double-click: whole run"
PLOTS_MIN, PLOTS_MIN_WITH_LOG = 260, 180  # px: the plots' least height, without and with the log open
SYNC_LOAD_MAX_EVENTS = 20_000  # longer runs load in the background


class MonitorPage(Page):
    key = "monitor"
    title = "Monitor"
    subtitle = "Follow a training run live: the loss should go down. It goes on if you switch pages."

    cancel_requested = Signal(str)  # run id
    pause_requested = Signal(str)
    keep_best_requested = Signal(str)  # emitted after the worker was asked to stop and keep its best
    resume_requested = Signal(str)
    run_selected = Signal(str)  # the user picked another run in the combo

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.run_id = ""
        self.status = ""
        self.run_state = rs.RunState(run_id="")
        self.last_seq = 0
        self.series = RunSeries()
        self.x_axis = "step"
        self.resumable = False
        self._worker_exiting = False  # the run is over but its worker has not exited yet (Resume waits)
        self.loading = False
        self._pending: list[ev.Event] = []
        self._load_token = 0
        self._dirty: set[str] = set()
        self._slot = 0
        self._controller_running = False
        self._plots_built = False
        self._smoothing_chosen = False
        self._auto_smoothing_now = False

        self.run_combo = QComboBox()
        # as wide as ~24 characters whatever the runs are called: a long run name must not squeeze the
        # page title (which then wraps over many lines and takes the plots' height)
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.run_combo.setMinimumContentsLength(30)
        self.run_combo.setToolTip("Training runs of this project, newest first")
        self.run_combo.currentIndexChanged.connect(self._combo_changed)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Save a checkpoint and stop; Resume continues from there.")
        self.pause_button.clicked.connect(lambda: self.pause_requested.emit(self.run_id))
        self.keep_best_button = QPushButton("Stop && keep best")
        self.keep_best_button.clicked.connect(self.stop_keep_best)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setProperty("variant", "primary")
        self.resume_button.clicked.connect(lambda: self.resume_requested.emit(self.run_id))
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setProperty("variant", "danger")
        self.cancel_button.clicked.connect(lambda: self.cancel_requested.emit(self.run_id))
        self.header_actions.addWidget(QLabel("Run"))
        self.header_actions.addWidget(self.run_combo)
        for button in (self.pause_button, self.keep_best_button, self.resume_button, self.cancel_button):
            self.header_actions.addWidget(button)

        self.body.addWidget(self._build_progress_card())
        self.body.addLayout(self._build_toolbar())

        # The plots are built when first needed (pyqtgraph takes most of a second to import, which the
        # window should not wait for); until then the points collect in ``curves``.
        self.plots_host = QWidget()
        self.plots_host.setMinimumHeight(PLOTS_MIN)
        self.plots_layout = QHBoxLayout(self.plots_host)
        self.plots_layout.setContentsMargins(0, 0, 0, 0)
        self.plots_layout.setSpacing(12)
        # the room below the figures goes to the plots; the open log takes a third of it (at most 180 px),
        # the closed log line only its own height (a stretch on it left an empty band above it)
        self.body.addWidget(self.plots_host, 2)
        self.body.addWidget(self._build_log_pane(), 0)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw_tick)
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        self._clock.start()

        state.runs_changed.connect(self.reload_runs)
        self.reload_runs()
        self._show_empty()
        self._update_controls()

    # ------------------------------------------------------------------ building
    def _build_toolbar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(10)
        row.addWidget(QLabel("X axis"))
        self.x_combo = QComboBox()
        for key, label in X_AXES.items():
            self.x_combo.addItem(label.capitalize(), key)
        self.x_combo.setToolTip("Plot the curves against optimizer steps, epochs, tokens seen or wall-clock time")
        self.x_combo.currentIndexChanged.connect(lambda i: self.set_x_axis(self.x_combo.itemData(i)))
        row.addWidget(self.x_combo)
        row.addSpacing(12)
        row.addWidget(QLabel("Smoothing"))
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 99)
        self.smoothing_slider.setValue(int(round(self.curves.smoothing * 100)))
        self.smoothing_slider.setFixedWidth(140)
        self.smoothing_slider.setToolTip("How strongly the training loss is averaged (0: not at all)")
        self.smoothing_slider.valueChanged.connect(self._smoothing_changed)
        self.smoothing_value = QLabel(f"{self.curves.smoothing:.2f}")
        self.smoothing_value.setMinimumWidth(32)
        row.addWidget(self.smoothing_slider)
        row.addWidget(self.smoothing_value)
        row.addSpacing(12)
        self.log_scale_box = QCheckBox("Log scale")
        self.log_scale_box.setToolTip("Show the loss on a logarithmic axis")
        self.log_scale_box.toggled.connect(self.set_log_scale)
        row.addWidget(self.log_scale_box)
        row.addStretch(1)
        self.crosshair_label = muted_label(CROSSHAIR_HINT, wrap=False)
        self.crosshair_label.setToolTip("Values under the mouse on the loss plot. " + CROSSHAIR_HINT)
        # its text changes with every mouse move: it must never resize (and so repaint) the plots
        self.crosshair_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        # a push button, as on the Runs page: its padding holds the menu arrow (a tool button drew it on the text)
        self.export_button = QPushButton("Export")
        self.export_button.setToolTip("Save the loss plot as an image, or the run's metrics as CSV")
        menu = QMenu(self.export_button)
        menu.addAction("Loss plot as PNG…", lambda: self._choose_export("png"))
        menu.addAction("Loss plot as SVG…", lambda: self._choose_export("svg"))
        menu.addAction("Metrics as CSV…", lambda: self._choose_export("csv"))
        self.export_button.setMenu(menu)
        row.addWidget(self.export_button)
        return row

    def ensure_plots(self) -> None:
        """Create the plots (imports pyqtgraph) and draw the collected points."""
        if self._plots_built:
            return
        self._plots_built = True
        from desktop_ift.ui.widgets.run_plots import RunPlots

        self.plots = RunPlots(self.crosshair_label, self._describe_point)
        p = self.plots
        self.loss_plot, self.loss_view, self.crosshair = p.loss_plot, p.loss_view, p.crosshair
        self.side_plots, self.side_curves, self.side_views, self.side_titles = (
            p.side_plots, p.side_curves, p.side_views, p.side_titles)
        self.plots_layout.addWidget(p.loss_card, 3)
        self.plots_layout.addWidget(p.side, 2)
        self._apply_axis_labels()
        self.set_log_scale(self.log_scale_box.isChecked())
        self.redraw_now()

    @property
    def raw_curve(self):
        self.ensure_plots()
        return self.plots.raw_line.item

    @property
    def smooth_curve(self):
        self.ensure_plots()
        return self.plots.smooth_line.item

    @property
    def val_curve(self):
        self.ensure_plots()
        return self.plots.val_curve

    @property
    def lr_curve(self):
        self.ensure_plots()
        return self.side_curves["learning_rate"]

    @property
    def curves(self) -> RunCurves:
        """The run's curves (:attr:`series` feeds them)."""
        return self.series.curves

    @property
    def loss(self) -> RunCurves:
        """The run's curves (``loss.n`` is the number of logged steps)."""
        return self.curves

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.ensure_plots()
        self.progress_card.reserve_banner_height()
        super().showEvent(event)

    def _build_progress_card(self) -> QWidget:
        self.progress_card = RunProgressCard()
        c = self.progress_card
        self.status_badge, self.run_label, self.stage_label = c.status_badge, c.run_label, c.stage_label
        self.detail_stack, self.progress, self.figures, self.failure_banner = (
            c.detail_stack, c.progress, c.figures, c.failure_banner)
        return c.frame

    def _build_log_pane(self) -> QWidget:
        self.log_pane = WorkerLogPane()
        self.log_toggle, self.log_view, self.log_path_label = (self.log_pane.toggle, self.log_pane.view,
                                                                 self.log_pane.path_label)
        self.log_pane.toggled.connect(self._toggle_log)
        return self.log_pane

    def _toggle_log(self, shown: bool) -> None:
        # the open log takes its room from the plots down to PLOTS_MIN_WITH_LOG: at 1024×680 both fit
        self.plots_host.setMinimumHeight(PLOTS_MIN_WITH_LOG if shown else PLOTS_MIN)
        self.body.setStretchFactor(self.log_pane, 1 if shown else 0)

    # ------------------------------------------------------------------ view options
    def set_x_axis(self, axis: str) -> None:
        """Plot against ``step``, ``epoch``, ``tokens`` (seen) or ``time`` (wall clock, minutes)."""
        if axis not in X_AXES:
            return
        self.x_axis = axis
        idx = self.x_combo.findData(axis)
        if idx != self.x_combo.currentIndex():
            self.x_combo.setCurrentIndex(idx)
        self._apply_axis_labels()
        self.redraw_now()
        self.follow_run()

    def follow_run(self) -> None:
        """Show each plot's whole run again and keep it in view as it grows (after zooming, say)."""
        if self._plots_built:
            self.plots.follow()

    def _apply_axis_labels(self) -> None:
        if not self._plots_built:
            return
        self.plots.set_labels(X_AXES[self.x_axis], memory_title(self.series.device))

    def set_log_scale(self, on: bool) -> None:
        if self.log_scale_box.isChecked() != on:
            self.log_scale_box.setChecked(on)
            return
        if self._plots_built:
            self.plots.set_log_scale(on)

    def set_smoothing(self, weight: float) -> None:
        self.smoothing_slider.setValue(int(round(weight * 100)))

    def _smoothing_changed(self, value: int) -> None:
        if not self._auto_smoothing_now:
            self._smoothing_chosen = True  # the user's choice wins over the run-length default from now on
        self.curves.set_smoothing(value / 100.0)
        self.smoothing_value.setText(f"{value / 100:.2f}")
        self.redraw_now()

    # ------------------------------------------------------------------ runs
    def reload_runs(self) -> None:
        runs = self.state.runs("train")
        try:
            states = run_ops.run_states(self.state.store, runs)
        except StoreError:
            states = {}
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for run in runs:
            when = time.strftime("%d %b %H:%M", time.localtime(run.created_at))
            words = states[run.id].words if run.id in states else run.status
            self.run_combo.addItem(f"{run.name or run.id} — {words} — {when}", run.id)
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
        if running:
            self._update_controls()
        else:  # the worker is gone now: judge Resume again (at its ending event it still held the run)
            self._refresh_resumable()

    def _update_controls(self) -> None:
        live = self._controller_running and self.status in ("running", "queued")
        give_up = not self._controller_running and self.status in ("paused", "lost")
        self.cancel_button.setEnabled(live or give_up)
        self.pause_button.setEnabled(live)
        self.cancel_button.setToolTip("Stop the run after it saves a checkpoint." if live
                                      else "Give up this run: it will not be resumed (its files stay)." if give_up
                                      else "No run of this window is in progress.")
        can_resume = (not self._controller_running and not self.state.run_active and self.resumable
                      and self.status in ("cancelled", "failed", "paused", "lost"))
        self.resume_button.setVisible(can_resume)
        self.pause_button.setVisible(not can_resume)
        self.keep_best_button.setVisible(not can_resume)
        best = self.series.best_validation()
        has_eval = best is not None
        self.keep_best_button.setEnabled(live and has_eval)
        if not live:
            tip = "No run of this window is in progress."
        elif not has_eval:
            tip = ("Needs a validation split and at least one validation point: the best model is the checkpoint "
                   "with the lowest validation loss. Until then use Pause.")
        else:
            tip = (f"Stop now and keep the best model so far as the output: step {best[0]}, "
                   f"validation loss {best[1]:.4f}. The run ends as finished.")
        self.keep_best_button.setToolTip(tip)

    def stop_keep_best(self) -> bool:
        """Ask the shown run's worker to stop and keep its best validation checkpoint as the output.

        Returns False (and says why under the progress bar) when it cannot be asked."""
        if not self.run_id:
            return False
        try:
            run_ops.stop_keep_best(self.state.store, self.run_id)
        except (run_ops.RunActionError, StoreError) as exc:
            self.stage_label.setText(str(exc))
            return False
        self.keep_best_button.setEnabled(False)
        self.stage_label.setText("Stopping… the checkpoint with the lowest validation loss becomes the output.")
        self.keep_best_requested.emit(self.run_id)
        return True

    def _refresh_resumable(self) -> None:
        try:
            run = self.state.store.get_run(self.run_id)
            self.resumable = run_ops.can_resume(self.state.store, run, self.run_state)[0]
            # a worker writes its ending before it exits and frees the run: look again until it has
            self._worker_exiting = not self.resumable and self.run_state.is_over \
                and bool(run_ops.live_worker_message(run))
        except StoreError:
            self.resumable = self._worker_exiting = False
        self._update_controls()

    def _show_empty(self) -> None:
        if not self.run_id:
            self._set_status("")
            self.run_label.setText("")
            self.stage_label.setText("Start a run on the Train page; its curves appear here.")

    # ------------------------------------------------------------------ loading a run
    def clear(self) -> None:
        self.series.clear()
        self._pending = []
        self.last_seq = 0
        self.resumable = self._worker_exiting = False
        self.run_state = rs.RunState(run_id=self.run_id)
        self.progress_card.reset()
        self.log_pane.clear()
        self.redraw_now()
        self.follow_run()

    def load_run(self, run_id: str) -> None:
        """Show a run: draw everything the store already has (re-attach), then follow new events.

        The run's state comes from :func:`desktop_ift.core.runs.run_state` (a vanished worker reads lost, with
        its last step and a Resume). Runs with many events load
        off the GUI thread (:attr:`loading`); events passed to :meth:`on_event` meanwhile are kept and applied
        once the stored curve is drawn.
        """
        if run_id and run_id == self.run_id and not self.loading and self._catch_up():
            return
        self._load_token += 1
        self.loading = False
        self.clear()
        self.run_id = run_id
        store = self.state.store
        try:
            run = store.get_run(run_id) if run_id else None
            self.run_state = run_ops.run_state(store, run_id) if run_id else rs.RunState(run_id="")
        except StoreError as exc:
            self.progress_card.show_banner(str(exc), "error")
            return
        finally:
            self.reload_runs()
        if run is None:
            self._show_empty()
            return
        self.last_seq = store.last_seq(run_id)
        started = run_ops.last_started(store, run_id)
        self.series.device = started.device if started else ""
        self._apply_axis_labels()
        self._show_run_record(run)
        if self.last_seq <= SYNC_LOAD_MAX_EVENTS:
            self._loaded(RunSeries.curves_from(run_ops.metric_table(store, run_id, self.last_seq),
                                               self.curves.smoothing))
            return
        self.loading = True
        self._stage_before_load = self.stage_label.text()
        self.stage_label.setText(f"Loading {run.last_step:,} steps of curves…")
        token, home, upto = self._load_token, store.home, self.last_seq

        smoothing = self.curves.smoothing

        def work():  # off the GUI thread: the store read and the smoothing of every point
            with Store.open(home) as other:
                return RunSeries.curves_from(run_ops.metric_table(other, run_id, upto), smoothing)

        def done(curves):
            if token == self._load_token:
                self._loaded(curves)

        def failed(exc):
            if token == self._load_token:
                self.loading = False
                self.progress_card.show_banner(f"The curves of this run cannot be read: {exc}", "error")

        run_in_background(work, done, failed)

    def _catch_up(self) -> bool:
        """The shown run again (resumed, re-attached): apply only the events it has not seen, instead of
        reloading a long curve. False when too much is missing (then it is loaded afresh)."""
        store = self.state.store
        try:
            run = store.get_run(self.run_id)
            missing = store.last_seq(self.run_id) - self.last_seq
        except StoreError:
            return False
        if missing > 5000:
            return False
        for event in store.events(self.run_id, self.last_seq):
            self.on_event(event)
        self.run_state = rs.judge(self.run_state, rs.process_alive)
        self.reload_runs()
        self._show_run_record(run)
        self.redraw_now()
        return True

    def _adapt_smoothing(self, run) -> None:
        """Start the smoothing at the run's length (unless the user moved the slider)."""
        if self._smoothing_chosen or not self.series.total_steps:
            return
        weight = run_smoothing(self.series.total_steps, run.config)
        if int(round(weight * 100)) != self.smoothing_slider.value():
            self._auto_smoothing_now = True
            try:
                self.set_smoothing(weight)
            finally:
                self._auto_smoothing_now = False

    def _show_run_record(self, run) -> None:
        self.series.total_steps = self.run_state.total_steps or run.total_steps
        self._adapt_smoothing(run)
        self.run_label.setText(run.name or run.id)
        self.run_label.setToolTip(run.id)
        self._show_state()
        self.log_pane.follow(Path(self.state.store.run_dir(run.id)) / "worker.log")
        self._refresh_resumable()
        self._tick()
        self._tail_log()

    def _show_state(self) -> None:
        """Badge, progress and the status line as the run's state says (plain words; details on hover)."""
        state = self.run_state
        self._set_status(state.status if state.run_id else "")
        self.series.total_steps = state.total_steps or self.series.total_steps
        self.progress_card.set_progress(state.step, state.total_steps, state.epoch or None)
        if state.status in ("failed", "lost"):
            self.progress_card.show_banner(
                (state.hint and f"What to try: {state.hint}") or "Open the worker log below for details.",
                "error", state.reason or "The run failed.")
        self.stage_label.setText(rs.status_line(state))
        self.stage_label.setToolTip(rs.status_details(state))

    def _loaded(self, curves: RunCurves) -> None:
        self.loading = False
        self.series.adopt(curves)  # at the slider's smoothing (it may have moved while it loaded)
        figures = self.series.stored_figures()
        if figures is not None:
            self.progress_card.set_progress(figures.step, self.series.total_steps, figures.epoch)
            self.progress_card.set_texts(figures.texts)
        if self.stage_label.text().startswith("Loading"):
            self.stage_label.setText("Training…" if self.status == "running"
                                     else getattr(self, "_stage_before_load", ""))
        self._update_best()
        self._update_controls()
        self.redraw_now()
        pending, self._pending = self._pending, []
        for event in pending:
            self._apply(event)

    # ------------------------------------------------------------------ live events
    def on_event(self, event: ev.Event) -> None:
        """Apply one event of the shown run (others and already-seen ones are ignored)."""
        if event.run_id != self.run_id or event.seq <= self.last_seq:
            return
        self.last_seq = event.seq
        self.run_state = rs.apply(self.run_state, event)
        if self.loading:
            self._pending.append(event)
            return
        self._apply(event)

    def _apply(self, event: ev.Event) -> None:
        """Show what the run's series says ``event`` changed."""
        update = self.series.apply(event, self.run_state.attempts)
        if update.started:
            try:
                self._adapt_smoothing(self.state.store.get_run(self.run_id))
            except StoreError:
                pass
            self._apply_axis_labels()
            self.progress_card.clear_banner()
        if update.show_state or (update.logged and self.status != self.run_state.status):
            self._show_state()
        if update.stage is not None:
            self.stage_label.setText(update.stage)
        if update.validation:
            self._update_best()
            self._update_controls()
        if update.started:
            self.reload_runs()
        if update.finished and self.series.total_steps:
            self.progress_card.set_progress(self.run_state.step, self.run_state.total_steps, None)
        if update.plots:
            self._schedule_redraw(update.plots)
        if update.terminal:
            self.figures["eta"].setText("0:00" if update.finished else "—")
            self.reload_runs()
            self._refresh_resumable()
            self._tail_log()

    def _update_best(self) -> None:
        best = self.series.best_validation()
        if best is not None:
            self.figures["best"].setText(f"{best[1]:.4f}")
            self.figures["best"].setToolTip(f"at step {best[0]}")

    # ------------------------------------------------------------------ drawing
    def _schedule_redraw(self, plots=PLOTS) -> None:
        self._dirty.update(plots)
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def _redraw_tick(self) -> None:
        """Draw the figures and the next plot that has new points; come back for the others."""
        self._update_figures()
        if not self._plots_built:
            self._dirty.clear()
            return
        # a plot still empty goes first: at a run's start every plot shows its first points within a few ticks
        # instead of waiting its turn in the round (up to 4 s for the last side plot)
        empty = [name for name in REDRAW_ORDER if name in self._dirty and self._is_empty(name)]
        if empty:
            self._dirty.discard(empty[0])
            self._draw(empty[0])
        else:
            for _ in range(len(REDRAW_ORDER)):
                name = REDRAW_ORDER[self._slot]
                self._slot = (self._slot + 1) % len(REDRAW_ORDER)
                if name in self._dirty:
                    self._dirty.discard(name)
                    self._draw(name)
                    break
        if self._dirty:
            self._redraw_timer.start()

    def _is_empty(self, name: str) -> bool:
        """Whether the plot ``name`` shows no point yet although the run has some for it (a metric the run
        never logs stays empty without jumping the queue every time)."""
        return self.plots.shows_nothing(name) and self.series.has_points(name)

    def redraw_now(self) -> None:
        """Draw every plot and the figures of the last logged step at once."""
        self._dirty.clear()
        self._redraw_timer.stop()
        self._update_figures()
        if not self._plots_built:
            return
        for name in PLOTS:
            self._draw(name)

    def _draw(self, name: str) -> None:
        self.plots.draw(name, self.series, self.x_axis)

    def _update_figures(self) -> None:
        figures = self.series.take_figures()
        if figures is not None:
            self.progress_card.set_progress(figures.step, self.series.total_steps, figures.epoch)
            self.progress_card.set_texts(figures.texts)
            if self.run_state.first_started is not None:
                self.figures["elapsed"].setText(format_duration(self.run_state.elapsed()))
            if self.stage_label.text().startswith(("Resuming", "Training", "Loading", "Checkpoint")) \
                    or not self.stage_label.text():
                self.stage_label.setText("Training…")

    def _describe_point(self, x: float) -> str:
        """The crosshair's text for the training row nearest to ``x`` on the current axis."""
        text = self.series.describe(x, self.x_axis)
        if text:
            self.crosshair_label.setText(text)
        return text

    # ------------------------------------------------------------------ export
    def _choose_export(self, kind: str) -> None:
        if not self.run_id:
            return
        filters = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)", "csv": "CSV file (*.csv)"}
        name = f"{self.run_id}-{'metrics' if kind == 'csv' else 'loss'}.{kind}"
        path, _ = QFileDialog.getSaveFileName(self, "Export", str(Path.home() / name), filters[kind])
        if not path:
            return
        if kind == "csv":
            self.export_metrics(path)
        else:
            self.export_plot(path)

    def export_plot(self, path: str | Path) -> bool:
        """Save the loss plot as PNG or SVG (by the file's extension)."""
        self.ensure_plots()
        self.redraw_now()
        from pyqtgraph.exporters import ImageExporter

        path = Path(path)
        item = self.loss_plot.getPlotItem()
        try:
            if path.suffix.lower() == ".svg":
                # pyqtgraph's SVGExporter cannot parse the paths Qt 6.11 writes; render the view into Qt's
                # SVG generator instead (still vector: lines and text, no bitmap).
                from PySide6.QtGui import QPainter
                from PySide6.QtSvg import QSvgGenerator

                generator = QSvgGenerator()
                generator.setFileName(str(path))
                generator.setSize(self.loss_plot.size())
                generator.setViewBox(self.loss_plot.rect())
                generator.setTitle(f"Loss of {self.run_id}")
                painter = QPainter(generator)
                self.loss_plot.render(painter)
                if not painter.end() or not path.exists():
                    raise OSError("the SVG file could not be written")
            else:
                exporter = ImageExporter(item)
                exporter.parameters()["width"] = max(1200, int(self.loss_plot.width() * 2))
                exporter.export(str(path if path.suffix else path.with_suffix(".png")))
        except Exception as exc:  # noqa: BLE001 - a disk or format error: say so, keep going
            self.progress_card.show_banner(f"The plot could not be saved to {path}: {exc}", "error")
            return False
        self.stage_label.setText(f"Plot saved to {path}")
        return True

    def export_metrics(self, path: str | Path) -> bool:
        """Save every logged figure of the run as CSV."""
        try:
            rows = run_ops.export_metrics_csv(self.state.store, self.run_id, path)
        except (run_ops.RunActionError, StoreError) as exc:
            self.progress_card.show_banner(str(exc), "error", "Export failed")
            return False
        self.stage_label.setText(f"Saved {rows:,} rows of metrics to {path}")
        return True

    # ------------------------------------------------------------------ figures
    def _set_status(self, status: str) -> None:
        self.status = status
        self.progress_card.set_badge(status)
        self._update_controls()

    def _tick(self) -> None:
        """Once a second: the elapsed time (summed over attempts: it continues after a resume) and, for a run
        that should be running, whether its worker still is (it then reads lost within a second)."""
        # a run this window's controller follows is judged by it (after reading the worker's last events)
        if self.run_state.status == "running" and not self.loading and not self._controller_running:
            judged = rs.judge(self.run_state, rs.process_alive)
            if judged.status != "running":
                self.run_state = judged
                self._show_state()
                self._refresh_resumable()
                self.reload_runs()
        if self._worker_exiting and not self._controller_running:
            self._refresh_resumable()
        if self.run_state.first_started is not None:
            self.figures["elapsed"].setText(format_duration(self.run_state.elapsed()))
        if self.status == "running" and self.log_view.isVisible():
            self._tail_log()

    # ------------------------------------------------------------------ log tail
    def _tail_log(self) -> None:
        if self.run_id:
            self.log_pane.tail()

    def append_log_line(self, line: str) -> None:
        """A stdout line from the worker that is not an event."""
        self.log_pane.append_line(line)
