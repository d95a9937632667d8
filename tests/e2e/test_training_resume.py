"""Interruptions: a run stopped at a checkpoint and resumed follows the curve of a run never stopped."""

from __future__ import annotations

import json

import pytest

from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.training.recipe import latest_checkpoint, run_training
from desktop_ift.core.worker import EventWriter

pytestmark = pytest.mark.slow


class StopAtStep:
    """A stop flag that is raised once the writer has reported the given step (like SIGTERM arriving then)."""

    def __init__(self, writer: EventWriter, step: int | None):
        self.writer, self.step = writer, step

    def is_set(self) -> bool:
        return self.step is not None and self.writer.store.get_run(self.writer.run_id).last_step >= self.step


def _train(store, worker, tiny_model_dir, rows, config, stop_at=None, job_path=None):
    job_path = job_path or worker.train_job(store, str(tiny_model_dir), config, rows)
    job = json.loads(job_path.read_text())
    writer = EventWriter(store, job["run_id"], None)
    outcome = run_training(job, writer, StopAtStep(writer, stop_at))
    return outcome, job_path, job["run_id"]


def _curve(store, run_id):
    logs = [e for e in store.events(run_id) if e.type == "log"]
    return {e.step: (e.loss, e.learning_rate, e.grad_norm) for e in logs}


def test_a_resumed_run_follows_the_same_loss_curve(store, tiny_model_dir, toy, worker):
    rows = toy.rows(32)
    # LoRA dropout > 0 makes the RNG state matter; 2 epochs make the data position matter.
    config = TrainConfig(method="lora", epochs=2, batch_size=8, logging_steps=1, learning_rate=3e-3,
                         lora_r=4, lora_alpha=8, lora_dropout=0.1, lr_scheduler="cosine", save_steps=100)
    outcome, _, straight = _train(store, worker, tiny_model_dir, rows, config)
    assert outcome == "finished"
    reference = _curve(store, straight)
    assert sorted(reference) == list(range(1, 9))

    outcome, job_path, resumed = _train(store, worker, tiny_model_dir, rows, config, stop_at=5)
    assert outcome == "cancelled"
    checkpoint = latest_checkpoint(store.run_dir(resumed))
    cancelled = store.events(resumed)[-1]
    assert cancelled.type == "cancelled" and 5 <= cancelled.step < 8, "stops at the next step end"
    assert checkpoint is not None and cancelled.checkpoint == str(checkpoint)
    assert checkpoint.name == f"checkpoint-{cancelled.step}"

    job = json.loads(job_path.read_text())
    job["resume_from"] = str(checkpoint)
    job_path.write_text(json.dumps(job))
    outcome, _, _ = _train(store, worker, tiny_model_dir, rows, config, job_path=job_path)
    assert outcome == "finished"
    events = store.events(resumed)
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "one run, numbering continues"
    curve = _curve(store, resumed)
    assert sorted(curve) == list(range(1, 9))
    for step, (loss, lr, grad) in reference.items():
        r_loss, r_lr, r_grad = curve[step]
        assert r_loss == pytest.approx(loss, abs=1e-4), f"loss differs at step {step}"
        assert r_lr == pytest.approx(lr, rel=1e-6) and r_grad == pytest.approx(grad, abs=1e-3)
    assert (store.run_dir(resumed) / "config.yaml").exists()


def test_latest_checkpoint_ignores_incomplete_folders(tmp_path):
    ckpts = tmp_path / "checkpoints"
    for step, complete in ((5, True), (10, True), (15, False)):
        (ckpts / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            (ckpts / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert latest_checkpoint(tmp_path).name == "checkpoint-10"
    assert latest_checkpoint(tmp_path / "nothing") is None
