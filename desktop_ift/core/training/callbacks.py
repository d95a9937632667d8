"""The Trainer callback that turns training progress into events, and obeys a stop request."""

from __future__ import annotations

import time
from pathlib import Path

from transformers import TrainerCallback

from desktop_ift.core import events as ev
from desktop_ift.core.modeling import memory_mb

PREFIX_CHECKPOINT_DIR = "checkpoint"


def _num(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class EventCallback(TrainerCallback):
    """``on_log`` -> ``Log``, ``on_evaluate`` -> ``Eval``, ``on_save`` -> ``Checkpoint``.

    When the stop flag is set, the next step end asks the Trainer to save a full checkpoint (model,
    optimizer, scheduler, RNG states) and to stop; :attr:`stopped_at` then holds that step.
    """

    def __init__(self, writer, stop_flag):
        self.writer = writer
        self.stop_flag = stop_flag
        self.stopped_at: int | None = None
        self.last_checkpoint: str = ""
        self.last_train_loss: float | None = None
        self.last_eval_loss: float | None = None
        self.last_eval_step: int | None = None
        self._t0 = time.monotonic()
        self._start_step = 0
        self._last_time = self._t0
        self._last_tokens = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._t0 = self._last_time = time.monotonic()
        self._start_step = state.global_step
        self._last_tokens = state.num_input_tokens_seen or 0

    def on_step_end(self, args, state, control, **kwargs):
        if self.stop_flag.is_set() and self.stopped_at is None:
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:  # evaluation logs and the end-of-training summary come as events elsewhere
            return
        now = time.monotonic()
        tokens = logs.get("num_input_tokens_seen", state.num_input_tokens_seen)
        tps = None
        if tokens is not None and now > self._last_time:
            tps = (tokens - self._last_tokens) / (now - self._last_time)
            self._last_tokens, self._last_time = tokens, now
        elapsed = now - self._t0
        done = state.global_step - self._start_step
        eta = elapsed / done * (state.max_steps - state.global_step) if done > 0 else None
        self.last_train_loss = _num(logs.get("loss"))
        self.writer.emit(
            ev.Log,
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=float(state.epoch or 0.0),
            loss=self.last_train_loss,
            learning_rate=_num(logs.get("learning_rate")),
            grad_norm=_num(logs.get("grad_norm")),
            tokens_per_second=tps,
            tokens_seen=int(tokens) if tokens is not None else None,
            memory_mb=memory_mb(),
            elapsed_s=elapsed,
            eta_s=eta,
        )

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = metrics or {}
        numeric = {k: float(v) for k, v in metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and k.endswith("loss")}
        self.last_eval_step = state.global_step
        if "eval_loss" in numeric:
            self.last_eval_loss = numeric["eval_loss"]
        self.writer.emit(ev.Eval, step=state.global_step, model_label="", metrics=numeric)

    def on_save(self, args, state, control, **kwargs):
        path = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        self.last_checkpoint = str(path)
        self.writer.emit(ev.Checkpoint, step=state.global_step, path=str(path))
