"""``runs``, ``runs show RUN``, ``runs delete RUN``, ``runs export-metrics RUN FILE.csv``, ``runs resume RUN``,
``runs stop-keep-best RUN``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from desktop_ift.cli.common import CliError, find_project, open_store, run_job


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _get_run(store, run_id: str):
    from desktop_ift.core.store import StoreError

    try:
        return store.get_run(run_id)
    except StoreError as exc:
        raise CliError(f"{exc} List the runs with: desktop-ift runs") from exc


def cmd_runs(args) -> int:
    """List runs, newest first (lost workers are settled first, so their status is true)."""
    from desktop_ift.core.runs import settle_lost_runs

    store = open_store()
    project = find_project(store, args.project) if args.project else None
    settle_lost_runs(store, project.id if project else None)
    for r in store.list_runs(project.id if project else None):
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        step = f"step {r.last_step}/{r.total_steps}" if r.kind == "train" else ""
        print(f"{r.id}\t{r.kind}\t{r.status}\t{created}\t{step}\t{r.message}".rstrip())
    return 0


def cmd_show(args) -> int:
    """Print one run: status, settings, progress, best validation loss, final scores, checkpoint."""
    from desktop_ift.core.runs import latest_checkpoint, run_summary, settle_if_lost

    store = open_store()
    run = settle_if_lost(store, _get_run(store, args.run).id)
    lines = [("run", run.id), ("name", run.name), ("kind", run.kind)]
    if run.kind == "train":
        s = run_summary(store, run.id)
        lines += [("status", s.status), ("model", s.model), ("method", s.method), ("dataset", s.dataset),
                  ("template", s.template), ("progress", f"step {run.last_step} of {run.total_steps}"),
                  ("duration", _fmt_duration(s.duration_s))]
        if s.best_val_loss is not None:
            lines.append(("best validation loss", f"{s.best_val_loss:.4f} (step {s.best_val_step})"))
        for name, value in s.final_scores.items():
            lines.append((f"score {name}", "" if value is None else f"{value:.4f}"))
        checkpoint = latest_checkpoint(Path(run.run_dir))
        lines.append(("latest checkpoint", str(checkpoint) if checkpoint else "none"))
        if s.resumable:
            lines.append(("resume with", f"desktop-ift runs resume {run.id}"))
    else:
        lines += [("status", run.status), ("parent run", run.parent_run_id or "")]
        for label, metrics in store.eval_results(run.id).items():
            shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if v is not None)
            lines.append((f"scores {label}", shown))
    if run.message:
        lines.append(("message", run.message))
    if run.hint:
        lines.append(("what to try", run.hint))
    lines.append(("folder", run.run_dir))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        if value != "":
            print(f"{key.ljust(width)}  {value}")
    return 0


def cmd_delete(args) -> int:
    """Delete a run, its evaluations and their folders (asks unless --yes)."""
    import sys

    from desktop_ift.core.runs import RunActionError, delete_run, runs_to_delete

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
    from desktop_ift.core.runs import RunActionError, export_metrics_csv

    store = open_store()
    run = _get_run(store, args.run)
    try:
        rows = export_metrics_csv(store, run.id, args.file)
    except RunActionError as exc:
        raise CliError(str(exc)) from exc
    print(f"wrote {rows} rows to {Path(args.file).resolve()}")
    return 0


def cmd_resume(args) -> int:
    """Continue a cancelled, paused or lost training run from its latest checkpoint, in a worker process."""
    from desktop_ift.core.runs import RunActionError, prepare_resume

    store = open_store()
    run = _get_run(store, args.run)
    try:
        job_path = prepare_resume(store, run.id)
    except RunActionError as exc:
        raise CliError(str(exc)) from exc
    store.close()
    return run_job(job_path, args.json)


def cmd_stop_keep_best(args) -> int:
    """Ask a running training run to stop now and keep its best validation checkpoint as the output."""
    from desktop_ift.core.runs import RunActionError, stop_keep_best

    store = open_store()
    run = _get_run(store, args.run)
    try:
        pid = stop_keep_best(store, run.id)
    except RunActionError as exc:
        raise CliError(str(exc)) from exc
    print(f"asked worker {pid} to stop and keep the best checkpoint; follow it with: desktop-ift runs show {run.id}")
    return 0


def cmd_export_model(args) -> int:
    """Copy a finished training run's model to a new folder; ``--merge`` merges a LoRA adapter into its base."""
    import errno

    from desktop_ift.core.modeling import WorkerError
    from desktop_ift.core.training.export import export_model, export_summary, trained_model_folder

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
    p = sub.add_parser("runs", help="list runs; 'runs show|delete|export-metrics|export-model|resume RUN' act on one")
    p.add_argument("--project", help="only this project's runs")
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

    a = actions.add_parser("resume", help="continue a cancelled, paused or lost training run from its checkpoint")
    a.add_argument("run")
    a.add_argument("--json", action="store_true", help="print the raw event lines")
    a.set_defaults(func=cmd_resume)

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
