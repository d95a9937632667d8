"""``prepare-eval``, ``evaluate``, ``results``, ``prepare-benchmark``, ``benchmark``, ``report``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from desktop_ift.cli.common import CliError, open_store, resolve_cli_model, run_job
from desktop_ift.core.demo import DEMO_GENERATION
from desktop_ift.core.evaluation.comparison import format_comparison
from desktop_ift.core.evaluation.eval_jobs import chosen_model, prepare_benchmark_job, prepare_eval_job
from desktop_ift.core.evaluation.report import write_report
from desktop_ift.core.evaluation.results import load_comparison
from desktop_ift.core.job_format import read_job
from desktop_ift.core.models.choice import validate_model_choice
from desktop_ift.core.training.config import GenerationConfig


def _generation(args):
    values = DEMO_GENERATION.to_dict()
    for name in ("max_examples", "temperature", "top_p", "repetition_penalty", "batch_size"):
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    return GenerationConfig.from_dict(values)


def _labels(args):
    if getattr(args, "free_text", False):
        return None
    if getattr(args, "labels", None):
        return [x.strip() for x in args.labels.split(",") if x.strip()]
    if getattr(args, "labels_from", None) == "train":
        return "train"
    return "auto"


def _chosen_models(store, choices: list[str] | None) -> list[dict]:
    """The columns of the models named with ``--model``, read as training reads them: 'smollm2', 'tiny', a
    folder, a hub id in the local cache, a .gguf file, ollama:NAME[:TAG], lmstudio:PATH (a GGUF or the bundled
    model is converted once into the workspace, its progress printed), with training's messages."""
    columns = []
    for choice in choices or []:
        model = validate_model_choice(resolve_cli_model(choice, store.home), workspace=store.home)
        columns.append(chosen_model(choice, model))
    return columns


def cmd_prepare_eval(args) -> int:
    runs = args.run if len(args.run) > 1 else args.run[0]
    store = open_store()
    _, job_path = prepare_eval_job(store, runs, _generation(args), labels=_labels(args),
                                   use_cache=not args.no_cache, include_base=not args.no_base,
                                   max_new_tokens=args.max_new_tokens, split=args.split,
                                   use_stemmer=not args.no_stemmer, test_dataset_id=args.test_dataset,
                                   reference_columns=[c.strip() for c in (args.reference_columns or "").split(",")
                                                      if c.strip()],
                                   models=_chosen_models(store, args.model))
    job = read_job(job_path)
    length = job.get("answer_length")
    test_set = job.get("test_set") or {}
    if test_set.get("dataset_id") is not None:
        print(f"Test set: {test_set['name']} v{test_set['version']} ({test_set['rows']} rows, {test_set['examples']} "
              "examples with the run's template)", file=sys.stderr)
    if test_set.get("reference_columns"):
        print(f"References: the response plus the columns {', '.join(test_set['reference_columns'])} "
              f"({test_set['with_several']} examples have several)", file=sys.stderr)
    # what will be measured goes to stderr, so stdout stays the job path for scripts
    if length:
        source = "--max-new-tokens" if length["origin"] == "user" else f"the {job['split']} references"
        print(f"max_new_tokens {length['value']} (from {source}): {length['text']}", file=sys.stderr)
        print(f"Labels for accuracy/F1: {job.get('labels_source')}; ROUGE "
              f"{'with' if job.get('use_stemmer') else 'without'} stemming", file=sys.stderr)
    else:
        print(f"Continued pre-training data: held-out loss and perplexity on the {job['split']} documents "
              "(nothing is generated)", file=sys.stderr)
    print(job_path)
    return 0


def cmd_evaluate(args) -> int:
    return run_job(Path(args.job), args.json)


def cmd_results(args) -> int:
    store = open_store()
    results = store.eval_results(args.run)
    if not results:
        raise CliError(f"The run {args.run} has no evaluation results (status: {store.get_run(args.run).status}).")
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(format_comparison(results))
    notes = load_comparison(store, args.run).method_notes()
    if notes:
        print()
        for what, how in notes:
            print(f"{what}: {how}")
    return 0


def _prepare_benchmark(args) -> Path:
    if not args.file and not args.general:
        raise CliError("Give benchmark files (--file F, repeatable) or --general for the built-in forgetting check.")
    store = open_store()
    models = _chosen_models(store, args.model) or None
    _, job_path = prepare_benchmark_job(store, args.run or None, files=args.file, k_shot=args.k_shot,
                                        builtin="general" if args.general else None, models=models,
                                        max_questions=args.max_questions or 0)
    return job_path


def cmd_prepare_benchmark(args) -> int:
    print(_prepare_benchmark(args))
    return 0


