"""A run's state, folded from its events: the one answer every screen and command gives.

:class:`RunState` is built by pure functions: :func:`fold` (a whole stream), :func:`apply` (one more event,
for a live reader) and :func:`judge` (is the worker of a run that never ended still there?). Liveness is a
probe passed in (``probe(pid, create_time) -> bool``); :func:`process_alive` is the real one (psutil: the pid
exists *and* its creation time is the recorded one), never ``os.kill(pid, 0)`` (which on Windows kills).

Statuses and what they promise:

* ``queued`` — prepared (or a resume was asked for), no worker has started this attempt yet;
* ``running`` — the current attempt's worker started and wrote no final event, and it is alive;
* ``paused`` — the user paused: a checkpoint was kept, ``resume`` continues (``paused`` event);
* ``cancelled`` — the user stopped it (``cancelled`` event);
* ``lost`` — the current attempt's process is gone and wrote no final event (killed, machine restarted);
* ``failed`` — the worker reported an error (``failed`` event, ``reason`` and ``hint`` say what and what to try);
* ``finished`` — the job completed (``finished`` event).

A resumed run is the same run with a new attempt (a ``started`` event with the next ``attempt``): the step and
the curve continue, and ``elapsed_s`` sums the attempts' own durations (the pauses in between do not count).

Qt-free, standard library only (psutil is imported by :func:`process_alive` when called).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from desktop_ift.core import events as ev

STATUSES = ("queued", "running", "paused", "cancelled", "lost", "failed", "finished")
OVER = frozenset({"paused", "cancelled", "lost", "failed", "finished"})
#: How each status reads, the same on every screen and in the CLI.
STATUS_WORDS = {"queued": "Queued", "running": "Running", "paused": "Paused", "cancelled": "Cancelled",
                "lost": "Lost", "failed": "Failed", "finished": "Finished"}
CREATE_TIME_TOLERANCE_S = 1.0  # psutil's create_time is exact to the clock tick; 1 s absorbs any rounding
VALIDATION_METRIC = "eval_loss"
#: The job kinds a ``started`` event names that the fold takes as the run's kind (a run folded live from a
#: blank state learns from its ``started`` that it is an evaluation or a benchmark, not a training run).
JOB_KINDS = ("train", "evaluate", "benchmark")

Probe = Callable[[int, "float | None"], bool]


@dataclass(frozen=True)
class RunState:
    """What is known about a run from its events (and, for ``lost``, from a liveness probe)."""

    run_id: str
    kind: str = "train"
    status: str = "queued"
    reason: str = ""  # plain words: why it is in this status ("Paused at step 9.", the error message, ...)
    hint: str = ""  # what to try next, when there is something to try
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    elapsed_s: float = 0.0  # summed over attempts, up to the last event seen (see :meth:`elapsed`)
    best_val: float | None = None
    best_val_step: int | None = None
    last_checkpoint: str = ""
    last_checkpoint_step: int | None = None
    attempts: int = 0
    pid: int | None = None  # of the current attempt's worker
    create_time: float | None = None  # that process's own creation time (psutil), None for old streams
    attempt_started: float | None = None  # event time of the current attempt's ``started``
    first_started: float | None = None
    ended_at: float | None = None
    last_time: float | None = None  # time of the last event seen
    last_seq: int = 0
    output_dir: str = ""
    stopped_early: bool = False
    device: str = ""
    closed_elapsed_s: float = 0.0  # the ended attempts' durations (internal to the fold)

    @property
    def words(self) -> str:
        """The status as one word for a person ("Running", "Lost", ...)."""
        return STATUS_WORDS.get(self.status, self.status.capitalize())

    @property
    def is_over(self) -> bool:
        """Whether no worker works on this run now (it may still be resumable)."""
        return self.status in OVER

    @property
    def is_live(self) -> bool:
        """Whether a worker is (believed to be) working on it: queued or running."""
        return self.status in ("queued", "running")

    @property
    def resumable_status(self) -> bool:
        """Whether the status allows a resume (a checkpoint is still needed: see ``runs.can_resume``)."""
        return self.kind == "train" and self.status in ("paused", "cancelled", "lost", "failed")

    def elapsed(self, now: float | None = None) -> float:
        """Seconds spent working: the ended attempts plus, for a running attempt, until ``now``."""
        if self.status == "running" and self.attempt_started is not None:
            now = time.time() if now is None else now
            return self.closed_elapsed_s + max(0.0, now - self.attempt_started)
        return self.elapsed_s

    def progress_text(self) -> str:
        """``step 12/40`` (a finished run that ended early shows its own last step as the total)."""
        if self.kind != "train":
            return ""
        return f"step {self.step}/{self.total_steps}" if self.total_steps else f"step {self.step}"

    def summary(self) -> str:
        """One line in plain words: "Running — step 12 of 40", "Paused at step 9 (checkpoint kept)", ..."""
        if self.status == "running":
            of = f" of {self.total_steps}" if self.total_steps else ""
            return f"Running — step {self.step}{of}" if self.kind == "train" else "Running"
        if self.status == "queued":
            return self.reason or "Queued — waiting for its worker to start"
        return self.reason or self.words


def status_line(state: RunState) -> str:
    """The one line a screen shows under the progress bar, in plain words ("Paused at step 9 (checkpoint of
    step 9 kept). Resume continues from the checkpoint.")."""
    if state.status == "running":
        where = f" on {state.device}" if state.device else ""
        if state.kind != "train":
            return f"Evaluating{where}…"
        if state.attempts > 1:
            return f"Training{where} (attempt {state.attempts}, continued from its checkpoint)…"
        return f"Training{where}…"
    if state.status == "queued":
        return state.reason or "Waiting for the worker to start…"
    if state.status == "finished":
        follow = " Compare the fine-tuned model with the base on the Evaluate page." if state.kind == "train" else ""
        return state.reason + follow
    if state.status in ("failed", "lost"):
        of = f" of {state.total_steps:,}" if state.total_steps else ""
        return f"{state.words} at step {state.step:,}{of}." if state.kind == "train" else f"{state.words}."
    return state.reason + (f" {state.hint}" if state.hint else "")


