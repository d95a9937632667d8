"""A training run's curves as growing numpy columns, with the x axes the Monitor offers.

One row per ``log`` event (step, epoch, tokens seen, wall time, loss, learning rate, gradient norm,
throughput, memory) and one per validation (step, wall time, validation loss). Appending is amortised O(1)
(the arrays double when full; views handed to a plot stay valid because a full array is replaced, never
resized in place). A run resumed after its worker was lost logs some steps again: the rows of the
abandoned attempt from that step on are dropped, so the curve is the one of the model that exists.
"""

from __future__ import annotations

import math

import numpy as np

TRAIN_FIELDS = ("step", "epoch", "tokens_seen", "time", "loss", "smoothed", "learning_rate", "grad_norm",
                "tokens_per_second", "memory_mb")
VAL_FIELDS = ("step", "time", "loss")
X_AXES = {"step": "step", "epoch": "epoch", "tokens": "tokens seen", "time": "wall time (minutes)"}
VALIDATION_KEYS = ("eval_loss", "validation_loss", "val_loss")


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
