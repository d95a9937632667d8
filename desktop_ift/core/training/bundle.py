"""'Export run bundle': a training run as a folder (or zip) that runs headless on another machine.

The bundle holds the job with paths relative to the bundle, the prepared data (``data/*.jsonl``),
``config.yaml``, an accelerate configuration for the chosen multi-GPU strategy, and ``run.sh`` with the exact
commands. :func:`run_bundle` (``desktop-ift run-bundle DIR``) turns a copied bundle back into a run in a
workspace inside the bundle (same run id) and starts the worker, which launches itself through accelerate
when the job asks for several processes. The model folder is not copied (models are large): the job names
it, and ``--model`` points at the copy on the other machine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from desktop_ift.core.job_format import DEMO_MODEL, read_job
from desktop_ift.core.store import Store
from desktop_ift.core.training.config import TrainConfig, save_yaml
from desktop_ift.core.training.launcher import accelerate_config, shell_line

BUNDLE_JOB = "job.json"


def export_bundle(job_path: Path | str, dest: Path | str, make_zip: bool = False) -> Path:
    """Write the bundle of the training job at ``job_path`` into the new folder ``dest``; with ``make_zip``
    also ``dest.zip`` (returned instead of the folder). Raises ``FileExistsError`` if ``dest`` exists."""
    import yaml

    job = read_job(job_path)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    (dest / "data").mkdir()
    data = {}
    for part, path in (job.get("data") or {}).items():
        if path and Path(path).exists():
            shutil.copy2(path, dest / "data" / f"{part}.jsonl")
            data[part] = f"data/{part}.jsonl"
    config = TrainConfig.from_dict(job.get("config") or {})
    bundled = {**job, "data": data, "workspace": "workspace", "output_dir": "output", "resume_from": None,
               "bundle": True}
    (dest / BUNDLE_JOB).write_text(json.dumps(bundled, indent=2, ensure_ascii=False), encoding="utf-8")
    save_yaml(config, dest / "config.yaml", extra={"model": job["model"]})
    gpus = config.num_processes if config.num_processes > 0 else 8
    (dest / "accelerate_config.yaml").write_text(
        yaml.safe_dump(accelerate_config(config, gpus), sort_keys=False), encoding="utf-8")
    model_note = ("the built-in demo model (built on first use)" if job["model"] == DEMO_MODEL
                  else f"{job['model']} (copy that folder and pass --model /path/to/it)")
    direct = shell_line(["accelerate", "launch", "--config_file", "accelerate_config.yaml",
                         "--num_processes", "$NUM_GPUS", "-m", "desktop_ift.core.worker", "workspace-job.json"])
    (dest / "run.sh").write_text(f"""#!/bin/sh
# Run this training job headless: {config.method} fine-tuning of {model_note}.
# Needs: pip install desktop_ift (the same version), and the model folder on this machine.
# The job uses num_processes={config.num_processes} (0: one process per GPU) and the '{config.distributed}' strategy
# (accelerate_config.yaml; edit it for your cluster). Results go to ./workspace and ./output.
set -e
cd "$(dirname "$0")"
desktop-ift run-bundle . "$@"
# What run-bundle does, by hand (after it has written workspace-job.json):
#   {direct}
""", encoding="utf-8")
    (dest / "run.sh").chmod(0o755)
    (dest / "README.md").write_text(
        f"# Training bundle {job['run_id']}\n\n"
        f"- Model: {model_note}\n- Method: {config.method}; data: {', '.join(sorted(data))}\n\n"
        "Run `./run.sh` (or `./run.sh --model /path/to/model`). Events are printed as the run goes; the "
        "fine-tuned model ends up in `output/`.\n", encoding="utf-8")
    if make_zip:
        return Path(shutil.make_archive(str(dest), "zip", root_dir=dest))
    return dest


def run_bundle(bundle_dir: Path | str, model: str | None = None) -> Path:
    """Make a bundle runnable here: create ``workspace/`` with the run (same id) and write
    ``workspace-job.json`` with absolute paths. Returns that job file (run it with the worker)."""
    root = Path(bundle_dir).resolve()
    job = json.loads((root / BUNDLE_JOB).read_text(encoding="utf-8"))
    if model:
        job["model"] = str(Path(model).expanduser().resolve())
    workspace = root / "workspace"
    store = Store.open(workspace)
    try:
        try:
            store.get_run(job["run_id"])
        except Exception:
            store.create_run("train", config=job.get("config") or {}, name=f"bundle {job['run_id']}",
                             run_id=job["run_id"])
    finally:
        store.close()
    job.update(workspace=str(workspace), output_dir=str(root / "output"),
               data={k: str(root / v) for k, v in (job.get("data") or {}).items()})
    path = root / "workspace-job.json"
    path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
