""""Stop early, keep best": SIGUSR1 to a real training worker on the tiny model stops it and makes the
checkpoint with the lowest validation loss the output, in the same Hugging Face form as a normal finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.worker import EXIT_CANCELLED

pytestmark = pytest.mark.slow


def cli(home, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL)


def _signal_after(kind: str, count: int, send=None):
    """An ``on_event`` hook that sends SIGUSR1 (or calls ``send(proc, event)``) once ``count`` events of
    ``kind`` have arrived."""
    seen = {"n": 0, "sent_at": None}

    def on_event(proc, event):
        if event.type == kind:
            seen["n"] += 1
            if seen["n"] == count and seen["sent_at"] is None:
                seen["sent_at"] = getattr(event, "step", None)
                if send is None:
                    os.kill(proc.pid, signal.SIGUSR1)
                else:
                    send(proc, event)

    return on_event, seen


def test_sigusr1_stops_and_keeps_the_best_validation_checkpoint(store, tiny_model_dir, toy, worker):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = toy.rows(60)
    # Periodic saves with a limit of 1 would rotate
    # the best checkpoint away if it were not protected.
    config = TrainConfig(method="lora", max_steps=300, batch_size=8, logging_steps=1, eval_steps=2,
                         save_steps=3, save_total_limit=1, learning_rate=2e-2, lora_r=4, lora_alpha=8)
    # Validation answers disagree with what training teaches, so the validation loss turns up at some point
    # and the best checkpoint is usually not the last one.
    labels = toy.labels
    validation = [dict(r, response=labels[(labels.index(r["response"]) + 1) % len(labels)]) for r in rows[40:50]]
    job = worker.train_job(store, str(tiny_model_dir), config, rows[:40], validation)
    sent = {}

    def through_the_cli(proc, event):  # what a user types: desktop-ift runs stop-keep-best RUN
        sent["cli"] = cli(store.home, "runs", "stop-keep-best", event.run_id)

    on_event, seen = _signal_after("eval", 3, send=through_the_cli)
    result = worker.run(job, on_event=on_event)
    assert sent["cli"].returncode == 0, sent["cli"].stderr
    assert "best checkpoint" in sent["cli"].stdout

    assert result.returncode == 0, result.events[-1]
    finished = result.last
    assert finished.type == "finished", finished
    evals = [(e.step, e.metrics["eval_loss"]) for e in result.of_type("eval")]
    assert len(evals) >= 3 and seen["sent_at"] is not None
    steps = finished.metrics["steps"]
    assert steps < 300, "stopped early, not at the planned end"
    best_step, best_loss = min(evals, key=lambda x: x[1])
    assert finished.metrics["stopped_early"] is True
    assert finished.metrics["best_step"] == best_step
    assert finished.metrics["best_eval_loss"] == pytest.approx(best_loss)
    assert finished.metrics["eval_loss"] == pytest.approx(best_loss)
    assert store.get_run(result.run_id).status == "finished"

    checkpoint = Path(finished.metrics["best_checkpoint"])
    assert checkpoint.name == f"checkpoint-{best_step}" and checkpoint.is_dir(), "rotation kept the best"
    out = Path(finished.output_dir)
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"} <= {
        p.name for p in out.iterdir()}
    expected = load_file(checkpoint / "adapter_model.safetensors")
    saved = load_file(out / "adapter_model.safetensors")
    assert set(saved) == set(expected)
    for key, tensor in expected.items():
        assert saved[key].equal(tensor), f"{key} differs from the best checkpoint"

    # Plain transformers + peft load it, with the best checkpoint's adapter weights.
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    model = PeftModel.from_pretrained(base, str(out))
    AutoTokenizer.from_pretrained(str(out))
    loaded = {k: v for k, v in model.state_dict().items() if "lora_" in k}
    assert loaded
    key = next(iter(expected))
    match = [v for k, v in loaded.items() if k.replace(".default", "") == key]
    assert match and match[0].equal(expected[key])
    assert "best_step" in (out / "README.md").read_text()

    refused = cli(store.home, "runs", "stop-keep-best", result.run_id)
    assert refused.returncode != 0 and "not training now" in refused.stderr


def test_keep_best_without_validation_stops_like_pause_and_says_why(store, tiny_model_dir, toy, worker):
    rows = toy.rows(40)
    config = TrainConfig(method="lora", max_steps=300, batch_size=8, logging_steps=1, learning_rate=3e-3,
                         lora_r=4, lora_alpha=8)
    job = worker.train_job(store, str(tiny_model_dir), config, rows)
    on_event, _ = _signal_after("log", 2)
    result = worker.run(job, on_event=on_event)

    assert result.returncode == EXIT_CANCELLED
    assert result.last.type == "cancelled" and result.last.checkpoint, "a resumable checkpoint, like Pause"
    assert Path(result.last.checkpoint).is_dir()
    messages = [e.message for e in result.of_type("progress")]
    assert any("Could not keep the best model" in m and "no validation split" in m for m in messages), messages
