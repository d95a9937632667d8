"""Before launch: device detection and the memory estimate, both without torch (the GUI uses them)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.training.hardware import GIB, Device, detect_devices, parse_nvidia_smi
from desktop_ift.core.training.memory import estimate_memory, fit_advice, load_shape, shape_from_config

LLAMA2_7B = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 32000,
             "tie_word_embeddings": False}
QWEN25_05B = {"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
              "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": True}
GPT2 = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257, "n_inner": None}


@pytest.mark.parametrize("cfg, published", [(LLAMA2_7B, 6.74e9), (QWEN25_05B, 0.494e9), (GPT2, 0.124e9)])
def test_parameter_count_from_config_matches_the_published_size(cfg, published):
    assert shape_from_config(cfg).params == pytest.approx(published, rel=0.02)


def test_parameter_count_from_weight_headers_is_exact(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    shape = load_shape(tiny_model_dir)
    assert shape.exact
    assert shape.params == AutoModelForCausalLM.from_pretrained(tiny_model_dir).num_parameters()


def test_memory_falls_with_each_lighter_choice():
    shape = shape_from_config(LLAMA2_7B)
    base = TrainConfig(method="full", batch_size=4, max_seq_length=1024, gradient_checkpointing=False)
    full = estimate_memory(shape, base).total
    lora = estimate_memory(shape, TrainConfig(method="lora", batch_size=4, max_seq_length=1024,
                                              gradient_checkpointing=False)).total
    qlora = estimate_memory(shape, TrainConfig(method="qlora", batch_size=4, max_seq_length=1024,
                                               gradient_checkpointing=False)).total
    ckpt = estimate_memory(shape, TrainConfig(method="lora", batch_size=4, max_seq_length=1024,
                                              gradient_checkpointing=True)).total
    assert full > lora > ckpt and lora > qlora
    # Full fine-tuning of 7B with Adam needs ~16 bytes per parameter: over 100 GB.
    assert full / GIB > 100
    # QLoRA 4-bit of a 7B model is known to train in well under 24 GB with short sequences.
    short = estimate_memory(shape, TrainConfig(method="qlora", batch_size=1, max_seq_length=512,
                                               gradient_checkpointing=True)).total
    assert 4 * GIB < short < 12 * GIB


def test_a_job_that_does_not_fit_comes_with_suggestions_that_do():
    shape = shape_from_config(LLAMA2_7B)
    gpu = Device("cuda", 0, "RTX 4090", 24 * GIB, 23 * GIB, bf16=True)
    advice = fit_advice(shape, TrainConfig(method="full", batch_size=8, max_seq_length=2048,
                                           gradient_checkpointing=False), gpu)
    assert not advice.fits
    text = advice.message()
    assert "will probably run out of memory" in text and "RTX 4090" in text
    assert any("LoRA" in s for s in advice.suggestions)
    assert any("QLoRA" in s for s in advice.suggestions)
    assert "(fits)" in advice.suggestions[-1] and "Together (QLoRA 4-bit + gradient checkpointing" in advice.suggestions[-1]
    small = fit_advice(shape_from_config(QWEN25_05B), TrainConfig(method="lora", batch_size=4), gpu)
    assert small.fits and "should fit" in small.message()
    # checkpointing is on by default; with this much room the advice says it can go, for speed
    assert "turn off gradient checkpointing" in small.message()
    tight = fit_advice(shape, TrainConfig(method="lora", batch_size=4, max_seq_length=1024), gpu)  # 18 vs 40 GiB
    assert tight.fits and not tight.speed_tip


def test_qlora_is_not_suggested_without_an_nvidia_gpu():
    cpu = Device("cpu", 0, "CPU", 8 * GIB, 6 * GIB)
    advice = fit_advice(shape_from_config(LLAMA2_7B), TrainConfig(method="full"), cpu)
    assert not advice.fits and not any("QLoRA" in s for s in advice.suggestions)


def test_nvidia_smi_output_is_parsed():
    gpus = parse_nvidia_smi("0, NVIDIA A100-SXM4-80GB, 81920, 80000, 8.0\n1, Tesla T4, 15360, 15000, 7.5\n")
    assert [g.name for g in gpus] == ["NVIDIA A100-SXM4-80GB", "Tesla T4"]
    assert gpus[0].total_memory == 80 * GIB and gpus[0].bf16 and not gpus[1].bf16
    assert gpus[1].label == "cuda:1 Tesla T4 (15.0 GiB)"
    assert parse_nvidia_smi("garbage\n") == ()


def test_device_detection_always_finds_the_cpu():
    hw = detect_devices()
    assert hw.cpu.total_memory > 0 and hw.accelerator in ("cuda", "mps", "cpu")
    assert hw.describe()
    json.dumps(hw.to_dict())


def test_estimate_and_detection_do_not_import_torch(tiny_model_dir):
    code = ("import sys; from desktop_ift.core.training.memory import fit_advice, load_shape;"
            "from desktop_ift.core.training.hardware import detect_devices;"
            "from desktop_ift.core.training.config import TrainConfig;"
            f"print(fit_advice(load_shape({str(tiny_model_dir)!r}), TrainConfig(), "
            "detect_devices().training_device).message());"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "GiB" in out.stdout
