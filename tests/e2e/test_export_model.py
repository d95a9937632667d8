"""Export a run's model: the adapter as it is, or merged into its base as a standalone model that plain
transformers loads (same outputs as base + adapter), through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_ift.core.training.export import ExportError, export_model

torch = pytest.importorskip("torch")


def cli(home, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True, env=env,
                          timeout=300, stdin=subprocess.DEVNULL)


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_merged_export_loads_without_peft_and_answers_like_base_plus_adapter(store, adapter_run, tiny_model_dir,
                                                                             tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, out = adapter_run
    dest = tmp_path / "exports" / "support-model"
    result = cli(store.home, "runs", "export-model", run.id, str(dest), "--merge")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["kind"] == "merged" and summary["dest"] == str(dest)
    assert "standalone model" in result.stdout
    assert not (dest / "adapter_config.json").exists() and (dest / "model.safetensors").exists()
    assert not dest.with_name(dest.name + ".partial").exists()
    assert "Merged model" in (dest / "README.md").read_text()

    merged = AutoModelForCausalLM.from_pretrained(str(dest)).eval()  # transformers alone
    tokenizer = AutoTokenizer.from_pretrained(str(dest))
    ids = torch.tensor([tokenizer("billing shipping refund", add_special_tokens=False)["input_ids"]])
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
                                             str(out)).eval()
    expected = _logits(with_adapter, ids)
    assert torch.allclose(_logits(merged, ids), expected, atol=1e-4)
    assert not torch.allclose(_logits(base, ids), expected, atol=1e-3), "the adapter changes the model"


def test_adapter_export_copies_the_run_output_and_never_overwrites(store, adapter_run, tmp_path):
    run, out = adapter_run
    dest = tmp_path / "adapter"
    result = export_model(out, dest)
    assert result.kind == "adapter" and (dest / "adapter_model.safetensors").exists()
    assert (dest / "adapter_model.safetensors").read_bytes() == (out / "adapter_model.safetensors").read_bytes()
    assert "LoRA adapter" in result.describe()

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine", encoding="utf-8")
    refused = cli(store.home, "runs", "export-model", run.id, str(taken))
    assert refused.returncode != 0 and "not an empty folder" in refused.stderr
    assert [p.name for p in taken.iterdir()] == ["notes.txt"], "nothing of the user's is touched"


def test_merge_without_the_base_model_says_so_and_leaves_nothing(adapter_run, tmp_path):
    _, out = adapter_run
    config = json.loads((out / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "gone")
    (out / "adapter_config.json").write_text(json.dumps(config))
    dest = tmp_path / "merged"
    with pytest.raises(ExportError, match="is not on this computer"):
        export_model(out, dest, merge=True)
    assert not dest.exists() and not dest.with_name("merged.partial").exists()


def test_a_run_without_a_model_cannot_be_exported(store, tmp_path):
    run = store.create_run("train", {"method": "lora"})
    result = cli(store.home, "runs", "export-model", run.id, str(tmp_path / "x"))
    assert result.returncode != 0 and "has no trained model to export" in result.stderr


def test_an_encoder_decoder_adapter_merges_into_a_standalone_t5(tiny_t5_dir, tmp_path):
    """The seq2seq path (T5/BART): the merged folder loads with AutoModelForSeq2SeqLM alone, same outputs."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    base = AutoModelForSeq2SeqLM.from_pretrained(str(tiny_t5_dir))
    adapter = tmp_path / "t5-adapter"
    get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q", "v"], init_lora_weights=False,
                                    task_type="SEQ_2_SEQ_LM")).save_pretrained(str(adapter))
    AutoTokenizer.from_pretrained(str(tiny_t5_dir)).save_pretrained(str(adapter))
    result = export_model(adapter, tmp_path / "t5-merged", merge=True)
    assert result.kind == "merged"

    merged = AutoModelForSeq2SeqLM.from_pretrained(str(result.dest)).eval()
    reference = PeftModel.from_pretrained(AutoModelForSeq2SeqLM.from_pretrained(str(tiny_t5_dir)), str(adapter)).eval()
    ids, labels = torch.tensor([[5, 9, 12, 7]]), torch.tensor([[6, 8]])
    with torch.no_grad():
        got = merged(input_ids=ids, labels=labels).logits
        expected = reference(input_ids=ids, labels=labels).logits
    assert torch.allclose(got, expected, atol=1e-4)
