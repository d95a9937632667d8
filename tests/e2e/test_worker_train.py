"""The training worker as a real child process on the tiny model: events, store, output, cancel, errors."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from desktop_ift.core import events as ev
from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.worker import EXIT_BAD_JOB, EXIT_CANCELLED, EXIT_FAILED

pytestmark = pytest.mark.slow


def _assert_stream_matches_store(result, store):
    seqs = [e.seq for e in result.events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq numbers grow by one, no gaps"
    stored = store.events(result.run_id, after_seq=seqs[0] - 1)
    assert [ev.to_dict(e) for e in stored] == [ev.to_dict(e) for e in result.events]


def test_lora_run_streams_events_and_saves_a_standard_adapter(store, tiny_model_dir, toy, worker):
    rows = toy.rows(60)
    config = TrainConfig(method="lora", max_steps=10, batch_size=8, logging_steps=1, eval_steps=5,
                         learning_rate=3e-3, lora_r=4, lora_alpha=8)
    job = worker.train_job(store, str(tiny_model_dir), config, rows[:40], rows[40:50], rows[50:])
    result = worker.run(job)

    assert result.returncode == 0, result.events[-1]
    assert all(line.startswith("{") for line in result.raw_lines), "stdout carries events only"
    assert result.events[0].type == "started" and result.events[0].seq == 1
    assert result.events[0].total_steps == 10 and result.events[0].device == "cpu"
    assert result.last.type == "finished"
    _assert_stream_matches_store(result, store)

    logs = result.of_type("log")
    assert [e.step for e in logs] == list(range(1, 11))
    assert all(e.loss is not None and e.total_steps == 10 for e in logs)
    assert logs[-1].tokens_seen > logs[0].tokens_seen > 0 and logs[-1].memory_mb > 0
    assert logs[-1].eta_s == 0 and logs[-1].elapsed_s > 0
    evals = result.of_type("eval")
    assert [e.step for e in evals] == [5, 10] and all("eval_loss" in e.metrics for e in evals)

    run = store.get_run(result.run_id)
    assert run.status == "finished" and run.last_step == 10 and run.total_steps == 10
    assert len(store.metric_series(run.id, "loss")) == 10
    assert [s for s, _ in store.metric_series(run.id, "eval_loss")] == [5, 10]
    metrics = result.last.metrics
    assert set(metrics) == {"train_loss", "eval_loss", "steps", "runtime_s"} and metrics["steps"] == 10

    out = Path(result.last.output_dir)
    assert out == Path(run.output_dir)
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md",
            "desktop_ift_job.json"} <= {p.name for p in out.iterdir()}
    assert "lora_r | 4" in (out / "README.md").read_text()
    log_text = (Path(run.run_dir) / "worker.log").read_text()
    assert "train_runtime" in log_text, "the Trainer's own prints go to worker.log"

    # Plain transformers + peft load the result without any of our code.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("<s><|user|>\nhi\n<|assistant|>\n", return_tensors="pt", add_special_tokens=False)
    assert model.generate(**ids, max_new_tokens=2, do_sample=False).shape[0] == 1
    targets = set(json.loads((out / "adapter_config.json").read_text())["target_modules"])
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_full_fine_tune_saves_a_whole_model(store, tiny_model_dir, toy, worker):
    rows = toy.rows(30)
    config = TrainConfig(method="full", max_steps=4, batch_size=8, logging_steps=2, learning_rate=1e-3)
    result = worker.run(worker.train_job(store, str(tiny_model_dir), config, rows))
    assert result.returncode == 0 and result.last.type == "finished", result.last
    assert [e.step for e in result.of_type("log")] == [2, 4]
    assert not result.of_type("eval"), "no validation split, no validation loss"
    assert result.last.metrics["eval_loss"] is None

    from transformers import AutoModelForCausalLM

    out = Path(result.last.output_dir)
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(out)
    assert type(model).__name__ == "LlamaForCausalLM"


def test_sigterm_saves_a_resumable_checkpoint_and_resume_continues(store, tiny_model_dir, toy, worker):
    rows = toy.rows(40)
    config = TrainConfig(method="lora", max_steps=40, batch_size=4, logging_steps=1, learning_rate=1e-3)
    job_path = worker.train_job(store, str(tiny_model_dir), config, rows)

    def stop_on_first_log(proc, event):
        if event.type == "log" and event.step == 1:
            proc.send_signal(signal.SIGTERM)

    result = worker.run(job_path, on_event=stop_on_first_log)
    assert result.returncode == EXIT_CANCELLED
    cancelled = result.last
    assert cancelled.type == "cancelled" and 1 <= cancelled.step < 40
    checkpoint = Path(cancelled.checkpoint)
    assert checkpoint.name == f"checkpoint-{cancelled.step}"
    assert {"optimizer.pt", "scheduler.pt", "trainer_state.json", "adapter_model.safetensors"} <= {
        p.name for p in checkpoint.iterdir()}
    assert any(p.name.startswith("rng_state") for p in checkpoint.iterdir())
    assert result.of_type("checkpoint")[-1].path == str(checkpoint)
    assert store.get_run(result.run_id).status == "cancelled"

    job = json.loads(job_path.read_text())
    job["resume_from"] = str(checkpoint)
    job_path.write_text(json.dumps(job))
    resumed = worker.run(job_path)
    assert resumed.returncode == 0, resumed.last
    assert resumed.events[0].seq == cancelled.seq + 1, "a resumed run continues the numbering"
    assert resumed.of_type("log")[0].step == cancelled.step + 1
    assert resumed.last.type == "finished" and resumed.last.metrics["steps"] == 40
    assert store.get_run(result.run_id).status == "finished"


def test_a_folder_that_is_not_a_model_fails_in_plain_words(store, tmp_path, toy, worker):
    not_a_model = tmp_path / "my documents"
    not_a_model.mkdir()
    (not_a_model / "notes.txt").write_text("hello")
    result = worker.run(worker.train_job(store, str(not_a_model), TrainConfig(max_steps=2), toy.rows(8)))
    assert result.returncode == EXIT_FAILED
    failed = result.last
    assert failed.type == "failed"
    assert "is not a model folder: it has no config.json" in failed.message
    assert "Traceback" not in failed.message and "Traceback" in failed.details
    assert failed.hint
    run = store.get_run(result.run_id)
    assert run.status == "failed" and run.message == failed.message


def test_an_empty_training_split_fails_in_plain_words(store, tiny_model_dir, worker):
    result = worker.run(worker.train_job(store, str(tiny_model_dir), TrainConfig(max_steps=2), []))
    assert result.returncode == EXIT_FAILED
    assert result.last.type == "failed" and "training split has no examples" in result.last.message
    assert "Import data" in result.last.hint


def test_a_job_file_that_is_not_a_job_exits_with_a_message(tmp_path):
    import subprocess

    from desktop_ift.core.job_format import worker_command

    bad = tmp_path / "job.json"
    bad.write_text("{}")
    proc = subprocess.run(worker_command(bad), capture_output=True, text=True, timeout=60)
    assert proc.returncode == EXIT_BAD_JOB and proc.stdout == ""
    assert "not a desktop_ift job file" in proc.stderr



def test_a_watcher_that_goes_away_does_not_stop_the_worker(store, tiny_model_dir, toy, worker):
    """The GUI dies (its end of the pipe closes): the worker keeps going and the store gets everything."""
    import subprocess

    from desktop_ift.core.job_format import worker_command

    config = TrainConfig(method="lora", max_steps=6, batch_size=4, logging_steps=1)
    job = worker.train_job(store, str(tiny_model_dir), config, toy.rows(24))
    proc = subprocess.Popen(worker_command(job), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=worker.env())
    first = ev.decode(proc.stdout.readline())
    assert first.type == "started"
    proc.stdout.close()  # nobody reads any more
    assert proc.wait(timeout=120) == 0
    run_id = json.loads(job.read_text())["run_id"]
    stored = store.events(run_id)
    assert store.get_run(run_id).status == "finished"
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert len([e for e in stored if e.type == "log"]) == 6