def status_details(state: RunState) -> str:
    """The details behind the status line (a tooltip): run, step, attempts, worker, checkpoint, reason."""
    lines = [f"Run {state.run_id}: {state.words}", f"step {state.step} of {state.total_steps}",
             f"attempts: {state.attempts}"]
    if state.pid and state.status == "running":
        lines.append(f"worker process {state.pid}")
    if state.last_checkpoint:
        lines.append(f"last checkpoint: {state.last_checkpoint}")
    if state.reason and state.status != "running":
        lines.append(state.reason)
    return "\n".join(lines)


def _attempt_duration(state: RunState, end: float | None) -> float:
    if state.attempt_started is None or end is None:
        return 0.0
    return max(0.0, end - state.attempt_started)


def _close_attempt(state: RunState, end: float | None) -> float:
    """The summed elapsed time once the current attempt ends at ``end``."""
    return state.closed_elapsed_s + _attempt_duration(state, end)


def apply(state: RunState, event: ev.Event) -> RunState:
    """``state`` after one more event of the run (events of other runs and repeated sequence numbers are
    ignored). Pure: the old state is unchanged."""
    if event.run_id != state.run_id or event.seq <= state.last_seq:
        return state
    s = replace(state, last_seq=event.seq, last_time=event.time)
    if isinstance(event, ev.Started):
        # a new attempt; an earlier attempt that never ended (lost) counts up to its last event
        closed = s.closed_elapsed_s
        if state.status == "running" or (state.status == "lost" and state.attempt_started is not None):
            closed = _close_attempt(state, state.last_time)
        attempt = event.attempt or (state.attempts + 1)
        return replace(s, kind=event.job_kind if event.job_kind in JOB_KINDS else s.kind,
                       status="running", reason="", hint="", attempts=max(attempt, state.attempts + 1),
                       pid=event.pid or None, create_time=event.create_time or None,
                       attempt_started=event.time, first_started=s.first_started or event.time,
                       ended_at=None, total_steps=event.total_steps or s.total_steps, device=event.device,
                       closed_elapsed_s=closed, elapsed_s=closed, output_dir="" if s.status != "finished"
                       else s.output_dir, stopped_early=False)
    if isinstance(event, ev.Log):
        total = event.total_steps or s.total_steps
        return replace(s, step=event.step, total_steps=total, epoch=event.epoch or s.epoch,
                       elapsed_s=s.closed_elapsed_s + _attempt_duration(s, event.time))
    if isinstance(event, ev.Eval):
        value = event.metrics.get(VALIDATION_METRIC) if not event.model_label else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                s.best_val is None or value < s.best_val):
            s = replace(s, best_val=float(value), best_val_step=event.step)
        return replace(s, elapsed_s=s.closed_elapsed_s + _attempt_duration(s, event.time))
    if isinstance(event, ev.Checkpoint):
        return replace(s, last_checkpoint=event.path, last_checkpoint_step=event.step, step=max(s.step, event.step),
                       elapsed_s=s.closed_elapsed_s + _attempt_duration(s, event.time))
    if isinstance(event, ev.Resumed):
        closed = _close_attempt(state, state.last_time) if state.status in ("running", "lost") else s.closed_elapsed_s
        at = f" from the checkpoint of step {event.step}" if event.step else ""
        note = f" ({event.note})" if event.note else ""
        return replace(s, status="queued", reason=f"Resuming{at}{note} — waiting for its worker to start", hint="",
                       ended_at=None, closed_elapsed_s=closed, elapsed_s=closed, pid=None, create_time=None,
                       attempt_started=None)
    if event.terminal:
        closed = _close_attempt(s, event.time) if state.status in ("running",) else s.closed_elapsed_s
        s = replace(s, ended_at=event.time, closed_elapsed_s=closed, elapsed_s=closed, attempt_started=None)
        if isinstance(event, ev.Finished):
            metrics = event.metrics or {}
            early = bool(metrics.get("stopped_early"))
            steps = metrics.get("steps")
            step = int(steps) if isinstance(steps, (int, float)) and not isinstance(steps, bool) else s.step
            step = max(step, s.step)
            # the total of a finished run is where it ended, unless it says it stopped early on purpose
            total = s.total_steps if early and s.total_steps else step or s.total_steps
            if early:
                best = metrics.get("best_step")
                reason = (f"Finished — stopped early at step {step} of {s.total_steps}; the best model "
                          f"(step {best}) was kept." if best is not None else f"Finished — stopped early at step {step}.")
            else:
                reason = f"Finished at step {step}." if s.kind == "train" else "Finished."
            return replace(s, status="finished", step=step, total_steps=total, output_dir=event.output_dir,
                           stopped_early=early, reason=reason, hint="")
        if isinstance(event, ev.Failed):
            return replace(s, status="failed", reason=event.message or "The job failed.", hint=event.hint)
        if isinstance(event, ev.Paused):
            step = event.step or s.step
            kept = f" (checkpoint of step {_checkpoint_step(event.checkpoint)} kept)" if event.checkpoint else ""
            return replace(s, status="paused", step=max(step, s.step), reason=f"Paused at step {step}{kept}.",
                           hint="Resume continues from the checkpoint.",
                           last_checkpoint=event.checkpoint or s.last_checkpoint,
                           last_checkpoint_step=_checkpoint_step(event.checkpoint) if event.checkpoint
                           else s.last_checkpoint_step)
        if isinstance(event, ev.Cancelled):
            step = event.step or s.step
            return replace(s, status="cancelled", step=max(step, s.step),
                           reason=f"Cancelled at step {step}." if s.kind == "train" else "Cancelled.", hint="",
                           last_checkpoint=event.checkpoint or s.last_checkpoint)
    return replace(s, elapsed_s=s.closed_elapsed_s + _attempt_duration(s, event.time)
                   if s.status == "running" else s.elapsed_s)


