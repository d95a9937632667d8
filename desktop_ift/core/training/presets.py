"""Ready-made settings for people who do not know what a learning rate is.

Each :class:`Preset` is data: a name, a one-line summary and a plain-words explanation for the GUI, and
the TrainConfig values it sets. :func:`apply_preset` fills a config from one, leaving everything the preset
does not mention (model-specific choices such as the precision or the data format) as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop_ift.core.training.config import ConfigError, TrainConfig


@dataclass(frozen=True)
class Preset:
    """A named set of training settings with an explanation a non-specialist understands."""

    name: str
    summary: str
    explanation: str
    values: dict = field(default_factory=dict)


PRESETS: tuple[Preset, ...] = (
    Preset(
        name="Quick try",
        summary="Minutes, not hours: see whether fine-tuning helps at all.",
        explanation=(
            "Trains small LoRA adapters for one pass over your data with short examples. Uses little "
            "memory and finishes fast, so you can check that the data and the template make sense before "
            "spending more time. Expect a rough first result, not the best one."
        ),
        values=dict(method="lora", epochs=1.0, max_steps=-1, learning_rate=2e-4, lr_scheduler="linear",
                    batch_size=8, gradient_accumulation=1, max_seq_length=512, warmup_ratio=0.03,
                    lora_r=8, lora_alpha=16, lora_dropout=0.05, packing=True, gradient_checkpointing=False,
                    train_on_completion_only=True, eval_steps=0, save_steps=0),
    ),
    Preset(
        name="Balanced",
        summary="The usual choice: a good model in a reasonable time.",
        explanation=(
            "Trains LoRA adapters for three passes over your data, checking the validation loss as it goes "
            "and saving a checkpoint regularly so a stopped run can continue. Gradient checkpointing keeps "
            "the memory low. This is what most people should use once the quick try looked sensible."
        ),
        values=dict(method="lora", epochs=3.0, max_steps=-1, learning_rate=2e-4, lr_scheduler="cosine",
                    batch_size=8, gradient_accumulation=2, max_seq_length=1024, warmup_ratio=0.05,
                    lora_r=16, lora_alpha=32, lora_dropout=0.05, packing=True, gradient_checkpointing=True,
                    train_on_completion_only=True, eval_steps=0, save_steps=200),
    ),
    Preset(
        name="Best quality",
        summary="Slower and hungrier for memory, for the final model.",
        explanation=(
            "Trains larger DoRA adapters (a refined LoRA that usually learns a little better) for more "
            "passes with longer examples and a gentle learning rate. Gradient checkpointing keeps the "
            "memory in check at the cost of time. Use it when you know the setup works and want the best "
            "result your hardware can give."
        ),
        values=dict(method="dora", epochs=5.0, max_steps=-1, learning_rate=1e-4, lr_scheduler="cosine",
                    batch_size=8, gradient_accumulation=4, max_seq_length=2048, warmup_ratio=0.05,
                    lora_r=64, lora_alpha=128, lora_dropout=0.05, packing=True, gradient_checkpointing=True,
                    train_on_completion_only=True, eval_steps=0, save_steps=200),
    ),
)


def preset_names() -> list[str]:
    """The preset names in the order they are shown."""
    return [p.name for p in PRESETS]


def get_preset(name: str) -> Preset:
    """The preset called ``name``; raises :class:`ConfigError` listing the known ones."""
    for preset in PRESETS:
        if preset.name.lower() == name.strip().lower():
            return preset
    raise ConfigError(f"There is no preset {name!r}; choose one of {', '.join(preset_names())}.")


def apply_preset(name: str, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default: the defaults) with the preset's values applied, validated."""
    values = (base or TrainConfig()).to_dict()
    values.update(get_preset(name).values)
    return TrainConfig.from_dict(values)


def matching_preset(config: TrainConfig) -> str | None:
    """The name of the preset whose values ``config`` has exactly, or None (the user changed something)."""
    data = config.to_dict()
    for preset in PRESETS:
        if all(data.get(k) == v for k, v in preset.values.items()):
            return preset.name
    return None
