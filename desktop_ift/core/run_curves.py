"""A training run's curves as growing numpy columns, with the x axes the Monitor offers, and
:class:`RunSeries`: what the run's events mean for its plots and figures (no Qt: the Monitor page only
lays these out and draws them).

One row per ``log`` event (step, epoch, tokens seen, wall time, loss, learning rate, gradient norm,
throughput, memory) and one per validation (step, wall time, validation loss). Appending is amortised O(1)
(the arrays double when full; views handed to a plot stay valid because a full array is replaced, never
resized in place). A run resumed after its worker was lost logs some steps again: the rows of the
abandoned attempt from that step on are dropped, so the curve is the one of the model that exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop_ift.core import events as ev

TRAIN_FIELDS = ("step", "epoch", "tokens_seen", "time", "loss", "smoothed", "learning_rate", "grad_norm",
                "tokens_per_second", "memory_mb")
VAL_FIELDS = ("step", "time", "loss")
X_AXES = {"step": "step", "epoch": "epoch", "tokens": "tokens seen", "time": "wall time (minutes)"}
VALIDATION_KEYS = ("eval_loss", "validation_loss", "val_loss")
SIDE_METRICS = ("learning_rate", "grad_norm", "tokens_per_second", "memory_mb")  # one small plot each
PLOTS = ("loss",) + SIDE_METRICS


class Columns:
    """Named float64 columns of equal length that grow by doubling."""

    def __init__(self, names: tuple[str, ...], capacity: int = 256):
        self.names = names
        self.n = 0
        self._data = {name: np.full(capacity, np.nan) for name in names}

    def _grow(self, need: int) -> None:
        size = len(next(iter(self._data.values())))
        if need <= size:
            return
        size = max(need + need // 2, size * 2)  # room to grow after loading a long run, not a copy at once
        for name, arr in self._data.items():
            # not filled: nothing past ``n`` is read, and touching a few hundred MB of a long run's new
            # capacity at once is what used to stall the GUI at the first point after loading it
            bigger = np.empty(size)
            bigger[: self.n] = arr[: self.n]
            self._data[name] = bigger

    def append(self, values: dict) -> None:
        self._grow(self.n + 1)
        for name in self.names:
            value = values.get(name)
            self._data[name][self.n] = np.nan if value is None else value
        self.n += 1

    def extend(self, columns: dict[str, np.ndarray], count: int) -> None:
        if count <= 0:
            return
        self._grow(self.n + count)
        for name in self.names:
            col = columns.get(name)
            if col is not None:
                self._data[name][self.n: self.n + count] = col
            else:
                self._data[name][self.n: self.n + count] = np.nan
        self.n += count

    def truncate(self, n: int) -> None:
        old, self.n = self.n, max(0, min(n, self.n))
        for arr in self._data.values():
            arr[self.n:old] = np.nan  # (a plot may still hold a view of the dropped rows until it redraws)

    def clear(self) -> None:
        self.truncate(0)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name][: self.n]

    def last(self, name: str) -> float | None:
        """The last value of ``name`` that is not missing."""
        col = self[name]
        finite = col[~np.isnan(col)]
        return float(finite[-1]) if len(finite) else None


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing); missing values are carried over."""
    out = np.empty_like(values)
    ema, count = 0.0, 0
    for i, v in enumerate(values.tolist()):
        if not math.isnan(v):
            count += 1
            ema = weight * ema + (1 - weight) * v
        out[i] = ema / (1 - weight ** count) if count else math.nan
    return out


