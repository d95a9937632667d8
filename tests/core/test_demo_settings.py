"""The demo's settings come from the model's size: the tiny random model is trained fully, a pretrained
model gets LoRA for 30 steps of 8 tickets, fewer steps the larger it is."""

from __future__ import annotations

from desktop_ift.core.demo import DEMO_GENERATION, DEMO_TRAIN_CONFIG, demo_settings
from desktop_ift.core.models.bundled import BUNDLED_PARAMETERS


def test_the_tiny_model_and_an_unknown_size_keep_the_tiny_settings():
    assert demo_settings(None) == (DEMO_TRAIN_CONFIG, DEMO_GENERATION)
    assert demo_settings(400_000)[0].method == "full"


def test_the_bundled_model_gets_a_short_lora_run():
    config, generation = demo_settings(BUNDLED_PARAMETERS)
    assert config.method == "lora" and config.max_steps == 30 and config.batch_size == 8  # 240 of 320 rows
    assert not config.packing and not config.gradient_checkpointing
    assert config.learning_rate > DEMO_TRAIN_CONFIG.learning_rate / 10
    assert generation.temperature == 0.0 and generation.max_new_tokens >= 3  # "technical" is one token


def test_larger_models_take_fewer_steps_and_save_memory():
    small, big = demo_settings(BUNDLED_PARAMETERS)[0], demo_settings(7_000_000_000)[0]
    assert 10 <= big.max_steps < small.max_steps and big.gradient_checkpointing
