"""A run's life after it was prepared: its state, pause, resume, cancel, clone, delete, export, summaries.

Qt-free, so the GUI (Monitor and Runs pages) and the CLI (``desktop-ift runs ...``) share every rule:

* :func:`run_state` — the run's :class:`~desktop_ift.core.run_state.RunState`, folded from its events and
  judged by the exact-process probe (a running run whose worker is gone reads ``lost``: nothing is written).
* :func:`request_pause` — pause is a stop that keeps a checkpoint: the worker writes ``paused``.
* :func:`prepare_resume` — a paused, cancelled, failed or lost training run continues from its newest
  checkpoint that loads (a damaged newer one is skipped and named): the same run id and folder,
  ``resume_from`` set in its ``job.json``, a ``resumed`` event; the worker's ``started`` numbers the attempt.
* :func:`cancel_run` — stops a running worker, or gives up a paused/lost run (a ``cancelled`` event).
* :func:`clone_settings`, :func:`delete_run`, :func:`export_metrics_csv`, :func:`run_summaries`.

Older workspaces kept "paused" and "lost" in a ``run_flags`` table; its second migration turns them into the
events a reader folds today (the paused run's ``cancelled`` becomes ``paused``; the ``failed`` written for a
lost run becomes a plain progress note, so the run reads lost again) and drops the table.
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
from desktop_ift.core import run_state as rs
from desktop_ift.core.job_format import rebase_job
from desktop_ift.core.run_lock import RunBusy, live_holder
from desktop_ift.core.store import RunRecord, Store, StoreError
from desktop_ift.core.templates.library import save_set
from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.training.memory import _limit_for, out_of_memory_message, was_oom_killed
from desktop_ift.core.training.recipe import latest_checkpoint as recipe_latest_checkpoint

AREA = "run_lifecycle"
MIGRATIONS = [
    """
    CREATE TABLE run_flags (
        run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        paused INTEGER NOT NULL DEFAULT 0,
        lost INTEGER NOT NULL DEFAULT 0
    );
    """,
    # pause and loss live in the event stream now (run_state.py): convert the old flags, then drop them
    """
    UPDATE events SET type='paused', payload=json_set(payload, '$.type', 'paused')
     WHERE type='cancelled' AND run_id IN (SELECT run_id FROM run_flags WHERE paused=1)
       AND seq=(SELECT MAX(e.seq) FROM events e WHERE e.run_id=events.run_id AND e.type='cancelled');
    UPDATE runs SET status='paused' WHERE status='cancelled' AND id IN (SELECT run_id FROM run_flags WHERE paused=1);
    UPDATE events SET type='progress', payload=json_object('type', 'progress', 'run_id', run_id, 'seq', seq,
           'time', time, 'stage', 'lost', 'done', 0, 'total', 0, 'message', json_extract(payload, '$.message'))
     WHERE type='failed' AND run_id IN (SELECT run_id FROM run_flags WHERE lost=1)
       AND seq=(SELECT MAX(e.seq) FROM events e WHERE e.run_id=events.run_id);
    UPDATE runs SET status='running', ended_at=NULL, message='', hint=''
     WHERE status='failed' AND id IN (SELECT run_id FROM run_flags WHERE lost=1);
    DROP TABLE run_flags;
    """,
    # a run's state reads its few non-log events and the last log of each attempt: index them by type
    """
    CREATE INDEX IF NOT EXISTS events_by_type ON events (run_id, type, seq);
    """,
]

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
# Columns of the metrics CSV that come first, in this order; other metrics (eval_*) follow alphabetically.
CSV_FIRST = ("step", "epoch", "time", "elapsed_s", "loss", "eval_loss", "learning_rate", "grad_norm",
             "tokens_per_second", "tokens_seen", "memory_mb")
VALIDATION_METRIC = "eval_loss"
PAUSE_REQUEST = "pause.request"  # the worker's name for it (worker.PAUSE_REQUEST); worker imports torch-free


class RunActionError(RuntimeError):
    """A run action that cannot be done; the message says why and what to do instead."""


def ensure_ready(store: Store) -> None:
    """Bring this module's tables up to date (an old workspace's run flags become events once)."""
    store.ensure_schema(AREA, MIGRATIONS)


# ---------------------------------------------------------------------------- state and liveness
def run_state(store: Store, run_id: str, probe: rs.Probe | None = rs.process_alive) -> rs.RunState:
    """The run's state: folded from its events, a running attempt judged by ``probe`` (None: not judged)."""
    ensure_ready(store)
    return rs.load(store, run_id, probe)