class RunCurves:
    """Everything the Monitor plots for one run."""

    def __init__(self, smoothing: float = 0.85):
        self.train = Columns(TRAIN_FIELDS)
        self.val = Columns(VAL_FIELDS, 64)
        self.smoothing = smoothing
        self._ema = 0.0
        self._count = 0
        self.t0: float | None = None

    def clear(self) -> None:
        self.train.clear()
        self.val.clear()
        self._ema, self._count = 0.0, 0
        self.t0 = None

    @property
    def n(self) -> int:
        return self.train.n

    # --------------------------------------------------------------- adding
    def _rewind(self, step: float) -> None:
        steps = self.train["step"]
        if len(steps) and step <= steps[-1]:
            self.train.truncate(int(np.searchsorted(steps, step, side="left")))
            self.val.truncate(int(np.searchsorted(self.val["step"], step, side="left")))
            self._restart_ema()

    def _restart_ema(self) -> None:
        """The running average's state after the last row, read off the smoothed column (its last value is
        the debiased average ``ema / (1 - w**count)``)."""
        loss = self.train["loss"]
        self._count = int(np.count_nonzero(~np.isnan(loss)))
        smoothed = self.train["smoothed"]
        last = smoothed[-1] if len(smoothed) else math.nan
        self._ema = 0.0 if not self._count or math.isnan(last) else \
            float(last) * (1 - self.smoothing ** self._count)

    def add_log(self, row: dict) -> None:
        """A ``log`` event's figures (``step``, ``time``, ``loss``, ``epoch``, ...)."""
        if self.t0 is None:
            self.t0 = row.get("time")
        self._rewind(float(row["step"]))
        loss = row.get("loss")
        if loss is not None and not math.isnan(loss):
            self._count += 1
            self._ema = self.smoothing * self._ema + (1 - self.smoothing) * loss
        smoothed = self._ema / (1 - self.smoothing ** self._count) if self._count else None
        self.train.append({**row, "smoothed": smoothed})

    def add_validation(self, step: float, time: float, loss: float) -> None:
        """A validation loss measured at ``step``."""
        if self.t0 is None:
            self.t0 = time
        self.val.append({"step": step, "time": time, "loss": loss})

    def set_smoothing(self, weight: float) -> None:
        """Change the smoothing weight (0: none, 0.99: heavy) and recompute the smoothed curve."""
        self.smoothing = min(max(weight, 0.0), 0.999)
        self.train["smoothed"][:] = smooth(self.train["loss"], self.smoothing)
        self._restart_ema()

    def load(self, table) -> None:
        """Replace everything with a :class:`desktop_ift.core.runs.MetricTable` (already rewound)."""
        self.clear()
        n = len(table)
        if not n:
            return
        step = np.asarray(table.step, dtype=np.float64)
        when = np.asarray(table.time, dtype=np.float64)
        cols = {name: np.array(table.values[name], dtype=np.float64) for name in table.values}  # None -> nan
        val_key = next((k for k in VALIDATION_KEYS if k in cols), None)
        is_val = ~np.isnan(cols[val_key]) if val_key else np.zeros(n, dtype=bool)
        # a logged step: any training figure (a step logged without a loss keeps its other figures, as live)
        is_log = np.zeros(n, dtype=bool)
        for name in TRAIN_FIELDS:
            if name in cols and name not in ("step", "time", "smoothed", "epoch"):
                is_log |= ~np.isnan(cols[name])
        is_log &= ~is_val
        train = {"step": step[is_log], "time": when[is_log]}
        for name in TRAIN_FIELDS:
            if name in cols:
                train[name] = cols[name][is_log]
        self.train.extend(train, int(is_log.sum()))
        if val_key:
            self.val.extend({"step": step[is_val], "time": when[is_val], "loss": cols[val_key][is_val]},
                            int(is_val.sum()))
        self.t0 = float(when[0])
        self.set_smoothing(self.smoothing)

    # --------------------------------------------------------------- reading
    def x(self, axis: str) -> np.ndarray:
        """The x of each training row on ``axis`` (step, epoch, tokens, time)."""
        if axis == "time":
            return (self.train["time"] - (self.t0 or 0.0)) / 60.0
        return self.train["tokens_seen" if axis == "tokens" else axis]

    def val_x(self, axis: str) -> np.ndarray:
        """The x of each validation row: its step, its time, or its epoch/tokens read off the training rows."""
        if axis == "time":
            return (self.val["time"] - (self.t0 or 0.0)) / 60.0
        if axis == "step" or not self.train.n:
            return self.val["step"]
        return np.interp(self.val["step"], self.train["step"], self.x(axis))


