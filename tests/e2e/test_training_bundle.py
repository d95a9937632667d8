"""'Export run bundle': a run copied elsewhere runs headless from the bundle alone."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest
import yaml

from desktop_ift.core.store import Store
from desktop_ift.core.training.bundle import export_bundle, run_bundle
from desktop_ift.core.training.config import TrainConfig

pytestmark = pytest.mark.slow


def test_exported_bundle_runs_on_another_machine(store, tiny_model_dir, toy, worker, tmp_path):
    config = TrainConfig(method="lora", max_steps=2, batch_size=4, lora_r=4, lora_alpha=8, distributed="fsdp")
    job_path = worker.train_job(store, str(tiny_model_dir), config, toy.rows(16), toy.rows(4, seed=2))
    bundle = export_bundle(job_path, tmp_path / "bundle")
    names = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert {"job.json", "config.yaml", "accelerate_config.yaml", "run.sh", "README.md", "data/train.jsonl",
            "data/validation.jsonl", "data/test.jsonl"} <= names
    assert "desktop-ift run-bundle" in (bundle / "run.sh").read_text()
    assert "accelerate launch --config_file accelerate_config.yaml" in (bundle / "run.sh").read_text()
    assert yaml.safe_load((bundle / "accelerate_config.yaml").read_text())["distributed_type"] == "FSDP"
    assert not any(str(store.home) in v for v in json.loads((bundle / "job.json").read_text())["data"].values())

    # "Another machine": the bundle moved, the original workspace gone from its view.
    moved = shutil.move(str(bundle), tmp_path / "elsewhere")
    job = run_bundle(moved, model=str(tiny_model_dir))
    result = worker.run(job)
    assert result.returncode == 0 and result.last.type == "finished", result.last
    other = Store.open(tmp_path / "elsewhere" / "workspace")
    assert other.get_run(result.run_id).status == "finished"
    assert result.run_id == json.loads(job_path.read_text())["run_id"]
    assert (tmp_path / "elsewhere" / "output" / "adapter_model.safetensors").exists()
    other.close()


def test_bundle_as_zip(store, tiny_model_dir, toy, worker, tmp_path):
    job_path = worker.train_job(store, str(tiny_model_dir), TrainConfig(max_steps=1), toy.rows(4))
    archive = export_bundle(job_path, tmp_path / "b", make_zip=True)
    assert archive.suffix == ".zip"
    assert {"job.json", "run.sh", "data/train.jsonl"} <= set(zipfile.ZipFile(archive).namelist())
    with pytest.raises(FileExistsError):
        export_bundle(job_path, tmp_path / "b")
