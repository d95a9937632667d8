"""The ``desktop-ift`` command line: the same core calls as the GUI, for scripting and tests.

    desktop-ift                      start the app (same as ``desktop-ift gui``)
    desktop-ift demo --headless      the whole flow on the demo, no window; prints base vs fine-tuned
    desktop-ift import FILE          import a data file into a project
    desktop-ift projects | datasets | templates | runs
    desktop-ift prepare-train ...    write a training job (prints its job.json path)
    desktop-ift train JOB            run a training job in a worker process, printing its progress
    desktop-ift prepare-eval RUN     write an evaluation job for a finished training run
    desktop-ift evaluate JOB         run an evaluation job
    desktop-ift results RUN          print an evaluation run's side-by-side table
    desktop-ift workspace            print where the workspace is

Exit codes: 0 success, 1 the job or command failed (with a message on stderr), 2 bad usage,
3 the job was cancelled.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from desktop_ift import __version__

EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 1, 2, 3


class CliError(Exception):
    """A problem the user can fix; printed as one message, no traceback."""


def _store():
    from desktop_ift.core.store import Store

    return Store.open()


def _project(store, name: str | None):
    """The named project, or the demo project (created on first use) when no name is given."""
    if name:
        project = store.find_project(name)
        if project is None:
            known = ", ".join(p.name for p in store.list_projects()) or "none yet"
            raise CliError(f"No project named {name!r} (projects: {known}). "
                           "Create one with: desktop-ift import FILE --project NAME")
        return project
    from desktop_ift.core.demo import ensure_demo_project

    return ensure_demo_project(store)


def _print_event(event) -> None:
    from desktop_ift.core.job_process import describe_event

    text = describe_event(event)
    if text:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _run_job(job_path: Path, as_json: bool) -> int:
    from desktop_ift.core import events as ev
    from desktop_ift.core.job_process import run_job_process
    from desktop_ift.core.jobs import read_job

    job = read_job(job_path)
    on_event = (lambda e: print(ev.encode(e), flush=True)) if as_json else _print_event
    code, terminal = run_job_process(job_path, on_event=on_event)
    if isinstance(terminal, ev.Finished):
        return 0
    if isinstance(terminal, ev.Cancelled):
        return EXIT_CANCELLED
    if terminal is None:
        log = Path(job["workspace"]) / "runs" / job["run_id"] / "worker.log"
        print(f"The worker process ended without a result (exit code {code}). See {log}.", file=sys.stderr)
    return EXIT_FAILED


# ---------------------------------------------------------------------- commands
def cmd_gui(args) -> int:
    from desktop_ift.ui.app import main as gui_main

    return gui_main([])


def cmd_workspace(args) -> int:
    store = _store()
    print(store.home)
    return 0


def cmd_import(args) -> int:
    from desktop_ift.core.data.importers import import_dataset

    store = _store()
    project = store.find_project(args.project) or store.create_project(args.project)
    record = import_dataset(store, project.id, args.file, name=args.name)
    columns = ", ".join(f"{c['name']} ({c['type']})" for c in record.columns)
    print(f"Imported {record.label} into project {project.name!r} as dataset {record.id}.")
    print(f"Columns: {columns}")
    return 0


def cmd_projects(args) -> int:
    store = _store()
    for p in store.list_projects():
        print(f"{p.id}\t{p.name}")
    return 0


def cmd_datasets(args) -> int:
    store = _store()
    project = _project(store, args.project)
    for d in store.list_datasets(project.id):
        print(f"{d.id}\t{d.label}\t{', '.join(d.column_names)}")
    return 0


def cmd_templates(args) -> int:
    store = _store()
    project = _project(store, args.project)
    for t in store.list_templates(project.id):
        print(f"{t.id}\t{t.name}")
    return 0


def cmd_runs(args) -> int:
    store = _store()
    project = _project(store, args.project) if args.project else None
    for r in store.list_runs(project.id if project else None):
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        step = f"step {r.last_step}/{r.total_steps}" if r.kind == "train" else ""
        print(f"{r.id}\t{r.kind}\t{r.status}\t{started}\t{step}\t{r.message}".rstrip())
    return 0


def _train_config(args, base=None):
    from desktop_ift.core.training.config import TrainConfig

    values = (base or TrainConfig()).to_dict()
    for key in ("method", "epochs", "max_steps", "learning_rate", "batch_size", "max_seq_length", "lora_r",
                "seed"):
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    return TrainConfig.from_dict(values)


def cmd_prepare_train(args) -> int:
    from desktop_ift.core.data.splits import SplitSpec
    from desktop_ift.core.demo import DEMO_TRAIN_CONFIG
    from desktop_ift.core.jobs import DEMO_MODEL, prepare_train_job

    store = _store()
    project = _project(store, args.project)
    dataset_id = args.dataset or project.settings.get("dataset_id")
    template_id = args.template or project.settings.get("template_id")
    if not dataset_id or not template_id:
        raise CliError("Name the dataset and template with --dataset ID --template ID "
                       "(see: desktop-ift datasets / desktop-ift templates).")
    model = args.model or DEMO_MODEL
    config = _train_config(args, DEMO_TRAIN_CONFIG if model == DEMO_MODEL else None)
    split = SplitSpec(train=args.split[0], validation=args.split[1], test=args.split[2], seed=args.split_seed)
    run, job_path = prepare_train_job(store, project.id, int(dataset_id), int(template_id), config, model, split)
    print(job_path)
    return 0


def cmd_prepare_eval(args) -> int:
    from desktop_ift.core.demo import DEMO_GENERATION
    from desktop_ift.core.jobs import prepare_eval_job
    from desktop_ift.core.training.config import GenerationConfig

    store = _store()
    values = DEMO_GENERATION.to_dict()
    if args.max_new_tokens:
        values["max_new_tokens"] = args.max_new_tokens
    if args.max_examples is not None:
        values["max_examples"] = args.max_examples
    run, job_path = prepare_eval_job(store, args.run, GenerationConfig.from_dict(values))
    print(job_path)
    return 0


def cmd_train(args) -> int:
    return _run_job(Path(args.job), args.json)


cmd_evaluate = cmd_train


def cmd_results(args) -> int:
    from desktop_ift.core.evaluation.comparison import format_comparison

    store = _store()
    results = store.eval_results(args.run)
    if not results:
        raise CliError(f"The run {args.run} has no evaluation results (status: {store.get_run(args.run).status}).")
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(format_comparison(results))
    return 0


def cmd_demo(args) -> int:
    if not args.headless:
        return cmd_gui(args)
    from desktop_ift.core.demo import DEMO_GENERATION, DEMO_TRAIN_CONFIG, ensure_demo_project
    from desktop_ift.core.evaluation.comparison import format_comparison
    from desktop_ift.core.jobs import DEMO_MODEL, prepare_eval_job, prepare_train_job

    started = time.time()
    store = _store()
    print(f"Workspace: {store.home}")
    project = ensure_demo_project(store)
    dataset = store.get_dataset(project.settings["dataset_id"])
    template = store.get_template(project.settings["template_id"])
    print(f"1/4 Data: {dataset.label} from {Path(dataset.source_path).name}")
    print(f"2/4 Template: {template.name!r} -> prompt/response pairs")
    config = _train_config(args, DEMO_TRAIN_CONFIG)
    run, job = prepare_train_job(store, project.id, dataset.id, template.id, config, DEMO_MODEL)
    counts = json.loads(job.read_text())["source"]["counts"]
    print(f"3/4 Training the demo model ({config.method}) on {counts['train']} examples "
          f"(validation {counts['validation']}, test {counts['test']}): run {run.id}")
    code = _run_job(job, as_json=False)
    if code != 0:
        print("The demo stopped: training did not finish.", file=sys.stderr)
        return code
    generation = DEMO_GENERATION
    if args.max_examples is not None:
        generation = type(generation).from_dict({**generation.to_dict(), "max_examples": args.max_examples})
    eval_run, eval_job = prepare_eval_job(store, run.id, generation)
    print(f"4/4 Evaluating base and fine-tuned on the test split: run {eval_run.id}")
    code = _run_job(eval_job, as_json=False)
    if code != 0:
        print("The demo stopped: evaluation did not finish.", file=sys.stderr)
        return code
    results = store.eval_results(eval_run.id)
    print()
    print(format_comparison(results))
    print(f"\nDone in {time.time() - started:.0f} s. Results are in {store.home}; "
          f"see them again with: desktop-ift results {eval_run.id}")
    return 0


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="desktop-ift", description="Fine-tune language models on your own "
                                     "data, on your own workstation, without code.")
    parser.add_argument("--version", action="version", version=f"desktop_ift {__version__}")
    sub = parser.add_subparsers(dest="command")

    sub.add_parser("gui", help="start the app").set_defaults(func=cmd_gui)
    sub.add_parser("workspace", help="print the workspace folder").set_defaults(func=cmd_workspace)

    p = sub.add_parser("demo", help="the whole flow on the built-in demo")
    p.add_argument("--headless", action="store_true", help="run without a window and print the results")
    p.add_argument("--max-steps", type=int, help="stop training after this many steps")
    p.add_argument("--epochs", type=float, help="training epochs")
    p.add_argument("--max-examples", type=int, help="evaluate at most this many test examples")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("import", help="import a data file (CSV, TSV, JSON, JSONL, Excel, Parquet)")
    p.add_argument("file")
    p.add_argument("--project", default="My project", help="project name (created if new)")
    p.add_argument("--name", help="dataset name (default: the file name)")
    p.set_defaults(func=cmd_import)

    for name, func, text in [("projects", cmd_projects, "list projects"),
                             ("datasets", cmd_datasets, "list a project's datasets"),
                             ("templates", cmd_templates, "list a project's templates"),
                             ("runs", cmd_runs, "list runs")]:
        p = sub.add_parser(name, help=text)
        if name != "projects":
            p.add_argument("--project", help="project name (default: the demo project)")
        p.set_defaults(func=func)

    p = sub.add_parser("prepare-train", help="write a training job and print the path of its job.json")
    p.add_argument("--project", help="project name (default: the demo project)")
    p.add_argument("--dataset", type=int, help="dataset id (default: the project's current one)")
    p.add_argument("--template", type=int, help="template id (default: the project's current one)")
    p.add_argument("--model", help="'demo' or a local Hugging Face model folder")
    p.add_argument("--method", choices=["lora", "full"])
    p.add_argument("--epochs", type=float)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-seq-length", type=int)
    p.add_argument("--lora-r", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--split", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--split-seed", type=int, default=42)
    p.set_defaults(func=cmd_prepare_train)

    p = sub.add_parser("train", help="run a training job file in a worker process")
    p.add_argument("job")
    p.add_argument("--json", action="store_true", help="print the raw event lines")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("prepare-eval", help="write an evaluation job for a finished training run")
    p.add_argument("run", help="training run id")
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--max-examples", type=int)
    p.set_defaults(func=cmd_prepare_eval)

    p = sub.add_parser("evaluate", help="run an evaluation job file in a worker process")
    p.add_argument("job")
    p.add_argument("--json", action="store_true", help="print the raw event lines")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("results", help="print an evaluation run's side-by-side scores")
    p.add_argument("run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_results)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``desktop-ift``; returns the exit code."""
    from desktop_ift.core.data.importers import DataImportError
    from desktop_ift.core.jobs import JobError
    from desktop_ift.core.store import StoreError
    from desktop_ift.core.training.config import ConfigError

    args = build_parser().parse_args(argv)
    if not getattr(args, "command", None):
        return cmd_gui(args)
    try:
        return int(args.func(args) or 0)
    except (CliError, DataImportError, JobError, StoreError, ConfigError, ValueError) as exc:
        print(f"desktop-ift: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_CANCELLED


if __name__ == "__main__":
    raise SystemExit(main())
