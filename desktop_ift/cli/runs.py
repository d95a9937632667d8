"""``runs``, ``runs show RUN``, ``runs watch RUN``, ``runs pause|resume|cancel|stop-keep-best RUN``, ``runs delete RUN``,
``runs export-metrics RUN FILE.csv``, ``runs export-model RUN DEST``.

Every status and its words come from the run's :class:`~desktop_ift.core.run_state.RunState`, the same as the
GUI's: ``runs`` and ``runs show`` cannot disagree."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from desktop_ift.cli.common import CliError, find_project, open_store, run_job
from desktop_ift.cli.run_watch import watch
from desktop_ift.core.errors import WorkerError
from desktop_ift.core.runs import (
    RunActionError, cancel_run, delete_run, export_metrics_csv, latest_checkpoint, prepare_resume, request_pause,
    resume_note, run_state, run_states, run_summary, runs_to_delete, stop_keep_best,
)
from desktop_ift.core.store import StoreError
from desktop_ift.core.training.export import export_model, export_summary, trained_model_folder


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _get_run(store, run_id: str):
    try:
        return store.get_run(run_id)
    except StoreError as exc:
        raise CliError(f"{exc} List the runs with: desktop-ift runs") from exc


def cmd_runs(args) -> int:
    """List runs, newest first, each with its state (a run whose worker is gone reads lost)."""
    store = open_store()
    project = find_project(store, args.project) if getattr(args, "project", None) else None
    records = store.list_runs(project.id if project else None)
    states = run_states(store, records)
    for r in records:
        state = states[r.id]
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        note = state.reason if state.status not in ("running", "finished") else ""
        print(f"{r.id}\t{r.kind}\t{state.status}\t{created}\t{state.progress_text()}\t{note}".rstrip())
    return 0


def cmd_show(args) -> int:
    """Print one run: status, settings, progress, best validation loss, final scores, checkpoint."""
    store = open_store()
    run = _get_run(store, args.run)
    state = run_state(store, run.id)
    lines = [("run", run.id), ("name", run.name), ("kind", run.kind), ("status", state.status)]
    if state.reason and state.status != "running":
        lines.append(("why", state.reason))
    if state.hint:
        lines.append(("what to try", state.hint))
    if run.kind == "train":
        s = run_summary(store, run.id)
        progress = f"step {state.step} of {state.total_steps}" if state.total_steps else f"step {state.step}"
        lines += [("model", s.model), ("method", s.method), ("dataset", s.dataset),
                  ("template", s.template), ("progress", progress),
                  ("attempts", str(state.attempts) if state.attempts > 1 else ""),
                  ("duration", _fmt_duration(state.elapsed() if state.first_started else None))]
        if state.status == "running" and state.pid:
            lines.append(("worker", f"pid {state.pid}"))
        if state.best_val is not None:
            lines.append(("best validation loss", f"{state.best_val:.4f} (step {state.best_val_step})"))
        for name, value in s.final_scores.items():
            lines.append((f"score {name}", "" if value is None else f"{value:.4f}"))
        checkpoint = latest_checkpoint(Path(run.run_dir))
        lines.append(("latest checkpoint", str(checkpoint) if checkpoint else "none"))
        if s.resumable:
            lines.append(("resume with", f"desktop-ift runs resume {run.id}"))
        if state.status == "running":
            lines.append(("follow with", f"desktop-ift runs watch {run.id}"))
    else:
        lines += [("parent run", run.parent_run_id or "")]
        for label, metrics in store.eval_results(run.id).items():
            shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if v is not None)
            lines.append((f"scores {label}", shown))
    lines.append(("folder", run.run_dir))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        if value != "":
            print(f"{key.ljust(width)}  {value}")
    return 0


def cmd_delete(args) -> int:
    """Delete a run, its evaluations and their folders (asks unless --yes)."""
    import sys

    store = open_store()
    doomed = runs_to_delete(store, _get_run(store, args.run).id)
    if not args.yes:
        extra = f" and its {len(doomed) - 1} evaluation run(s)" if len(doomed) > 1 else ""
        if not sys.stdin.isatty():
            raise CliError(f"Deleting {args.run}{extra} removes its files for good; add --yes to confirm.")
        answer = input(f"Delete {args.run}{extra} and all their files? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 0
    try:
        deleted = delete_run(store, args.run)
    except RunActionError as exc:
        raise CliError(str(exc)) from exc
    for run_id in deleted:
        print(f"deleted {run_id}")
    return 0


def cmd_export_metrics(args) -> int:
    """Write a run's per-step metrics to a CSV file."""
    store = open_store()
    run = _get_run(store, args.run)
    try:
        rows = export_metrics_csv(store, run.id, args.file)
    except RunActionError as exc:
        raise CliError(str(exc)) from exc
    print(f"wrote {rows} rows to {Path(args.file).resolve()}")
    return 0


def cmd_resume(args) -> int:
    """Continue a paused, cancelled, failed or lost training run from its newest checkpoint that loads."""
    store = open_store()
    run = _get_run(store, args.run)
    try:
        job_path = prepare_resume(store, run.id)
    except RunActionError as exc:
        raise CliError(str(exc)) from exc
    print(resume_note(store, run.id), file=sys.stderr, flush=True)
    store.close()
    return run_job(job_path, args.json)


