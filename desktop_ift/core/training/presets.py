"""Ready-made settings for people who do not know what a learning rate is.

Each :class:`Preset` is data: a name, a one-line summary and a plain-words explanation for the GUI, and
the TrainConfig values it sets. :func:`apply_preset` fills a config from one, leaving everything the preset
does not mention (model-specific choices such as the precision or the data format) as it was.

:func:`sized_preset` adapts a preset to what it will train: the model's size (learning rate, LoRA rank,
gradient checkpointing, how many steps a quick try takes) and the data's token lengths (the maximum
length: long enough for the longest example up to the preset's cap; what the cap would cut is counted in
the notes it returns). Without a model size or lengths it gives the preset's own values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

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
            "Trains small LoRA adapters with a high learning rate for at most one pass over your data (a "
            "few dozen steps on a small model), with a maximum length fitted to your examples. Uses little "
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


LENGTH_CAPS = {"Quick try": 512, "Balanced": 1024, "Best quality": 2048}
# LoRA learning rates by model size (parameters up to the bound): small models take (and need) larger steps.
_LR_BY_SIZE = ((300e6, {"Quick try": 1e-3, "Balanced": 5e-4, "Best quality": 3e-4}),
               (1.5e9, {"Quick try": 5e-4, "Balanced": 3e-4, "Best quality": 2e-4}),
               (8.5e9, {"Quick try": 2e-4, "Balanced": 2e-4, "Best quality": 1e-4}),
               (math.inf, {"Quick try": 1e-4, "Balanced": 1e-4, "Best quality": 5e-5}))
# A quick try stops after this many steps (batch 8): about 2-3 minutes for a 135M model on a laptop CPU,
# a few minutes for a 1B model on a GPU.
_QUICK_STEPS_BY_SIZE = ((300e6, 20), (1.5e9, 30), (math.inf, 50))
TINY_PARAMETERS = 10_000_000  # below this: a toy model with random weights, the generic values apply


@dataclass(frozen=True)
class SizedPreset:
    """A preset's values for one model and dataset, with a note per choice that depends on them."""

    name: str
    values: dict
    notes: tuple[str, ...] = ()


def _fit_length(lengths: Sequence[int], cap: int) -> tuple[int, int]:
    """(max_seq_length covering the longest example rounded up to 32, capped; how many examples it cuts)."""
    longest = max(lengths)
    length = min(cap, max(64, 32 * math.ceil(longest / 32)))
    return length, sum(1 for n in lengths if n > length)


def sized_preset(name: str, parameters: int | None = None, lengths: Sequence[int] | None = None,
                 n_train: int | None = None) -> SizedPreset:
    """The preset ``name`` for a model of ``parameters`` parameters, training examples of ``lengths``
    tokens and ``n_train`` training examples (any of them may be unknown: None)."""
    preset = get_preset(name)
    values = dict(preset.values)
    notes: list[str] = []
    if parameters and parameters >= TINY_PARAMETERS:
        size = f"{parameters / 1e6:,.0f}M" if parameters < 1e9 else f"{parameters / 1e9:.1f}B"
        lr = next(table for bound, table in _LR_BY_SIZE if parameters <= bound)[preset.name]
        values["learning_rate"] = lr
        small = parameters <= 300e6
        if preset.name == "Best quality" and small:
            values.update(lora_r=32, lora_alpha=64)
        if small:
            values["gradient_checkpointing"] = False  # saves little memory on a small model, costs a third more time
        notes.append(f"Learning rate {lr:g} and LoRA rank {values['lora_r']} for a {size}-parameter model"
                     + ("; no gradient checkpointing (a small model needs little memory)." if small else "."))
        if preset.name == "Quick try":
            cap = next(steps for bound, steps in _QUICK_STEPS_BY_SIZE if parameters <= bound)
            per_epoch = math.ceil(n_train / (values["batch_size"] * values["gradient_accumulation"])) \
                if n_train else None
            values["packing"] = False
            notes.append("One example per row (no packing), so each step costs the same whatever the lengths.")
            if per_epoch is None or per_epoch > cap:
                values["max_steps"] = cap
                seen = f" ({cap * values['batch_size']:,} of {n_train:,} training examples)" if n_train else ""
                notes.append(f"Stops after {cap} steps{seen}: enough to see whether the loss falls.")
    if lengths:
        length, cut = _fit_length(lengths, LENGTH_CAPS[preset.name])
        values["max_seq_length"] = length
        notes.append(f"Maximum length {length} tokens: fits the longest example ({max(lengths)} tokens)."
                     if not cut else f"Maximum length {length} tokens (this preset's limit): {cut:,} of "
                     f"{len(lengths):,} examples are longer and will be cut; choose a longer maximum length "
                     "to keep them whole.")
    return SizedPreset(preset.name, values, tuple(notes))


def apply_preset(name: str, base: TrainConfig | None = None, parameters: int | None = None,
                 lengths: Sequence[int] | None = None, n_train: int | None = None) -> TrainConfig:
    """``base`` (default: the defaults) with the preset's values (sized by :func:`sized_preset` when the
    model size, lengths or training-set size are given) applied, validated."""
    values = (base or TrainConfig()).to_dict()
    values.update(sized_preset(name, parameters, lengths, n_train).values)
    return TrainConfig.from_dict(values)


def matching_preset(config: TrainConfig, parameters: int | None = None, lengths: Sequence[int] | None = None,
                    n_train: int | None = None) -> str | None:
    """The name of the preset whose values ``config`` has exactly (sized for the same model and data), or
    None (the user changed something)."""
    data = config.to_dict()
    for preset in PRESETS:
        values = sized_preset(preset.name, parameters, lengths, n_train).values
        if all(data.get(k) == v for k, v in values.items()):
            return preset.name
    return None
