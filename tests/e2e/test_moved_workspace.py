"""A workspace moved (or restored elsewhere) after a run finished: its job files still name the old folder,
yet the run can be evaluated and resumed there -- the job's paths are read relative to the run's folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job
from desktop_ift.core.job_format import read_job
from desktop_ift.core.store import Store
from desktop_ift.core.training.config import TrainConfig


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.mark.slow
def test_a_moved_workspace_evaluates_and_resumes_its_old_run(tmp_path, tiny_model_dir, toy, worker):
    home = tmp_path / "ws"
    store = Store.open(home)
    config = TrainConfig(method="lora", max_steps=4, save_steps=2, save_total_limit=4, batch_size=8, lora_r=4,
                         lora_alpha=16, learning_rate=1e-2, max_seq_length=64)
    job_path = worker.train_job(store, str(tiny_model_dir), config, toy.rows(24), test=toy.rows(30)[24:])
    trained = worker.run(job_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    run_id = trained.run_id
    old_checkpoint = Path(store.get_run(run_id).run_dir) / "checkpoints" / "checkpoint-2"
    assert old_checkpoint.is_dir()
    store.close()

    moved = tmp_path / "restored" / "ws"
    moved.parent.mkdir()
    shutil.move(str(home), moved)
    written = json.loads((moved / "runs" / run_id / "job.json").read_text(encoding="utf-8"))
    assert written["workspace"] == str(home)  # the file itself still names the old place

    job = read_job(moved / "runs" / run_id / "job.json")
    assert job["workspace"] == str(moved) and not any(str(home) + "/" in s for s in _strings(job))
    assert all(Path(p).is_file() for p in job["data"].values())

    with Store.open(moved) as store:
        eval_run, eval_path = prepare_eval_job(store, run_id, max_new_tokens=4)
        eval_job = read_job(eval_path)
        assert not any(str(home) in s for s in _strings(eval_job))
        evaluated = worker.run(eval_path)
        assert evaluated.returncode == 0, evaluated.stderr[-2000:]
        assert store.eval_results(eval_run.id), "the moved run's model answered the test prompts"

    # a resume prepared before the move (its checkpoint named under the old folder) continues after it
    written["resume_from"] = str(old_checkpoint)
    (moved / "runs" / run_id / "job.json").write_text(json.dumps(written), encoding="utf-8")
    resumed = worker.run(moved / "runs" / run_id / "job.json")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not (home / "runs").exists(), "nothing was written to the old place"
    steps = [e.step for e in resumed.of_type("log")]
    assert steps and min(steps) > 2, "training continued after checkpoint-2"
