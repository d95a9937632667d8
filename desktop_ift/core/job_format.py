"""The job file: its format, version, the worker's job kinds, the special model name, the error type, and
reading/writing job files and their JSON-lines data. Imports nothing of the project, so any module (the
worker, the training and evaluation preparation) can use it without an import circle.

A run is prepared entirely in the parent (cheap, no torch; training: :mod:`desktop_ift.core.training.prepare`):
the dataset snapshot is rendered through the template, split, and written as JSON-lines files into the run
folder next to a ``job.json`` that names everything the worker needs. The worker then depends on nothing
but that folder and the workspace, so a job can be re-run from a terminal
(``desktop-ift train runs/<id>/job.json``) or copied to another machine.

Job file, training (``kind: "train"``)::

    {"kind": "train", "version": 1, "run_id": ..., "workspace": "/abs/home",
     "model": "demo" | "/abs/path/to/hf/folder",
     "model_source": {} | {where a model converted from GGUF came from: gguf_file, source, name, sha256, ...},
     "config": {TrainConfig fields},
     "data": {"train": "/abs/.../train.jsonl", "validation": "...", "test": "..."},
     "output_dir": "/abs/.../output", "resume_from": null | "/abs/checkpoint",
     "source": {"project_id", "dataset_id", "dataset_version", "template": {...}, "split": {...}},
     "plan": {TrainPlan.to_dict(): core.training.plan -- what was shown before launch, with the counts the
              worker must reproduce}}

Job file, evaluation (``kind: "evaluate"``, prepared by ``core.evaluation.eval_jobs``)::

    {"kind": "evaluate", "version": 1, "run_id": ..., "workspace": ...,
     "test_data": "/abs/.../test.jsonl",
     "models": [{"label": "base", "model": "demo" | path, "adapter": null},
                {"label": "fine-tuned", "model": "demo" | path, "adapter": "/abs/output" | null}],
     "generation": {GenerationConfig fields}, "labels": "auto" | [..] | null}

Each data line is one of (``job["data_format"]`` names which; the worker also tells them apart by keys)::

    instruction: {"idx": row index in the snapshot, "system", "prompt", "response", "template": label}
    chat:        {"idx": first row of the conversation, "system", "messages": [{"role", "content"}, ...]}
    text:        {"idx": row index, "text"}                  (continued pre-training)

The special model ``"demo"`` is the tiny model the worker builds in ``<workspace>/models`` on first use.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

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
    return rebase_job(job, path)


def rebase_job(job: dict, job_path: Path | str) -> dict:
    """``job`` with its paths inside the workspace it was written in moved to the workspace it is in now.

    A run's job file lives at ``<workspace>/runs/<run id>/job.json`` and records the workspace it was
    written in (``workspace``); when the workspace was moved or restored elsewhere, every path that starts
    with the old workspace folder is read as the same path under the current one. Job files elsewhere
    (a bundle, a copy) and jobs already in place are returned unchanged.
    """
    run_dir = Path(job_path).resolve().parent
    old = job.get("workspace")
    if run_dir.parent.name != "runs" or job.get("run_id", run_dir.name) != run_dir.name or not isinstance(old, str) \
            or not old.strip():
        return job
    home = run_dir.parent.parent
    if Path(old).resolve() == home:
        return job
    old = old.rstrip("/\\")

    def moved(value):
        if isinstance(value, str):
            if value == old or value.startswith((old + "/", old + "\\")):
                return str(home) + value[len(old):]
            return value
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [moved(v) for v in value]
        return value

    return moved(job)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path | str) -> list[dict]:
    """Read a prepared data file (one JSON object per line)."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