def run_states(store: Store, runs: Iterable[RunRecord], probe: rs.Probe | None = rs.process_alive
               ) -> dict[str, rs.RunState]:
    """The state of each run, by id."""
    ensure_ready(store)
    return rs.load_all(store, list(runs), probe)


def pid_alive(pid: int | None, create_time: float | None = None) -> bool:
    """Whether process ``pid`` exists and is the one created at ``create_time`` (psutil; never a signal)."""
    return rs.process_alive(pid, create_time)


def worker_alive(store: Store, run: RunRecord) -> bool:
    """Whether a worker is working on ``run`` now: the lock of its folder is held, or its current attempt's
    exact process (pid and creation time) still runs."""
    if live_holder(run.run_dir) is not None:
        return True
    return run_state(store, run.id).status == "running"


def lost_runs(store: Store, project_id: int | None = None) -> list[rs.RunState]:
    """The runs (of a project) whose worker is gone without a final event."""
    out = []
    for run in store.list_runs(project_id):
        if run.status == "running":
            state = run_state(store, run.id)
            if state.status == "lost":
                out.append(state)
    return out


def live_worker_message(run: RunRecord) -> str:
    """Why nothing may start a worker on ``run`` now ("" when no live worker holds it)."""
    holder = live_holder(run.run_dir)
    return str(RunBusy(Path(run.run_dir), holder)) if holder is not None else ""


# ---------------------------------------------------------------------------- checkpoints and resume
def report_oom_kill(store: Store, run_id: str, exit_code: int | None, oom_kills_before: int | None,
                    folder: Path | None = None) -> ev.Failed | None:
    """A worker that ended with SIGKILL and no ending of its own: when the kernel's out-of-memory killer did
    it (the cgroup's OOM-kill count rose since ``oom_kills_before``, or memory was at the limit), write a
    ``failed`` event saying so, with what to change, for every reader to see; else None (the run reads lost).
    ``folder`` is the memory cgroup to read (default: this process's own)."""
    if not was_oom_killed(exit_code, oom_kills_before, folder=folder):
        return None
    state = run_state(store, run_id, probe=None)
    if state.status in ("finished", "failed", "cancelled", "paused"):  # it did write its own ending
        return None
    event = ev.Failed(run_id=run_id, seq=store.last_seq(run_id) + 1,
                      message=f"The training process was stopped by the system at step {state.step}: it ran out "
                              "of memory.",
                      hint=out_of_memory_message(_limit_for(folder)))
    store.append_event(event)
    return event


def checkpoint_step(path: Path) -> int:
    """The step of a ``checkpoint-N`` folder."""
    match = CHECKPOINT_RE.match(Path(path).name)
    return int(match.group(1)) if match else -1


def latest_checkpoint(run_dir: Path | str) -> Path | None:
    """The newest complete checkpoint (``<run_dir>/checkpoints/checkpoint-N`` with its trainer state).

    The recipe decides what a complete checkpoint is; its module imports no torch at load time.
    """
    return recipe_latest_checkpoint(run_dir)


WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors", "adapter_model.bin", "pytorch_model.bin")


def checkpoint_problem(folder: Path) -> str:
    """Why the checkpoint ``folder`` cannot be loaded, in plain words ("" when it looks whole).

    Reads no tensors: the trainer state must parse, the weights must be there with a readable safetensors
    header whose data fits in the file, and the optimizer state (a zip written by torch) must be complete.
    """
    import zipfile

    folder = Path(folder)
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"its trainer state cannot be read ({exc.__class__.__name__})"
    weights = [folder / n for n in WEIGHT_FILES if (folder / n).exists()]
    weights += sorted(folder.glob("model-*.safetensors"))
    if not weights:
        return "it holds no model weights"
    for path in weights:
        if path.suffix == ".safetensors":
            try:
                with path.open("rb") as fh:
                    size = int.from_bytes(fh.read(8), "little")
                    header = json.loads(fh.read(size))
                end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
                if path.stat().st_size < 8 + size + end:
                    return f"{path.name} is cut short"
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                return f"{path.name} is damaged"
        elif path.stat().st_size == 0:
            return f"{path.name} is empty"
    optimizer = folder / "optimizer.pt"
    if optimizer.exists() and not zipfile.is_zipfile(optimizer):
        return "its optimizer state is damaged"
    return ""


