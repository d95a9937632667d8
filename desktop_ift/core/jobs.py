"""Preparing runs: everything the GUI and the CLI do before a worker process starts.

A run is prepared entirely in the parent (cheap, no torch): the dataset snapshot is rendered through the
template, split, and written as JSON-lines files into the run folder next to a ``job.json`` that names
everything the worker needs. The worker then depends on nothing but that folder and the workspace, so a
job can be re-run from a terminal (``desktop-ift train runs/<id>/job.json``) or copied to another machine.

Job file, training (``kind: "train"``)::

    {"kind": "train", "version": 1, "run_id": ..., "workspace": "/abs/home",
     "model": "demo" | "/abs/path/to/hf/folder",
     "config": {TrainConfig fields},
     "data": {"train": "/abs/.../train.jsonl", "validation": "...", "test": "..."},
     "output_dir": "/abs/.../output", "resume_from": null | "/abs/checkpoint",
     "source": {"project_id", "dataset_id", "dataset_version", "template": {...}, "split": {...}}}

Job file, evaluation (``kind: "evaluate"``, prepared by ``core.evaluation.eval_jobs``)::

    {"kind": "evaluate", "version": 1, "run_id": ..., "workspace": ...,
     "test_data": "/abs/.../test.jsonl",
     "models": [{"label": "base", "model": "demo" | path, "adapter": null},
                {"label": "fine-tuned", "model": "demo" | path, "adapter": "/abs/output" | null}],
     "generation": {GenerationConfig fields}, "labels": "auto" | [..] | null}

Each data line is ``{"idx": row index in the snapshot, "system": str, "prompt": str, "response": str}``.
The special model ``"demo"`` is the tiny model the worker builds in ``<workspace>/models`` on first use.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from desktop_ift.core.store import RunRecord, Store, StoreError
from desktop_ift.core.training.config import TrainConfig

JOB_VERSION = 1
DEMO_MODEL = "demo"

#: The function that runs each kind of job in the worker, as "module:function". Each takes
#: ``(job: dict, writer: EventWriter, stop: StopFlag)`` and returns "finished" or "cancelled".
JOB_KINDS: dict[str, str] = {
    "train": "desktop_ift.core.training.recipe:run_training",
    "evaluate": "desktop_ift.core.evaluation.runner:run_evaluation",
    "benchmark": "desktop_ift.core.evaluation.benchmarks:run_benchmark",
    "chat": "desktop_ift.core.evaluation.playground:run_chat",
}


class JobError(RuntimeError):
    """A run cannot be prepared; the message says what is wrong and what to do."""


def worker_command(job_path: Path | str) -> list[str]:
    """The command line that runs a job in a child process (unbuffered, so events arrive at once)."""
    return [sys.executable, "-u", "-m", "desktop_ift.core.worker", str(job_path)]


def read_job(job_path: Path | str) -> dict:
    """Load a job file, with a clear message when it is missing or not a job."""
    path = Path(job_path)
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JobError(f"Job file not found: {path}. Give the path to a run's job.json.") from exc
    except (OSError, ValueError) as exc:
        raise JobError(f"Cannot read the job file {path}: {exc}.") from exc
    if not isinstance(job, dict) or job.get("kind") not in JOB_KINDS:
        raise JobError(f"{path} is not a desktop_ift job file (its kind is not one of {', '.join(JOB_KINDS)}).")
    return job


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path | str) -> list[dict]:
    """Read a prepared data file (one JSON object per line)."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def render_dataset(store: Store, dataset_id: int, template) -> list[dict]:
    """Render every row of a dataset snapshot through ``template`` (a PromptTemplate).

    Returns ``{"idx", "system", "prompt", "response"}`` dicts. Raises :class:`JobError` naming the first
    row that cannot be rendered.
    """
    from desktop_ift.core.data.importers import load_dataset_table
    from desktop_ift.core.templates.render import TemplateError, render_row

    table = load_dataset_table(store.get_dataset(dataset_id))
    out = []
    for idx, row in enumerate(table.to_pylist()):
        try:
            ex = render_row(template, row)
        except TemplateError as exc:
            raise JobError(f"Row {idx + 1} cannot be rendered: {exc}") from exc
        out.append({"idx": idx, "system": ex.system, "prompt": ex.prompt, "response": ex.response})
    return out