# ---------------------------------------------------------------------------------------------- figures
def format_duration(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``; "—" for no (or a negative, or a NaN) duration."""
    if seconds is None or seconds < 0 or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def default_smoothing(points: int) -> float:
    """The smoothing weight a run of ``points`` logged losses starts with: the moving average spans about a
    twentieth of the run (so a 40-point run is not drawn 7 points late, as 0.85 would), between 0.3 and 0.95
    (TensorBoard's debiased average, whose own default is 0.6)."""
    if points <= 0:
        return 0.6
    return round(min(0.95, max(0.3, 1.0 - 20.0 / points)), 2)


def run_smoothing(total_steps: int, config) -> float:
    """:func:`default_smoothing` for a run of ``total_steps`` optimizer steps that logs every
    ``config["logging_steps"]`` of them (every step when its config does not say)."""
    every = config.get("logging_steps") if isinstance(config, dict) else None
    every = every if isinstance(every, int) and every > 0 else 1
    return default_smoothing(total_steps // every)


def validation_loss(metrics: dict) -> float | None:
    """The validation loss among an ``eval`` event's metrics (its first known key), or None."""
    for key in VALIDATION_KEYS + ("loss",):
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def memory_title(device: str) -> str:
    """The memory plot's title: GPU memory on a CUDA/GPU device, else RAM."""
    return "GPU memory (MB)" if "cuda" in device.lower() or "gpu" in device.lower() else "RAM (MB)"


def progress_texts(step: int, total: int, epoch: float | None) -> dict[str, str]:
    """The step figure (``"12 / 40"``, or the step alone without a total; none at step 0 without one) and
    the epoch figure (none for a missing epoch)."""
    texts: dict[str, str] = {}
    if total:
        texts["step"] = f"{step:,} / {total:,}"
    elif step:
        texts["step"] = f"{step:,}"
    if epoch is not None and not math.isnan(epoch):
        texts["epoch"] = f"{epoch:.2f}"
    return texts


@dataclass(frozen=True)
class Figures:
    """The figures of one logged step: where the run is (``step``, ``epoch``) and the texts of the
    ``loss``, ``speed``, ``memory`` and ``eta`` figures it has."""
    step: int
    epoch: float | None
    texts: dict


@dataclass(frozen=True)
class Update:
    """What one event changes on a page that shows the run."""
    plots: tuple[str, ...] = ()  # the plots with new points
    stage: str | None = None  # a new line saying what the run is doing
    logged: bool = False  # a training step was logged
    validation: bool = False  # a validation point was added (the best one may have changed)
    started: bool = False  # an attempt started (device, total steps and so the smoothing may be new)
    show_state: bool = False  # the run's state words changed (started, resumed, ended)
    terminal: bool = False
    finished: bool = False


class RunSeries:
    """One run's curves and figures, fed by its events (:meth:`apply`) or by its stored metric table
    (:meth:`load`, on re-attach): both give the same arrays."""

    def __init__(self, smoothing: float = 0.85):
        self.curves = RunCurves(smoothing)
        self.total_steps = 0
        self.device = ""
        self.last_log: ev.Log | None = None  # the newest logged step whose figures are not shown yet

    def clear(self) -> None:
        self.curves.clear()
        self.total_steps = 0
        self.device = ""
        self.last_log = None

    @property
    def smoothing(self) -> float:
        return self.curves.smoothing

    # --------------------------------------------------------------- feeding
    def apply(self, event: ev.Event, attempts: int = 0) -> Update:
        """Add what ``event`` says to the curves and figures; ``attempts`` is the run's attempt count (for
        the "Resuming…" line)."""
        if isinstance(event, ev.Log):
            self.curves.add_log({"step": event.step, "time": event.time, "epoch": event.epoch,
                                 "tokens_seen": event.tokens_seen, "loss": event.loss,
                                 "learning_rate": event.learning_rate, "grad_norm": event.grad_norm,
                                 "tokens_per_second": event.tokens_per_second, "memory_mb": event.memory_mb})
            self.total_steps = event.total_steps or self.total_steps
            self.last_log = event
            return Update(plots=PLOTS, logged=True)
        if isinstance(event, ev.Eval):
            value = validation_loss(event.metrics)
            if value is None or event.model_label:
                return Update()
            self.curves.add_validation(event.step, event.time, value)
            return Update(plots=("loss",), validation=True,
                          stage=f"Validation loss at step {event.step}: {value:.4f}")
        if isinstance(event, ev.Started):
            self.device = event.device or self.device
            self.total_steps = event.total_steps or self.total_steps
            resumed = (event.info or {}).get("resume_from")
            stage = None
            if resumed:
                where = f" on {event.device}" if event.device else ""
                stage = f"Resuming from {Path(resumed).name}{where} (attempt {attempts})…"
            return Update(started=True, show_state=True, stage=stage)
        if isinstance(event, ev.Progress):
            total = f" ({event.done}/{event.total})" if event.total else ""
            return Update(stage=f"{event.message or event.stage}{total}")
        if isinstance(event, ev.Checkpoint):
            return Update(stage=f"Checkpoint saved at step {event.step}.")
        if isinstance(event, ev.Resumed):
            return Update(show_state=True)
        if event.terminal:  # finished, failed, cancelled, paused: the run's state says it
            return Update(plots=PLOTS, show_state=True, terminal=True, finished=event.type == "finished")
        return Update()

    @staticmethod
    def curves_from(table, smoothing: float = 0.85) -> RunCurves:
        """The curves of a stored :class:`~desktop_ift.core.runs.MetricTable` (safe off the GUI thread)."""
        curves = RunCurves(smoothing)
        curves.load(table)
        return curves

    def adopt(self, curves: RunCurves) -> None:
        """Take curves built by :meth:`curves_from`, at this series' smoothing (it may have changed since)."""
        if curves.smoothing != self.curves.smoothing:
            curves.set_smoothing(self.curves.smoothing)
        self.curves = curves

    def load(self, table) -> None:
        """Replace the curves with a stored metric table's (re-attach)."""
        self.adopt(self.curves_from(table, self.curves.smoothing))

    # --------------------------------------------------------------- reading
    def take_figures(self) -> Figures | None:
        """The figures of the newest logged step, once (None when no step was logged since)."""
        log, self.last_log = self.last_log, None
        if log is None:
            return None
        texts = {}
        if log.loss is not None:
            texts["loss"] = f"{log.loss:.4f}"
        if log.tokens_per_second is not None:
            texts["speed"] = f"{log.tokens_per_second:,.0f}"
        if log.memory_mb is not None:
            texts["memory"] = f"{log.memory_mb:,.0f} MB"
        texts["eta"] = format_duration(log.eta_s)
        return Figures(log.step, log.epoch, texts)

    def stored_figures(self) -> Figures | None:
        """The figures the curves end with (after :meth:`load`; no ETA): None for a run without steps."""
        train = self.curves.train
        if not train.n:
            return None
        texts = {}
        for key, name, fmt in (("loss", "loss", "{:.4f}"), ("speed", "tokens_per_second", "{:,.0f}"),
                               ("memory", "memory_mb", "{:,.0f} MB")):
            value = train.last(name)
            if value is not None:
                texts[key] = fmt.format(value)
        return Figures(int(train["step"][-1]), train.last("epoch"), texts)

    def best_validation(self) -> tuple[int, float] | None:
        """(step, loss) of the lowest validation loss so far, or None before the first validation."""
        losses = self.curves.val["loss"]
        if not len(losses):
            return None
        i = int(losses.argmin())
        return int(self.curves.val["step"][i]), float(losses[i])

    def has_points(self, plot: str) -> bool:
        """Whether the run has any value for ``plot`` (a metric it never logs has none)."""
        train = self.curves.train
        return plot in train.names and bool(np.isfinite(train[plot]).any())

    def loss_data(self, axis: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The loss plot on ``axis``: x, raw and smoothed training loss, then validation x and loss."""
        c = self.curves
        return c.x(axis), c.train["loss"], c.train["smoothed"], c.val_x(axis), c.val["loss"]

    def metric_data(self, name: str, axis: str) -> tuple[np.ndarray, np.ndarray]:
        """One side plot on ``axis``: x and the metric ``name``."""
        return self.curves.x(axis), self.curves.train[name]

    def describe(self, x: float, axis: str) -> str:
        """The text for the training row nearest to ``x`` on ``axis`` (step, the axis' value, losses,
        learning rate and the nearest validation); empty for a run without rows."""
        xs = self.curves.x(axis)
        if not len(xs):
            return ""
        i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
        if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
            i -= 1
        train = self.curves.train
        parts = [f"step {int(train['step'][i]):,}"]
        if axis == "epoch":
            parts.append(f"epoch {train['epoch'][i]:.2f}")
        elif axis == "tokens" and not math.isnan(train["tokens_seen"][i]):
            parts.append(f"{int(train['tokens_seen'][i]):,} tokens")
        elif axis == "time":
            parts.append(f"{xs[i]:.1f} min")
        for name, label, fmt in (("loss", "loss", "{:.4f}"), ("smoothed", "smoothed", "{:.4f}"),
                                 ("learning_rate", "lr", "{:.2e}")):
            value = train[name][i]
            if not math.isnan(value):
                parts.append(f"{label} {fmt.format(value)}")
        val = self.curves.val
        if len(val["step"]):
            j = int(np.abs(val["step"] - train["step"][i]).argmin())
            parts.append(f"validation {val['loss'][j]:.4f} (step {int(val['step'][j])})")
        return "  ·  ".join(parts)