def usable_checkpoint(run_dir: Path | str) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest checkpoint of the run that can be loaded, and the newer ones skipped with why."""
    folder = Path(run_dir) / "checkpoints"
    found = sorted((p for p in folder.iterdir() if p.is_dir() and CHECKPOINT_RE.match(p.name)),
                   key=checkpoint_step, reverse=True) if folder.is_dir() else []
    skipped: list[tuple[Path, str]] = []
    for path in found:
        problem = checkpoint_problem(path)
        if not problem:
            return path, skipped
        skipped.append((path, problem))
    return None, skipped


def can_resume(store: Store, run: RunRecord, state: rs.RunState | None = None) -> tuple[bool, str]:
    """``(True, "")`` if the run can continue from a checkpoint, else ``(False, why)`` in plain words."""
    if run.kind != "train":
        return False, "Only training runs can be resumed; start the evaluation again instead."
    state = state or run_state(store, run.id)
    busy = live_worker_message(run)
    if busy:
        return False, busy
    if state.status == "finished":
        return False, "This run has finished; there is nothing left to resume. Clone it to train again."
    if state.status == "queued":
        return False, (f"This run has not started yet: start it with desktop-ift train "
                       f"{Path(run.run_dir) / 'job.json'}.")
    if state.status == "running":
        return False, "This run is still going."
    if usable_checkpoint(Path(run.run_dir))[0] is None:
        return False, ("This run saved no checkpoint that can be loaded, so it cannot continue where it stopped. "
                       "Clone it to start again with the same settings.")
    if not (Path(run.run_dir) / "job.json").exists():
        return False, "The run's job file is missing from its folder, so it cannot be resumed. Clone it instead."
    return True, ""


def prepare_resume(store: Store, run_id: str) -> Path:
    """Make a paused, cancelled, failed or lost training run ready to continue from its newest checkpoint
    that loads (newer damaged ones are skipped and named in the ``resumed`` event's note).

    Writes ``resume_from`` into the run's ``job.json`` and appends a ``resumed`` event (the run reads
    queued until its worker starts); returns the job path for the worker. Raises :class:`RunActionError`
    saying why it cannot (a live worker holds the run, nothing to resume from, ...).
    """
    run = store.get_run(run_id)
    state = run_state(store, run_id)
    ok, why = can_resume(store, run, state)
    if not ok:
        raise RunActionError(why)
    checkpoint, skipped = usable_checkpoint(Path(run.run_dir))
    assert checkpoint is not None  # can_resume checked
    job_path = Path(run.run_dir) / "job.json"
    try:
        job = rebase_job(json.loads(job_path.read_text(encoding="utf-8")), job_path)  # a moved workspace
    except (OSError, ValueError) as exc:
        raise RunActionError(f"The job file {job_path} cannot be read ({exc}). Clone the run instead.") from exc
    job["resume_from"] = str(checkpoint)
    tmp = job_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, job_path)
    note = "; ".join(f"{p.name} skipped: {why}" for p, why in skipped)
    store.append_event(ev.Resumed(run_id=run.id, seq=store.last_seq(run.id) + 1, attempt=state.attempts + 1,
                                  step=checkpoint_step(checkpoint), checkpoint=str(checkpoint), note=note))
    return job_path


def resume_note(store: Store, run_id: str) -> str:
    """One line saying which checkpoint the last resume continues from (and which were skipped, why)."""
    row = store.conn.execute("SELECT payload FROM events WHERE run_id=? AND type='resumed' ORDER BY seq DESC "
                             "LIMIT 1", (run_id,)).fetchone()
    if row is None:
        return ""
    event = ev.from_dict(json.loads(row[0]))
    text = f"Resuming from {Path(event.checkpoint).name} (step {event.step})"
    return text + (f" — {event.note}" if getattr(event, "note", "") else "") + "."


def _terminate(state: rs.RunState) -> None:
    """Ask the exact worker process of ``state`` to stop (SIGTERM through psutil: it saves a checkpoint)."""
    import psutil

    try:
        proc = psutil.Process(state.pid)
        proc.terminate()
    except psutil.Error as exc:
        raise RunActionError(f"The worker of run {state.run_id} could not be reached ({exc}).") from exc


def request_pause(store: Store, run_id: str) -> int:
    """Pause a running training run: its worker saves a checkpoint and ends with ``paused``. Returns its pid."""
    run = store.get_run(run_id)
    state = run_state(store, run_id)
    if run.kind != "train":
        raise RunActionError("Only training runs can be paused; cancel the evaluation instead.")
    if state.status != "running":
        raise RunActionError(f"Run {run_id} is not running ({state.words.lower()}): there is nothing to pause.")
    (Path(run.run_dir) / PAUSE_REQUEST).write_text("pause: keep the checkpoint, resume later\n", encoding="utf-8")
    _terminate(state)
    return int(state.pid or 0)


def cancel_run(store: Store, run_id: str) -> str:
    """Cancel a run: a running worker is asked to stop (it ends with ``cancelled``); a paused or lost run is
    given up (a ``cancelled`` event, so it no longer offers Resume as the next step). Returns what was done."""
    run = store.get_run(run_id)
    state = run_state(store, run_id)
    if state.status == "running":
        (Path(run.run_dir) / PAUSE_REQUEST).unlink(missing_ok=True)
        _terminate(state)
        return f"asked worker {state.pid} to stop"
    if state.status in ("paused", "lost", "queued"):
        busy = live_worker_message(run)
        if busy:
            raise RunActionError(busy)
        store.append_event(ev.Cancelled(run_id=run.id, seq=store.last_seq(run.id) + 1, step=state.step,
                                        checkpoint=state.last_checkpoint))
        return f"cancelled at step {state.step}"
    raise RunActionError(f"Run {run_id} is already over ({state.words.lower()}).")


# ---------------------------------------------------------------------------- clone and delete
def clone_settings(store: Store, run_id: str) -> dict:
    """What a new run needs to repeat this one: ``config`` (TrainConfig fields: the maximum length and what
    happens to longer examples included), ``model``, ``dataset_id``, ``template_ids`` (every template of the
    set, found by id or name in the project), ``template_id`` (the first of them), ``template_set`` (mode,
    seed, weights of a set of several, else None), ``missing_templates`` (names no longer in the project),
    ``format_spec`` (a chat or pre-training run's spec, else None) and ``split`` (SplitSpec fields: ratios
    and seed, stratify column or the data's split column)."""
    run = store.get_run(run_id)
    if run.kind != "train":
        raise RunActionError("Only a training run's settings can be cloned.")
    job = {}
    job_path = Path(run.run_dir) / "job.json"
    if job_path.exists():
        try:
            job = rebase_job(json.loads(job_path.read_text(encoding="utf-8")), job_path)
        except (OSError, ValueError, AttributeError):
            job = {}
    source = job.get("source") or run.config.get("source") or {}
    names = set(TrainConfig().to_dict())
    config = {k: v for k, v in {**run.config, **(job.get("config") or {})}.items() if k in names}
    dataset_id = source.get("dataset_id")
    if dataset_id is not None:
        try:
            store.get_dataset(int(dataset_id))
        except StoreError:
            dataset_id = None
    project_id = run.project_id or source.get("project_id")
    set_info = source.get("template_set") or {}
    wanted = [t.get("name") for t in set_info.get("templates") or []] or \
        [n for n in [(source.get("template") or {}).get("name")] if n]
    saved_ids = list(set_info.get("template_ids") or [])
    project_templates = store.list_templates(int(project_id)) if project_id else []
    by_id = {t.id: t for t in project_templates}
    template_ids, missing, weights = [], [], []
    for i, name in enumerate(wanted):
        same = saved_ids[i] if i < len(saved_ids) and len(saved_ids) == len(wanted) else None
        found = same if same in by_id and by_id[same].name == name else \
            next((t.id for t in project_templates if t.name == name), None)
        if found is None or found in template_ids:
            missing.append(name)
            continue
        template_ids.append(found)
        weights.append((set_info.get("weights") or [None] * len(wanted))[i])
    template_set = None
    if len(template_ids) > 1:
        template_set = {"mode": set_info.get("mode") or "random", "seed": int(set_info.get("seed") or 0),
                        "weights": weights if all(w is not None for w in weights) else None}
    return {
        "config": TrainConfig.from_dict(config).to_dict(),
        "model": job.get("model") or run.config.get("model") or "demo",
        "dataset_id": int(dataset_id) if dataset_id is not None else None,
        "template_id": template_ids[0] if template_ids else None,
        "template_ids": template_ids,
        "template_set": template_set,
        "missing_templates": missing,
        "format_spec": next((dict(source[k]) for k in ("chat_spec", "text_spec") if source.get(k)), None),
        "split": source.get("split"),
        "name": run.name,
    }


def clone_training_source(store: Store, project_id: int, settings: dict) -> dict | None:
    """The project's training choice (the ``training_source`` setting the Template set tab reads) for
    :func:`clone_settings`'s result: one template, a set of several (saved as "Template set"), the chat or
    pre-training spec, or None when none of its templates is left. Raises ``ValueError`` (LibraryError)
    when the set cannot be saved."""
    ids = settings.get("template_ids") or []
    if settings.get("format_spec"):
        return dict(settings["format_spec"])
    if len(ids) == 1:
        return {"kind": "template", "template_id": ids[0]}
    if not ids:
        return None
    chosen = settings.get("template_set") or {}
    record = save_set(store, project_id, "Template set", ids, chosen.get("mode", "random"), chosen.get("weights"),
                      chosen.get("seed", 0))
    return {"kind": "template_set", "set_id": record.id}


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
        if worker_alive(store, run):
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
    status: str  # the RunState's: queued, running, paused, cancelled, lost, failed, finished
    model: str
    method: str
    dataset: str
    template: str
    duration_s: float | None
    best_val_loss: float | None
    best_val_step: int | None
    final_scores: dict[str, float | None]
    resumable: bool
    state: rs.RunState | None = None

    @property
    def id(self) -> str:
        return self.run.id


def _model_label(model: str) -> str:
    return "demo (tiny)" if model == "demo" else Path(model).name or model


def run_summaries(store: Store, project_id: int | None = None, runs: Iterable[RunRecord] | None = None,
                  probe: rs.Probe | None = rs.process_alive) -> list[RunSummary]:
    """Summaries of the training runs (newest first) for the history table.

    The status, duration (summed over attempts), best validation loss and the resumability come from each
    run's :class:`RunState` (judged by ``probe``: a run whose worker is gone reads lost). Final scores come
    from the newest finished evaluation run whose parent is the training run (the fine-tuned model's metrics).
    """
    runs = list(runs) if runs is not None else store.list_runs(project_id, "train")
    states = run_states(store, runs, probe)
    evals: dict[str, RunRecord] = {}
    for e in store.list_runs(project_id, "evaluate"):  # newest first: keep the first finished one
        if e.parent_run_id and e.status == "finished" and e.parent_run_id not in evals:
            evals[e.parent_run_id] = e
    out = []
    for run in runs:
        source = run.config.get("source") or {}
        state = states[run.id]
        duration = state.elapsed() if state.first_started is not None else None
        scores: dict[str, float | None] = {}
        if run.id in evals:
            results = store.eval_results(evals[run.id].id)
            tuned = [label for label in results if label != "base"]
            if tuned:
                scores = results[tuned[0]]
        resumable = state.resumable_status and latest_checkpoint(Path(run.run_dir)) is not None
        dataset = f"{source['dataset_name']} v{source.get('dataset_version', '?')}" if source.get("dataset_name") else ""
        out.append(RunSummary(
            run=run, status=state.status, state=state,
            model=_model_label(str(run.config.get("model", ""))) if run.config.get("model") else "",
            method=str(run.config.get("method", "")),
            dataset=dataset,
            template=" + ".join(source.get("template_names") or []) or str((source.get("template") or {}).get("name") or ""),
            duration_s=duration,
            best_val_loss=state.best_val,
            best_val_step=state.best_val_step,
            final_scores=scores,
            resumable=resumable,
        ))
    return out


def run_summary(store: Store, run_id: str) -> RunSummary:
    """The history row of one training run."""
    return run_summaries(store, runs=[store.get_run(run_id)])[0]


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
    state = run_state(store, run.id)
    if state.status != "running":
        return f"Run {run.id} is not training now ({state.words.lower()})."
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
        os.kill(run_state(store, run.id).pid or 0, signal.SIGUSR1)
    except OSError as exc:
        raise RunActionError(f"The worker of run {run.id} could not be reached ({exc}).") from exc
    return run.pid
