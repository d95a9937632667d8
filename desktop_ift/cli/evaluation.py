"""``prepare-eval``, ``evaluate``, ``results``."""

from __future__ import annotations

import json
from pathlib import Path

from desktop_ift.cli.common import CliError, open_store, run_job


def cmd_prepare_eval(args) -> int:
    from desktop_ift.core.demo import DEMO_GENERATION
    from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job
    from desktop_ift.core.training.config import GenerationConfig

    values = DEMO_GENERATION.to_dict()
    if args.max_new_tokens:
        values["max_new_tokens"] = args.max_new_tokens
    if args.max_examples is not None:
        values["max_examples"] = args.max_examples
    _, job_path = prepare_eval_job(open_store(), args.run, GenerationConfig.from_dict(values))
    print(job_path)
    return 0


def cmd_evaluate(args) -> int:
    return run_job(Path(args.job), args.json)


def cmd_results(args) -> int:
    from desktop_ift.core.evaluation.comparison import format_comparison

    store = open_store()
    results = store.eval_results(args.run)
    if not results:
        raise CliError(f"The run {args.run} has no evaluation results (status: {store.get_run(args.run).status}).")
    print(json.dumps(results, indent=2) if args.json else format_comparison(results))
    return 0


def register(sub) -> None:
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