def cmd_prepare_benchmark_quiet(args) -> int:
    job_path = _prepare_benchmark(args)
    code = run_job(job_path, args.json)
    if code == 0 and not args.json:
        print(format_comparison(open_store().eval_results(read_job(job_path)["run_id"])))
    return code


def cmd_report(args) -> int:
    store = open_store()
    comp = load_comparison(store, args.run)
    if not comp.scores:
        raise CliError(f"The run {args.run} has no results to report (status: {comp.status}).")
    for path in write_report(comp, Path(args.out)):
        print(path)
    return 0


MODEL_CHOICES = ("'smollm2' (SmolLM2-135M-Instruct, installed with the app), 'tiny', a local Hugging Face model "
                 "folder, a hub id in the local cache, a .gguf file, ollama:NAME[:TAG] or "
                 "lmstudio:PUBLISHER/REPO/FILE.gguf (converted once into the workspace, as for training)")


def _add_generation(p) -> None:
    p.add_argument("--max-new-tokens", type=int,
                   help="longest answer, in tokens (default: from the references' lengths in the model's tokens, "
                        "99th percentile plus a margin; the value and where it came from are printed)")
    p.add_argument("--max-examples", type=int, help="evaluate at most this many test examples (0: all)")
    p.add_argument("--temperature", type=float, help="0: greedy (default); above 0 samples")
    p.add_argument("--top-p", type=float)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--batch-size", type=int, help="prompts generated together")


def register(sub) -> None:
    p = sub.add_parser("prepare-eval", help="write an evaluation job for finished training run(s)")
    p.add_argument("run", nargs="+", help="training run id(s); several runs are compared side by side")
    _add_generation(p)
    p.add_argument("--labels", help="comma-separated label set for accuracy/F1 (default: detected)")
    p.add_argument("--free-text", action="store_true", help="no label set: text metrics only")
    p.add_argument("--labels-from", choices=["test", "train"], default="test",
                   help="detect the label set on the test references (default) or on the training references")
    p.add_argument("--split", choices=["test", "validation"], default="test", help="the split to evaluate on")
    p.add_argument("--test-dataset", type=int,
                   help="evaluate on this imported dataset (id, see 'datasets') instead of the run's split, laid "
                        "out with the run's template")
    p.add_argument("--reference-columns",
                   help="comma-separated columns holding more references per example (e.g. summary2,summary3): "
                        "ROUGE takes the best, BLEU/chrF use all")
    p.add_argument("--no-stemmer", action="store_true",
                   help="ROUGE without the Porter stemmer (default: stemming on, as in most papers)")
    p.add_argument("--no-cache", action="store_true",
                   help="generate and score again even if an identical evaluation (answers or document losses) "
                        "is stored")
    p.add_argument("--no-base", action="store_true", help="leave the base model out")
    p.add_argument("--model", action="append", help="also evaluate this model on the same prompts (repeatable): "
                   + MODEL_CHOICES)
    p.set_defaults(func=cmd_prepare_eval)

    p = sub.add_parser("evaluate", help="run an evaluation job file in a worker process")
    p.add_argument("job")
    p.add_argument("--json", action="store_true", help="print the raw event lines")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("results", help="print an evaluation run's side-by-side scores")
    p.add_argument("run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_results)

    for name, func, text in (("prepare-benchmark", cmd_prepare_benchmark, "write a multiple-choice benchmark job"),
                             ("benchmark", cmd_prepare_benchmark_quiet,
                              "run a multiple-choice benchmark (or the forgetting check) and print the scores")):
        p = sub.add_parser(name, help=text)
        p.add_argument("run", nargs="*", help="training run id(s): the base and fine-tuned models are scored")
        p.add_argument("--file", action="append", help="benchmark file in the MMLU layout (CSV/JSONL); repeatable")
        p.add_argument("--general", action="store_true", help="the built-in general-knowledge set (forgetting check)")
        p.add_argument("--k-shot", type=int, default=0, help="solved examples before each question (0-10)")
        p.add_argument("--max-questions", type=int, help="score at most this many questions")
        p.add_argument("--model", action="append",
                       help="score this model instead of training runs (repeatable): " + MODEL_CHOICES)
        if name == "benchmark":
            p.add_argument("--json", action="store_true", help="print the raw event lines")
        p.set_defaults(func=func)

    p = sub.add_parser("report", help="export an evaluation as an HTML report plus CSV and JSON files")
    p.add_argument("run", help="evaluation or benchmark run id")
    p.add_argument("out", help="the HTML file to write (CSV/JSON files are written next to it)")
    p.set_defaults(func=cmd_report)
