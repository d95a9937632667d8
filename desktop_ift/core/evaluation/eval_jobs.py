"""Preparing evaluation runs (the evaluation counterpart of :mod:`desktop_ift.core.jobs`).

Everything here is cheap and torch-free: the GUI calls it on its own thread. A prepared run's folder
holds a ``job.json`` that :mod:`desktop_ift.core.worker` runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from desktop_ift.core.jobs import JOB_VERSION, JobError, read_job, read_jsonl
from desktop_ift.core.store import RunRecord, Store, StoreError
from desktop_ift.core.training.config import GenerationConfig


def _finished_train_run(store: Store, run_id: str) -> tuple[RunRecord, dict]:
    try:
        train = store.get_run(run_id)
    except StoreError as exc:
        raise JobError(str(exc)) from exc
    if train.kind != "train":
        raise JobError(f"{run_id} is not a training run.")
    if train.status != "finished":
        raise JobError(
            f"The training run {run_id} is {train.status}, not finished: there is no fine-tuned model "
            "to evaluate yet. Wait for it to finish, or pick a finished run."
        )
    return train, read_job(Path(train.run_dir) / "job.json")


def _tuned_model(train: RunRecord, train_job: dict, label: str) -> dict:
    base_model = train_job["model"]
    output_dir = train.output_dir or train_job["output_dir"]
    if train_job["config"].get("method", "lora") == "full":
        return {"label": label, "model": output_dir, "adapter": None}
    return {"label": label, "model": base_model, "adapter": output_dir}


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unique(label: str, taken: set[str]) -> str:
    out, n = label, 2
    while out in taken:
        out, n = f"{label} ({n})", n + 1
    taken.add(out)
    return out


def model_label_for(train: RunRecord, many: bool) -> str:
    """The column title of a fine-tuned run: ``fine-tuned`` alone, else ``fine-tuned: <run name>``."""
    return f"fine-tuned: {train.name or train.id}" if many else "fine-tuned"


def _models_for_runs(runs: list[tuple[RunRecord, dict]], include_base: bool) -> list[dict]:
    """Base column(s) first (one per distinct base model), then one column per fine-tuned run."""
    many = len(runs) > 1
    taken: set[str] = set()
    models: list[dict] = []
    if include_base:
        bases = list(dict.fromkeys(job["model"] for _, job in runs))
        for base in bases:
            name = "base" if len(bases) == 1 else f"base: {Path(base).name or base}"
            models.append({"label": _unique(name, taken), "model": base, "adapter": None})
    for train, train_job in runs:
        models.append(_tuned_model(train, train_job, _unique(model_label_for(train, many), taken)))
    return models


def _same_test_rows(job_a: dict, job_b: dict) -> bool:
    """Whether two training jobs hold out the same rows of the same dataset version as their test split
    (their prompts may still differ: another template)."""
    def rows(job: dict):
        source = job.get("source") or {}
        idx = sorted(int(r["idx"]) for r in read_jsonl(Path(job["data"]["test"])))
        return source["dataset_id"], source["dataset_version"], idx

    try:
        return rows(job_a) == rows(job_b)
    except (OSError, ValueError, TypeError, KeyError):
        return False


def _run_ids(train_run_id: str | list[str]) -> list[str]:
    run_ids = [train_run_id] if isinstance(train_run_id, str) else list(dict.fromkeys(train_run_id))
    if not run_ids:
        raise JobError("Choose at least one finished training run to evaluate.")
    return run_ids


def prepare_eval_job(
    store: Store,
    train_run_id: str | list[str],
    generation: GenerationConfig | None = None,
    include_base: bool = True,
    labels: str | list[str] | None = "auto",
    use_cache: bool = True,
) -> tuple[RunRecord, Path]:
    """Create an evaluation run comparing the base model with the model(s) fine-tuned by ``train_run_id``.

    ``train_run_id`` is one training run id or a list of them. Every model answers the same prompts: the
    test split prepared for the first run; the other runs must have the same test split (else the
    comparison would mix different questions, or test a model on its own training rows) -- JobError
    otherwise. There is one base column per distinct base model. ``labels`` is ``"auto"`` (detect a small
    label set), an explicit label list, or None (free text: no accuracy/F1).
    """
    generation = generation or GenerationConfig()
    run_ids = _run_ids(train_run_id)
    runs = [_finished_train_run(store, rid) for rid in run_ids]
    first, first_job = runs[0]
    test_path = Path(first_job["data"]["test"])
    if not test_path.exists() or not read_jsonl(test_path):
        raise JobError(f"The test split of the run {first.name or first.id} is empty, so there is nothing to "
                       "evaluate. Train again with a test ratio above 0 (for example 0.1).")
    digest = _file_digest(test_path)
    for train, train_job in runs[1:]:
        other = Path(train_job["data"]["test"])
        if not other.exists() or _file_digest(other) != digest:
            if other.exists() and _same_test_rows(first_job, train_job):
                raise JobError(
                    f"The runs {first.name or first.id} and {train.name or train.id} were tested on the same rows, "
                    "but their templates turn those rows into different prompts, so one set of test prompts "
                    "cannot ask both fairly. Evaluate them separately (each with its own template) and compare "
                    "their scores.")
            raise JobError(
                f"The runs {first.name or first.id} and {train.name or train.id} were tested on different test "
                "splits, so their scores cannot be compared side by side. Compare runs trained on the same "
                "dataset version with the same split settings, or evaluate them separately."
            )
    many = len(runs) > 1
    models = _models_for_runs(runs, include_base)
    max_seq_length = int(first_job["config"].get("max_seq_length") or 512)
    name = first.name or first.id if not many else f"{len(runs)} runs"
    run = store.create_run(
        "evaluate",
        config={"generation": generation.to_dict(), "models": models, "train_run_id": run_ids[0],
                "train_run_ids": run_ids, "labels": labels},
        project_id=first.project_id,
        name=f"evaluate {name}",
        parent_run_id=run_ids[0],
    )
    job = {
        "kind": "evaluate",
        "version": JOB_VERSION,
        "run_id": run.id,
        "workspace": str(store.home),
        "test_data": str(test_path),
        "models": models,
        "generation": generation.to_dict(),
        "labels": labels,
        "train_run_id": run_ids[0],
        "train_run_ids": run_ids,
        "max_seq_length": max_seq_length,
        "use_cache": use_cache,
    }
    job_path = Path(run.run_dir) / "job.json"
    job_path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    return run, job_path


def prepare_benchmark_job(
    store: Store,
    train_run_id: str | list[str] | None = None,
    files: list[str] | None = None,
    builtin: str | None = None,
    k_shot: int = 0,
    include_base: bool = True,
    models: list[dict] | None = None,
    max_questions: int = 0,
    batch_size: int = 8,
    project_id: int | None = None,
) -> tuple[RunRecord, Path]:
    """Create a multiple-choice benchmark run (``kind: "benchmark"``) on the base and fine-tuned model(s).

    The questions come from ``files`` (MMLU layout, CSV/JSONL) and/or a built-in set (``builtin="general"``:
    the forgetting check). The files are read and checked here, so a file in another layout is refused
    before anything runs (JobError naming the file and its missing columns). ``models`` may be given
    directly instead of training runs (``[{"label", "model", "adapter"}]``).
    """
    from desktop_ift.core.evaluation.benchmark_data import BenchmarkFormatError, builtin_path, load_benchmark

    if k_shot < 0 or k_shot > 10:
        raise JobError(f"The number of solved examples (k-shot) must be between 0 and 10 (got {k_shot}).")
    paths = [str(Path(f).expanduser().resolve()) for f in (files or [])]
    try:
        if builtin:
            paths.append(str(builtin_path(builtin)))
        questions, _ = load_benchmark(paths)
    except BenchmarkFormatError as exc:
        raise JobError(f"{exc.message} {exc.hint}") from exc
    parent = None
    if models is None:
        if train_run_id is None:
            raise JobError("Choose a finished training run (or give the models) to run the benchmark on.")
        run_ids = _run_ids(train_run_id)
        runs = [_finished_train_run(store, rid) for rid in run_ids]
        models = _models_for_runs(runs, include_base)
        parent = run_ids[0]
        project_id = project_id if project_id is not None else runs[0][0].project_id
    if not models:
        raise JobError("Choose at least one model to run the benchmark on.")
    name = "forgetting check" if builtin and not files else (Path(paths[0]).stem if len(paths) == 1 else
                                                             f"{len(paths)} benchmark files")
    spec = {"files": paths, "k_shot": int(k_shot), "max_questions": int(max_questions),
            "batch_size": int(batch_size), "name": name}
    run = store.create_run("benchmark", config={"benchmark": spec, "models": models, "questions": len(questions)},
                           project_id=project_id, name=f"{name} ({len(questions)} questions)",
                           parent_run_id=parent)
    job = {"kind": "benchmark", "version": JOB_VERSION, "run_id": run.id, "workspace": str(store.home),
           "models": models, "benchmark": spec}
    job_path = Path(run.run_dir) / "job.json"
    job_path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    return run, job_path


def prepare_chat_job(store: Store, model: str, adapter: str | None = None,
                     generation: GenerationConfig | None = None, label: str = "",
                     project_id: int | None = None) -> tuple[RunRecord, Path]:
    """Create a playground session (``kind: "chat"``): one model loaded once, answering requests on stdin."""
    from desktop_ift.core.jobs import validate_model_choice
    from desktop_ift.core.modeling import find_in_hub_cache, looks_like_hub_id

    if looks_like_hub_id(model):  # a run trained on a hub model: the worker loads it from the local cache
        if find_in_hub_cache(model) is None:
            raise JobError(f"The model {model} is not in the local Hugging Face cache, so it cannot be loaded "
                           "offline. Train a run with downloading allowed first, or choose a model folder.")
    else:
        model = validate_model_choice(model)
    if adapter and not (Path(adapter) / "adapter_config.json").exists():
        raise JobError(f"{adapter} is not a LoRA adapter folder (it has no adapter_config.json). "
                       "Choose the output folder of a finished LoRA training run.")
    generation = generation or GenerationConfig(max_new_tokens=128)
    label = label or ("fine-tuned" if adapter else "base")
    run = store.create_run("chat", config={"model": model, "adapter": adapter, "label": label},
                           project_id=project_id, name=f"playground: {label}")
    job = {"kind": "chat", "version": JOB_VERSION, "run_id": run.id, "workspace": str(store.home),
           "model": model, "adapter": adapter, "label": label, "generation": generation.to_dict()}
    job_path = Path(run.run_dir) / "job.json"
    job_path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    return run, job_path


def chat_target(store: Store, train_run_id: str) -> tuple[str, str | None]:
    """``(model, adapter)`` of a finished training run's fine-tuned model, for the playground."""
    train, train_job = _finished_train_run(store, train_run_id)
    tuned = _tuned_model(train, train_job, "fine-tuned")
    return tuned["model"], tuned["adapter"]
