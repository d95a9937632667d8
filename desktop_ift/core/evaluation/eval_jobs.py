"""Preparing evaluation runs (the evaluation counterpart of :mod:`desktop_ift.core.jobs`)."""

from __future__ import annotations

import json
from pathlib import Path

from desktop_ift.core.jobs import JOB_VERSION, JobError, read_job, read_jsonl
from desktop_ift.core.store import RunRecord, Store, StoreError
from desktop_ift.core.training.config import GenerationConfig


def prepare_eval_job(
    store: Store,
    train_run_id: str,
    generation: GenerationConfig | None = None,
    include_base: bool = True,
    labels: str | list[str] | None = "auto",
) -> tuple[RunRecord, Path]:
    """Create an evaluation run comparing the base model with the model fine-tuned by ``train_run_id``.

    Both models answer the same prompts: the test split prepared for that training run.
    """
    generation = generation or GenerationConfig()
    try:
        train = store.get_run(train_run_id)
    except StoreError as exc:
        raise JobError(str(exc)) from exc
    if train.kind != "train":
        raise JobError(f"{train_run_id} is not a training run.")
    if train.status != "finished":
        raise JobError(
            f"The training run {train_run_id} is {train.status}, not finished: there is no fine-tuned model "
            "to evaluate yet. Wait for it to finish, or pick a finished run."
        )
    train_job = read_job(Path(train.run_dir) / "job.json")
    test_path = Path(train_job["data"]["test"])
    if not test_path.exists() or not read_jsonl(test_path):
        raise JobError("The test split of this run is empty. Train again with a test ratio above 0.")
    base_model = train_job["model"]
    method = train_job["config"].get("method", "lora")
    output_dir = train.output_dir or train_job["output_dir"]
    tuned = {"label": "fine-tuned", "model": base_model, "adapter": output_dir}
    if method == "full":
        tuned = {"label": "fine-tuned", "model": output_dir, "adapter": None}
    models = ([{"label": "base", "model": base_model, "adapter": None}] if include_base else []) + [tuned]
    run = store.create_run(
        "evaluate",
        config={"generation": generation.to_dict(), "models": models, "train_run_id": train_run_id},
        project_id=train.project_id,
        name=f"evaluate {train.name or train_run_id}",
        parent_run_id=train_run_id,
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
        "train_run_id": train_run_id,
    }
    job_path = Path(run.run_dir) / "job.json"
    job_path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    return run, job_path
