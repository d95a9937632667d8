"""The Trainer callback that turns training progress into events, and obeys a stop request."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from transformers import TrainerCallback

from desktop_ift.core import events as ev
from desktop_ift.core.disk import check_free_space, folder_size
from desktop_ift.core.modeling import memory_mb

PREFIX_CHECKPOINT_DIR = "checkpoint"


def _num(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class TensorBoardScalars:
    """Scalars of a run as TensorBoard event files in ``log_dir`` (through tensorboardX), for engineers.

    Never fails a run: when tensorboardX is missing or a write fails, one warning goes to stderr (the
    worker's ``worker.log``) and the writer turns itself off. Every write is flushed, so the files are
    complete even when the run is cancelled or crashes.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self._writer = None
        self._disabled = False

    def _warn(self, what: str, exc: BaseException) -> None:
        self._disabled = True
        print(f"warning: TensorBoard event files disabled for this run ({what}: {exc})", file=sys.stderr, flush=True)

    def write(self, step: int, values: dict) -> None:
        """Add the numeric entries of ``values`` (``None`` skipped) as scalars at ``step``."""
        if self._disabled:
            return
        try:
            if self._writer is None:
                from tensorboardX import SummaryWriter

                self._writer = SummaryWriter(logdir=str(self.log_dir))
            for tag, value in values.items():
                if value is not None:
                    self._writer.add_scalar(tag, float(value), int(step))
            self._writer.flush()
        except Exception as exc:  # a missing package, a full disk: the run goes on without the files
            self._warn("could not write " + str(self.log_dir), exc)

    def close(self) -> None:
        """Flush and close the event file (safe to call more than once)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception as exc:
                self._warn("could not close " + str(self.log_dir), exc)


def stop_agreed(local: bool, keep_best: bool = False) -> tuple[bool, bool]:
    """Whether to stop after this step, and whether that stop keeps the best checkpoint. In a multi-process
    run every rank must stop at the same step (a rank that goes on waits forever for the others in the next
    gradient exchange) and do the same at the end, and the launcher's signal reaches the ranks at slightly
    different moments: so the ranks agree, each step, that one of them was asked to stop (and to keep the
    best): a two-number all-reduce; single-process runs skip it."""
    try:
        import torch.distributed as dist
    except ImportError:
        return local, local and keep_best
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local, local and keep_best
    import torch

    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    flags = torch.tensor([1 if local else 0, 1 if local and keep_best else 0], dtype=torch.int32, device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    stop, keep = (bool(v) for v in flags.tolist())
    return stop, keep


def checkpoint_size_estimate(output_dir: Path | str, model=None) -> int:
    """Bytes the next checkpoint takes: the largest one already written in ``output_dir``; before the first,
    the trained weights plus the optimizer's two Adam moments (4 bytes each), from ``model``."""
    folder = Path(output_dir)
    sizes = [folder_size(p) for p in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.is_dir()] \
        if folder.is_dir() else []
    if sizes and max(sizes):
        return max(sizes)
    if model is None:
        return 0
    trained = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return trained + 2 * 4 * sum(p.numel() for p in model.parameters() if p.requires_grad)


def room_for_checkpoint(output_dir: Path | str, model=None) -> None:
    """Raise :class:`~desktop_ift.core.disk.DiskSpaceError` ("The disk is full (… needed, … free on …)") before
    a checkpoint that would not fit is written: the run then fails with that message and keeps its last
    complete checkpoint, instead of failing halfway through writing one."""
    needed = checkpoint_size_estimate(output_dir, model)
    if needed:
        check_free_space(output_dir, needed, "a checkpoint")


class EventCallback(TrainerCallback):
    """``on_log`` -> ``Log``, ``on_evaluate`` -> ``Eval``, ``on_save`` -> ``Checkpoint``.

    When the stop flag is set, the next step end asks the Trainer to save a full checkpoint (model,
    optimizer, scheduler, RNG states) and to stop; :attr:`stopped_at` then holds that step.

    Every new lowest ``eval_loss`` is saved as a checkpoint (:attr:`best_checkpoint`, :attr:`best_step`,
    :attr:`best_eval_loss`), recorded as the Trainer's ``best_model_checkpoint`` so checkpoint rotation
    keeps it. A "keep best" stop (``stop_flag.keep_best``, agreed by all ranks: :attr:`keep_best`) with a
    best checkpoint stops without saving.
    """

    def __init__(self, writer, stop_flag, scalars: TensorBoardScalars | None = None):
        self.writer = writer
        self.stop_flag = stop_flag
        self.scalars = scalars  # also receives what the events carry (TensorBoard files), when given
        self.stopped_at: int | None = None
        self.keep_best = False  # the stop asks to keep the best checkpoint (the same on every rank)
        self.last_checkpoint: str = ""
        self.last_train_loss: float | None = None
        self.last_eval_loss: float | None = None
        self.last_eval_step: int | None = None
        self._t0 = time.monotonic()
        self._start_step = 0
        self._last_time = self._t0
        self._last_tokens = 0
        self.best_eval_loss: float | None = None
        self.best_step: int | None = None
        self.best_checkpoint: str = ""
        self._saving_best_at: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._t0 = self._last_time = time.monotonic()
        self._start_step = state.global_step
        self._last_tokens = state.num_input_tokens_seen or 0
        self._restore_best(state)

    def _restore_best(self, state) -> None:
        """On a resumed run, take the best checkpoint recorded in the restored trainer state."""
        best = getattr(state, "best_model_checkpoint", None)
        if not best or not Path(best).is_dir():
            return
        try:
            step = int(Path(best).name.rsplit("-", 1)[-1])
        except ValueError:
            return
        losses = [e["eval_loss"] for e in (state.log_history or []) if e.get("step") == step and "eval_loss" in e]
        if losses:
            self.best_step, self.best_eval_loss, self.best_checkpoint = step, float(losses[-1]), str(best)

    def keep_best_possible(self) -> bool:
        """Whether a best-validation checkpoint exists on disk to become the output."""
        return bool(self.best_checkpoint) and Path(self.best_checkpoint).is_dir()

    def on_step_end(self, args, state, control, **kwargs):
        if self.stopped_at is None:
            local = self.stop_flag.is_set()
            stop, self.keep_best = stop_agreed(local, bool(getattr(self.stop_flag, "keep_best", False)))
            if stop:
                self.stopped_at = state.global_step
                # Keeping the best needs no new checkpoint; a plain stop (or no best yet) saves a resumable one.
                if not (self.keep_best and self.keep_best_possible()):
                    control.should_save = True
                control.should_training_stop = True
        if control.should_save:
            room_for_checkpoint(args.output_dir, kwargs.get("model"))
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
        lr, grad_norm = _num(logs.get("learning_rate")), _num(logs.get("grad_norm"))
        if self.scalars is not None:
            self.scalars.write(state.global_step, {"train/loss": self.last_train_loss, "train/learning_rate": lr,
                                                   "train/grad_norm": grad_norm, "train/tokens_per_second": tps})
        self.writer.emit(
            ev.Log,
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=float(state.epoch or 0.0),
            loss=self.last_train_loss,
            learning_rate=lr,
            grad_norm=grad_norm,
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
            if self.best_eval_loss is None or numeric["eval_loss"] < self.best_eval_loss:
                self.best_eval_loss = numeric["eval_loss"]
                self.best_step = state.global_step
                self._saving_best_at = state.global_step
                control.should_save = True  # saved right after this callback, in the same step
                room_for_checkpoint(args.output_dir, kwargs.get("model"))
        if self.scalars is not None:
            self.scalars.write(state.global_step, {"eval/" + k.removeprefix("eval_"): v for k, v in numeric.items()})
        self.writer.emit(ev.Eval, step=state.global_step, model_label="", metrics=numeric)

    def on_save(self, args, state, control, **kwargs):
        path = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        self.last_checkpoint = str(path)
        if self._saving_best_at == state.global_step:
            self.best_checkpoint = str(path)
            state.best_model_checkpoint = str(path)  # checkpoint rotation (save_total_limit) keeps it
        self.writer.emit(ev.Checkpoint, step=state.global_step, path=str(path))
