"""Training settings: validation in plain words, old job files, YAML with the run, presets."""

from __future__ import annotations

import pytest

from desktop_ift.core.training.config import ConfigError, TrainConfig, load_yaml, save_yaml
from desktop_ift.core.training.presets import PRESETS, apply_preset, get_preset, matching_preset, preset_names


def test_every_field_is_explained():
    from dataclasses import fields

    for f in fields(TrainConfig):
        assert len(f.metadata.get("help", "")) > 20, f.name


@pytest.mark.parametrize("values, words", [
    ({"method": "magic"}, "method must be one of lora, full, dora, qlora"),
    ({"precision": "fp8"}, "precision must be one of auto, bf16, fp16, fp32"),
    ({"quantization_bits": 3}, "quantization_bits must be one of 4, 8"),
    ({"lr_scheduler": "zigzag"}, "lr_scheduler must be one of"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"save_total_limit": 0}, "save_total_limit must be at least 1"),
    ({"max_steps": 0}, "max_steps must be a positive number"),
    ({"lora_target_modules": "q_proj; v_proj!"}, "not a list of layer names"),
    ({"lora_target_modules": "  "}, "lora_target_modules must be 'auto'"),
])
def test_impossible_settings_are_refused_naming_the_field(values, words):
    with pytest.raises(ConfigError, match=words.replace("(", "\\(")):
        TrainConfig.from_dict(values)


def test_explicit_target_modules_are_parsed():
    assert TrainConfig(lora_target_modules="q_proj, v_proj").target_modules() == ["q_proj", "v_proj"]
    assert TrainConfig().target_modules() is None


def test_a_job_file_from_an_older_version_still_loads():
    old = {"method": "lora", "epochs": 2.0, "max_steps": -1, "learning_rate": 1e-3, "batch_size": 4,
           "gradient_accumulation": 1, "max_seq_length": 128, "warmup_ratio": 0.05, "weight_decay": 0.0,
           "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "train_on_completion_only": True,
           "logging_steps": 1, "eval_steps": 0, "save_steps": 0, "seed": 1, "removed_setting": 3}
    config = TrainConfig.from_dict(old)
    assert config.lora_r == 8 and config.packing is True and config.precision == "auto"
    assert config._ignored == ["removed_setting"]


def test_yaml_round_trip_with_explanations(tmp_path):
    config = TrainConfig(method="dora", lr_scheduler="cosine", lora_target_modules="q_proj,v_proj", seed=7)
    path = save_yaml(config, tmp_path / "config.yaml", extra={"model": "/models/x"})
    text = path.read_text()
    assert "# LoRA rank" in text and "method: dora" in text and "model: /models/x" in text
    assert load_yaml(path) == config


def test_presets_fill_a_valid_config_and_are_explained():
    assert preset_names() == ["Quick try", "Balanced", "Best quality"]
    for preset in PRESETS:
        config = apply_preset(preset.name)
        assert len(preset.explanation.split()) > 25 and preset.summary
        assert matching_preset(config) == preset.name
        for key, value in preset.values.items():
            assert getattr(config, key) == value
    quick, best = apply_preset("Quick try"), apply_preset("best quality")
    assert quick.epochs < best.epochs and quick.lora_r < best.lora_r and best.gradient_checkpointing


def test_a_preset_keeps_what_it_does_not_set():
    base = TrainConfig(precision="fp32", seed=5, distributed="fsdp")
    config = apply_preset("Balanced", base)
    assert (config.precision, config.seed, config.distributed) == ("fp32", 5, "fsdp")
    changed = TrainConfig(**{**config.to_dict(), "learning_rate": 0.5})
    assert matching_preset(changed) is None


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="Quick try, Balanced, Best quality"):
        get_preset("Turbo")
