"""Beyond one process: the worker re-launches itself through ``accelerate launch`` (2 CPU processes, gloo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.training.launcher import LaunchError, accelerate_config, check_strategy, processes_for

pytestmark = pytest.mark.slow


def test_a_two_process_job_runs_through_accelerate(store, tiny_model_dir, toy, worker):
    config = TrainConfig(method="lora", max_steps=3, batch_size=4, logging_steps=1, lora_r=4, lora_alpha=8,
                         num_processes=2)
    job_path = worker.train_job(store, str(tiny_model_dir), config, toy.rows(32), toy.rows(8, seed=3))
    result = worker.run(job_path, timeout=300)
    assert result.returncode == 0, (result.events[-1:], result.stderr[-2000:])
    started = result.events[0]
    assert started.type == "started" and started.info["processes"] == 2
    assert [e.step for e in result.of_type("log")] == [1, 2, 3], "one process (rank 0) reports for both"
    assert result.last.type == "finished"
    run_dir = Path(store.get_run(result.run_id).run_dir)
    launched = yaml.safe_load((run_dir / "accelerate_config.yaml").read_text())
    assert launched["num_processes"] == 2 and launched["use_cpu"] is True
    assert "accelerate.commands.launch" in (run_dir / "worker.log").read_text()
    assert (run_dir / "worker-rank1.log").exists()
    out = Path(result.last.output_dir)
    assert (out / "adapter_model.safetensors").exists() and (out / "README.md").exists()


def test_strategies_generate_accelerate_configs():
    ddp = accelerate_config(TrainConfig(), 4)
    assert ddp["distributed_type"] == "MULTI_GPU" and ddp["num_processes"] == 4
    fsdp = accelerate_config(TrainConfig(distributed="fsdp"), 8)
    assert fsdp["distributed_type"] == "FSDP" and fsdp["fsdp_config"]["fsdp_use_orig_params"] is True
    zero3 = accelerate_config(TrainConfig(distributed="deepspeed-zero3", gradient_accumulation=4), 2)
    assert zero3["deepspeed_config"]["zero_stage"] == 3
    assert zero3["deepspeed_config"]["gradient_accumulation_steps"] == 4
    assert accelerate_config(TrainConfig(distributed="fsdp"), 2, use_cpu=True)["distributed_type"] == "MULTI_GPU"
    assert processes_for(TrainConfig(), gpus=0) == 1 and processes_for(TrainConfig(), gpus=4) == 4
    assert processes_for(TrainConfig(num_processes=2), gpus=8) == 2


def test_deepspeed_missing_is_explained():
    import importlib.util

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("DeepSpeed is installed here")
    with pytest.raises(LaunchError, match="needs DeepSpeed, which is not installed"):
        check_strategy(TrainConfig(distributed="deepspeed-zero2"), use_cpu=False)
    check_strategy(TrainConfig(distributed="ddp"), use_cpu=False)


def test_job_file_is_unchanged_by_launching(store, tiny_model_dir, toy, worker):
    """The job written by the GUI is the job that runs: the launcher adds files, it edits nothing."""
    job_path = worker.train_job(store, str(tiny_model_dir), TrainConfig(max_steps=1), toy.rows(4))
    before = json.loads(job_path.read_text())
    from desktop_ift.core.training.launcher import prepare_launch

    assert prepare_launch(before, job_path, job_path.parent) is None, "one process: no launcher"
    assert json.loads(job_path.read_text()) == before


def test_cancelling_a_two_process_run_stops_every_rank_at_the_same_step(store, tiny_model_dir, toy, worker):
    """SIGTERM reaches the launcher, which passes it to both ranks at slightly different moments; the ranks
    agree on the step to stop at, save one resumable checkpoint and end as cancelled (no rank left waiting)."""
    import signal

    from desktop_ift.core.worker import EXIT_CANCELLED

    config = TrainConfig(method="lora", max_steps=60, batch_size=2, logging_steps=1, lora_r=4, lora_alpha=8,
                         num_processes=2)
    job_path = worker.train_job(store, str(tiny_model_dir), config, toy.rows(32))

    def stop_on_first_log(proc, event):
        if event.type == "log" and event.step == 1:
            proc.send_signal(signal.SIGTERM)

    result = worker.run(job_path, timeout=300, on_event=stop_on_first_log)
    assert result.returncode == EXIT_CANCELLED, (result.events[-1:], result.stderr[-2000:])
    cancelled = result.last
    assert cancelled.type == "cancelled" and 1 <= cancelled.step < 60
    checkpoint = Path(cancelled.checkpoint)
    assert (checkpoint / "trainer_state.json").exists() and (checkpoint / "adapter_model.safetensors").exists()
    assert store.get_run(result.run_id).status == "cancelled"
    rank1_log = (Path(store.get_run(result.run_id).run_dir) / "worker-rank1.log").read_text()
    assert "Traceback" not in rank1_log, rank1_log[-2000:]


def test_stop_and_keep_best_in_a_two_process_run(store, tiny_model_dir, toy, worker):
    """"Stop & keep best" (SIGUSR1 to the worker) reaches both ranks through the launcher: they stop at the
    same step and load the best validation checkpoint, which becomes the output; the run ends as finished."""
    import os
    import signal

    from safetensors.torch import load_file

    config = TrainConfig(method="lora", max_steps=200, batch_size=2, logging_steps=1, eval_steps=2, save_steps=5,
                         save_total_limit=1, learning_rate=2e-2, lora_r=4, lora_alpha=8, num_processes=2)
    rows = toy.rows(40)
    labels = toy.labels  # validation answers contradict training, so the best checkpoint is rarely the last
    validation = [dict(r, response=labels[(labels.index(r["response"]) + 1) % len(labels)]) for r in rows[32:]]
    job_path = worker.train_job(store, str(tiny_model_dir), config, rows[:32], validation)
    evals = []

    def keep_best_after_three_evals(proc, event):
        if event.type == "eval":
            evals.append(event)
            if len(evals) == 3:
                os.kill(proc.pid, signal.SIGUSR1)

    result = worker.run(job_path, timeout=300, on_event=keep_best_after_three_evals)
    assert result.returncode == 0, (result.events[-3:], result.stderr[-2000:])
    finished = result.last
    assert finished.type == "finished" and finished.metrics["stopped_early"] is True
    assert finished.metrics["steps"] < 200
    losses = [(e.step, e.metrics["eval_loss"]) for e in result.of_type("eval")]
    best_step, best_loss = min(losses, key=lambda x: x[1])
    assert finished.metrics["best_step"] == best_step
    assert finished.metrics["eval_loss"] == pytest.approx(best_loss)
    best = Path(finished.metrics["best_checkpoint"])
    assert best.name == f"checkpoint-{best_step}" and best.is_dir(), "rotation kept the best"
    expected = load_file(best / "adapter_model.safetensors")
    saved = load_file(Path(finished.output_dir) / "adapter_model.safetensors")
    assert set(saved) == set(expected) and all(saved[k].equal(v) for k, v in expected.items())
    run_dir = Path(store.get_run(result.run_id).run_dir)
    assert "Traceback" not in (run_dir / "worker-rank1.log").read_text()
    assert not (run_dir / "keep-best.request").exists(), "the request does not outlive the run"
