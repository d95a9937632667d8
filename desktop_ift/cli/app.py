"""``gui``, ``demo`` and ``workspace``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from desktop_ift.cli.common import open_store, resolve_cli_model, run_job
from desktop_ift.cli.training import train_config_from_args
from desktop_ift.cli.workspace import register as register_workspace  # --check / --fresh (#15)
from desktop_ift.core.demo import demo_settings, ensure_demo_project
from desktop_ift.core.evaluation.comparison import format_comparison
from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job
from desktop_ift.core.models.bundled import format_parameters, model_parameters
from desktop_ift.core.training.prepare import prepare_train_job


def cmd_gui(args) -> int:
    from desktop_ift.ui.app import main as gui_main

    return gui_main([])


def cmd_workspace(args) -> int:
    print(open_store().home)
    return 0


def cmd_demo(args) -> int:
    """The whole flow on the demo: import -> template -> split -> train -> evaluate -> table."""
    if not args.headless:
        return cmd_gui(args)

    started = time.time()
    store = open_store()
    print(f"Workspace: {store.home}")
    model = resolve_cli_model(args.model, store.home)
    project = ensure_demo_project(store)
    dataset = store.get_dataset(project.settings["dataset_id"])
    template = store.get_template(project.settings["template_id"])
    print(f"1/4 Data: {dataset.label} from {Path(dataset.source_path).name}")
    print(f"2/4 Template: {template.name!r} turns each row into a prompt/response pair")
    parameters = model_parameters(model, store.home)
    base_config, generation = demo_settings(parameters)
    config = train_config_from_args(args, base_config)
    run, job = prepare_train_job(store, project.id, dataset.id, template.id, config, model)
    counts = json.loads(job.read_text())["source"]["counts"]
    name = "the tiny demo model (random weights)" if parameters is None or model == "demo" else \
        f"{Path(model).name} ({format_parameters(parameters)} parameters)"
    steps = f"{config.max_steps} steps of {config.batch_size}" if config.max_steps > 0 else f"{config.epochs:g} epochs"
    print(f"3/4 Training {name} with {config.method}, {steps}, on {counts['train']} examples "
          f"(validation {counts['validation']}, test {counts['test']}): run {run.id}", flush=True)
    code = run_job(job)
    if code != 0:
        print("The demo stopped: training did not finish.", file=sys.stderr)
        return code
    if args.max_examples is not None:
        generation = type(generation).from_dict({**generation.to_dict(), "max_examples": args.max_examples})
    eval_run, eval_job = prepare_eval_job(store, run.id, generation)
    print(f"4/4 Evaluating base and fine-tuned on the test split: run {eval_run.id}", flush=True)
    code = run_job(eval_job)
    if code != 0:
        print("The demo stopped: evaluation did not finish.", file=sys.stderr)
        return code
    print()
    print(format_comparison(store.eval_results(eval_run.id)))
    print(f"\nDone in {time.time() - started:.0f} s. See the results again with: "
          f"desktop-ift results {eval_run.id}")
    return 0


MODEL_HELP = ("'smollm2' (default: SmolLM2-135M-Instruct, installed with the app), 'tiny' (a tiny random "
              "model for quick tests), a local Hugging Face model folder, a .gguf file, ollama:NAME[:TAG] or "
              "lmstudio:PUBLISHER/REPO/FILE.gguf (converted once into the workspace)")


def register(sub) -> None:
    sub.add_parser("gui", help="start the app").set_defaults(func=cmd_gui)

    register_workspace(sub)
    p = sub.add_parser("demo", help="the whole flow on the built-in demo")
    p.add_argument("--headless", action="store_true", help="run without a window and print the results")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--max-steps", type=int, help="stop training after this many steps")
    p.add_argument("--epochs", type=float, help="training epochs")
    p.add_argument("--max-examples", type=int, help="evaluate at most this many test examples")
    p.set_defaults(func=cmd_demo)
