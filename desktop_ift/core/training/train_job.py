"""Writing a training run: the run record (status ``queued``), its data lines and its ``job.json``, from the
:class:`~desktop_ift.core.training.plan.TrainPlan` the user saw. The job's format is described in
:mod:`desktop_ift.core.job_format`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from desktop_ift.core.job_format import JOB_VERSION, JobError, write_jsonl
from desktop_ift.core.models.bundled import BUNDLED_DIRNAME, BUNDLED_MODEL
from desktop_ift.core.store import RunRecord, Store
from desktop_ift.core.templates.references import reference_columns
from desktop_ift.core.training.config import TrainConfig


def write_train_job(store: Store, plan, built) -> tuple[RunRecord, Path]:
    """Create the run of ``plan`` (status ``queued``), write its data lines and its ``job.json``."""
    if plan.model == BUNDLED_MODEL:
        raise JobError(f"{BUNDLED_DIRNAME} is not prepared yet: it is converted once into a model folder before "
                       "the first run (the Train page does it on Start; the CLI's --model smollm2 does it).")
    lines, parts = built.lines, built.parts
    config = TrainConfig.from_dict(plan.config)
    run = store.create_run("train", config=plan.config, project_id=plan.project_id, name=plan.name)
    run_dir = Path(run.run_dir)
    data_dir = run_dir / "data"
    data_dir.mkdir(exist_ok=True)
    data = {}
    for part in parts:
        path = data_dir / f"{part}.jsonl"
        write_jsonl(path, lines[part])
        data[part] = str(path)
    split_spec = plan.split.spec()
    source_info = {
        "project_id": plan.project_id,
        "dataset_id": plan.dataset_id,
        "dataset_name": plan.dataset_name,
        "dataset_version": plan.dataset_version,
        "split": asdict(split_spec),
        "counts": dict(plan.split.examples),
        "source_counts": dict(plan.split.rows),
        "dropped_empty": plan.dropped_empty,
        "data_format": plan.worker_format,
        "template_names": plan.template_names(),
    }
    if plan.templates:
        first = plan.templates[0]
        refs = [reference_columns(store, t.template_id) for t in plan.templates]  # evaluation scores with them
        source_info["template"] = {"name": first.name, "prompt": first.prompt, "response": first.response,
                                   "system": first.system, "references": refs[0]}
        source_info["template_set"] = {
            "templates": [{"name": t.name, "prompt": t.prompt, "response": t.response, "system": t.system,
                           "references": r} for t, r in zip(plan.templates, refs)],
            "mode": plan.set_mode, "seed": plan.set_seed, "name": plan.set_name,
            "weights": [t.weight for t in plan.templates] if any(t.weight is not None for t in plan.templates)
            else None,
            "template_ids": [t.template_id for t in plan.templates if t.template_id is not None]}
    else:
        source_info[plan.worker_format + "_spec"] = dict(plan.format_spec)
    job = {
        "kind": "train",
        "version": JOB_VERSION,
        "run_id": run.id,
        "workspace": str(store.home),
        "model": plan.model,
        "model_source": plan.model_source,
        "config": config.to_dict(),
        "data": data,
        "data_format": plan.worker_format,
        "output_dir": str(run_dir / "output"),
        "resume_from": None,
        "source": source_info,
        "allow_download": plan.allow_download,
        "plan": plan.to_dict(),
    }
    job_path = run_dir / "job.json"
    job_path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    run = store.update_run(run.id, config={**config.to_dict(), "model": plan.model,
                                           "model_source": plan.model_source, "source": job["source"],
                                           "allow_download": plan.allow_download, "plan": job["plan"]},
                           output_dir=job["output_dir"])
    return run, job_path