def cmd_pause(args) -> int:
    """Pause a running training run: it saves a checkpoint and stops; ``runs resume`` continues it."""
    store = open_store()
    run = _get_run(store, args.run)
    try:
        pid = request_pause(store, run.id)
    except RunActionError as exc:
        raise CliError(str(exc)) from exc
    print(f"asked worker {pid} to pause (it saves a checkpoint first); follow it with: desktop-ift runs watch {run.id}")
    return 0


def cmd_cancel(args) -> int:
    """Cancel a run: a running worker stops (keeping a checkpoint); a paused or lost run is given up."""
    store = open_store()
    run = _get_run(store, args.run)
    try:
        done = cancel_run(store, run.id)
    except RunActionError as exc:
        raise CliError(str(exc)) from exc
    print(f"{run.id}: {done}")
    return 0


def cmd_watch(args) -> int:
    """Follow a run (started here, in the GUI or another terminal) to its end with a live progress line;
    exits with the run's outcome: 0 finished, 1 failed or lost, 3 paused or cancelled."""
    store = open_store()
    run = _get_run(store, args.run)
    return watch(store, run.id, interval=args.interval)


def cmd_stop_keep_best(args) -> int:
    """Ask a running training run to stop now and keep its best validation checkpoint as the output."""
    store = open_store()
    run = _get_run(store, args.run)
    try:
        pid = stop_keep_best(store, run.id)
    except RunActionError as exc:
        raise CliError(str(exc)) from exc
    print(f"asked worker {pid} to stop and keep the best checkpoint; follow it with: desktop-ift runs watch {run.id}")
    return 0


def cmd_export_model(args) -> int:
    """Copy a finished training run's model to a new folder; ``--merge`` merges a LoRA adapter into its base."""
    import errno

    store = open_store()
    run = _get_run(store, args.run)
    try:
        source = trained_model_folder(store, run.id)
        store.close()
        if args.merge:
            print("Merging the adapter into its base model (this loads the base model)…", file=sys.stderr, flush=True)
        result = export_model(source, Path(args.dest), merge=args.merge)
    except WorkerError as exc:
        raise CliError(exc.message + (f" {exc.hint}" if exc.hint else "")) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise CliError(f"The disk is full: the export to {args.dest} was not written (nothing half-written "
                           "is left). Free some space, or choose another disk.") from exc
        raise CliError(f"The export to {args.dest} failed: {exc}. Nothing half-written is left.") from exc
    print(result.describe())
    print(export_summary(result))
    return 0


def register(sub) -> None:
    p = sub.add_parser("runs", help="list runs; 'runs show|watch|pause|resume|cancel|stop-keep-best|delete|export-metrics|"
                                         "export-model RUN' act on one")
    p.add_argument("--project", default=argparse.SUPPRESS, help="only this project's runs")
    p.set_defaults(func=cmd_runs)
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    a = actions.add_parser("show", help="a run's status, settings, best validation loss and scores")
    a.add_argument("run")
    a.set_defaults(func=cmd_show)

    a = actions.add_parser("delete", help="delete a run, its evaluations and their files")
    a.add_argument("run")
    a.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    a.set_defaults(func=cmd_delete)

    a = actions.add_parser("export-metrics", help="write a run's per-step metrics to a CSV file")
    a.add_argument("run")
    a.add_argument("file")
    a.set_defaults(func=cmd_export_metrics)

    a = actions.add_parser("resume", help="continue a paused, cancelled, failed or lost training run from its "
                                          "newest checkpoint that loads")
    a.add_argument("run")
    a.add_argument("--json", action="store_true", help="print the raw event lines")
    a.set_defaults(func=cmd_resume)

    a = actions.add_parser("pause", help="pause a running training run (it saves a checkpoint; resume continues)")
    a.add_argument("run")
    a.set_defaults(func=cmd_pause)

    a = actions.add_parser("cancel", help="cancel a run (a running one stops; a paused or lost one is given up)")
    a.add_argument("run")
    a.set_defaults(func=cmd_cancel)

    a = actions.add_parser("watch", help="follow a run to its end with a live progress line (re-attaches to a "
                                         "run started elsewhere); exits with its outcome")
    a.add_argument("run")
    a.add_argument("--interval", type=float, default=0.5, help="seconds between looks (default 0.5)")
    a.set_defaults(func=cmd_watch)

    a = actions.add_parser("stop-keep-best", help="stop a running training run now; its best validation "
                                                  "checkpoint becomes the output")
    a.add_argument("run")
    a.set_defaults(func=cmd_stop_keep_best)

    a = actions.add_parser("export-model", help="copy a finished run's model to a new folder (an adapter can be "
                                                "merged into its base: a standalone model)")
    a.add_argument("run")
    a.add_argument("dest", help="the folder to create (must not exist, or be empty)")
    a.add_argument("--merge", action="store_true",
                   help="merge a LoRA/DoRA adapter into its base model, for tools that do not load adapters")
    a.set_defaults(func=cmd_export_model)
    __import__("desktop_ift.cli.gguf", fromlist=["register"]).register(actions)  # runs export-gguf
