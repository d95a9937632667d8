"""Training and evaluation settings as validated dataclasses.

Each field has a ``help`` text in its metadata: the GUI shows it as a tooltip and the CLI as help, so a
setting is explained in one place only. ``__post_init__`` rejects values that cannot work, with a message
that says which field and what is allowed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

METHODS = ("lora", "full")


class ConfigError(ValueError):
    """A setting that cannot work; the message names the field and what is allowed."""


def _f(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


def check_fields(obj: Any) -> None:
    """Check every field of a config dataclass against its ``choices``/``minimum``/``maximum`` metadata."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{f.name} must be one of {', '.join(choices)} (got {value!r}).")
        lo, hi = f.metadata.get("minimum"), f.metadata.get("maximum")
        if lo is not None and value < lo:
            raise ConfigError(f"{f.name} must be at least {lo} (got {value!r}).")
        if hi is not None and value > hi:
            raise ConfigError(f"{f.name} must be at most {hi} (got {value!r}).")


@dataclass
class TrainConfig:
    """How to fine-tune: method, schedule and sizes. Saved with the run."""

    method: str = _f("lora", "Full fine-tuning updates every weight; LoRA trains small adapter matrices "
                     "(far less memory, a small file to share).", choices=METHODS)
    epochs: float = _f(3.0, "How many times the model sees the whole training split.", minimum=0.01)
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: use epochs).")
    learning_rate: float = _f(2e-3, "Step size of the optimizer. LoRA on small models tolerates 1e-4 to 3e-3; "
                             "full fine-tuning of large models needs 1e-5 to 5e-5.", minimum=0.0)
    batch_size: int = _f(8, "Examples per step on the device.", minimum=1)
    gradient_accumulation: int = _f(1, "Steps whose gradients are added before one update "
                                    "(effective batch = batch size x this).", minimum=1)
    max_seq_length: int = _f(256, "Longer examples are cut to this many tokens.", minimum=8)
    warmup_ratio: float = _f(0.05, "Share of the steps over which the learning rate ramps up from zero.",
                             minimum=0.0, maximum=0.5)
    weight_decay: float = _f(0.0, "Pulls weights towards zero; 0 to 0.1.", minimum=0.0)
    lora_r: int = _f(16, "LoRA rank: the size of the adapter matrices. 8 to 64 is usual.", minimum=1)
    lora_alpha: int = _f(32, "LoRA scaling; usually twice the rank.", minimum=1)
    lora_dropout: float = _f(0.05, "Dropout inside the LoRA adapters.", minimum=0.0, maximum=0.9)
    train_on_completion_only: bool = _f(True, "Compute the loss on the response only, not on the prompt.")
    logging_steps: int = _f(1, "Report the loss every N steps.", minimum=1)
    eval_steps: int = _f(0, "Compute the validation loss every N steps (0: once per epoch).", minimum=0)
    save_steps: int = _f(0, "Write a checkpoint every N steps (0: only at the end or on cancel).", minimum=0)
    seed: int = _f(42, "Random seed for initialisation and data order: the same seed gives the same run.")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError("max_steps must be a positive number of steps, or -1 to use epochs.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a dict, ignoring keys this version does not know; raises :class:`ConfigError`."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        kwargs = {k: v for k, v in data.items() if k in names}
        try:
            config = cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(str(exc)) from exc
        config._ignored = sorted(unknown)  # type: ignore[attr-defined]
        return config


@dataclass
class GenerationConfig:
    """How evaluation answers are generated. The same settings are used for every model compared."""

    max_new_tokens: int = _f(32, "Longest answer generated, in tokens.", minimum=1)
    batch_size: int = _f(16, "Prompts generated together (left-padded).", minimum=1)
    temperature: float = _f(0.0, "0 means greedy decoding (reproducible); higher values sample.", minimum=0.0)
    top_p: float = _f(1.0, "Sample only from the most likely tokens that add up to this probability.",
                      minimum=0.0, maximum=1.0)
    repetition_penalty: float = _f(1.0, "Above 1 discourages repeating tokens.", minimum=0.5)
    max_examples: int = _f(0, "Evaluate at most this many test examples (0: all).", minimum=0)

    def __post_init__(self) -> None:
        check_fields(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GenerationConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
