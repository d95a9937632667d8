"""Training and evaluation settings as validated dataclasses.

Each field has a ``help`` text in its metadata: the GUI shows it as a tooltip and the CLI as help, so a
setting is explained in one place only. ``__post_init__`` rejects values that cannot work, with a message
that says which field and what is allowed.

:class:`TrainConfig` is saved with every run as ``config.yaml`` (:func:`save_yaml`) and inside the job file.
Job files written by older versions (without the newer fields) still load: missing fields take their
defaults and unknown keys are ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

#: full: every weight; lora: low-rank adapters; dora: weight-decomposed LoRA (a little better, a little
#: slower); qlora: LoRA on a 4- or 8-bit quantized base model (CUDA + bitsandbytes only).
METHODS = ("lora", "full", "dora", "qlora")
ADAPTER_METHODS = ("lora", "dora", "qlora")
SCHEDULES = ("linear", "cosine", "constant_with_warmup", "constant")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
QUANT_BITS = (4, 8)
DISTRIBUTED = ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")


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
            raise ConfigError(f"{f.name} must be one of {', '.join(map(str, choices))} (got {value!r}).")
        lo, hi = f.metadata.get("minimum"), f.metadata.get("maximum")
        if lo is not None and value < lo:
            raise ConfigError(f"{f.name} must be at least {lo} (got {value!r}).")
        if hi is not None and value > hi:
            raise ConfigError(f"{f.name} must be at most {hi} (got {value!r}).")


@dataclass
class TrainConfig:
    """How to fine-tune: method, schedule and sizes. Saved with the run."""

    method: str = _f("lora", "Full fine-tuning updates every weight; LoRA trains small adapter matrices "
                     "(far less memory, a small file to share); DoRA is a LoRA variant that often learns a "
                     "little better at a little more time; QLoRA is LoRA on a 4- or 8-bit compressed model "
                     "(least memory; needs an NVIDIA GPU and the bitsandbytes package).", choices=METHODS)
    epochs: float = _f(3.0, "How many times the model sees the whole training split.", minimum=0.01)
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: use epochs).")
    learning_rate: float = _f(2e-3, "Step size of the optimizer. LoRA on small models tolerates 1e-4 to 3e-3; "
                             "full fine-tuning of large models needs 1e-5 to 5e-5.", minimum=0.0)
    lr_scheduler: str = _f("linear", "How the learning rate changes after the warm-up: linear decay to zero, "
                           "cosine decay, or constant.", choices=SCHEDULES)
    batch_size: int = _f(8, "Examples per step on the device.", minimum=1)
    gradient_accumulation: int = _f(1, "Steps whose gradients are added before one update "
                                    "(effective batch = batch size x this).", minimum=1)
    max_seq_length: int = _f(256, "Tokens per example at most; what happens to longer ones is the next "
                             "setting.", minimum=8)
    overflow: str = _f("truncate", "Examples longer than the maximum length: truncate (keep the whole response "
                       "where possible, cut the prompt; a conversation keeps its last answer and loses earlier "
                       "turns) or drop (leave them out of training). The plan shows "
                       "how many before launch.", choices=("truncate", "drop"))
    truncate_side: str = _f("middle", "Where a too-long prompt (or a conversation's history before its last answer) "
                            "is cut: in the middle (its start and end stay) or at the start (its end stays).",
                            choices=("middle", "start"))
    warmup_ratio: float = _f(0.05, "Share of the steps over which the learning rate ramps up from zero.",
                             minimum=0.0, maximum=0.5)
    weight_decay: float = _f(0.0, "Pulls weights towards zero; 0 to 0.1.", minimum=0.0)
    lora_r: int = _f(16, "LoRA rank: the size of the adapter matrices. 8 to 64 is usual.", minimum=1)
    lora_alpha: int = _f(32, "LoRA scaling; usually twice the rank.", minimum=1)
    lora_dropout: float = _f(0.05, "Dropout inside the LoRA adapters.", minimum=0.0, maximum=0.9)
    lora_target_modules: str = _f("auto", "Which layers get adapters: 'auto' (every linear projection of the "
                                  "model, found per architecture) or names separated by commas, "
                                  "e.g. q_proj,v_proj.")
    quantization_bits: int = _f(4, "QLoRA only: 4-bit (least memory) or 8-bit compression of the frozen model.",
                                choices=QUANT_BITS)
    precision: str = _f("auto", "Number format for training. auto: bf16 on GPUs that support it, else fp16 on "
                        "a GPU, fp32 on the CPU. Lower precision halves memory at the same quality.",
                        choices=PRECISIONS)
    gradient_checkpointing: bool = _f(True, "Recompute activations in the backward pass instead of storing "
                                      "them: much less memory for long sequences, about 30% slower. On by "
                                      "default (as in TRL); turn it off for speed when memory is plentiful.")
    packing: bool = _f(True, "Put several short examples in one row (each still sees only itself), so no "
                       "compute is spent on padding. Turn off to pad each batch to its longest example.")
    train_on_completion_only: bool = _f(True, "Compute the loss on the response only, not on the prompt.")
    logging_steps: int = _f(1, "Report the loss every N steps.", minimum=1)
    eval_steps: int = _f(0, "Compute the validation loss every N steps (0: once per epoch).", minimum=0)
    save_steps: int = _f(0, "Write a checkpoint every N steps (0: only at the end or on cancel).", minimum=0)
    save_total_limit: int = _f(2, "Keep only the last K checkpoints (older ones are deleted to save disk).",
                               minimum=1)
    seed: int = _f(42, "Random seed for initialisation and data order: the same seed gives the same run.")
    distributed: str = _f("ddp", "With several GPUs: ddp copies the model to each GPU (fastest when it fits); "
                          "fsdp shards it across GPUs (for models too big for one); DeepSpeed ZeRO does the "
                          "same through DeepSpeed (must be installed).", choices=DISTRIBUTED)
    num_processes: int = _f(0, "GPUs to use (0: all that are found; 1: a single process).", minimum=0)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError("max_steps must be a positive number of steps, or -1 to use epochs.")
        targets = self.lora_target_modules.strip()
        if not targets:
            raise ConfigError("lora_target_modules must be 'auto' or layer names separated by commas.")
        if targets != "auto" and not all(t.strip().replace("_", "").replace(".", "").isalnum()
                                         for t in targets.split(",")):
            raise ConfigError(f"lora_target_modules: {targets!r} is not a list of layer names "
                              "(letters, digits, '_' and '.', separated by commas), nor 'auto'.")

    @property
    def uses_adapters(self) -> bool:
        """True for LoRA, DoRA and QLoRA (a small adapter is trained on a frozen model)."""
        return self.method in ADAPTER_METHODS

    def target_modules(self) -> list[str] | None:
        """The explicit layer names, or None for 'auto'."""
        if self.lora_target_modules.strip() == "auto":
            return None
        return [t.strip() for t in self.lora_target_modules.split(",") if t.strip()]

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


def save_yaml(config: TrainConfig, path: Path | str, extra: dict | None = None) -> Path:
    """Write ``config`` (plus ``extra`` keys such as the model) as YAML, with each field's help as a comment."""
    import yaml

    path = Path(path)
    lines = ["# desktop_ift training configuration", ""]
    helps = {f.name: f.metadata.get("help", "") for f in fields(TrainConfig)}
    for key, value in config.to_dict().items():
        lines.append(f"# {helps.get(key, '')}")
        lines.append(yaml.safe_dump({key: value}, default_flow_style=False, sort_keys=False).strip())
    if extra:
        lines.append("")
        lines.append(yaml.safe_dump(extra, default_flow_style=False, sort_keys=False, allow_unicode=True).strip())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_yaml(path: Path | str) -> TrainConfig:
    """Read a ``config.yaml`` written by :func:`save_yaml` (or by hand) back into a TrainConfig."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a training configuration (expected key: value lines).")
    return TrainConfig.from_dict(data)


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