def _checkpoint_step(path: str) -> int | None:
    name = str(path).rstrip("/\\").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if name.startswith("checkpoint-"):
        try:
            return int(name[len("checkpoint-"):])
        except ValueError:
            return None
    return None


def fold(run_id: str, events: Iterable[ev.Event], kind: str = "train", state: RunState | None = None) -> RunState:
    """The state after ``events`` (in sequence order), starting from ``state`` or a new queued run."""
    state = state or RunState(run_id=run_id, kind=kind)
    for event in events:
        state = apply(state, event)
    return state


def judge(state: RunState, probe: Probe) -> RunState:
    """``state`` with a running attempt whose process is gone turned into ``lost`` (with its last step).

    ``probe(pid, create_time)`` says whether that exact process is still there. A run that ended, is
    queued, or whose ``started`` named no process, is returned unchanged; a lost run stays lost.
    """
    if state.status != "running" or not state.pid:  # no process named: nothing to judge it by
        return state
    if probe(state.pid, state.create_time if state.create_time else state.attempt_started):
        return state
    what = "training" if state.kind == "train" else "evaluation"
    at = f" at step {state.step}" if state.kind == "train" else ""
    if state.kind == "train" and state.last_checkpoint_step is not None:
        hint = f"Resume it: it continues from its last checkpoint (step {state.last_checkpoint_step})."
    elif state.kind == "train":
        hint = "Resume it if a checkpoint was saved; otherwise clone it to start again with the same settings."
    else:
        hint = "Start the evaluation again."
    closed = _close_attempt(state, state.last_time)
    return replace(state, status="lost", reason=f"The {what} process was lost{at}: it stopped without reporting why.",
                   hint=hint, ended_at=state.last_time, closed_elapsed_s=closed, elapsed_s=closed)


