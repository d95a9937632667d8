"""A run's life after it was prepared: lost workers, pause and resume, clone, delete, export, summaries.

Qt-free, so the GUI (Monitor and Runs pages) and the CLI (``desktop-ift runs ...``) share every rule:

* :func:`settle_if_lost` — a run still marked running whose worker process is gone (the machine restarted,
  the process was killed) is marked failed, "the training process was lost", with its last step, by
  appending a ``failed`` event with the next sequence number (so every reader sees the same ending).
* :func:`prepare_resume` — a cancelled, paused or lost training run continues from its latest checkpoint:
  the same run id and folder, ``resume_from`` set in its ``job.json``; the worker continues the event
  numbering and the curves continue where they stopped.
* :func:`mark_paused` — "pause" is a cancel that keeps the checkpoint; the flag only changes how the run
  is shown (paused, resumable) and is cleared on resume.
* :func:`clone_settings`, :func:`delete_run`, :func:`export_metrics_csv`, :func:`run_summaries`.

The small ``run_flags`` table (paused / lost) belongs to this module (``Store.ensure_schema``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from desktop_ift.core import events as ev
from desktop_ift.core.store import RunRecord, Store, StoreError

AREA = "run_lifecycle"
MIGRATIONS = [
    """
    CREATE TABLE run_flags (
        run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        paused INTEGER NOT NULL DEFAULT 0,
        lost INTEGER NOT NULL DEFAULT 0
    );
    """,
]

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
LOST_MESSAGE = "The training process was lost at step {step}: it stopped without reporting why."
LOST_MESSAGE_EVAL = "The evaluation process was lost: it stopped without reporting why."
# Columns of the metrics CSV that come first, in this order; other metrics (eval_*) follow alphabetically.
CSV_FIRST = ("step", "epoch", "time", "elapsed_s", "loss", "eval_loss", "learning_rate", "grad_norm",
             "tokens_per_second", "tokens_seen", "memory_mb")
VALIDATION_METRIC = "eval_loss"
PID_CREATE_SLACK_S = 2.0


class RunActionError(RuntimeError):
    """A run action that cannot be done; the message says why and what to do instead."""


def _flags_ready(store: Store) -> None:
    store.ensure_schema(AREA, MIGRATIONS)


def _set_flag(store: Store, run_id: str, **values: int) -> None:
    _flags_ready(store)
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    updates = ", ".join(f"{k}=excluded.{k}" for k in values)
    store.conn.execute("BEGIN IMMEDIATE")
    try:
        store.conn.execute(
            f"INSERT INTO run_flags (run_id, {cols}) VALUES (?, {marks}) "
            f"ON CONFLICT (run_id) DO UPDATE SET {updates}", (run_id, *values.values()))
        store.conn.execute("COMMIT")
    except BaseException:
        store.conn.execute("ROLLBACK")
        raise


def run_flags(store: Store, run_id: str) -> dict[str, bool]:
    """``{"paused": bool, "lost": bool}`` of a run (both False when never set)."""
    _flags_ready(store)
    row = store.conn.execute("SELECT paused, lost FROM run_flags WHERE run_id=?", (run_id,)).fetchone()
    return {"paused": bool(row and row[0]), "lost": bool(row and row[1])}


# ---------------------------------------------------------------------------- worker liveness
def pid_alive(pid: int | None, started_at: float | None = None) -> bool:
    """Whether the process ``pid`` exists and can be the worker that started at ``started_at``.

    A process id can be reused by an unrelated process after the worker died; when ``started_at`` is given,
    a process created after that moment is not the worker.
    """
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, belongs to another user
    except OSError:
        return False
    if started_at is None:
        return True
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return proc.create_time() <= started_at + PID_CREATE_SLACK_S
    except Exception:  # psutil missing, no access, or the process just ended: trust os.kill
        return True


def worker_alive(run: RunRecord) -> bool:
    """Whether the worker of a run that is not over is still running."""
    return pid_alive(run.pid, run.started_at)


def is_lost(run: RunRecord) -> bool:
    """A run marked running whose worker is gone (it never wrote a final event)."""
    return run.status == "running" and not worker_alive(run)


def settle_if_lost(store: Store, run_id: str) -> RunRecord:
    """Mark a lost run failed ("the training process was lost" at its last step) and return it.

    The ending is a ``failed`` event appended with the next sequence number, so a watcher polling the store
    sees it like any other end. A run that is over, queued or still alive is returned unchanged.
    """
    run = store.get_run(run_id)
    if not is_lost(run):
        return run
    checkpoint = latest_checkpoint(Path(run.run_dir))
    if run.kind == "train":
        message = LOST_MESSAGE.format(step=run.last_step)
        if checkpoint is not None:
            hint = (f"Resume it: it continues from its last checkpoint (step {checkpoint_step(checkpoint)}). "
                    f"The log is in {Path(run.run_dir) / 'worker.log'}.")
        else:
            hint = ("No checkpoint was saved, so it cannot be resumed: start it again (Clone on the Runs "
                    "page). Set 'save steps' to keep checkpoints during long runs. "
                    f"The log is in {Path(run.run_dir) / 'worker.log'}.")
    else:
        message = LOST_MESSAGE_EVAL
        hint = f"Start the evaluation again. The log is in {Path(run.run_dir) / 'worker.log'}."
    event = ev.Failed(run_id=run.id, seq=store.last_seq(run.id) + 1, message=message, hint=hint)
    if store.append_event(event):
        _set_flag(store, run.id, lost=1)
    return store.get_run(run.id)


def settle_lost_runs(store: Store, project_id: int | None = None) -> list[RunRecord]:
    """Settle every lost run (of a project); returns the runs that were just marked failed."""
    settled = []
    for run in store.list_runs(project_id):
        if run.status == "running" and not worker_alive(run):
            settled.append(settle_if_lost(store, run.id))
    return settled


# ---------------------------------------------------------------------------- checkpoints and resume
def checkpoint_step(path: Path) -> int:
    """The step of a ``checkpoint-N`` folder."""
    match = CHECKPOINT_RE.match(Path(path).name)
    return int(match.group(1)) if match else -1


def latest_checkpoint(run_dir: Path | str) -> Path | None:
    """The newest complete checkpoint (``<run_dir>/checkpoints/checkpoint-N`` with its trainer state).

    The recipe decides what a complete checkpoint is; its module imports no torch at load time.
    """
    from desktop_ift.core.training.recipe import latest_checkpoint as recipe_latest_checkpoint

    return recipe_latest_checkpoint(run_dir)


def can_resume(store: Store, run: RunRecord) -> tuple[bool, str]:
    """``(True, "")`` if the run can continue from a checkpoint, else ``(False, why)`` in plain words."""
    if run.kind != "train":
        return False, "Only training runs can be resumed; start the evaluation again instead."
    if run.status == "finished":
        return False, "This run has finished; there is nothing left to resume. Clone it to train again."
    if run.status == "queued":
        return False, (f"This run has not started yet: start it with desktop-ift train "
                       f"{Path(run.run_dir) / 'job.json'}.")
    if run.status == "running" and not is_lost(run):
        return False, "This run is still going."
    if latest_checkpoint(Path(run.run_dir)) is None:
        return False, ("This run saved no checkpoint, so it cannot continue where it stopped. "
                       "Clone it to start again with the same settings.")
    if not (Path(run.run_dir) / "job.json").exists():
        return False, "The run's job file is missing from its folder, so it cannot be resumed. Clone it instead."
    return True, ""


def prepare_resume(store: Store, run_id: str) -> Path:
    """Make a cancelled, paused or lost training run ready to continue from its latest checkpoint.

    Writes ``resume_from`` into the run's ``job.json`` and puts the run back to ``queued`` (message cleared);
    returns the job path for the worker. Raises :class:`RunActionError` saying why it cannot.
    """
    run = settle_if_lost(store, run_id)
    ok, why = can_resume(store, run)
    if not ok:
        raise RunActionError(why)
    checkpoint = latest_checkpoint(Path(run.run_dir))
    job_path = Path(run.run_dir) / "job.json"
    try:
        job = json.loads(job_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunActionError(f"The job file {job_path} cannot be read ({exc}). Clone the run instead.") from exc
    job["resume_from"] = str(checkpoint)
    tmp = job_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, job_path)
    store.update_run(run.id, status="queued", message="", hint="", ended_at=None, pid=None)
    _set_flag(store, run.id, paused=0, lost=0)
    return job_path


def mark_paused(store: Store, run_id: str, paused: bool = True) -> None:
    """Remember that the user paused (not cancelled) this run: it is shown as paused and resumable."""
    _set_flag(store, run_id, paused=int(paused))


# ---------------------------------------------------------------------------- clone and delete
def clone_settings(store: Store, run_id: str) -> dict:
    """What a new run needs to repeat this one: ``config`` (TrainConfig fields), ``model``, ``dataset_id``,
    ``template_id`` (None when they no longer exist) and ``split`` (SplitSpec fields)."""
    from desktop_ift.core.training.config import TrainConfig

    run = store.get_run(run_id)
    if run.kind != "train":
        raise RunActionError("Only a training run's settings can be cloned.")
    job = {}
    job_path = Path(run.run_dir) / "job.json"
    if job_path.exists():
        try:
            job = json.loads(job_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            job = {}
    source = job.get("source") or run.config.get("source") or {}
    names = set(TrainConfig().to_dict())
    config = {k: v for k, v in {**run.config, **(job.get("config") or {})}.items() if k in names}
    dataset_id = source.get("dataset_id")
    template_id = None
    if dataset_id is not None:
        try:
            store.get_dataset(int(dataset_id))
        except StoreError:
            dataset_id = None
    template_name = (source.get("template") or {}).get("name")
    project_id = run.project_id or source.get("project_id")
    if template_name and project_id:
        template_id = next((t.id for t in store.list_templates(int(project_id)) if t.name == template_name), None)
    return {
        "config": TrainConfig.from_dict(config).to_dict(),
        "model": job.get("model") or run.config.get("model") or "demo",
        "dataset_id": int(dataset_id) if dataset_id is not None else None,
        "template_id": template_id,
        "split": source.get("split"),
        "name": run.name,
    }


def runs_to_delete(store: Store, run_id: str) -> list[RunRecord]:
    """The run and the evaluation runs made from it (their fine-tuned model goes with it), run first."""
    run = store.get_run(run_id)
    children = [r for r in store.list_runs(run.project_id) if r.parent_run_id == run_id]
    return [run, *children]


def delete_run(store: Store, run_id: str) -> list[str]:
    """Delete a run, its evaluation runs, their rows and folders; returns the deleted run ids.

    Refuses (:class:`RunActionError`) while a worker of any of them is still running. Only folders inside
    the workspace's ``runs/`` are removed.
    """
    doomed = runs_to_delete(store, run_id)
    for run in doomed:
        if run.status in ("running", "queued") and worker_alive(run):
            raise RunActionError(f"The run {run.id} is still going. Cancel it first, then delete it.")
    runs_root = store.runs_dir.resolve()
    for run in doomed:
        folder = Path(run.run_dir).resolve()
        store.delete_run(run.id)
        if folder.parent == runs_root and folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
    return [r.id for r in doomed]


# ---------------------------------------------------------------------------- metrics
@dataclass
class MetricTable:
    """A run's metrics as numpy columns: one row per event that carried figures (a logged step or a
    validation), in sequence order; a missing figure is NaN."""

    seq: "np.ndarray"
    step: "np.ndarray"
    time: "np.ndarray"
    values: dict = field(default_factory=dict)  # name -> float64 array

    def __len__(self) -> int:
        return len(self.seq)

    def column(self, name: str):
        import numpy as np

        return self.values.get(name, np.full(len(self.seq), np.nan))


def _metric_names(conn, run_id: str) -> list[str]:
    """The metric names of a run, by skipping through the (run_id, name, step) index: one short look-up per
    name instead of a scan of every row (``SELECT DISTINCT`` reads all of them)."""
    names: list[str] = []
    while True:
        row = conn.execute("SELECT name FROM metrics WHERE run_id=? AND name>? ORDER BY name LIMIT 1",
                           (run_id, names[-1] if names else "")).fetchone()
        if row is None:
            return names
        names.append(row[0])


def metric_table(store: Store, run_id: str, max_seq: int | None = None) -> MetricTable:
    """Every stored metric of a run (up to event ``max_seq``) as columns, one row per event, in order.

    A run resumed from a checkpoint after it was lost logged some steps twice (the lost attempt went past
    the checkpoint); the rows of the abandoned attempt from the resumed step on are left out, so the curve
    reads as the model that exists. One indexed query per metric (a join would scan), read as plain tuples
    straight into numpy (a ``sqlite3.Row`` per value costs more than the query), and the step read only
    with the first metric and wherever another adds events it did not have: 200,000 logged steps (1.4
    million values) load in about 2 seconds.
    """
    import numpy as np

    limit = max_seq if max_seq is not None else 2**62
    cur = store.conn.cursor()
    cur.row_factory = None  # plain tuples
    names = _metric_names(cur, run_id)
    names.sort(key=lambda n: n != "loss")  # the logged loss first: it has nearly every step
    per_name: dict[str, np.ndarray] = {}  # name -> (seq, value)
    steps: list[np.ndarray] = []  # (seq, step)
    known = np.empty(0)
    for name in names:
        if not len(known):
            rows = np.array(cur.execute("SELECT seq, step, value FROM metrics WHERE run_id=? AND name=? AND seq<=?",
                                        (run_id, name, limit)).fetchall(), dtype=np.float64).reshape(-1, 3)
            steps.append(rows[:, :2])
            per_name[name] = rows[:, ::2]
            known = np.sort(rows[:, 0])
            continue
        rows = np.array(cur.execute("SELECT seq, value FROM metrics WHERE run_id=? AND name=? AND seq<=?",
                                    (run_id, name, limit)).fetchall(), dtype=np.float64).reshape(-1, 2)
        per_name[name] = rows
        if len(rows) and not np.isin(rows[:, 0], known, assume_unique=True).all():
            extra = np.array(cur.execute("SELECT seq, step FROM metrics WHERE run_id=? AND name=? AND seq<=?",
                                         (run_id, name, limit)).fetchall(), dtype=np.float64).reshape(-1, 2)
            steps.append(extra)
            known = np.union1d(known, extra[:, 0])
    if not per_name or not any(len(a) for a in per_name.values()):
        empty = np.empty(0)
        return MetricTable(seq=empty.astype(np.int64), step=empty.astype(np.int64), time=empty, values={})
    seq = known
    step = np.zeros(len(seq))
    for pairs in steps:
        step[np.searchsorted(seq, pairs[:, 0])] = pairs[:, 1]
    values = {}
    for name, arr in per_name.items():
        col = np.full(len(seq), np.nan)
        col[np.searchsorted(seq, arr[:, 0])] = arr[:, 1]
        values[name] = col
    times = np.array(cur.execute("SELECT seq, time FROM events WHERE run_id=? AND seq<=? AND type IN "
                                 "('log', 'eval')", (run_id, limit)).fetchall(), dtype=np.float64).reshape(-1, 2)
    when = np.full(len(seq), np.nan)
    if len(times):
        idx = np.searchsorted(times[:, 0], seq).clip(0, len(times) - 1)
        found = times[idx, 0] == seq
        when[found] = times[idx[found], 1]
    # keep a row only if no later logged step rewinds over it (a resume after a lost attempt)
    is_log = ~np.isnan(values["loss"]) if "loss" in values else np.zeros(len(seq), dtype=bool)
    log_steps = np.where(is_log, step, np.inf)
    later_min = np.minimum.accumulate(log_steps[::-1])[::-1]
    later_min = np.append(later_min[1:], np.inf)
    keep = step < later_min
    return MetricTable(seq=seq[keep].astype(np.int64), step=step[keep].astype(np.int64), time=when[keep],
                       values={name: col[keep] for name, col in values.items()})


def export_metrics_csv(store: Store, run_id: str, path: Path | str) -> int:
    """Write a run's metrics to ``path`` as CSV (one row per logged step or validation); returns the rows.

    Columns: step, epoch, time (ISO, local), elapsed_s (since the first row), then each metric.
    """
    import math

    store.get_run(run_id)
    table = metric_table(store, run_id)
    names = list(table.values)
    columns = [c for c in CSV_FIRST if c in names or c in ("step", "time", "elapsed_s")]
    columns += sorted(n for n in names if n not in columns)
    t0 = float(table.time[0]) if len(table) else 0.0
    path = Path(path)
    cols = {name: table.values[name].tolist() for name in names}
    steps, times = table.step.tolist(), table.time.tolist()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            for i in range(len(table)):
                row = []
                for col in columns:
                    if col == "step":
                        row.append(steps[i])
                    elif col == "time":
                        row.append(time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(times[i]))
                                   if not math.isnan(times[i]) else "")
                    elif col == "elapsed_s":
                        row.append(round(times[i] - t0, 3) if not math.isnan(times[i]) else "")
                    else:
                        value = cols[col][i]
                        row.append("" if math.isnan(value) else repr(value))
                writer.writerow(row)
    except OSError as exc:
        raise RunActionError(f"Cannot write {path}: {exc.strerror or exc}. Choose another folder.") from exc
    return len(table)


# ---------------------------------------------------------------------------- history
@dataclass
class RunSummary:
    """One row of the runs history."""

    run: RunRecord
    status: str  # queued, running, finished, failed, cancelled, paused, lost
    model: str
    method: str
    dataset: str
    template: str
    duration_s: float | None
    best_val_loss: float | None
    best_val_step: int | None
    final_scores: dict[str, float | None]
    resumable: bool

    @property
    def id(self) -> str:
        return self.run.id


def _model_label(model: str) -> str:
    return "demo (tiny)" if model == "demo" else Path(model).name or model


def run_summaries(store: Store, project_id: int | None = None, runs: Iterable[RunRecord] | None = None,
                  settle: bool = True) -> list[RunSummary]:
    """Summaries of the training runs (newest first) for the history table.

    Lost runs are settled first (``settle``). Final scores come from the newest finished evaluation run
    whose parent is the training run (the fine-tuned model's metrics).
    """
    if settle:
        settle_lost_runs(store, project_id)
    runs = list(runs) if runs is not None else store.list_runs(project_id, "train")
    _flags_ready(store)
    best = {}
    for run in runs:  # one indexed lookup per run (a GROUP BY over all metrics would scan them all)
        row = store.conn.execute("SELECT MIN(value), step FROM metrics WHERE run_id=? AND name=?",
                                 (run.id, VALIDATION_METRIC)).fetchone()
        if row and row[0] is not None:
            best[run.id] = (row[0], row[1])
    flags = {r[0]: (bool(r[1]), bool(r[2])) for r in store.conn.execute("SELECT run_id, paused, lost FROM run_flags")}
    evals: dict[str, RunRecord] = {}
    for e in store.list_runs(project_id, "evaluate"):  # newest first: keep the first finished one
        if e.parent_run_id and e.status == "finished" and e.parent_run_id not in evals:
            evals[e.parent_run_id] = e
    out = []
    for run in runs:
        source = run.config.get("source") or {}
        paused, lost = flags.get(run.id, (False, False))
        status = run.status
        if status == "cancelled" and paused:
            status = "paused"
        elif status == "failed" and lost:
            status = "lost"
        end = run.ended_at or (time.time() if run.status == "running" else None)
        duration = end - run.started_at if run.started_at and end else None
        scores: dict[str, float | None] = {}
        if run.id in evals:
            results = store.eval_results(evals[run.id].id)
            tuned = [label for label in results if label != "base"]
            if tuned:
                scores = results[tuned[0]]
        val = best.get(run.id)
        resumable = run.status in ("cancelled", "failed") and latest_checkpoint(Path(run.run_dir)) is not None
        dataset = f"{source['dataset_name']} v{source.get('dataset_version', '?')}" if source.get("dataset_name") else ""
        out.append(RunSummary(
            run=run, status=status,
            model=_model_label(str(run.config.get("model", ""))) if run.config.get("model") else "",
            method=str(run.config.get("method", "")),
            dataset=dataset,
            template=" + ".join(source.get("template_names") or []) or str((source.get("template") or {}).get("name") or ""),
            duration_s=duration,
            best_val_loss=val[0] if val else None,
            best_val_step=int(val[1]) if val else None,
            final_scores=scores,
            resumable=resumable,
        ))
    return out


def run_summary(store: Store, run_id: str) -> RunSummary:
    """The history row of one training run."""
    run = settle_if_lost(store, run_id)
    return run_summaries(store, runs=[run], settle=False)[0]


def last_started(store: Store, run_id: str) -> ev.Started | None:
    """The run's latest ``started`` event (device, pid, resume point), without reading every event."""
    row = store.conn.execute(
        "SELECT payload FROM events WHERE run_id=? AND type='started' ORDER BY seq DESC LIMIT 1", (run_id,)
    ).fetchone()
    event = ev.from_dict(json.loads(row[0])) if row else None
    return event if isinstance(event, ev.Started) else None


def keep_best_blocker(store: Store, run: RunRecord) -> str:
    """Why "stop and keep best" cannot be asked of ``run`` now, in plain words ("" when it can).

    It needs a training run whose worker is alive, with a validation split and at least one validation
    point (the best checkpoint is the one with the lowest validation loss so far).
    """
    if run.kind != "train":
        return "Only training runs can keep their best checkpoint."
    if run.status != "running" or not worker_alive(run):
        return f"Run {run.id} is not training now ({run.status})."
    started = last_started(store, run.id)
    if started is not None and not (started.info or {}).get("validation_examples"):
        return ("This run has no validation split, so there is no validation loss to pick the best model by. "
                "Use Pause or Cancel instead.")
    if not store.metric_series(run.id, VALIDATION_METRIC):
        return "No validation point yet: wait for the first validation loss, or use Pause."
    return ""


def stop_keep_best(store: Store, run_id: str) -> int:
    """Ask the worker of a training run to stop and make its best validation checkpoint the output (SIGUSR1).

    Returns the worker's pid; raises :class:`RunActionError` saying why when it cannot be asked. The worker
    ends the run with a ``finished`` event (``stopped_early``), or, when it has no best checkpoint after
    all, stops like Pause and says why.
    """
    import signal

    run = store.get_run(run_id)
    reason = keep_best_blocker(store, run)
    if reason:
        raise RunActionError(reason)
    try:
        os.kill(run.pid, signal.SIGUSR1)
    except OSError as exc:
        raise RunActionError(f"The worker of run {run.id} could not be reached ({exc}).") from exc
    return run.pid
