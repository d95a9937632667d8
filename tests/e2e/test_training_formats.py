"""The engine on the tiny models, in-process: chat and continued pre-training data, DoRA, a seq2seq (T5)
model, and the settings that must fail in plain words before any time is spent."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from desktop_ift.core.errors import DataError
from desktop_ift.core.training.config import ConfigError, TrainConfig
from desktop_ift.core.training.recipe import run_training
from desktop_ift.core.worker import EventWriter, classify_error

pytestmark = pytest.mark.slow


class NeverStop:
    def is_set(self) -> bool:
        return False


def _run(store, worker, model_dir, config, rows):
    job = json.loads(worker.train_job(store, str(model_dir), config, rows).read_text())
    writer = EventWriter(store, job["run_id"], None)
    outcome = run_training(job, writer, NeverStop())
    return outcome, store.events(job["run_id"]), job


def test_chat_data_trains_with_full_fine_tuning_and_packing(store, tiny_model_dir, toy, worker):
    rows = [{"idx": i, "system": "Classify.", "messages": [
        {"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["response"]},
        {"role": "user", "content": "Sure?"}, {"role": "assistant", "content": "yes"}]}
        for i, r in enumerate(toy.rows(16))]
    outcome, events, job = _run(store, worker, tiny_model_dir, TrainConfig(method="full", max_steps=2, batch_size=8,
                                                                           learning_rate=1e-3), rows)
    assert outcome == "finished"
    assert events[0].info["data_format"] == "chat"
    assert any("packed without cross-example attention" in e.message for e in events if e.type == "progress")
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(job["output_dir"])
    assert model.config.use_cache, "the saved model generates with a cache"


def test_continued_pretraining_on_text_with_dora(store, tiny_model_dir, worker):
    rows = [{"idx": i, "text": f"Ticket {i}: the invoice shows a wrong amount. " * 5} for i in range(12)]
    config = TrainConfig(method="dora", max_steps=2, batch_size=4, lora_r=4, lora_alpha=8, save_steps=1)
    outcome, events, job = _run(store, worker, tiny_model_dir, config, rows)
    assert outcome == "finished" and events[0].info["data_format"] == "text"
    out = Path(job["output_dir"])
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["use_dora"] is True
    assert "DoRA adapter" in (out / "README.md").read_text()
    assert (out / "config.yaml").read_text().count("method: dora") == 1
    checkpoints = sorted(p.name for p in (store.run_dir(job["run_id"]) / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-1", "checkpoint-2"]


def test_seq2seq_model_trains_and_loads_with_plain_peft(store, tiny_t5_dir, toy, worker):
    config = TrainConfig(method="lora", max_steps=3, batch_size=8, lora_r=4, lora_alpha=8, learning_rate=3e-3)
    rows = toy.rows(24)
    outcome, events, job = _run(store, worker, tiny_t5_dir, config, rows[:16] + [])
    assert outcome == "finished"
    assert [e.step for e in events if e.type == "log"] == [1, 2, 3]
    out = Path(job["output_dir"])
    assert "AutoModelForSeq2SeqLM" in (out / "README.md").read_text()

    from peft import PeftModel
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model = PeftModel.from_pretrained(AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir), out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("Ticket: my invoice", return_tensors="pt")
    assert model.generate(**ids, max_new_tokens=3).shape[0] == 1
    targets = set(json.loads((out / "adapter_config.json").read_text())["target_modules"])
    assert {"q", "k", "v", "o"} <= targets


def test_seq2seq_refuses_chat_data_in_plain_words(store, tiny_t5_dir, worker):
    rows = [{"idx": 0, "system": "", "messages": [{"role": "user", "content": "hi"}]}]
    with pytest.raises(DataError, match="Encoder-decoder models"):
        _run(store, worker, tiny_t5_dir, TrainConfig(max_steps=1), rows)


@pytest.mark.parametrize("config, words", [
    (TrainConfig(method="qlora", max_steps=1), "QLoRA needs an NVIDIA GPU"),
    (TrainConfig(precision="fp16", max_steps=1), "fp16 needs an NVIDIA GPU"),
    (TrainConfig(lora_target_modules="attn_q", max_steps=1), "layers this model does not have: attn_q"),
])
def test_settings_that_cannot_work_here_fail_before_training(store, tiny_model_dir, toy, worker, config, words):
    with pytest.raises(ConfigError, match=words) as info:
        _run(store, worker, tiny_model_dir, config, toy.rows(8))
    message, hint = classify_error(info.value, Path("."))
    assert words in message and hint


def test_data_that_is_empty_after_cutting_to_length_fails_in_plain_words(store, tiny_model_dir, toy, worker):
    with pytest.raises(DataError, match="longer than the maximum sequence length") as info:
        _run(store, worker, tiny_model_dir, TrainConfig(max_seq_length=8, max_steps=1, overflow="drop"), toy.rows(8))
    assert "Raise the maximum sequence length" in info.value.hint


def test_out_of_memory_and_full_disk_are_explained():
    import torch

    message, hint = classify_error(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), Path("."))
    assert message == "The model ran out of memory." and "LoRA" in hint and "gradient checkpointing" in hint
    message, hint = classify_error(OSError(errno.ENOSPC, "No space left on device", "/runs/x/model.safetensors"),
                                   Path("."))
    assert "disk is full" in message and "model.safetensors" in message and "Free some disk space" in hint
    try:  # the CPU allocator's own failure (32 TiB cannot be had; refused at once, nothing is touched)
        torch.empty(2**45, dtype=torch.uint8)
    except RuntimeError as exc:
        assert classify_error(exc, Path("."))[0] == "The model ran out of memory."
    else:
        pytest.skip("this machine allocated 32 TiB")