def prepare_train_job(
    store: Store,
    project_id: int,
    dataset_id: int,
    template_id: int,
    config: TrainConfig,
    model: str = DEMO_MODEL,
    split=None,
    name: str = "",
) -> tuple[RunRecord, Path]:
    """Render, split and write the data of a training run, create the run (status ``queued``) and its job.

    ``split`` is a :class:`~desktop_ift.core.data.splits.SplitSpec` (default 80/10/10, seed 42).
    Returns the run and the path of its ``job.json``. Raises :class:`JobError` with a plain message for
    anything the user must fix (no rows, a template that does not render, an empty training split).
    """
    from desktop_ift.core.data.splits import SplitSpec, split_indices
    from desktop_ift.core.templates.render import PromptTemplate, check_template

    split = split or SplitSpec()
    try:
        dataset = store.get_dataset(dataset_id)
        tpl_rec = store.get_template(template_id)
    except StoreError as exc:
        raise JobError(str(exc)) from exc
    template = PromptTemplate(prompt=tpl_rec.prompt, response=tpl_rec.response, system=tpl_rec.system,
                              name=tpl_rec.name)
    problems = [p for p in check_template(template, dataset.column_names) if p.severity == "error"]
    if problems:
        raise JobError("The template cannot be used for training: " + "; ".join(p.message for p in problems))
    model = validate_model_choice(model)
    rows = render_dataset(store, dataset_id, template)
    if not rows:
        raise JobError(f"The dataset {dataset.label} has no rows. Import a file with data first.")
    stratify_values = None
    if split.stratify_column:
        if split.stratify_column not in dataset.column_names:
            raise JobError(f"Cannot stratify by {split.stratify_column!r}: the dataset has no such column.")
        from desktop_ift.core.data.importers import load_dataset_table

        stratify_values = load_dataset_table(dataset).column(split.stratify_column).to_pylist()
    parts = split_indices(len(rows), split, stratify_values)
    if not parts["train"]:
        raise JobError("The training split is empty. Use a larger training ratio or a bigger dataset.")
    run = store.create_run(
        "train",
        config=config.to_dict(),
        project_id=project_id,
        name=name or f"{template.name or 'template'} on {dataset.name} v{dataset.version}",
    )
    run_dir = Path(run.run_dir)
    data_dir = run_dir / "data"
    data_dir.mkdir(exist_ok=True)
    data = {}
    for part, indices in parts.items():
        path = data_dir / f"{part}.jsonl"
        _write_jsonl(path, [rows[i] for i in indices])
        data[part] = str(path)
    job = {
        "kind": "train",
        "version": JOB_VERSION,
        "run_id": run.id,
        "workspace": str(store.home),
        "model": model,
        "config": config.to_dict(),
        "data": data,
        "output_dir": str(run_dir / "output"),
        "resume_from": None,
        "source": {
            "project_id": project_id,
            "dataset_id": dataset.id,
            "dataset_name": dataset.name,
            "dataset_version": dataset.version,
            "template": asdict(template),
            "split": asdict(split),
            "counts": {k: len(v) for k, v in parts.items()},
        },
    }
    job_path = run_dir / "job.json"
    job_path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    run = store.update_run(run.id, config={**config.to_dict(), "model": model, "source": job["source"]},
                           output_dir=job["output_dir"])
    return run, job_path


def validate_model_choice(model: str) -> str:
    """Return ``model`` ("demo" or an absolute folder path) if it looks like a model, else raise JobError.

    This is a cheap check that needs no torch (the GUI calls it when a folder is chosen): the folder must
    exist and hold a ``config.json`` with a ``model_type``. The worker does the full load later.
    """
    if model == DEMO_MODEL:
        return model
    path = Path(model).expanduser()
    if not path.is_dir():
        raise JobError(f"Model folder not found: {path}. Choose a folder that holds a downloaded model.")
    config = path / "config.json"
    if not config.exists():
        raise JobError(
            f"{path} is not a model folder: it has no config.json. Choose the folder that holds config.json, "
            "the tokenizer files and the weights (*.safetensors) — a Hugging Face model folder."
        )
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError) as exc:
        raise JobError(f"{config} cannot be read as JSON ({exc}). The model folder looks damaged.") from exc
    if not model_type:
        raise JobError(f"{config} names no model_type, so it is not a transformers model configuration.")
    return str(path.resolve())