# ---------------------------------------------------------------------------- the real liveness probe
def process_create_time(pid: int | None = None) -> float | None:
    """The creation time of process ``pid`` (this process when None) as psutil reports it, or None."""
    try:
        import os

        import psutil

        return float(psutil.Process(pid or os.getpid()).create_time())
    except Exception:  # noqa: BLE001 - psutil missing, no such process, no access
        return None


def process_alive(pid: int | None, create_time: float | None = None) -> bool:
    """Whether process ``pid`` exists and is the one created at ``create_time`` (± a second).

    ``create_time`` may also be an older stream's ``started`` event time (no creation time was recorded):
    then a process created after it cannot be the worker. Uses psutil only: no signal is ever sent.
    """
    if not pid or pid <= 0:
        return False
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        created = proc.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # exists, belongs to someone else: it cannot be our worker's impostor test
        return create_time is None
    except Exception:  # noqa: BLE001
        return False
    if create_time is None:
        return True
    # a process created later than the recorded one is another process that reuses the pid
    return created <= create_time + CREATE_TIME_TOLERANCE_S


# ---------------------------------------------------------------------------- reading from a store
def load(store, run_id: str, probe: Probe | None = process_alive, kind: str | None = None) -> RunState:
    """The judged state of a stored run (``probe=None`` leaves a running run unjudged).

    Reads every event except the per-step logs, plus the last log of each attempt (so a run with 200,000
    logged steps loads in milliseconds): that is all the fold needs for the state.
    """
    if kind is None:
        kind = store.get_run(run_id).kind
    state = fold(run_id, load_events(store, run_id), kind=kind)
    return judge(state, probe) if probe is not None else state


def load_events(store, run_id: str) -> list[ev.Event]:
    """The run's events a state needs: all but the logs, and the last log before each ``started`` and at the end."""
    import json

    conn = store.conn
    kinds = [t for t in ev.EVENT_TYPES if t != "log"]
    marks = ",".join("?" for _ in kinds)  # an IN list walks the (run_id, type, seq) index, never the logs
    typed = sorted(conn.execute(f"SELECT seq, payload, type FROM events WHERE run_id=? AND type IN ({marks})",
                                (run_id, *kinds)).fetchall(), key=lambda r: r[0])  # sorted here: keeps the index
    rows = [(r[0], r[1]) for r in typed]
    cuts = [r[0] for r in typed if r[2] == "started"] + [2**62]
    logs = []
    for cut in cuts:
        row = conn.execute("SELECT seq, payload FROM events WHERE run_id=? AND type='log' AND seq<? "
                           "ORDER BY seq DESC LIMIT 1", (run_id, cut)).fetchone()
        if row is not None and (not logs or logs[-1][0] != row[0]):
            logs.append(tuple(row))
    merged = sorted([tuple(r) for r in rows] + logs, key=lambda r: r[0])
    out = []
    for _seq, payload in merged:
        try:
            out.append(ev.from_dict(json.loads(payload)))
        except (ValueError, ev.EventDecodeError):
            continue
    return out


def load_all(store, runs, probe: Probe | None = process_alive) -> dict[str, RunState]:
    """The judged state of each run record in ``runs``, by id."""
    return {r.id: load(store, r.id, probe, kind=r.kind) for r in runs}
